/*
 * Held console output (see outbuf.h). One byte array for all held bytes and
 * a list of epoch boundaries into it; release writes a prefix and moves the
 * rest down. Console volume is small next to page traffic, so simplicity
 * wins over a ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "log.h"
#include "outbuf.h"
#include "paths.h"

static void write_out(struct outbuf *o, size_t n);

int outbuf_init(struct outbuf *o, int sink_fd)
{
	memset(o, 0, sizeof(*o));
	o->sink = sink_fd;
	return pthread_mutex_init(&o->lock, NULL) ? -ENOMEM : 0;
}

void outbuf_destroy(struct outbuf *o)
{
	pthread_mutex_destroy(&o->lock);
	free(o->data);
	free(o->segs);
}

void outbuf_append(struct outbuf *o, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&o->lock);
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		uint8_t *d;

		while (cap < o->len + len)
			cap *= 2;
		d = realloc(o->data, cap);
		if (!d) {
			/* Nothing sensible to do on the vCPU thread: the
			 * bytes are lost, and the log says so. */
			pthread_mutex_unlock(&o->lock);
			log_error("console: out of memory holding %zu bytes; "
				  "%zu bytes dropped",
				  o->len, len);
			return;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, buf, len);
	o->len += len;
	if (o->through_until && now_ns() < o->through_until) {
		write_out(o, o->len);
		o->nsegs = 0;
	}
	pthread_mutex_unlock(&o->lock);
}

int outbuf_close_epoch(struct outbuf *o, uint64_t epoch, uint64_t *offset,
		       size_t *len)
{
	uint64_t start, end;
	int ret = 0;

	pthread_mutex_lock(&o->lock);
	start = o->nsegs ? o->segs[o->nsegs - 1].end : o->base;
	end = o->base + o->len;
	if (o->nsegs == o->segcap) {
		size_t cap = o->segcap ? 2 * o->segcap : 16;
		struct outbuf_seg *s = realloc(o->segs, cap * sizeof(*s));

		if (!s) {
			ret = -ENOMEM;
			goto out;
		}
		o->segs = s;
		o->segcap = cap;
	}
	o->segs[o->nsegs++] = (struct outbuf_seg){.epoch = epoch, .end = end};
	*offset = start;
	*len = (size_t)(end - start);
out:
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int outbuf_copy(struct outbuf *o, uint64_t offset, size_t len, uint8_t **data)
{
	int ret = 0;

	*data = NULL;
	if (!len)
		return 0;
	pthread_mutex_lock(&o->lock);
	if (offset < o->base || offset + len > o->base + o->len)
		ret = -ERANGE; /* released already: a caller's bug */
	else if (!(*data = malloc(len)))
		ret = -ENOMEM;
	else
		memcpy(*data, o->data + (offset - o->base), len);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

/* Writes the first n held bytes to the sink and forgets them. Locked. */
static void write_out(struct outbuf *o, size_t n)
{
	int ret = n ? fd_write_all(o->sink, o->data, n) : 0;

	if (ret && !o->sink_failed) {
		o->sink_failed = 1;
		log_error("console sink: %s; released output is being lost "
			  "(check the console path and its disk)",
			  strerror(-ret));
	}
	if (o->len > n) /* o->data is NULL until something is held */
		memmove(o->data, o->data + n, o->len - n);
	o->len -= n;
	o->base += n;
}

int outbuf_open_sink(const char *path)
{
	int fd = paths_open_sink(path);

	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

size_t outbuf_release(struct outbuf *o, uint64_t acked)
{
	size_t i, n;

	pthread_mutex_lock(&o->lock);
	for (i = 0; i < o->nsegs && o->segs[i].epoch <= acked; i++)
		;
	if (i == 0) {
		pthread_mutex_unlock(&o->lock);
		return 0;
	}
	n = (size_t)(o->segs[i - 1].end - o->base);
	write_out(o, n);
	memmove(o->segs, o->segs + i, (o->nsegs - i) * sizeof(*o->segs));
	o->nsegs -= i;
	pthread_mutex_unlock(&o->lock);
	return n;
}

size_t outbuf_flush(struct outbuf *o)
{
	size_t n;

	pthread_mutex_lock(&o->lock);
	n = o->len;
	write_out(o, n);
	o->nsegs = 0;
	pthread_mutex_unlock(&o->lock);
	return n;
}

size_t outbuf_pass_through(struct outbuf *o, uint64_t until_ns)
{
	size_t n = 0;

	pthread_mutex_lock(&o->lock);
	if (until_ns && now_ns() < until_ns) {
		n = o->len;
		write_out(o, n);
		o->nsegs = 0;
	}
	o->through_until = until_ns;
	pthread_mutex_unlock(&o->lock);
	return n;
}

void outbuf_discard(struct outbuf *o)
{
	pthread_mutex_lock(&o->lock);
	o->len = 0;
	o->nsegs = 0;
	pthread_mutex_unlock(&o->lock);
}

void outbuf_set_offset(struct outbuf *o, uint64_t offset)
{
	pthread_mutex_lock(&o->lock);
	o->base = offset;
	pthread_mutex_unlock(&o->lock);
}

void outbuf_reopen(struct outbuf *o)
{
	pthread_mutex_lock(&o->lock);
	o->nsegs = 0;
	pthread_mutex_unlock(&o->lock);
}

size_t outbuf_held(struct outbuf *o)
{
	size_t n;

	pthread_mutex_lock(&o->lock);
	n = o->len;
	pthread_mutex_unlock(&o->lock);
	return n;
}

uint64_t outbuf_released(struct outbuf *o)
{
	uint64_t n;

	pthread_mutex_lock(&o->lock);
	n = o->base;
	pthread_mutex_unlock(&o->lock);
	return n;
}
