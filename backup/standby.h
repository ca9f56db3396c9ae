/*
 * The backup's state machine without I/O (docs/design.md, "Backup state
 * machine"): following the primary, the failure detector, deposing,
 * fencing, the promotion decision and the delayed Acks of
 * --inject-ack-delay. Events come in as calls (standby_on_*), with the
 * loop's time in milliseconds where it matters: the core never reads a
 * clock, opens a socket, runs a command or exits. What the backup must do
 * goes out as actions on a queue that the shell (shell.c) drains and
 * carries out with libuv, conn.c, command.c and promote.c. The receiver
 * and the replica are the shell's: the core reads them (terms, the
 * primary's report, the replica's epoch) and is told what the receiver
 * concluded. tests/unit/test_standby.c drives every state with every event.
 *
 * States (one transition function checks the state each change expects and
 * the table below; anything else is a bug, which stops the process through
 * standby.bug: an HA pair is safer with a crashed backup than a confused
 * one):
 *
 *   SEEKING      dialling the other nodes in turn; no primary has accepted
 *                us yet, so there is no silence to watch (the start)
 *   CONNECTING   the primary we followed was lost, or a promotion failed:
 *                dialling again, and its silence still counts
 *   SYNCING      a primary accepted us: its initial sync runs
 *   REPLICATING  the replica follows the primary epoch by epoch
 *   DEPOSING     declared failed while it still talks: asked to step down,
 *                waiting at most heartbeat_timeout; nothing is applied or
 *                acked, only its last report (released output) counts
 *   FENCING      declared failed: with an arbiter, the lease is asked
 *                for until it is won (the old primary's lapsed: it
 *                releases nothing any more); then fence_command runs, or
 *                waits to run again after a failure; dialling goes on, and
 *                a primary that answers calls the failover off
 *   PROMOTING    the replica is becoming the running guest (the shell's
 *                PROMOTE action, which reports back at once)
 *   PRIMARY      promoted: the primary's code runs; SIGTERM and SIGINT are
 *                handed to it
 *   STOPPED      done: every handle closes and the loop ends
 *
 *   from \ to    CONNECT SYNCING REPLIC DEPOSING FENCING PROMOTING PRIMARY
 *   SEEKING         -     hello     -       -        -        -        -
 *   CONNECTING      -     hello     -       -     failed   failed      -
 *   SYNCING       lost      -    synced  failed   failed   failed      -
 *   REPLICATING   lost      -       -    failed   failed   failed      -
 *   DEPOSING        -       -       -       -      down     down       -
 *   FENCING         -     hello     -       -        -     fenced      -
 *   PROMOTING    no vm      -       -       -        -        -     started
 *
 *   Every state but PRIMARY and STOPPED goes to STOPPED on SIGTERM/SIGINT
 *   or a fatal refusal (the configurations disagree).
 *
 *   hello   the receiver accepted the primary's Hello
 *   synced  the first checkpoint of the connection committed
 *   lost    the connection to the followed primary ended
 *   failed  declared failed: silence longer than heartbeat_timeout, a lost
 *           connection with on_connection_loss = promote, or a failed
 *           health check; to DEPOSING if it still talks (a frame within
 *           heartbeat_timeout), else FENCING with a fence_command, else
 *           PROMOTING
 *   down    the deposed primary closed the connection, or did not within
 *           heartbeat_timeout
 *   fenced  the lease was won (arbiter) and fence_command exited 0 (if
 *           there is one)
 *   no vm   the promotion failed: the replica is untouched, retried no
 *           sooner than heartbeat_timeout later
 *
 * A decision is taken only while the primary is watched (CONNECTING,
 * SYNCING, REPLICATING), at most once per heartbeat_timeout (hold_off_ms),
 * and only if the replica can take over (replica_can_take_over);
 * otherwise it is "held off", and the silence timer decides again every
 * heartbeat_timeout while the silence lasts.
 *
 * The connection has its own small machine (enum standby_link):
 * NONE -> DIALLING -> HELLO (connected, our Hello out) -> FOLLOWING (the
 * primary accepted us), and NONE again when the shell reports it closed
 * (standby_on_closed: every connection ends with it, whoever closed it).
 * Once the core has asked for the close, `closing` is set: no frame may
 * come any more, and the core does not ask twice. HELLO lasts at most
 * heartbeat_timeout (SB_T_HANDSHAKE): a peer that accepts and then says
 * nothing, or trickles its Hello, is closed and the next candidate dialled,
 * so it cannot hold the backup away from the real primary.
 */
