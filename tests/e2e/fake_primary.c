/*
 * fake_primary: plays remora-primary's side of the replication protocol
 * against a real remora-backup, with no VM, so that the backup's failure
 * detection, fencing and terms can be tested end to end where /dev/kvm is
 * missing.
 *
 *   fake_primary --listen HOST:PORT --cluster NAME --node NAME --mem BYTES
 *                [--term T] [--hb-interval-ms N] [--epoch-interval-ms N]
 *                [--ticks-per-epoch N]
 *
 * It listens and feeds one backup at a time: answers its Hello with ours,
 * sends one pre-copy epoch of a few pages spread over guest memory, then a
 * checkpoint epoch every --epoch-interval-ms with a couple of changed pages,
 * a vCPU state blob state.c accepts and console lines "tick N\n", and
 * Heartbeats every --hb-interval-ms. The epochs come from
 * tests/support/fake_epochs.c. Other peers are answered while a backup is
 * attached: a second backup is refused for now (it retries), a node
 * announcing itself as primary of a newer term replaces us.
 *
 * What happens is told on stdout, one flushed line per event, for tests to
 * wait on (diagnostics go to stderr):
 *
 *   listening HOST:PORT        ready (the port actually bound)
 *   hello node=N term=T role=backup|primary
 *                              a peer's Hello
 *   acked E                    each Ack received
 *   synced epoch=E             the connection's first checkpoint E acked
 *   refused term=T primary=N reason=R
 *                              the backup refused us (N is "-" if unset)
 *   replaced by N in term T    a newer primary exists: exit 3
 *   lost                       the backup's connection ended
 *   silent                     SIGUSR1 taken
 *   closed                     SIGUSR2 taken: exit 0
 *
 * Signals: SIGUSR1 makes it a hung primary (nothing is sent, accepted or
 * answered any more; input is read and discarded); SIGUSR2 closes every
 * connection at once, as a crash would, and exits 0; SIGTERM or SIGINT
 * exits 0. Exit status: 0, 1 for set-up errors, 2 for usage, 3 replaced.
 *
 * Blocking-free sockets and poll(): no libuv, one thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_epochs.h"
#include "frame.h"
#include "units.h"
#include "wire.h"

#define PROG	      "fake_primary"
#define EXIT_SETUP    1
#define EXIT_USAGE    2
#define EXIT_REPLACED 3

/* The fake guest (test_fake_primary.py recomputes it from these). */
#define GUEST_PAGE 4096u
#define TRACKED	   16u /* pages it writes, spread over its memory */
#define CHANGED	   2u  /* of which each checkpoint changes this many */

#define NPEERS	      8u  /* connections at a time, the backup included */
#define MAX_INFLIGHT  16u /* epochs sent and not acknowledged */
#define QUEUE_MAX     (8u << 20) /* queued bytes above which epochs wait */
#define HELLO_MS      5000	 /* a peer has this long to say Hello */
#define LINGER_MS     1000	 /* a refused peer has this long to hang up */
#define INTERVAL_MAX  3600000ull
#define TICKS_MAX     100000ull
#define TICK_LINE_MAX 32u /* "tick 18446744073709551615\n" and some */

struct opts {
	const char *listen, *cluster, *node;
	struct sockaddr_storage addr; /* --listen, parsed */
	socklen_t addr_len;
	uint64_t mem, term;
	uint64_t hb_ms, epoch_ms, ticks;
};

enum peer_state {
	PEER_FREE,
	PEER_HELLO,   /* accepted, its Hello not in yet */
	PEER_BACKUP,  /* the backup we feed */
	PEER_CLOSING, /* Refuse queued; once it is out, we wait for EOF */
};

struct peer {
	enum peer_state st;
	int fd;
	struct frame_reader rd;
	struct fake_buf out; /* bytes to send, from out_off */
	size_t out_off;
	int shut;	      /* CLOSING: write side shut down */
	uint64_t deadline_ms; /* HELLO, CLOSING: when we give up on it */
	char addr[64];
	char node[WIRE_NAME_MAX + 1]; /* from its Hello */
	const char *why;	      /* set by a frame handler: close it */
};

/* An epoch sent on the current connection and not acknowledged yet. */
struct inflight {
	uint64_t epoch;
	uint64_t console_end; /* stream offset after its console bytes */
};

