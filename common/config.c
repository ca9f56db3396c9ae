/*
 * The deployment config (remora.conf). libinih splits the text into
 * sections and KEY = VALUE pairs; this file checks every pair as it arrives
 * and every section as it closes, and stops at the first error.
 *
 * libinih's handler, as ini.h declares it, is told neither the line number
 * nor when a section starts, and libinih silently splits a line longer than
 * its buffer (200 bytes in Debian's build) into several. So the text goes
 * through our own reader (ini_parse_stream): it counts lines, refuses
 * over-long lines and NUL bytes, and notices section headers, using
 * libinih's own rule for them (a '[' first on a line that cannot continue
 * the previous value). That lets us report a missing key at its section's
 * header and catch empty, unknown and repeated sections. Splitting KEY =
 * VALUE, comments and whitespace are left to libinih.
 *
 * libinih reads an indented line after a key as a continuation of that
 * key's value (Python configparser style). Only args, which can outgrow a
 * line, accepts that; anywhere else it is an error, since an indented key
 * would otherwise vanish into the previous value.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "units.h"

#define CONFIG_FILE_MAX (1u << 20)

enum section {
	SEC_NONE, /* before the first header */
	SEC_CLUSTER,
	SEC_NODE,
	SEC_WORKLOAD,
	SEC_REPLICATION,
	SEC_FAILOVER,
	SEC_COUNT
};

static const char *const section_names[SEC_COUNT] = {
	[SEC_CLUSTER] = "cluster",   [SEC_NODE] = "node",
	[SEC_WORKLOAD] = "workload", [SEC_REPLICATION] = "replication",
	[SEC_FAILOVER] = "failover",
};

enum key {
	K_CLUSTER_NAME,
	K_NODE_ADDRESS,
	K_NODE_SOCKET,
	K_NODE_ROLE,
	K_NODE_CONSOLE,
	K_TYPE,
	K_GUEST,
	K_MEMORY,
	K_ARGS,
	K_CONSOLE,
	K_EPOCH_INTERVAL,
	K_COMPRESSION,
	K_DELTA,
	K_MAX_INFLIGHT,
	K_DELTA_CACHE,
	K_PRECOPY_ROUNDS,
	K_PRECOPY_STOP,
	K_HB_INTERVAL,
	K_HB_TIMEOUT,
	K_ON_CONN_LOSS,
	K_HEALTH_CMD,
	K_HEALTH_INTERVAL,
	K_HEALTH_TIMEOUT,
	K_FENCE_CMD,
	K_FENCE_TIMEOUT,
	K_ON_BACKUP_LOSS,
	K_COUNT
};

static const struct {
	enum section sec;
	const char *name;
} keys[K_COUNT] = {
	[K_CLUSTER_NAME] = {SEC_CLUSTER, "name"},
	[K_NODE_ADDRESS] = {SEC_NODE, "replication_address"},
	[K_NODE_SOCKET] = {SEC_NODE, "control_socket"},
	[K_NODE_ROLE] = {SEC_NODE, "role"},
	[K_NODE_CONSOLE] = {SEC_NODE, "console"},
	[K_TYPE] = {SEC_WORKLOAD, "type"},
	[K_GUEST] = {SEC_WORKLOAD, "guest"},
	[K_MEMORY] = {SEC_WORKLOAD, "memory"},
	[K_ARGS] = {SEC_WORKLOAD, "args"},
	[K_CONSOLE] = {SEC_WORKLOAD, "console"},
	[K_EPOCH_INTERVAL] = {SEC_REPLICATION, "epoch_interval"},
	[K_COMPRESSION] = {SEC_REPLICATION, "compression"},
	[K_DELTA] = {SEC_REPLICATION, "delta"},
	[K_MAX_INFLIGHT] = {SEC_REPLICATION, "max_inflight_epochs"},
	[K_DELTA_CACHE] = {SEC_REPLICATION, "delta_cache"},
	[K_PRECOPY_ROUNDS] = {SEC_REPLICATION, "precopy_max_rounds"},
	[K_PRECOPY_STOP] = {SEC_REPLICATION, "precopy_stop_pages"},
	[K_HB_INTERVAL] = {SEC_FAILOVER, "heartbeat_interval"},
	[K_HB_TIMEOUT] = {SEC_FAILOVER, "heartbeat_timeout"},
	[K_ON_CONN_LOSS] = {SEC_FAILOVER, "on_connection_loss"},
	[K_HEALTH_CMD] = {SEC_FAILOVER, "health_check_command"},
	[K_HEALTH_INTERVAL] = {SEC_FAILOVER, "health_check_interval"},
	[K_HEALTH_TIMEOUT] = {SEC_FAILOVER, "health_check_timeout"},
	[K_FENCE_CMD] = {SEC_FAILOVER, "fence_command"},
	[K_FENCE_TIMEOUT] = {SEC_FAILOVER, "fence_timeout"},
	[K_ON_BACKUP_LOSS] = {SEC_FAILOVER, "on_backup_loss"},
};