#ifndef REMORA_BACKUP_STANDBY_H
#define REMORA_BACKUP_STANDBY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "receiver.h"
#include "wire.h"

enum standby_state {
	SB_SEEKING,	/* no primary followed yet: dialling */
	SB_CONNECTING,	/* lost the primary: dialling, watching */
	SB_SYNCING,	/* followed: the initial sync runs */
	SB_REPLICATING, /* followed: the replica is consistent */
	SB_DEPOSING,	/* declared failed, asked to step down */
	SB_FENCING,	/* declared failed, fence_command runs */
	SB_PROMOTING,	/* the replica becomes the guest */
	SB_PRIMARY,	/* promoted: the primary's code runs */
	SB_STOPPED,	/* done */
};
#define SB_NSTATES (SB_STOPPED + 1)

enum standby_link {
	SB_LINK_NONE,	   /* no connection */
	SB_LINK_DIALLING,  /* the shell is connecting to cands[cand] */
	SB_LINK_HELLO,	   /* connected, our Hello sent, theirs not in */
	SB_LINK_FOLLOWING, /* the primary accepted us: epochs flow */
};

/* The shell's timers; each is one-shot. */
enum standby_timer {
	SB_T_RETRY,   /* dial the next candidate */
	SB_T_SILENCE, /* the silence deadline (standby_on_silence) */
	SB_T_ACK,     /* the next delayed Ack is due */
	SB_T_DEPOSE,  /* the deposed primary had its time to step down */
	SB_T_FENCE,   /* run fence_command (or ask for the lease) again */
	/* the handshake deadline: connected, our Hello out, theirs due */
	SB_T_HANDSHAKE,
};
#define SB_NTIMERS (SB_T_HANDSHAKE + 1)

enum standby_act {
	/* from, to, epoch, term, text (why): the log line "from -> to at
	 * epoch N: why" and the "state" event */
	SB_A_STATE,
	SB_A_LOG,      /* level, text; file, line: where the core said it */
	SB_A_DECISION, /* the "decision" event (its fields below) */
	/* the failure is declared (or fenced) now: the promotion's time
	 * counts from here */
	SB_A_MARK,
	SB_A_DIAL,	/* connect to cands[cand] */
	SB_A_HELLO,	/* connected: reset the receiver, send our Hello */
	SB_A_ACK,	/* send Ack(epoch) with term */
	SB_A_HEARTBEAT, /* send Heartbeat(term, last epoch = epoch) */
	/* the receiver refused the peer: send Refuse(term, name, text),
	 * then finish the connection */
	SB_A_REFUSE,
	/* ask the primary to step down: Refuse(term, name = us, text); if
	 * it cannot be queued, say so with standby_on_step_down_unsent() */
	SB_A_STEP_DOWN,
	/* cands[cand] gave no Hello within ms of connecting: the
	 * "handshake_timeout" event (the close follows) */
	SB_A_HANDSHAKE_TIMEOUT,
	SB_A_CLOSE,  /* close the connection at once (why: text) */
	SB_A_ARM,    /* start timer, to fire once in ms */
	SB_A_DISARM, /* stop timer */
	/* ask the arbiter for the lease: term 0, the term after the
	 * replica's (acquire_next); term T, T itself, a term this node won
	 * and gave back without promoting (acquire(T)); report the result
	 * with standby_on_lease() */
	SB_A_ACQUIRE,
	SB_A_REVOKE,	   /* give the lease won back (not promoting) */
	SB_A_RUN_FENCE,	   /* run fence_command; report its end */
	SB_A_CANCEL_FENCE, /* kill it (its end is still reported) */
	SB_A_RUN_HEALTH,   /* run health_check_command; report its end */
	SB_A_CANCEL_HEALTH,
	/* promote now, as primary of term, the old primary having released
	 * output up to released; report the result at once */
	SB_A_PROMOTE,
	/* write --snapshot; flag: only if the replica moved on since the
	 * last one written */
	SB_A_SNAPSHOT,
	SB_A_FORWARD, /* hand signal signum to the promoted primary */
	SB_A_STOP,    /* close every handle: the loop ends */
};

#define SB_TEXT_MAX 768

