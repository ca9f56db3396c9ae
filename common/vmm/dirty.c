/*
 * Dirty-page harvest: KVM's dirty log for what the guest wrote, merged with
 * the VMM's own bitmap for what the VMM wrote into guest RAM (KVM does not
 * see those writes).
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only reads the
 * log; KVM_CLEAR_DIRTY_LOG then re-protects exactly the pages we took. So a
 * harvest is a transaction: if any step fails, neither KVM's bits nor ours
 * have been cleared, and the next harvest reports them again.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm_impl.h"

long vm_harvest_dirty(struct vm *vm, uint64_t *bitmap)
{
	size_t words = vm_bitmap_bytes(vm) / 8, i;
	struct kvm_dirty_log log;
	struct kvm_clear_dirty_log clr;
	long n = 0;

	if (vm->started && !vm->paused && vm->status.how == VM_RUNNING)
		return vm_fail(vm, -EBUSY, "dirty harvest: VM is running");
	if (vm->dirty_log) {
		memset(&log, 0, sizeof(log));
		log.slot = 0;
		log.dirty_bitmap = vm->kvm_dirty;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return vm_fail(vm, -errno, "KVM_GET_DIRTY_LOG: %s",
				       strerror(errno));
		memset(&clr, 0, sizeof(clr));
		clr.slot = 0;
		clr.first_page = 0;
		clr.num_pages = (uint32_t)vm->npages;
		clr.dirty_bitmap = vm->kvm_dirty;
		if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
			return vm_fail(vm, -errno, "KVM_CLEAR_DIRTY_LOG: %s",
				       strerror(errno));
	} else {
		memset(vm->kvm_dirty, 0, words * 8);
	}
	for (i = 0; i < words; i++) {
		uint64_t w = vm->kvm_dirty[i];

		/* Most words are clean: skip the locked exchange for them. */
		if (__atomic_load_n(&vm->vmm_dirty[i], __ATOMIC_RELAXED))
			w |= __atomic_exchange_n(&vm->vmm_dirty[i], 0,
						 __ATOMIC_RELAXED);

		bitmap[i] = w;
		n += __builtin_popcountll(w);
	}
	return n;
}
