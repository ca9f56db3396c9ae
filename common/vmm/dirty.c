/*
 * Dirty-page harvest: KVM's dirty log for what the guest wrote, merged with
 * the VMM's own bitmap for what the VMM wrote into guest RAM (KVM does not
 * see those writes).
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only reads the
 * log; KVM_CLEAR_DIRTY_LOG then re-protects exactly the pages we took. So a
 * harvest is a transaction: if any step fails, neither KVM's bits nor ours
 * have been cleared, and the next harvest reports them again. Hot pages
 * (vm.h) are the pages it leaves out of the clear: KVM keeps reporting
 * them, and they stay writable.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm_impl.h"

/*
 * Hot pages (vm.h): decides, for each page KVM reports in this harvest (h),
 * whether KVM_CLEAR_DIRTY_LOG protects it again (its bit in vm->clear) or
 * it stays writable, and records that. If the clear then fails, nothing was
 * protected: every page is reported again next time, and only which pages
 * count as hot is a harvest ahead, which decides speed, never correctness.
 */
static void hot_walk(struct vm *vm, uint32_t h)
{
	size_t words = vm_bitmap_bytes(vm) / 8;

	for (size_t i = 0; i < words; i++) {
		uint64_t w = vm->kvm_dirty[i], keep = 0;

		while (w) {
			unsigned b = (unsigned)__builtin_ctzll(w);
			uint64_t pfn = i * 64 + b;
			uint32_t until = vm->hot_until[pfn];

			w &= w - 1;
			if (until) {
				vm->hot.reported++;
				if (h < until) {
					keep |= 1ull << b; /* stays writable */
					continue;
				}
				/* Cools: protected again, and if the guest
				 * still writes it, hot again next time. */
				vm->hot_until[pfn] = 0;
				vm->nhot--;
				vm->hot.cooled++;
			} else if (vm->last_written[pfn] &&
				   h - vm->last_written[pfn] <= VM_HOT_WINDOW &&
				   vm->nhot < vm->hot_max) {
				keep |= 1ull << b;
				vm->hot_until[pfn] = h + VM_HOT_LIFE;
				vm->nhot++;
				vm->hot.made++;
			}
			vm->last_written[pfn] = h;
		}
		vm->clear[i] = vm->kvm_dirty[i] & ~keep;
	}
	vm->hot.now = vm->nhot;
	vm->harvests = h;
}

void vm_hot_stats(const struct vm *vm, struct vm_hot_stats *out)
{
	*out = vm->hot;
}

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
		if (vm->hot_max)
			hot_walk(vm, vm->harvests + 1);
		memset(&clr, 0, sizeof(clr));
		clr.slot = 0;
		clr.first_page = 0;
		clr.num_pages = (uint32_t)vm->npages;
		clr.dirty_bitmap = vm->hot_max ? vm->clear : vm->kvm_dirty;
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

long vm_dirty_peek(struct vm *vm)
{
	size_t words = vm_bitmap_bytes(vm) / 8;
	struct kvm_dirty_log log;
	long n = 0;

	if (!vm->dirty_log)
		return 0;
	memset(&log, 0, sizeof(log));
	log.slot = 0;
	log.dirty_bitmap = vm->peek;
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	for (size_t i = 0; i < words; i++)
		n += __builtin_popcountll(
			vm->peek[i] |
			__atomic_load_n(&vm->vmm_dirty[i], __ATOMIC_RELAXED));
	return n;
}