/* What one parse knows besides the config it fills; libinih passes it on. */
struct ctx {
	struct config *c;
	const char *name; /* the file, for messages */
	const char *dir;  /* where relative paths start */

	const char *text; /* the reader's position in the text */
	size_t len, pos;
	int lineno;	  /* of the line libinih is working on */
	const char *line; /* that line, without its end */
	size_t line_len;
	int indented; /* that line starts with white space */
	int prev_key; /* libinih would continue a key's value */
	enum key last_key;

	/* the open section */
	enum section sec;
	char header[256]; /* between its brackets */
	int sec_line;
	char label[CONFIG_NAME_MAX + 8]; /* "[node a]", for messages */
	struct config_node *node;	 /* in [node NAME] */
	int seen[K_COUNT];		 /* line of each key set in it */
	int headers[SEC_COUNT];		 /* line of each single section */

	char *err;
	size_t errlen;
	int failed;
	int err_line;
};

static void fail(struct ctx *x, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Keeps the first error only: the one line the operator will read. */
static void fail(struct ctx *x, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->failed)
		return;
	x->failed = 1;
	x->err_line = line;
	if (!x->err || !x->errlen)
		return;
	if (line > 0)
		n = snprintf(x->err, x->errlen, "%s:%d: ", x->name, line);
	else
		n = snprintf(x->err, x->errlen, "%s: ", x->name);
	if (n < 0 || (size_t)n >= x->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

#define SHOW_MAX 48

/*
 * Text from the file as a message may quote it: at most 40 bytes, control
 * characters as '?', so that the message stays one short line.
 */
static const char *show(char *buf, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 40; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		/* Not in the middle of a UTF-8 character. */
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* Decimal digits only: no sign, no space, no trailing junk, no overflow. */
static int parse_uint(const char *s, uint64_t *v)
{
	*v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (*v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		*v = *v * 10 + d;
	}
	return 0;
}

/* A duration as the operator would write it back: "100ms", "1s". */
static const char *fmt_duration(char *buf, size_t size, uint64_t ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} u[] = {
		{"h", 3600000000000ull}, {"min", 60000000000ull},
		{"s", 1000000000ull},	 {"ms", 1000000ull},
		{"us", 1000ull},
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (ns && ns % u[i].ns == 0) {
			snprintf(buf, size, "%llu%s",
				 (unsigned long long)(ns / u[i].ns), u[i].unit);
			return buf;
		}
	snprintf(buf, size, "%lluns", (unsigned long long)ns);
	return buf;
}

static int name_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-')
			return 0;
	return 1;
}

/* Cluster and node names: they end up in file names and log lines. */
static int check_name(struct ctx *x, int line, const char *what, const char *v)
{
	char b[SHOW_MAX];

	if (strlen(v) >= CONFIG_NAME_MAX) {
		fail(x, line, "%s: '%s' is longer than %d characters", what,
		     show(b, v), CONFIG_NAME_MAX - 1);
		return -1;
	}
	if (!name_ok(v)) {
		fail(x, line, "%s: '%s' may only contain A-Z a-z 0-9 . _ -",
		     what, show(b, v));
		return -1;
	}
	return 0;
}

/* range is "" for a quantity bounded only by its type. */
static void check_range(struct ctx *x, const char *name, const char *v, int err,
			uint64_t val, uint64_t lo, uint64_t hi,
			const char *range)
{
	char b[SHOW_MAX];

	if (err && !*range)
		fail(x, x->lineno, "%s: '%s' is too large", name, show(b, v));
	else if (err || val < lo || val > hi)
		fail(x, x->lineno, "%s: '%s' is out of range (%s)", name,
		     show(b, v), range);
}

static void set_uint(struct ctx *x, enum key k, const char *v, uint64_t lo,
		     uint64_t hi, uint64_t *out)
{
	char b[SHOW_MAX], range[48] = "";
	int err = parse_uint(v, out);

	if (err == -EINVAL) {
		fail(x, x->lineno, "%s: '%s' is not a decimal number",
		     keys[k].name, show(b, v));
		return;
	}
	if (hi != UINT64_MAX)
		snprintf(range, sizeof(range), "%llu..%llu",
			 (unsigned long long)lo, (unsigned long long)hi);
	check_range(x, keys[k].name, v, err, *out, lo, hi, range);
}

static void set_size(struct ctx *x, enum key k, const char *v, uint64_t lo,
		     uint64_t hi, const char *range, uint64_t *out)
{
	const char *name = keys[k].name, *why = "";
	char b[SHOW_MAX];
	int err = units_parse_size(v, out, &why);

	if (err == -EINVAL)
		fail(x, x->lineno, "%s: '%s': %s", name, show(b, v), why);
	else
		check_range(x, name, v, err, *out, lo, hi, range);
}

static void set_duration(struct ctx *x, enum key k, const char *v, uint64_t lo,
			 uint64_t hi, const char *range, const char *example,
			 uint64_t *out)
{
	const char *name = keys[k].name, *why = "";
	char b[SHOW_MAX];
	uint64_t n;
	int err = units_parse_duration(v, out, &why);

	if (err == -EINVAL && parse_uint(v, &n) == 0)
		fail(x, x->lineno, "%s: '%s' needs a unit, e.g. %s", name,
		     show(b, v), example);
	else if (err == -EINVAL)
		fail(x, x->lineno, "%s: '%s': %s", name, show(b, v), why);
	else
		check_range(x, name, v, err, *out, lo, hi, range);
}

/*
 * A path from the file, relative ones taken from the file's directory so
 * that the config means the same whatever directory a daemon starts in.
 * "-" (stdout) stays as it is where allowed.
 */
static void set_path(struct ctx *x, enum key k, const char *v, int dash_ok,
		     char *dst, size_t size)
{
	const char *dir = x->dir, *sep = "/";
	char b[SHOW_MAX];
	int n;

	if (v[0] == '/' || (dash_ok && strcmp(v, "-") == 0) || !dir || !*dir ||
	    strcmp(dir, ".") == 0)
		dir = sep = "";
	else if (dir[strlen(dir) - 1] == '/')
		sep = "";
	n = snprintf(dst, size, "%s%s%s", dir, sep, v);
	if (n < 0 || (size_t)n >= size)
		fail(x, x->lineno,
		     "%s: '%s' makes a path of %d bytes (at most %zu)",
		     keys[k].name, show(b, v), n, size - 1);
}

/* "IPv4:PORT" or "[IPv6]:PORT", numeric only: no name is ever resolved. */
static void set_address(struct ctx *x, const char *v, struct config_node *n)
{
	const char *name = keys[K_NODE_ADDRESS].name, *host, *port, *end;
	unsigned char addr[16];
	char b[SHOW_MAX], h[64];
	size_t hl;
	uint64_t p;
	int af;

	if (v[0] == '[') {
		end = strchr(v, ']');
		if (!end) {
			fail(x, x->lineno,
			     "%s: '%s' has no closing ']', e.g. [::1]:7301",
			     name, show(b, v));
			return;
		}
		host = v + 1;
		af = AF_INET6;
		if (end[1] != ':') {
			fail(x, x->lineno,
			     "%s: '%s' has no port, e.g. [::1]:7301", name,
			     show(b, v));
			return;
		}
		port = end + 2;
	} else {
		end = strrchr(v, ':');
		if (!end) {
			fail(x, x->lineno,
			     "%s: '%s' has no port, e.g. 127.0.0.1:7301", name,
			     show(b, v));
			return;
		}
		if (memchr(v, ':', (size_t)(end - v))) {
			fail(x, x->lineno,
			     "%s: '%s': an IPv6 address goes in brackets, e.g. "
			     "[::1]:7301",
			     name, show(b, v));
			return;
		}
		host = v;
		af = AF_INET;
		port = end + 1;
	}
	hl = (size_t)(end - host);
	if (hl >= sizeof(h) ||
	    (memcpy(h, host, hl), h[hl] = '\0', inet_pton(af, h, addr) != 1)) {
		fail(x, x->lineno,
		     "%s: '%s' is not a numeric %s address and port (names are "
		     "not resolved)",
		     name, show(b, v), af == AF_INET ? "IPv4" : "IPv6");
		return;
	}
	if (parse_uint(port, &p) == -EINVAL) {
		fail(x, x->lineno, "%s: port '%s' is not a decimal number",
		     name, show(b, port));
		return;
	}
	if (parse_uint(port, &p) || p < 1 || p > 65535) {
		fail(x, x->lineno, "%s: port '%s' is out of range (1..65535)",
		     name, show(b, port));
		return;
	}
	/* One spelling per address, so that equal addresses compare equal. */
	inet_ntop(af, addr, n->host, sizeof(n->host));
	n->port = (uint16_t)p;
}

static void set_bool(struct ctx *x, enum key k, const char *v, int *out)
{
	static const char *const yes[] = {"on", "yes", "true"};
	static const char *const no[] = {"off", "no", "false"};
	char b[SHOW_MAX];

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = 0;
			return;
		}
	}
	fail(x, x->lineno, "%s: '%s' is not on or off", keys[k].name,
	     show(b, v));
}

