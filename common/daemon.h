/*
 * What every daemon (remora-primary, remora-backup, the tests' fake_primary)
 * does before its loop, in one place: a peer that resets must not kill it,
 * it logs under its name and node, writes events if asked, and loads the
 * deployment's config.
 */
#ifndef REMORA_DAEMON_H
#define REMORA_DAEMON_H

#include "config.h"

struct daemon_opts {
	const char *prog;   /* for log lines and errors */
	const char *node;   /* --node */
	const char *config; /* -c */
	const char *events; /* --events, or NULL */
	const char *role;   /* the events' role: "primary" or "backup" */
	int verbose;	    /* -v: debug logging */
};

/*
 * Ignores SIGPIPE, sets up logging and events, and loads the config.
 * Returns it (free it with daemon_finish()), or NULL after one line on
 * stderr that names the problem (file:line for the config).
 */
struct config *daemon_start(const struct daemon_opts *o);

/* Frees the config and closes the events file. */
void daemon_finish(struct config *cfg);

#endif
