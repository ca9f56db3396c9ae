/*
 * Page batches: encoded pages packed into one buffer and compressed with LZ4.
 *
 * Batch format (integers little-endian):
 *
 *   offset size
 *        0    4  magic "RMPK"
 *        4    1  version, 1
 *        5    1  compression: 0 stored, 1 one LZ4 block
 *        6    1  log2(page size)
 *        7    1  reserved, 0
 *        8    4  entry count, 1 .. PACK_MAX_ENTRIES
 *       12    4  raw_len: body length uncompressed, <= PACK_MAX_BODY
 *       16    4  stored_len: body length as stored = batch length - 28
 *       20    8  XXH3-64 of the uncompressed body
 *       28       body (stored_len bytes)
 *
 *   body   = entry{count}                      exactly raw_len bytes
 *   entry  = pfn:varint tag:varint payload
 *     pfn      first entry: the pfn; later: pfn - previous pfn - 1
 *              (pfns strictly ascend, so a page is never in a batch twice)
 *     tag      kind | extra << 2, kind from codec.h:
 *              ZERO  (1): extra 0, no payload
 *              DELTA (2): extra = payload length, 1 .. page size - 1
 *              RAW   (3): extra 0, payload of page-size bytes
 *              UNCHANGED is never sent.
 *
 * A stored body is never longer than compressing it would make it, so a
 * batch is at most 28 bytes plus its body: the wire cost per page is the
 * codec's payload plus two to fifteen bytes of entry header.
 */
#include <errno.h>
#include <lz4.h>
#include <string.h>

#include "bytes.h"
#include "codec.h"
#include "hash.h"
#include "pack.h"
#include "varint.h"

#define PACK_VERSION 1
static const uint8_t pack_magic[4] = {'R', 'M', 'P', 'K'};

/* A tag holds a DELTA length below 2^20 plus two bits: four varint bytes. */
#define TAG_VARINT_MAX 4

static int page_shift(size_t page_size)
{
	if (!codec_page_size_ok(page_size) || (page_size & (page_size - 1)))
		return -1;
	return __builtin_ctzll(page_size);
}

size_t pack_batch_bound(size_t body_len)
{
	return PACK_HEADER_SIZE + body_len;
}

int pack_init(struct pack_writer *w, uint8_t *body, size_t cap,
	      size_t page_size)
{
	if (page_shift(page_size) < 0)
		return -EINVAL;
	*w = (struct pack_writer){
		.body = body, .cap = cap, .page_size = page_size};
	return 0;
}

/* 1 if len is a valid payload length for a kind that is sent, else 0. */
static int payload_len_ok(int kind, size_t len, size_t page_size)
{
	switch (kind) {
	case CODEC_ZERO:
		return len == 0;
	case CODEC_DELTA:
		return len >= 1 && len < page_size;
	case CODEC_RAW:
		return len == page_size;
	}
	return 0;
}

int pack_add(struct pack_writer *w, uint64_t pfn, int kind,
	     const uint8_t *payload, size_t len)
{
	uint64_t pfn_field, tag;
	size_t need;

	if (!payload_len_ok(kind, len, w->page_size))
		return -EINVAL;
	if (w->count > 0 && pfn <= w->last_pfn)
		return -EINVAL;
	pfn_field = w->count ? pfn - w->last_pfn - 1 : pfn;
	tag = (uint64_t)kind | (kind == CODEC_DELTA ? (uint64_t)len << 2 : 0);
	need = varint_len(pfn_field) + varint_len(tag) + len;
	if (w->count >= PACK_MAX_ENTRIES || need > w->cap - w->len ||
	    w->len + need > PACK_MAX_BODY)
		return -ENOSPC;

	w->len += varint_put(w->body + w->len, pfn_field);
	w->len += varint_put(w->body + w->len, tag);
	if (len)
		memcpy(w->body + w->len, payload, len);
	w->len += len;
	w->count++;
	w->last_pfn = pfn;
	return 0;
}

