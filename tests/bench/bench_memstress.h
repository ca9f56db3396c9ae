/*
 * Reading memstress from the host (benchmarks): where its working set is,
 * from its first console line, and how many steps it has made, from guest
 * memory. Word 0 of every working-set page is the tag j << 32 | page of the
 * step j that last wrote it (0 from the initial fill), so the largest tag is
 * the current step. Include after bench_util.h (uses die()).
 */
#ifndef REMORA_BENCH_MEMSTRESS_H
#define REMORA_BENCH_MEMSTRESS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

/* The working set address from memstress's first line, in buf. */
static uint64_t memstress_parse_ws(const char *buf, uint64_t pages)
{
	unsigned long long p = 0, addr = 0;
	const char *s = strstr(buf, "memstress pages ");

	if (!s || sscanf(s, "memstress pages %llu at 0x%llx", &p, &addr) != 2)
		addr = 0;
	if (!addr || p != pages || addr % VM_PAGE_SIZE)
		die("memstress: cannot read its working set address from:\n%s",
		    buf);
	return addr;
}

/* The step counter; checks the page half of every tag on the way. */
static uint64_t memstress_steps(struct vm *vm, uint64_t ws, uint64_t pages)
{
	const uint8_t *mem = vm_mem(vm);
	uint64_t max = 0;

	for (uint64_t p = 0; p < pages; p++) {
		uint64_t tag;

		memcpy(&tag, mem + ws + p * VM_PAGE_SIZE, 8);
		if ((tag & 0xffffffffu) != p)
			die("memstress page %llu at 0x%llx has tag 0x%016llx: "
			    "not its working set",
			    (unsigned long long)p,
			    (unsigned long long)(ws + p * VM_PAGE_SIZE),
			    (unsigned long long)tag);
		if (tag >> 32 > max)
			max = tag >> 32;
	}
	return max;
}

#endif