struct standby_action {
	enum standby_act type;
	enum standby_state from, to; /* STATE */
	enum log_level level;	     /* LOG */
	const char *file;	     /* LOG */
	int line;		     /* LOG */
	enum standby_timer timer;    /* ARM, DISARM */
	uint64_t ms;		     /* ARM, HANDSHAKE_TIMEOUT */
	int cand;		     /* DIAL, HELLO, HANDSHAKE_TIMEOUT */
	int flag;		     /* SNAPSHOT */
	int signum;		     /* FORWARD */
	/* STATE, DECISION, ACK, HEARTBEAT, REFUSE, STEP_DOWN, PROMOTE */
	uint64_t epoch, term;
	uint64_t released; /* PROMOTE */
	/* DECISION: what the detector saw (cause: silence,
	 * connection_lost, health_check or stepped_down) and what it does */
	const char *cause;
	const char *action; /* deposing, fencing, promoting or held_off */
	int64_t quiet_ms;   /* since the last frame; -1: none ever */
	uint64_t timeout_ms;
	/* DECISION: the primary; REFUSE, STEP_DOWN: the primary named */
	char name[WIRE_NAME_MAX + 1];
	char reason[256]; /* DECISION: why it was held off */
	/* STATE: why; LOG; DECISION: the evidence; REFUSE, STEP_DOWN: the
	 * reason; CLOSE: why */
	char text[SB_TEXT_MAX];
};

/* What the arbiter said to SB_A_ACQUIRE. */
enum standby_lease {
	SB_LEASE_WON,	/* ours, in term */
	SB_LEASE_BUSY,	/* holder holds it, in term: it may still release */
	SB_LEASE_ERROR, /* no answer (why) */
};

/* How an operator command (fence, health check) ended. */
enum standby_outcome {
	SB_PASSED,  /* exit 0 */
	SB_FAILED,  /* any other end (what: command_describe()) */
	SB_NOT_RUN, /* it could not be started at all (what: strerror) */
};

struct standby_opts {
	const struct config *cfg; /* must outlive the core */
	const struct config_node *self;
	const struct receiver *rx; /* the shell's; read only */
	uint64_t ack_delay_ms;	   /* --inject-ack-delay; 0: Ack at once */
	/* --verbose: queue LOG_DEBUG lines (one per epoch applied), which
	 * are otherwise not even formatted */
	int debug;
};

/* A delayed Ack. */
struct standby_ack {
	uint64_t epoch, due_ms;
};

struct standby {
	const struct config *cfg;
	const struct config_node *self;
	const struct receiver *rx;
	uint64_t timeout_ms; /* heartbeat_timeout */
	/* between dials: heartbeat_interval, within 50 ms..1 s */
	uint64_t retry_ms;
	uint64_t ack_delay_ms; /* 0: Ack at once */
	int debug;	       /* LOG_DEBUG lines are queued */
	/*
	 * A broken invariant: a transition the table forbids, or an event
	 * that contradicts what the core knows (a frame without a
	 * connection, a promotion result while not promoting). Defaults to
	 * invariant_broken(), which logs and abort()s; must not return
	 * (tests longjmp out of theirs).
	 */
	void (*bug)(const char *file, int line, const char *what);

	enum standby_state state;
	/* The connection's own machine: a dial goes on in FENCING, a Hello
	 * is awaited in SEEKING or CONNECTING; the states do not say. */
	enum standby_link link;
	int closing; /* SB_A_CLOSE (or REFUSE) queued for the connection */
	/* the process's, once STOPPED: 1 after a fatal refusal */
	int exit_code;

	/* The nodes that may be primary, the configured primary first;
	 * cand is the one dialled last (or followed). */
	const struct config_node *cands[CONFIG_NODES_MAX];
	int ncands, cand;

	/* The failure detector (loop milliseconds). The hold-off is a
	 * deadline, data: it decides nothing but whether evidence counts
	 * yet. */
	uint64_t last_rx_ms;  /* last frame from a primary; 0: none yet */
	uint64_t hold_off_ms; /* no new decision before this time */
	/* SB_T_SILENCE is running (moved lazily: once per
	 * heartbeat_timeout, not per frame) */
	int silence_armed;
	const char *cause;  /* of the last decision */
	char evidence[512]; /* of the decision being carried out */
	uint64_t detect_ms; /* last frame until the decision */

	/* Commands out: one of each at a time, until their end is
	 * reported (a cancelled one still reports). Data, not states: a
	 * fence called off may still be dying in SYNCING. */
	int fence_running, health_running;

