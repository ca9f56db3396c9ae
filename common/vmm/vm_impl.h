/*
 * The VM's insides, shared by the files of common/vmm/ and nothing else.
 */
#ifndef REMORA_VMM_VM_IMPL_H
#define REMORA_VMM_VM_IMPL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "abi.h"
#include "vm.h"

/* Guest-physical layout of the VMM-owned low pages (see abi.h). */
#define GPA_PML4 0x2000u
#define GPA_PDPT 0x3000u
#define GPA_PD	 0x4000u /* four pages: 4 GiB of 2 MiB mappings */
#define GPA_PT0	 0x8000u /* 4 KiB mappings of the first 2 MiB */
#define GPA_GDT	 0x9000u
#define GPA_TSS	 0x9080u
/*
 * 104-byte TSS, then an I/O bitmap up to the hypercall ports, then 0xff.
 * Ports 0x500..0x50f are allowed: a 4-byte access to port p checks the bits
 * of p..p+3, so the last hypercall port needs bits past itself.
 */
#define TSS_IOMAP_BYTES ((REMORA_HC_CONSOLE + 16) / 8)
#define TSS_LIMIT	(104 + TSS_IOMAP_BYTES + 1 - 1)

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1b /* GDT entry 3, RPL 3 */
#define SEL_UDATA 0x23 /* GDT entry 4, RPL 3 */
#define SEL_TSS	  0x28

struct vm {
	int kvm_fd, vm_fd, vcpu_fd, mem_fd;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t npages;
	int dirty_log;
	struct kvm_run *run;
	size_t run_size;
	int guest_xsave;      /* CPUID offers XSAVE: CR4.OSXSAVE, XCR0 */
	int have_xsave_ioctl; /* KVM_GET/SET_XSAVE: FPU state with header */
	int have_xcrs;
	uint64_t xcr0;

	vm_console_fn console;
	void *console_opaque;
	void (*on_stop)(void *opaque);
	void *stop_opaque;

	/* Pages the VMM wrote into guest RAM (not in KVM's dirty log). */
	uint64_t *vmm_dirty;
	/* Harvest scratch for KVM's bitmap. */
	uint64_t *kvm_dirty;

	/* Hot pages (dirty.c), when hot_max > 0: per page, the harvest that
	 * last found it written (0: never) and, while it is hot, the harvest
	 * at which it cools (0: not hot); what KVM_CLEAR_DIRTY_LOG is given. */
	uint32_t hot_max, nhot, harvests;
	uint32_t *last_written, *hot_until;
	uint64_t *clear;
	struct vm_hot_stats hot;
	/* vm_dirty_peek()'s copy of KVM's log. */
	uint64_t *peek;

	/* Guest monotonic = host CLOCK_MONOTONIC + clock_offset. */
	int64_t clock_offset;

	/* vCPU thread control, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	pthread_t thread;
	int started; /* the thread exists */
	int pause_req;
	int paused;		 /* the thread is parked, state readable */
	int stop_req;		 /* vm_destroy: leave now */
	struct vm_status status; /* how != VM_RUNNING: thread finished */

	char err[VM_ERR_MAX];
};

/* Records the one-line reason for a failure; returns ret. */
int vm_fail(struct vm *vm, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

uint64_t vm_host_monotonic_ns(void);

/* Marks [gpa, gpa+len) as written by the VMM. */
void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);

/*
 * A guest buffer the guest may hand to a hypercall: inside the boot page or
 * guest memory at or above REMORA_LOAD_MIN, never the VMM-owned page tables,
 * GDT or TSS. NULL if not.
 */
uint8_t *vm_guest_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

/* vcpu.c */
int vcpu_init(struct vm *vm);
int vcpu_set_entry(struct vm *vm, uint64_t rip, uint64_t rsp, uint64_t rdi);
void vcpu_stop_thread(struct vm *vm);
/*
 * From the vCPU thread: the guest has stopped (exit, abort, a bad hypercall,
 * a KVM failure). Publishes the status to vm_wait()/vm_pause(); returns 1.
 */
int vcpu_stopped(struct vm *vm, enum vm_stop how, int code, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

/*
 * hypercall.c: handles one port write. Returns 0 to continue, 1 when the
 * guest stopped (vm->status filled in).
 */
int hypercall_handle(struct vm *vm, uint16_t port, uint32_t arg);

#endif