/* A shell command line for /bin/sh -c (empty values never get here). */
static void set_command(struct ctx *x, enum key k, const char *v, char *out)
{
	size_t i, n = strlen(v);

	if (n >= CONFIG_CMD_MAX) {
		fail(x, x->lineno, "%s: longer than %d bytes", keys[k].name,
		     CONFIG_CMD_MAX - 1);
		return;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			fail(x, x->lineno, "%s: control character at byte %zu",
			     keys[k].name, i + 1);
			return;
		}
	}
	memcpy(out, v, n + 1);
}

static void set_value(struct ctx *x, enum key k, const char *v)
{
	struct config *c = x->c;
	struct config_node *n = x->node;
	const char *name = keys[k].name;
	char b[SHOW_MAX];
	uint64_t u;

	switch (k) {
	case K_CLUSTER_NAME:
		if (check_name(x, x->lineno, name, v) == 0)
			strcpy(c->cluster, v);
		break;
	case K_NODE_ADDRESS:
		set_address(x, v, n);
		break;
	case K_NODE_SOCKET:
		set_path(x, k, v, 0, n->control_socket,
			 sizeof(n->control_socket));
		break;
	case K_NODE_ROLE:
		if (strcmp(v, "primary") == 0)
			n->role = CONFIG_ROLE_PRIMARY;
		else if (strcmp(v, "backup") == 0)
			n->role = CONFIG_ROLE_BACKUP;
		else
			fail(x, x->lineno,
			     "%s: '%s' is not a role (primary or backup)", name,
			     show(b, v));
		break;
	case K_NODE_CONSOLE:
		set_path(x, k, v, 1, n->console, sizeof(n->console));
		break;
	case K_TYPE:
		if (strcmp(v, "kvm") == 0)
			strcpy(c->workload.type, v);
		else
			fail(x, x->lineno,
			     "%s: '%s' is not supported (only kvm)", name,
			     show(b, v));
		break;
	case K_GUEST:
		set_path(x, k, v, 0, c->workload.guest,
			 sizeof(c->workload.guest));
		break;
	case K_MEMORY:
		set_size(x, k, v, 4ull << 20, 4ull << 30, "4M..4G",
			 &c->workload.memory);
		if (!x->failed && c->workload.memory % (2u << 20))
			fail(x, x->lineno, "%s: '%s' is not a multiple of 2M",
			     name, show(b, v));
		break;
	case K_ARGS:
		if (strlen(v) >= sizeof(c->workload.args))
			fail(x, x->lineno, "%s: longer than %zu bytes", name,
			     sizeof(c->workload.args) - 1);
		else
			strcpy(c->workload.args, v);
		break;
	case K_CONSOLE:
		set_path(x, k, v, 1, c->workload.console,
			 sizeof(c->workload.console));
		break;
	case K_EPOCH_INTERVAL:
		set_duration(x, k, v, 1000000ull, 600000000000ull, "1ms..10min",
			     "25ms", &c->replication.epoch_interval_ns);
		break;
	case K_COMPRESSION:
		if (strcmp(v, "lz4") == 0)
			c->replication.compression = CONFIG_COMPRESSION_LZ4;
		else if (strcmp(v, "none") == 0)
			c->replication.compression = CONFIG_COMPRESSION_NONE;
		else
			fail(x, x->lineno,
			     "%s: '%s' is not supported (lz4 or none)", name,
			     show(b, v));
		break;
	case K_DELTA:
		set_bool(x, k, v, &c->replication.delta);
		break;
	case K_MAX_INFLIGHT:
		set_uint(x, k, v, 1, 64, &u);
		c->replication.max_inflight_epochs = (uint32_t)u;
		break;
	case K_DELTA_CACHE:
		set_size(x, k, v, 0, UINT64_MAX, "",
			 &c->replication.delta_cache);
		break;
	case K_PRECOPY_ROUNDS:
		set_uint(x, k, v, 1, 100, &u);
		c->replication.precopy_max_rounds = (uint32_t)u;
		break;
	case K_PRECOPY_STOP:
		set_uint(x, k, v, 0, UINT64_MAX,
			 &c->replication.precopy_stop_pages);
		break;
	case K_HB_INTERVAL:
		set_duration(x, k, v, 1000000ull, 60000000000ull, "1ms..1min",
			     "100ms", &c->failover.heartbeat_interval_ns);
		break;
	case K_HB_TIMEOUT:
		set_duration(x, k, v, 0, UINT64_MAX, "", "1s",
			     &c->failover.heartbeat_timeout_ns);
		break;
	case K_ON_CONN_LOSS:
		if (strcmp(v, "wait-timeout") == 0)
			c->failover.on_connection_loss = CONFIG_CONN_LOSS_WAIT;
		else if (strcmp(v, "promote") == 0)
			c->failover.on_connection_loss =
				CONFIG_CONN_LOSS_PROMOTE;
		else
			fail(x, x->lineno,
			     "%s: '%s' is not wait-timeout or promote", name,
			     show(b, v));
		break;
	case K_HEALTH_CMD:
		set_command(x, k, v, c->failover.health_check_command);
		break;
	case K_HEALTH_INTERVAL:
		set_duration(x, k, v, 10000000ull, 3600000000000ull, "10ms..1h",
			     "1s", &c->failover.health_check_interval_ns);
		break;
	case K_HEALTH_TIMEOUT:
		set_duration(x, k, v, 1000000ull, 600000000000ull, "1ms..10min",
			     "2s", &c->failover.health_check_timeout_ns);
		break;
	case K_FENCE_CMD:
		set_command(x, k, v, c->failover.fence_command);
		break;
	case K_FENCE_TIMEOUT:
		set_duration(x, k, v, 1000000ull, 600000000000ull, "1ms..10min",
			     "10s", &c->failover.fence_timeout_ns);
		break;
	case K_ON_BACKUP_LOSS:
		if (strcmp(v, "continue") == 0)
			c->failover.on_backup_loss =
				CONFIG_BACKUP_LOSS_CONTINUE;
		else if (strcmp(v, "pause") == 0)
			c->failover.on_backup_loss = CONFIG_BACKUP_LOSS_PAUSE;
		else
			fail(x, x->lineno, "%s: '%s' is not continue or pause",
			     name, show(b, v));
		break;
	case K_COUNT:
		break;
	}
}

