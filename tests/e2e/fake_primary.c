/*
 * fake_primary: the real primary (primary/: its core, its shell, its
 * encoder) over a synthetic workload (synth.h) instead of a VM, so that the
 * real remora-backup's failure detection, fencing and terms can be tested
 * end to end where /dev/kvm is missing. The protocol is the primary's own:
 * there is no second copy of it here.
 *
 *   fake_primary -c FILE --node NAME [--term T] [--ticks-per-epoch N]
 *                [--events FILE] [-v]
 *
 * Runs node NAME of FILE (any role) as a primary of term T (default 1):
 * it listens on the node's replication_address, syncs a backup that
 * attaches and sends it a checkpoint every epoch_interval. What happens is
 * told as the daemons tell it: a log on stderr and, with --events, the
 * primary's events (docs/design.md), plus one "acked" event per Ack and a
 * "listening" event once the port is bound.
 *
 * Tests make it fail as a host would: SIGSTOP (hung, its connections
 * still up), SIGKILL (crashed: the kernel closes its connections).
 * SIGTERM or SIGINT drain and stop, as remora-primary does. Exit status:
 * 0, 1 for set-up errors, 2 for usage, 3 replaced by a newer primary.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "epoch.h"
#include "log.h"
#include "paths.h"
#include "synth.h"

#define PROG	   "fake_primary"
#define EXIT_USAGE 2
#define TERM_MAX   (1ull << 62)
#define TICKS_MAX  100000ull

struct opts {
	struct daemon_opts d; /* -c, --node, --events, -v */
	uint64_t term, ticks;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " -c FILE --node NAME [--term T] "
		   "[--ticks-per-epoch N] [--events FILE] [-v]\n");
}

/* A whole decimal number in [min, max], or a usage error naming flag. */
static int parse_num(const char *flag, const char *s, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr,
			PROG ": %s %s: want a number from %llu to %llu\n", flag,
			s, (unsigned long long)min, (unsigned long long)max);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"term", required_argument, NULL, 't'},
		{"ticks-per-epoch", required_argument, NULL, 'k'},
		{"events", required_argument, NULL, 'e'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, ret = 0;

	memset(o, 0, sizeof(*o));
	o->d.prog = PROG;
	o->d.role = "primary";
	o->term = 1;
	o->ticks = 1;
	while (!ret &&
	       (c = getopt_long(argc, argv, "c:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->d.config = optarg;
			break;
		case 'n':
			o->d.node = optarg;
			break;
		case 't':
			ret = parse_num("--term", optarg, 1, TERM_MAX,
					&o->term);
			break;
		case 'k':
			ret = parse_num("--ticks-per-epoch", optarg, 0,
					TICKS_MAX, &o->ticks);
			break;
		case 'e':
			o->d.events = optarg;
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
	if (ret)
		return ret;
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

static int run(const struct config *cfg, const struct config_node *self,
	       const struct opts *o)
{
	static struct primary p; /* large (statistics) */
	static struct synth s;
	struct primary_opts po = {.term = o->term, .acked_events = 1};
	struct workload wl;
	char err[1024];
	int ret;

	/* The same sink, checked the same way, as the daemons'. */
	po.sink_fd = paths_open_console(cfg, self, err, sizeof(err));
	if (po.sink_fd < 0) {
		log_error("%s", err);
		return 1;
	}
	ret = synth_init(&s, cfg->workload.memory, o->ticks,
			 cfg->replication.max_inflight_epochs + 1);
	if (ret) {
		log_error("synthetic guest: %s", strerror(-ret));
		ret = -1;
	} else {
		wl = synth_workload(&s);
		ret = primary_serve(&p, cfg, self, &wl, &po);
		if (ret >= 0)
			primary_finish(&p);
	}
	synth_destroy(&s);
	close(po.sink_fd);
	return ret < 0 ? 1 : ret;
}

int main(int argc, char **argv)
{
	const struct config_node *self;
	struct config *cfg;
	struct opts o;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	cfg = daemon_start(&o.d);
	if (!cfg)
		return 1;
	self = config_node(cfg, o.d.node);
	if (!self) {
		fprintf(stderr, PROG ": %s: no [node %s]\n", cfg->path,
			o.d.node);
		ret = 1;
	} else {
		ret = run(cfg, self, &o);
	}
	daemon_finish(cfg);
	return ret;
}