struct fp {
	const struct opts *o;
	int lfd, sfd;
	struct peer peers[NPEERS];
	struct peer *backup; /* the PEER_BACKUP one, or NULL */
	int silent, done, exit_code;

	/* The guest: TRACKED pages at pfns spread over its memory. */
	size_t ntracked;
	uint64_t pfn[TRACKED], version[TRACKED];
	uint8_t *cur;  /* their contents */
	uint8_t *sent; /* what the backup holds: the delta base */
	struct fake_page list[TRACKED];
	uint8_t state[FAKE_STATE_MAX];
	char *console;	      /* one epoch's console lines */
	uint64_t next_epoch;  /* epochs are numbered for our whole life */
	uint64_t tick;	      /* last tick written */
	uint64_t console_off; /* end of the console stream so far */
	uint64_t released;    /* end of the output of acknowledged epochs */

	/* The current backup connection. */
	uint64_t first_epoch, first_checkpoint;
	int synced;
	struct inflight infl[MAX_INFLIGHT];
	size_t ninfl;
	uint64_t next_epoch_ms, next_hb_ms;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One event on stdout, flushed at once: tests wait on these lines. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void warn(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --listen HOST:PORT --cluster NAME --node NAME "
		"--mem BYTES\n"
		"       [--term T] [--hb-interval-ms N] [--epoch-interval-ms "
		"N]\n"
		"       [--ticks-per-epoch N]\n"
		"\n"
		"Plays the primary's side of the replication protocol against "
		"a real\nremora-backup, without a VM (tests).\n"
		"\n"
		"  --listen HOST:PORT      numeric IPv4 or [IPv6] address; "
		"port 0 picks one\n"
		"  --cluster NAME          the config's cluster name "
		"(Hello.workload_id)\n"
		"  --node NAME             our node name (the config's "
		"primary)\n"
		"  --mem BYTES             guest memory, e.g. 64M (the "
		"config's memory)\n"
		"  --term T                our term (default 1)\n"
		"  --hb-interval-ms N      heartbeat interval (default 100)\n"
		"  --epoch-interval-ms N   checkpoint interval (default 25)\n"
		"  --ticks-per-epoch N     console lines per checkpoint "
		"(default 1)\n");
}

