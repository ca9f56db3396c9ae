/*
 * The primary's encoder (primary/encoder.c): every page of a checkpoint
 * comes out of its frames exactly, the commit's checksum is the one the
 * backup recomputes, every checkpoint places the console stream (an
 * empty frame when it has no bytes), and LZ4 backs off on data it cannot shrink (batches
 * then built in place, stored) and comes back when the data compresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "bytes.h"
#include "codec.h"
#include "encoder.h"
#include "frame.h"
#include "pack.h"
#include "staged.h"
#include "testutil.h"
#include "wire.h"

#define GUEST_PAGES 4096u
#define MEM	    ((uint64_t)GUEST_PAGES * VM_PAGE_SIZE)
#define EPOCH_PAGES (8 * ENCODER_BATCH_PAGES) /* eight full batches */
#define MAX_BATCHES 64

static struct rng rng = {0x9e3779b97f4a7c15ull};
static uint8_t guest[MEM];

enum fill { RANDOM, PATTERN };

/* Page i of the epoch: incompressible, or a 16-byte pattern LZ4 shrinks. */
static void fill_page(uint8_t *p, enum fill f, uint64_t i)
{
	for (size_t k = 0; k < VM_PAGE_SIZE; k += 8) {
		uint64_t v = f == RANDOM ? rnd(&rng) : i * 0x0101 + (k & 8);

		memcpy(p + k, &v, 8);
	}
}

/* What came out of one encoded epoch. */
struct result {
	int modes[MAX_BATCHES]; /* each PageBatch's PACK_STORED / PACK_LZ4 */
	int nbatches;
	uint64_t pages; /* pages the batches carried */
	int console_frames;
	uint64_t console_off; /* the first console frame's offset */
	size_t console_len;   /* bytes the console frames carried */
};

/* The epoch's kind and console bytes (NULL: a checkpoint at offset 0
 * without any). */
struct console_in {
	int precopy;
	uint64_t off;
	size_t len; /* bytes: 'a' + i % 26 */
};

/*
 * Encodes n pages (pfns 2i + 1, so that batches skip pfns) filled as f,
 * and checks every frame: each page decodes to what was staged, in order,
 * console bytes continue each other, and the commit's count and checksum
 * are what the backup computes (pages, state, then the first console
 * offset and the bytes when console frames came).
 */
static void encode_epoch(struct encoder *e, struct staged *s, uint64_t epoch,
			 enum fill f, size_t n, const struct console_in *ci,
			 struct result *res)
{
	static uint8_t scratch[PACK_MAX_BODY];
	const struct pack_limits lim = {VM_PAGE_SIZE, GUEST_PAGES,
					PACK_MAX_ENTRIES};
	XXH3_state_t *h = XXH3_createState();
	size_t next = 0, i;
	int committed = 0;

	assert_non_null(h);
	XXH3_64bits_reset(h);
	memset(res, 0, sizeof(*res));
	staged_begin(s, epoch, ci && ci->precopy);
	assert_int_equal(staged_reserve(s, n, 1), 0);
	for (i = 0; i < n; i++) {
		s->pfns[i] = 2 * i + 1;
		fill_page(s->pages + i * VM_PAGE_SIZE, f, i);
	}
	s->npages = n;
	if (!s->precopy) {
		s->state_len = 16;
		memset(s->state, 0x42, s->state_len);
	}
	if (ci) {
		s->console_off = ci->off;
		s->console_len = ci->len;
		s->console = ci->len ? malloc(ci->len) : NULL;
		for (i = 0; i < ci->len; i++)
			s->console[i] = (uint8_t)('a' + i % 26);
	}
	/* A pre-copy round reads the pages from guest memory. */
	if (s->precopy)
		for (i = 0; i < n; i++)
			memcpy(guest + s->pfns[i] * VM_PAGE_SIZE,
			       s->pages + i * VM_PAGE_SIZE, VM_PAGE_SIZE);
	assert_int_equal(encoder_run(e, s, s->precopy ? guest : NULL), 0);

