/*
 * Daemon start-up (daemon.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "events.h"
#include "log.h"

struct config *daemon_start(const struct daemon_opts *o)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;
	int ret;

	/* A peer that resets makes a write fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	log_init(o->prog, o->node, o->verbose ? LOG_DEBUG : LOG_INFO);
	if (o->events && (ret = events_init(o->events, o->node, o->role))) {
		fprintf(stderr, "%s: --events %s: %s\n", o->prog, o->events,
			strerror(-ret));
		return NULL;
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "%s: out of memory\n", o->prog);
		events_close();
		return NULL;
	}
	if (config_load(o->config, cfg, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", o->prog, err);
		daemon_finish(cfg);
		return NULL;
	}
	return cfg;
}

void daemon_finish(struct config *cfg)
{
	free(cfg);
	events_close();
}
