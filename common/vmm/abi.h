/*
 * The guest <-> VMM interface of remora's micro-VM: memory layout, boot info
 * and hypercalls. Included by the VMM (common/vmm/) and by the guest SDK
 * (guest/sdk/), so it is freestanding: fixed-width types only.
 *
 * Memory: guest-physical == guest-virtual (identity-mapped, user pages). The
 * guest runs in 64-bit mode at CPL3.
 *
 *   0x0000 .. 0x1000      not mapped: a NULL dereference faults
 *   0x1000 .. 0x2000      boot info (struct remora_boot) and argument string
 *   0x2000 .. 0x10000     page tables, GDT, TSS (VMM-owned)
 *   0x100000 ..           the guest ELF's PT_LOAD segments, then the heap
 *   .. mem_size           the stack, REMORA_STACK_SIZE bytes below the top
 *
 * Arguments: one string; arguments are separated by unquoted whitespace, a
 * '"' starts or ends a quoted stretch (which may hold whitespace, and may be
 * empty), and '\\' makes the next '"' or '\\' literal. remora-primary quotes
 * what it passes accordingly; the SDK splits it back into argv.
 *
 * Guest memory is at most 4 GiB, so every guest address fits 32 bits.
 *
 * Hypercalls: the guest writes the guest-physical address of an argument
 * block (32 bits, so blocks live below 4 GiB) to the port of the call with
 * `outl`. The VMM checks every address and length in the block against guest
 * memory; a bad one stops the VM with an error naming the call. Results are
 * written back into the block.
 */
#ifndef REMORA_VMM_ABI_H
#define REMORA_VMM_ABI_H

#include <stdint.h>

#define REMORA_ABI_VERSION 1

#define REMORA_BOOT_GPA	   0x1000u
#define REMORA_LOAD_MIN	   0x100000u /* lowest address a segment may use */
#define REMORA_STACK_SIZE  (1u << 20)
#define REMORA_CMDLINE_MAX 2048u /* bytes, NUL included */

#define REMORA_BOOT_MAGIC 0x746f6f6261726f6dull /* "moraboot" */

/* At REMORA_BOOT_GPA; its address is passed in %rdi at entry. */
struct remora_boot {
	uint64_t magic;	      /* REMORA_BOOT_MAGIC */
	uint32_t abi_version; /* REMORA_ABI_VERSION */
	uint32_t page_size;   /* 4096 */
	uint64_t mem_size;    /* bytes of guest RAM */
	uint64_t heap_start; /* first free byte after the image, page aligned */
	uint64_t heap_end;   /* bottom of the stack region */
	uint64_t cmdline;    /* address of the NUL-terminated argument string */
	uint64_t cmdline_len; /* its length without the NUL */
	/*
	 * The VMM increments this to ask the guest for a self-check (e.g.
	 * right after a restore); guests that have one compare it with the
	 * last value they saw. Read it through a volatile pointer.
	 */
	uint64_t check_seq;
};
#define REMORA_BOOT_HAS_CHECK_SEQ 1

/* Hypercall ports (the port number selects the call). */
enum remora_hc {
	REMORA_HC_CONSOLE = 0x500, /* struct remora_hc_buf: write to console */
	REMORA_HC_MONOTONIC,	   /* struct remora_hc_time: ns, never back */
	REMORA_HC_WALLCLOCK,	   /* struct remora_hc_time: ns since 1970 */
	REMORA_HC_POLL,		   /* struct remora_hc_poll: sleep until */
	REMORA_HC_RANDOM,	   /* struct remora_hc_buf: fill with random */
	REMORA_HC_EXIT,		   /* struct remora_hc_exit: stop with code */
	REMORA_HC_ABORT,	   /* struct remora_hc_buf: stop with message */
	REMORA_HC_END
};

/* A guest buffer: console bytes, random bytes, an abort message. */
struct remora_hc_buf {
	uint64_t addr; /* guest address */
	uint64_t len;  /* bytes; at most REMORA_HC_BUF_MAX */
};
#define REMORA_HC_BUF_MAX (1u << 20)

struct remora_hc_time {
	uint64_t ns; /* out */
};

/*
 * Sleeps until the monotonic clock reaches deadline_ns, or earlier (the VMM
 * may return early, e.g. to pause the VM): the guest loops until its own
 * condition holds. now_ns is the monotonic time at return.
 */
struct remora_hc_poll {
	uint64_t deadline_ns; /* in */
	uint64_t now_ns;      /* out */
};

struct remora_hc_exit {
	uint64_t code; /* 0..255 */
};

#endif
