/*
 * ELF64 parsing for guest images. Only what a static, non-PIE x86-64
 * executable needs: the file header, the program headers, PT_LOAD segments.
 * Everything is checked against the buffer length before it is read, and
 * every segment against the guest range it must land in.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "elf_image.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -ENOEXEC;
}

int elf_image_parse(const uint8_t *img, size_t len, uint64_t lo, uint64_t hi,
		    struct elf_image *out, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	unsigned i, j;
	int entry_ok = 0;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(eh))
		return fail(err, errlen, "not an ELF file (%zu bytes)", len);
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, "not an ELF file (bad magic)");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, "not a 64-bit little-endian ELF");
	if (eh.e_type != ET_EXEC)
		return fail(err, errlen,
			    "ELF type %u is not a static executable (ET_EXEC)",
			    eh.e_type);
	if (eh.e_machine != EM_X86_64)
		return fail(err, errlen, "ELF machine %u is not x86-64",
			    eh.e_machine);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return fail(err, errlen, "bad program header size %u",
			    eh.e_phentsize);
	if (eh.e_phnum == 0)
		return fail(err, errlen, "no program headers");
	if (eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return fail(err, errlen,
			    "program headers past the end of file");

	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		struct elf_segment *s;

		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph),
		       sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return fail(
				err, errlen,
				"dynamically linked; guests must be static");
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (out->nseg == ELF_MAX_SEGMENTS)
			return fail(err, errlen,
				    "more than %d PT_LOAD segments",
				    ELF_MAX_SEGMENTS);
		if (ph.p_filesz > ph.p_memsz)
			return fail(err, errlen,
				    "segment %u: file size > memory size", i);
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return fail(err, errlen,
				    "segment %u: data past the end of file", i);
		if (ph.p_vaddr < lo || ph.p_vaddr > hi ||
		    ph.p_memsz > hi - ph.p_vaddr)
			return fail(err, errlen,
				    "segment %u at 0x%llx+0x%llx outside guest "
				    "range [0x%llx, 0x%llx)",
				    i, (unsigned long long)ph.p_vaddr,
				    (unsigned long long)ph.p_memsz,
				    (unsigned long long)lo,
				    (unsigned long long)hi);
		s = &out->seg[out->nseg];
		s->addr = ph.p_vaddr;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->memsz = ph.p_memsz;
		for (j = 0; j < out->nseg; j++) {
			const struct elf_segment *o = &out->seg[j];

			if (s->addr < o->addr + o->memsz &&
			    o->addr < s->addr + s->memsz)
				return fail(err, errlen,
					    "segment %u overlaps another", i);
		}
		if (eh.e_entry >= s->addr && eh.e_entry < s->addr + s->memsz)
			entry_ok = 1;
		if (s->addr + s->memsz > out->end)
			out->end = s->addr + s->memsz;
		out->nseg++;
	}
	if (out->nseg == 0)
		return fail(err, errlen, "no loadable segments");
	if (!entry_ok)
		return fail(err, errlen, "entry point 0x%llx is in no segment",
			    (unsigned long long)eh.e_entry);
	out->entry = eh.e_entry;
	return 0;
}