/* A decimal number in [min, max], digits only. */
static int parse_num(const char *flag, const char *s, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9') {
		fprintf(stderr, PROG ": %s '%s' is not a decimal number\n",
			flag, s);
		return -EINVAL;
	}
	v = strtoull(s, &end, 10);
	if (*end) {
		fprintf(stderr, PROG ": %s '%s' is not a decimal number\n",
			flag, s);
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		fprintf(stderr, PROG ": %s %s is out of range (%llu..%llu)\n",
			flag, s, (unsigned long long)min,
			(unsigned long long)max);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

/* What Hello allows for node and cluster names (wire.c). */
static int name_ok(const char *flag, const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > WIRE_NAME_MAX) {
		fprintf(stderr, PROG ": %s must be 1..%u bytes, not %zu\n",
			flag, WIRE_NAME_MAX, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e) {
			fprintf(stderr,
				PROG ": %s must be printable ASCII (byte %zu "
				     "is 0x%02x)\n",
				flag, i, (unsigned char)s[i]);
			return 0;
		}
	return 1;
}

static int parse_listen(const char *v, struct sockaddr_storage *ss,
			socklen_t *sl);

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_LISTEN = 256,
		O_CLUSTER,
		O_NODE,
		O_MEM,
		O_TERM,
		O_HB,
		O_EPOCH,
		O_TICKS
	};
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, O_LISTEN},
		{"cluster", required_argument, NULL, O_CLUSTER},
		{"node", required_argument, NULL, O_NODE},
		{"mem", required_argument, NULL, O_MEM},
		{"term", required_argument, NULL, O_TERM},
		{"hb-interval-ms", required_argument, NULL, O_HB},
		{"epoch-interval-ms", required_argument, NULL, O_EPOCH},
		{"ticks-per-epoch", required_argument, NULL, O_TICKS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *why;
	int c, ret = 0;

	memset(o, 0, sizeof(*o));
	o->term = 1;
	o->hb_ms = 100;
	o->epoch_ms = 25;
	o->ticks = 1;
	while (!ret &&
	       (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN:
			o->listen = optarg;
			ret = parse_listen(optarg, &o->addr, &o->addr_len);
			break;
		case O_CLUSTER:
			o->cluster = optarg;
			break;
		case O_NODE:
			o->node = optarg;
			break;
		case O_MEM:
			if (units_parse_size(optarg, &o->mem, &why)) {
				fprintf(stderr, PROG ": --mem %s: %s\n", optarg,
					why);
				ret = -EINVAL;
			} else if (!o->mem || o->mem % GUEST_PAGE) {
				fprintf(stderr,
					PROG ": --mem %s: not a positive "
					     "multiple of the %u-byte page\n",
					optarg, GUEST_PAGE);
				ret = -EINVAL;
			}
			break;
		case O_TERM:
			ret = parse_num("--term", optarg, 1, UINT64_MAX,
					&o->term);
			break;
		case O_HB:
			ret = parse_num("--hb-interval-ms", optarg, 1,
					INTERVAL_MAX, &o->hb_ms);
			break;
		case O_EPOCH:
			ret = parse_num("--epoch-interval-ms", optarg, 1,
					INTERVAL_MAX, &o->epoch_ms);
			break;
		case O_TICKS:
			ret = parse_num("--ticks-per-epoch", optarg, 0,
					TICKS_MAX, &o->ticks);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (ret)
		return EXIT_USAGE;
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->listen || !o->cluster || !o->node || !o->mem) {
		fprintf(stderr, PROG ": --listen, --cluster, --node and --mem "
				     "are required (--help)\n");
		return EXIT_USAGE;
	}
	if (!name_ok("--cluster", o->cluster) || !name_ok("--node", o->node))
		return EXIT_USAGE;
	return 0;
}

/* "IPv4:PORT" or "[IPv6]:PORT", numeric only, as the config spells them. */
static int parse_listen(const char *v, struct sockaddr_storage *ss,
			socklen_t *sl)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *host = v, *end, *port;
	char h[INET6_ADDRSTRLEN];
	uint64_t p;
	int af = AF_INET;

	if (v[0] == '[') {
		host = v + 1;
		end = strchr(host, ']');
		if (!end || end[1] != ':')
			goto bad;
		af = AF_INET6;
		port = end + 2;
	} else {
		end = strrchr(v, ':');
		if (!end || memchr(v, ':', (size_t)(end - v)))
			goto bad;
		port = end + 1;
	}
	if ((size_t)(end - host) >= sizeof(h))
		goto bad;
	memcpy(h, host, (size_t)(end - host));
	h[end - host] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET ? inet_pton(af, h, &in4->sin_addr) != 1
			  : inet_pton(af, h, &in6->sin6_addr) != 1)
		goto bad;
	if (parse_num("--listen port", port, 0, 65535, &p))
		return -EINVAL;
	if (af == AF_INET) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*sl = sizeof(*in4);
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*sl = sizeof(*in6);
	}
	return 0;
bad:
	fprintf(stderr,
		PROG ": --listen '%s' is not a numeric IPv4:PORT or "
		     "[IPv6]:PORT\n",
		v);
	return -EINVAL;
}

static void addr_name(const struct sockaddr_storage *ss, char *b, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(b, n, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(b, n, "%s:%u", h, ntohs(a->sin_port));
	}
}

/* ---- the fake guest ----------------------------------------------------- */

/* A page's content at a version: text lines, every fourth version zero. */
static void page_fill(uint8_t *p, uint64_t pfn, uint64_t version)
{
	char line[64];
	size_t n;

	if (version % 4 == 3) {
		memset(p, 0, GUEST_PAGE);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "pfn %llu version %llu\n",
			     (unsigned long long)pfn,
			     (unsigned long long)version);
	for (size_t k = 0; k < GUEST_PAGE; k++)
		p[k] = (uint8_t)line[k % n];
}

