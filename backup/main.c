/*
 * remora-backup: holds the replica of the primary's workload, and takes the
 * workload over when the primary fails.
 *
 *   remora-backup -c remora.conf --node b [--rejoin]
 *
 * Looks for the primary by dialling the other nodes (the configured primary
 * first: after a failover the primary is another node), says Hello,
 * receives epochs into the replica (receiver.c, replica.c) and acknowledges
 * each one once applied. Heartbeats go both ways. The failure detector
 * declares the primary failed when no frame came from it for
 * heartbeat_timeout, when the connection broke and on_connection_loss =
 * promote, or when health_check_command fails; every decision is logged
 * with its evidence. A backup promotes only from a consistent replica that
 * holds every byte of console output the primary said it released.
 *
 * What a promotion will need is checked at start (paths.h: the console
 * sink, the --snapshot directory, the shell of the failover commands), so
 * that a wrong path stops the backup when it starts, not the failover.
 *
 * This file is the process: options, set-up, the loop and the exit status.
 * The states and every decision are standby.c's (no I/O, unit-tested);
 * shell.c carries them out on the loop; promote.c starts the primary's
 * pipeline on the replica.
 *
 * Exit status: 0 after a clean stop; 1 for set-up errors and for a primary
 * that can never be served (protocol or memory-size mismatch); 2 for usage;
 * once promoted, what remora-primary would exit with (3: replaced).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "arbiter.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "ctl.h"
#include "log.h"
#include "paths.h"
#include "prefault.h"
#include "primary.h"
#include "shell.h"
#include "status.h"
#include "tls.h"
#include "units.h"

#define PROG	   "remora-backup"
#define EXIT_USAGE 2

struct opts {
	struct daemon_opts d; /* -c, --node, --events, -v */
	const char *snapshot;
	uint64_t ack_delay_ns; /* --inject-ack-delay (tests, drills) */
	int rejoin;
};

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
	o->d.prog = PROG;
	o->d.role = "backup";
	while ((c = getopt_long(argc, argv, "c:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->d.config = optarg;
			break;
		case 'n':
			o->d.node = optarg;
			break;
		case 's':
			o->snapshot = optarg;
			break;
		case 'e':
			o->d.events = optarg;
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
			o->d.verbose = 1;
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
	if (!o->d.config || !o->d.node) {
		fprintf(stderr,
			PROG ": -c FILE and --node NAME are required\n");
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * What this file adds to the backup for a quick promotion: the VM made
 * ahead on the replica's memory (primary_prepare()), remade after each
 * loop iteration in which the replica's memory changed, and the spare's
 * prefault giving way once promoted.
 */
struct ahead {
	struct backup *b;
	uv_check_t check;
	int fd;	      /* the replica memory it was last made for */
	uint8_t *mem; /* (its descriptor and mapping) */
};

/*
 * The spare's prefault (replica_spare_fill()) in slices of this many
 * bytes: MADV_POPULATE_WRITE holds the process's mmap lock for reading for
 * a whole call, and any mmap() meanwhile (a promotion's allocations, a
 * thread's stack) waits for it: up to 100 ms was seen at 1 GiB.
 */
#define SPARE_SLICE (256u << 10)

/*
 * A worker, one of SPARE_WORKERS: takes the next slice until none is left,
 * so they all run ahead of a sync's decoder, in order. Touches only the
 * memory it was given (b->spare_mem), which a sync may be writing
 * meanwhile: prefault_shared() changes no byte.
 */
/* Any thread: the spare's prefault ends with ret (the first reason
 * given wins); the workers stop at their next slice. */
static void spare_end(struct backup *b, int ret)
{
	int zero = 0;

	__atomic_compare_exchange_n(&b->spare_ret, &zero, ret, 0,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void spare_work(uv_work_t *w)
{
	struct backup *b = w->data;
	uint64_t size = b->r.mem_size;
	uint64_t nslices = (size + SPARE_SLICE - 1) / SPARE_SLICE;

	for (;;) {
		uint64_t i =
			__atomic_fetch_add(&b->spare_next, 1, __ATOMIC_RELAXED);
		uint64_t off = i * SPARE_SLICE, n;
		int ret;

		if (i >= nslices ||
		    __atomic_load_n(&b->spare_ret, __ATOMIC_RELAXED))
			return;
		n = size - off < SPARE_SLICE ? size - off : SPARE_SLICE;
		ret = prefault_shared(b->spare_mem + off, (size_t)n);
		if (ret) {
			spare_end(b, ret);
			return;
		}
	}
}

/* Loop: once every worker is done (or was cancelled before it began). */
static void spare_done(uv_work_t *w, int status)
{
	struct backup *b = w->data;
	int ok, taken;

	/* libuv's status is a negative errno (UV_ECANCELED: never began);
	 * the other worker may still be reading spare_ret */
	if (status)
		spare_end(b, status);
	if (--b->spare_pending)
		return;
	ok = !b->spare_ret;
	taken = b->r.spare != b->spare_mem;

	/* Promoted: no sync will take it, and dropping it (an munmap of
	 * the guest's size) would stall the primary's loop: it goes at the
	 * end with the replica. */
	if (b->spare_ret == -ECANCELED)
		return;
	replica_spare_ready(&b->r, ok);
	if (ok)
		log_info("replica memory for the first sync %s: %llu MiB "
			 "prefaulted in %.2f s",
			 taken ? "taken by it while prefaulted" : "ready",
			 (unsigned long long)(b->r.mem_size >> 20),
			 (double)(now_ns() - b->spare_start_ns) / 1e9);
	else
		log_warn("cannot prefault %llu MiB of replica memory (%s); "
			 "the sync fills it on demand, more slowly",
			 (unsigned long long)(b->r.mem_size >> 20),
			 strerror(-b->spare_ret));
}

/* Makes the spare and has a worker prefault it while no sync needs it. */
static void start_spare(struct backup *b)
{
	char err[256];
	long ncpu;
	int workers;

	if (replica_spare_make(&b->r, err, sizeof(err))) {
		log_warn("%s; the sync fills its memory on demand", err);
		return;
	}
	b->spare_start_ns = now_ns();
	b->spare_mem = replica_spare_fill(&b->r);
	if (!b->spare_mem)
		return;
	b->spare_next = 0;
	b->spare_ret = 0;
	b->spare_pending = 0;
	/* One core stays the loop's, which decodes a sync into this memory
	 * meanwhile: with both daemons on 2 cores, a second worker made a
	 * 1 GiB sync slower (1.8 s against 1.3 s), not faster. */
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	workers = ncpu > 2 ? SPARE_WORKERS : 1;
	for (int i = 0; i < workers; i++) {
		b->spare_work[i].data = b;
		if (uv_queue_work(b->loop, &b->spare_work[i], spare_work,
				  spare_done))
			break;
		b->spare_pending++;
	}
	if (!b->spare_pending)
		replica_spare_ready(&b->r, 0);
}

/*
 * After every loop iteration: a consistent replica whose memory is not the
 * one the VM was made ahead for (the first, or a sync replaced it) gets it
 * remade, here rather than in the promotion. Some milliseconds on the loop
 * once per sync. Once promoted, the spare's worker is told to stop.
 */
static void ahead_check(uv_check_t *h)
{
	struct ahead *a = h->data;
	struct backup *b = a->b;
	uint64_t t0 = now_ns();
	char err[512];
	int ret;

	if (b->sb.state == SB_PRIMARY || b->sb.state == SB_STOPPED) {
		/* A promoted node needs no spare: the CPU is the guest's. */
		spare_end(b, -ECANCELED);
		uv_check_stop(h);
		return;
	}
	if (!b->r.epoch || (b->r.fd == a->fd && b->r.mem == a->mem))
		return;
	a->fd = b->r.fd;
	a->mem = b->r.mem;
	ret = primary_prepare(b->p, b->cfg, b->r.fd, b->r.mem_size, err,
			      sizeof(err));
	if (ret < 0)
		log_warn("cannot make the promotion's VM ahead (%s); a "
			 "promotion makes it, some milliseconds slower",
			 err);
	else if (ret > 0)
		log_info("VM for a promotion made ahead on the replica's "
			 "memory at epoch %llu in %.1f ms",
			 (unsigned long long)b->r.epoch,
			 (double)(now_ns() - t0) / 1e6);
}

static void status_cb(void *opaque, struct node_status *st)
{
	struct backup *b = opaque;

	if (b->sb.state == SB_PRIMARY) {
		primary_status(b->p, st);
		return;
	}
	snprintf(st->node, sizeof(st->node), "%s", b->self->name);
	snprintf(st->role, sizeof(st->role), "backup");
	snprintf(st->state, sizeof(st->state), "%s",
		 standby_state_name(b->sb.state));
	st->term = b->rx.known_term;
	st->epoch = b->r.epoch;
	st->acked = b->acked;
	snprintf(st->peer, sizeof(st->peer), "%s",
		 b->rx.st != RX_HELLO ? standby_primary(&b->sb)->name : "");
	st->since_last_frame_ms =
		b->sb.last_rx_ms ? (int64_t)(uv_now(b->loop) - b->sb.last_rx_ms)
				 : -1;
	st->heartbeat_timeout_ms = b->sb.timeout_ms;
	primary_workload_status(b->cfg, 0, st->workload, sizeof(st->workload));
}

/* The exit status, after the loop has ended. */
static int finish(struct backup *b)
{
	int ret;

	if (b->sb.state == SB_PRIMARY) {
		ret = primary_exit_code(b->p);
		promote_finish(&b->pm);
		log_info("stopped as primary of term %llu with exit status %d",
			 (unsigned long long)b->pm.term, ret);
		return ret;
	}
	log_info("stopped: %llu epochs applied on the last connections, "
		 "replica at epoch %llu",
		 (unsigned long long)b->sb.applied,
		 (unsigned long long)b->r.epoch);
	return b->sb.exit_code;
}

static int run(const struct config *cfg, const struct config_node *self,
	       const struct opts *o)
{
	struct standby_opts so = {
		.cfg = cfg,
		.self = self,
		.ack_delay_ms = o->ack_delay_ns / 1000000,
		.debug = o->d.verbose,
	};
	const struct config_node *first;
	struct backup backup, *b = &backup;
	struct ahead ahead = {.b = b, .fd = -1};
	/* [cluster] key_file's key or tls_* context: live as long as b */
	struct auth_key key;
	struct conn_cred cred = {NULL, NULL};
	uv_loop_t loop;
	char err[512], line[1024];
	int ret, sink;

	/*
	 * What a promotion needs, checked now rather than when the primary
	 * fails (paths.h). The console sink stays open until the end: for a
	 * FIFO, so that its reader does not see an end of file before a
	 * promoted guest writes; promote.c opens it again by its path.
	 */
	sink = paths_open_console(cfg, self, line, sizeof(line));
	if (sink < 0) {
		log_error("%s", line);
		return 1;
	}
	if ((o->snapshot &&
	     paths_check_snapshot(o->snapshot, line, sizeof(line))) ||
	    paths_check_commands(cfg, line, sizeof(line)) ||
	    primary_preflight(cfg, line, sizeof(line)) ||
	    (*cfg->key_file &&
	     auth_key_load(cfg->key_file, &key, line, sizeof(line))) ||
	    (tls_configured(cfg) &&
	     tls_ctx_load(&cred.tls, cfg, line, sizeof(line)))) {
		log_error("%s", line);
		close(sink);
		return 1;
	}
	memset(b, 0, sizeof(*b));
	if (*cfg->key_file)
		cred.key = &key;
	b->key = cred.key || cred.tls ? &cred : NULL;
	b->cfg = cfg;
	b->self = self;
	b->snapshot = o->snapshot;
	/* Now: its pages are faulted in at start, not in a promotion (NULL:
	 * the promotion allocates it, and nothing is made ahead). */
	b->p = primary_alloc();
	/* Plumbed down now, so that a promotion does not wait on it. */
	if (primary_net_prepare(cfg, &b->net, line, sizeof(line))) {
		log_error("%s", line);
		goto err_standby;
	}
	so.rx = &b->rx;
	ret = standby_init(&b->sb, &so);
	if (ret) {
		if (ret == -EINVAL)
			log_error("no other node in %s to follow", cfg->path);
		else
			log_error("out of memory");
		goto err_standby;
	}
	first = standby_primary(&b->sb);
	if (replica_init(&b->r, cfg->workload.memory,
			 cfg->workload.memory_backing == CONFIG_BACKING_HUGETLB,
			 err, sizeof(err))) {
		log_error("%s", err);
		goto err_standby;
	}
	if (replica_stage_reserve(&b->r, cfg->replication.max_epoch_size, err,
				  sizeof(err))) {
		log_error("%s; lower it, or give this host more memory", err);
		replica_destroy(&b->r);
		goto err_standby;
	}
	b->r.check_state = primary_state_check(cfg);
	b->rx.r = &b->r;
	b->rx.mem_size = cfg->workload.memory;
	b->rx.cluster = cfg->cluster;
	b->rx.primary = first->name;
	uv_loop_init(&loop);
	b->loop = &loop;
	if (cfg->failover.arbiter == CONFIG_ARBITER_ETCD &&
	    !(b->arb = arbiter_new(&loop, cfg, self->name, shell_on_arbiter,
				   b))) {
		log_error("arbiter: cannot start its client: %s",
			  strerror(errno));
		uv_loop_close(&loop);
		goto err_replica;
	}
	if (*self->control_socket &&
	    ctl_start(&b->ctl, &loop, self->control_socket, status_cb, b, err,
		      sizeof(err))) {
		log_error("%s", err);
		if (b->arb) {
			arbiter_free(b->arb);
			uv_run(&loop, UV_RUN_DEFAULT);
		}
		uv_loop_close(&loop);
		goto err_replica;
	}
	primary_describe_workload(cfg, line, sizeof(line));
	log_info("backup of %s for cluster %s, %llu MiB replica; looking for "
		 "the primary (first %s at %s:%u); promotes after %llu ms of "
		 "silence%s%s",
		 line, cfg->cluster,
		 (unsigned long long)(cfg->workload.memory >> 20), first->name,
		 first->host, first->port, (unsigned long long)b->sb.timeout_ms,
		 *cfg->failover.fence_command ? ", after fencing" : "",
		 *cfg->failover.health_check_command
			 ? ", or when the health check fails"
			 : "");
	start_spare(b);
	if (b->p) {
		uv_check_init(&loop, &ahead.check);
		ahead.check.data = &ahead;
		uv_check_start(&ahead.check, ahead_check);
		uv_unref((uv_handle_t *)&ahead.check);
	}
	shell_start(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* A promoted node's signal watchers outlive the primary's loop. */
	shell_finish(b);
	if (b->p)
		uv_close((uv_handle_t *)&ahead.check, NULL);
	if (b->arb) {
		/* The promoted primary stopped: nothing more is released,
		 * nobody need wait for its lease to lapse. */
		if (b->sb.state == SB_PRIMARY)
			arbiter_revoke_sync(b->arb);
		arbiter_free(b->arb);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ret = uv_loop_close(&loop);
	if (ret)
		log_error("bug: handles left open at exit: %s",
			  uv_strerror(ret));
	ret = finish(b);
	primary_free(b->p);	  /* also after failed promotions */
	primary_net_free(b->net); /* after the service that used it */
	replica_destroy(&b->r);
	standby_destroy(&b->sb);
	tls_ctx_free(cred.tls);
	close(sink);
	return ret;

err_replica:
	replica_destroy(&b->r);
err_standby:
	primary_free(b->p);
	primary_net_free(b->net);
	standby_destroy(&b->sb);
	tls_ctx_free(cred.tls);
	close(sink);
	return 1;
}

int main(int argc, char **argv)
{
	const struct config_node *self;
	char err[CONFIG_ERR_MAX];
	struct config *cfg;
	struct opts o;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	cfg = daemon_start(&o.d);
	if (!cfg)
		return 1;
	if (o.rejoin) {
		self = config_node(cfg, o.d.node);
		if (!self)
			snprintf(err, sizeof(err), "%.256s: no [node %.64s]",
				 cfg->path, o.d.node);
	} else {
		self = config_self(cfg, o.d.node, CONFIG_ROLE_BACKUP, err,
				   sizeof(err));
	}
	if (!self) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
	} else {
		ret = run(cfg, self, &o);
	}
	daemon_finish(cfg);
	return ret;
}
