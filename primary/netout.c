/* The gate shared by the loop and the dump thread (netout.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "netout.h"

/* The queue in the service's own namespace: nothing else binds there. */
#define NETOUT_QUEUE 0

int netout_open(struct netout *n, int netns_fd, size_t max_held_bytes,
		char *err, size_t errlen)
{
	int ret;

	memset(n, 0, sizeof(*n));
	pthread_mutex_init(&n->lock, NULL);
	ret = netgate_open(&n->g, netns_fd, NETOUT_QUEUE, max_held_bytes, err,
			   errlen);
	if (ret) {
		pthread_mutex_destroy(&n->lock);
		return ret;
	}
	n->open = 1;
	return 0;
}

int netout_fd(const struct netout *n)
{
	return netgate_fd(&n->g);
}

int netout_read(struct netout *n)
{
	int ret;

	pthread_mutex_lock(&n->lock);
	ret = netgate_read(&n->g);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

int netout_close_epoch(struct netout *n, uint64_t epoch)
{
	int ret;

	pthread_mutex_lock(&n->lock);
	ret = netgate_read(&n->g);
	if (ret >= 0)
		ret = netgate_close_epoch(&n->g, epoch);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

int netout_release(struct netout *n, uint64_t acked)
{
	int ret;

	pthread_mutex_lock(&n->lock);
	ret = netgate_release(&n->g, acked, NULL);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

void netout_reopen(struct netout *n)
{
	pthread_mutex_lock(&n->lock);
	netgate_reopen(&n->g);
	pthread_mutex_unlock(&n->lock);
}

int netout_flush(struct netout *n)
{
	int ret;

	pthread_mutex_lock(&n->lock);
	ret = netgate_flush(&n->g, NULL);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

int netout_discard(struct netout *n)
{
	int ret;

	pthread_mutex_lock(&n->lock);
	ret = netgate_discard(&n->g, NULL);
	pthread_mutex_unlock(&n->lock);
	return ret;
}

size_t netout_held_bytes(struct netout *n)
{
	size_t held;

	pthread_mutex_lock(&n->lock);
	held = netgate_held_bytes(&n->g);
	pthread_mutex_unlock(&n->lock);
	return held;
}

int netout_full(struct netout *n)
{
	int full;

	pthread_mutex_lock(&n->lock);
	full = netgate_full(&n->g);
	pthread_mutex_unlock(&n->lock);
	return full;
}

void netout_why(struct netout *n, char *buf, size_t len)
{
	pthread_mutex_lock(&n->lock);
	snprintf(buf, len, "%s", netgate_why(&n->g));
	pthread_mutex_unlock(&n->lock);
}

void netout_close(struct netout *n)
{
	char err[256];

	if (!n->open)
		return;
	if (netgate_close(&n->g, err, sizeof(err)))
		log_warn("closing the packet gate: %s", err);
	pthread_mutex_destroy(&n->lock);
	n->open = 0;
}
