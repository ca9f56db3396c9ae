/*
 * Replication epochs as a primary sends them, built without a VM: for the
 * backup's protocol tests (tests/unit/test_receiver.c) and for fake_primary
 * (tests/e2e), which plays the primary against a real remora-backup on
 * machines without KVM.
 *
 * An epoch is built from a list of (pfn, new content, the backup's current
 * copy) into whole frames, the way primary/encoder.c lays them out:
 * EpochBegin, PageBatch*, then for a checkpoint CpuState and
 * DeviceState("console")+ (one empty frame when it has no console bytes),
 * and EpochCommit with the page count and the XXH3
 * checksum of docs/wire.md. The vCPU state is a minimal blob that
 * common/vmm/state.c accepts (or one with a chosen fault). Test code: errors
 * are returned, never fatal.
 */
#ifndef REMORA_FAKE_EPOCHS_H
#define REMORA_FAKE_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Bytes fake_state_blob() may write; its blobs are about 1 KiB. */
#define FAKE_STATE_MAX 4096u

/* A blob state.c accepts, or one it must refuse for one reason. */
enum fake_state_fault {
	FAKE_STATE_OK,
	FAKE_STATE_CR3,	     /* page-table root the VMM never sets */
	FAKE_STATE_MAGIC,    /* "RMVX" instead of "RMVS" */
	FAKE_STATE_LEN,	     /* header length 8 bytes over the blob's */
	FAKE_STATE_NO_CLOCK, /* the virtual clock section is missing */
};

/*
 * Writes a vCPU state blob (regs, sregs, FPU, two MSRs, the clock) that
 * differs for every seed into b (FAKE_STATE_MAX bytes, all of which are
 * written: the tail is zero). Returns its length.
 */
size_t fake_state_blob(uint8_t *b, uint64_t seed, enum fake_state_fault fault);

/* A growable byte buffer; zero-initialised is empty. */
struct fake_buf {
	uint8_t *p;
	size_t len, cap;
};

/* Returns 0 or -ENOMEM (b unchanged). */
int fake_buf_append(struct fake_buf *b, const void *p, size_t n);

/* Appends msg as one wire frame (wire_encode()); 0 or -errno. */
int fake_buf_put_msg(struct fake_buf *b, enum wire_type type,
		     const ProtobufCMessage *msg);
void fake_buf_free(struct fake_buf *b);

/* One page an epoch carries. */
struct fake_page {
	uint64_t pfn;
	const uint8_t *data; /* page_size bytes: the page once applied */
	const uint8_t *base; /* the backup's copy (delta base), or NULL */
};

struct fake_epoch_spec {
	uint64_t epoch; /* not 0 */
	uint64_t term;
	int precopy; /* no vCPU state, no console */
	size_t page_size;
	/*
	 * Every page listed is carried, in this order (pfns strictly
	 * ascending); one equal to its base goes RAW, so leave out the pages
	 * the backup already holds.
	 */
	const struct fake_page *pages;
	size_t npages;
	size_t batch_pages; /* pages per PageBatch; 0: 256 */
	int stored;	    /* batches stored, not LZ4-compressed */
	/* Checkpoint only: the vCPU state blob (required). */
	const uint8_t *state;
	size_t state_len;
	/* Checkpoint only: console output, if console_len > 0. */
	const char *console;
	size_t console_len;
	uint64_t console_off;	 /* stream offset of console[0] */
	unsigned console_frames; /* DeviceState frames to cut it into; 0: 1 */
};

/*
 * The EpochCommit checksum into *sum: XXH3-64 over (pfn as le64, data) for
 * each page in order, then the state blob (none for a pre-copy epoch:
 * NULL, 0), then, for a checkpoint (a state), the console stream offset
 * as le64 and the console bytes. Returns 0 or -ENOMEM.
 */
int fake_epochs_checksum(const struct fake_page *pages, size_t npages,
			 size_t page_size, const uint8_t *state,
			 size_t state_len, const uint8_t *console,
			 size_t console_len, uint64_t console_off,
			 uint64_t *sum);

/*
 * Appends the epoch's frames to out and stores the commit's checksum in
 * *checksum (may be NULL). Returns 0; -EINVAL for a spec that is not a
 * valid epoch (epoch 0, bad page size, pfns not ascending, a checkpoint
 * without state, a pre-copy epoch with state or console, more console
 * frames than bytes); -ENOMEM; -E2BIG for a message over its frame's
 * maximum. On error out is as it was.
 */
int fake_epochs_build(const struct fake_epoch_spec *s, struct fake_buf *out,
		      uint64_t *checksum);

/*
 * Steps through a buffer of whole frames: the frame at *off (header
 * included) is [*off, *off + *frame_len) with type *type; *off moves past
 * it. Returns 1, 0 at the end, or -EBADMSG for a truncated frame.
 */
int fake_frames_next(const uint8_t *buf, size_t len, size_t *off, uint8_t *type,
		     size_t *frame_len);

#endif
