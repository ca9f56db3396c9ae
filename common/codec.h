/*
 * The page codec: how one dirty guest page becomes bytes on the wire.
 *
 * encode() compares a page with the copy last sent for the same pfn and picks
 * the cheapest of four kinds; decode() applies the result to the receiver's
 * copy. Both are pure functions over caller-owned buffers: no allocation, no
 * I/O, no global state. The byte grammar of a DELTA is at the top of codec.c.
 */
#ifndef REMORA_CODEC_H
#define REMORA_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* The values are part of the wire format (see pack.c): never renumber. */
enum codec_kind {
	CODEC_UNCHANGED = 0, /* new == old: no bytes */
	CODEC_ZERO = 1,	     /* new is all zero: no bytes */
	CODEC_DELTA = 2,     /* XOR(old, new) as zero-run / literal-run pairs */
	CODEC_RAW = 3,	     /* the page itself: exactly page_size bytes */
};

/*
 * Page sizes the implementation accepts: a multiple of CODEC_PAGE_ALIGN
 * between CODEC_PAGE_MIN and CODEC_PAGE_MAX (4 KiB, 16 KiB and 64 KiB pages all
 * qualify). The grammar itself has no such limit.
 */
#define CODEC_PAGE_ALIGN 128u
#define CODEC_PAGE_MIN	 128u
#define CODEC_PAGE_MAX	 (1u << 20)

/* Output buffer size that always holds an encoded page: RAW is the largest. */
#define CODEC_BOUND(page_size) ((size_t)(page_size))

/* 1 if page_size is one this implementation accepts, else 0. */
int codec_page_size_ok(size_t page_size);

/*
 * Encodes new_page against old_page (the receiver's current copy). old_page
 * may be NULL when the receiver's copy is unknown: the result is then ZERO or
 * RAW. out must hold CODEC_BOUND(page_size) bytes, all of which encode may
 * use as scratch; it never reads outside the two pages.
 *
 * Returns the kind (>= 0) and stores the payload length in *out_len (0 for
 * UNCHANGED and ZERO, page_size for RAW, 1..page_size-1 for DELTA), or
 * -EINVAL for an unsupported page size.
 */
int codec_encode(const uint8_t *old_page, const uint8_t *new_page,
		 size_t page_size, uint8_t *out, size_t *out_len);

/*
 * The same without copying a RAW page: *payload is where the payload is,
 * out for DELTA, new_page itself for RAW (out then only served as the
 * delta scan's scratch), and *out_len as above. One copy less per page that goes RAW (the encoder's
 * case for incompressible pages).
 */
int codec_encode_ref(const uint8_t *old_page, const uint8_t *new_page,
		     size_t page_size, uint8_t *out, size_t *out_len,
		     const uint8_t **payload);

/*
 * Checks that (kind, payload, len) is well formed for a page of page_size
 * bytes, without touching any page. Returns 0, or a negative errno:
 * -EINVAL for a bad kind or page size, -EBADMSG for a malformed payload.
 */
int codec_validate(int kind, const uint8_t *payload, size_t len,
		   size_t page_size);

/*
 * Turns page (the old content) into the new content. All or nothing: the
 * payload is validated first, and on any error page is left untouched.
 * Never reads outside payload[0..len) or touches bytes outside the page.
 * Returns 0 or the codec_validate() error.
 */
int codec_decode(uint8_t *page, size_t page_size, int kind,
		 const uint8_t *payload, size_t len);

/* A short constant name for a kind ("delta"), or "invalid". */
const char *codec_kind_name(int kind);

/* Which encoder codec_encode() dispatches to on this CPU ("avx2", ...). */
const char *codec_impl_name(void);

#endif
