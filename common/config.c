/*
 * The deployment config (remora.conf). libinih splits the text into
 * sections and KEY = VALUE pairs; this file looks each pair up in the key
 * table (config_keys.c) and has its type's parser (config_value.c) check it
 * as it arrives, checks every section as it closes (the table's required
 * keys, then the checks that involve several keys), and stops at the first
 * error.
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
 * key's value (Python configparser style). Only a key flagged
 * CONFIG_KEY_LINES (args, command, environment: they can outgrow a line)
 * accepts that; anywhere else it is an error, since an indented key would
 * otherwise vanish into the previous value.
 *
 * [workload] type decides which of the workload's keys belong (the table's
 * CONFIG_KEY_KVM and CONFIG_KEY_PROCESS), and for process the range and
 * default of [replication] epoch_interval, which may come before it: so
 * the line of every key set outside [node NAME] is kept for the whole file
 * (those sections appear once each).
 *
 * [service] likewise needs other sections: it is only for type = process,
 * and its host end's default name is made from [cluster] name. Each such
 * check runs once both of its sections have closed, in either order, and
 * reports at the line that has to change.
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
#include "config_keys.h"
#include "paths.h"
#include "units.h"

#define CONFIG_FILE_MAX (1u << 20)

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
	const struct config_key *last_key;

	/* the open section */
	enum config_section sec;
	char header[256]; /* between its brackets */
	int sec_line;
	char label[CONFIG_NAME_MAX + 8]; /* "[node a]", for messages */
	struct config_node *node;	 /* in [node NAME] */
	/* line of each key set: in the open [node NAME] for a node's keys,
	 * in the file for the others */
	int seen[CONFIG_KEYS_MAX];
	int headers[CONFIG_SEC_COUNT]; /* line of each single section */

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

/* The struct that key k fills: the config, or the open [node NAME]. */
static char *base_of(struct ctx *x, const struct config_key *k)
{
	return k->sec == CONFIG_SEC_NODE ? (char *)x->node : (char *)x->c;
}

/*
 * The defaults of the keys outside [node NAME] (node NULL) or of one node's
 * keys. A default that its own key refuses is a bug in config_keys.c, which
 * tests/unit/test_config.c catches; this only keeps it from passing quietly.
 */
static void apply_defaults(struct ctx *x, int line, struct config_node *node)
{
	char msg[CONFIG_ERR_MAX];

	for (size_t i = 0; i < config_nkeys && !x->failed; i++) {
		const struct config_key *k = &config_keys[i];

		if ((k->sec == CONFIG_SEC_NODE) != (node != NULL))
			continue;
		if (config_key_default(k, base_of(x, k),
				       node ? node->name : NULL, x->dir, msg,
				       sizeof(msg)))
			fail(x, line, "internal error: default %s", msg);
	}
}

/* The line where section sec set the key called name, or 0. */
static int set_at(const struct ctx *x, enum config_section sec,
		  const char *name)
{
	const struct config_key *k = config_key_find(sec, name);

	return k ? x->seen[k - config_keys] : 0;
}

/* The line where the open section set the key called name, or 0. */
static int seen_at(const struct ctx *x, const char *name)
{
	return set_at(x, x->sec, name);
}

/* A [node NAME] against the nodes before it. */
static void check_node(struct ctx *x)
{
	struct config_node *n = x->node;

	for (struct config_node *o = x->c->nodes; o < n; o++) {
		if (o->role == CONFIG_ROLE_PRIMARY &&
		    n->role == CONFIG_ROLE_PRIMARY) {
			fail(x, x->sec_line,
			     "%s: a second primary (node %s at line %d "
			     "is primary; one node starts as primary)",
			     x->label, o->name, o->line);
			return;
		}
		if (o->port == n->port && !strcmp(o->host, n->host)) {
			fail(x, x->sec_line,
			     "%s: replication_address is also node "
			     "%s's (line %d)",
			     x->label, o->name, o->line);
			return;
		}
	}
}

