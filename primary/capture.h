/*
 * The part of an epoch that runs while the guest is stopped (docs/design.md
 * §4, "The pause path"): pause, harvest the dirty log, copy the dirty pages and the
 * vCPU state aside, close the epoch's console output, resume. Everything
 * else (encoding, sending) happens after the guest runs again.
 *
 * A pre-copy round of the initial sync pauses only to harvest; its pages are
 * read later from live memory (they are sent again if written meanwhile).
 */
#ifndef REMORA_PRIMARY_CAPTURE_H
#define REMORA_PRIMARY_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "copier.h"
#include "outbuf.h"
#include "staged.h"
#include "vm.h"

/*
 * Captures checkpoint epoch into s (see above). bitmap and carry:
 * vm_bitmap_bytes() each; carry starts zeroed and keeps the dirty bits of a
 * capture that failed after its harvest, for the next one. Returns 0; or a
 * negative errno with the guest resumed (if it was running) and nothing
 * lost: dirty bits stay in carry, console bytes in the open epoch.
 * stay_paused: leave the guest stopped afterwards (the last epoch). The
 * pages are copied by cp (copier.h).
 */
int capture_checkpoint(struct vm *vm, struct outbuf *ob, struct copier *cp,
		       uint64_t *bitmap, uint64_t *carry, uint64_t epoch,
		       int stay_paused, struct staged *s);

/*
 * Pre-copy: pauses only to harvest into bitmap (with carry, as above), and
 * resumes unless stay_paused (a guest that was stopped stays stopped).
 * Returns the number of dirty pages or a negative errno.
 */
long capture_harvest(struct vm *vm, uint64_t *bitmap, uint64_t *carry,
		     int stay_paused);

/* Lists the set bits of bitmap (npages bits) into pfns; returns how many. */
size_t capture_list(const uint64_t *bitmap, uint64_t npages, uint64_t *pfns);

/*
 * Lists the pages of guest memory that hold data (lseek SEEK_DATA on the
 * memfd); the others are holes, zero on both sides, and need no sending.
 * Reading them would also allocate them.
 */
size_t capture_list_data(int fd, uint64_t npages, uint64_t *pfns);

#endif
