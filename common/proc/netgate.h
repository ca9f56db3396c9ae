/*
 * Output commit for network packets (docs/network.md): every packet the
 * service sends out of its network namespace (not to its loopback) is held
 * by the kernel until the backup has acknowledged the epoch that produced
 * it; inbound packets are never held. This kernel has no plug qdisc and no
 * nf_tables "queue" expression, so the gate is an nf_tables chain on the
 * output hook of the service's namespace whose rule jumps to the xtables
 * NFQUEUE target (nft_compat), and a netfilter-queue netlink socket, opened
 * in that namespace, that reads each queued packet's id and length and
 * answers nothing until release, when one batch verdict (NF_ACCEPT up to
 * the epoch's last id) lets the whole epoch out in order.
 *
 * Fail-closed throughout: no "bypass" on the queue and no fail-open on the
 * socket, so if remora dies (its socket closes) or the kernel's queue is
 * full, packets are dropped, never let out early; TCP retransmits.
 *
 * A gate is used from one thread (the primary's loop); it never exits and
 * never blocks: netgate_fd() is non-blocking and pollable. Functions return
 * 0 (or a count) or a negative errno; on failure netgate_why() (or err for
 * netgate_open) holds one line saying what failed.
 */
#ifndef REMORA_PROC_NETGATE_H
#define REMORA_PROC_NETGATE_H

#include <stddef.h>
#include <stdint.h>

/* The packets and bytes (IP length, before segmentation) of a group. */
struct netgate_count {
	uint64_t packets, bytes;
};

/* One closed epoch not yet released. */
struct netgate_seg {
	uint64_t epoch;
	uint32_t last_id; /* the kernel's id of its last packet */
	struct netgate_count n;
};

/* Counters since netgate_open(); all but held are cumulative. */
struct netgate_stats {
	struct netgate_count held;     /* now: closed and open epochs */
	struct netgate_count released; /* NF_ACCEPT after an Ack or flush */
	struct netgate_count dropped;  /* NF_DROP by netgate_discard() */
	/* Packet ids the kernel skipped: it could not hand those packets to
	 * the socket (receive buffer full) and dropped them. */
	uint64_t lost;
	uint64_t overruns; /* ENOBUFS reports on the socket */
	/* Batch verdicts the kernel answered with ENOENT: the packets were
	 * gone already (their interface went down). */
	uint64_t vanished;
	uint64_t ignored; /* messages not from the kernel, or not ours */
};

/* The kernel's own counters for the queue (/proc/net/netfilter/
 * nfnetlink_queue in the namespace). */
struct netgate_kstats {
	uint32_t total;	       /* packets in the queue now */
	uint32_t dropped;      /* dropped: queue full (queue_maxlen) */
	uint32_t user_dropped; /* dropped: the socket's buffer was full */
	uint32_t id_sequence;  /* the last id given */
};

struct netgate {
	int fd;	      /* the queue's netlink socket, in the namespace */
	int netns_fd; /* our dup of the namespace: to remove the rule */
	uint32_t portid;
	uint16_t queue_num;
	uint32_t queue_maxlen;
	size_t max_held;
	int have_id;
	uint32_t last_id; /* the last packet id read */
	uint64_t last_closed;
	int have_closed;
	struct netgate_count open; /* read since the last close */
	struct netgate_seg *segs;  /* closed, unreleased, oldest first */
	size_t nsegs, segcap;
	struct netgate_stats st;
	uint8_t *rbuf; /* receive slots */
	char why[160];
};

/*
 * Opens the gate on the network namespace netns_fd (which it dups; the
 * caller keeps its own): binds netfilter queue queue_num (0..65535) in
 * that namespace, then installs, in one nf_tables transaction, table "inet
 * remora_netgate_<queue_num>" (replacing one a dead remora left) whose
 * output chain queues every packet not sent to the loopback, except IPv6
 * neighbour discovery. max_held_bytes (> 0) is the byte bound of
 * netgate_full(); the kernel's queue holds at most
 * netgate_queue_maxlen(max_held_bytes) packets. Both steps run on a
 * short-lived thread that joins the namespace; the caller's namespaces do
 * not change. -EBUSY: the queue is bound by another process there.
 */