/* heartbeat_timeout > heartbeat_interval, at the line that breaks it. */
static void check_failover(struct ctx *x)
{
	const struct config *c = x->c;
	char b1[32], b2[32];
	int timeout_line = seen_at(x, "heartbeat_timeout");

	if (c->failover.arbiter == CONFIG_ARBITER_ETCD &&
	    !c->failover.etcd_endpoints[0]) {
		fail(x, seen_at(x, "arbiter"),
		     "arbiter: etcd needs etcd_endpoints (e.g. "
		     "etcd_endpoints = http://127.0.0.1:2379)");
		return;
	}
	if (c->failover.heartbeat_timeout_ns >
	    c->failover.heartbeat_interval_ns)
		return;
	units_format_duration(b1, sizeof(b1), c->failover.heartbeat_timeout_ns);
	units_format_duration(b2, sizeof(b2),
			      c->failover.heartbeat_interval_ns);
	if (timeout_line)
		fail(x, timeout_line,
		     "heartbeat_timeout: %s must be longer than "
		     "heartbeat_interval (%s)",
		     b1, b2);
	else
		fail(x, seen_at(x, "heartbeat_interval"),
		     "heartbeat_interval: %s must be shorter than "
		     "heartbeat_timeout (%s, the default)",
		     b2, b1);
}

/*
 * [cluster]: TLS takes its three files or none, and is instead of key_file,
 * not besides it (a node would otherwise speak one and its peer expect the
 * other, or the operator believe both protect the link).
 */
static void check_cluster(struct ctx *x)
{
	static const char *const tls[3] = {"tls_certificate", "tls_private_key",
					   "tls_ca"};
	const char *first = NULL, *missing[3];
	int line = 0, n = 0, at, key_line = seen_at(x, "key_file");

	for (int i = 0; i < 3; i++) {
		at = seen_at(x, tls[i]);
		if (!at)
			missing[n++] = tls[i];
		else if (!line || at < line) {
			line = at;
			first = tls[i];
		}
	}
	if (!first)
		return;
	if (n == 1)
		fail(x, line,
		     "%s: TLS needs %s too (set all three tls_* keys, "
		     "or none)",
		     first, missing[0]);
	else if (n == 2)
		fail(x, line,
		     "%s: TLS needs %s and %s too (set all three tls_* keys, "
		     "or none)",
		     first, missing[0], missing[1]);
	else if (key_line)
		fail(x, line,
		     "%s: key_file is set too (line %d); pick one: key_file "
		     "(a pre-shared key) or tls_* (certificates)",
		     first, key_line);
}

/* [workload]: a key of the other type, at the first line that sets one. */
static void check_workload(struct ctx *x)
{
	enum config_workload kind = x->c->workload.kind;
	const struct config_key *first = NULL;
	int line = 0;

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->sec == CONFIG_SEC_WORKLOAD && x->seen[i] &&
		    !config_key_for(k, kind) && (!line || x->seen[i] < line)) {
			line = x->seen[i];
			first = k;
		}
	}
	if (first)
		fail(x, line, "%s: only for type = %s", first->name,
		     config_workload_name(kind == CONFIG_WORKLOAD_KVM
						  ? CONFIG_WORKLOAD_PROCESS
						  : CONFIG_WORKLOAD_KVM));
}

/*
 * A process is dumped by CRIU at every epoch, which takes milliseconds to
 * tens of them: shorter epochs would be mostly pause. So it gets its own
 * range, and a default that leaves it running most of the time.
 */
#define PROCESS_EPOCH_MIN     20000000ull     /* 20ms */
#define PROCESS_EPOCH_MAX     600000000000ull /* 10min */
#define PROCESS_EPOCH_DEFAULT 200000000ull    /* 200ms */

/*
 * epoch_interval against type = process, once both [workload] and
 * [replication] have closed (in either order): at the line that set it.
 */
static void check_process_epoch(struct ctx *x)
{
	uint64_t v = x->c->replication.epoch_interval_ns;
	int line = set_at(x, CONFIG_SEC_REPLICATION, "epoch_interval");
	char b[32], lo[32], hi[32];

	if (x->c->workload.kind != CONFIG_WORKLOAD_PROCESS || !line ||
	    (v >= PROCESS_EPOCH_MIN && v <= PROCESS_EPOCH_MAX))
		return;
	fail(x, line,
	     "epoch_interval: %s is out of range for type = process (%s..%s)",
	     units_format_duration(b, sizeof(b), v),
	     units_format_duration(lo, sizeof(lo), PROCESS_EPOCH_MIN),
	     units_format_duration(hi, sizeof(hi), PROCESS_EPOCH_MAX));
}