	for (i = 0; i < s->nframes; i++) {
		const uint8_t *fr = s->out + s->frame_off[i];
		size_t len = s->frame_len[i];
		struct wire_msg m;
		struct pack_reader r;
		struct pack_entry pe;
		const char *why = NULL;
		char err[256];
		uint8_t le[8];

		assert_true(len >= FRAME_HEADER_SIZE);
		assert_int_equal(get_le32(fr), len - FRAME_HEADER_SIZE);
		if (wire_decode(fr[4], fr + FRAME_HEADER_SIZE,
				len - FRAME_HEADER_SIZE, &m, err, sizeof(err)))
			fail_msg("frame %zu: %s", i, err);
		if (m.type == WIRE_PAGE_BATCH) {
			const uint8_t *b = m.batch->batch.data;

			assert_true(res->nbatches < MAX_BATCHES);
			res->modes[res->nbatches++] = b[5];
			assert_int_equal(pack_open(&r, b, m.batch->batch.len,
						   &lim, scratch,
						   sizeof(scratch), &why),
					 0);
			while (pack_next(&r, &pe) == 1) {
				assert_true(next < n);
				assert_true(pe.pfn == s->pfns[next]);
				assert_int_equal(pe.kind, CODEC_RAW);
				assert_memory_equal(pe.payload,
						    s->pages +
							    next * VM_PAGE_SIZE,
						    VM_PAGE_SIZE);
				put_le64(le, pe.pfn);
				XXH3_64bits_update(h, le, 8);
				XXH3_64bits_update(h, pe.payload, VM_PAGE_SIZE);
				next++;
			}
		} else if (m.type == WIRE_CPU_STATE) {
			XXH3_64bits_update(h, m.cpu->state.data,
					   m.cpu->state.len);
		} else if (m.type == WIRE_DEVICE_STATE) {
			assert_string_equal(m.device->device, "console");
			if (!res->console_frames++) {
				res->console_off = m.device->offset;
				put_le64(le, m.device->offset);
				XXH3_64bits_update(h, le, 8);
			}
			assert_true(m.device->offset ==
				    res->console_off + res->console_len);
			for (size_t k = 0; k < m.device->data.len; k++)
				assert_int_equal(m.device->data.data[k],
						 'a' + (res->console_len + k) %
								 26);
			if (m.device->data.len)
				XXH3_64bits_update(h, m.device->data.data,
						   m.device->data.len);
			res->console_len += m.device->data.len;
		} else if (m.type == WIRE_EPOCH_COMMIT) {
			assert_true(m.commit->pages == n);
			assert_true(m.commit->checksum ==
				    XXH3_64bits_digest(h));
			committed = 1;
		}
		wire_msg_free(&m);
	}
	assert_int_equal(next, n);
	assert_true(committed);
	res->pages = next;
	XXH3_freeState(h);
}

static void test_pages_exact_with_and_without_lz4(void **state)
{
	struct encoder e;
	struct staged s;
	struct result res;

	(void)state;
	for (int accel = 0; accel <= 1; accel++) {
		/* No delta cache: every page goes RAW, as in a first sync. */
		assert_int_equal(encoder_init(&e, MEM, 0, 1, accel, 1), 0);
		assert_int_equal(staged_init(&s), 0);
		encode_epoch(&e, &s, 1, PATTERN, 300, NULL, &res);
		assert_int_equal(res.nbatches, 2);
		for (int b = 0; b < res.nbatches; b++)
			assert_int_equal(res.modes[b],
					 accel ? PACK_LZ4 : PACK_STORED);
		/* Random pages: the first batch stored (LZ4 tried in vain,
		 * or off), the last of one page built in place, stored. */
		encode_epoch(&e, &s, 2, RANDOM, ENCODER_BATCH_PAGES + 1, NULL,
			     &res);
		assert_int_equal(res.nbatches, 2);
		assert_int_equal(res.modes[0], PACK_STORED);
		assert_int_equal(res.modes[1], PACK_STORED);
		assert_int_equal(e.lz4_backoff, accel ? 1 : 0);
		staged_destroy(&s);
		encoder_destroy(&e);
	}
}

