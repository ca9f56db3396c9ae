/*
 * Fuzz target: unpack of arbitrary bytes. Properties: pack_open never reads
 * or writes outside its buffers; a batch it accepts hands out exactly its
 * count of entries, every entry decodes onto a page, and packing those
 * entries again gives back the very same body (the format has one encoding
 * per content).
 *
 * Input: byte 0 bit 0 set means "repair the checksum first": the target
 * recomputes the header's XXH3 over the (decompressed) body, so the fuzzer
 * can explore the entry grammar behind it; the rest is the batch.
 */
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "codec.h"
#include "fuzz.h"
#include "pack.h"

#define PAGE	4096
#define SCRATCH (1u << 20)

static void repair_checksum(uint8_t *b, size_t len, uint8_t *tmp)
{
	uint64_t h;
	int n;

	if (len < PACK_HEADER_SIZE)
		return;
	if (b[5] == PACK_LZ4) {
		n = LZ4_decompress_safe((const char *)b + PACK_HEADER_SIZE,
					(char *)tmp,
					(int)(len - PACK_HEADER_SIZE), SCRATCH);
		if (n < 0)
			return;
		h = XXH3_64bits(tmp, (size_t)n);
	} else {
		h = XXH3_64bits(b + PACK_HEADER_SIZE, len - PACK_HEADER_SIZE);
	}
	for (int i = 0; i < 8; i++)
		b[20 + i] = (uint8_t)(h >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pack_limits lim = {
		.page_size = PAGE, .max_pfn = 1u << 20, .max_entries = 1024};
	struct pack_reader r;
	struct pack_writer w;
	struct pack_entry e;
	uint8_t *batch, *scratch, *page, *body;
	const char *why = NULL;
	size_t len;
	uint32_t seen = 0;
	int err;

	if (size < 1)
		return 0;
	len = size - 1;
	batch = malloc(len ? len : 1);
	memcpy(batch, data + 1, len);
	scratch = malloc(SCRATCH);
	if (data[0] & 1)
		repair_checksum(batch, len, scratch);

	err = pack_open(&r, batch, len, &lim, scratch, SCRATCH, &why);
	FUZZ_CHECK(err <= 0);
	if (err) {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		goto out;
	}

	page = malloc(PAGE);
	body = malloc(r.len);
	FUZZ_CHECK(pack_init(&w, body, r.len, PAGE) == 0);
	while ((err = pack_next(&r, &e)) == 1) {
		memset(page, 0x5a, PAGE);
		FUZZ_CHECK(e.pfn < lim.max_pfn);
		FUZZ_CHECK(codec_decode(page, PAGE, e.kind, e.payload, e.len) ==
			   0);
		FUZZ_CHECK(pack_add(&w, e.pfn, e.kind, e.payload, e.len) == 0);
		seen++;
	}
	FUZZ_CHECK(err == 0);
	FUZZ_CHECK(seen == r.count);
	FUZZ_CHECK(w.len == r.len && memcmp(w.body, r.body, r.len) == 0);
	free(page);
	free(body);
out:
	free(batch);
	free(scratch);
	return 0;
}
