/*
 * The primary's state machine, without I/O (docs/design.md, "Primary state
 * machine"). Events come in as calls (pcore_on_*); what the primary must do
 * about them goes out as actions on a queue that the shell (epoch.c) drains
 * and carries out with libuv, conn.c and the output buffer. The workload
 * (workload.h) is called synchronously, so a capture runs in the same
 * loop iteration as the tick that asked for it: the pause costs nothing
 * extra. Time is never read here. tests/unit/test_core.c drives it.
 *
 * States (one transition function, core_set(), checks the table below; a
 * transition it does not allow is a bug and stops the process, see
 * pcore_bug):
 *
 *   WAITING    no backup holds a replica yet (a fresh start, or lost
 *              before it was ever protected): output is held, the guest
 *              runs
 *   PAUSED     the backup was lost with on_backup_loss = pause: the guest
 *              is paused and output held until a backup attaches
 *   DEGRADED   unprotected: lost with on_backup_loss = continue after
 *              being protected, or promoted; output goes out as it comes
 *   SYNCING    a backup attached: pre-copy rounds of all memory
 *   PROTECTED  checkpoint epochs flow and are acknowledged
 *   DRAINING   stopping (signal, or the guest ended): the last epoch waits
 *              for its Ack
 *   STOPPED    done (also: replaced by a primary of a higher term)
 *
 *   from \ to   WAITING PAUSED DEGRADED SYNCING PROTECTED DRAINING STOPPED
 *   WAITING        -      -     bumped   hello      -        -      stop
 *   PAUSED         -      -       -      hello      -        -      stop
 *   DEGRADED       -      -       -      hello      -        -      stop
 *   SYNCING      lost   lost    lost       -      synced     -      stop
 *   PROTECTED    lost   lost    lost       -        -      stop     stop
 *   DRAINING       -      -       -        -        -        -      stop
 *
 * "lost" goes to PAUSED with on_backup_loss = pause; to DEGRADED with
 * continue once a checkpoint was ever acknowledged (or when promoted); to
 * WAITING otherwise (a fresh primary holds its output until its first
 * backup: if it is an old primary restarted by mistake, a promoted node's
 * announcement stops it before anything leaves). With an arbiter, "lost"
 * with continue goes to WAITING first: the held output goes out only once
 * the arbiter moved the term past the backup's replica ("bumped"), so a
 * replica that lacks it can never win the lease. "stop" is a signal, the
 * guest's end, a replacement, or a lost backup while draining.
 *
 * The backup connection has its own small machine (enum pcore_peer):
 * NONE -> HELLO (connected, its Hello not in yet) -> ATTACHED, and back to
 * NONE when it closes. Other connections (a second backup, a node
 * announcing a term) are "extra": only their Hello is read.
 *
 * The pipeline is a pool of slots (max_inflight_epochs + 1): an epoch
 * takes a slot at capture, is encoded (one at a time, in epoch order, on a
 * worker), sent as whole frames, and gives the slot back when the kernel
 * has its bytes. Epoch numbers are never reused.
 */
#ifndef REMORA_PRIMARY_CORE_H
#define REMORA_PRIMARY_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "wire.h"
#include "workload.h"

enum pcore_state {
	PC_WAITING,
	PC_PAUSED,
	PC_DEGRADED,
	PC_SYNCING,
	PC_PROTECTED,
	PC_DRAINING,
	PC_STOPPED,
};
#define PC_NSTATES (PC_STOPPED + 1)

enum pcore_peer {
	PEER_NONE,     /* no backup connection */
	PEER_HELLO,    /* connected; its Hello not in yet */
	PEER_ATTACHED, /* a backup: epochs flow on it */
};

/*
 * The arbiter's lease (docs/design.md, "Arbiter"): with arbiter = etcd a
 * primary releases output only while it surely holds the cluster's lease.
 * The shell keeps it alive and says when it lapsed (its deadline passed
 * without a renewal, or etcd said it is gone) and when it is held again.
 * Data, like suspect: it changes only what is released (and the shell
 * holds the guest stopped while it lapsed).
 */
enum pcore_lease {
	PL_NONE,   /* no arbiter: the two nodes alone decide */
	PL_HELD,   /* renewed in time: output may go out */
	PL_LAPSED, /* not surely held: nothing is released */
};

/* Where a staged epoch is in the pipeline. */
enum slot_state {
	SLOT_FREE,
	SLOT_CAPTURED, /* staged; waits for the encoder */
	SLOT_ENCODING, /* on the worker */
	SLOT_ENCODED,  /* frames ready; waits to be sent in order */
	SLOT_SENDING,  /* handed to the connection */
};

struct pcore_slot {
	enum slot_state st;
	uint64_t epoch;
	uint64_t gen; /* the connection it was made for */
};

/* What a state change does with the output held so far. */
enum pcore_output {
	PO_KEEP,    /* stays held */
	PO_RELEASE, /* released: unprotected, or the backup has it */
	PO_DISCARD, /* dropped: it belongs to epochs no backup acked */
};

