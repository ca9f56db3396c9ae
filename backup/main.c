/*
 * remora-backup: holds the replica of the primary's workload.
 *
 *   remora-backup -c remora.conf --node b
 *
 * Connects to the primary node of the config (retrying while it is not
 * there), says Hello, receives epochs into the replica (receiver.c,
 * replica.c) and acknowledges each one once applied. Heartbeats go both
 * ways; a primary silent for heartbeat_timeout is dropped and reconnected
 * (promotion comes with failover). SIGUSR1 writes the replica as a snapshot
 * file (--snapshot), as does a clean stop (SIGTERM/SIGINT).
 *
 * Exit status: 0 after a clean stop; 1 for set-up errors and for a primary
 * that can never be served (protocol or memory-size mismatch); 2 for usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "receiver.h"
#include "replica.h"
#include "units.h"
#include "vm.h"

#define PROG	   "remora-backup"
#define EXIT_USAGE 2
/* Acks and heartbeats only: a small bound. */
#define SEND_QUEUE_MAX (1u << 20)

struct opts {
	const char *config, *node, *snapshot;
	uint64_t ack_delay_ns; /* --inject-ack-delay (tests, drills) */
	int verbose;
};

/* A delayed Ack (--inject-ack-delay). */
struct pending_ack {
	uint64_t epoch;
	uint64_t due_ms;
};