/*
 * Random pages: the first batch is tried and stored, and the tries space
 * out 1, 2, 4 batches apart. Then pages that compress: the back-off left
 * runs out (stored), the next try pays, and LZ4 stays on.
 */
static void test_lz4_backs_off_and_returns(void **state)
{
	static const int want[8] = {PACK_STORED, PACK_STORED, PACK_LZ4,
				    PACK_LZ4,	 PACK_LZ4,    PACK_LZ4,
				    PACK_LZ4,	 PACK_LZ4};
	struct encoder e;
	struct staged s;
	struct result res;

	(void)state;
	assert_int_equal(encoder_init(&e, MEM, 0, 1, 1, 1), 0);
	assert_int_equal(staged_init(&s), 0);

	encode_epoch(&e, &s, 1, RANDOM, EPOCH_PAGES, NULL, &res);
	assert_int_equal(res.nbatches, 8);
	for (int b = 0; b < 8; b++)
		assert_int_equal(res.modes[b], PACK_STORED);
	/* Tried at batches 1, 3 and 6: back-off 4, two batches of it left. */
	assert_int_equal(e.lz4_backoff, 4);
	assert_int_equal(e.lz4_skip, 2);

	encode_epoch(&e, &s, 2, PATTERN, EPOCH_PAGES, NULL, &res);
	assert_int_equal(res.nbatches, 8);
	assert_memory_equal(res.modes, want, sizeof(want));
	assert_int_equal(e.lz4_backoff, 0);
	assert_int_equal(e.lz4_skip, 0);

	/* The back-off is bounded: a long run of random data still tries
	 * LZ4 every ENCODER_LZ4_BACKOFF_MAX + 1 batches. */
	for (uint64_t ep = 3; ep < 3 + 40; ep++)
		encode_epoch(&e, &s, ep, RANDOM, EPOCH_PAGES, NULL, &res);
	assert_int_equal(e.lz4_backoff, ENCODER_LZ4_BACKOFF_MAX);
	assert_true(e.lz4_skip <= ENCODER_LZ4_BACKOFF_MAX);

	staged_destroy(&s);
	encoder_destroy(&e);
}

/*
 * Every checkpoint says where the console stream stands, with or without
 * bytes (an empty frame): after a sync the backup learns where output the
 * primary released meanwhile ended. Frames of at most WIRE_CONSOLE_MAX
 * continue each other. A pre-copy round sends none.
 */
static void test_console_placed(void **state)
{
	static const struct {
		struct console_in in;
		int frames;
	} c[] = {
		{{0, 12345, 0}, 1},
		{{0, 777, 10}, 1},
		{{0, 5, WIRE_CONSOLE_MAX + 5}, 2},
		{{1, 99, 0}, 0},
	};
	struct encoder e;
	struct staged s;
	struct result res;

	(void)state;
	assert_int_equal(encoder_init(&e, MEM, 0, 1, 0, 1), 0);
	assert_int_equal(staged_init(&s), 0);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		encode_epoch(&e, &s, i + 1, PATTERN, 3, &c[i].in, &res);
		assert_int_equal(res.console_frames, c[i].frames);
		if (c[i].frames)
			assert_true(res.console_off == c[i].in.off);
		assert_int_equal(res.console_len, c[i].in.len);
	}
	staged_destroy(&s);
	encoder_destroy(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_exact_with_and_without_lz4),
		cmocka_unit_test(test_lz4_backs_off_and_returns),
		cmocka_unit_test(test_console_placed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