enum pcore_act {
	PA_STATE,	/* from, to, out, text: log, event, apply out */
	PA_LOG,		/* level (flag), text */
	PA_HELLO,	/* conn: send our Hello: the backup is attached */
	PA_REFUSE,	/* conn, permanent (flag), text: Refuse, then end */
	PA_CLOSE,	/* conn, text: end it at once; with a level (flag),
			   the text is logged too */
	PA_FINISH,	/* conn, text: end it once queued frames are out */
	PA_HEARTBEAT,	/* send a Heartbeat to the backup */
	PA_CAPTURED,	/* slot holds a new epoch (flag: pre-copy): stats */
	PA_ENCODE,	/* slot; flag: empty the delta cache first */
	PA_SEND,	/* slot: queue its frames on the backup's connection */
	PA_RELEASE,	/* epochs (a, b] acknowledged: release their output */
	PA_REOPEN,	/* no unacknowledged epoch ever will be: their output
			   goes back to the open epoch */
	PA_DRAIN_TIMER, /* arm the drain deadline (heartbeat_timeout) */
	PA_PROGRESS,	/* a chunk of the sync was staged (a: pages of b;
			   flag: the round) */
	PA_REPLACED,	/* node (text) is primary of term a: an event */
	PA_STOP,	/* close every handle: the loop ends */
	PA_BUMP, /* ask the arbiter to move term a on (pcore_on_bumped) */
};

/* Log levels of PA_LOG (log.h's order). */
enum { PC_INFO = 1, PC_WARN = 2, PC_ERROR = 3 };

#define PCORE_TEXT_MAX 512

struct pcore_action {
	enum pcore_act type;
	uint64_t conn; /* the shell's id of a connection */
	unsigned slot;
	int flag;
	uint64_t a, b;
	enum pcore_state from, to;
	enum pcore_output out;
	char text[PCORE_TEXT_MAX];
};

/* Actions one event may queue: far more than any handler needs. */
#define PCORE_QUEUE 64u

/* How the core starts; the config must outlive it. */
struct pcore_opts {
	const struct config *cfg;
	const struct config_node *self;
	uint64_t term;	    /* 1 for a fresh start; a promotion's next */
	int promoted;	    /* start DEGRADED (a replica's guest) */
	int arbiter;	    /* arbiter = etcd: the lease is held at start */
	unsigned nslots;    /* pipeline slots: max_inflight_epochs + 1 */
	uint32_t page_size; /* of the workload's memory */
	struct workload wl; /* called synchronously */
	/* A broken invariant (a transition the table forbids, an event for
	 * a slot in the wrong state). NULL: invariant_broken(), which stops
	 * the process (an HA pair is safer with a crashed primary than a
	 * confused one: the backup takes over). Tests catch it instead. */
	void (*bug)(const char *file, int line, const char *what);
};

struct pcore {
	const struct config *cfg;
	const struct config_node *self;
	struct workload wl;
	uint32_t page_size;
	enum pcore_state state;
	uint64_t term;
	int promoted;
	int exit_code; /* the process's, once STOPPED */
	void (*bug)(const char *file, int line, const char *what);

	/* the backup's connection */
	enum pcore_peer peer;
	uint64_t peer_conn; /* valid unless PEER_NONE */
	uint64_t gen;	    /* counts attachments and losses */
	char peer_name[WIRE_NAME_MAX + 1];

	/* the pipeline */
	struct pcore_slot *slots;
	unsigned nslots;
	uint64_t next_epoch;   /* the next epoch number */
	uint64_t sent_epoch;   /* last epoch handed to the connection */
	uint64_t acked;	       /* last epoch acknowledged */
	uint64_t released;     /* last epoch whose output was released */
	uint64_t encode_epoch; /* last epoch handed to the encoder */
	uint64_t gen_first;    /* first epoch of this attachment */
	uint64_t final_epoch;  /* DRAINING: the last epoch, 0 until taken */
	/* A tick found the pipeline full: the checkpoint it asked for is
	 * owed and taken as soon as a slot frees (data, not a state: it
	 * changes when a checkpoint is taken, never which events apply). */
	int due;
	uint64_t waits;	      /* ticks that found the pipeline full */
	uint64_t checkpoints; /* checkpoint epochs acknowledged, ever */
	/*
	 * This primary's own loop stalled past heartbeat_timeout (frozen,
	 * swapped out, SIGSTOPped) while a backup protected it: the backup
	 * may have taken over meanwhile, so losing it now releases nothing
	 * until the backup is heard from again (or a new one attaches).
	 * Heard from means an Ack of an epoch sent after the stall (past
	 * suspect_epoch): what it sent before sat unread in the socket and
	 * proves nothing. Meanwhile Acks release nothing either: the
	 * backup acknowledged those epochs before taking over, and a
	 * promoted backup releases their output itself. Data: it changes
	 * only what is released.
	 */
	int suspect;
	uint64_t suspect_epoch;
	enum pcore_lease lease;
	/* Lost the backup with continue and an arbiter: waiting for the
	 * arbiter to move the term on before releasing (bump_asked: a
	 * PA_BUMP is unanswered). No backup may attach meanwhile. */
	int bumping, bump_asked;
	/* No backup ever held a replica of this term (a promotion, or a
	 * term moved on): going unprotected needs no new term. */
	int promoted_only;

