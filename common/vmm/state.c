/*
 * vCPU and device state as one versioned blob: what a snapshot file and an
 * epoch carry besides memory.
 *
 * Format (integers little-endian, as x86 is):
 *
 *   offset size
 *        0    4  magic "RMVS"
 *        4    4  version, 1
 *        8    4  total length of the blob
 *       12    4  number of sections
 *       16       sections: id u32, length u32, data, zero padding to 8
 *
 *   id  content                                    required
 *    1  struct kvm_regs                            yes
 *    2  struct kvm_sregs                           yes
 *    3  struct kvm_xsave (KVM_CAP_XSAVE)           this or 4
 *    4  struct kvm_fpu   (otherwise)               this or 3
 *    5  struct kvm_xcrs                            if XCR0 is in use
 *    6  MSRs: u32 count, u32 0, count x {u32 index, u32 0, u64 value}
 *    7  virtual clock: u64 guest monotonic ns at the save
 *
 * The kernel structures are KVM's stable ABI. Loading checks every length,
 * refuses unknown sections, MSRs outside the list below and a code segment
 * or page-table root the VMM never sets, all before it changes anything.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "bytes.h"
#include "state.h"
#include "vm_impl.h"

#define STATE_VERSION 1
#define HDR	      16

/* MSRs a CPL3 guest can influence or KVM keeps per vCPU; FS/GS base are in
 * the segment registers. */
static const uint32_t msr_list[] = {
	0x174,	    0x175,	0x176,	    /* SYSENTER_CS/ESP/EIP */
	0x277,				    /* PAT */
	0xc0000081, 0xc0000082, 0xc0000083, /* STAR, LSTAR, CSTAR */
	0xc0000084,			    /* SYSCALL_MASK */
	0xc0000102,			    /* KERNEL_GS_BASE */
	0xc0000103,			    /* TSC_AUX */
};
#define NMSR (sizeof(msr_list) / sizeof(msr_list[0]))

/* struct kvm_msrs with room for our entries (same layout). */
struct msr_buf {
	uint32_t nmsrs, pad;
	struct kvm_msr_entry e[NMSR];
};

static size_t section(uint8_t *buf, size_t off, uint32_t id, const void *d,
		      size_t len)
{
	put_le32(buf + off, id);
	put_le32(buf + off + 4, (uint32_t)len);
	memcpy(buf + off + 8, d, len);
	memset(buf + off + 8 + len, 0, (8 - len % 8) % 8);
	return off + 8 + (len + 7) / 8 * 8;
}

int vm_state_save(struct vm *vm, uint8_t *buf, size_t *len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct msr_buf m;
	uint8_t mbuf[8 + NMSR * 16];
	uint64_t clock = vm_guest_monotonic_ns(vm);
	size_t off = HDR;
	uint32_t n = 0, i;
	int got;

	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return vm_fail(vm, -errno, "KVM_GET_REGS: %s", strerror(errno));
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return vm_fail(vm, -errno, "KVM_GET_SREGS: %s",
			       strerror(errno));
	off = section(buf, off, S_REGS, &regs, sizeof(regs)), n++;
	off = section(buf, off, S_SREGS, &sregs, sizeof(sregs)), n++;
	if (vm->have_xsave_ioctl) {
		if (ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &xsave) < 0)
			return vm_fail(vm, -errno, "KVM_GET_XSAVE: %s",
				       strerror(errno));
		off = section(buf, off, S_XSAVE, &xsave, sizeof(xsave)), n++;
	} else {
		if (ioctl(vm->vcpu_fd, KVM_GET_FPU, &fpu) < 0)
			return vm_fail(vm, -errno, "KVM_GET_FPU: %s",
				       strerror(errno));
		off = section(buf, off, S_FPU, &fpu, sizeof(fpu)), n++;
	}
	if (vm->xcr0) {
		if (ioctl(vm->vcpu_fd, KVM_GET_XCRS, &xcrs) < 0)
			return vm_fail(vm, -errno, "KVM_GET_XCRS: %s",
				       strerror(errno));
		off = section(buf, off, S_XCRS, &xcrs, sizeof(xcrs)), n++;
	}

	memset(&m, 0, sizeof(m));
	m.nmsrs = NMSR;
	for (i = 0; i < NMSR; i++)
		m.e[i].index = msr_list[i];
	got = ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m);
	if (got < 0)
		return vm_fail(vm, -errno, "KVM_GET_MSRS: %s", strerror(errno));
	/* KVM stops at the first MSR it lacks: keep those it returned. */
	put_le32(mbuf, (uint32_t)got);
	put_le32(mbuf + 4, 0);
	for (i = 0; i < (uint32_t)got; i++) {
		put_le32(mbuf + 8 + i * 16, m.e[i].index);
		put_le32(mbuf + 12 + i * 16, 0);
		memcpy(mbuf + 16 + i * 16, &m.e[i].data, 8);
	}
	off = section(buf, off, S_MSRS, mbuf, 8 + (size_t)got * 16), n++;
	off = section(buf, off, S_CLOCK, &clock, sizeof(clock)), n++;

	memcpy(buf, "RMVS", 4);
	put_le32(buf + 4, STATE_VERSION);
	put_le32(buf + 8, (uint32_t)off);
	put_le32(buf + 12, n);
	*len = off;
	return 0;
}