struct backup {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct config_node *self, *primary;
	const struct opts *o;
	struct replica r;
	struct receiver rx;
	struct conn *conn;
	int connecting, connected, waiting_logged;
	uv_connect_t connect_req;
	uv_timer_t retry_timer, hb_timer, ack_timer;
	uv_signal_t sigterm, sigint, sigusr1;
	struct pending_ack *acks;
	size_t nacks, ack_cap;
	uint64_t epochs;
	int exit_code, stopping;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -c FILE --node NAME [--snapshot FILE]\n"
		"\n"
		"Holds the replica of the workload run by FILE's primary node, "
		"as node\nNAME, whose role in FILE must be backup.\n"
		"\n"
		"  -c, --config FILE   the deployment's remora.conf\n"
		"  -n, --node NAME     this node's [node NAME] section\n"
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
		"  -v, --verbose       debug logging (a line per epoch)\n"
		"  -h, --help          this text\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"snapshot", required_argument, NULL, 's'},
		{"inject-ack-delay", required_argument, NULL, 'd'},
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
		case 'd':
			if (units_parse_duration(optarg, &o->ack_delay_ns,
						 &why)) {
				fprintf(stderr,
					PROG ": --inject-ack-delay %s: %s\n",
					optarg, why);
				return EXIT_USAGE;
			}
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

static void write_snapshot(struct backup *b)
{
	char err[512];

	if (!b->o->snapshot)
		return;
	if (replica_write_snapshot(&b->r, b->o->snapshot, err, sizeof(err)))
		log_error("snapshot: %s", err);
	else
		log_info("replica at epoch %llu written to %s",
			 (unsigned long long)b->r.epoch, b->o->snapshot);
}

static void send_ack(struct backup *b, uint64_t epoch)
{
	Remora__Ack a = REMORA__ACK__INIT;
	int ret;

	a.epoch = epoch;
	a.term = b->rx.term;
	ret = conn_send_msg(b->conn, WIRE_ACK, &a.base);
	if (ret)
		conn_close(b->conn, "cannot queue an Ack");
}

static void on_ack_timer(uv_timer_t *t)
{
	struct backup *b = t->data;
	uint64_t now = uv_now(b->loop);
	size_t i = 0;

	while (i < b->nacks && b->acks[i].due_ms <= now && b->conn)
		send_ack(b, b->acks[i++].epoch);
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

static void on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct backup *b = opaque;
	struct rx_result res;
	enum rx_state before = b->rx.st;

	receiver_on_msg(&b->rx, m, &res);
	if (before == RX_HELLO && b->rx.st == RX_IDLE)
		log_info("primary %s (term %llu) accepted us; receiving the "
			 "initial sync",
			 b->primary->name, (unsigned long long)b->rx.term);
	switch (res.verdict) {
	case RX_OK:
		break;
	case RX_ACK:
		b->epochs++;
		if (res.synced_now)
			log_info("replica consistent at epoch %llu: sync "
				 "complete, %llu pages applied",
				 (unsigned long long)res.epoch,
				 (unsigned long long)b->r.applied_pages);
		else
			log_debug("applied epoch %llu",
				  (unsigned long long)res.epoch);
		ack(b, res.epoch);
		break;
	case RX_CLOSE:
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

static void schedule_retry(struct backup *b);
static void stop(struct backup *b);

static void on_close(struct conn *c, const char *why, void *opaque)
{
	struct backup *b = opaque;

	(void)c;
	b->conn = NULL;
	b->nacks = 0; /* Acks for a dead connection mean nothing */
	uv_timer_stop(&b->ack_timer);
	if (b->connected)
		log_warn("primary %s lost: %s; replica stays at epoch %llu",
			 b->primary->name, why, (unsigned long long)b->r.epoch);
	b->connected = 0;
	receiver_lost(&b->rx);
	if (b->stopping)
		stop(b);
	else
		schedule_retry(b);
}

static const struct conn_ops ops = {
	.on_msg = on_msg,
	.on_close = on_close,
};

static void on_connect(uv_connect_t *req, int status)
{
	struct backup *b = req->data;
	Remora__Hello h = REMORA__HELLO__INIT;
	char *caps[1] = {"xor-delta-rle"};
	struct conn *c = b->conn;

	b->connecting = 0;
	if (b->stopping) {
		conn_close(c, "stopping");
		return;
	}
	if (status < 0) {
		if (!b->waiting_logged)
			log_info("waiting for primary %s at %s:%u (%s)",
				 b->primary->name, b->primary->host,
				 b->primary->port, uv_strerror(status));
		b->waiting_logged = 1;
		b->connected = 0;
		conn_close(c, uv_strerror(status));
		return;
	}
	if (conn_start(c)) {
		conn_close(c, "cannot read from the connection");
		return;
	}
	b->waiting_logged = 0;
	b->connected = 1;
	receiver_reset(&b->rx);
	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.term = 0;
	h.page_size = VM_PAGE_SIZE;
	h.guest_mem_bytes = b->cfg->workload.memory;
	h.workload_id = (char *)b->cfg->cluster;
	h.node = (char *)b->self->name;
	h.capabilities = caps;
	h.n_capabilities = 1;
	log_info("connected to primary %s at %s", b->primary->name,
		 conn_peer(c));
	if (conn_send_msg(c, WIRE_HELLO, &h.base))
		conn_close(c, "cannot send Hello");
}

static int peer_addr(const struct config_node *n, struct sockaddr_storage *a)
{
	if (strchr(n->host, ':'))
		return uv_ip6_addr(n->host, n->port, (struct sockaddr_in6 *)a);
	return uv_ip4_addr(n->host, n->port, (struct sockaddr_in *)a);
}

static void try_connect(uv_timer_t *t)
{
	struct backup *b = t->data;
	struct sockaddr_storage addr;
	int ret;

	if (b->conn || b->stopping)
		return;
	b->conn = conn_new(b->loop, CONN_TCP, &ops, b, SEND_QUEUE_MAX);
	if (!b->conn) {
		log_error("out of memory for a connection");
		schedule_retry(b);
		return;
	}
	b->connecting = 1;
	b->connect_req.data = b;
	ret = peer_addr(b->primary, &addr);
	if (!ret)
		ret = uv_tcp_connect(&b->connect_req,
				     (uv_tcp_t *)conn_stream(b->conn),
				     (struct sockaddr *)&addr, on_connect);
	if (ret) {
		b->connecting = 0;
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

static void on_heartbeat(uv_timer_t *t)
{
	struct backup *b = t->data;
	uint64_t timeout_ms = b->cfg->failover.heartbeat_timeout_ns / 1000000;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	if (!b->conn || !b->connected)
		return;
	if (conn_check_alive(b->conn, timeout_ms, b->primary->name))
		return;
	hb.term = b->rx.term;
	hb.last_epoch = b->r.epoch;
	conn_send_msg(b->conn, WIRE_HEARTBEAT, &hb.base);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void stop(struct backup *b)
{
	b->stopping = 1;
	if (b->conn && !b->connecting) {
		conn_close(b->conn, "stopping"); /* on_close calls again */
		return;
	}
	if (b->connecting)
		return; /* on_connect closes it, then on_close calls again */
	close_handle((uv_handle_t *)&b->retry_timer);
	close_handle((uv_handle_t *)&b->hb_timer);
	close_handle((uv_handle_t *)&b->ack_timer);
	close_handle((uv_handle_t *)&b->sigterm);
	close_handle((uv_handle_t *)&b->sigint);
	close_handle((uv_handle_t *)&b->sigusr1);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct backup *b = s->data;

	if (signum == SIGUSR1) {
		write_snapshot(b);
		return;
	}
	log_info("%s: stopping with the replica at epoch %llu",
		 strsignal(signum), (unsigned long long)b->r.epoch);
	write_snapshot(b);
	stop(b);
}

static int run(const struct config *cfg, const struct config_node *self,
	       const struct config_node *primary, const struct opts *o)
{
	uint64_t hb_ms = cfg->failover.heartbeat_interval_ns / 1000000;
	struct backup b;
	uv_loop_t loop;
	char err[512];
	int ret;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	b.self = self;
	b.primary = primary;
	b.o = o;
	if (replica_init(&b.r, cfg->workload.memory, err, sizeof(err))) {
		log_error("%s", err);
		return 1;
	}
	b.rx.r = &b.r;
	b.rx.mem_size = cfg->workload.memory;
	b.rx.cluster = cfg->cluster;
	b.rx.primary = primary->name;
	uv_loop_init(&loop);
	b.loop = &loop;
	uv_timer_init(&loop, &b.retry_timer);
	uv_timer_init(&loop, &b.hb_timer);
	uv_timer_init(&loop, &b.ack_timer);
	b.retry_timer.data = b.hb_timer.data = b.ack_timer.data = &b;
	uv_signal_init(&loop, &b.sigterm);
	uv_signal_init(&loop, &b.sigint);
	uv_signal_init(&loop, &b.sigusr1);
	b.sigterm.data = b.sigint.data = b.sigusr1.data = &b;
	uv_signal_start(&b.sigterm, on_signal, SIGTERM);
	uv_signal_start(&b.sigint, on_signal, SIGINT);
	uv_signal_start(&b.sigusr1, on_signal, SIGUSR1);
	uv_timer_start(&b.hb_timer, on_heartbeat, hb_ms, hb_ms);
	log_info("backup of %s for cluster %s, %llu MiB replica; primary %s "
		 "at %s:%u",
		 cfg->workload.guest, cfg->cluster,
		 (unsigned long long)(cfg->workload.memory >> 20),
		 primary->name, primary->host, primary->port);
	try_connect(&b.retry_timer);
	uv_run(&loop, UV_RUN_DEFAULT);
	ret = uv_loop_close(&loop);
	if (ret)
		log_error("bug: handles left open at exit: %s",
			  uv_strerror(ret));
	log_info("stopped: %llu epochs applied on the last connections, "
		 "replica at epoch %llu",
		 (unsigned long long)b.epochs, (unsigned long long)b.r.epoch);
	replica_destroy(&b.r);
	free(b.acks);
	return b.exit_code;
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
	log_init(PROG, o.node, o.verbose ? LOG_DEBUG : LOG_INFO);
	cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return 1;
	if (config_load(o.config, cfg, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		free(cfg);
		return 1;
	}
	self = config_self(cfg, o.node, CONFIG_ROLE_BACKUP, err, sizeof(err));
	if (!self) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
	} else {
		/* A loaded config always has a primary (config.c checks). */
		ret = run(cfg, self,
			  config_node_by_role(cfg, CONFIG_ROLE_PRIMARY), &o);
	}
	free(cfg);
	return ret;
}