/*
 * [replication]: every epoch copies the hot pages (vm.h), so they must
 * leave room in the slot max_epoch_size reserves, at most half of it; more
 * would start every epoch early, back to back.
 */
static void check_replication(struct ctx *x)
{
	const struct config *c = x->c;
	uint64_t hot = (uint64_t)c->replication.hot_pages * 4096;
	int line = seen_at(x, "hot_pages");
	char b[32];

	if (hot <= c->replication.max_epoch_size / 2)
		return;
	units_format_size(b, sizeof(b), c->replication.max_epoch_size);
	if (line)
		fail(x, line,
		     "hot_pages: %u pages (%llu KiB) must be at most half of "
		     "max_epoch_size (%s): every epoch copies them",
		     c->replication.hot_pages, (unsigned long long)(hot >> 10),
		     b);
	else
		fail(x, seen_at(x, "max_epoch_size"),
		     "max_epoch_size: %s must be at least twice hot_pages "
		     "(%u pages, the default): every epoch copies them",
		     b, c->replication.hot_pages);
}

/* The prefix's mask, host byte order: /24 is 0xffffff00. */
static uint32_t prefix_mask(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/*
 * [service] on its own: the gateway is a neighbour on address's prefix
 * (the kernel could not reach it otherwise), and without a bridge there
 * must be one: the host end is then the service's only way out.
 */
static void check_service(struct ctx *x)
{
	const struct config *c = x->c;
	uint32_t a = ntohl(c->service.address.s_addr);
	uint32_t g = ntohl(c->service.gateway.s_addr);
	uint32_t mask = prefix_mask(c->service.prefix);
	int line = seen_at(x, "gateway");
	char net[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	struct in_addr n = {.s_addr = htonl(a & mask)};

	inet_ntop(AF_INET, &n, net, sizeof(net));
	inet_ntop(AF_INET, &c->service.gateway, gw, sizeof(gw));
	if (!c->service.has_gateway && !c->service.bridge[0])
		fail(x, x->sec_line,
		     "[service]: gateway is required without bridge (the "
		     "host end routes the service: give the next hop it "
		     "uses, e.g. the first address of its prefix)");
	else if (!c->service.has_gateway)
		return;
	else if ((g & mask) != (a & mask))
		fail(x, line,
		     "gateway: %s is outside address's prefix (%s/%d, line %d)",
		     gw, net, c->service.prefix, seen_at(x, "address"));
	else if (g == a)
		fail(x, line, "gateway: %s is the service's own address", gw);
	else if (c->service.prefix <= 30 && (g & ~mask) == 0)
		fail(x, line, "gateway: %s is the network address of %s/%d", gw,
		     net, c->service.prefix);
	else if (c->service.prefix <= 30 && (g & ~mask) == ~mask)
		fail(x, line, "gateway: %s is the broadcast address of %s/%d",
		     gw, net, c->service.prefix);
}

/*
 * [service] against [workload] (once both have closed, in either order):
 * only a process runs in a network namespace remora makes.
 */
static void check_service_workload(struct ctx *x)
{
	const struct config *c = x->c;

	if (c->workload.kind == CONFIG_WORKLOAD_PROCESS)
		return;
	fail(x, x->headers[CONFIG_SEC_SERVICE],
	     "[service]: only for [workload] type = process (type is %s%s)",
	     config_workload_name(c->workload.kind),
	     set_at(x, CONFIG_SEC_WORKLOAD, "type") ? "" : ", the default");
}

/*
 * [service] against [cluster] (once both have closed): the host end's
 * default name is the cluster's, which must fit in IFNAMSIZ; and the
 * bridge cannot be the host end itself.
 */
static void check_service_names(struct ctx *x)
{
	struct config *c = x->c;
	char name[CONFIG_NAME_MAX + 8];

	if (!set_at(x, CONFIG_SEC_SERVICE, "interface")) {
		snprintf(name, sizeof(name), "rm-%s", c->cluster);
		if (strlen(name) >= sizeof(c->service.interface)) {
			fail(x, x->headers[CONFIG_SEC_SERVICE],
			     "[service]: the host end's default name %s is "
			     "longer than %zu characters; set interface",
			     name, sizeof(c->service.interface) - 1);
			return;
		}
		strcpy(c->service.interface, name);
	}
	if (strcmp(c->service.bridge, c->service.interface) == 0)
		fail(x, set_at(x, CONFIG_SEC_SERVICE, "bridge"),
		     "bridge: %s is the host end's own name (interface); "
		     "name the bridge it joins",
		     c->service.bridge);
}

/* Whether the open section and section other, both seen, close now. */
static int both_closed(const struct ctx *x, enum config_section a,
		       enum config_section b)
{
	return (x->sec == a && x->headers[b]) || (x->sec == b && x->headers[a]);
}

/*
 * The checks that need the whole section: its required keys (those the
 * table gives no default, of the workload's type), then the ones that
 * involve several keys.
 */
static void close_section(struct ctx *x)
{
	enum config_workload kind = x->c->workload.kind;

	for (size_t i = 0; i < config_nkeys && x->sec != CONFIG_SEC_NONE; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->sec == x->sec && !k->def && !x->seen[i] &&
		    config_key_for(k, kind)) {
			fail(x, x->sec_line, "%s: %s is required", x->label,
			     k->name);
			break;
		}
	}
	if (!x->failed && x->sec == CONFIG_SEC_CLUSTER)
		check_cluster(x);
	if (!x->failed && x->sec == CONFIG_SEC_NODE)
		check_node(x);
	if (!x->failed && x->sec == CONFIG_SEC_WORKLOAD)
		check_workload(x);
	if (!x->failed && ((x->sec == CONFIG_SEC_WORKLOAD &&
			    x->headers[CONFIG_SEC_REPLICATION]) ||
			   (x->sec == CONFIG_SEC_REPLICATION &&
			    x->headers[CONFIG_SEC_WORKLOAD])))
		check_process_epoch(x);
	if (!x->failed && x->sec == CONFIG_SEC_FAILOVER)
		check_failover(x);
	if (!x->failed && x->sec == CONFIG_SEC_REPLICATION)
		check_replication(x);
	if (!x->failed && x->sec == CONFIG_SEC_SERVICE)
		check_service(x);
	if (!x->failed &&
	    both_closed(x, CONFIG_SEC_SERVICE, CONFIG_SEC_WORKLOAD))
		check_service_workload(x);
	if (!x->failed &&
	    both_closed(x, CONFIG_SEC_SERVICE, CONFIG_SEC_CLUSTER))
		check_service_names(x);
	x->sec = CONFIG_SEC_NONE;
	x->node = NULL;
}

/* A header "[h]" at the current line: closes the open section, opens h. */
static void open_section(struct ctx *x, const char *h)
{
	struct config *c = x->c;
	const char *nodename;
	char b[CONFIG_SHOW_MAX], what[CONFIG_SHOW_MAX + 8], msg[CONFIG_ERR_MAX];
	enum config_section s;

	close_section(x);
	if (x->failed)
		return;
	for (s = CONFIG_SEC_CLUSTER; s < CONFIG_SEC_COUNT; s++)
		if (strcmp(h, config_section_names[s]) == 0)
			break;
	if (strncmp(h, "node", 4) == 0 && (h[4] == '\0' || h[4] == ' '))
		s = CONFIG_SEC_NODE;
	if (s == CONFIG_SEC_COUNT) {
		fail(x, x->lineno,
		     "[%s]: unknown section (expected [cluster], [node NAME], "
		     "[workload], [service], [replication] or [failover])",
		     config_show(b, h));
		return;
	}
	/* A node's keys start over; the other sections come once. */
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].sec == CONFIG_SEC_NODE)
			x->seen[i] = 0;
	x->sec = s;
	x->sec_line = x->lineno;
	if (s != CONFIG_SEC_NODE) {
		if (x->headers[s]) {
			fail(x, x->lineno,
			     "[%s]: duplicate section (first at line %d)", h,
			     x->headers[s]);
			return;
		}
		x->headers[s] = x->lineno;
		snprintf(x->label, sizeof(x->label), "[%s]",
			 config_section_names[s]);
		c->service.enabled |= s == CONFIG_SEC_SERVICE;
		return;
	}

	nodename = h[4] ? h + 5 : "";
	if (!*nodename) {
		fail(x, x->lineno,
		     "[node]: a node needs a name, e.g. [node a]");
		return;
	}
	snprintf(what, sizeof(what), "[node %s]", config_show(b, nodename));
	if (config_check_name(what, nodename, CONFIG_NAME_MAX, msg,
			      sizeof(msg))) {
		fail(x, x->lineno, "%s", msg);
		return;
	}
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
	apply_defaults(x, x->lineno, x->node);
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
	char h[256], b[CONFIG_SHOW_MAX];

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
		     config_show(b, h));
		return;
	}
	snprintf(h, sizeof(h), "%.*s", (int)(q - p - 1), p + 1);
	for (q++; q < end && isspace((unsigned char)*q); q++)
		;
	if (q < end && *q != ';' && *q != '#') {
		fail(x, x->lineno, "[%s]: unexpected text after ']'",
		     config_show(b, h));
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
	char h[256], b[CONFIG_SHOW_MAX];

	snprintf(h, sizeof(h), "%.*s", (int)x->line_len, x->line);
	fail(x, x->lineno, "expected KEY = VALUE, found '%s'",
	     config_show(b, h));
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

/*
 * Words (command, environment) are quoted, and ";" between quotes is not a
 * comment; but libinih cuts a value at the first ";" after white space. So
 * their parser gets the value as the line has it: after the first '=' or
 * ':' (a key's name has neither), or the whole of a continuation line;
 * leading white space skipped, comments left to the parser.
 */
static int quoted_key(const struct config_key *k)
{
	return k->type == CONFIG_T_ARGV || k->type == CONFIG_T_ENVIRON;
}

static const char *raw_value(const struct ctx *x, int more, char *buf,
			     size_t size)
{
	const char *s = x->line, *end = x->line + x->line_len;

	/* The text may not end in a NUL: stay inside the line. */
	while (!more && s < end && *s != '=' && *s != ':')
		s++;
	if (!more && s < end)
		s++;
	while (s < end && isspace((unsigned char)*s))
		s++;
	/* The reader let no line longer than buf through. */
	snprintf(buf, size, "%.*s", s < end ? (int)(end - s) : 0, s);
	return buf;
}

/*
 * An indented line after a key that may span lines (args, command,
 * environment): more of its value, by its type's parser (config_value.c).
 */
static void continue_value(struct ctx *x, const struct config_key *k,
			   const char *v)
{
	char line[256], msg[CONFIG_ERR_MAX];
	const char *end;

	if (quoted_key(k)) {
		v = raw_value(x, 1, line, sizeof(line));
	} else {
		/* libinih 55 leaves inline comments on continuation lines. */
		for (end = v; *end; end++)
			if (*end == ';' && end > v &&
			    isspace((unsigned char)end[-1]))
				break;
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		snprintf(line, sizeof(line), "%.*s", (int)(end - v), v);
		v = line;
	}
	if (config_key_append(k, base_of(x, k), v, msg, sizeof(msg)))
		fail(x, x->lineno, "%s", msg);
}

/* "args, command and environment": the keys that may span lines. */
static const char *lines_keys(char *buf, size_t size)
{
	size_t n = 0, left = 0;

	for (size_t i = 0; i < config_nkeys; i++)
		left += (config_keys[i].flags & CONFIG_KEY_LINES) != 0;
	buf[0] = '\0';
	for (size_t i = 0; i < config_nkeys && n < size; i++) {
		if (!(config_keys[i].flags & CONFIG_KEY_LINES))
			continue;
		left--;
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
				      config_keys[i].name,
				      left > 1	  ? ", "
				      : left == 1 ? " and "
						  : "");
	}
	return buf;
}

