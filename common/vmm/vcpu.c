/*
 * The vCPU: its set-up for 64-bit CPL3 guests (CPUID, control registers,
 * segments, XCR0, FPU), the thread that runs KVM_RUN and dispatches exits,
 * and pause/resume from other threads.
 *
 * Pausing: the requester sets pause_req and run->immediate_exit, then sends
 * SIG_KICK to the vCPU thread. KVM_RUN returns -EINTR either at once (the
 * flag was set before entry) or when the signal interrupts the guest; in
 * both cases KVM first completes any pending I/O instruction, so the state
 * read while paused is at an instruction boundary. The thread then parks on
 * the condition variable until vm_resume().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "vm_impl.h"

/* A real-time signal nothing else in the process uses: SIGUSR1 belongs to
 * the daemons (the backup writes a snapshot on it), and libuv resets the
 * disposition of any signal whose watcher closes. */
#define SIG_KICK SIGRTMIN

#define CR0_PE	       (1ull << 0)
#define CR0_MP	       (1ull << 1)
#define CR0_ET	       (1ull << 4)
#define CR0_NE	       (1ull << 5)
#define CR0_WP	       (1ull << 16)
#define CR0_PG	       (1ull << 31)
#define CR4_TSD	       (1ull << 2)
#define CR4_PAE	       (1ull << 5)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_OSXSAVE    (1ull << 18)
#define EFER_LME       (1ull << 8)
#define EFER_LMA       (1ull << 10)
#define RFLAGS_IOPL3   (3ull << 12)
#define RFLAGS_FIXED   (1ull << 1)

#define XCR0_X87 1ull
#define XCR0_SSE 2ull
#define XCR0_AVX 4ull

static void kick_handler(int sig)
{
	(void)sig; /* only here to interrupt KVM_RUN */
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void install_kick(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must fail */
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_KICK, &sa, NULL);
}

static int set_cpuid(struct vm *vm, uint32_t *xsave_feature_mask)
{
	struct kvm_cpuid2 *c = NULL;
	int n = 64, i, ret;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return vm_fail(vm, -ENOMEM, "out of memory for CPUID");
		c->nent = (uint32_t)n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		if (errno != E2BIG || n >= 4096) {
			ret = vm_fail(vm, -errno, "KVM_GET_SUPPORTED_CPUID: %s",
				      strerror(errno));
			free(c);
			return ret;
		}
		n *= 2;
	}
	*xsave_feature_mask = 0;
	for (i = 0; i < (int)c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		/* Leaf 0xd, subleaf 0: state components XCR0 may enable. */
		if (e->function == 0xd && e->index == 0)
			*xsave_feature_mask = e->eax;
		/* Leaf 1 ECX.OSXSAVE mirrors CR4.OSXSAVE, which we set. */
		if (e->function == 1 && (e->ecx & (1u << 26)))
			vm->guest_xsave = 1;
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		ret = vm_fail(vm, -errno, "KVM_SET_CPUID2: %s",
			      strerror(errno));
		free(c);
		return ret;
	}
	free(c);
	return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = sel & 3;
	s->s = 1;
	s->l = code;
	s->db = !code;
	s->g = 1;
}

/*
 * x87 and SSE defaults (all exceptions masked). Through KVM_SET_XSAVE where
 * possible: KVM_SET_FPU leaves the XSAVE header of a fresh vCPU saying "x87
 * and SSE in their initial state", so what it wrote is dropped at entry
 * (seen on PVM).
 */
