/*
 * The backup's side of the replication conversation, one connection at a
 * time: checks that every message comes in the order docs/wire.md gives,
 * feeds the replica, and says what to answer. Anything out of order,
 * malformed or failing its checksum discards the epoch in progress and ends
 * the connection (the primary then resyncs); the replica stays at its last
 * good epoch. So does an epoch that passes a bound on what the backup holds
 * (docs/wire.md, "What the backup holds"): the console bound is the
 * replica's, the bound on frames per epoch is here. No libuv: the daemon
 * (main.c) and the protocol tests drive it.
 */
#ifndef REMORA_BACKUP_RECEIVER_H
#define REMORA_BACKUP_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "replica.h"
#include "wire.h"

enum rx_state {
	RX_HELLO, /* our Hello is out; waiting for the primary's */
	RX_IDLE,  /* between epochs */
	RX_EPOCH, /* inside an epoch */
};

struct receiver {
	struct replica *r;
	uint64_t mem_size;
	const char *cluster; /* expected workload id */
	const char *primary; /* expected primary node name */
	enum rx_state st;
	uint64_t last; /* last epoch committed on this connection */
	/* Frames of the epoch in progress, EpochBegin included; at most 2 per
	 * guest page + 3 (receiver.c: epoch_frames_max()). */
	uint64_t frames;
	int synced;    /* a checkpoint committed on this connection */
	uint64_t term; /* the primary's, on this connection */

	/* Across connections: the highest term heard of and its primary. A
	 * primary with a lower term has been replaced and is refused. */
	uint64_t known_term;
	char known_primary[WIRE_NAME_MAX + 1];
	/* Console stream offset the primary says it has released. */
	uint64_t released;
};

enum rx_verdict {
	RX_OK,	  /* nothing to send */
	RX_ACK,	  /* send Ack(epoch) */
	RX_CLOSE, /* end the connection (why), keep trying */
	RX_FATAL, /* the primary can never be served: exit (why) */
};

struct rx_result {
	enum rx_verdict verdict;
	uint64_t epoch; /* RX_ACK */
	int synced_now; /* this Ack made the replica consistent (first
			    checkpoint of the connection) */
	int refuse;	/* RX_CLOSE: first send Refuse(known_term, why) */
	char why[512];	/* RX_CLOSE / RX_FATAL: one line */
};

/*
 * A new connection to node primary (which must answer as a primary): our
 * Hello has been sent.
 */
void receiver_reset(struct receiver *rx);

void receiver_on_msg(struct receiver *rx, const struct wire_msg *m,
		     struct rx_result *out);

/* The connection ended: whatever epoch was open is discarded. */
void receiver_lost(struct receiver *rx);
/*
 * A release report that came another way than the link (the arbiter's
 * copy, read when this node won the lease): the primary of term released
 * its console stream up to released. Counts only for the primary of the
 * highest term known and only if it is further than the link's last
 * report. Returns 1 when it moved the released offset on.
 */
int receiver_released(struct receiver *rx, uint64_t term, uint64_t released);

#endif