int netgate_open(struct netgate *g, int netns_fd, uint32_t queue_num,
		 size_t max_held_bytes, char *err, size_t errlen);

/*
 * The kernel's queue length for a byte bound: two packets per 64 bytes,
 * within [1024, 262144]. netgate_full() also reports full at half of it,
 * so the count bound is never what first stops a gate that keeps up.
 */
uint32_t netgate_queue_maxlen(size_t max_held_bytes);

/* The socket to poll for POLLIN (non-blocking, O_CLOEXEC). */
int netgate_fd(const struct netgate *g);

/*
 * Reads what is readable now: every queued packet is held (no verdict),
 * counted, and belongs to the open epoch. Stops at EAGAIN (the kernel
 * queue bounds one call to queue_maxlen packets). Returns the packets
 * newly held, or -errno: -EPROTO when the kernel sent something malformed
 * or ids went backwards (the gate can then no longer be trusted to batch:
 * discard or close it), or the kernel rejected a verdict.
 */
int netgate_read(struct netgate *g);

/*
 * The messages of one datagram the queue's socket received (netgate_read()
 * takes them from the kernel; public so that a fuzz target can feed any
 * bytes, tests/fuzz/fuzz_netgate.c): every packet message of this gate's
 * queue is held in the open epoch. Returns the packets held, or -EPROTO
 * with netgate_why() at the first malformed message (a bad length or
 * attribute, a packet without its header, ids that do not increase); a
 * verdict the kernel rejected is left in *verr (if it is still 0). Touches
 * nothing but g's counters: a zeroed gate with queue_num set is enough.
 */
int netgate_feed(struct netgate *g, const uint8_t *buf, int len, int *verr);

/*
 * Closes epoch (call it while the service is frozen, before its state is
 * captured): every packet read so far and not in an earlier closed epoch
 * belongs to it. Packets still in the socket go to the next epoch, which
 * only delays them. Epochs must not decrease (-EINVAL otherwise); closing
 * the last closed epoch again (its capture failed and is taken again)
 * adds what was read since to it. An epoch with no packets leaves no
 * trace. -ENOMEM: nothing changed.
 */
int netgate_close_epoch(struct netgate *g, uint64_t epoch);

/*
 * The backup acknowledged acked: one batch NF_ACCEPT lets out, in order,
 * every packet of the closed epochs <= acked; *out (may be NULL) gets what
 * was released. Returns 0, or -errno if the verdict could not be sent
 * (nothing released; call again). The kernel answers a rejected verdict
 * later, through netgate_read().
 */
int netgate_release(struct netgate *g, uint64_t acked,
		    struct netgate_count *out);

/*
 * The epochs closed so far will never be acknowledged (the backup is
 * gone): their packets go back to the open epoch, to be released with the
 * first epoch a new backup acknowledges.
 */
void netgate_reopen(struct netgate *g);

/*
 * Unprotected: reads what is readable, then lets every held packet out
 * now. An unprotected primary calls it after each read. *out as above.
 */
int netgate_flush(struct netgate *g, struct netgate_count *out);

/* Replaced by another primary: reads, then drops every held packet. */
int netgate_discard(struct netgate *g, struct netgate_count *out);

size_t netgate_held_bytes(const struct netgate *g);

/*
 * Held bytes >= max_held_bytes, or held packets >= half the kernel's queue
 * length: the caller should start the next epoch now.
 */
int netgate_full(const struct netgate *g);

void netgate_stats(const struct netgate *g, struct netgate_stats *st);

/* The kernel's counters for the queue, read inside the namespace. */
int netgate_kstats(struct netgate *g, struct netgate_kstats *ks);

/* The last failure's one line ("" if none). */
const char *netgate_why(const struct netgate *g);

/*
 * Removes the table (from then on the namespace's packets flow directly)
 * and closes the socket, which makes the kernel drop every packet still
 * held. Returns 0, or -errno if the table could not be removed (the socket
 * is closed anyway: the rule, left without a listener, drops). The gate
 * is then empty; closing it again is a no-op.
 */
int netgate_close(struct netgate *g, char *err, size_t errlen);

#endif