long pack_finish(const struct pack_writer *w, int acceleration, uint8_t *out,
		 size_t out_cap)
{
	uint8_t *hdr = out;
	int clen;

	if (w->count == 0 || acceleration < 0)
		return -EINVAL;
	if (out_cap < pack_batch_bound(w->len))
		return -ENOSPC;

	if (w->body == out + PACK_HEADER_SIZE) {
		/* Built in place: stored as it lies. */
		if (acceleration != 0)
			return -EINVAL;
		clen = (int)w->len;
	} else {
		/*
		 * Room for one byte less than the body: LZ4 gives up
		 * (returns 0) as soon as the result would not be smaller,
		 * and the body is stored.
		 */
		clen = acceleration == 0
			       ? 0
			       : LZ4_compress_fast((const char *)w->body,
						   (char *)out +
							   PACK_HEADER_SIZE,
						   (int)w->len, (int)w->len - 1,
						   acceleration);
		if (clen <= 0) {
			memcpy(out + PACK_HEADER_SIZE, w->body, w->len);
			clen = (int)w->len;
		}
	}

	memcpy(hdr, pack_magic, 4);
	hdr[4] = PACK_VERSION;
	hdr[5] = (size_t)clen < w->len ? PACK_LZ4 : PACK_STORED;
	hdr[6] = (uint8_t)page_shift(w->page_size);
	hdr[7] = 0;
	put_le32(hdr + 8, w->count);
	put_le32(hdr + 12, (uint32_t)w->len);
	put_le32(hdr + 16, (uint32_t)clen);
	put_le64(hdr + 20, hash64(w->body, w->len));
	return (long)(PACK_HEADER_SIZE + (size_t)clen);
}

/*
 * Parses the entry at r->pos and advances. Checks the grammar only: limits
 * and payload contents are pack_open()'s business.
 */
static int parse_entry(struct pack_reader *r, struct pack_entry *e,
		       const char **why)
{
	const uint8_t *p = r->body;
	uint64_t v, tag, extra;
	size_t k;

	k = varint_get(p + r->pos, r->len - r->pos, VARINT_MAX_BYTES, &v);
	if (!k) {
		*why = "truncated or overlong pfn";
		return -EBADMSG;
	}
	r->pos += k;
	if (r->index == 0) {
		e->pfn = v;
	} else {
		if (v >= UINT64_MAX - r->pfn) {
			*why = "pfn overflows";
			return -EBADMSG;
		}
		e->pfn = r->pfn + 1 + v;
	}

	k = varint_get(p + r->pos, r->len - r->pos, TAG_VARINT_MAX, &tag);
	if (!k) {
		*why = "truncated or overlong entry tag";
		return -EBADMSG;
	}
	r->pos += k;
	e->kind = (int)(tag & 3);
	extra = tag >> 2;
	switch (e->kind) {
	case CODEC_ZERO:
		e->len = 0;
		break;
	case CODEC_RAW:
		e->len = r->page_size;
		break;
	case CODEC_DELTA:
		e->len = (size_t)extra;
		break;
	default:
		*why = "entry of kind unchanged";
		return -EBADMSG;
	}
	if ((e->kind != CODEC_DELTA && extra != 0) ||
	    (e->kind == CODEC_DELTA && (extra == 0 || extra >= r->page_size))) {
		*why = "entry length does not fit its kind";
		return -EBADMSG;
	}
	if (e->len > r->len - r->pos) {
		*why = "entry payload runs past the body";
		return -EBADMSG;
	}
	e->payload = p + r->pos;
	r->pos += e->len;
	r->pfn = e->pfn;
	r->index++;
	return 0;
}

#define FAIL(err, reason)        \
	do {                     \
		*why = (reason); \
		return (err);    \
	} while (0)

