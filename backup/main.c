/*
 * remora-backup: holds the replica of the primary's workload, and takes the
 * workload over when the primary fails.
 *
 *   remora-backup -c remora.conf --node b [--rejoin]
 *
 * Looks for the primary by dialling the other nodes (the configured primary
 * first: after a failover the primary is another node), says Hello,
 * receives epochs into the replica (receiver.c, replica.c) and acknowledges
 * each one once applied. Heartbeats go both ways.
 *
 * States (set_state() performs and logs every transition):
 *
 *   CONNECTING   looking for the primary (at start, or after losing it)
 *   SYNCING      a primary accepted us: its initial sync runs
 *   REPLICATING  the replica follows the primary epoch by epoch
 *   DEPOSING     declared failed while it still talks: asked to step down
 *   FENCING      the primary is declared failed; fence_command runs
 *   PROMOTING    the replica becomes the running guest (promote.c)
 *   PRIMARY      promoted: this process is the primary of the next term
 *   STOPPED      done; the loop ends
 *
 *   from \ to   CONNECTING SYNCING REPLICATING DEPOSING FENCING PROMOTING
 *   CONNECTING       -       hello       -          -     failed   failed
 *   SYNCING        lost        -     checkpoint  failed   failed   failed
 *   REPLICATING    lost        -         -       failed   failed   failed
 *   DEPOSING         -         -         -          -     closed   closed
 *   FENCING          -       hello       -          -        -     fenced
 *   PROMOTING    no promote    -         -          -        -        -
 *   (PROMOTING -> PRIMARY once started; any but PRIMARY -> STOPPED on
 *   SIGTERM or a fatal refusal)
 *
 * The failure detector (on_silence, on_close, the health check) declares
 * the primary failed when no frame came from it for heartbeat_timeout, when
 * the connection broke and on_connection_loss = promote, or when
 * health_check_command fails; every decision is logged with its evidence.
 * A backup promotes only from a consistent replica that holds every byte of
 * console output the primary said it released.
 *
 * Exit status: 0 after a clean stop; 1 for set-up errors and for a primary
 * that can never be served (protocol or memory-size mismatch); 2 for usage;
 * once promoted, what remora-primary would exit with (3: replaced).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "clock.h"
#include "command.h"
#include "config.h"
#include "conn.h"
#include "ctl.h"
#include "events.h"
#include "log.h"
#include "primary.h"
#include "promote.h"
#include "receiver.h"
#include "replica.h"
#include "units.h"
#include "vm.h"

#define PROG	   "remora-backup"
#define EXIT_USAGE 2
/* Acks and heartbeats only: a small bound. */
#define SEND_QUEUE_MAX (1u << 20)

struct opts {
	const char *config, *node, *snapshot, *events;
	uint64_t ack_delay_ns; /* --inject-ack-delay (tests, drills) */
	int rejoin, verbose;
};

/* A delayed Ack (--inject-ack-delay). */
struct pending_ack {
	uint64_t epoch;
	uint64_t due_ms;
};

enum backup_state {
	B_CONNECTING,
	B_SYNCING,
	B_REPLICATING,
	B_DEPOSING,
	B_FENCING,
	B_PROMOTING,
	B_PRIMARY,
	B_STOPPED,
};

static const char *const state_names[] = {
	[B_CONNECTING] = "connecting",	 [B_SYNCING] = "syncing",
	[B_REPLICATING] = "replicating", [B_DEPOSING] = "deposing",
	[B_FENCING] = "fencing",	 [B_PROMOTING] = "promoting",
	[B_PRIMARY] = "primary",	 [B_STOPPED] = "stopped",
};

#define BIT(s) (1u << (s))
static const unsigned allowed[] = {
	[B_CONNECTING] = BIT(B_SYNCING) | BIT(B_FENCING) | BIT(B_PROMOTING) |
			 BIT(B_STOPPED),
	[B_SYNCING] = BIT(B_CONNECTING) | BIT(B_REPLICATING) | BIT(B_DEPOSING) |
		      BIT(B_FENCING) | BIT(B_PROMOTING) | BIT(B_STOPPED),
	[B_REPLICATING] = BIT(B_CONNECTING) | BIT(B_DEPOSING) | BIT(B_FENCING) |
			  BIT(B_PROMOTING) | BIT(B_STOPPED),
	[B_DEPOSING] = BIT(B_FENCING) | BIT(B_PROMOTING) | BIT(B_STOPPED),
	[B_FENCING] = BIT(B_SYNCING) | BIT(B_PROMOTING) | BIT(B_STOPPED),
	[B_PROMOTING] = BIT(B_CONNECTING) | BIT(B_PRIMARY) | BIT(B_STOPPED),
	[B_PRIMARY] = 0,
	[B_STOPPED] = 0,
};

struct backup {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct config_node *self;
	const struct opts *o;
	enum backup_state state;
	struct replica r;
	struct receiver rx;

	/* the primary: dialled in turn among the other nodes */
	const struct config_node *cands[CONFIG_NODES_MAX];
	int ncands, cand;
	const struct config_node *primary; /* the one dialled or attached */
	struct conn *conn;
	int waiting_logged;

