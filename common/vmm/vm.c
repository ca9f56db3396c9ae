/*
 * VM lifetime and memory: the KVM VM, its memfd-backed RAM registered as one
 * dirty-logged slot, the guest's fixed low layout (page tables, GDT, TSS,
 * boot info) and loading an ELF guest into it. The vCPU lives in vcpu.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "elf_image.h"
#include "ram.h"
#include "vm_impl.h"

#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_U  0x4ull
#define PTE_PS 0x80ull

int vm_fail(struct vm *vm, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	return ret;
}

const char *vm_error(const struct vm *vm)
{
	return vm->err;
}

uint64_t vm_host_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vm_guest_monotonic_ns(const struct vm *vm)
{
	return vm_host_monotonic_ns() + (uint64_t)vm->clock_offset;
}

void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t p, last;

	if (len == 0)
		return;
	last = (gpa + len - 1) / VM_PAGE_SIZE;
	if (last >= vm->npages)
		last = vm->npages - 1;
	for (p = gpa / VM_PAGE_SIZE; p <= last;) {
		/* Whole words at once for big ranges (a restore: all). */
		if (p % 64 == 0 && last - p >= 63) {
			__atomic_store_n(&vm->vmm_dirty[p / 64], ~0ull,
					 __ATOMIC_RELAXED);
			p += 64;
			continue;
		}
		__atomic_fetch_or(&vm->vmm_dirty[p / 64], 1ull << (p % 64),
				  __ATOMIC_RELAXED);
		p++;
	}
}

