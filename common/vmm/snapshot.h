/*
 * Snapshot files: a paused VM's state and memory, and a VM restored from
 * them. The format is described at the top of snapshot.c and in
 * docs/snapshot.md; snapshot_parse_header() is its pure, fuzzed parser.
 */
#ifndef REMORA_VMM_SNAPSHOT_H
#define REMORA_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

#define SNAPSHOT_HEADER_SIZE 4096u

struct snapshot_header {
	uint64_t mem_size;
	uint64_t state_off, state_len;
	uint64_t mem_off;
	uint64_t state_hash; /* XXH3-64 of the state blob */
};

/*
 * Checks a header block read from a file of file_size bytes. Returns 0, or
 * -EBADMSG / -EPROTO with one line in err.
 */
int snapshot_parse_header(const uint8_t *buf, size_t len, uint64_t file_size,
			  struct snapshot_header *h, char *err, size_t errlen);

/*
 * Writes a snapshot of memory and a state blob that did not come from a live
 * VM (the backup's replica). Written under PATH.tmp and renamed. Returns 0, or
 * a negative errno with one line in err.
 */
int snapshot_write(const char *path, const uint8_t *mem, uint64_t mem_size,
		   const uint8_t *state, size_t state_len, char *err,
		   size_t errlen);

/* Writes a paused (or not yet started) VM to path. Progress goes nowhere:
 * it is quick, one write per run of non-zero pages. */
int vm_snapshot_save(struct vm *vm, const char *path);

/*
 * Creates a VM from a snapshot file: memory (zero pages stay holes, so only
 * data is read), vCPU state, virtual clock. cfg supplies everything but the
 * memory size. The VM is not started. *split_ns, if not NULL, receives the
 * time spent reading memory and the time spent setting the VM up.
 */
int vm_snapshot_restore(const char *path, const struct vm_config *cfg,
			struct vm **out, uint64_t split_ns[2], char *err,
			size_t errlen);

#endif