static int guest_init(struct fp *fp)
{
	uint64_t npages = fp->o->mem / GUEST_PAGE;

	fp->ntracked = npages < TRACKED ? (size_t)npages : TRACKED;
	fp->cur = malloc(fp->ntracked * GUEST_PAGE);
	fp->sent = calloc(fp->ntracked, GUEST_PAGE);
	fp->console = malloc(fp->o->ticks * TICK_LINE_MAX + 1);
	if (!fp->cur || !fp->sent || !fp->console)
		return -ENOMEM;
	for (size_t i = 0; i < fp->ntracked; i++) {
		/* First and last page included, strictly ascending. */
		fp->pfn[i] = fp->ntracked > 1
				     ? i * (npages - 1) / (fp->ntracked - 1)
				     : 0;
		page_fill(fp->cur + i * GUEST_PAGE, fp->pfn[i], 0);
	}
	fp->next_epoch = 1;
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

static size_t queued(const struct peer *p)
{
	return p->out.len - p->out_off;
}

/* Sends what the socket takes now; -errno when the connection is dead. */
static int flush_out(struct peer *p)
{
	while (queued(p)) {
		ssize_t n = send(p->fd, p->out.p + p->out_off, queued(p),
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		p->out_off += (size_t)n;
	}
	if (!queued(p)) {
		p->out.len = p->out_off = 0;
	} else if (p->out_off > (1u << 20) && p->out_off > queued(p)) {
		/* A slow reader: keep the buffer from growing for ever. */
		memmove(p->out.p, p->out.p + p->out_off, queued(p));
		p->out.len -= p->out_off;
		p->out_off = 0;
	}
	return 0;
}

static void send_heartbeat(struct fp *fp)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	hb.term = fp->o->term;
	hb.last_epoch = fp->next_epoch - 1;
	hb.released = fp->released;
	if (fake_buf_put_msg(&fp->backup->out, WIRE_HEARTBEAT, &hb.base))
		fp->backup->why = "cannot queue a Heartbeat";
}

/* Refuses p with one line for its log; it is closed once that is out. */
static void refuse(struct fp *fp, struct peer *p, int permanent,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct fp *fp, struct peer *p, int permanent,
		   const char *fmt, ...)
{
	char reason[WIRE_REASON_MAX];
	Remora__Refuse r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	warn("refusing %s: %s", p->addr, reason);
	wire_refuse_init(&r, fp->o->term, fp->o->node, reason, permanent);
	if (fake_buf_put_msg(&p->out, WIRE_REFUSE, &r.base)) {
		p->why = "cannot queue a Refuse";
		return;
	}
	p->st = PEER_CLOSING;
	p->deadline_ms = now_ms() + LINGER_MS;
}

/*
 * The pages whose content differs from the backup's copy, into fp->list;
 * the backup now holds them (a lost epoch ends the connection, and the next
 * one starts from zero pages).
 */
static size_t take_changed(struct fp *fp)
{
	size_t n = 0;

	for (size_t i = 0; i < fp->ntracked; i++) {
		uint8_t *cur = fp->cur + i * GUEST_PAGE;
		uint8_t *old = fp->sent + i * GUEST_PAGE;

		if (!memcmp(cur, old, GUEST_PAGE))
			continue;
		fp->list[n++] = (struct fake_page){fp->pfn[i], cur, old};
	}
	return n;
}

static void sent_all(struct fp *fp)
{
	memcpy(fp->sent, fp->cur, fp->ntracked * GUEST_PAGE);
}

/* Builds epoch next_epoch into the backup's queue and records it. */
static int send_epoch(struct fp *fp, int precopy)
{
	struct fake_epoch_spec s = {
		.epoch = fp->next_epoch,
		.term = fp->o->term,
		.precopy = precopy,
		.page_size = GUEST_PAGE,
		.pages = fp->list,
	};
	size_t clen = 0;
	int ret;

	s.npages = take_changed(fp);
	if (!precopy) {
		s.state_len =
			fake_state_blob(fp->state, s.epoch, FAKE_STATE_OK);
		s.state = fp->state;
		for (uint64_t i = 1; i <= fp->o->ticks; i++)
			clen += (size_t)snprintf(
				fp->console + clen, TICK_LINE_MAX,
				"tick %llu\n",
				(unsigned long long)(fp->tick + i));
		s.console = fp->console;
		s.console_len = clen;
		s.console_off = fp->console_off;
	}
	ret = fake_epochs_build(&s, &fp->backup->out, NULL);
	if (ret)
		return ret;
	/* The pages' memory is the list's: mark them sent only now. */
	sent_all(fp);
	if (!precopy) {
		fp->tick += fp->o->ticks;
		fp->console_off += clen;
		if (!fp->first_checkpoint)
			fp->first_checkpoint = s.epoch;
	}
	fp->infl[fp->ninfl++] = (struct inflight){
		.epoch = s.epoch, .console_end = fp->console_off};
	fp->next_epoch++;
	return 0;
}

/* The guest runs for an epoch: a couple of its pages change. */
static void guest_step(struct fp *fp)
{
	for (size_t k = 0; k < CHANGED && k < fp->ntracked; k++) {
		size_t i =
			(size_t)((fp->next_epoch * CHANGED + k) % fp->ntracked);

		fp->version[i]++;
		page_fill(fp->cur + i * GUEST_PAGE, fp->pfn[i], fp->version[i]);
	}
}

static void on_epoch_tick(struct fp *fp)
{
	int ret;

	/* Like the real pipeline: a full window waits for Acks. */
	if (fp->ninfl == MAX_INFLIGHT || queued(fp->backup) > QUEUE_MAX)
		return;
	guest_step(fp);
	ret = send_epoch(fp, 0);
	if (ret) {
		warn("epoch %llu: %s", (unsigned long long)fp->next_epoch,
		     strerror(-ret));
		fp->backup->why = "cannot build an epoch";
	}
}

/* ---- receiving ---------------------------------------------------------- */

static const char *role_name(int role)
{
	return role == REMORA__ROLE__ROLE_PRIMARY ? "primary" : "backup";
}

static void replaced(struct fp *fp, const char *by, uint64_t term)
{
	say("replaced by %s in term %llu", by[0] ? by : "-",
	    (unsigned long long)term);
	fp->exit_code = EXIT_REPLACED;
	fp->done = 1;
}

static void attach_backup(struct fp *fp, struct peer *p, const Remora__Hello *h)
{
	const struct opts *o = fp->o;
	Remora__Hello me;
	int ret;

	wire_hello_init(&me, o->term, GUEST_PAGE, o->mem, o->cluster, o->node,
			REMORA__ROLE__ROLE_PRIMARY);
	if (fake_buf_put_msg(&p->out, WIRE_HELLO, &me.base)) {
		p->why = "cannot queue our Hello";
		return;
	}
	p->st = PEER_BACKUP;
	fp->backup = p;
	snprintf(p->node, sizeof(p->node), "%s", h->node);
	warn("backup %s at %s attached; syncing from epoch %llu", p->node,
	     p->addr, (unsigned long long)fp->next_epoch);
	/* A new sync: the backup builds its replica from zero pages. */
	memset(fp->sent, 0, fp->ntracked * GUEST_PAGE);
	fp->ninfl = 0;
	fp->synced = 0;
	fp->first_checkpoint = 0;
	fp->first_epoch = fp->next_epoch;
	ret = send_epoch(fp, 1);
	if (ret) {
		warn("pre-copy epoch: %s", strerror(-ret));
		p->why = "cannot build the pre-copy epoch";
		return;
	}
	fp->next_epoch_ms = now_ms() + fp->o->epoch_ms;
	fp->next_hb_ms = now_ms() + fp->o->hb_ms;
}

static void on_hello(struct fp *fp, struct peer *p, const Remora__Hello *h)
{
	const struct opts *o = fp->o;

	say("hello node=%s term=%llu role=%s", h->node,
	    (unsigned long long)h->term, role_name(h->role));
	if (h->role == REMORA__ROLE__ROLE_PRIMARY) {
		if (h->term > o->term) {
			replaced(fp, h->node, h->term);
			return;
		}
		refuse(fp, p, 0,
		       "%s is primary of term %llu; term %llu is not newer",
		       o->node, (unsigned long long)o->term,
		       (unsigned long long)h->term);
		return;
	}
	if (h->protocol_version != WIRE_PROTOCOL_VERSION)
		refuse(fp, p, 1, "primary %s speaks protocol %u, not %u",
		       o->node, WIRE_PROTOCOL_VERSION, h->protocol_version);
	else if (h->page_size != GUEST_PAGE || h->guest_mem_bytes != o->mem)
		refuse(fp, p, 1,
		       "primary %s runs %llu bytes of guest memory in %u-byte "
		       "pages, not %llu in %u-byte pages",
		       o->node, (unsigned long long)o->mem, GUEST_PAGE,
		       (unsigned long long)h->guest_mem_bytes, h->page_size);
	else if (strcmp(h->workload_id, o->cluster))
		refuse(fp, p, 1, "primary %s serves cluster '%s', not '%s'",
		       o->node, o->cluster, h->workload_id);
	else if (fp->backup)
		refuse(fp, p, 0, "primary %s already has backup %s", o->node,
		       fp->backup->node);
	else
		attach_backup(fp, p, h);
}

static void on_ack(struct fp *fp, struct peer *p, const Remora__Ack *a)
{
	uint64_t released = fp->released;
	size_t i = 0;

	if (a->epoch < fp->first_epoch || a->epoch >= fp->next_epoch) {
		warn("Ack of epoch %llu, but this connection sent epochs "
		     "%llu..%llu",
		     (unsigned long long)a->epoch,
		     (unsigned long long)fp->first_epoch,
		     (unsigned long long)fp->next_epoch - 1);
		p->why = "Ack of an epoch never sent";
		return;
	}
	say("acked %llu", (unsigned long long)a->epoch);
	while (i < fp->ninfl && fp->infl[i].epoch <= a->epoch)
		released = fp->infl[i++].console_end;
	memmove(fp->infl, fp->infl + i, (fp->ninfl - i) * sizeof(*fp->infl));
	fp->ninfl -= i;
	if (!fp->synced && fp->first_checkpoint &&
	    a->epoch >= fp->first_checkpoint) {
		fp->synced = 1;
		say("synced epoch=%llu",
		    (unsigned long long)fp->first_checkpoint);
	}
	if (released > fp->released) {
		/* Like the real primary: the backup hears of it at once. */
		fp->released = released;
		send_heartbeat(fp);
	}
}

static void on_refuse(struct fp *fp, struct peer *p, const Remora__Refuse *r)
{
	say("refused term=%llu primary=%s reason=%s",
	    (unsigned long long)r->term, r->primary[0] ? r->primary : "-",
	    r->reason);
	if (r->term > fp->o->term)
		replaced(fp, r->primary, r->term);
	else
		p->why = "refused by the peer";
}

struct feed_ctx {
	struct fp *fp;
	struct peer *p;
};

/* Called by frame_feed() for each frame; 1 stops it (p->why is set). */
static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct feed_ctx *x = opaque;
	struct fp *fp = x->fp;
	struct peer *p = x->p;
	struct wire_msg m;
	char err[256];

	if (wire_decode(type, payload, len, &m, err, sizeof(err))) {
		warn("%s: %s", p->addr, err);
		p->why = "malformed message";
		return 1;
	}
	if (p->st == PEER_CLOSING) {
		/* Refused: whatever it still says is not our business. */
	} else if (p->st == PEER_HELLO && m.type != WIRE_HELLO) {
		warn("%s: %s before Hello", p->addr, wire_type_name(m.type));
		p->why = "no Hello";
	} else if (m.type == WIRE_HELLO && p->st == PEER_HELLO) {
		on_hello(fp, p, m.hello);
	} else if (m.type == WIRE_ACK) {
		on_ack(fp, p, m.ack);
	} else if (m.type == WIRE_HEARTBEAT) {
		/* Liveness only; the backup's term and epoch are its own. */
	} else if (m.type == WIRE_REFUSE) {
		on_refuse(fp, p, m.refuse);
	} else {
		warn("%s: unexpected %s from the backup", p->addr,
		     wire_type_name(m.type));
		p->why = "unexpected message";
	}
	wire_msg_free(&m);
	return p->why || fp->done ? 1 : 0;
}