static int msr_allowed(uint32_t index)
{
	for (size_t i = 0; i < NMSR; i++)
		if (msr_list[i] == index)
			return 1;
	return 0;
}

static int state_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int state_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

int vm_state_parse(const uint8_t *buf, size_t len, struct vm_state_view *p,
		   char *err, size_t errlen)
{
	static const uint32_t want[S_CLOCK + 1] = {
		[S_REGS] = sizeof(struct kvm_regs),
		[S_SREGS] = sizeof(struct kvm_sregs),
		[S_XSAVE] = sizeof(struct kvm_xsave),
		[S_FPU] = sizeof(struct kvm_fpu),
		[S_XCRS] = sizeof(struct kvm_xcrs),
		[S_CLOCK] = sizeof(uint64_t),
	};
	struct kvm_sregs sregs;
	size_t off = HDR;
	uint32_t n, i, id, sl;

	memset(p, 0, sizeof(*p));
	if (len < HDR || memcmp(buf, "RMVS", 4) != 0)
		return state_err(err, errlen, -EBADMSG,
				 "vCPU state: bad magic");
	if (get_le32(buf + 4) != STATE_VERSION)
		return state_err(err, errlen, -EPROTO,
				 "vCPU state: version %u, want %u",
				 get_le32(buf + 4), STATE_VERSION);
	if (get_le32(buf + 8) != len)
		return state_err(err, errlen, -EBADMSG,
				 "vCPU state: length %u, blob has %zu bytes",
				 get_le32(buf + 8), len);
	n = get_le32(buf + 12);
	for (i = 0; i < n; i++) {
		if (len - off < 8)
			return state_err(err, errlen, -EBADMSG,
					 "vCPU state: section %u truncated", i);
		id = get_le32(buf + off);
		sl = get_le32(buf + off + 4);
		if (id < S_REGS || id > S_CLOCK)
			return state_err(err, errlen, -EBADMSG,
					 "vCPU state: unknown section id %u",
					 id);
		if (p->sec[id])
			return state_err(err, errlen, -EBADMSG,
					 "vCPU state: section %u twice", id);
		if (sl > len - off - 8 ||
		    (len - off - 8) - sl < (8 - sl % 8) % 8)
			return state_err(
				err, errlen, -EBADMSG,
				"vCPU state: section %u overruns the blob", id);
		if (id == S_MSRS ? (sl < 8 || get_le32(buf + off + 8) > NMSR ||
				    sl != 8 + get_le32(buf + off + 8) * 16u)
				 : sl != want[id])
			return state_err(err, errlen, -EBADMSG,
					 "vCPU state: section %u has length %u",
					 id, sl);
		p->sec[id] = buf + off + 8;
		p->len[id] = sl;
		off += 8 + (sl + 7) / 8 * 8;
	}
	if (off != len)
		return state_err(err, errlen, -EBADMSG,
				 "vCPU state: %zu bytes after the last section",
				 len - off);
	if (!p->sec[S_REGS] || !p->sec[S_SREGS] || !p->sec[S_CLOCK] ||
	    (!p->sec[S_XSAVE] && !p->sec[S_FPU]))
		return state_err(err, errlen, -EBADMSG,
				 "vCPU state: registers, FPU or clock missing");
	if (p->sec[S_MSRS])
		for (i = 0; i < get_le32(p->sec[S_MSRS]); i++)
			if (!msr_allowed(get_le32(p->sec[S_MSRS] + 8 + i * 16)))
				return state_err(
					err, errlen, -EBADMSG,
					"vCPU state: MSR 0x%x is not one "
					"remora "
					"saves",
					get_le32(p->sec[S_MSRS] + 8 + i * 16));
	memcpy(&sregs, p->sec[S_SREGS], sizeof(sregs));
	if (sregs.cs.selector != SEL_UCODE || sregs.cr3 != GPA_PML4)
		return state_err(err, errlen, -EBADMSG,
				 "vCPU state: code segment 0x%x or CR3 0x%llx "
				 "is not the VMM's",
				 sregs.cs.selector,
				 (unsigned long long)sregs.cr3);
	return 0;
}

