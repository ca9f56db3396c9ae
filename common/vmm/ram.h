/*
 * Guest-sized memory: a memfd mapped shared, the guest RAM of a VM and the
 * backup's replica alike, with the backing the deployment chose ([workload]
 * memory_backing).
 *
 * Normal backing is shmem in 4 KiB pages. Each first touch is a page
 * fault, and on a virtualized host one costs 3-12 us (the hypervisor backs
 * the page too), so filling 1 GiB takes seconds. hugetlb takes 2 MiB pages
 * from the host's reserved pool (vm.nr_hugepages): 512 times fewer faults,
 * and pool pages stay backed by the hypervisor once touched, because they
 * never return to the kernel's free lists. The whole size is reserved when
 * it is mapped, so a short pool is an error at that moment, naming how
 * much to reserve, never a SIGBUS later.
 *
 * Returns errors (0 or a negative errno, one line in err); never exits.
 */
#ifndef REMORA_VMM_RAM_H
#define REMORA_VMM_RAM_H

#include <stddef.h>
#include <stdint.h>

#define RAM_HUGE_PAGE (2ull << 20)

/*
 * A zeroed memfd of size bytes (a multiple of RAM_HUGE_PAGE if hugetlb),
 * mapped read-write and shared at *mem; name labels the memfd.
 */
int ram_make(uint64_t size, int hugetlb, const char *name, int *fd,
	     uint8_t **mem, char *err, size_t errlen);

/* 2 MiB pages of the host's pool nobody holds or has reserved
 * (HugePages_Free less HugePages_Rsvd, /proc/meminfo); -1 if unknown. */
long ram_pool_unreserved(void);

/* Unmaps and closes what ram_make made (either may be unset: NULL, -1). */
void ram_drop(uint64_t size, int *fd, uint8_t **mem);

#endif