/* Key k's value, by the parser of its type (config_value.c). */
static void set_value(struct ctx *x, const struct config_key *k, const char *v)
{
	char msg[CONFIG_ERR_MAX], line[256];

	if (quoted_key(k))
		v = raw_value(x, 0, line, sizeof(line));
	if (config_key_set(k, base_of(x, k), v, x->dir, msg, sizeof(msg)))
		fail(x, x->lineno, "%s", msg);
}

/* libinih's handler: one KEY = VALUE of the current line. */
static int on_pair(void *user, const char *section, const char *name,
		   const char *value)
{
	struct ctx *x = user;
	char b[CONFIG_SHOW_MAX], b2[CONFIG_SHOW_MAX], keys[128];
	const struct config_key *k;
	size_t i;

	if (x->failed)
		return 0;
	/* Ours is the whole header; libinih's is cut at 49 bytes. */
	if (strncmp(section, x->header, 49) != 0) {
		fail(x, x->lineno,
		     "internal error: libinih sees [%s], remora [%s]",
		     config_show(b, section), config_show(b2, x->header));
		return 0;
	}
	if (x->indented && x->prev_key) {
		if (x->last_key && (x->last_key->flags & CONFIG_KEY_LINES) &&
		    strcmp(name, x->last_key->name) == 0)
			continue_value(x, x->last_key, value);
		else
			fail(x, x->lineno,
			     "%s: indented line is read as more of the value "
			     "of %s (only %s may span lines; remove the "
			     "indentation)",
			     config_show(b, name), b,
			     lines_keys(keys, sizeof(keys)));
		return !x->failed;
	}
	x->prev_key = 1;
	if (!*name) {
		fail_line(x);
		return 0;
	}
	if (x->sec == CONFIG_SEC_NONE) {
		fail(x, x->lineno, "%s: key outside any section",
		     config_show(b, name));
		return 0;
	}
	k = config_key_find(x->sec, name);
	if (!k) {
		fail(x, x->lineno, "%s: unknown key in %s",
		     config_show(b, name), x->label);
		return 0;
	}
	i = (size_t)(k - config_keys);
	if (x->seen[i]) {
		fail(x, x->lineno, "%s: duplicate key (first at line %d)", name,
		     x->seen[i]);
		return 0;
	}
	if (!*value) {
		fail(x, x->lineno,
		     "%s: empty value (remove the line to get the default)",
		     name);
		return 0;
	}
	set_value(x, k, value);
	x->seen[i] = x->lineno;
	x->last_key = k;
	return !x->failed;
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
	memset(c, 0, sizeof(*c));
	apply_defaults(&x, 0, NULL);
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

	if (!x.headers[CONFIG_SEC_CLUSTER])
		fail(&x, 0, "[cluster] section is missing");
	if (!c->nnodes)
		fail(&x, 0, "no [node NAME] section");
	if (!config_node_by_role(c, CONFIG_ROLE_PRIMARY))
		fail(&x, 0, "no node has role = primary");
	if (!x.headers[CONFIG_SEC_WORKLOAD])
		fail(&x, 0, "[workload] section is missing");
	if (!x.failed && c->workload.kind == CONFIG_WORKLOAD_PROCESS &&
	    !set_at(&x, CONFIG_SEC_REPLICATION, "epoch_interval"))
		c->replication.epoch_interval_ns = PROCESS_EPOCH_DEFAULT;
	/* Without the section, [service] is all zero (config.h). */
	if (!c->service.enabled)
		memset(&c->service, 0, sizeof(c->service));
	return x.failed ? -EINVAL : 0;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	char *text, *dir, *slash, why[96];
	size_t len = 0;
	ssize_t r;
	int fd, ret;

	/* A FIFO or a device would block or never end: regular files only. */
	fd = paths_open_regular(path, why, sizeof(why));
	if (fd < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, why);
		return fd;
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

int config_service_mac(const struct config *c, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	const uint8_t *a = (const uint8_t *)&c->service.address.s_addr;

	if (!c->service.enabled)
		return -EINVAL;
	if (c->service.has_mac) {
		memcpy(mac, c->service.mac, 6);
		return 0;
	}
	/* The name, its NUL, the address's bytes in network order. */
	for (size_t i = 0; i <= strlen(c->cluster); i++)
		h = (h ^ (uint8_t)c->cluster[i]) * 0x100000001b3ull;
	for (int i = 0; i < 4; i++)
		h = (h ^ a[i]) * 0x100000001b3ull;
	/* FNV's last bytes barely reach its top bits: MurmurHash3's fmix64
	 * spreads every input bit over all of them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	/* Locally administered (bit 1), unicast (bit 0 clear). */
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (64 - 8 * i));
	return 0;
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
