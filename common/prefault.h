/*
 * Making memory resident and mapped before the moment it is written: a
 * first write to an untouched page is a page fault, and where remora runs
 * inside a PVM guest each one costs about 12 us (several for the guest
 * kernel, more for the hypervisor's shadow page table), against 0.1 us for
 * copying the page once it is mapped. A 1 GiB buffer filled on demand
 * therefore spends about 3 s in page faults; prefaulted, about 1.8 s, at a
 * moment that can afford it (start, or a worker thread).
 */
#ifndef REMORA_PREFAULT_H
#define REMORA_PREFAULT_H

#include <stddef.h>

/*
 * Makes every whole page inside [p, p + len) resident and writable without
 * a fault: MADV_POPULATE_WRITE, then one read-and-write-back of a byte per
 * page, because a PVM guest's populated page still faults once in the
 * hypervisor on first access. Contents are unchanged, but nothing may
 * write to the range meanwhile. Partial pages at either end are left alone
 * (they may belong to someone else's allocation). Returns 0, or -ENOMEM when
 * the memory cannot be had (the pages made so far stay).
 */
int prefault(void *p, size_t len);

/*
 * The same where other threads may be writing to the range meanwhile:
 * MADV_POPULATE_WRITE alone, which maps pages without changing a byte, and
 * no touches. -EINVAL on kernels before 5.14 (nothing done: the pages then
 * fault in when first written, as without), -ENOMEM as prefault().
 */
int prefault_shared(void *p, size_t len);

#endif