/* The checks that need the whole section: required keys, cross-keys. */
static void close_section(struct ctx *x)
{
	struct config *c = x->c;
	struct config_node *n = x->node;
	char b1[32], b2[32];

	switch (x->sec) {
	case SEC_CLUSTER:
		if (!x->seen[K_CLUSTER_NAME])
			fail(x, x->sec_line, "[cluster]: name is required");
		break;
	case SEC_NODE:
		if (!x->seen[K_NODE_ADDRESS]) {
			fail(x, x->sec_line,
			     "%s: replication_address is required", x->label);
			break;
		}
		if (!x->seen[K_NODE_ROLE]) {
			fail(x, x->sec_line, "%s: role is required", x->label);
			break;
		}
		if (!x->seen[K_NODE_SOCKET])
			snprintf(n->control_socket, sizeof(n->control_socket),
				 "/run/remora/%s.sock", n->name);
		for (struct config_node *o = c->nodes; o < n; o++) {
			if (o->role == CONFIG_ROLE_PRIMARY &&
			    n->role == CONFIG_ROLE_PRIMARY) {
				fail(x, x->sec_line,
				     "%s: a second primary (node %s at line %d "
				     "is primary; one node starts as primary)",
				     x->label, o->name, o->line);
				break;
			}
			if (o->port == n->port && !strcmp(o->host, n->host)) {
				fail(x, x->sec_line,
				     "%s: replication_address is also node "
				     "%s's (line %d)",
				     x->label, o->name, o->line);
				break;
			}
		}
		break;
	case SEC_WORKLOAD:
		if (!x->seen[K_GUEST])
			fail(x, x->sec_line, "[workload]: guest is required");
		break;
	case SEC_FAILOVER:
		if (c->failover.heartbeat_timeout_ns >
		    c->failover.heartbeat_interval_ns)
			break;
		fmt_duration(b1, sizeof(b1), c->failover.heartbeat_timeout_ns);
		fmt_duration(b2, sizeof(b2), c->failover.heartbeat_interval_ns);
		if (x->seen[K_HB_TIMEOUT])
			fail(x, x->seen[K_HB_TIMEOUT],
			     "heartbeat_timeout: %s must be longer than "
			     "heartbeat_interval (%s)",
			     b1, b2);
		else
			fail(x, x->seen[K_HB_INTERVAL],
			     "heartbeat_interval: %s must be shorter than "
			     "heartbeat_timeout (%s, the default)",
			     b2, b1);
		break;
	case SEC_NONE:
	case SEC_REPLICATION:
	case SEC_COUNT:
		break;
	}
	x->sec = SEC_NONE;
	x->node = NULL;
}

