/*
 * Fuzz target: codec round trip. The input describes an old page and a list
 * of edits that make the new page; the properties are that decode(encode)
 * gives back the new page exactly, that the kind is the right one, that the
 * payload fits CODEC_BOUND (the out buffer is exactly that big, so ASan sees
 * any overflow), and that every encoder variant this CPU runs produces the
 * same bytes.
 *
 * Input: byte 0 flags (bit 0: 128-byte page instead of 4096; bits 1-2: old
 * page is 0 zero, 1 a pattern, 2 the input bytes, 3 unknown (NULL); bit 3:
 * new page starts all zero; bits 4-7: step of the values written by edits),
 * then edits of 4 bytes: offset (16 bits LE, modulo the page), length,
 * value (0 writes zeros).
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_impl.h"
#include "fuzz.h"

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct codec_impl *impls[4];
	size_t nimpl, n, len, i;
	uint8_t *old, *new, *out, *page, *alt;
	int flags, old_mode, kind;

	if (size < 1)
		return 0;
	flags = data[0];
	n = flags & 1 ? 128 : 4096;
	old_mode = (flags >> 1) & 3;
	data++;
	size--;

	old = malloc(n);
	new = malloc(n);
	page = malloc(n);
	out = malloc(CODEC_BOUND(n));
	alt = malloc(CODEC_BOUND(n));
	for (i = 0; i < n; i++) {
		switch (old_mode) {
		case 0:
			old[i] = 0;
			break;
		case 1:
			old[i] = (uint8_t)(i * 131 + 7);
			break;
		default:
			old[i] = size ? data[i % size] : 0;
			break;
		}
	}
	if (flags & 8)
		memset(new, 0, n);
	else
		memcpy(new, old, n);
	for (i = 0; i + 4 <= size; i += 4) {
		size_t off = (data[i] | (size_t)data[i + 1] << 8) % n;
		size_t run = data[i + 2] ? data[i + 2] : 1;
		uint8_t val = data[i + 3];

		for (size_t j = 0; j < run && off + j < n; j++)
			new[off + j] =
				val ? (uint8_t)(val + j * (flags >> 4)) : 0;
	}

	kind = codec_encode(old_mode == 3 ? NULL : old, new, n, out, &len);
	FUZZ_CHECK(kind >= 0);
	switch (kind) {
	case CODEC_UNCHANGED:
		FUZZ_CHECK(old_mode != 3 && memcmp(old, new, n) == 0);
		FUZZ_CHECK(len == 0);
		break;
	case CODEC_ZERO:
		FUZZ_CHECK(all_zero(new, n) && len == 0);
		FUZZ_CHECK(old_mode == 3 || memcmp(old, new, n) != 0);
		break;
	case CODEC_DELTA:
		FUZZ_CHECK(old_mode != 3 && len >= 1 && len < n);
		FUZZ_CHECK(!all_zero(new, n));
		break;
	case CODEC_RAW:
		FUZZ_CHECK(len == n && memcmp(out, new, n) == 0);
		FUZZ_CHECK(!all_zero(new, n));
		break;
	default:
		FUZZ_CHECK(!"unknown kind");
	}
	FUZZ_CHECK(codec_validate(kind, out, len, n) == 0);

	/* The receiver's copy: the old page, or junk when it is unknown. */
	if (old_mode == 3)
		memset(page, 0xa5, n);
	else
		memcpy(page, old, n);
	FUZZ_CHECK(codec_decode(page, n, kind, out, len) == 0);
	FUZZ_CHECK(memcmp(page, new, n) == 0);

	/* Every variant must agree with every other, byte for byte. */
	if (old_mode != 3) {
		long ref = -2;

		nimpl = codec_impls(impls, 4);
		for (i = 0; i < nimpl; i++) {
			long r = impls[i]->delta(old, new, n, alt);

			FUZZ_CHECK(impls[i]->page_zero(new, n) ==
				   all_zero(new, n));
			if (i == 0) {
				ref = r;
				memcpy(out, alt, r > 0 ? (size_t)r : 0);
				continue;
			}
			FUZZ_CHECK(r == ref);
			FUZZ_CHECK(r <= 0 || memcmp(alt, out, (size_t)r) == 0);
		}
	}

	free(old);
	free(new);
	free(page);
	free(out);
	free(alt);
	return 0;
}
