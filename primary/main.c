/*
 * remora-primary: runs the workload and replicates it to the backup.
 *
 *   remora-primary -c remora.conf --node a     (replicated, see epoch.h)
 *   remora-primary --standalone ...            (no replication, standalone.c)
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT); the guest's exit code
 * (134 abort, 139 crash, 70 bad hypercall or VMM failure) when it ended by
 * itself; 1 for set-up errors (config, KVM, image, address); 2 for usage
 * errors.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "main.h"
#include "paths.h"
#include "workloads.h"

#define PROG "remora-primary"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG
		" -c FILE --node NAME [--stats FILE] [--events FILE]\n"
		"       " PROG " --standalone ... (see " PROG
		" --standalone --help)\n"
		"\n"
		"Runs the workload of FILE's [workload] section as node NAME, "
		"whose role\nin FILE must be primary, and replicates it to the "
		"backup node: the\nguest's console output is released only "
		"once the backup holds the\nepoch that produced it.\n"
		"\n"
		"  -c, --config FILE   the deployment's remora.conf\n"
		"  -n, --node NAME     this node's [node NAME] section\n"
		"      --stats FILE    at exit, write pipeline statistics "
		"(JSON) to FILE\n"
		"      --events FILE   append one JSON line per state change "
		"and decision\n"
		"                      to FILE (docs/design.md lists them)\n"
		"  -v, --verbose       debug logging\n"
		"  -h, --help          this text\n"
		"\n"
		"Stop with SIGTERM or SIGINT: the last epoch is sent and "
		"acknowledged\nbefore the primary exits.\n");
}

struct opts {
	struct daemon_opts d; /* -c, --node, --events, -v */
	const char *stats;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"stats", required_argument, NULL, 's'},
		{"events", required_argument, NULL, 'e'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->d.prog = PROG;
	o->d.role = "primary";
	while ((c = getopt_long(argc, argv, "c:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->d.config = optarg;
			break;
		case 'n':
			o->d.node = optarg;
			break;
		case 's':
			o->stats = optarg;
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
	if (optind < argc) {
		fprintf(stderr,
			PROG ": unexpected argument '%s' (guest arguments "
			     "belong in [workload] args)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->d.config || !o->d.node) {
		fprintf(stderr, PROG ": -c FILE and --node NAME are required "
				     "(or --standalone)\n");
		return EXIT_USAGE;
	}
	return 0;
}

static int run(const struct config *cfg, const struct config_node *self,
	       const struct opts *o)
{
	static struct primary p; /* large (statistics); one per process */
	struct primary_opts po = {.term = 1};
	struct workload_made m;
	char line[1024];
	int ret, sink, code;

	/* As a promoted backup opens its own (paths.h): same checks, same
	 * line. */
	sink = paths_open_console(cfg, self, line, sizeof(line));
	if (sink < 0) {
		log_error("%s", line);
		return 1;
	}
	if (primary_preflight(cfg, line, sizeof(line)) ||
	    workloads_make(cfg, self, &m, line, sizeof(line))) {
		log_error("%s", line);
		close(sink);
		return 1;
	}
	po.sink_fd = sink;
	code = primary_serve(&p, cfg, self, &m.wl, &po);
	if (code < 0) {
		m.destroy(m.owned);
		close(sink);
		return 1;
	}
	if (o->stats && (ret = primary_write_stats(&p, o->stats)))
		log_error("--stats %s: %s", o->stats, strerror(-ret));
	m.destroy(m.owned); /* the workload first: it feeds the output */
	primary_finish(&p);
	close(sink);
	log_info("stopped with exit status %d", code);
	return code;
}

int main(int argc, char **argv)
{
	const struct config_node *self;
	struct config *cfg;
	char err[CONFIG_ERR_MAX];
	struct opts o;
	int i, ret;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (strcmp(argv[i], "--standalone") == 0)
			return standalone_main(argc, argv);
	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	cfg = daemon_start(&o.d);
	if (!cfg)
		return 1;
	self = config_self(cfg, o.d.node, CONFIG_ROLE_PRIMARY, err,
			   sizeof(err));
	if (!self) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
	} else {
		ret = run(cfg, self, &o);
	}
	daemon_finish(cfg);
	return ret;
}