/* A header "[h]" at the current line: closes the open section, opens h. */
static void open_section(struct ctx *x, const char *h)
{
	struct config *c = x->c;
	const char *nodename;
	char b[SHOW_MAX], what[SHOW_MAX + 8];
	enum section s;

	close_section(x);
	if (x->failed)
		return;
	for (s = SEC_CLUSTER; s < SEC_COUNT; s++)
		if (strcmp(h, section_names[s]) == 0)
			break;
	if (strncmp(h, "node", 4) == 0 && (h[4] == '\0' || h[4] == ' '))
		s = SEC_NODE;
	if (s == SEC_COUNT) {
		fail(x, x->lineno,
		     "[%s]: unknown section (expected [cluster], [node NAME], "
		     "[workload], [replication] or [failover])",
		     show(b, h));
		return;
	}
	memset(x->seen, 0, sizeof(x->seen));
	x->sec = s;
	x->sec_line = x->lineno;
	if (s != SEC_NODE) {
		if (x->headers[s]) {
			fail(x, x->lineno,
			     "[%s]: duplicate section (first at line %d)", h,
			     x->headers[s]);
			return;
		}
		x->headers[s] = x->lineno;
		snprintf(x->label, sizeof(x->label), "[%s]", section_names[s]);
		return;
	}

	nodename = h[4] ? h + 5 : "";
	if (!*nodename) {
		fail(x, x->lineno,
		     "[node]: a node needs a name, e.g. [node a]");
		return;
	}
	snprintf(what, sizeof(what), "[node %s]", show(b, nodename));
	if (check_name(x, x->lineno, what, nodename))
		return;
	snprintf(x->label, sizeof(x->label), "[node %.*s]", CONFIG_NAME_MAX - 1,
		 nodename);
	for (int i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i].name, nodename) == 0) {
			fail(x, x->lineno,
			     "%s: duplicate node name (first at line %d)",
			     x->label, c->nodes[i].line);
			return;
		}
	if (c->nnodes == CONFIG_NODES_MAX) {
		fail(x, x->lineno, "%s: too many nodes (at most %d)", x->label,
		     CONFIG_NODES_MAX);
		return;
	}
	x->node = &c->nodes[c->nnodes++];
	memset(x->node, 0, sizeof(*x->node));
	strcpy(x->node->name, nodename);
	x->node->line = x->lineno;
}

