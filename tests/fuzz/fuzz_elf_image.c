/*
 * Fuzz target: the guest ELF parser. Properties: it never reads outside the
 * image (ASan), and an image it accepts has segments inside the guest range,
 * inside the file, not overlapping, and an entry point inside one of them.
 */
#include <stdlib.h>
#include <string.h>

#include "elf_image.h"
#include "fuzz.h"

#define LO 0x100000ull
#define HI (63ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_image img;
	char err[256];
	int entry_in = 0;

	err[0] = '\0';
	if (elf_image_parse(data, size, LO, HI, &img, err, sizeof(err))) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(img.nseg >= 1 && img.nseg <= ELF_MAX_SEGMENTS);
	for (unsigned i = 0; i < img.nseg; i++) {
		const struct elf_segment *s = &img.seg[i];

		FUZZ_CHECK(s->addr >= LO && s->memsz <= HI - s->addr);
		FUZZ_CHECK(s->filesz <= s->memsz);
		FUZZ_CHECK(s->offset <= size && s->filesz <= size - s->offset);
		FUZZ_CHECK(s->addr + s->memsz <= img.end);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(s->addr >=
					   img.seg[j].addr + img.seg[j].memsz ||
				   img.seg[j].addr >= s->addr + s->memsz);
		if (img.entry >= s->addr && img.entry < s->addr + s->memsz)
			entry_in = 1;
	}
	FUZZ_CHECK(entry_in);
	return 0;
}