	/* the initial sync */
	unsigned round;	     /* pre-copy round, from 0 */
	size_t round_n;	     /* pages listed for this round */
	size_t round_pos;    /* of which staged */
	int listed;	     /* round 0 has been listed */
	uint64_t sync_pages; /* staged by this sync */

	/* the action queue: [head, tail) */
	struct pcore_action q[PCORE_QUEUE];
	unsigned head, tail;
};

/* 0 or -ENOMEM. Starts WAITING, or DEGRADED when promoted. */
int pcore_init(struct pcore *c, const struct pcore_opts *o);
void pcore_destroy(struct pcore *c);

/* The next action to carry out, or NULL when the queue is empty. Carrying
 * one out may call pcore_on_*(), which queues more. */
const struct pcore_action *pcore_next(struct pcore *c);

/* --- events ---------------------------------------------------------------*/

/* The epoch timer. */
void pcore_on_tick(struct pcore *c);
/* The heartbeat timer (the shell checked connections' liveness first). */
void pcore_on_heartbeat_tick(struct pcore *c);
/* The shell's loop did not run for stalled_ms > heartbeat_timeout: what
 * the peer sent meanwhile is not read yet (see suspect). */
void pcore_on_stalled(struct pcore *c, uint64_t stalled_ms);

/*
 * A connection was accepted. Returns 1 if it is the backup candidate
 * (PEER_HELLO), 0 if it is extra (busy: only a Hello is read from it).
 */
int pcore_on_accept(struct pcore *c, uint64_t conn);
/* A frame from conn (decoded and checked by wire_decode()). */
void pcore_on_msg(struct pcore *c, uint64_t conn, const struct wire_msg *m);
/* conn is gone (why: one line). */
void pcore_on_closed(struct pcore *c, uint64_t conn, const char *why);
/* The connection took everything queued: sending may go on. */
void pcore_on_drain(struct pcore *c);

/* The worker finished slot (err: 0 or a negative errno). */
void pcore_on_encoded(struct pcore *c, unsigned slot, int err);
/* slot's frames left (or were cancelled with their connection). */
void pcore_on_sent(struct pcore *c, unsigned slot);

/* SIGTERM/SIGINT (name: for the log): the first drains, a second (or one
 * while draining) stops at once. */
void pcore_on_signal(struct pcore *c, const char *name);
/* The guest ended by itself; exit_code is the process's status then. */
void pcore_on_guest_stopped(struct pcore *c, int exit_code);
/* The workload finished a capture or harvest it had started
 * (-EINPROGRESS): the pipeline asks for its result. */
void pcore_on_workload_ready(struct pcore *c);

/* No Ack for the last epoch within heartbeat_timeout. */
void pcore_on_drain_timeout(struct pcore *c);
/* Node (or "" if unknown) is primary of a higher term. */
void pcore_on_replaced(struct pcore *c, const char *node, uint64_t term);
/* PA_BUMP's answer: won (the term is term now), or not (holder holds
 * it in term: a later one means this primary was replaced). */
void pcore_on_bumped(struct pcore *c, int won, uint64_t term,
		     const char *holder);

/*
 * The lease was renewed in time (or taken again in this primary's term).
 * fresh: the renewal was asked for after the last stall, which proves no
 * other node took over meanwhile (it would have needed this lease).
 */
void pcore_on_lease_held(struct pcore *c, int fresh);
/* The lease is no longer surely held (why: one line). */
void pcore_on_lease_lapsed(struct pcore *c, const char *why);

/* Stop at once (set-up failed after start): why is logged. */
void pcore_on_abort(struct pcore *c, const char *why, int exit_code);

/* --- questions the shell asks ---------------------------------------------*/

const char *pcore_state_name(enum pcore_state s);
/* Whether the table above allows from -> to (tests, docs). */
int pcore_transition_allowed(enum pcore_state from, enum pcore_state to);
/* Held output goes out as it comes (DEGRADED, nothing in doubt). */
int pcore_releases_now(const struct pcore *c);
/* The lease lapsed: the shell holds the guest stopped. */
int pcore_lease_lapsed(const struct pcore *c);
/*
 * The slot whose epoch is being encoded for the attached backup and is the
 * next to be sent (every earlier one was handed to PA_SEND): its frames
 * may go out as the encoder makes them. -1 if none.
 */
int pcore_streaming(const struct pcore *c);
/* An encode job is out (a slot is ENCODING, whatever its connection). */
int pcore_encoding(const struct pcore *c);
/* The connection id of the attached backup, or 0. */
uint64_t pcore_backup(const struct pcore *c);

#endif
