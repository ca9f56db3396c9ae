/*
 * Frames: cutting length-prefixed messages out of a byte stream that arrives
 * in whatever pieces the socket hands us.
 *
 * Stream format (integers little-endian):
 *
 *   stream  = frame*
 *   frame   = length:le32 type:u8 payload
 *     length   payload bytes, 0 .. type_max(type) (and never more than
 *              FRAME_MAX_PAYLOAD); 0 is legal: a proto3 message whose fields
 *              all hold their defaults encodes as nothing
 *     type     a wire.h message type; type_max(type) == 0 means unknown
 *     payload  length bytes, the message (wire.c)
 *     trailer  the reader's trailer size in bytes (0 unless set: an
 *              authentication tag, auth.h), not counted in length
 *
 * The header is checked as soon as its fifth byte arrives, before any payload
 * byte is buffered or any memory allocated, so a peer that announces 4 GiB
 * costs us nothing. A frame that arrives whole inside one feed goes to the
 * callback straight from the caller's bytes; only frames split across feeds
 * are gathered in the reader's buffer, which grows (doubling, up to
 * FRAME_MAX_PAYLOAD) and is reused. The trailer size is taken when a
 * frame's header is complete, so a callback that changes it (the Challenge,
 * which comes untagged before the tagged frames) changes it for the next
 * frame, wherever that frame starts in the bytes being fed.
 *
 * Errors are sticky: after an unknown type, an oversized length, an
 * allocation failure or a callback's non-zero return, every later
 * frame_feed() returns the same value without looking at its bytes (the
 * stream is out of step and cannot be resynchronised). The callback may
 * stop the feed but must not free the reader: the reader records the stop
 * after the callback returns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "frame.h"

/* The first buffer; most split frames are control messages or small pages. */
#define FRAME_BUF_MIN 4096u

void frame_reader_init(struct frame_reader *r, frame_type_max_fn type_max)
{
	*r = (struct frame_reader){.type_max = type_max};
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

void frame_reader_set_trailer(struct frame_reader *r, size_t n)
{
	r->trailer = n < FRAME_TRAILER_MAX ? n : FRAME_TRAILER_MAX;
}

const uint8_t *frame_reader_header(const struct frame_reader *r)
{
	return r->hdr;
}

const uint8_t *frame_reader_trailer(const struct frame_reader *r, size_t *len)
{
	*len = r->tlen;
	return r->cur_trailer ? r->cur_trailer : r->tr;
}

int frame_reader_idle(const struct frame_reader *r)
{
	return !r->err && r->hdr_got == 0;
}

void frame_put_header(uint8_t *out, uint8_t type, size_t len)
{
	put_le32(out, (uint32_t)len);
	out[4] = type;
}

static int fail(struct frame_reader *r, int err, const char *why)
{
	r->err = err;
	r->why = why;
	return err;
}

/* Makes room for r->len payload bytes; r->len <= FRAME_MAX_PAYLOAD. */
static int reserve(struct frame_reader *r)
{
	size_t cap = r->cap ? r->cap : FRAME_BUF_MIN;
	uint8_t *buf;

	if (r->len <= r->cap)
		return 0;
	while (cap < r->len)
		cap *= 2;
	if (cap > FRAME_MAX_PAYLOAD)
		cap = FRAME_MAX_PAYLOAD;
	/* realloc would copy the old frame's bytes, which nobody needs. */
	buf = malloc(cap);
	if (!buf)
		return fail(r, -ENOMEM, "out of memory for a frame's payload");
	free(r->buf);
	r->buf = buf;
	r->cap = cap;
	return 0;
}

/* The header is complete: checks it and prepares for the payload. */
static int start_payload(struct frame_reader *r)
{
	uint32_t len = get_le32(r->hdr);
	size_t max;

	r->type = r->hdr[4];
	max = r->type_max(r->type);
	if (max == 0)
		return fail(r, -EBADMSG, "unknown frame type");
	if (len > max || len > FRAME_MAX_PAYLOAD)
		return fail(r, -E2BIG, "frame longer than its type allows");
	r->len = len;
	r->got = 0;
	r->tlen = r->trailer;
	r->tgot = 0;
	return 0;
}

static int deliver(struct frame_reader *r, const uint8_t *payload,
		   const uint8_t *trailer, frame_fn cb, void *opaque)
{
	int ret;

	r->hdr_got = 0;
	r->got = 0;
	r->tgot = 0;
	r->cur_trailer = trailer;
	ret = cb(opaque, r->type, payload, r->len);
	r->cur_trailer = NULL;
	if (ret)
		return fail(r, ret, "stopped by the frame callback");
	return 0;
}

/*
 * Copies into dst (of which *got of want bytes are in) what the stream
 * has of the rest; advances the stream. Returns 1 once dst is complete.
 */
static int fill(uint8_t *dst, size_t *got, size_t want, const uint8_t **data,
		size_t *n)
{
	size_t take = want - *got;

	if (take > *n)
		take = *n;
	memcpy(dst + *got, *data, take);
	*got += take;
	*data += take;
	*n -= take;
	return *got == want;
}

uint8_t *frame_direct(struct frame_reader *r, size_t min, size_t *room)
{
	if (r->err || r->hdr_got < FRAME_HEADER_SIZE || r->got >= r->len ||
	    r->len - r->got < min || reserve(r))
		return NULL;
	*room = r->len - r->got;
	return r->buf + r->got;
}

int frame_direct_done(struct frame_reader *r, size_t n, frame_fn cb,
		      void *opaque)
{
	if (r->err)
		return r->err;
	if (n > r->len - r->got)
		return fail(r, -EINVAL, "more direct bytes than the payload");
	r->got += n;
	if (r->got == r->len && r->tlen == 0)
		return deliver(r, r->buf, r->tr, cb, opaque);
	return 0;
}

int frame_feed(struct frame_reader *r, const uint8_t *data, size_t n,
	       frame_fn cb, void *opaque)
{
	int ret;

	if (r->err)
		return r->err;
	while (n > 0) {
		if (r->hdr_got < FRAME_HEADER_SIZE) {
			if (!fill(r->hdr, &r->hdr_got, FRAME_HEADER_SIZE, &data,
				  &n))
				break;
			ret = start_payload(r);
			if (ret)
				return ret;
		}

		/* The whole payload and trailer are here: no copy. */
		if (r->got == 0 && r->tgot == 0 && n >= r->len + r->tlen) {
			const uint8_t *payload = data;

			data += r->len + r->tlen;
			n -= r->len + r->tlen;
			ret = deliver(r, payload, payload + r->len, cb, opaque);
			if (ret)
				return ret;
			continue;
		}
		if (n == 0)
			break;

		if (r->got < r->len) {
			ret = reserve(r);
			if (ret)
				return ret;
			fill(r->buf, &r->got, r->len, &data, &n);
		}
		if (r->got == r->len && r->tgot < r->tlen)
			fill(r->tr, &r->tgot, r->tlen, &data, &n);
		if (r->got == r->len && r->tgot == r->tlen) {
			ret = deliver(r, r->buf, r->tr, cb, opaque);
			if (ret)
				return ret;
		}
	}
	return 0;
}