static int init_fpu(struct vm *vm)
{
	struct kvm_xsave xs;
	struct kvm_fpu fpu;
	uint8_t *r = (uint8_t *)xs.region;
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;
	uint64_t bv;

	if (vm->have_xsave_ioctl) {
		if (ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &xs) < 0)
			return vm_fail(vm, -errno, "KVM_GET_XSAVE: %s",
				       strerror(errno));
		memcpy(r + 0, &fcw, 2);
		memcpy(r + 24, &mxcsr, 4);
		memcpy(&bv, r + 512, 8);
		bv |= XCR0_X87 | XCR0_SSE;
		memcpy(r + 512, &bv, 8);
		if (ioctl(vm->vcpu_fd, KVM_SET_XSAVE, &xs) < 0)
			return vm_fail(vm, -errno, "KVM_SET_XSAVE: %s",
				       strerror(errno));
		return 0;
	}
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = fcw;
	fpu.mxcsr = mxcsr;
	if (ioctl(vm->vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return vm_fail(vm, -errno, "KVM_SET_FPU: %s", strerror(errno));
	return 0;
}

int vcpu_init(struct vm *vm)
{
	uint32_t xmask = 0;
	struct kvm_sregs sr;
	int sz, ret;

	pthread_once(&kick_once, install_kick);
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return vm_fail(vm, -errno, "KVM_CREATE_VCPU: %s",
			       strerror(errno));
	sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return vm_fail(vm, -errno, "KVM_GET_VCPU_MMAP_SIZE: %s",
			       strerror(errno));
	vm->run_size = (size_t)sz;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		return vm_fail(vm, -errno, "mmap kvm_run: %s", strerror(errno));

	/* CPUID first: KVM_SET_XCRS checks XCR0 against it. */
	ret = set_cpuid(vm, &xmask);
	if (ret)
		return ret;
	vm->have_xcrs =
		ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	vm->have_xsave_ioctl =
		ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return vm_fail(vm, -errno, "KVM_GET_SREGS: %s",
			       strerror(errno));
	seg(&sr.cs, SEL_UCODE, 0xb, 1);
	seg(&sr.ds, SEL_UDATA, 0x3, 0);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.base = GPA_TSS;
	sr.tr.limit = TSS_LIMIT;
	sr.tr.selector = SEL_TSS;
	sr.tr.type = 0xb; /* busy 64-bit TSS */
	sr.tr.present = 1;
	memset(&sr.ldt, 0, sizeof(sr.ldt));
	sr.ldt.unusable = 1;
	sr.gdt.base = GPA_GDT;
	sr.gdt.limit = 7 * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0; /* no IDT: a guest fault ends as a triple fault */
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	/* TSD: rdtsc would leak host time past the virtual clock. */
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_TSD;
	if (vm->guest_xsave && vm->have_xcrs)
		sr.cr4 |= CR4_OSXSAVE;
	sr.cr3 = GPA_PML4;
	sr.efer = EFER_LME | EFER_LMA;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return vm_fail(vm, -errno, "KVM_SET_SREGS: %s",
			       strerror(errno));

	if (sr.cr4 & CR4_OSXSAVE) {
		struct kvm_xcrs x;

		memset(&x, 0, sizeof(x));
		vm->xcr0 = XCR0_X87 | XCR0_SSE;
		if (xmask & XCR0_AVX)
			vm->xcr0 |= XCR0_AVX;
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = vm->xcr0;
		if (ioctl(vm->vcpu_fd, KVM_SET_XCRS, &x) < 0)
			return vm_fail(
				vm, -errno, "KVM_SET_XCRS (XCR0 0x%llx): %s",
				(unsigned long long)vm->xcr0, strerror(errno));
	}

	return init_fpu(vm);
}

int vcpu_set_entry(struct vm *vm, uint64_t rip, uint64_t rsp, uint64_t rdi)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rsp = rsp;
	r.rdi = rdi;
	/*
	 * IOPL 3: on VMX, port I/O from CPL3 then exits to us instead of
	 * raising #GP. PVM ignores IOPL and checks the TSS I/O bitmap, which
	 * grants exactly the hypercall ports (vm.c), so both agree.
	 */
	r.rflags = RFLAGS_FIXED | RFLAGS_IOPL3;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return vm_fail(vm, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static const char *exit_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_SHUTDOWN:
		return "triple fault (shutdown)";
	case KVM_EXIT_MMIO:
		return "access outside guest memory (MMIO)";
	case KVM_EXIT_FAIL_ENTRY:
		return "VM entry failed";
	case KVM_EXIT_INTERNAL_ERROR:
		return "KVM internal error";
	case KVM_EXIT_HLT:
		return "hlt";
	case KVM_EXIT_EXCEPTION:
		return "exception";
	case KVM_EXIT_DEBUG:
		return "debug exit";
	}
	return "unexpected exit";
}

/* Ends the thread's run: records how, wakes everyone waiting. */
static void finish(struct vm *vm, const struct vm_status *st)
{
	pthread_mutex_lock(&vm->lock);
	vm->status = *st;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (vm->on_stop)
		vm->on_stop(vm->stop_opaque);
}

static void crashed(struct vm *vm, uint32_t reason)
{
	struct kvm_sregs s;
	struct vm_status st;
	struct kvm_regs r;

	memset(&st, 0, sizeof(st));
	st.how = VM_CRASHED;
	st.exit_reason = reason;
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) == 0) {
		st.rip = r.rip;
		st.rsp = r.rsp;
	}
	/* On AMD SVM, KVM resets the vCPU after a shutdown intercept: the
	 * registers read back are the reset state (real mode, rip 0xfff0),
	 * not where the guest died. Say so rather than report them. */
	if (reason == KVM_EXIT_SHUTDOWN &&
	    (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) != 0 || !(s.cr0 & 1))) {
		snprintf(st.msg, sizeof(st.msg),
			 "guest crashed: %s (exit reason %u); registers "
			 "unknown (KVM reset the vCPU)",
			 exit_name(reason), reason);
		st.rip = st.rsp = 0;
		finish(vm, &st);
		return;
	}
	if (reason == KVM_EXIT_MMIO)
		snprintf(st.msg, sizeof(st.msg),
			 "guest crashed: %s at 0x%llx, rip 0x%llx rsp 0x%llx",
			 exit_name(reason),
			 (unsigned long long)vm->run->mmio.phys_addr,
			 (unsigned long long)st.rip,
			 (unsigned long long)st.rsp);
	else
		snprintf(st.msg, sizeof(st.msg),
			 "guest crashed: %s (exit reason %u), rip 0x%llx "
			 "rsp 0x%llx",
			 exit_name(reason), reason, (unsigned long long)st.rip,
			 (unsigned long long)st.rsp);
	finish(vm, &st);
}