	/* The arbiter (arbiter = etcd): an SB_A_ACQUIRE is out; the lease
	 * won, in lease_term (0: not won). Data: they decide only whether
	 * FENCING may go on to fence_command and PROMOTING. */
	int lease_asking;
	uint64_t lease_term;
	int lease_logged; /* "still holds the lease" said, this failover */
	/* A term this node won and gave back without promoting in it (the
	 * promotion failed, or the failover was called off): the term has
	 * moved on to it, so the next failover asks for it again, as is,
	 * instead of the one after the replica's (which no longer exists).
	 * Valid while it is the replica's term + 1. */
	uint64_t own_term;

	/* Log lines said once, until something changes: data, they change
	 * nothing but the log. */
	int waiting_logged;   /* "no primary answers yet" this round */
	int refused_logged;   /* "...; told it so" since the last Hello */
	int handshake_logged; /* a handshake timed out since the last Hello */

	struct standby_ack *acks; /* delayed, oldest first */
	size_t nacks, ack_cap;
	uint64_t applied; /* epochs applied on the connections so far */

	/* actions: a ring [head, tail) */
	struct standby_action *q;
	unsigned head, tail;
};

/* 0, -EINVAL (no other node to follow) or -ENOMEM. Starts SEEKING. */
int standby_init(struct standby *s, const struct standby_opts *o);
void standby_destroy(struct standby *s);

/* The next action to carry out, or NULL when there is none. The pointer
 * is valid until the next call; carrying it out may call standby_on_*(),
 * which queue more. */
const struct standby_action *standby_next(struct standby *s);

const char *standby_state_name(enum standby_state st);
/* 1 if the table above has from -> to (for the tests). */
int standby_may(enum standby_state from, enum standby_state to);
/* The node dialled last, or followed. */
const struct config_node *standby_primary(const struct standby *s);

/* --- events -------------------------------------------------------------*/

/* SB_T_RETRY fired (and at start): dial the next candidate. */
void standby_on_retry(struct standby *s);
/* The dial succeeded; the connection reads. */
void standby_on_connected(struct standby *s);
/* A frame came at now (any type). Returns 1 if the receiver must see it;
 * 0 while deposing, where only Heartbeats count. */
int standby_on_frame(struct standby *s, uint64_t now, enum wire_type type);
/* The receiver accepted the primary's Hello (RX_HELLO -> RX_IDLE). */
void standby_on_hello(struct standby *s);
/* What the receiver concluded about the frame it was just fed. */
void standby_on_received(struct standby *s, uint64_t now,
			 const struct rx_result *res);
/* The connection ended (why: one line), whoever closed it. */
void standby_on_closed(struct standby *s, uint64_t now, const char *why);
/* The step-down Refuse of SB_A_STEP_DOWN could not be queued. */
void standby_on_step_down_unsent(struct standby *s, uint64_t now);

/* SB_T_SILENCE fired. */
void standby_on_silence(struct standby *s, uint64_t now);
/* SB_T_ACK fired. */
void standby_on_ack_timer(struct standby *s, uint64_t now);
/* SB_T_DEPOSE fired. */
void standby_on_depose_timeout(struct standby *s);
/* SB_T_HANDSHAKE fired: no Hello accepted within heartbeat_timeout of
 * connecting. */
void standby_on_handshake_timeout(struct standby *s);
/* SB_T_FENCE fired. */
void standby_on_fence_retry(struct standby *s);
/* The heartbeat interval (the shell checked the connection's liveness). */
void standby_on_heartbeat(struct standby *s);
/* The health-check interval. */
void standby_on_health_tick(struct standby *s);

/* A command the core asked for ended (what: one line; elapsed: run time). */
void standby_on_health_result(struct standby *s, uint64_t now,
			      enum standby_outcome o, const char *what);
void standby_on_fence_result(struct standby *s, enum standby_outcome o,
			     uint64_t elapsed_ms, const char *what);

/* SB_A_ACQUIRE's result: won (term), busy (holder holds it in term) or
 * no answer (why: one line). */
void standby_on_lease(struct standby *s, enum standby_lease r, uint64_t term,
		      const char *holder, const char *why);

/* SB_A_PROMOTE's result: the guest runs (summary: the log line's why),
 * or nothing runs (err: one line). */
void standby_on_promoted(struct standby *s, const char *summary);
void standby_on_promote_failed(struct standby *s, uint64_t now,
			       const char *err);

/* SIGTERM, SIGINT or SIGUSR1 (name: strsignal()). */
void standby_on_signal(struct standby *s, int signum, const char *name);

#endif
