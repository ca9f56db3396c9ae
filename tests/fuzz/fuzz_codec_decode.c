/*
 * Fuzz target: codec decode of arbitrary bytes. Properties: decode never
 * reads or writes outside its buffers (ASan), agrees with codec_validate,
 * leaves the page untouched when it fails, and when it succeeds the encoder
 * can express the same change (encode(before, after) decodes to after).
 *
 * Input: byte 0 kind (value % 6 - 1, so -1 and 4 are invalid kinds), byte 1
 * bit 0: 128-byte page instead of 4096; the rest is the payload.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *page, *before, *out, *payload;
	size_t n, len, plen, i;
	int kind, err, k2;

	if (size < 2)
		return 0;
	kind = data[0] % 6 - 1;
	n = data[1] & 1 ? 128 : 4096;
	plen = size - 2;
	/* An exact-size copy, so ASan catches a read past the payload. */
	payload = malloc(plen ? plen : 1);
	memcpy(payload, data + 2, plen);

	page = malloc(n);
	before = malloc(n);
	out = malloc(CODEC_BOUND(n));
	for (i = 0; i < n; i++)
		page[i] = (uint8_t)(i * 37 + 11);
	memcpy(before, page, n);

	err = codec_decode(page, n, kind, payload, plen);
	FUZZ_CHECK(err == codec_validate(kind, payload, plen, n));
	if (err) {
		FUZZ_CHECK(memcmp(page, before, n) == 0);
	} else {
		k2 = codec_encode(before, page, n, out, &len);
		FUZZ_CHECK(k2 >= 0);
		FUZZ_CHECK(codec_decode(before, n, k2, out, len) == 0);
		FUZZ_CHECK(memcmp(before, page, n) == 0);
	}
	free(payload);
	free(page);
	free(before);
	free(out);
	return 0;
}