/* ---- connections -------------------------------------------------------- */

static void peer_close(struct fp *fp, struct peer *p, const char *why)
{
	if (p->st == PEER_FREE)
		return;
	if (p == fp->backup) {
		warn("backup %s at %s lost: %s", p->node, p->addr, why);
		say("lost");
		fp->backup = NULL;
		fp->ninfl = 0;
	} else if (p->st == PEER_HELLO) {
		warn("%s gone before Hello: %s", p->addr, why);
	}
	close(p->fd);
	frame_reader_free(&p->rd);
	fake_buf_free(&p->out);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

/* Every connection and the listening socket, at once (exit, SIGUSR2). */
static void close_all(struct fp *fp)
{
	for (size_t i = 0; i < NPEERS; i++) {
		struct peer *p = &fp->peers[i];

		if (p->st == PEER_FREE)
			continue;
		close(p->fd);
		frame_reader_free(&p->rd);
		fake_buf_free(&p->out);
		memset(p, 0, sizeof(*p));
		p->fd = -1;
	}
	fp->backup = NULL;
	if (fp->lfd >= 0)
		close(fp->lfd);
	fp->lfd = -1;
}

static void on_accept(struct fp *fp)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct peer *p = NULL;
	int fd, one = 1;

	fd = accept4(fp->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			warn("accept: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < NPEERS && !p; i++)
		if (fp->peers[i].st == PEER_FREE)
			p = &fp->peers[i];
	if (!p) { /* poll() does not ask while all are taken */
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->st = PEER_HELLO;
	p->fd = fd;
	p->deadline_ms = now_ms() + HELLO_MS;
	frame_reader_init(&p->rd, wire_type_max);
	addr_name(&ss, p->addr, sizeof(p->addr));
}

static void on_readable(struct fp *fp, struct peer *p)
{
	struct feed_ctx x = {fp, p};
	uint8_t buf[64 << 10];
	ssize_t n;
	int ret;

	n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		peer_close(fp, p,
			   n < 0 ? strerror(errno) : "connection closed");
		return;
	}
	if (fp->silent)
		return; /* hung: read and forget */
	ret = frame_feed(&p->rd, buf, (size_t)n, on_frame, &x);
	if (fp->done)
		return;
	if (ret < 0 && !p->why) {
		warn("%s: %s", p->addr, p->rd.why ? p->rd.why : "bad frame");
		p->why = "bad frame";
	}
	if (p->why)
		peer_close(fp, p, p->why);
}

static void on_writable(struct fp *fp, struct peer *p)
{
	int ret = flush_out(p);

	if (ret) {
		peer_close(fp, p, strerror(-ret));
		return;
	}
	if (p->st == PEER_CLOSING && !queued(p) && !p->shut) {
		shutdown(p->fd, SHUT_WR);
		p->shut = 1;
	}
}

/* Timers: heartbeats, epochs, peers that took too long. */
static void on_time(struct fp *fp, uint64_t now)
{
	if (fp->silent)
		return;
	for (size_t i = 0; i < NPEERS; i++) {
		struct peer *p = &fp->peers[i];

		if ((p->st == PEER_HELLO || p->st == PEER_CLOSING) &&
		    now >= p->deadline_ms)
			peer_close(fp, p,
				   p->st == PEER_HELLO ? "no Hello in time"
						       : "refused");
	}
	if (!fp->backup)
		return;
	if (now >= fp->next_epoch_ms) {
		on_epoch_tick(fp);
		fp->next_epoch_ms += fp->o->epoch_ms;
		if (fp->next_epoch_ms <= now) /* we fell behind: no burst */
			fp->next_epoch_ms = now + fp->o->epoch_ms;
	}
	if (fp->backup && now >= fp->next_hb_ms) {
		send_heartbeat(fp);
		fp->next_hb_ms = now + fp->o->hb_ms;
	}
	if (fp->backup && fp->backup->why)
		peer_close(fp, fp->backup, fp->backup->why);
}

/* Milliseconds poll() may sleep: until the next timer. */
static int poll_timeout(const struct fp *fp, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (fp->silent)
		return -1;
	for (size_t i = 0; i < NPEERS; i++) {
		const struct peer *p = &fp->peers[i];

		if ((p->st == PEER_HELLO || p->st == PEER_CLOSING) &&
		    p->deadline_ms < next)
			next = p->deadline_ms;
	}
	if (fp->backup) {
		if (fp->next_epoch_ms < next)
			next = fp->next_epoch_ms;
		if (fp->next_hb_ms < next)
			next = fp->next_hb_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

/* 1 when the loop must end. */
static int on_signal(struct fp *fp)
{
	struct signalfd_siginfo si;

	while (read(fp->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			if (!fp->silent)
				say("silent");
			fp->silent = 1;
			break;
		case SIGUSR2:
			close_all(fp);
			say("closed");
			fp->exit_code = 0;
			return 1;
		default: /* SIGTERM, SIGINT */
			warn("%s: exiting", strsignal((int)si.ssi_signo));
			fp->exit_code = 0;
			return 1;
		}
	}
	return 0;
}

static int run(struct fp *fp)
{
	struct pollfd pfd[2 + NPEERS];
	struct peer *who[2 + NPEERS];

	while (!fp->done) {
		uint64_t now = now_ms();
		nfds_t n = 0;
		int ret;

		on_time(fp, now);
		if (fp->done)
			break;
		pfd[n] = (struct pollfd){.fd = fp->sfd, .events = POLLIN};
		who[n++] = NULL;
		if (!fp->silent) {
			int free_slot = 0;

			for (size_t i = 0; i < NPEERS; i++)
				free_slot |= fp->peers[i].st == PEER_FREE;
			pfd[n] = (struct pollfd){.fd = free_slot ? fp->lfd : -1,
						 .events = POLLIN};
			who[n++] = NULL;
		}
		for (size_t i = 0; i < NPEERS; i++) {
			struct peer *p = &fp->peers[i];

			if (p->st == PEER_FREE)
				continue;
			pfd[n] = (struct pollfd){.fd = p->fd, .events = POLLIN};
			if (!fp->silent && queued(p))
				pfd[n].events |= POLLOUT;
			who[n++] = p;
		}
		ret = poll(pfd, n, poll_timeout(fp, now));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			warn("poll: %s", strerror(errno));
			return EXIT_SETUP;
		}
		if (pfd[0].revents && on_signal(fp))
			return fp->exit_code;
		for (nfds_t i = 1; i < n && !fp->done; i++) {
			struct peer *p = who[i];

			if (!p) {
				if (pfd[i].revents & POLLIN)
					on_accept(fp);
				continue;
			}
			/* A peer closed earlier in this round is gone. */
			if (p->st == PEER_FREE || p->fd != pfd[i].fd)
				continue;
			if (pfd[i].revents & POLLOUT)
				on_writable(fp, p);
			if (p->st != PEER_FREE &&
			    pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				on_readable(fp, p);
		}
	}
	return fp->exit_code;
}

/* ---- main --------------------------------------------------------------- */

static int listen_on(struct fp *fp)
{
	const struct opts *o = fp->o;
	struct sockaddr_storage ss;
	socklen_t sl;
	char name[80];
	int one = 1;

	fp->lfd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fp->lfd < 0) {
		warn("socket: %s", strerror(errno));
		return EXIT_SETUP;
	}
	setsockopt(fp->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fp->lfd, (const struct sockaddr *)&o->addr, o->addr_len) ||
	    listen(fp->lfd, 16)) {
		warn("listen on %s: %s", o->listen, strerror(errno));
		return EXIT_SETUP;
	}
	sl = sizeof(ss);
	getsockname(fp->lfd, (struct sockaddr *)&ss, &sl);
	addr_name(&ss, name, sizeof(name));
	say("listening %s", name);
	return 0;
}

static int signals_init(struct fp *fp)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		warn("sigprocmask: %s", strerror(errno));
		return EXIT_SETUP;
	}
	fp->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fp->sfd < 0) {
		warn("signalfd: %s", strerror(errno));
		return EXIT_SETUP;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct fp fp;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	memset(&fp, 0, sizeof(fp));
	fp.o = &o;
	fp.lfd = fp.sfd = -1;
	for (size_t i = 0; i < NPEERS; i++)
		fp.peers[i].fd = -1;
	if (guest_init(&fp)) {
		warn("out of memory");
		ret = EXIT_SETUP;
		goto out;
	}
	ret = signals_init(&fp);
	if (!ret)
		ret = listen_on(&fp);
	if (!ret)
		ret = run(&fp);
out:
	close_all(&fp);
	if (fp.sfd >= 0)
		close(fp.sfd);
	free(fp.cur);
	free(fp.sent);
	free(fp.console);
	return ret;
}
