/*
 * A guest's console output collected in memory, for tests and benchmarks
 * that run guests in-process: cap_console() is the vm_config console
 * callback (called by the vCPU thread), cap_find() waits for a line.
 */
#ifndef REMORA_TEST_CONSOLE_CAPTURE_H
#define REMORA_TEST_CONSOLE_CAPTURE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct capture {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *buf; /* NUL-terminated */
	size_t len, cap;
};

/* Returns 0, or -ENOMEM. */
static inline int cap_init(struct capture *c)
{
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->cap = 1 << 16;
	c->len = 0;
	c->buf = calloc(1, c->cap);
	return c->buf ? 0 : -ENOMEM;
}

static inline void cap_free(struct capture *c)
{
	free(c->buf);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

static inline void cap_console(void *opaque, const uint8_t *p, size_t n)
{
	struct capture *c = opaque;

	pthread_mutex_lock(&c->lock);
	while (c->len + n + 1 > c->cap) {
		char *nb = realloc(c->buf, c->cap * 2);

		if (!nb) { /* drop output rather than fail in the vCPU */
			pthread_mutex_unlock(&c->lock);
			return;
		}
		c->buf = nb;
		c->cap *= 2;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Waits until needle appears at or after offset `from` and returns the
 * offset just past it; returns 0 after timeout_ms, or as soon as `stop`
 * (if not NULL, e.g. "FAIL") appears there instead. Timeouts are for
 * liveness only: callers make them generous.
 */
static inline size_t cap_find(struct capture *c, const char *needle,
			      size_t from, int timeout_ms, const char *stop)
{
	struct timespec ts;
	char *hit = NULL;
	size_t ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->len > from && stop && strstr(c->buf + from, stop))
			break;
		if (c->len > from && (hit = strstr(c->buf + from, needle)))
			break;
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	ret = hit ? (size_t)(hit - c->buf) + strlen(needle) : 0;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

#endif