/*
 * Looks at the line libinih is about to get, as libinih will: after a BOM
 * on the first line and leading white space, '[' starts a section header
 * unless the line is indented under a key (then it continues that key's
 * value). The header ends at ']' or, as in libinih, at an inline comment
 * (';' after white space), which is an error.
 */
static void look_at_line(struct ctx *x, const char *s, size_t n)
{
	const char *p = s, *end = s + n, *q;
	char h[256], b[SHOW_MAX];

	if (x->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	x->indented = p < end && isspace((unsigned char)*p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p == end || *p != '[' || (x->indented && x->prev_key))
		return;
	for (q = p + 1; q < end && *q != ']'; q++)
		if (*q == ';' && isspace((unsigned char)q[-1]))
			break;
	if (q == end || *q != ']') {
		snprintf(h, sizeof(h), "%.*s", (int)(end - p), p);
		fail(x, x->lineno, "'%s': section header without a closing ']'",
		     show(b, h));
		return;
	}
	snprintf(h, sizeof(h), "%.*s", (int)(q - p - 1), p + 1);
	for (q++; q < end && isspace((unsigned char)*q); q++)
		;
	if (q < end && *q != ';' && *q != '#') {
		fail(x, x->lineno, "[%s]: unexpected text after ']'",
		     show(b, h));
		return;
	}
	x->prev_key = 0;
	memcpy(x->header, h, sizeof(x->header));
	open_section(x, h);
}

/*
 * libinih's fgets: one line of the text per call. Stops libinih at the
 * first error, and at a line it would split: the buffer holds num - 1
 * bytes with the '\n', so a line may have num - 3 bytes besides "\r\n".
 */
static char *reader(char *str, int num, void *stream)
{
	struct ctx *x = stream;
	const char *s = x->text + x->pos, *nl;
	size_t n, content;

	if (x->failed || x->pos >= x->len)
		return NULL;
	nl = memchr(s, '\n', x->len - x->pos);
	n = nl ? (size_t)(nl - s) + 1 : x->len - x->pos;
	content = nl ? n - 1 : n;
	if (content && s[content - 1] == '\r')
		content--;
	x->lineno++;
	if (memchr(s, '\0', n)) {
		fail(x, x->lineno, "line contains a NUL byte");
		return NULL;
	}
	if (num < 3 || content > (size_t)num - 3) {
		fail(x, x->lineno, "line longer than %d bytes", num - 3);
		return NULL;
	}
	x->line = s;
	x->line_len = content;
	look_at_line(x, s, content);
	if (x->failed)
		return NULL;
	memcpy(str, s, n);
	str[n] = '\0';
	x->pos += n;
	return str;
}

/* A line that is not KEY = VALUE: the current one, or libinih's line. */
static void fail_line(struct ctx *x)
{
	char h[256], b[SHOW_MAX];

	snprintf(h, sizeof(h), "%.*s", (int)x->line_len, x->line);
	fail(x, x->lineno, "expected KEY = VALUE, found '%s'", show(b, h));
}

/* libinih reports a line it could not split, by number only. */
static void fail_syntax(struct ctx *x, int line)
{
	const char *s = x->text, *end = x->text + x->len, *nl;

	for (int i = 1; i < line && s < end; i++) {
		nl = memchr(s, '\n', (size_t)(end - s));
		s = nl ? nl + 1 : end;
	}
	nl = memchr(s, '\n', (size_t)(end - s));
	x->line = s;
	x->line_len = (size_t)((nl ? nl : end) - s);
	if (x->line_len && s[x->line_len - 1] == '\r')
		x->line_len--;
	x->lineno = line;
	x->failed = 0;
	fail_line(x);
}

/* An indented line after args: more of the command line, after a space. */
static void continue_args(struct ctx *x, const char *v)
{
	char *args = x->c->workload.args;
	size_t have = strlen(args), add;
	const char *end;

	/* libinih 55 leaves inline comments on continuation lines. */
	for (end = v; *end; end++)
		if (*end == ';' && end > v && isspace((unsigned char)end[-1]))
			break;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	add = (size_t)(end - v);
	if (!add)
		return;
	if (have + 1 + add >= CONFIG_ARGS_MAX) {
		fail(x, x->lineno, "args: longer than %d bytes",
		     CONFIG_ARGS_MAX - 1);
		return;
	}
	args[have] = ' ';
	memcpy(args + have + 1, v, add);
	args[have + 1 + add] = '\0';
}

/* libinih's handler: one KEY = VALUE of the current line. */
static int on_pair(void *user, const char *section, const char *name,
		   const char *value)
{
	struct ctx *x = user;
	char b[SHOW_MAX], b2[SHOW_MAX];
	int k;

	if (x->failed)
		return 0;
	/* Ours is the whole header; libinih's is cut at 49 bytes. */
	if (strncmp(section, x->header, 49) != 0) {
		fail(x, x->lineno,
		     "internal error: libinih sees [%s], remora [%s]",
		     show(b, section), show(b2, x->header));
		return 0;
	}
	if (x->indented && x->prev_key) {
		if (x->last_key == K_ARGS && strcmp(name, "args") == 0)
			continue_args(x, value);
		else
			fail(x, x->lineno,
			     "%s: indented line is read as more of the value "
			     "of %s (only args may span lines; remove the "
			     "indentation)",
			     show(b, name), b);
		return !x->failed;
	}
	x->prev_key = 1;
	if (!*name) {
		fail_line(x);
		return 0;
	}
	if (x->sec == SEC_NONE) {
		fail(x, x->lineno, "%s: key outside any section",
		     show(b, name));
		return 0;
	}
	for (k = 0; k < K_COUNT; k++)
		if (keys[k].sec == x->sec && strcmp(keys[k].name, name) == 0)
			break;
	if (k == K_COUNT) {
		fail(x, x->lineno, "%s: unknown key in %s", show(b, name),
		     x->label);
		return 0;
	}
	if (x->seen[k]) {
		fail(x, x->lineno, "%s: duplicate key (first at line %d)", name,
		     x->seen[k]);
		return 0;
	}
	if (!*value) {
		fail(x, x->lineno,
		     "%s: empty value (remove the line to get the default)",
		     name);
		return 0;
	}
	set_value(x, (enum key)k, value);
	x->seen[k] = x->lineno;
	x->last_key = (enum key)k;
	return !x->failed;
}

static void set_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->workload.type, "kvm");
	c->workload.memory = 64ull << 20;
	strcpy(c->workload.console, "-");
	c->replication.epoch_interval_ns = 25000000ull;
	c->replication.compression = CONFIG_COMPRESSION_LZ4;
	c->replication.delta = 1;
	c->replication.max_inflight_epochs = 4;
	c->replication.delta_cache = 256ull << 20;
	c->replication.precopy_max_rounds = 5;
	c->replication.precopy_stop_pages = 256;
	c->failover.heartbeat_interval_ns = 100000000ull;
	c->failover.heartbeat_timeout_ns = 1000000000ull;
	c->failover.on_connection_loss = CONFIG_CONN_LOSS_WAIT;
	c->failover.health_check_interval_ns = 1000000000ull;
	c->failover.health_check_timeout_ns = 2000000000ull;
	c->failover.fence_timeout_ns = 10000000000ull;
	c->failover.on_backup_loss = CONFIG_BACKUP_LOSS_CONTINUE;
}

