/*
 * Output commit for the console: bytes the guest writes are held, grouped by
 * the epoch that produced them, and written to the sink only when the backup
 * has acknowledged that epoch (docs/design.md §1, promise 2).
 *
 * The vCPU thread appends; the loop thread closes epochs (while the guest is
 * paused, so an epoch's bytes are exactly those written before its pause)
 * and releases them. A mutex orders the two.
 */
#ifndef REMORA_PRIMARY_OUTBUF_H
#define REMORA_PRIMARY_OUTBUF_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf_seg {
	uint64_t epoch;
	uint64_t end; /* stream offset just past the epoch's last byte */
};

struct outbuf {
	pthread_mutex_t lock;
	uint8_t *data; /* held bytes: stream offsets base.. */
	size_t len, cap;
	uint64_t base; /* stream offset of data[0] (= bytes released) */
	struct outbuf_seg *segs; /* closed, unreleased epochs, oldest first */
	size_t nsegs, segcap;
	int sink;	 /* fd the released bytes go to */
	int sink_failed; /* a write failed: logged once */
	/* unprotected: appended bytes go out at once while now_ns() is
	 * below it (0: never) */
	uint64_t through_until;
};

int outbuf_init(struct outbuf *o, int sink_fd);

/*
 * Opens a console sink for appending ("-": a dup of stdout; a FIFO only
 * with a reader, see paths_open_sink()); fd, or -1 with errno set.
 */
int outbuf_open_sink(const char *path);
void outbuf_destroy(struct outbuf *o);

/* vCPU thread: the guest wrote these bytes. */
void outbuf_append(struct outbuf *o, const uint8_t *buf, size_t len);

/*
 * Closes epoch (while the guest is stopped): every byte appended so far and
 * not in an earlier closed epoch belongs to it; *offset and *len say where
 * they are in the stream. Returns 0 or -ENOMEM (nothing changes then).
 */
int outbuf_close_epoch(struct outbuf *o, uint64_t epoch, uint64_t *offset,
		       size_t *len);

/*
 * A malloc()ed copy of held bytes (an epoch's, for the backup), taken after
 * the guest runs again: held bytes stay put until released. *data is NULL
 * when len is 0. Returns 0, -ENOMEM, or -ERANGE if they were released.
 */
int outbuf_copy(struct outbuf *o, uint64_t offset, size_t len, uint8_t **data);

/* Writes every closed epoch <= acked to the sink. Returns bytes released. */
size_t outbuf_release(struct outbuf *o, uint64_t acked);

/*
 * The epochs closed so far will never be acknowledged (the backup is gone):
 * their bytes go back to the open epoch, to be released with the first
 * epoch a new backup acknowledges.
 */
void outbuf_reopen(struct outbuf *o);

/* Unprotected: writes every held byte to the sink now. Returns bytes. */
size_t outbuf_flush(struct outbuf *o);

/*
 * Unprotected until until_ns (now_ns clock; UINT64_MAX: for good, 0: no
 * longer): nothing need wait for an Ack, so what is held goes out now and
 * every append goes straight to the sink from the thread that appends (a
 * promoted node's first output is not held until a tick). Past until_ns
 * (an arbiter's lease not renewed in time) appends are held again, as
 * they are from the next one on after 0. Returns the held bytes written.
 */
size_t outbuf_pass_through(struct outbuf *o, uint64_t until_ns);

/* Replaced by another primary: held bytes are never released. */
void outbuf_discard(struct outbuf *o);

/*
 * Before any output: the stream offset of the guest's next console byte (a
 * promoted backup's guest continues the stream where the replica ends).
 */
void outbuf_set_offset(struct outbuf *o, uint64_t offset);

/* Bytes held (closed or open) and the stream offset released so far. */
size_t outbuf_held(struct outbuf *o);
uint64_t outbuf_released(struct outbuf *o);

#endif