uint8_t *vm_guest_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	/* The boot page (its argument string), or the guest's own memory. */
	if (gpa >= REMORA_BOOT_GPA && gpa < REMORA_BOOT_GPA + VM_PAGE_SIZE &&
	    len <= REMORA_BOOT_GPA + VM_PAGE_SIZE - gpa)
		return vm->mem + gpa;
	if (gpa < REMORA_LOAD_MIN || gpa > vm->mem_size ||
	    len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

uint8_t *vm_mem(const struct vm *vm)
{
	return vm->mem;
}

uint64_t vm_mem_size(const struct vm *vm)
{
	return vm->mem_size;
}

int vm_mem_fd(const struct vm *vm)
{
	return vm->mem_fd;
}

size_t vm_bitmap_bytes(const struct vm *vm)
{
	return (size_t)((vm->npages + 63) / 64 * 8);
}

void vm_request_check(struct vm *vm)
{
	struct remora_boot *b = (void *)(vm->mem + REMORA_BOOT_GPA);

	__atomic_fetch_add(&b->check_seq, 1, __ATOMIC_RELEASE);
	vm_mark_dirty(vm, REMORA_BOOT_GPA, sizeof(*b));
}

/*
 * Identity map of guest RAM for CPL3: 2 MiB user pages, except the first
 * 2 MiB, mapped with 4 KiB pages so that page 0 (NULL) and the page tables
 * stay unmapped and the GDT/TSS page is supervisor-only.
 */
static void build_page_tables(struct vm *vm)
{
	uint64_t *pml4 = (void *)(vm->mem + GPA_PML4);
	uint64_t *pdpt = (void *)(vm->mem + GPA_PDPT);
	uint64_t *pd = (void *)(vm->mem + GPA_PD);
	uint64_t *pt = (void *)(vm->mem + GPA_PT0);
	uint64_t i, n2m = vm->mem_size >> 21;

	pml4[0] = GPA_PDPT | PTE_P | PTE_W | PTE_U;
	for (i = 0; i < 4; i++)
		pdpt[i] = (GPA_PD + i * VM_PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
	pd[0] = GPA_PT0 | PTE_P | PTE_W | PTE_U;
	for (i = 1; i < n2m; i++)
		pd[i] = (i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
	pt[REMORA_BOOT_GPA >> 12] = REMORA_BOOT_GPA | PTE_P | PTE_W | PTE_U;
	pt[GPA_GDT >> 12] = GPA_GDT | PTE_P | PTE_W;
	for (i = REMORA_LOAD_MIN >> 12; i < 512; i++)
		pt[i] = (i << 12) | PTE_P | PTE_W | PTE_U;
}

/*
 * Flat 64-bit segments for both rings and a 64-bit TSS (VMX wants one). The
 * TSS's I/O permission bitmap allows the eight hypercall ports and nothing
 * else: PVM consults it for CPL3 port I/O whatever IOPL says.
 */
static void build_gdt(struct vm *vm)
{
	uint64_t *gdt = (void *)(vm->mem + GPA_GDT);
	uint8_t *tss = vm->mem + GPA_TSS;
	uint64_t base = GPA_TSS, limit = TSS_LIMIT;
	uint16_t iomap = 104;

	memset(tss, 0, 104);
	memcpy(tss + 102, &iomap, 2);
	memset(tss + 104, 0xff, TSS_IOMAP_BYTES + 1);
	tss[104 + REMORA_HC_CONSOLE / 8] = 0;	  /* ports 0x500..0x507 */
	tss[104 + REMORA_HC_CONSOLE / 8 + 1] = 0; /* ports 0x508..0x50f */

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull; /* kernel code, 64-bit */
	gdt[2] = 0x00cf93000000ffffull; /* kernel data */
	gdt[3] = 0x00affb000000ffffull; /* user code, 64-bit, DPL 3 */
	gdt[4] = 0x00cff3000000ffffull; /* user data, DPL 3 */
	gdt[5] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		 0x8bull << 40 | /* present, busy 64-bit TSS */
		 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[6] = base >> 32;
}

/*
 * adopt_fd < 0: fresh zeroed RAM, with the page tables and GDT built in it.
 * Otherwise RAM is that memfd (a replica: it holds them already).
 */
static int create(struct vm **out, const struct vm_config *cfg, int adopt_fd,
		  char *err, size_t errlen)
{
	struct kvm_userspace_memory_region region;
	struct kvm_enable_cap cap;
	pthread_condattr_t ca;
	struct vm *vm;
	int ret;

	*out = NULL;
	if (cfg->mem_size < VM_MEM_MIN || cfg->mem_size > VM_MEM_MAX ||
	    cfg->mem_size % VM_MEM_ALIGN) {
		snprintf(err, errlen,
			 "guest memory %llu bytes: must be a multiple of 2 MiB "
			 "between 4 MiB and 4 GiB",
			 (unsigned long long)cfg->mem_size);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->mem_fd = -1;
	vm->mem = MAP_FAILED;
	vm->run = MAP_FAILED;
	vm->mem_size = cfg->mem_size;
	vm->npages = cfg->mem_size / VM_PAGE_SIZE;
	vm->dirty_log = cfg->dirty_log;
	vm->console = cfg->console;
	vm->console_opaque = cfg->console_opaque;
	vm->on_stop = cfg->on_stop;
	vm->stop_opaque = cfg->stop_opaque;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = vm_fail(vm, -errno, "open /dev/kvm: %s", strerror(errno));
		goto err;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		ret = vm_fail(vm, -ENOTSUP, "KVM API version is not %d",
			      KVM_API_VERSION);
		goto err;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <=
	    0) {
		ret = vm_fail(vm, -ENOTSUP,
			      "KVM lacks KVM_CAP_IMMEDIATE_EXIT (pause)");
		goto err;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = vm_fail(vm, -errno, "KVM_CREATE_VM: %s", strerror(errno));
		goto err;
	}
	if (vm->dirty_log) {
		/* Harvest and re-protect as two steps (dirty.c). */
		memset(&cap, 0, sizeof(cap));
		cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			ret = vm_fail(
				vm, -errno,
				"enable KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: "
				"%s",
				strerror(errno));
			goto err;
		}
	}

	if (adopt_fd >= 0) {
		struct stat st;

		vm->mem_fd = fcntl(adopt_fd, F_DUPFD_CLOEXEC, 0);
		if (vm->mem_fd < 0 || fstat(vm->mem_fd, &st)) {
			ret = vm_fail(vm, -errno, "guest RAM memfd: %s",
				      strerror(errno));
			goto err;
		}
		if ((uint64_t)st.st_size != vm->mem_size) {
			ret = vm_fail(vm, -EINVAL,
				      "guest RAM memfd holds %llu bytes, not "
				      "%llu",
				      (unsigned long long)st.st_size,
				      (unsigned long long)vm->mem_size);
			goto err;
		}
		vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, vm->mem_fd, 0);
		if (vm->mem == MAP_FAILED) {
			ret = vm_fail(vm, -errno, "mmap guest RAM: %s",
				      strerror(errno));
			goto err;
		}
	} else {
		char why[VM_ERR_MAX];
		uint8_t *mem = NULL;

		ret = ram_make(vm->mem_size, cfg->hugetlb, "remora-guest-ram",
			       &vm->mem_fd, &mem, why, sizeof(why));
		if (ret) {
			vm_fail(vm, ret, "guest RAM: %s", why);
			goto err;
		}
		vm->mem = mem;
	}
	vm->vmm_dirty = calloc(1, vm_bitmap_bytes(vm));
	vm->kvm_dirty = calloc(1, vm_bitmap_bytes(vm));
	vm->peek = calloc(1, vm_bitmap_bytes(vm));
	if (vm->dirty_log && cfg->hot_max) {
		vm->hot_max = cfg->hot_max;
		vm->last_written = calloc(vm->npages, sizeof(uint32_t));
		vm->hot_until = calloc(vm->npages, sizeof(uint32_t));
		vm->clear = calloc(1, vm_bitmap_bytes(vm));
	}
	if (!vm->vmm_dirty || !vm->kvm_dirty || !vm->peek ||
	    (vm->hot_max &&
	     (!vm->last_written || !vm->hot_until || !vm->clear))) {
		ret = vm_fail(vm, -ENOMEM, "out of memory for dirty bitmaps");
		goto err;
	}

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.flags = vm->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	region.guest_phys_addr = 0;
	region.memory_size = vm->mem_size;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		ret = vm_fail(vm, -errno, "KVM_SET_USER_MEMORY_REGION: %s",
			      strerror(errno));
		goto err;
	}

	if (adopt_fd < 0) {
		build_page_tables(vm);
		build_gdt(vm);
		vm_mark_dirty(vm, GPA_PML4, GPA_GDT + VM_PAGE_SIZE - GPA_PML4);
	}

	ret = vcpu_init(vm);
	if (ret)
		goto err;
	*out = vm;
	return 0;

err:
	snprintf(err, errlen, "%s", vm->err);
	vm_destroy(vm);
	return ret;
}

