/*
 * remora's micro-VM: one KVM VM with memfd-backed RAM (dirty-logged), one
 * vCPU running a static ELF guest at CPL3, hypercalls by port I/O, pause and
 * resume from any thread, dirty-page harvest, and state save/restore.
 *
 * Every function returns 0 or a negative errno and never exits; on failure
 * vm_error() holds one line saying what went wrong. A VM moves through
 * created -> running <-> paused -> stopped; the guest stopping by itself
 * (exit, abort, crash, bad hypercall) is reported by vm_wait().
 */
#ifndef REMORA_VMM_VM_H
#define REMORA_VMM_VM_H

#include <stddef.h>
#include <stdint.h>

#define VM_PAGE_SIZE 4096u
#define VM_MEM_MIN   (4ull << 20)
#define VM_MEM_MAX   (4ull << 30)
#define VM_MEM_ALIGN (2ull << 20)
#define VM_ERR_MAX   256

struct vm;

/* Receives console bytes from the vCPU thread, in guest order. */
typedef void (*vm_console_fn)(void *opaque, const uint8_t *buf, size_t len);

struct vm_config {
	uint64_t mem_size; /* VM_MEM_MIN..VM_MEM_MAX, VM_MEM_ALIGN multiple */
	int dirty_log;	   /* register RAM with KVM_MEM_LOG_DIRTY_PAGES */
	int hugetlb;	   /* RAM in 2 MiB hugetlb pages (ram.h) */
	/* dirty_log: the most pages kept writable between harvests because
	 * the guest keeps writing them (vm_harvest_dirty()); 0: none */
	uint32_t hot_max;
	vm_console_fn console; /* NULL: console output is dropped */
	void *console_opaque;
	/* Called once on the vCPU thread when the guest stops by itself
	 * (vm_wait() then returns at once). NULL: not needed. */
	void (*on_stop)(void *opaque);
	void *stop_opaque;
};

enum vm_stop {
	VM_RUNNING = 0, /* not stopped (yet) */
	VM_EXITED,	/* guest called exit(code) */
	VM_ABORTED,	/* guest called abort(message) */
	VM_CRASHED,	/* fault, triple fault or unexpected exit */
	VM_FAILED,	/* bad hypercall argument or a VMM/KVM error */
};

struct vm_status {
	enum vm_stop how;
	int code;	      /* exit code (VM_EXITED) */
	uint64_t rip, rsp;    /* where the guest was (VM_CRASHED) */
	uint32_t exit_reason; /* KVM exit reason (VM_CRASHED) */
	char msg[VM_ERR_MAX]; /* one line: abort message or what failed */
};

/* Creates a VM with zeroed RAM and no guest. */
int vm_create(struct vm **out, const struct vm_config *cfg, char *err,
	      size_t errlen);
/*
 * Creates a VM whose RAM is mem_fd, a memfd of exactly cfg->mem_size bytes
 * holding a whole guest (a backup's replica): it is mapped, not copied, and
 * the VM keeps its own descriptor (a dup). Load the vCPU state with
 * vm_state_load() before vm_start(). Promotion does this in milliseconds,
 * whatever the memory size.
 */
int vm_create_from_memfd(struct vm **out, const struct vm_config *cfg,
			 int mem_fd, char *err, size_t errlen);
void vm_destroy(struct vm *vm);

/* Why the last call failed (one line, no newline). */
const char *vm_error(const struct vm *vm);

/*
 * Loads a static ELF64 x86-64 guest image, writes boot info (memory layout,
 * the argument string) and sets the vCPU to enter it. Before vm_start().
 */
int vm_load_elf(struct vm *vm, const uint8_t *image, size_t len,
		const char *cmdline);

/*
 * Starts the vCPU thread (from the loaded or restored state), or lets a
 * thread started by vm_start_parked() run the guest.
 */
int vm_start(struct vm *vm);

/*
 * Makes the vCPU thread ahead, parked as if paused before the guest's first
 * instruction: the state can be loaded meanwhile (vm_state_load()), and
 * vm_start() runs it without creating a thread (a promotion prepared in
 * advance). vm_pause() then vm_resume() also run it.
 */
int vm_start_parked(struct vm *vm);

/*
 * Stops the vCPU at the next instruction boundary and returns once it is out
 * of KVM_RUN with every pending I/O completed, so that its state can be
 * read. Returns -ESRCH if the guest has stopped by itself (see vm_wait).
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);

/*
 * Waits until the guest stops by itself, or timeout_ms passes (-1: forever;
 * returns -ETIMEDOUT then). Fills *st either way.
 */
int vm_wait(struct vm *vm, int timeout_ms, struct vm_status *st);

/* Guest RAM as the VMM sees it, and its memfd (for a zero-copy hand-over). */
uint8_t *vm_mem(const struct vm *vm);
uint64_t vm_mem_size(const struct vm *vm);
int vm_mem_fd(const struct vm *vm);

/* Bytes of a dirty bitmap: one bit per page, in 64-bit words. */
size_t vm_bitmap_bytes(const struct vm *vm);

/*
 * While paused: stores in bitmap every page written since the previous
 * harvest, by the guest (KVM's dirty log) or by the VMM itself (hypercall
 * results, boot info), and starts a new interval. A failed harvest loses no
 * dirty bit: the next one reports them. Returns the number of dirty pages.
 */
long vm_harvest_dirty(struct vm *vm, uint64_t *bitmap);

/*
 * Hot pages. Every harvest write-protects the pages it reports, so the
 * guest's next write to each one is a fault: ~20 us where KVM is
 * software-assisted (PVM), against ~0.3 us to copy the page. With
 * cfg->hot_max > 0 a page written again within VM_HOT_WINDOW harvests of
 * its last write becomes hot: it is left writable, and so reported dirty
 * (and copied) at every harvest, until VM_HOT_LIFE harvests later it is
 * protected again; still written, it becomes hot again at the next. At
 * most hot_max pages are hot at once. Correct whatever the guest does: a
 * page KVM does not protect is one it reports.
 */
#define VM_HOT_WINDOW 8u
#define VM_HOT_LIFE   64u

struct vm_hot_stats {
	uint64_t reported; /* dirty reports of hot pages (all harvests) */
	uint64_t made;	   /* pages made hot */
	uint64_t cooled;   /* hot pages protected again */
	uint32_t now;	   /* hot at the last harvest */
};

void vm_hot_stats(const struct vm *vm, struct vm_hot_stats *out);

/*
 * While the guest runs: how many pages the next harvest would report so
 * far (KVM's log read without clearing it, hot pages included, and the
 * VMM's own writes). Changes nothing; tens of microseconds for a GiB.
 * Loop-thread use: one caller at a time. Without dirty logging, 0.
 */
long vm_dirty_peek(struct vm *vm);

/* Guest monotonic clock (virtual: continues across save/restore). */
uint64_t vm_guest_monotonic_ns(const struct vm *vm);

/* Asks a guest that supports it for a self-check (boot info check_seq). */
void vm_request_check(struct vm *vm);

/*
 * While paused (or before start): the vCPU and device state as one
 * versioned blob (format in common/vmm/state.c). vm_state_save() returns its
 * length in *len; buf must hold VM_STATE_MAX bytes.
 */
#define VM_STATE_MAX (64u << 10)
int vm_state_save(struct vm *vm, uint8_t *buf, size_t *len);
int vm_state_load(struct vm *vm, const uint8_t *buf, size_t len);

#endif