int vcpu_stopped(struct vm *vm, enum vm_stop how, int code, const char *fmt,
		 ...)
{
	struct vm_status st;
	va_list ap;

	memset(&st, 0, sizeof(st));
	st.how = how;
	st.code = code;
	va_start(ap, fmt);
	vsnprintf(st.msg, sizeof(st.msg), fmt, ap);
	va_end(ap);
	finish(vm, &st);
	return 1;
}

/* After KVM_RUN returned -EINTR: park while a pause is requested. */
static int park(struct vm *vm)
{
	int stop;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_req && !vm->stop_req) {
		vm->paused = 1;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_req && !vm->stop_req)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->paused = 0;
	}
	stop = vm->stop_req;
	pthread_mutex_unlock(&vm->lock);
	return stop;
}

static void *vcpu_thread(void *arg)
{
	struct vm *vm = arg;
	struct kvm_run *run = vm->run;

	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (park(vm))
					break;
				continue;
			}
			vcpu_stopped(vm, VM_FAILED, 0, "KVM_RUN: %s",
				     strerror(errno));
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			uint32_t arg;

			if (run->io.direction != KVM_EXIT_IO_OUT ||
			    run->io.size != 4 || run->io.count != 1) {
				vcpu_stopped(vm, VM_FAILED, 0,
					     "guest did %s of %u bytes x%u on "
					     "port 0x%x; hypercalls are one "
					     "32-bit out",
					     run->io.direction ? "out" : "in",
					     run->io.size, run->io.count,
					     run->io.port);
				break;
			}
			memcpy(&arg, (uint8_t *)run + run->io.data_offset, 4);
			if (hypercall_handle(vm, run->io.port, arg))
				break;
			continue;
		}
		crashed(vm, run->exit_reason);
		break;
	}
	return NULL;
}

/*
 * pause_req of a thread made by vm_start_parked() that has not run the
 * guest yet: vm_start() lets it go. Any other request (vm_pause(),
 * vm_resume()) makes it an ordinary pause.
 */
#define PAUSE_BEFORE_START 2

static int make_thread(struct vm *vm)
{
	int ret;

	vm->status.how = VM_RUNNING;
	ret = pthread_create(&vm->thread, NULL, vcpu_thread, vm);
	if (ret)
		return vm_fail(vm, -ret, "vCPU thread: %s", strerror(ret));
	vm->started = 1;
	return 0;
}

int vm_start(struct vm *vm)
{
	if (!vm->started)
		return make_thread(vm);
	if (vm->pause_req != PAUSE_BEFORE_START)
		return vm_fail(vm, -EBUSY, "vCPU already started");
	return vm_resume(vm);
}

/*
 * The thread enters KVM_RUN once with immediate_exit set, so that it
 * returns at once, before the guest runs: the first KVM_RUN of a thread
 * (KVM's per-vCPU set-up, its pid change) is paid here too. It then parks
 * like a paused vCPU.
 */
int vm_start_parked(struct vm *vm)
{
	int ret;

	if (vm->started)
		return vm_fail(vm, -EBUSY, "vCPU already started");
	vm->pause_req = PAUSE_BEFORE_START;
	__atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	ret = make_thread(vm);
	if (ret) {
		vm->pause_req = 0;
		__atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		return ret;
	}
	pthread_mutex_lock(&vm->lock);
	while (!vm->paused && vm->status.how == VM_RUNNING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (!vm->paused)
		ret = vm_fail(vm, -EIO, "vCPU thread: %s", vm->status.msg);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* Makes the vCPU thread leave KVM_RUN (or a poll) soon. Under lock. */
static void kick(struct vm *vm)
{
	__atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->cond);
	pthread_kill(vm->thread, SIG_KICK);
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	if (!vm->started)
		return 0; /* nothing runs: the state is already stable */
	pthread_mutex_lock(&vm->lock);
	if (vm->status.how == VM_RUNNING) {
		vm->pause_req = 1;
		kick(vm);
		while (!vm->paused && vm->status.how == VM_RUNNING)
			pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (!vm->paused) {
		vm->pause_req = 0;
		ret = vm_fail(vm, -ESRCH, "guest stopped: %s", vm->status.msg);
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	if (!vm->started)
		return vm_fail(vm, -EINVAL, "vCPU not started");
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	vm->pause_req = 0;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm_wait(struct vm *vm, int timeout_ms, struct vm_status *st)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&vm->lock);
	while (vm->status.how == VM_RUNNING && ret == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&vm->cond, &vm->lock);
		else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) ==
			 ETIMEDOUT)
			ret = -ETIMEDOUT;
	}
	*st = vm->status;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void vcpu_stop_thread(struct vm *vm)
{
	if (!vm->started)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->stop_req = 1;
	if (vm->status.how == VM_RUNNING)
		kick(vm);
	pthread_mutex_unlock(&vm->lock);
	pthread_join(vm->thread, NULL);
	vm->started = 0;
}
