/*
 * Hypercalls: the guest writes the address of an argument block to a port
 * (abi.h). Every address and length in a block is checked against guest
 * memory before use; a bad one stops the VM with a line naming the call and
 * the bad value, never touches host memory outside the guest. Results the
 * VMM writes into guest RAM are marked dirty here, since KVM's dirty log
 * does not see them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "abi.h"
#include "vm_impl.h"

static const char *const hc_names[] = {
	"console", "monotonic", "wallclock", "poll", "random", "exit", "abort",
};

static int bad_buffer(struct vm *vm, const char *call, uint64_t addr,
		      uint64_t len)
{
	return vcpu_stopped(
		vm, VM_FAILED, 0,
		"hypercall %s: buffer 0x%llx+%llu is outside guest memory "
		"(boot page or [0x%x, 0x%llx)) or over %u bytes",
		call, (unsigned long long)addr, (unsigned long long)len,
		REMORA_LOAD_MIN, (unsigned long long)vm->mem_size,
		REMORA_HC_BUF_MAX);
}

/* A guest buffer named by a remora_hc_buf, or NULL if it is not valid. */
static uint8_t *buf_ptr(struct vm *vm, const struct remora_hc_buf *b)
{
	if (b->len > REMORA_HC_BUF_MAX)
		return NULL;
	return vm_guest_ptr(vm, b->addr, b->len);
}

/* Sleeps until the guest deadline, a pause request or a stop request. */
static void poll_sleep(struct vm *vm, uint64_t deadline_guest)
{
	uint64_t host = deadline_guest - (uint64_t)vm->clock_offset;
	struct timespec ts;

	if (deadline_guest <= vm_guest_monotonic_ns(vm))
		return;
	ts.tv_sec = (time_t)(host / 1000000000ull);
	ts.tv_nsec = (long)(host % 1000000000ull);
	pthread_mutex_lock(&vm->lock);
	while (!vm->pause_req && !vm->stop_req && vm_host_monotonic_ns() < host)
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) ==
		    ETIMEDOUT)
			break;
	pthread_mutex_unlock(&vm->lock);
}

/* The message of an abort, made printable and single-line. */
static void copy_message(char *dst, size_t cap, const uint8_t *src, size_t len)
{
	size_t i;

	if (len > cap - 1)
		len = cap - 1;
	for (i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = '\0';
}

int hypercall_handle(struct vm *vm, uint16_t port, uint32_t arg)
{
	const char *name;
	size_t size;
	uint8_t *blk, *p;

	if (port < REMORA_HC_CONSOLE || port >= REMORA_HC_END)
		return vcpu_stopped(
			vm, VM_FAILED, 0,
			"guest wrote to port 0x%x, which is no hypercall "
			"(0x%x..0x%x)",
			port, REMORA_HC_CONSOLE, REMORA_HC_END - 1);
	name = hc_names[port - REMORA_HC_CONSOLE];

	switch (port) {
	case REMORA_HC_MONOTONIC:
	case REMORA_HC_WALLCLOCK:
		size = sizeof(struct remora_hc_time);
		break;
	case REMORA_HC_POLL:
		size = sizeof(struct remora_hc_poll);
		break;
	case REMORA_HC_EXIT:
		size = sizeof(struct remora_hc_exit);
		break;
	default:
		size = sizeof(struct remora_hc_buf);
		break;
	}
	blk = vm_guest_ptr(vm, arg, size);
	if (!blk || arg % 8)
		return vcpu_stopped(
			vm, VM_FAILED, 0,
			"hypercall %s: argument block 0x%x is unaligned or "
			"outside guest memory [0x%x, 0x%llx)",
			name, arg, REMORA_LOAD_MIN,
			(unsigned long long)vm->mem_size);

	switch (port) {
	case REMORA_HC_CONSOLE: {
		struct remora_hc_buf b;

		memcpy(&b, blk, sizeof(b));
		p = buf_ptr(vm, &b);
		if (!p)
			return bad_buffer(vm, name, b.addr, b.len);
		if (vm->console && b.len)
			vm->console(vm->console_opaque, p, b.len);
		return 0;
	}
	case REMORA_HC_MONOTONIC:
	case REMORA_HC_WALLCLOCK: {
		struct remora_hc_time t;
		struct timespec ts;

		if (port == REMORA_HC_MONOTONIC) {
			t.ns = vm_guest_monotonic_ns(vm);
		} else {
			clock_gettime(CLOCK_REALTIME, &ts);
			t.ns = (uint64_t)ts.tv_sec * 1000000000ull +
			       (uint64_t)ts.tv_nsec;
		}
		memcpy(blk, &t, sizeof(t));
		vm_mark_dirty(vm, arg, sizeof(t));
		return 0;
	}
	case REMORA_HC_POLL: {
		struct remora_hc_poll pl;

		memcpy(&pl, blk, sizeof(pl));
		poll_sleep(vm, pl.deadline_ns);
		pl.now_ns = vm_guest_monotonic_ns(vm);
		memcpy(blk, &pl, sizeof(pl));
		vm_mark_dirty(vm, arg, sizeof(pl));
		return 0;
	}
	case REMORA_HC_RANDOM: {
		struct remora_hc_buf b;
		size_t done = 0;

		memcpy(&b, blk, sizeof(b));
		p = buf_ptr(vm, &b);
		if (!p)
			return bad_buffer(vm, name, b.addr, b.len);
		while (done < b.len) {
			ssize_t n = getrandom(p + done, b.len - done, 0);

			if (n < 0 && errno != EINTR)
				return vcpu_stopped(
					vm, VM_FAILED, 0,
					"hypercall random: getrandom: %s",
					strerror(errno));
			if (n > 0)
				done += (size_t)n;
		}
		vm_mark_dirty(vm, b.addr, b.len);
		return 0;
	}
	case REMORA_HC_EXIT: {
		struct remora_hc_exit e;

		memcpy(&e, blk, sizeof(e));
		if (e.code > 255)
			return vcpu_stopped(
				vm, VM_FAILED, 0,
				"hypercall exit: code %llu is over 255",
				(unsigned long long)e.code);
		return vcpu_stopped(vm, VM_EXITED, (int)e.code,
				    "guest exited with code %llu",
				    (unsigned long long)e.code);
	}
	case REMORA_HC_ABORT: {
		struct remora_hc_buf b;
		char msg[160];

		memcpy(&b, blk, sizeof(b));
		p = buf_ptr(vm, &b);
		if (!p)
			return bad_buffer(vm, name, b.addr, b.len);
		copy_message(msg, sizeof(msg), p, b.len);
		return vcpu_stopped(vm, VM_ABORTED, 0, "guest aborted: %s",
				    msg);
	}
	}
	return vcpu_stopped(vm, VM_FAILED, 0, "hypercall port 0x%x unhandled",
			    port);
}