	/* the failure detector */
	uint64_t last_rx_ms;  /* last frame from the primary (loop time) */
	int followed;	      /* a primary accepted us: its silence counts */
	uint64_t hold_off_ms; /* no new decision before (after a failure) */
	int refused_logged;
	struct command *health, *fence;
	uint64_t declared_ns, detect_ms;
	const char *cause;	 /* of the last decision (events) */
	uint64_t snapshot_epoch; /* the epoch --snapshot last wrote */

	/* promotion */
	struct primary *p; /* the primary once promoted (B_PRIMARY) */
	struct promotion pm;

	uv_timer_t retry_timer, hb_timer, ack_timer, health_timer,
		failover_timer, silence_timer;
	uv_signal_t sigterm, sigint, sigusr1;
	struct ctl *ctl;
	/* the spare replica memory, prefaulted by a worker (replica.h) */
	uv_work_t spare_work;
	int spare_ret;
	uint64_t spare_start_ns;
	struct pending_ack *acks;
	size_t nacks, ack_cap;
	uint64_t epochs, acked;
	int exit_code, stopping;
};

static void set_state(struct backup *b, enum backup_state to, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static void set_state(struct backup *b, enum backup_state to, const char *fmt,
		      ...)
{
	char why[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!(allowed[b->state] & BIT(to))) {
		log_error("bug: no transition %s -> %s (%s)",
			  state_names[b->state], state_names[to], why);
		return;
	}
	log_info("%s -> %s at epoch %llu: %s", state_names[b->state],
		 state_names[to], (unsigned long long)b->r.epoch, why);
	events_emit("state", EV_S("from", state_names[b->state]),
		    EV_S("to", state_names[to]), EV_U("epoch", b->r.epoch),
		    EV_U("term", b->rx.known_term), EV_S("why", why));
	b->state = to;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -c FILE --node NAME [--rejoin] [--snapshot "
		"FILE]\n"
		"                     [--events FILE]\n"
		"\n"
		"Holds the replica of the workload run by the cluster's "
		"primary, as node\nNAME, and takes the workload over when the "
		"primary fails.\n"
		"\n"
		"  -c, --config FILE   the deployment's remora.conf\n"
		"  -n, --node NAME     this node's [node NAME] section; its "
		"role must be\n"
		"                      backup, unless --rejoin\n"
		"      --rejoin        start a node whose role in FILE is "
		"primary as a\n"
		"                      backup (it was the primary before a "
		"failover)\n"
		"      --snapshot FILE on SIGUSR1 and at a clean stop, write "
		"the replica\n"
		"                      (last applied epoch) as a snapshot "
		"that\n"
		"                      remora-primary --standalone --restore "
		"runs\n"
		"      --inject-ack-delay DURATION\n"
		"                      hold every Ack this long (tests and "
		"drills: the\n"
		"                      primary must hold output meanwhile)\n"
		"      --events FILE   append one JSON line per state change "
		"and decision\n"
		"                      to FILE (docs/design.md lists them)\n"
		"  -v, --verbose       debug logging (a line per epoch)\n"
		"  -h, --help          this text\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"snapshot", required_argument, NULL, 's'},
		{"events", required_argument, NULL, 'e'},
		{"inject-ack-delay", required_argument, NULL, 'd'},
		{"rejoin", no_argument, NULL, 'r'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "c:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->node = optarg;
			break;
		case 's':
			o->snapshot = optarg;
			break;
		case 'e':
			o->events = optarg;
			break;
		case 'd':
			if (units_parse_duration(optarg, &o->ack_delay_ns,
						 &why)) {
				fprintf(stderr,
					PROG ": --inject-ack-delay %s: %s\n",
					optarg, why);
				return EXIT_USAGE;
			}
			break;
		case 'r':
			o->rejoin = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->config || !o->node) {
		fprintf(stderr,
			PROG ": -c FILE and --node NAME are required\n");
		return EXIT_USAGE;
	}
	return 0;
}

static uint64_t timeout_ms(const struct backup *b)
{
	return b->cfg->failover.heartbeat_timeout_ns / 1000000;
}

static void write_snapshot(struct backup *b)
{
	char err[512];

	if (!b->o->snapshot)
		return;
	if (replica_write_snapshot(&b->r, b->o->snapshot, err, sizeof(err))) {
		log_error("snapshot: %s", err);
		return;
	}
	b->snapshot_epoch = b->r.epoch;
	events_emit("snapshot", EV_U("epoch", b->r.epoch),
		    EV_S("path", b->o->snapshot));
	log_info("replica at epoch %llu written to %s",
		 (unsigned long long)b->r.epoch, b->o->snapshot);
}

/* --- acknowledging epochs ------------------------------------------------- */

static void send_ack(struct backup *b, uint64_t epoch)
{
	Remora__Ack a = REMORA__ACK__INIT;
	int ret;

	a.epoch = epoch;
	a.term = b->rx.term;
	ret = conn_send_msg(b->conn, WIRE_ACK, &a.base);
	if (ret)
		conn_close(b->conn, "cannot queue an Ack");
	else
		b->acked = epoch;
}

static void on_ack_timer(uv_timer_t *t)
{
	struct backup *b = t->data;
	uint64_t now = uv_now(b->loop);
	size_t i = 0;

	while (i < b->nacks && b->acks[i].due_ms <= now && b->conn)
		send_ack(b, b->acks[i++].epoch);
	if (!b->conn)
		return; /* a failed send closed it: on_close emptied the list */
	memmove(b->acks, b->acks + i, (b->nacks - i) * sizeof(*b->acks));
	b->nacks -= i;
	if (b->nacks && b->conn)
		uv_timer_start(&b->ack_timer, on_ack_timer,
			       b->acks[0].due_ms - now, 0);
}

static void ack(struct backup *b, uint64_t epoch)
{
	uint64_t delay_ms = b->o->ack_delay_ns / 1000000;

	if (!delay_ms) {
		send_ack(b, epoch);
		return;
	}
	if (b->nacks == b->ack_cap) {
		size_t cap = b->ack_cap ? 2 * b->ack_cap : 64;
		struct pending_ack *a = realloc(b->acks, cap * sizeof(*a));

		if (!a) {
			conn_close(b->conn, "out of memory");
			return;
		}
		b->acks = a;
		b->ack_cap = cap;
	}
	b->acks[b->nacks++] = (struct pending_ack){
		.epoch = epoch, .due_ms = uv_now(b->loop) + delay_ms};
	if (b->nacks == 1)
		uv_timer_start(&b->ack_timer, on_ack_timer, delay_ms, 0);
}

/* --- failure detection, fencing, promotion -------------------------------- */

static void do_promote(struct backup *b);
static void on_silence(uv_timer_t *t);
static void run_fence(struct backup *b);
static void stop(struct backup *b);
static void schedule_retry(struct backup *b);

/* The states in which the primary is being watched. */
static int watching(const struct backup *b)
{
	return b->followed &&
	       (b->state == B_CONNECTING || b->state == B_SYNCING ||
		b->state == B_REPLICATING);
}

/*
 * The detector's decision as an event: what it saw (cause, the silence so
 * far) and what it does about it (action: deposing, fencing, promoting, or
 * held_off with the reason).
 */
static void decision_event(struct backup *b, const char *action,
			   const char *evidence, const char *reason)
{
	uint64_t now = uv_now(b->loop);

	events_emit("decision", EV_S("cause", b->cause), EV_S("action", action),
		    EV_S("primary", b->rx.known_primary),
		    EV_U("epoch", b->r.epoch), EV_U("term", b->rx.known_term),
		    EV_I("quiet_ms",
			 b->last_rx_ms ? (int64_t)(now - b->last_rx_ms) : -1),
		    EV_U("timeout_ms", timeout_ms(b)),
		    EV_S("evidence", evidence), EV_S("reason", reason));
}

/* Fences (if configured), then promotes; evidence opens the log line. */
static void take_over(struct backup *b, const char *evidence)
{
	decision_event(
		b, *b->cfg->failover.fence_command ? "fencing" : "promoting",
		evidence, "");
	if (*b->cfg->failover.fence_command) {
		set_state(b, B_FENCING,
			  "%s; last acked epoch %llu; fencing %s first",
			  evidence, (unsigned long long)b->r.epoch,
			  b->rx.known_primary);
		run_fence(b);
		return;
	}
	set_state(b, B_PROMOTING, "%s; last acked epoch %llu; promoting",
		  evidence, (unsigned long long)b->r.epoch);
	do_promote(b);
}

static void on_depose_timeout(uv_timer_t *t)
{
	struct backup *b = t->data;
	char why[128];

	if (b->state != B_DEPOSING || !b->conn)
		return;
	snprintf(why, sizeof(why), "no answer to the step-down within %llu ms",
		 (unsigned long long)timeout_ms(b));
	conn_close(b->conn, why); /* on_close goes on with the takeover */
}

/*
 * The primary failed a check but still talks: tell it that this node
 * takes over in the next term, and wait (at most heartbeat_timeout) for
 * it to stop. Its last frame says how much console output it released,
 * so promotion repeats none of it. Nothing is applied or acked meanwhile.
 */
static void depose(struct backup *b, const char *evidence)
{
	char reason[WIRE_REASON_MAX];
	Remora__Refuse f;

	snprintf(reason, sizeof(reason),
		 "node %s takes over in term %llu: %.300s", b->self->name,
		 (unsigned long long)b->rx.known_term + 1, evidence);
	wire_refuse_init(&f, b->rx.known_term + 1, b->self->name, reason, 0);
	if (conn_send_msg(b->conn, WIRE_REFUSE, &f.base)) {
		conn_close(b->conn, "primary declared failed");
		take_over(b, evidence);
		return;
	}
	decision_event(b, "deposing", evidence, "");
	set_state(b, B_DEPOSING,
		  "%s; last acked epoch %llu; asking primary %s to step down "
		  "first (waiting at most %llu ms)",
		  evidence, (unsigned long long)b->r.epoch, b->rx.known_primary,
		  (unsigned long long)timeout_ms(b));
	uv_timer_start(&b->failover_timer, on_depose_timeout, timeout_ms(b), 0);
}

/*
 * The primary is declared failed on evidence: promote (after fencing) if
 * the replica can take over without losing or repeating released output.
 */
static void declare_failed(struct backup *b, const char *cause, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

static void declare_failed(struct backup *b, const char *cause, const char *fmt,
			   ...)
{
	uint64_t now = uv_now(b->loop);
	char evidence[512], why[256];
	va_list ap;

	if (!watching(b) || now < b->hold_off_ms)
		return;
	va_start(ap, fmt);
	vsnprintf(evidence, sizeof(evidence), fmt, ap);
	va_end(ap);
	b->hold_off_ms = now + timeout_ms(b);
	b->cause = cause;
	if (promote_possible(&b->r, b->rx.released, why, sizeof(why))) {
		decision_event(b, "held_off", evidence, why);
		log_warn("%s; but %s; not promoting, still looking for a "
			 "primary",
			 evidence, why);
		return;
	}
	b->detect_ms = b->last_rx_ms ? now - b->last_rx_ms : 0;
	b->declared_ns = now_ns();
	if (b->conn && b->rx.st != RX_HELLO && b->last_rx_ms &&
	    now - b->last_rx_ms < timeout_ms(b)) {
		depose(b, evidence);
		return;
	}
	if (b->conn)
		conn_close(b->conn, "primary declared failed");
	take_over(b, evidence);
}

/* The variables fence and health-check commands see. */
static void command_env(struct backup *b, char buf[4][96], const char *env[5])
{
	snprintf(buf[0], 96, "REMORA_NODE=%s", b->self->name);
	snprintf(buf[1], 96, "REMORA_PEER=%s",
		 *b->rx.known_primary ? b->rx.known_primary
				      : (b->primary ? b->primary->name : ""));
	snprintf(buf[2], 96, "REMORA_TERM=%llu",
		 (unsigned long long)b->rx.known_term);
	snprintf(buf[3], 96, "REMORA_EPOCH=%llu",
		 (unsigned long long)b->r.epoch);
	for (int i = 0; i < 4; i++)
		env[i] = buf[i];
	env[4] = NULL;
}

static void on_fence_retry(uv_timer_t *t)
{
	struct backup *b = t->data;

	if (b->state == B_FENCING && !b->fence)
		run_fence(b);
}

static void fence_done(void *opaque, const struct command_result *r)
{
	struct backup *b = opaque;
	char what[384];

	b->fence = NULL;
	command_describe(r, what, sizeof(what));
	if (b->state != B_FENCING)
		return; /* called off: the primary came back, or stopping */
	if (r->exited && r->status == 0) {
		b->declared_ns = now_ns();
		set_state(b, B_PROMOTING,
			  "fence_command succeeded in %llu ms; promoting",
			  (unsigned long long)r->elapsed_ms);
		do_promote(b);
		return;
	}
	log_error("fence_command failed (%s): not promoting, a second primary "
		  "must never run; trying again in %llu ms",
		  what, (unsigned long long)timeout_ms(b));
	uv_timer_start(&b->failover_timer, on_fence_retry, timeout_ms(b), 0);
}

static void run_fence(struct backup *b)
{
	const struct config *cfg = b->cfg;
	char buf[4][96];
	const char *env[5];
	int ret;

	if (b->fence)
		return; /* one at a time: its end decides */
	command_env(b, buf, env);
	ret = command_run(&b->fence, b->loop, cfg->failover.fence_command,
			  cfg->failover.fence_timeout_ns / 1000000, env,
			  fence_done, b);
	if (ret) {
		b->fence = NULL;
		log_error("fence_command: cannot run: %s; trying again in "
			  "%llu ms",
			  strerror(-ret), (unsigned long long)timeout_ms(b));
		uv_timer_start(&b->failover_timer, on_fence_retry,
			       timeout_ms(b), 0);
	}
}

static void health_done(void *opaque, const struct command_result *r)
{
	struct backup *b = opaque;
	char what[384];

	b->health = NULL;
	if (r->exited && r->status == 0)
		return;
	command_describe(r, what, sizeof(what));
	declare_failed(b, "health_check", "health_check_command failed (%s)",
		       what);
}

static void on_health_timer(uv_timer_t *t)
{
	struct backup *b = t->data;
	const struct config *cfg = b->cfg;
	char buf[4][96];
	const char *env[5];
	int ret;

	if (b->health || !watching(b))
		return;
	command_env(b, buf, env);
	ret = command_run(&b->health, b->loop,
			  cfg->failover.health_check_command,
			  cfg->failover.health_check_timeout_ns / 1000000, env,
			  health_done, b);
	if (ret) {
		b->health = NULL;
		log_error("health_check_command: cannot run: %s",
			  strerror(-ret));
	}
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The backup's own handles, when it stops or once the primary's code runs
 * the loop (promoted). */
static void close_backup_handles(struct backup *b, int promoted)
{
	close_handle((uv_handle_t *)&b->retry_timer);
	close_handle((uv_handle_t *)&b->hb_timer);
	close_handle((uv_handle_t *)&b->ack_timer);
	close_handle((uv_handle_t *)&b->health_timer);
	close_handle((uv_handle_t *)&b->failover_timer);
	close_handle((uv_handle_t *)&b->silence_timer);
	close_handle((uv_handle_t *)&b->sigusr1);
	if (promoted) {
		/* They serve the primary now (primary_signal): a SIGTERM
		 * taken during the promotion is queued for them, and closing
		 * them would drop it. They no longer keep the loop alive;
		 * main() closes them once it has ended. */
		uv_unref((uv_handle_t *)&b->sigterm);
		uv_unref((uv_handle_t *)&b->sigint);
		return;
	}
	close_handle((uv_handle_t *)&b->sigterm);
	close_handle((uv_handle_t *)&b->sigint);
}

static void do_promote(struct backup *b)
{
	char err[512];
	int ret;

	if (b->health)
		command_cancel(b->health);
	/* Nothing more from any old primary: this replica is the guest. */
	uv_timer_stop(&b->retry_timer);
	if (b->conn)
		conn_close(b->conn, "promoting");
	/* Kept across failed attempts: a failed start may leave a handle
	 * of it closing on the loop (the next attempt is timers later). */
	if (!b->p)
		b->p = primary_alloc();
	if (!b->p) {
		ret = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	} else {
		b->pm = (struct promotion){.term = b->rx.known_term + 1,
					   .released = b->rx.released};
		ret = promote(&b->pm, b->p, b->loop, b->cfg, b->self, &b->r,
			      err, sizeof(err));
	}
	if (ret) {
		set_state(b, B_CONNECTING,
			  "cannot promote: %s; the replica stays at epoch "
			  "%llu; trying again in %llu ms",
			  err, (unsigned long long)b->r.epoch,
			  (unsigned long long)timeout_ms(b));
		b->hold_off_ms = uv_now(b->loop) + timeout_ms(b);
		if (b->snapshot_epoch != b->r.epoch)
			write_snapshot(b);
		schedule_retry(b); /* the old primary may come back */
		return;
	}
	primary_set_ctl(b->p, b->ctl); /* it closes it at its end */
	b->ctl = NULL;
	close_backup_handles(b, 1);
	/* Closing its watcher gave SIGUSR1 back its default (terminate);
	 * there is no replica to write any more. */
	signal(SIGUSR1, SIG_IGN);
	events_emit(
		"promoted", EV_U("term", b->pm.term), EV_U("epoch", b->r.epoch),
		EV_U("detect_ms", b->detect_ms),
		EV_U("timeout_ms", timeout_ms(b)),
		EV_F("promote_ms", (double)(now_ns() - b->declared_ns) / 1e6),
		EV_F("vm_ms", (double)b->pm.vm_ns / 1e6),
		EV_U("console_released", b->pm.console_released),
		EV_U("console_missing", b->pm.console_missing));
	set_state(b, B_PRIMARY,
		  "promoted to primary of term %llu from the replica at "
		  "epoch %llu: detection %llu ms (heartbeat_timeout %llu ms), "
		  "promote %.1f ms (VM %.1f ms); %zu bytes of console output "
		  "released for the old primary%s",
		  (unsigned long long)b->pm.term,
		  (unsigned long long)b->r.epoch,
		  (unsigned long long)b->detect_ms,
		  (unsigned long long)timeout_ms(b),
		  (double)(now_ns() - b->declared_ns) / 1e6,
		  (double)b->pm.vm_ns / 1e6, b->pm.console_released,
		  b->pm.console_missing ? " (some output was never held here "
					  "and may be lost)"
					: "");
	events_set_role("primary"); /* its own events follow */
}

/* --- following the primary ------------------------------------------------ */

static void on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct backup *b = opaque;
	struct rx_result res;
	enum rx_state before = b->rx.st;

	b->last_rx_ms = uv_now(b->loop);
	if (!uv_is_active((uv_handle_t *)&b->silence_timer))
		uv_timer_start(&b->silence_timer, on_silence, timeout_ms(b) + 1,
			       0);
	if (b->state == B_DEPOSING) {
		/* Nothing more is applied or acked; only the primary's last
		 * report counts: how much output it released. */
		if (m->type == WIRE_HEARTBEAT)
			receiver_on_msg(&b->rx, m, &res);
		return;
	}
	receiver_on_msg(&b->rx, m, &res);
	if (before == RX_HELLO && b->rx.st == RX_IDLE) {
		b->followed = 1;
		b->refused_logged = 0;
		if (b->state == B_FENCING) {
			/* Called off: the fence must not kill the primary
			 * this backup follows again. */
			uv_timer_stop(&b->failover_timer);
			if (b->fence)
				command_cancel(b->fence);
		}
		set_state(b, B_SYNCING,
			  "primary %s (term %llu) accepted us%s; receiving "
			  "the initial sync",
			  b->primary->name, (unsigned long long)b->rx.term,
			  b->state == B_FENCING ? "; failover called off" : "");
	}
	switch (res.verdict) {
	case RX_OK:
		break;
	case RX_ACK:
		b->epochs++;
		if (res.synced_now)
			set_state(b, B_REPLICATING,
				  "replica consistent at epoch %llu: sync "
				  "complete, %llu pages applied",
				  (unsigned long long)res.epoch,
				  (unsigned long long)b->r.applied_pages);
		else
			log_debug("applied epoch %llu",
				  (unsigned long long)res.epoch);
		ack(b, res.epoch);
		break;
	case RX_CLOSE:
		if (res.refuse) {
			Remora__Refuse f;

			wire_refuse_init(&f, b->rx.known_term,
					 b->rx.known_primary, res.why, 0);
			conn_send_msg(c, WIRE_REFUSE, &f.base);
			if (!b->refused_logged)
				log_warn("%s; told it so", res.why);
			b->refused_logged = 1;
			conn_finish(c, res.why);
			break;
		}
		log_error("%s", res.why);
		conn_close(c, res.why);
		break;
	case RX_FATAL:
		log_error("%s", res.why);
		b->exit_code = 1;
		b->stopping = 1;
		conn_close(c, res.why);
		break;
	}
}

static void on_close(struct conn *c, const char *why, void *opaque)
{
	struct backup *b = opaque;
	int followed = b->rx.st != RX_HELLO; /* a primary had accepted us */

	(void)c;
	b->conn = NULL;
	b->nacks = 0; /* Acks for a dead connection mean nothing */
	uv_timer_stop(&b->ack_timer);
	receiver_lost(&b->rx);
	if (b->stopping) {
		stop(b);
		return;
	}
	if (b->state == B_DEPOSING) {
		char evidence[384];

		uv_timer_stop(&b->failover_timer);
		snprintf(evidence, sizeof(evidence),
			 "primary %s stepped down (%s); it released console "
			 "output up to byte %llu",
			 b->rx.known_primary, why,
			 (unsigned long long)b->rx.released);
		b->cause = "stepped_down";
		take_over(b, evidence);
	} else if (b->state == B_SYNCING || b->state == B_REPLICATING) {
		set_state(b, B_CONNECTING,
			  "primary %s lost: %s; replica stays at epoch %llu",
			  b->primary->name, why,
			  (unsigned long long)b->r.epoch);
		if (b->cfg->failover.on_connection_loss ==
		    CONFIG_CONN_LOSS_PROMOTE)
			declare_failed(b, "connection_lost",
				       "connection to primary %s lost (%s), "
				       "on_connection_loss = promote",
				       b->primary->name, why);
	} else if (!followed) {
		/* Nobody there, or not the primary: try the next node, and
		 * say so once a round. */
		if (!b->waiting_logged && b->cand == b->ncands - 1)
			log_info("no primary answers yet (last tried %s at "
				 "%s:%u: %s); still trying",
				 b->primary->name, b->primary->host,
				 b->primary->port, why);
		if (b->cand == b->ncands - 1)
			b->waiting_logged = 1;
		b->cand = (b->cand + 1) % b->ncands;
	}
	if (b->state != B_PRIMARY && b->state != B_PROMOTING)
		schedule_retry(b);
}

static const struct conn_ops ops = {
	.on_msg = on_msg,
	.on_close = on_close,
};

/* Connected (reading has started): say Hello as a backup. */
static void on_connect(struct conn *c, void *opaque)
{
	struct backup *b = opaque;
	Remora__Hello h;

	if (b->stopping || b->state == B_PRIMARY || b->state == B_PROMOTING) {
		conn_close(c, "stopping");
		return;
	}
	b->waiting_logged = 0;
	b->rx.primary = b->primary->name;
	receiver_reset(&b->rx);
	wire_hello_init(&h, b->rx.known_term, VM_PAGE_SIZE,
			b->cfg->workload.memory, b->cfg->cluster, b->self->name,
			REMORA__ROLE__ROLE_BACKUP);
	log_debug("connected to %s at %s", b->primary->name, conn_peer(c));
	if (conn_send_msg(c, WIRE_HELLO, &h.base))
		conn_close(c, "cannot send Hello");
}

static void try_connect(uv_timer_t *t)
{
	struct backup *b = t->data;
	int ret;

	if (b->conn || b->stopping || b->state == B_PRIMARY ||
	    b->state == B_PROMOTING)
		return;
	b->primary = b->cands[b->cand];
	b->conn = conn_new(b->loop, CONN_TCP, &ops, b, SEND_QUEUE_MAX);
	if (!b->conn) {
		log_error("out of memory for a connection");
		schedule_retry(b);
		return;
	}
	/* A cut link drops SYNs: give up after heartbeat_timeout. */
	ret = conn_connect(b->conn, b->primary->host, b->primary->port,
			   timeout_ms(b), on_connect);
	if (ret) {
		log_error("connect to %s:%u: %s", b->primary->host,
			  b->primary->port, uv_strerror(ret));
		conn_close(b->conn, uv_strerror(ret));
	}
}

static void schedule_retry(struct backup *b)
{
	uint64_t ms = b->cfg->failover.heartbeat_interval_ns / 1000000;

	if (ms < 50)
		ms = 50;
	if (ms > 1000)
		ms = 1000;
	uv_timer_start(&b->retry_timer, try_connect, ms, 0);
}

/*
 * The silence deadline: armed by a frame when not running, it fires
 * heartbeat_timeout after the first of them and moves itself on to the
 * latest frame's deadline, so a silence is declared within a millisecond
 * of heartbeat_timeout (not a heartbeat_interval later) at the cost of
 * one timer start per heartbeat_timeout, not per frame. While the primary
 * is still watched after a decision (it was held off: no promotion was
 * possible, or it failed), it fires again every heartbeat_timeout.
 */
static void on_silence(uv_timer_t *t)
{
	struct backup *b = t->data;
	uint64_t quiet = uv_now(b->loop) - b->last_rx_ms;

	if (quiet <= timeout_ms(b)) {
		uv_timer_start(t, on_silence, timeout_ms(b) - quiet + 1, 0);
		return;
	}
	declare_failed(b, "silence",
		       "no frame from %s for %llu ms > heartbeat_timeout %llu "
		       "ms",
		       b->rx.known_primary, (unsigned long long)quiet,
		       (unsigned long long)timeout_ms(b));
	if (watching(b))
		uv_timer_start(t, on_silence, timeout_ms(b), 0);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct backup *b = t->data;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	if (!b->conn)
		return;
	/* A connection that is quiet but not yet failed: also a stuck
	 * handshake with something that is not a primary. */
	if (conn_check_alive(b->conn, timeout_ms(b), b->primary->name) ||
	    b->rx.st == RX_HELLO)
		return;
	hb.term = b->rx.term;
	hb.last_epoch = b->r.epoch;
	conn_send_msg(b->conn, WIRE_HEARTBEAT, &hb.base);
}

static void spare_work(uv_work_t *w)
{
	struct backup *b = w->data;

	b->spare_ret = replica_spare_prefault(&b->r);
}

static void spare_done(uv_work_t *w, int status)
{
	struct backup *b = w->data;
	int ok = !status && !b->spare_ret;

	replica_spare_ready(&b->r, ok);
	if (ok)
		log_info("replica memory for the first sync ready: %llu MiB "
			 "prefaulted in %.2f s",
			 (unsigned long long)(b->r.mem_size >> 20),
			 (double)(now_ns() - b->spare_start_ns) / 1e9);
	else if (status != UV_ECANCELED)
		log_warn("cannot prefault %llu MiB of replica memory (%s); "
			 "the sync fills it on demand, more slowly",
			 (unsigned long long)(b->r.mem_size >> 20),
			 status ? uv_strerror(status)
				: strerror(-b->spare_ret));
}

/* Makes the spare and has a worker prefault it while no sync needs it. */
static void start_spare(struct backup *b)
{
	char err[256];

	if (replica_spare_make(&b->r, err, sizeof(err))) {
		log_warn("%s; the sync fills its memory on demand", err);
		return;
	}
	b->spare_work.data = b;
	b->spare_start_ns = now_ns();
	if (uv_queue_work(b->loop, &b->spare_work, spare_work, spare_done))
		replica_spare_ready(&b->r, 0);
}

static void stop(struct backup *b)
{
	b->stopping = 1;
	uv_cancel((uv_req_t *)&b->spare_work); /* if it has not started */
	if (b->fence)
		command_cancel(b->fence);
	if (b->health)
		command_cancel(b->health);
	if (b->conn) {
		conn_close(b->conn, "stopping"); /* on_close calls again */
		return;
	}
	if (b->state != B_STOPPED)
		set_state(b, B_STOPPED, "replica at epoch %llu",
			  (unsigned long long)b->r.epoch);
	if (b->ctl) {
		ctl_close(b->ctl);
		b->ctl = NULL;
	}
	close_backup_handles(b, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct backup *b = s->data;

	if (b->state == B_PRIMARY) {
		primary_signal(b->p, signum);
		return;
	}
	if (signum == SIGUSR1) {
		write_snapshot(b);
		return;
	}
	log_info("%s: stopping with the replica at epoch %llu",
		 strsignal(signum), (unsigned long long)b->r.epoch);
	write_snapshot(b);
	stop(b);
}

static void status_cb(void *opaque, struct node_status *st)
{
	struct backup *b = opaque;

	if (b->state == B_PRIMARY) {
		primary_status(b->p, st);
		return;
	}
	snprintf(st->node, sizeof(st->node), "%s", b->self->name);
	snprintf(st->role, sizeof(st->role), "backup");
	snprintf(st->state, sizeof(st->state), "%s", state_names[b->state]);
	st->term = b->rx.known_term;
	st->epoch = b->r.epoch;
	st->acked = b->acked;
	snprintf(st->peer, sizeof(st->peer), "%s",
		 b->rx.st != RX_HELLO ? b->primary->name : "");
	st->since_last_frame_ms =
		b->last_rx_ms ? (int64_t)(uv_now(b->loop) - b->last_rx_ms) : -1;
	st->heartbeat_timeout_ms = timeout_ms(b);
}

/* The other nodes, the configured primary first. */
static void list_candidates(struct backup *b)
{
	const struct config *cfg = b->cfg;
	const struct config_node *first =
		config_node_by_role(cfg, CONFIG_ROLE_PRIMARY);
	int i;

	if (first && first != b->self)
		b->cands[b->ncands++] = first;
	for (i = 0; i < cfg->nnodes; i++)
		if (&cfg->nodes[i] != b->self && &cfg->nodes[i] != first)
			b->cands[b->ncands++] = &cfg->nodes[i];
}

static int run(const struct config *cfg, const struct config_node *self,
	       const struct opts *o)
{
	uint64_t hb_ms = cfg->failover.heartbeat_interval_ns / 1000000;
	uint64_t health_ms = cfg->failover.health_check_interval_ns / 1000000;
	struct backup b;
	uv_loop_t loop;
	char err[512];
	int ret;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	b.self = self;
	b.o = o;
	b.state = B_CONNECTING;
	list_candidates(&b);
	if (!b.ncands) {
		log_error("no other node in %s to follow", cfg->path);
		return 1;
	}
	b.primary = b.cands[0];
	if (replica_init(&b.r, cfg->workload.memory, err, sizeof(err))) {
		log_error("%s", err);
		return 1;
	}
	b.rx.r = &b.r;
	b.rx.mem_size = cfg->workload.memory;
	b.rx.cluster = cfg->cluster;
	b.rx.primary = b.primary->name;
	uv_loop_init(&loop);
	b.loop = &loop;
	if (*self->control_socket &&
	    ctl_start(&b.ctl, &loop, self->control_socket, status_cb, &b, err,
		      sizeof(err))) {
		log_error("%s", err);
		uv_loop_close(&loop);
		replica_destroy(&b.r);
		return 1;
	}
	uv_timer_init(&loop, &b.retry_timer);
	uv_timer_init(&loop, &b.hb_timer);
	uv_timer_init(&loop, &b.ack_timer);
	uv_timer_init(&loop, &b.health_timer);
	uv_timer_init(&loop, &b.failover_timer);
	uv_timer_init(&loop, &b.silence_timer);
	b.retry_timer.data = b.hb_timer.data = b.ack_timer.data = &b;
	b.health_timer.data = b.failover_timer.data = &b;
	b.silence_timer.data = &b;
	uv_signal_init(&loop, &b.sigterm);
	uv_signal_init(&loop, &b.sigint);
	uv_signal_init(&loop, &b.sigusr1);
	b.sigterm.data = b.sigint.data = b.sigusr1.data = &b;
	uv_signal_start(&b.sigterm, on_signal, SIGTERM);
	uv_signal_start(&b.sigint, on_signal, SIGINT);
	uv_signal_start(&b.sigusr1, on_signal, SIGUSR1);
	uv_timer_start(&b.hb_timer, on_heartbeat, hb_ms, hb_ms);
	if (*cfg->failover.health_check_command)
		uv_timer_start(&b.health_timer, on_health_timer, health_ms,
			       health_ms);
	log_info("backup of %s for cluster %s, %llu MiB replica; looking for "
		 "the primary (first %s at %s:%u); promotes after %llu ms of "
		 "silence%s%s",
		 cfg->workload.guest, cfg->cluster,
		 (unsigned long long)(cfg->workload.memory >> 20),
		 b.primary->name, b.primary->host, b.primary->port,
		 (unsigned long long)timeout_ms(&b),
		 *cfg->failover.fence_command ? ", after fencing" : "",
		 *cfg->failover.health_check_command
			 ? ", or when the health check fails"
			 : "");
	start_spare(&b);
	try_connect(&b.retry_timer);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* A promoted node's signal watchers outlive the primary's loop. */
	close_handle((uv_handle_t *)&b.sigterm);
	close_handle((uv_handle_t *)&b.sigint);
	uv_run(&loop, UV_RUN_DEFAULT);
	ret = uv_loop_close(&loop);
	if (ret)
		log_error("bug: handles left open at exit: %s",
			  uv_strerror(ret));
	if (b.state == B_PRIMARY) {
		ret = primary_exit_code(b.p);
		promote_finish(&b.pm);
		log_info("stopped as primary of term %llu with exit status %d",
			 (unsigned long long)b.pm.term, ret);
	} else {
		ret = b.exit_code;
		log_info("stopped: %llu epochs applied on the last "
			 "connections, replica at epoch %llu",
			 (unsigned long long)b.epochs,
			 (unsigned long long)b.r.epoch);
	}
	primary_free(b.p); /* also after failed promotions */
	replica_destroy(&b.r);
	free(b.acks);
	return ret;
}

int main(int argc, char **argv)
{
	const struct config_node *self;
	char err[CONFIG_ERR_MAX];
	struct config *cfg;
	struct opts o;
	int ret;

	/* A peer that resets makes a write fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	log_init(PROG, o.node, o.verbose ? LOG_DEBUG : LOG_INFO);
	if (o.events && (ret = events_init(o.events, o.node, "backup"))) {
		fprintf(stderr, PROG ": --events %s: %s\n", o.events,
			strerror(-ret));
		return 1;
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return 1;
	if (config_load(o.config, cfg, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		free(cfg);
		return 1;
	}
	if (o.rejoin) {
		self = config_node(cfg, o.node);
		if (!self)
			snprintf(err, sizeof(err), "%.256s: no [node %.64s]",
				 cfg->path, o.node);
	} else {
		self = config_self(cfg, o.node, CONFIG_ROLE_BACKUP, err,
				   sizeof(err));
	}
	if (!self) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
	} else {
		ret = run(cfg, self, &o);
	}
	free(cfg);
	events_close();
	return ret;
}
