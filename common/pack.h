/*
 * Page batches: many encoded pages (pfn, kind, payload) in one buffer,
 * compressed as a whole with LZ4 and carried on the wire as opaque bytes.
 *
 * Writing: pack_init() over a caller-owned body buffer, pack_add() per page in
 * ascending pfn order, pack_finish() to compress into the output buffer.
 * Reading: pack_open() checks every length, count, checksum and payload of a
 * batch against hard caps before anything is used; only then does pack_next()
 * hand out the entries, so applying a batch that opened cannot fail halfway.
 * The byte format is at the top of pack.c. Pure code: no allocation, no I/O.
 */
#ifndef REMORA_PACK_H
#define REMORA_PACK_H

#include <stddef.h>
#include <stdint.h>

#define PACK_HEADER_SIZE 28u
/* Hard caps, whatever the caller's limits say. */
#define PACK_MAX_ENTRIES 65536u
#define PACK_MAX_BODY	 (64u << 20)
/* Worst-case bytes of one entry's header (pfn varint + tag varint). */
#define PACK_ENTRY_OVERHEAD 15u

enum pack_compression {
	PACK_STORED = 0, /* body as is: LZ4 did not shrink it */
	PACK_LZ4 = 1,	 /* body compressed as one LZ4 block */
};

struct pack_writer {
	uint8_t *body; /* caller's buffer for the uncompressed body */
	size_t cap;    /* its size */
	size_t len;    /* bytes used */
	size_t page_size;
	uint32_t count;	   /* entries added */
	uint64_t last_pfn; /* valid when count > 0 */
};

/* Body buffer size that holds n pages of any kind. */
static inline size_t pack_body_bound(size_t n, size_t page_size)
{
	return n * (page_size + PACK_ENTRY_OVERHEAD);
}

/* Output size that holds a finished batch of a body of body_len bytes. */
size_t pack_batch_bound(size_t body_len);

/* Returns 0, or -EINVAL for an unsupported page size. */
int pack_init(struct pack_writer *w, uint8_t *body, size_t cap,
	      size_t page_size);

/*
 * Appends one encoded page. pfns must strictly ascend; kind is ZERO, DELTA or
 * RAW (UNCHANGED pages are simply not sent); payload may be NULL when len is
 * 0. Returns 0; -EINVAL for a pfn out
 * of order, a bad kind or a payload that does not match it; -ENOSPC when the
 * body buffer or PACK_MAX_ENTRIES is full (the writer is unchanged then).
 */
int pack_add(struct pack_writer *w, uint64_t pfn, int kind,
	     const uint8_t *payload, size_t len);

/*
 * Writes the batch (header + body, LZ4-compressed with the given acceleration
 * >= 1, or stored when that is not smaller; acceleration 0 stores it without
 * trying: compression = none) to out. Returns the batch length,
 * -EINVAL for an empty writer or a negative acceleration, -ENOSPC if out_cap is less
 * than pack_batch_bound(w->len).
 *
 * A batch that will be stored may be built in place: pack_init() over
 * out + PACK_HEADER_SIZE, then pack_finish() with acceleration 0 only
 * writes the header (with any other acceleration it returns -EINVAL, as
 * LZ4 cannot compress in place). That saves copying the body once.
 */
long pack_finish(const struct pack_writer *w, int acceleration, uint8_t *out,
		 size_t out_cap);

/* What the reader accepts; anything beyond is rejected before use. */
struct pack_limits {
	size_t page_size; /* must equal the batch's page size */
	uint64_t max_pfn; /* pfns must be below this (guest pages) */
	uint32_t max_entries;
};

struct pack_reader {
	const uint8_t *body; /* the uncompressed body */
	size_t len;
	size_t pos;
	size_t page_size;
	uint32_t count; /* entries in the batch */
	uint32_t index; /* entries handed out so far */
	uint64_t pfn;	/* last pfn handed out */
};

struct pack_entry {
	uint64_t pfn;
	int kind;
	const uint8_t *payload; /* points into the reader's body */
	size_t len;
};

/*
 * Validates a whole batch. scratch (scratch_cap bytes) receives the
 * decompressed body when the batch is compressed; the reader then points into
 * it (or into batch, when stored), so both must outlive the reader.
 * Returns 0, or a negative errno and leaves a reason in *why (a static
 * string, may be NULL): -EBADMSG malformed or corrupted, -E2BIG over a limit,
 * -EPROTO wrong version or page size.
 */
int pack_open(struct pack_reader *r, const uint8_t *batch, size_t len,
	      const struct pack_limits *lim, uint8_t *scratch,
	      size_t scratch_cap, const char **why);

/*
 * Hands out the next entry: 1, or 0 at the end. (-EBADMSG only if the reader
 * was not opened by a successful pack_open().)
 */
int pack_next(struct pack_reader *r, struct pack_entry *e);

#endif