int vm_state_load(struct vm *vm, const uint8_t *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct vm_state_view p;
	struct msr_buf m;
	uint64_t clock;
	uint32_t i;
	int ret;

	if (vm->started && !vm->paused)
		return vm_fail(vm, -EBUSY, "vCPU state: VM is running");
	ret = vm_state_parse(buf, len, &p, vm->err, sizeof(vm->err));
	if (ret)
		return ret;
	if (p.sec[S_XSAVE] && !vm->have_xsave_ioctl)
		return vm_fail(vm, -ENOTSUP,
			       "vCPU state has XSAVE data; this host's KVM has "
			       "no XSAVE");
	memcpy(&regs, p.sec[S_REGS], sizeof(regs));
	memcpy(&sregs, p.sec[S_SREGS], sizeof(sregs));
	memcpy(&clock, p.sec[S_CLOCK], sizeof(clock));
	/* Control registers before the FPU state that depends on them. */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return vm_fail(vm, -errno, "KVM_SET_SREGS: %s",
			       strerror(errno));
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return vm_fail(vm, -errno, "KVM_SET_REGS: %s", strerror(errno));
	if (p.sec[S_XSAVE] &&
	    ioctl(vm->vcpu_fd, KVM_SET_XSAVE, p.sec[S_XSAVE]) < 0)
		return vm_fail(vm, -errno, "KVM_SET_XSAVE: %s",
			       strerror(errno));
	if (p.sec[S_FPU] && ioctl(vm->vcpu_fd, KVM_SET_FPU, p.sec[S_FPU]) < 0)
		return vm_fail(vm, -errno, "KVM_SET_FPU: %s", strerror(errno));
	if (p.sec[S_XCRS] &&
	    ioctl(vm->vcpu_fd, KVM_SET_XCRS, p.sec[S_XCRS]) < 0)
		return vm_fail(vm, -errno, "KVM_SET_XCRS: %s", strerror(errno));
	if (p.sec[S_MSRS]) {
		memset(&m, 0, sizeof(m));
		m.nmsrs = get_le32(p.sec[S_MSRS]);
		for (i = 0; i < m.nmsrs; i++) {
			m.e[i].index = get_le32(p.sec[S_MSRS] + 8 + i * 16);
			memcpy(&m.e[i].data, p.sec[S_MSRS] + 16 + i * 16, 8);
		}
		ret = ioctl(vm->vcpu_fd, KVM_SET_MSRS, &m);
		if (ret != (int)m.nmsrs)
			return vm_fail(vm, ret < 0 ? -errno : -EINVAL,
				       "KVM_SET_MSRS: set %d of %u", ret,
				       m.nmsrs);
	}
	/* The guest's clock continues from the saved value, never back. */
	vm->clock_offset = (int64_t)(clock - vm_host_monotonic_ns());
	return 0;
}