int config_parse(const char *text, size_t len, const char *name,
		 const char *dir, struct config *c, char *err, size_t errlen)
{
	struct ctx x = {
		.c = c,
		.name = name,
		.dir = dir,
		.text = text,
		.len = len,
		.err = err,
		.errlen = errlen,
	};
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!name)
		x.name = name = "config";
	set_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", name);

	ret = ini_parse_stream(reader, &x, on_pair, &x);
	if (ret < 0) {
		fail(&x, 0, "out of memory");
		return -ENOMEM;
	}
	if (!x.failed)
		close_section(&x);
	/* libinih keeps going after a line it cannot split: first one wins. */
	if (ret > 0 && (!x.failed || ret < x.err_line))
		fail_syntax(&x, ret);

	if (!x.headers[SEC_CLUSTER])
		fail(&x, 0, "[cluster] section is missing");
	if (!c->nnodes)
		fail(&x, 0, "no [node NAME] section");
	if (!config_node_by_role(c, CONFIG_ROLE_PRIMARY))
		fail(&x, 0, "no node has role = primary");
	if (!x.headers[SEC_WORKLOAD])
		fail(&x, 0, "[workload] section is missing");
	return x.failed ? -EINVAL : 0;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	char *text, *dir, *slash;
	size_t len = 0;
	ssize_t r;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err_open;
	}
	/* One byte more than allowed, to tell a full file from a big one. */
	text = malloc(CONFIG_FILE_MAX + 1);
	if (!text) {
		ret = -ENOMEM;
		goto err_alloc;
	}
	do {
		r = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto err_read;
		}
		len += (size_t)r;
	} while (r > 0 && len <= CONFIG_FILE_MAX);
	close(fd);
	if (len > CONFIG_FILE_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes", path,
				 CONFIG_FILE_MAX);
		free(text);
		return -EFBIG;
	}

	dir = strdup(path);
	if (!dir) {
		free(text);
		ret = -ENOMEM;
		goto err_open;
	}
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	ret = config_parse(text, len, path, dir, c, err, errlen);
	free(dir);
	free(text);
	return ret;