int vm_create(struct vm **out, const struct vm_config *cfg, char *err,
	      size_t errlen)
{
	return create(out, cfg, -1, err, errlen);
}

int vm_create_from_memfd(struct vm **out, const struct vm_config *cfg,
			 int mem_fd, char *err, size_t errlen)
{
	if (mem_fd < 0) {
		snprintf(err, errlen, "no guest RAM memfd");
		return -EBADF;
	}
	return create(out, cfg, mem_fd, err, errlen);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vcpu_stop_thread(vm);
	if (vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem != MAP_FAILED)
		munmap(vm->mem, vm->mem_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	free(vm->vmm_dirty);
	free(vm->kvm_dirty);
	free(vm->peek);
	free(vm->last_written);
	free(vm->hot_until);
	free(vm->clear);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm_load_elf(struct vm *vm, const uint8_t *image, size_t len,
		const char *cmdline)
{
	uint64_t stack_top = vm->mem_size;
	uint64_t stack_bottom = stack_top - REMORA_STACK_SIZE;
	struct remora_boot *boot = (void *)(vm->mem + REMORA_BOOT_GPA);
	size_t cl = cmdline ? strlen(cmdline) : 0;
	char *cmd = (char *)(boot + 1);
	struct elf_image img;
	char why[VM_ERR_MAX];
	unsigned i;

	if (vm->started)
		return vm_fail(vm, -EBUSY, "guest already started");
	if (elf_image_parse(image, len, REMORA_LOAD_MIN, stack_bottom, &img,
			    why, sizeof(why)))
		return vm_fail(vm, -ENOEXEC, "guest image: %s", why);
	if (cl + 1 > REMORA_CMDLINE_MAX)
		return vm_fail(vm, -E2BIG,
			       "guest arguments: %zu bytes, at most %u", cl,
			       REMORA_CMDLINE_MAX - 1);

	for (i = 0; i < img.nseg; i++) {
		const struct elf_segment *s = &img.seg[i];

		memcpy(vm->mem + s->addr, image + s->offset, s->filesz);
		memset(vm->mem + s->addr + s->filesz, 0, s->memsz - s->filesz);
		vm_mark_dirty(vm, s->addr, s->memsz);
	}

	memset(boot, 0, sizeof(*boot));
	boot->magic = REMORA_BOOT_MAGIC;
	boot->abi_version = REMORA_ABI_VERSION;
	boot->page_size = VM_PAGE_SIZE;
	boot->mem_size = vm->mem_size;
	boot->heap_start =
		(img.end + VM_PAGE_SIZE - 1) & ~(VM_PAGE_SIZE - 1ull);
	boot->heap_end = stack_bottom;
	boot->cmdline = REMORA_BOOT_GPA + sizeof(*boot);
	boot->cmdline_len = cl;
	memcpy(cmd, cmdline ? cmdline : "", cl + 1);
	vm_mark_dirty(vm, REMORA_BOOT_GPA, VM_PAGE_SIZE);

	/* rsp 16-byte aligned: crt0 calls into C, as the SysV ABI expects. */
	return vcpu_set_entry(vm, img.entry, stack_top, REMORA_BOOT_GPA);
}
