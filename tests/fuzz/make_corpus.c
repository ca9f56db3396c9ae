/*
 * Writes the seed corpora of the fuzz targets into the directory given on the
 * command line (tests/fuzz/corpus): a handful of meaningful inputs per target
 * (valid ones of every kind, each class of malformed one), from which the
 * fuzzer grows its own. Run by hand when a format changes; the output is
 * committed and replayed by the test suite.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "pack.h"

static const char *dir;

static void put(const char *target, const char *name, const uint8_t *a,
		size_t alen, const uint8_t *b, size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void roundtrip_seeds(void)
{
	static const struct {
		const char *name;
		uint8_t in[16];
		size_t len;
	} s[] = {
		{"unchanged", {0x02}, 1},
		{"zero", {0x0a}, 1},
		{"one-byte-first", {0x02, 0, 0, 1, 0x77}, 5},
		{"one-byte-last", {0x02, 0xff, 0x0f, 1, 0x77}, 5},
		{"run64", {0x12, 0x00, 0x08, 64, 0x31}, 5},
		{"two-runs-gap2",
		 {0x12, 0x10, 0, 8, 0x31, 0x1a, 0, 8, 0x44},
		 9},
		{"small-page", {0x13, 0x70, 0, 16, 0x99}, 5},
		{"unknown-old", {0x06, 0x00, 0x01, 200, 0x42}, 5},
		{"input-old",
		 {0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		 13},
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("codec_roundtrip", s[i].name, s[i].in, s[i].len, NULL, 0);
}

static void decode_seeds(void)
{
	static const struct {
		const char *name;
		uint8_t in[16];
		size_t len;
	} s[] = {
		{"unchanged", {1, 0}, 2},
		{"zero", {2, 0}, 2},
		{"delta-first", {3, 0, 0x00, 0x01, 0xff}, 5},
		{"delta-last", {3, 0, 0xff, 0x1f, 0x01, 0x42}, 6},
		{"delta-two", {3, 0, 5, 2, 1, 2, 9, 1, 3}, 9},
		{"truncated-varint", {3, 0, 0x80}, 3},
		{"overlong-varint", {3, 0, 0x80, 0x00, 1, 1}, 6},
		{"skip-past-end", {3, 1, 0x81, 0x01, 1, 1}, 6},
		{"zero-len", {3, 0, 4, 0}, 4},
		{"zero-skip-later", {3, 0, 0, 1, 7, 0, 1, 7}, 8},
		{"trailing", {3, 0, 0, 1, 7, 3}, 6},
		{"bad-kind", {5, 0, 1}, 3},
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("codec_decode", s[i].name, s[i].in, s[i].len, NULL, 0);
}

static void pack_seeds(void)
{
	static uint8_t pages[3][4096], body[4 * (4096 + 16)],
		out[4 * (4096 + 16) + PACK_HEADER_SIZE];
	uint8_t enc[4096], flag;
	struct pack_writer w;
	size_t len;
	long blen;
	int kind;

	for (int i = 0; i < 4096; i++) {
		pages[0][i] = (uint8_t)i;
		pages[1][i] = (uint8_t)(i * 7919 >> 3);
	}
	memcpy(pages[2], pages[0], 4096);
	pages[2][100] ^= 0x55;
	pages[2][2000] ^= 0x0f;

	for (int lz = 0; lz < 2; lz++) {
		pack_init(&w, body, sizeof(body), 4096);
		kind = codec_encode(pages[0], pages[2], 4096, enc, &len);
		pack_add(&w, 3, kind, enc, len);
		pack_add(&w, 4, CODEC_ZERO, NULL, 0);
		kind = codec_encode(NULL, pages[lz], 4096, enc, &len);
		pack_add(&w, 1000, kind, enc, len);
		blen = pack_finish(&w, 1, out, sizeof(out));
		if (blen < 0)
			exit(1);
		flag = 0;
		put("pack_unpack", lz ? "mixed-lz4" : "mixed-stored", &flag, 1,
		    out, (size_t)blen);
		/* The same with a flipped body byte: repaired, and not. */
		out[blen - 3] ^= 0x40;
		put("pack_unpack", lz ? "flipped-lz4" : "flipped-stored", &flag,
		    1, out, (size_t)blen);
		flag = 1;
		put("pack_unpack",
		    lz ? "flipped-lz4-repaired" : "flipped-stored-repaired",
		    &flag, 1, out, (size_t)blen);
	}
	flag = 0;
	put("pack_unpack", "header-only", &flag, 1, out, PACK_HEADER_SIZE);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	roundtrip_seeds();
	decode_seeds();
	pack_seeds();
	return 0;
}