err_read:
	free(text);
err_alloc:
	close(fd);
err_open:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	return ret;
}

const struct config_node *config_node(const struct config *c, const char *name)
{
	for (int i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

const struct config_node *config_node_by_role(const struct config *c,
					      enum config_role role)
{
	for (int i = 0; i < c->nnodes; i++)
		if (c->nodes[i].role == role)
			return &c->nodes[i];
	return NULL;
}

const struct config_node *config_self(const struct config *c, const char *name,
				      enum config_role role, char *err,
				      size_t errlen)
{
	const struct config_node *n = config_node(c, name);

	if (!n) {
		snprintf(err, errlen, "%s: no [node %s]", c->path, name);
		return NULL;
	}
	if (n->role != role) {
		snprintf(err, errlen,
			 "%s:%d: [node %s]: role is %s; start remora-%s there, "
			 "or name the %s's node",
			 c->path, n->line, name, config_role_name(n->role),
			 config_role_name(n->role), config_role_name(role));
		return NULL;
	}
	return n;
}

const char *config_console(const struct config *c, const struct config_node *n)
{
	return n && n->console[0] ? n->console : c->workload.console;
}

const char *config_role_name(enum config_role role)
{
	switch (role) {
	case CONFIG_ROLE_PRIMARY:
		return "primary";
	case CONFIG_ROLE_BACKUP:
		return "backup";
	}
	return "unknown";
}