static int check_header(const uint8_t *b, size_t len,
			const struct pack_limits *lim, const char **why)
{
	uint32_t count, raw_len, stored_len;
	int shift = page_shift(lim->page_size);

	if (len < PACK_HEADER_SIZE)
		FAIL(-EBADMSG, "batch shorter than its header");
	if (memcmp(b, pack_magic, 4) != 0)
		FAIL(-EBADMSG, "bad batch magic");
	if (b[4] != PACK_VERSION)
		FAIL(-EPROTO, "unsupported batch version");
	if (b[5] != PACK_STORED && b[5] != PACK_LZ4)
		FAIL(-EBADMSG, "unknown batch compression");
	if (shift < 0 || b[6] != shift)
		FAIL(-EPROTO, "batch page size differs from ours");
	if (b[7] != 0)
		FAIL(-EBADMSG, "reserved header byte set");

	count = get_le32(b + 8);
	raw_len = get_le32(b + 12);
	stored_len = get_le32(b + 16);
	if (count == 0)
		FAIL(-EBADMSG, "empty batch");
	if (count > PACK_MAX_ENTRIES || count > lim->max_entries)
		FAIL(-E2BIG, "too many entries in batch");
	if (raw_len > PACK_MAX_BODY)
		FAIL(-E2BIG, "batch body over the size limit");
	/* Every entry takes two bytes at least and its worst case at most. */
	if (raw_len < 2ull * count ||
	    raw_len > (uint64_t)count * (lim->page_size + PACK_ENTRY_OVERHEAD))
		FAIL(-EBADMSG, "body length does not fit the entry count");
	if (stored_len != len - PACK_HEADER_SIZE)
		FAIL(-EBADMSG, "batch length differs from its header");
	if (b[5] == PACK_STORED && stored_len != raw_len)
		FAIL(-EBADMSG, "stored body length differs from raw length");
	if (b[5] == PACK_LZ4 && stored_len >= raw_len)
		FAIL(-EBADMSG, "compressed body not smaller than raw body");
	return 0;
}

int pack_open(struct pack_reader *r, const uint8_t *batch, size_t len,
	      const struct pack_limits *lim, uint8_t *scratch,
	      size_t scratch_cap, const char **why)
{
	const char *unused;
	const uint8_t *body;
	uint32_t count, raw_len;
	struct pack_entry e;
	int err;

	if (!why)
		why = &unused;
	err = check_header(batch, len, lim, why);
	if (err)
		return err;
	count = get_le32(batch + 8);
	raw_len = get_le32(batch + 12);

	if (batch[5] == PACK_LZ4) {
		int n;

		if (raw_len > scratch_cap)
			FAIL(-E2BIG,
			     "batch body larger than the scratch buffer");
		n = LZ4_decompress_safe(
			(const char *)batch + PACK_HEADER_SIZE, (char *)scratch,
			(int)(len - PACK_HEADER_SIZE), (int)raw_len);
		if (n != (int)raw_len)
			FAIL(-EBADMSG, "corrupt LZ4 body");
		body = scratch;
	} else {
		body = batch + PACK_HEADER_SIZE;
	}
	if (hash64(body, raw_len) != get_le64(batch + 20))
		FAIL(-EBADMSG, "batch checksum mismatch");

	*r = (struct pack_reader){.body = body,
				  .len = raw_len,
				  .page_size = lim->page_size,
				  .count = count};
	while (r->index < count) {
		err = parse_entry(r, &e, why);
		if (err)
			return err;
		if (e.pfn >= lim->max_pfn)
			FAIL(-EBADMSG, "pfn beyond guest memory");
		if (codec_validate(e.kind, e.payload, e.len, lim->page_size))
			FAIL(-EBADMSG, "malformed page delta");
	}
	if (r->pos != r->len)
		FAIL(-EBADMSG, "bytes left after the last entry");

	/* Rewind: pack_next() hands out what was just checked. */
	r->pos = 0;
	r->index = 0;
	r->pfn = 0;
	return 0;
}

int pack_next(struct pack_reader *r, struct pack_entry *e)
{
	const char *why;

	if (r->index >= r->count)
		return 0;
	return parse_entry(r, e, &why) ? -EBADMSG : 1;
}
