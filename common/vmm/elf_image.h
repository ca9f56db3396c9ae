/*
 * The guest image loader's parser: checks that a byte buffer is a static
 * ELF64 x86-64 executable whose loadable segments fit the guest's memory,
 * and lists them. Pure code (no I/O, no allocation), fuzzed directly.
 */
#ifndef REMORA_VMM_ELF_IMAGE_H
#define REMORA_VMM_ELF_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t addr;	 /* guest address (virtual == physical) */
	uint64_t offset; /* in the file */
	uint64_t filesz; /* bytes copied from the file */
	uint64_t memsz;	 /* bytes in memory; the rest is zeroed */
};

struct elf_image {
	uint64_t entry;
	uint64_t end; /* first byte after the highest segment */
	unsigned nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};

/*
 * Parses img[0..len). Segments must lie in [lo, hi) and must not overlap;
 * the entry point must be inside one. Returns 0, or -ENOEXEC with a one-line
 * reason in err.
 */
int elf_image_parse(const uint8_t *img, size_t len, uint64_t lo, uint64_t hi,
		    struct elf_image *out, char *err, size_t errlen);

#endif
