/*
 * Frames: how messages are cut out of a byte stream. A frame is a 5-byte
 * header (le32 payload length, u8 message type) and the payload. The length
 * is checked against a hard maximum (and the type's own maximum) before a
 * single byte is allocated, so a peer cannot make us allocate what we would
 * refuse anyway. The grammar is at the top of frame.c.
 *
 * Pure code: no libuv, no I/O, never exits. The reader allocates (and reuses)
 * one payload buffer of at most FRAME_MAX_PAYLOAD bytes.
 */
#ifndef REMORA_FRAME_H
#define REMORA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 5u
#define FRAME_MAX_PAYLOAD (8u << 20)
/* The most bytes a trailer may have (auth.h's tags have 16). */
#define FRAME_TRAILER_MAX 32u

/*
 * The largest payload a frame of this type may carry (a wire.h type), or 0
 * for a type that does not exist. Set with frame_reader_init().
 */
typedef size_t (*frame_type_max_fn)(uint8_t type);

/*
 * Called once per complete frame. payload is valid only during the call
 * (and so are frame_reader_header() and frame_reader_trailer()). A non-zero
 * return stops frame_feed(), which returns that value.
 */
typedef int (*frame_fn)(void *opaque, uint8_t type, const uint8_t *payload,
			size_t len);

struct frame_reader {
	frame_type_max_fn type_max;
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t hdr_got; /* header bytes received so far */
	uint8_t type;
	size_t len;   /* payload length of the frame in progress */
	size_t got;   /* payload bytes received so far */
	uint8_t *buf; /* payload buffer, cap bytes */
	size_t cap;
	size_t trailer; /* trailer bytes of the frames that start from now */
	size_t tlen;	/* trailer bytes of the frame in progress */
	size_t tgot;	/* of which received */
	uint8_t tr[FRAME_TRAILER_MAX];
	const uint8_t *cur_trailer; /* the delivered frame's, during cb */
	int err;	 /* sticky: once set, every feed returns it */
	const char *why; /* static reason for err */
};

void frame_reader_init(struct frame_reader *r, frame_type_max_fn type_max);
void frame_reader_free(struct frame_reader *r);

/*
 * Feeds n bytes from the stream; calls cb for each frame they complete.
 * Returns 0 when all bytes were consumed; -EBADMSG for an unknown type,
 * -E2BIG for a length over the type's maximum, -ENOMEM; or the callback's
 * non-zero value. Errors are sticky and leave a static reason in r->why.
 */
int frame_feed(struct frame_reader *r, const uint8_t *data, size_t n,
	       frame_fn cb, void *opaque);

/*
 * Reading straight into the payload, to save copying a large frame out of
 * the caller's read buffer: while a frame's payload is in progress with at
 * least min bytes still to come, returns where the next of them go and, in
 * *room, how many may (up to the payload's end); else NULL. Bytes read
 * there are then reported with frame_direct_done() instead of being fed.
 */
uint8_t *frame_direct(struct frame_reader *r, size_t min, size_t *room);

/* n bytes (at most *room) were read to frame_direct()'s pointer; delivers
 * the frame if that completes it (and it has no trailer still to come).
 * Returns as frame_feed(). */
int frame_direct_done(struct frame_reader *r, size_t n, frame_fn cb,
		      void *opaque);

/*
 * Every frame whose header starts after this call carries n bytes (at most
 * FRAME_TRAILER_MAX) right after its payload, not counted in its length:
 * an authentication tag (auth.h). 0 by default. May be called from the
 * frame callback: the change then applies from the next frame on, even in
 * the middle of the bytes being fed.
 */
void frame_reader_set_trailer(struct frame_reader *r, size_t n);

/* During the frame callback: the frame's 5 header bytes. */
const uint8_t *frame_reader_header(const struct frame_reader *r);

/* During the frame callback: the frame's trailer and its length (*len 0,
 * and any non-NULL pointer, for a frame without one). */
const uint8_t *frame_reader_trailer(const struct frame_reader *r, size_t *len);

/* 1 if the reader sits between frames (a clean place for the stream to end). */
int frame_reader_idle(const struct frame_reader *r);

/* Writes a frame header for a payload of len bytes. */
void frame_put_header(uint8_t *out, uint8_t type, size_t len);

#endif
