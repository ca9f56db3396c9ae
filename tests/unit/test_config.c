/*
 * Unit tests for the deployment config (common/config.h): the shipped
 * example loads with the values it states, defaults apply, relative paths
 * follow the file, and every kind of mistake gets its exact one-line
 * message at the right line, the first mistake only. Some tests pin down
 * how Debian's libinih 55 is built (200-byte lines, continuation lines), so
 * that a differently built libinih fails here rather than in the field.
 * The key table (common/config_keys.h) is checked row by row: a new row
 * gets these checks without a test of its own.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "config.h"
#include "config_keys.h"

#define NAME "remora.conf"
#define DIR  "/etc/remora"

/* Lines 1-7: the smallest valid file. Error cases append from line 8. */
#define BASE                                     \
	"[cluster]\n"                            \
	"name = demo\n"                          \
	"[node a]\n"                             \
	"replication_address = 127.0.0.1:7301\n" \
	"role = primary\n"                       \
	"[workload]\n"                           \
	"guest = counter.elf\n"

/* Lines 1-8: the smallest valid process file. Errors append from line 9. */
#define PBASE                                    \
	"[cluster]\n"                            \
	"name = demo\n"                          \
	"[node a]\n"                             \
	"replication_address = 127.0.0.1:7301\n" \
	"role = primary\n"                       \
	"[workload]\n"                           \
	"type = process\n"                       \
	"command = /bin/true\n"

/* PBASE after its [cluster]: a node and a process workload. */
#define PBASE_NODE                               \
	"[node a]\n"                             \
	"replication_address = 127.0.0.1:7301\n" \
	"role = primary\n"                       \
	"[workload]\n"                           \
	"type = process\n"                       \
	"command = /bin/true\n"

#define MS 1000000ull

static struct config cfg; /* 50 KB: not on the stack */
static char err[CONFIG_ERR_MAX];

static int parse_n(const char *text, size_t len)
{
	memset(err, 'x', sizeof(err));
	return config_parse(text, len, NAME, DIR, &cfg, err, sizeof(err));
}

static int parse(const char *text)
{
	return parse_n(text, strlen(text));
}

/* text must be refused with exactly msg. */
static void refused(const char *text, const char *msg)
{
	int ret = parse(text);

	if (ret != -EINVAL || strcmp(err, msg) != 0)
		fail_msg("for:\n%s\n  want: %s\n  got:  %s (%d)", text, msg,
			 err, ret);
}

static void accepted(const char *text)
{
	int ret = parse(text);

	if (ret != 0)
		fail_msg("for:\n%s\n  refused: %s (%d)", text, err, ret);
	assert_string_equal(err, "");
}

/*
 * A shipped example (docs/examples/NAME), found from this source file's
 * path (meson runs tests in the build directory and compiles
 * ../tests/unit/test_config.c) or from the source root.
 */
static void find_example_named(const char *name, char *path, size_t size)
{
	char here[4096], *slash, t1[256], t2[256];
	const char *tries[3];

	snprintf(here, sizeof(here), "%s", __FILE__);
	slash = strrchr(here, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(here, ".");
	snprintf(path, size, "%s/../../docs/examples/%s", here, name);
	snprintf(t1, sizeof(t1), "docs/examples/%s", name);
	snprintf(t2, sizeof(t2), "../docs/examples/%s", name);
	tries[0] = path;
	tries[1] = t1;
	tries[2] = t2;
	for (int i = 0; i < 3; i++)
		if (access(tries[i], R_OK) == 0) {
			if (tries[i] != path)
				snprintf(path, size, "%s", tries[i]);
			return;
		}
	fail_msg("docs/examples/%s not found from %s (cwd or %s)", name,
		 getcwd(here, sizeof(here)) ? here : "?", __FILE__);
}

static void find_example(char *path, size_t size)
{
	find_example_named("remora.conf", path, size);
}

static void test_example(void **state)
{
	const struct config_node *a, *b;
	char path[4096], want[4200];

	(void)state;
	find_example(path, sizeof(path));
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.cluster, "demo");
	assert_int_equal(cfg.nnodes, 2);

	a = config_node(&cfg, "a");
	b = config_node(&cfg, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal(a, &cfg.nodes[0]);
	assert_string_equal(a->host, "127.0.0.1");
	assert_int_equal(a->port, 7301);
	assert_string_equal(a->control_socket, "/tmp/remora-a.sock");
	assert_int_equal(a->role, CONFIG_ROLE_PRIMARY);
	assert_string_equal(config_console(&cfg, a),
			    "/tmp/remora-demo-a.console");
	assert_string_equal(b->host, "127.0.0.1");
	assert_int_equal(b->port, 7302);
	assert_string_equal(b->control_socket, "/tmp/remora-b.sock");
	assert_int_equal(b->role, CONFIG_ROLE_BACKUP);
	assert_string_equal(config_console(&cfg, b),
			    "/tmp/remora-demo-b.console");

	/* Each daemon finds its node, and refuses the other role's. */
	assert_ptr_equal(
		config_self(&cfg, "a", CONFIG_ROLE_PRIMARY, err, sizeof(err)),
		a);
	assert_ptr_equal(
		config_self(&cfg, "b", CONFIG_ROLE_BACKUP, err, sizeof(err)),
		b);
	assert_null(
		config_self(&cfg, "b", CONFIG_ROLE_PRIMARY, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s:%d: [node b]: role is backup; start remora-backup there, "
		 "or name the primary's node",
		 path, b->line);
	assert_string_equal(err, want);
	assert_null(
		config_self(&cfg, "c", CONFIG_ROLE_BACKUP, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: no [node c]", path);
	assert_string_equal(err, want);
	assert_true(a->line > 0 && b->line > a->line);

	assert_string_equal(cfg.workload.type, "kvm");
	assert_int_equal(cfg.workload.kind, CONFIG_WORKLOAD_KVM);
	assert_int_equal(cfg.workload.command_argc, 0);
	assert_int_equal(cfg.workload.environment_count, 0);
	*strrchr(path, '/') = '\0';
	snprintf(want, sizeof(want),
		 "%s/../../build/guest/examples/counter.elf", path);
	assert_string_equal(cfg.workload.guest, want);
	assert_int_equal(cfg.workload.memory, 64ull << 20);
	assert_int_equal(cfg.workload.memory_backing, CONFIG_BACKING_NORMAL);
	assert_string_equal(cfg.workload.args, "--interval 100 --count 100000");
	assert_string_equal(cfg.workload.console, "-");

	assert_int_equal(cfg.replication.epoch_interval_ns, 25 * MS);
	assert_int_equal(cfg.replication.compression, CONFIG_COMPRESSION_LZ4);
	assert_int_equal(cfg.replication.delta, 1);
	assert_int_equal(cfg.replication.max_inflight_epochs, 4);
	assert_int_equal(cfg.replication.delta_cache, 256ull << 20);
	assert_int_equal(cfg.failover.heartbeat_interval_ns, 100 * MS);
	assert_int_equal(cfg.failover.heartbeat_timeout_ns, 1000 * MS);
}

/* An argv from words must be exactly want (NULL-terminated). */
static void words_are(const char *words, int n, const char *const *want)
{
	const char *argv[CONFIG_WORDS_MAX + 1];
	int i;

	assert_int_equal(config_argv(words, n, argv, CONFIG_WORDS_MAX + 1), n);
	for (i = 0; want[i]; i++) {
		if (i >= n)
			fail_msg("%d words, want more: '%s'", n, want[i]);
		if (strcmp(argv[i], want[i]) != 0)
			fail_msg("word %d: got '%s', want '%s'", i, argv[i],
				 want[i]);
	}
	assert_int_equal(i, n);
	assert_null(argv[n]);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* docs/examples/process.conf: the program, as bash will get it. */
static void test_process_example(void **state)
{
	char path[4096];

	(void)state;
	find_example_named("process.conf", path, sizeof(path));
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.workload.type, "process");
	assert_int_equal(cfg.workload.kind, CONFIG_WORKLOAD_PROCESS);
	assert_int_equal(cfg.nnodes, 2);
	assert_non_null(config_node_by_role(&cfg, CONFIG_ROLE_PRIMARY));
	assert_non_null(config_node_by_role(&cfg, CONFIG_ROLE_BACKUP));
	words_are(cfg.workload.command, cfg.workload.command_argc,
		  WORDS("/bin/bash", "-c",
			"i=0; while :; do echo tick $i; i=$((i+1)); "
			"sleep 0.01; done"));
	assert_int_equal(cfg.workload.environment_count, 2);
	words_are(cfg.workload.environment, cfg.workload.environment_count,
		  WORDS("PATH=/usr/bin:/bin", "LANG=C.UTF-8"));
	assert_string_equal(cfg.workload.directory, "/");
	assert_string_equal(cfg.workload.data_directory, "");
	assert_string_equal(cfg.workload.criu, "");
	assert_string_equal(cfg.workload.guest, "");
	assert_int_equal(cfg.workload.memory, 64ull << 20);
	assert_int_equal(cfg.replication.epoch_interval_ns, 200 * MS);
}

static void test_defaults(void **state)
{
	const struct config_node *a;

	(void)state;
	accepted(BASE);
	assert_string_equal(cfg.path, NAME);
	assert_string_equal(cfg.cluster, "demo");
	assert_int_equal(cfg.nnodes, 1);
	a = &cfg.nodes[0];
	assert_string_equal(a->name, "a");
	assert_int_equal(a->line, 3);
	assert_string_equal(a->control_socket, "/run/remora/a.sock");
	assert_string_equal(a->console, "");
	assert_string_equal(config_console(&cfg, a), "-");
	assert_string_equal(cfg.workload.type, "kvm");
	assert_int_equal(cfg.workload.memory, 64ull << 20);
	assert_string_equal(cfg.workload.args, "");
	assert_string_equal(cfg.workload.console, "-");
	assert_int_equal(cfg.replication.epoch_interval_ns, 25 * MS);
	assert_int_equal(cfg.replication.compression, CONFIG_COMPRESSION_LZ4);
	assert_int_equal(cfg.replication.delta, 1);
	assert_int_equal(cfg.replication.max_inflight_epochs, 4);
	assert_int_equal(cfg.replication.delta_cache, 256ull << 20);
	assert_int_equal(cfg.replication.precopy_max_rounds, 5);
	assert_int_equal(cfg.replication.precopy_stop_pages, 256);
	assert_int_equal(cfg.failover.heartbeat_interval_ns, 100 * MS);
	assert_int_equal(cfg.failover.heartbeat_timeout_ns, 1000 * MS);
	assert_int_equal(cfg.failover.on_connection_loss,
			 CONFIG_CONN_LOSS_WAIT);
	assert_string_equal(cfg.failover.health_check_command, "");
	assert_int_equal(cfg.failover.health_check_interval_ns, 1000 * MS);
	assert_int_equal(cfg.failover.health_check_timeout_ns, 2000 * MS);
	assert_string_equal(cfg.failover.fence_command, "");
	assert_int_equal(cfg.failover.fence_timeout_ns, 10000 * MS);
	assert_int_equal(cfg.failover.on_backup_loss, CONFIG_BACKUP_LOSS_PAUSE);
}

/* Every key set to something other than its default, at its limits. */
static void test_all_keys(void **state)
{
	(void)state;
	accepted("[cluster]\n"
		 "name = Prod-1.eu_west\n"
		 "[node n1]\n"
		 "replication_address = 10.0.0.1:1\n"
		 "control_socket = /run/n1.sock\n"
		 "role = backup\n"
		 "console = -\n"
		 "[node n2]\n"
		 "replication_address = 10.0.0.2:65535\n"
		 "role = primary\n"
		 "[workload]\n"
		 "type = kvm\n"
		 "guest = /opt/g.elf\n"
		 "memory = 4G\n"
		 "memory_backing = hugetlb\n"
		 "args = --a=1 x;y \"q\"\n"
		 "console = out/console.log\n"
		 "[replication]\n"
		 "epoch_interval = 10min\n"
		 "compression = none\n"
		 "delta = no\n"
		 "max_inflight_epochs = 64\n"
		 "delta_cache = 0\n"
		 "precopy_max_rounds = 100\n"
		 "precopy_stop_pages = 0\n"
		 "[failover]\n"
		 "heartbeat_interval = 1min\n"
		 "heartbeat_timeout = 61s\n"
		 "on_connection_loss = promote\n"
		 "health_check_command = curl -sf http://[::1]:8080/ || "
		 "exit 1\n"
		 "health_check_interval = 1h\n"
		 "health_check_timeout = 10min\n"
		 "fence_command = ipmitool -H $REMORA_PEER power off\n"
		 "fence_timeout = 10min\n"
		 "on_backup_loss = pause\n");
	assert_string_equal(cfg.cluster, "Prod-1.eu_west");
	assert_int_equal(cfg.nnodes, 2);
	assert_int_equal(cfg.nodes[0].port, 1);
	assert_string_equal(cfg.nodes[0].control_socket, "/run/n1.sock");
	assert_int_equal(cfg.nodes[0].role, CONFIG_ROLE_BACKUP);
	assert_string_equal(config_console(&cfg, &cfg.nodes[0]), "-");
	assert_int_equal(cfg.nodes[1].port, 65535);
	assert_ptr_equal(config_node_by_role(&cfg, CONFIG_ROLE_PRIMARY),
			 &cfg.nodes[1]);
	assert_ptr_equal(config_node_by_role(&cfg, CONFIG_ROLE_BACKUP),
			 &cfg.nodes[0]);
	assert_string_equal(config_console(&cfg, &cfg.nodes[1]),
			    DIR "/out/console.log");
	assert_string_equal(cfg.workload.guest, "/opt/g.elf");
	assert_int_equal(cfg.workload.memory, 4ull << 30);
	assert_int_equal(cfg.workload.memory_backing, CONFIG_BACKING_HUGETLB);
	assert_string_equal(cfg.workload.args, "--a=1 x;y \"q\"");
	assert_int_equal(cfg.replication.epoch_interval_ns, 600000 * MS);
	assert_int_equal(cfg.replication.compression, CONFIG_COMPRESSION_NONE);
	assert_int_equal(cfg.replication.delta, 0);
	assert_int_equal(cfg.replication.max_inflight_epochs, 64);
	assert_int_equal(cfg.replication.delta_cache, 0);
	assert_int_equal(cfg.replication.precopy_max_rounds, 100);
	assert_int_equal(cfg.replication.precopy_stop_pages, 0);
	assert_int_equal(cfg.failover.heartbeat_interval_ns, 60000 * MS);
	assert_int_equal(cfg.failover.heartbeat_timeout_ns, 61000 * MS);
	assert_int_equal(cfg.failover.on_connection_loss,
			 CONFIG_CONN_LOSS_PROMOTE);
	assert_string_equal(cfg.failover.health_check_command,
			    "curl -sf http://[::1]:8080/ || exit 1");
	assert_int_equal(cfg.failover.health_check_interval_ns, 3600000 * MS);
	assert_int_equal(cfg.failover.health_check_timeout_ns, 600000 * MS);
	assert_string_equal(cfg.failover.fence_command,
			    "ipmitool -H $REMORA_PEER power off");
	assert_int_equal(cfg.failover.fence_timeout_ns, 600000 * MS);
	assert_int_equal(cfg.failover.on_backup_loss, CONFIG_BACKUP_LOSS_PAUSE);

	/* The lower limits. */
	accepted(BASE "memory = 4M\n"
		      "[replication]\n"
		      "epoch_interval = 1ms\n"
		      "max_inflight_epochs = 1\n"
		      "precopy_max_rounds = 1\n"
		      "precopy_stop_pages = 18446744073709551615\n"
		      "[failover]\n"
		      "heartbeat_interval = 1ms\n"
		      "heartbeat_timeout = 1001us\n"
		      "on_connection_loss = wait-timeout\n"
		      "health_check_interval = 10ms\n"
		      "health_check_timeout = 1ms\n"
		      "fence_timeout = 1ms\n"
		      "on_backup_loss = continue\n");
	assert_int_equal(cfg.workload.memory, 4ull << 20);
	assert_int_equal(cfg.replication.epoch_interval_ns, MS);
	assert_int_equal(cfg.replication.precopy_stop_pages, UINT64_MAX);
	assert_int_equal(cfg.failover.heartbeat_timeout_ns, 1001000);
}

static void test_booleans(void **state)
{
	static const struct {
		const char *v;
		int delta;
	} b[] = {{"on", 1},  {"yes", 1}, {"true", 1},
		 {"off", 0}, {"no", 0},	 {"false", 0}};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		snprintf(text, sizeof(text), BASE "[replication]\ndelta = %s\n",
			 b[i].v);
		accepted(text);
		assert_int_equal(cfg.replication.delta, b[i].delta);
	}
}

static void test_relative_paths(void **state)
{
	char dir[64], path[128], text[512];
	FILE *f;

	(void)state;
	accepted(BASE "console = run/console\n"
		      "[node b]\n"
		      "replication_address = 127.0.0.1:7302\n"
		      "role = backup\n"
		      "control_socket = b.sock\n"
		      "console = ../b.console\n");
	assert_string_equal(cfg.workload.guest, DIR "/counter.elf");
	assert_string_equal(cfg.workload.console, DIR "/run/console");
	assert_string_equal(cfg.nodes[1].control_socket, DIR "/b.sock");
	assert_string_equal(cfg.nodes[1].console, DIR "/../b.console");

	/* 12 bytes of "/etc/remora/" and 95 given: the longest socket. */
	accepted(BASE
		 "[node b]\nreplication_address = 127.0.0.1:7302\n"
		 "role = backup\ncontrol_socket = "
		 "123456789012345678901234567890123456789012345678901234567890"
		 "123456789012345678901234567890.sock\n");
	assert_int_equal(strlen(cfg.nodes[1].control_socket),
			 CONFIG_SOCK_MAX - 1);

	/* A directory with a trailing slash, or none at all. */
	assert_int_equal(config_parse(BASE, strlen(BASE), NAME, "/", &cfg, err,
				      sizeof(err)),
			 0);
	assert_string_equal(cfg.workload.guest, "/counter.elf");
	assert_int_equal(config_parse(BASE, strlen(BASE), NAME, NULL, &cfg, err,
				      sizeof(err)),
			 0);
	assert_string_equal(cfg.workload.guest, "counter.elf");
	assert_int_equal(config_parse(BASE, strlen(BASE), NAME, ".", &cfg, err,
				      sizeof(err)),
			 0);
	assert_string_equal(cfg.workload.guest, "counter.elf");

	/* config_load takes the directory from the path. */
	snprintf(dir, sizeof(dir), "/tmp/remora-test-config.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/remora.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(BASE, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "%s/counter.elf", dir);
	assert_string_equal(cfg.workload.guest, text);
	assert_string_equal(cfg.path, path);
	unlink(path);
	rmdir(dir);
}

static void test_addresses(void **state)
{
	static const struct {
		const char *v, *host;
		int port;
	} ok[] = {
		{"[::1]:7301", "::1", 7301},
		{"[fe80::1:2]:1", "fe80::1:2", 1},
		{"[0:0:0:0:0:0:0:1]:80", "::1", 80}, /* one spelling */
		{"[::ffff:10.1.2.3]:9", "::ffff:10.1.2.3", 9},
		{"0.0.0.0:07301", "0.0.0.0", 7301},
		{"255.255.255.255:65535", "255.255.255.255", 65535},
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text),
			 "[cluster]\nname = x\n[workload]\nguest = g\n"
			 "[node a]\nrole = primary\nreplication_address = %s\n",
			 ok[i].v);
		accepted(text);
		assert_string_equal(cfg.nodes[0].host, ok[i].host);
		assert_int_equal(cfg.nodes[0].port, ok[i].port);
	}
}

#define ADDR(v)	      "[cluster]\nname = x\n[node a]\nreplication_address = " v "\n"
#define ADDR_ERR(why) NAME ":4: replication_address: " why

/* Each kind of mistake, with the whole message it must get. */
static void test_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} e[] = {
		/* Syntax. */
		{"[nodes]\n", NAME ":1: [nodes]: unknown section (expected "
				   "[cluster], [node NAME], [workload], "
				   "[service], [replication] or [failover])"},
		{BASE "[Workload]\n",
		 NAME ":8: [Workload]: unknown section (expected [cluster], "
		      "[node NAME], [workload], [service], [replication] or "
		      "[failover])"},
		{"[cluster\nname = x\n",
		 NAME ":1: '[cluster': section header without a closing ']'"},
		{"[cluster ; c]\nname = x\n",
		 NAME ":1: '[cluster ; c]': section header without a closing "
		      "']'"},
		{"[cluster] name = x\n",
		 NAME ":1: [cluster]: unexpected text after ']'"},
		{"name = x\n[cluster]\n",
		 NAME ":1: name: key outside any section"},
		{"; comment\n\n  x = 1\n",
		 NAME ":3: x: key outside any section"},
		{BASE "memory\n",
		 NAME ":8: expected KEY = VALUE, found 'memory'"},
		{"[cluster]\nname = x\n= y\n",
		 NAME ":3: expected KEY = VALUE, found '= y'"},
		{BASE "memory ;= 8M\n",
		 NAME ":8: expected KEY = VALUE, found 'memory ;= 8M'"},
		{"[cluster]\nname = a\0b\n",
		 NAME ":2: line contains a NUL byte"},

		/* Sections and keys. */
		{BASE "[replication]\ncolour = red\n",
		 NAME ":9: colour: unknown key in [replication]"},
		{BASE "port = 7301\n",
		 NAME ":8: port: unknown key in [workload]"},
		{"[node a]\nname = a\n",
		 NAME ":2: name: unknown key in [node a]"},
		{BASE "[replication]\ncompression = lz4\ncompression = none\n",
		 NAME ":10: compression: duplicate key (first at line 9)"},
		{BASE "[workload]\n",
		 NAME ":8: [workload]: duplicate section (first at line 6)"},
		{BASE "[cluster]\n",
		 NAME ":8: [cluster]: duplicate section (first at line 1)"},
		{BASE "[node a]\n",
		 NAME ":8: [node a]: duplicate node name (first at line 3)"},
		{BASE "memory =\n",
		 NAME ":8: memory: empty value (remove the line to get the "
		      "default)"},
		{BASE "memory = ; 8M\n",
		 NAME ":8: memory: empty value (remove the line to get the "
		      "default)"},
		{"[node]\n",
		 NAME ":1: [node]: a node needs a name, e.g. [node a]"},
		{"[node ]\n",
		 NAME ":1: [node]: a node needs a name, e.g. [node a]"},
		{"[node a/b]\n", NAME ":1: [node a/b]: 'a/b' may only contain "
				      "A-Z a-z 0-9 . _ -"},
		{"[node  a]\n", NAME ":1: [node  a]: ' a' may only contain "
				     "A-Z a-z 0-9 . _ -"},
		{"[node "
		 "a123456789012345678901234567890123456789012345678901234567890"
		 "123]\n",
		 NAME ":1: [node a123456789012345678901234567890123456789...]: "
		      "'a123456789012345678901234567890123456789...' is longer "
		      "than 63 characters"},
		{"[cluster]\nname = a b\n",
		 NAME ":2: name: 'a b' may only contain A-Z a-z 0-9 . _ -"},
		{"[cluster]\nname = "
		 "a123456789012345678901234567890123456789012345678901234567890"
		 "123\n",
		 NAME ":2: name: 'a123456789012345678901234567890123456789...' "
		      "is longer than 63 characters"},

		/* Required keys and sections: at the section's header. */
		{"[cluster]\n[node a]\n",
		 NAME ":1: [cluster]: name is required"},
		{BASE "[node b]\nreplication_address = 127.0.0.1:7302\n",
		 NAME ":8: [node b]: role is required"},
		{BASE "[node b]\nrole = backup\n",
		 NAME ":8: [node b]: replication_address is required"},
		{BASE "[node b]\n[replication]\n",
		 NAME ":8: [node b]: replication_address is required"},
		{"[cluster]\nname = x\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\nmemory = 8M\n",
		 NAME ":6: [workload]: guest is required"},
		{"[node a]\nreplication_address = 127.0.0.1:1\nrole = primary\n"
		 "[workload]\nguest = g\n",
		 NAME ": [cluster] section is missing"},
		{"[cluster]\nname = x\n[workload]\nguest = g\n",
		 NAME ": no [node NAME] section"},
		{"[cluster]\nname = x\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = backup\n[workload]\nguest = g\n",
		 NAME ": no node has role = primary"},
		{"[cluster]\nname = x\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n",
		 NAME ": [workload] section is missing"},
		{"", NAME ": [cluster] section is missing"},
		{BASE "[node b]\nreplication_address = 127.0.0.1:7302\n"
		      "role = primary\n",
		 NAME ":8: [node b]: a second primary (node a at line 3 is "
		      "primary; one node starts as primary)"},
		{BASE "[node b]\nreplication_address = 127.0.0.1:7301\n"
		      "role = backup\n",
		 NAME
		 ":8: [node b]: replication_address is also node a's (line "
		 "3)"},

		/* Values. */
		{BASE "[replication]\nepoch_interval = 25\n",
		 NAME ":9: epoch_interval: '25' needs a unit, e.g. 25ms"},
		{BASE "[failover]\nheartbeat_interval = 100\n",
		 NAME ":9: heartbeat_interval: '100' needs a unit, e.g. 100ms"},
		{BASE "[failover]\nheartbeat_timeout = 1\n",
		 NAME ":9: heartbeat_timeout: '1' needs a unit, e.g. 1s"},
		{BASE "[replication]\nepoch_interval = 25 ms\n",
		 NAME ":9: epoch_interval: '25 ms': unknown duration unit (use "
		      "ns, us, ms, s, min or h)"},
		{BASE "[replication]\nepoch_interval = fast\n",
		 NAME ":9: epoch_interval: 'fast': expected a number with a "
		      "unit, e.g. 25ms"},
		{BASE "[replication]\nepoch_interval = 999us\n", NAME
		 ":9: epoch_interval: '999us' is out of range (1ms..10min)"},
		{BASE "[replication]\nepoch_interval = 11min\n", NAME
		 ":9: epoch_interval: '11min' is out of range (1ms..10min)"},
		{BASE "[replication]\nepoch_interval = 99999999999999999999s\n",
		 NAME ":9: epoch_interval: '99999999999999999999s' is out of "
		      "range (1ms..10min)"},
		{BASE "[failover]\nheartbeat_interval = 2min\n",
		 NAME ":9: heartbeat_interval: '2min' is out of range "
		      "(1ms..1min)"},
		{BASE "[failover]\nheartbeat_timeout = 999999999999999h\n",
		 NAME ":9: heartbeat_timeout: '999999999999999h' is too large"},
		{BASE "memory = 2M\n",
		 NAME ":8: memory: '2M' is out of range (4M..4G)"},
		{BASE "memory = 4098M\n",
		 NAME ":8: memory: '4098M' is out of range (4M..4G)"},
		{BASE "memory = 5M\n",
		 NAME ":8: memory: '5M' is not a multiple of 2M"},
		{BASE "memory = 64m\n", NAME
		 ":8: memory: '64m': unknown size unit (use K, M, G or T)"},
		{BASE "memory = -64M\n",
		 NAME ":8: memory: '-64M': expected a number, e.g. 64M"},
		{BASE "[replication]\ndelta_cache = 99999999999999999999\n",
		 NAME ":9: delta_cache: '99999999999999999999' is too large"},
		{BASE "type = xen\n",
		 NAME ":8: type: 'xen' is not supported (kvm or process)"},
		{BASE "[replication]\nhot_pages = 2049\n",
		 NAME ":9: hot_pages: 2049 pages (8196 KiB) must be at most "
		      "half of max_epoch_size (16M): every epoch copies them"},
		{BASE "[replication]\nmax_epoch_size = 4M\n",
		 NAME ":9: max_epoch_size: 4M must be at least twice "
		      "hot_pages (1024 pages, the default): every epoch copies "
		      "them"},
		{BASE "memory_backing = thp\n",
		 NAME ":8: memory_backing: 'thp' is not supported (normal or "
		      "hugetlb)"},
		{BASE "[replication]\ncompression = zstd\n",
		 NAME ":9: compression: 'zstd' is not supported (lz4 or none)"},
		{BASE "[replication]\ndelta = On\n",
		 NAME ":9: delta: 'On' is not on or off"},
		{"[node a]\nrole = master\n",
		 NAME ":2: role: 'master' is not a role (primary or backup)"},

		/* Integers: decimal only, no sign, no junk, no overflow. */
		{BASE "[replication]\nmax_inflight_epochs = 0\n",
		 NAME ":9: max_inflight_epochs: '0' is out of range (1..64)"},
		{BASE "[replication]\nmax_inflight_epochs = 65\n",
		 NAME ":9: max_inflight_epochs: '65' is out of range (1..64)"},
		{BASE "[replication]\nmax_inflight_epochs = +4\n",
		 NAME ":9: max_inflight_epochs: '+4' is not a decimal number"},
		{BASE "[replication]\nmax_inflight_epochs = -4\n",
		 NAME ":9: max_inflight_epochs: '-4' is not a decimal number"},
		{BASE "[replication]\nmax_inflight_epochs = 4x\n",
		 NAME ":9: max_inflight_epochs: '4x' is not a decimal number"},
		{BASE "[replication]\nmax_inflight_epochs = 0x4\n",
		 NAME ":9: max_inflight_epochs: '0x4' is not a decimal number"},
		{BASE "[replication]\nmax_inflight_epochs = 4294967300\n",
		 NAME ":9: max_inflight_epochs: '4294967300' is out of range "
		      "(1..64)"},
		{BASE "[replication]\nprecopy_max_rounds = 101\n",
		 NAME ":9: precopy_max_rounds: '101' is out of range (1..100)"},
		{BASE
		 "[replication]\nprecopy_stop_pages = 18446744073709551616\n",
		 NAME ":9: precopy_stop_pages: '18446744073709551616' is too "
		      "large"},

		/* Addresses. */
		{ADDR("127.0.0.1"),
		 ADDR_ERR("'127.0.0.1' has no port, e.g. 127.0.0.1:7301")},
		{ADDR("[::1]"),
		 ADDR_ERR("'[::1]' has no port, e.g. [::1]:7301")},
		{ADDR("[::1:7301"),
		 ADDR_ERR("'[::1:7301' has no closing ']', e.g. [::1]:7301")},
		{ADDR("::1:7301"),
		 ADDR_ERR("'::1:7301': an IPv6 address goes in brackets, e.g. "
			  "[::1]:7301")},
		{ADDR("localhost:7301"),
		 ADDR_ERR("'localhost:7301' is not a numeric IPv4 address and "
			  "port (names are not resolved)")},
		{ADDR("1.2.3:7301"),
		 ADDR_ERR("'1.2.3:7301' is not a numeric IPv4 address and port "
			  "(names are not resolved)")},
		{ADDR("[1.2.3.4]:7301"),
		 ADDR_ERR("'[1.2.3.4]:7301' is not a numeric IPv6 address and "
			  "port (names are not resolved)")},
		{ADDR(":7301"),
		 ADDR_ERR("':7301' is not a numeric IPv4 address and port "
			  "(names are not resolved)")},
		{ADDR("127.0.0.1:0"),
		 ADDR_ERR("port '0' is out of range (1..65535)")},
		{ADDR("127.0.0.1:65536"),
		 ADDR_ERR("port '65536' is out of range (1..65535)")},
		{ADDR("[::1]:99999999999999999999"),
		 ADDR_ERR("port '99999999999999999999' is out of range "
			  "(1..65535)")},
		{ADDR("127.0.0.1:"),
		 ADDR_ERR("port '' is not a decimal number")},
		{ADDR("127.0.0.1:+80"),
		 ADDR_ERR("port '+80' is not a decimal number")},
		{ADDR("[::1] :80"),
		 ADDR_ERR("'[::1] :80' has no port, e.g. [::1]:7301")},

		/* Paths. */
		{"[node a]\ncontrol_socket = /tmp/"
		 "456789012345678901234567890123456789012345678901234567890"
		 "12345678901234567890123456789012345678901234567890.sock\n",
		 NAME ":2: control_socket: '/tmp/45678901234567890123456789012"
		      "345678...' makes a path of 117 bytes (at most 107)"},
		/* Relative: 12 bytes of "/etc/remora/" and 96 given. */
		{"[node a]\ncontrol_socket = "
		 "123456789012345678901234567890123456789012345678901234567890"
		 "1234567890123456789012345678901.sock\n",
		 NAME ":2: control_socket: "
		      "'1234567890123456789012345678901234567890...' makes a "
		      "path of 108 bytes "
		      "(at most 107)"},

		/* The failover policies and commands. */
		{BASE "[failover]\non_connection_loss = now\n",
		 NAME ":9: on_connection_loss: 'now' is not wait-timeout or "
		      "promote"},
		{BASE "[failover]\non_backup_loss = stop\n",
		 NAME ":9: on_backup_loss: 'stop' is not continue or pause"},
		{BASE "[failover]\nfence_command =\n",
		 NAME ":9: fence_command: empty value (remove the line to get "
		      "the default)"},
		{BASE "[failover]\nhealth_check_command = a\tb\n",
		 NAME ":9: health_check_command: control character at byte "
		      "2"},
		{BASE "[failover]\nhealth_check_interval = 5ms\n",
		 NAME ":9: health_check_interval: '5ms' is out of range "
		      "(10ms..1h)"},
		{BASE "[failover]\nhealth_check_timeout = 0s\n",
		 NAME ":9: health_check_timeout: '0s' is out of range "
		      "(1ms..10min)"},
		{BASE "[failover]\nfence_timeout = 11min\n",
		 NAME ":9: fence_timeout: '11min' is out of range "
		      "(1ms..10min)"},
		{BASE "[failover]\nfence_timeout = 10\n",
		 NAME ":9: fence_timeout: '10' needs a unit, e.g. 10s"},

		/* Cross-key checks: at the line of heartbeat_timeout. */
		{BASE "[failover]\nheartbeat_timeout = 100ms\n"
		      "heartbeat_interval = 100ms\n",
		 NAME ":9: heartbeat_timeout: 100ms must be longer than "
		      "heartbeat_interval (100ms)"},
		{BASE "[failover]\nheartbeat_interval = 200ms\n"
		      "heartbeat_timeout = 150ms\n",
		 NAME ":10: heartbeat_timeout: 150ms must be longer than "
		      "heartbeat_interval (200ms)"},
		{BASE "[failover]\nheartbeat_timeout = 0ns\n",
		 NAME ":9: heartbeat_timeout: 0ns must be longer than "
		      "heartbeat_interval (100ms)"},
		{BASE "[failover]\n\nheartbeat_interval = 1500ms\n",
		 NAME ":10: heartbeat_interval: 1500ms must be shorter than "
		      "heartbeat_timeout (1s, the default)"},

		/* Indented lines continue a value: an error but for args. */
		{BASE "  memory = 8M\n", NAME
		 ":8: guest: indented line is read as more of the value of "
		 "guest (only args, command and environment may span lines; "
		 "remove the indentation)"},
		{"[cluster]\n  name = x\n  [node a]\n",
		 NAME ":3: name: indented line is read as more of the value of "
		      "name (only args, command and environment may span "
		      "lines; remove the indentation)"},
	};
	size_t n = sizeof(e) / sizeof(e[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* The NUL case: its length is its array's, not strlen. */
		if (strstr(e[i].msg, "NUL")) {
			static const char nul[] = "[cluster]\nname = a\0b\n";

			assert_int_equal(parse_n(nul, sizeof(nul) - 1),
					 -EINVAL);
			assert_string_equal(err, e[i].msg);
			continue;
		}
		refused(e[i].text, e[i].msg);
	}
}

static void test_too_many_nodes(void **state)
{
	char text[4096];
	int len;

	(void)state;
	len = snprintf(text, sizeof(text), "%s", BASE);
	for (int i = 2; i <= CONFIG_NODES_MAX; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				"[node n%d]\nreplication_address = "
				"127.0.0.1:%d\nrole = backup\n",
				i, 7300 + i);
	accepted(text);
	assert_int_equal(cfg.nnodes, CONFIG_NODES_MAX);
	snprintf(text + len, sizeof(text) - (size_t)len, "[node x]\n");
	refused(text, NAME ":29: [node x]: too many nodes (at most 8)");
}

/* libinih's line buffer is 200 bytes: 197 and "\r\n" and the NUL. */
static void test_long_lines(void **state)
{
	char text[1024], args[256];
	int pre;

	(void)state;
	pre = snprintf(text, sizeof(text), BASE);
	memset(args, 'a', sizeof(args));
	args[197 - strlen("args = ")] = '\0';
	snprintf(text + pre, sizeof(text) - (size_t)pre, "args = %s\n", args);
	accepted(text);
	assert_string_equal(cfg.workload.args, args);
	snprintf(text + pre, sizeof(text) - (size_t)pre, "args = %s\r\n", args);
	accepted(text);
	assert_string_equal(cfg.workload.args, args);
	snprintf(text + pre, sizeof(text) - (size_t)pre, "args = %s", args);
	accepted(text); /* no final newline */

	snprintf(text + pre, sizeof(text) - (size_t)pre, "args = %sb\n", args);
	refused(text, NAME ":8: line longer than 197 bytes");
	snprintf(text + pre, sizeof(text) - (size_t)pre, "; %sbbbbbb\n", args);
	refused(text, NAME ":8: line longer than 197 bytes");
	/* The long line comes first: libinih would have split it. */
	snprintf(text + pre, sizeof(text) - (size_t)pre, "args = %sb\nbad\n",
		 args);
	refused(text, NAME ":8: line longer than 197 bytes");
}

/* Lines indented under args are more of the guest's command line. */
static void test_args_continued(void **state)
{
	char text[8192];
	size_t len;

	(void)state;
	accepted(BASE "args = --a 1\n"
		      "  --b 2 ; a comment\n"
		      "\t--c=x;y\n"
		      "; a comment line\n"
		      "\n"
		      "  --d\n"
		      "memory = 8M\n");
	assert_string_equal(cfg.workload.args, "--a 1 --b 2 --c=x;y --d");
	assert_int_equal(cfg.workload.memory, 8ull << 20);

	/* Up to CONFIG_ARGS_MAX - 1 bytes, and no more. */
	len = (size_t)snprintf(text, sizeof(text), BASE "args = x\n");
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"  %099d\n", i);
	accepted(text);
	assert_int_equal(strlen(cfg.workload.args), 1 + 30 * 100);
	assert_true(strlen(cfg.workload.args) < CONFIG_ARGS_MAX);
	snprintf(text + len, sizeof(text) - len, "  %0*d\n",
		 CONFIG_ARGS_MAX - 1 - 1 - 30 * 100 - 1, 7);
	accepted(text);
	assert_int_equal(strlen(cfg.workload.args), CONFIG_ARGS_MAX - 1);
	snprintf(text + len, sizeof(text) - len, "  %0*d\n",
		 CONFIG_ARGS_MAX - 1 - 1 - 30 * 100, 7);
	refused(text, NAME ":39: args: longer than 3071 bytes");
}

static void test_bom_crlf_comments(void **state)
{
	(void)state;
	accepted("\xef\xbb\xbf# remora.conf\r\n"
		 "  [cluster]\r\n"
		 "name = demo ; inline comment\r\n"
		 "# a comment\r\n"
		 "\r\n"
		 "[node a] ; the primary\r\n"
		 "replication_address: 127.0.0.1:7301\r\n"
		 "  ; indented comment\r\n"
		 "role = primary\r\n"
		 "[workload] # also a comment\r\n"
		 "guest = g\r\n");
	assert_string_equal(cfg.cluster, "demo");
	assert_int_equal(cfg.nodes[0].port, 7301);
	assert_int_equal(cfg.nodes[0].line, 6);
	assert_string_equal(cfg.workload.guest, DIR "/g");
	accepted("\xef\xbb\xbf" BASE);
	assert_string_equal(cfg.cluster, "demo");
	/* The first key of a section may be indented: nothing to continue. */
	accepted("[cluster]\n  name = demo\n"
		 "[node a]\n\treplication_address = 127.0.0.1:1\nrole = "
		 "primary\n"
		 "[workload]\n guest = g\n");
	assert_string_equal(cfg.cluster, "demo");
}

/* One message, for the first mistake in the file, whatever its kind. */
static void test_first_error_only(void **state)
{
	(void)state;
	refused(BASE "[replication]\ncolour = red\nepoch_interval = 25\n",
		NAME ":9: colour: unknown key in [replication]");
	refused(BASE "[replication]\nepoch_interval = 25\ncolour = red\n",
		NAME ":9: epoch_interval: '25' needs a unit, e.g. 25ms");
	/* libinih's own complaint (a line without '=') and ours, in order. */
	refused(BASE "oops\ncolour = red\n",
		NAME ":8: expected KEY = VALUE, found 'oops'");
	refused(BASE "colour = red\noops\n",
		NAME ":8: colour: unknown key in [workload]");
	/* A missing key is found when its section ends, but comes first. */
	refused("[node a]\nrole = primary\noops\n[cluster]\nname = x\n",
		NAME ":1: [node a]: replication_address is required");
	refused("[cluster]\noops\n[node a]\nrole = primary\n",
		NAME ":1: [cluster]: name is required");
	refused("[cluster]\nname = x\noops\n[node a]\nrole = primary\n",
		NAME ":3: expected KEY = VALUE, found 'oops'");
	refused("[cluster]\nname = x\n[node a]\nrole = primary\noops\n",
		NAME ":3: [node a]: replication_address is required");
	/* Line errors before file errors. */
	refused("[node a]\nrole = primary\nreplication_address = 1.2.3.4:5\n"
		"[nodes]\n",
		NAME ":4: [nodes]: unknown section (expected [cluster], [node "
		     "NAME], [workload], [service], [replication] or "
		     "[failover])");
	refused("[workload]\nguest = g\nx = 1\n",
		NAME ":3: x: unknown key in [workload]");
}

/* Text from the file shows in messages cut short and without controls. */
static void test_messages_stay_one_line(void **state)
{
	(void)state;
	refused(BASE "[replication]\ncompression = l\x1bz\r4\n",
		NAME ":9: compression: 'l?z?4' is not supported (lz4 or none)");
	refused(BASE "args = x\nargs\vx = 1\n",
		NAME ":9: args?x: unknown key in [workload]");
	refused(BASE "[replication]\ncompression = "
		     "lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4\n",
		NAME ":9: compression: "
		     "'lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4lz4l...' is not "
		     "supported (lz4 or none)");
}

/* A quote cut short does not end in half a UTF-8 character. */
static void test_messages_utf8(void **state)
{
	char text[512], want[512], x39[40];

	(void)state;
	memset(x39, 'x', 39);
	x39[39] = '\0';
	snprintf(text, sizeof(text),
		 BASE "[replication]\ncompression = %s\xc3\xa9yy\n", x39);
	snprintf(want, sizeof(want),
		 NAME ":9: compression: '%s...' is not supported (lz4 or "
		      "none)",
		 x39);
	refused(text, want);
	snprintf(text, sizeof(text),
		 BASE "[replication]\ncompression = %.38s\xc3\xa9yy\n", x39);
	snprintf(want, sizeof(want),
		 NAME ":9: compression: '%.38s\xc3\xa9...' is not supported "
		      "(lz4 or none)",
		 x39);
	refused(text, want);
}

static void test_error_buffer(void **state)
{
	char small[16];
	const char *text = BASE "memory = 5M\n";

	(void)state;
	memset(small, 'x', sizeof(small));
	assert_int_equal(config_parse(text, strlen(text), NAME, DIR, &cfg,
				      small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "remora.conf:8: ");
	assert_int_equal(
		config_parse(text, strlen(text), NAME, DIR, &cfg, NULL, 0),
		-EINVAL);
	/* The text need not end in a NUL: only len bytes are read. */
	assert_int_equal(parse_n(BASE "memory = 8M", strlen(BASE) + 10),
			 -EINVAL);
	assert_string_equal(err, NAME ":8: memory: '8' is out of range "
				      "(4M..4G)");
}

static void test_load_errors(void **state)
{
	char dir[64], path[128], *big;
	FILE *f;

	(void)state;
	assert_int_equal(
		config_load("/nonexistent/remora.conf", &cfg, err, sizeof(err)),
		-ENOENT);
	assert_string_equal(err, "/nonexistent/remora.conf: No such file or "
				 "directory");
	assert_int_equal(config_load("/", &cfg, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");

	snprintf(dir, sizeof(dir), "/tmp/remora-test-config.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	big = malloc((1u << 20) + 1);
	assert_non_null(big);
	memset(big, '\n', (1u << 20) + 1);
	memcpy(big, BASE, strlen(BASE));

	/* 1 MiB exactly is allowed; one byte more is not. */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(big, 1, 1u << 20, f), 1u << 20);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(big, 1, (1u << 20) + 1, f), (1u << 20) + 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EFBIG);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ": larger than 1048576 bytes");

	/* A file's errors name the file as given. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(BASE "memory = 5M\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path),
			    ":8: memory: '5M' is not a multiple of 2M");
	free(big);
	unlink(path);
	rmdir(dir);
}

static void test_long_resolved_path(void **state)
{
	static char dir[CONFIG_PATH_MAX];

	(void)state;
	memset(dir, 'd', sizeof(dir) - 5);
	dir[0] = '/';
	dir[sizeof(dir) - 5] = '\0';
	assert_int_equal(config_parse(BASE, strlen(BASE), NAME, dir, &cfg, err,
				      sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, NAME ":7: guest: 'counter.elf' makes a "
				      "path of 4103 bytes (at most 4095)");
}

static void test_lookups(void **state)
{
	(void)state;
	accepted(BASE "[node b]\nreplication_address = 127.0.0.1:2\n"
		      "role = backup\nconsole = /b.console\n");
	assert_ptr_equal(config_node(&cfg, "a"), &cfg.nodes[0]);
	assert_ptr_equal(config_node(&cfg, "b"), &cfg.nodes[1]);
	assert_null(config_node(&cfg, "c"));
	assert_null(config_node(&cfg, ""));
	assert_ptr_equal(config_node_by_role(&cfg, CONFIG_ROLE_PRIMARY),
			 &cfg.nodes[0]);
	assert_ptr_equal(config_node_by_role(&cfg, CONFIG_ROLE_BACKUP),
			 &cfg.nodes[1]);
	assert_string_equal(config_console(&cfg, &cfg.nodes[0]), "-");
	assert_string_equal(config_console(&cfg, &cfg.nodes[1]), "/b.console");
	assert_string_equal(config_console(&cfg, NULL), "-");
	assert_string_equal(config_role_name(CONFIG_ROLE_PRIMARY), "primary");
	assert_string_equal(config_role_name(CONFIG_ROLE_BACKUP), "backup");
	assert_string_equal(config_role_name((enum config_role)0), "unknown");

	accepted(BASE);
	assert_null(config_node_by_role(&cfg, CONFIG_ROLE_BACKUP));
}

/*
 * What the parser trusts of each row of the key table: a section and a name
 * unique in it, a doc line, a field inside its struct that fits its type,
 * limits that fit the field, and a default that its own parser accepts.
 */
static void test_key_table(void **state)
{
	static struct config c;
	static struct config_node n;
	char msg[CONFIG_ERR_MAX];

	(void)state;
	assert_true(config_nkeys > 0 && config_nkeys <= CONFIG_KEYS_MAX);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		int node = k->sec == CONFIG_SEC_NODE;
		size_t whole = node ? sizeof(n) : sizeof(c);
		void *base = node ? (void *)&n : (void *)&c;

		if (k->sec <= CONFIG_SEC_NONE || k->sec >= CONFIG_SEC_COUNT ||
		    !k->name || !*k->name)
			fail_msg("row %zu: no section or no name", i);
		if (config_key_find(k->sec, k->name) != k)
			fail_msg("%s: a second row of that name in [%s]",
				 k->name, config_section_names[k->sec]);
		if (!k->doc || !*k->doc || strchr(k->doc, '\n'))
			fail_msg("%s: needs one line of doc", k->name);
		if (!k->size || k->off + k->size > whole)
			fail_msg("%s: field outside its struct", k->name);
		switch (k->type) {
		case CONFIG_T_UINT:
			assert_true(k->size == 4 || k->size == 8);
			assert_true(k->size == 8 || k->hi <= UINT32_MAX);
			assert_true(k->lo <= k->hi);
			break;
		case CONFIG_T_SIZE:
		case CONFIG_T_DURATION:
			assert_int_equal(k->size, sizeof(uint64_t));
			assert_true(k->lo <= k->hi);
			break;
		case CONFIG_T_CHOICE:
		case CONFIG_T_BOOL:
			assert_int_equal(k->size, sizeof(int));
			break;
		case CONFIG_T_ADDRESS:
			assert_true(k->size >= 46); /* INET6_ADDRSTRLEN */
			assert_true(k->off2 + sizeof(uint16_t) <= whole);
			break;
		case CONFIG_T_IPV4_NET:
		case CONFIG_T_IPV4:
			assert_int_equal(k->size, sizeof(struct in_addr));
			break;
		case CONFIG_T_MAC:
			assert_int_equal(k->size, 6);
			break;
		case CONFIG_T_IFNAME:
			assert_int_equal(k->size, 16); /* IFNAMSIZ */
			break;
		default:
			assert_true(k->size >= 2);
			break;
		}
		if (k->type == CONFIG_T_CHOICE || k->type == CONFIG_T_WORD) {
			assert_non_null(k->choices);
			assert_non_null(k->choices[0].word);
			assert_non_null(k->refusal);
			for (const struct config_choice *w = k->choices;
			     w->word; w++)
				assert_true(k->type == CONFIG_T_CHOICE ||
					    strlen(w->word) < k->size);
		}
		/* A second field: inside the struct, an int. */
		if (k->type == CONFIG_T_ARGV || k->type == CONFIG_T_ENVIRON ||
		    k->type == CONFIG_T_IPV4_NET || k->type == CONFIG_T_IPV4 ||
		    k->type == CONFIG_T_MAC ||
		    (k->type == CONFIG_T_WORD && k->off2)) {
			assert_true(k->off2 + sizeof(int) <= whole);
			assert_true(k->off2 >= k->off + k->size ||
				    k->off2 + sizeof(int) <= k->off);
		}
		if (k->type == CONFIG_T_ARGV || k->type == CONFIG_T_ENVIRON)
			assert_true(k->size <= CONFIG_ARGS_MAX);
		/* Only these types know how to take more lines. */
		if (k->flags & CONFIG_KEY_LINES)
			assert_true(k->type == CONFIG_T_TEXT ||
				    k->type == CONFIG_T_ARGV ||
				    k->type == CONFIG_T_ENVIRON);
		/* One workload type at most, and only in [workload]. */
		if (k->flags & (CONFIG_KEY_KVM | CONFIG_KEY_PROCESS)) {
			assert_int_equal(k->sec, CONFIG_SEC_WORKLOAD);
			assert_true((k->flags & CONFIG_KEY_KVM) == 0 ||
				    (k->flags & CONFIG_KEY_PROCESS) == 0);
		}
		if (config_key_default(k, base, "a", DIR, msg, sizeof(msg)))
			fail_msg("%s: default '%s' refused: %s", k->name,
				 k->def, msg);
	}
}

/*
 * A row is all a key needs: every key parses in its section, and spelling
 * its default out gives the same config, byte for byte, as leaving it out.
 */
static void test_defaults_spelled_out(void **state)
{
	static struct config without;
	char head[512], text[1024], def[256];

	(void)state;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		const char *at;

		if (!k->def || !*k->def)
			continue;
		/* BASE ends in [workload]; its [node a] cannot repeat keys. */
		if (k->sec == CONFIG_SEC_SERVICE)
			snprintf(head, sizeof(head),
				 PBASE "[service]\naddress = 10.0.0.5/24\n"
				       "bridge = br0\n");
		else if (k->flags & CONFIG_KEY_PROCESS)
			snprintf(head, sizeof(head), PBASE);
		else if (k->sec == CONFIG_SEC_NODE)
			snprintf(head, sizeof(head),
				 BASE "[node b]\nreplication_address = "
				      "127.0.0.1:7302\nrole = backup\n");
		else if (k->sec == CONFIG_SEC_WORKLOAD)
			snprintf(head, sizeof(head), BASE);
		else
			snprintf(head, sizeof(head), BASE "[%s]\n",
				 config_section_names[k->sec]);
		at = strstr(k->def, "NAME");
		if (k->sec == CONFIG_SEC_NODE && at)
			snprintf(def, sizeof(def), "%.*sb%s",
				 (int)(at - k->def), k->def, at + 4);
		else
			snprintf(def, sizeof(def), "%s", k->def);
		accepted(head);
		without = cfg;
		snprintf(text, sizeof(text), "%s%s = %s\n", head, k->name, def);
		accepted(text);
		if (memcmp(&without, &cfg, sizeof(cfg)) != 0)
			fail_msg("%s = %s differs from leaving it out", k->name,
				 def);
	}
}

/* The arbiter's keys and the cluster key: spellings kept, slips named. */
static void test_arbiter_keys(void **state)
{
	(void)state;
	accepted(BASE "[failover]\n");
	assert_int_equal(cfg.failover.arbiter, CONFIG_ARBITER_NONE);
	assert_string_equal(cfg.failover.etcd_endpoints, "");
	assert_int_equal(cfg.failover.lease_ttl_ns, 2000 * MS);
	assert_string_equal(cfg.key_file, "");

	accepted("[cluster]\nname = demo\nkey_file = keys/demo.key\n"
		 "[node a]\nreplication_address = 127.0.0.1:7301\n"
		 "role = primary\n[workload]\nguest = counter.elf\n"
		 "[failover]\narbiter = etcd\n"
		 "etcd_endpoints = http://127.0.0.1:2379 , "
		 "http://[0:0::1]:2380,http://10.0.0.9:1\n"
		 "lease_ttl = 1min\n");
	assert_string_equal(cfg.key_file, DIR "/keys/demo.key");
	assert_int_equal(cfg.failover.arbiter, CONFIG_ARBITER_ETCD);
	assert_string_equal(cfg.failover.etcd_endpoints,
			    "http://127.0.0.1:2379,http://[::1]:2380,"
			    "http://10.0.0.9:1");
	assert_int_equal(cfg.failover.lease_ttl_ns, 60000 * MS);

	refused(BASE "[failover]\narbiter = etcd\n",
		NAME ":9: arbiter: etcd needs etcd_endpoints (e.g. "
		     "etcd_endpoints = http://127.0.0.1:2379)");
	refused(BASE "[failover]\narbiter = zookeeper\n",
		NAME ":9: arbiter: 'zookeeper' is not none or etcd");
	refused(BASE "[failover]\netcd_endpoints = 127.0.0.1:2379\n",
		NAME ":9: etcd_endpoints: '127.0.0.1:2379' is not "
		     "http://ADDRESS:PORT (e.g. http://127.0.0.1:2379)");
	refused(BASE "[failover]\netcd_endpoints = http://etcd:2379\n",
		NAME ":9: etcd_endpoints: 'etcd:2379' is not a numeric IPv4 "
		     "address and port (names are not resolved)");
	refused(BASE "[failover]\netcd_endpoints = http://1.2.3.4:0\n",
		NAME ":9: etcd_endpoints: port '0' is out of range "
		     "(1..65535)");
	refused(BASE "[failover]\netcd_endpoints = http://1.2.3.4:1,\n",
		NAME ":9: etcd_endpoints: '' is not http://ADDRESS:PORT "
		     "(e.g. http://127.0.0.1:2379)");
	refused(BASE "[failover]\nlease_ttl = 1500ms\n",
		NAME ":9: lease_ttl: '1500ms' is not a multiple of 1s");
	refused(BASE "[failover]\nlease_ttl = 500ms\n",
		NAME ":9: lease_ttl: '500ms' is out of range (1s..1min)");
}

/*
 * [cluster] tls_*: relative paths from the file's directory; all three or
 * none, naming what is missing at the first tls_* line; never with
 * key_file. (The files themselves are checked at start: test_tls.)
 */
static void test_tls_keys(void **state)
{
	(void)state;
	accepted(BASE);
	assert_string_equal(cfg.tls_certificate, "");
	assert_string_equal(cfg.tls_private_key, "");
	assert_string_equal(cfg.tls_ca, "");

	accepted("[cluster]\nname = demo\ntls_ca = /pki/ca.pem\n"
		 "tls_certificate = tls/a.pem\ntls_private_key = tls/a.key\n"
		 "[node a]\nreplication_address = 127.0.0.1:7301\n"
		 "role = primary\n[workload]\nguest = counter.elf\n");
	assert_string_equal(cfg.tls_certificate, DIR "/tls/a.pem");
	assert_string_equal(cfg.tls_private_key, DIR "/tls/a.key");
	assert_string_equal(cfg.tls_ca, "/pki/ca.pem");
	assert_string_equal(cfg.key_file, "");

	refused("[cluster]\nname = demo\ntls_certificate = a.pem\n"
		"[node a]\n",
		NAME ":3: tls_certificate: TLS needs tls_private_key and "
		     "tls_ca too (set all three tls_* keys, or none)");
	refused("[cluster]\nname = demo\ntls_ca = ca.pem\n"
		"tls_private_key = a.key\n[node a]\n",
		NAME ":3: tls_ca: TLS needs tls_certificate too (set all "
		     "three tls_* keys, or none)");
	refused("[cluster]\nname = demo\ntls_private_key = a.key\n"
		"tls_certificate = a.pem\n[node a]\n",
		NAME ":3: tls_private_key: TLS needs tls_ca too (set all "
		     "three tls_* keys, or none)");
	refused("[cluster]\nname = demo\nkey_file = demo.key\n"
		"tls_certificate = a.pem\ntls_private_key = a.key\n"
		"tls_ca = ca.pem\n[node a]\n",
		NAME ":4: tls_certificate: key_file is set too (line 3); pick "
		     "one: key_file (a pre-shared key) or tls_* "
		     "(certificates)");
	refused("[cluster]\nname = demo\ntls_ca =\n",
		NAME ":3: tls_ca: empty value (remove the line to get the "
		     "default)");
}

/* type = process: its keys, their defaults, and none of kvm's. */
static void test_process_defaults(void **state)
{
	(void)state;
	accepted(PBASE);
	assert_string_equal(cfg.workload.type, "process");
	assert_int_equal(cfg.workload.kind, CONFIG_WORKLOAD_PROCESS);
	words_are(cfg.workload.command, cfg.workload.command_argc,
		  WORDS("/bin/true"));
	assert_int_equal(cfg.workload.environment_count, 0);
	assert_string_equal(cfg.workload.environment, "");
	assert_string_equal(cfg.workload.directory, "/");
	assert_string_equal(cfg.workload.data_directory, "");
	assert_string_equal(cfg.workload.criu, "");
	assert_string_equal(cfg.workload.guest, "");
	assert_string_equal(cfg.workload.args, "");
	assert_int_equal(cfg.workload.memory, 64ull << 20);
	assert_string_equal(cfg.workload.console, "-");
	assert_int_equal(cfg.replication.epoch_interval_ns, 200 * MS);

	/* Paths from the file's directory, like every other path key. */
	accepted(PBASE "directory = srv\ncriu = ../criu/sbin/criu\n"
		       "data_directory = /var/lib/app\n");
	assert_string_equal(cfg.workload.directory, DIR "/srv");
	assert_string_equal(cfg.workload.criu, DIR "/../criu/sbin/criu");
	assert_string_equal(cfg.workload.data_directory, "/var/lib/app");
	accepted(PBASE "directory = /srv/app\ncriu = /usr/sbin/criu\n"
		       "data_directory = /data/\n");
	assert_string_equal(cfg.workload.directory, "/srv/app");
	assert_string_equal(cfg.workload.criu, "/usr/sbin/criu");
	assert_string_equal(cfg.workload.data_directory, "/data/");

	/* The type may come after the keys it allows. */
	accepted("[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ncommand = x\n"
		 "environment = A=1\ntype = process\n");
	assert_int_equal(cfg.workload.kind, CONFIG_WORKLOAD_PROCESS);
}

/* command: how a value becomes words (the grammar in config_value.c). */
static void test_command_words(void **state)
{
	const struct {
		const char *v;
		const char *const *want;
	} w[] = {
		{"a", WORDS("a")},
		{"a  b\t c", WORDS("a", "b", "c")},
		{"/bin/sh -c 'echo \"hi\" $HOME'",
		 WORDS("/bin/sh", "-c", "echo \"hi\" $HOME")},
		{"p \"it's\" 'say \"x\"'", WORDS("p", "it's", "say \"x\"")},
		/* '' and "" are empty words, not no words. */
		{"p '' \"\" x", WORDS("p", "", "", "x")},
		/* Quotes and plain text join into one word. */
		{"p a'b c'd\"e f\"g", WORDS("p", "ab cde fg")},
		/* In "...", \ escapes only " and \. */
		{"p \"a\\\"b\\\\c\\d\\$\"", WORDS("p", "a\"b\\c\\d\\$")},
		/* In '...', nothing is escaped. */
		{"p 'a\\b\\'", WORDS("p", "a\\b\\")},
		/* Outside quotes, \ makes the next character plain. */
		{"p a\\ b \\'x\\' \\\\ \\;",
		 WORDS("p", "a b", "'x'", "\\", ";")},
		/* Nothing is expanded. */
		{"p $HOME ~ * `id` $(id) >out",
		 WORDS("p", "$HOME", "~", "*", "`id`", "$(id)", ">out")},
		/* ';' starts a comment only as a word, after a blank. */
		{"p a;b 'c ; d' \"e ;f\" ; g 'h",
		 WORDS("p", "a;b", "c ; d", "e ;f")},
		{"p\t;x", WORDS("p")},
		{"p ';'", WORDS("p", ";")},
		/* UTF-8 passes as it is. */
		{"p \xc3\xa9t\xc3\xa9", WORDS("p", "\xc3\xa9t\xc3\xa9")},
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		snprintf(text, sizeof(text),
			 "[cluster]\nname = d\n[node a]\nreplication_address "
			 "= 127.0.0.1:1\nrole = primary\n[workload]\n"
			 "type = process\ncommand = %s\n",
			 w[i].v);
		accepted(text);
		words_are(cfg.workload.command, cfg.workload.command_argc,
			  w[i].want);
	}
	/* "key: value" works too, and the value is after the first ':'. */
	accepted("[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command: a=b:c 'd ; e'\n");
	words_are(cfg.workload.command, cfg.workload.command_argc,
		  WORDS("a=b:c", "d ; e"));
}

/* A command or environment that spans lines: words, line by line. */
static void test_words_continued(void **state)
{
	char text[16384], line[256];
	size_t len;

	(void)state;
	accepted(PBASE "environment = PATH=/usr/bin:/bin ; the search path\n"
		       "  HOME=/root\n"
		       "; a comment line\n"
		       "\n"
		       "\tMSG='a ; b' E=\n"
		       "memory = 8M\n");
	words_are(cfg.workload.environment, cfg.workload.environment_count,
		  WORDS("PATH=/usr/bin:/bin", "HOME=/root", "MSG=a ; b", "E="));
	assert_int_equal(cfg.workload.memory, 8ull << 20);

	accepted("[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command = /usr/bin/java\n"
		 "  -Xmx1g 'two words'\n"
		 "  -jar app.jar ; comment\n");
	words_are(cfg.workload.command, cfg.workload.command_argc,
		  WORDS("/usr/bin/java", "-Xmx1g", "two words", "-jar",
			"app.jar"));

	/* A quote ends on its own line. */
	refused(PBASE "environment = A='x\n  y'\n",
		NAME ":9: environment: unterminated ' quote at byte 3");
	refused(PBASE "environment = A=x\n  B='y\n",
		NAME ":10: environment: unterminated ' quote at byte 3");
	refused(PBASE "environment = A=x\n  A=y\n",
		NAME ":10: environment: A is set twice");

	/* CONFIG_WORDS_MAX words, and no more. */
	len = (size_t)snprintf(text, sizeof(text), PBASE "environment =");
	for (int i = 0; i < CONFIG_WORDS_MAX; i++) {
		snprintf(line, sizeof(line), "%sV%d=%d\n", i ? "  " : " ", i,
			 i);
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s",
					line);
	}
	accepted(text);
	assert_int_equal(cfg.workload.environment_count, CONFIG_WORDS_MAX);
	snprintf(text + len, sizeof(text) - len, "  X=1\n");
	snprintf(line, sizeof(line),
		 NAME ":%d: environment: more than %d words",
		 9 + CONFIG_WORDS_MAX, CONFIG_WORDS_MAX);
	refused(text, line);

	/* CONFIG_ARGS_MAX bytes with their NULs, and no more. */
	memset(line, 'a', sizeof(line));
	len = (size_t)snprintf(text, sizeof(text), PBASE "environment =");
	for (int i = 0; i < 31; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%sV%02d=%.94s\n", i ? "  " : " ", i,
					line); /* 98 bytes + NUL */
	/* 31 * 99 = 3069: 3 more bytes fit, "X=" and its NUL. */
	snprintf(text + len, sizeof(text) - len, "  X=\n");
	accepted(text);
	assert_int_equal(cfg.workload.environment_count, 32);
	snprintf(text + len, sizeof(text) - len, "  X=1\n");
	refused(text, NAME ":40: environment: too long (at most 3072 bytes, "
			   "counting a NUL after each word)");
}

/* Each mistake in command or environment, with its whole message. */
static void test_words_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} e[] = {
		{PBASE "environment = A='x\n",
		 NAME ":9: environment: unterminated ' quote at byte 3"},
		{PBASE "environment = A=\"x\\\"\n",
		 NAME ":9: environment: unterminated \" quote at byte 3"},
		{PBASE "environment = A=x\\\n",
		 NAME ":9: environment: '\\' at the end escapes nothing "
		      "(quote it: '\\')"},
		{PBASE "environment = A=\x01\n",
		 NAME ":9: environment: control character at byte 3"},
		{PBASE "environment = PATH\n",
		 NAME ":9: environment: 'PATH' is not KEY=VALUE"},
		{PBASE "environment = A=1 =2\n",
		 NAME ":9: environment: '' is not a variable name (A-Z a-z "
		      "0-9 _, not a digit first)"},
		{PBASE "environment = 1A=2\n",
		 NAME ":9: environment: '1A' is not a variable name (A-Z a-z "
		      "0-9 _, not a digit first)"},
		{PBASE "environment = MY-VAR=2\n",
		 NAME ":9: environment: 'MY-VAR' is not a variable name (A-Z "
		      "a-z 0-9 _, not a digit first)"},
		{PBASE "environment = 'A B=1'\n",
		 NAME ":9: environment: 'A B' is not a variable name (A-Z a-z "
		      "0-9 _, not a digit first)"},
		{PBASE "environment = A=1 _b9=2 A=3\n",
		 NAME ":9: environment: A is set twice"},
		{PBASE "environment =\n",
		 NAME ":9: environment: empty value (remove the line to get "
		      "the default)"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command = sh -c 'a\n",
		 NAME ":8: command: unterminated ' quote at byte 7"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command = '' -x\n",
		 NAME ":8: command: the program (the first word) is empty"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command = ; nothing\n",
		 NAME ":8: command: empty value (remove the line to get the "
		      "default)"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "command = a\n  b '\n",
		 NAME ":9: command: unterminated ' quote at byte 3"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		refused(e[i].text, e[i].msg);
}

/* config_argv: the argv of a store, NULL-terminated, or no room. */
static void test_config_argv(void **state)
{
	static const char words[] = "a\0\0b c\0";
	const char *argv[4] = {"x", "x", "x", "x"};

	(void)state;
	assert_int_equal(config_argv(words, 3, argv, 4), 3);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "");
	assert_string_equal(argv[2], "b c");
	assert_null(argv[3]);
	assert_int_equal(config_argv(words, 3, argv, 3), -ENOSPC);
	assert_int_equal(config_argv("", 0, argv, 1), 0);
	assert_null(argv[0]);
	assert_int_equal(config_argv("", 0, argv, 0), -ENOSPC);
	assert_int_equal(config_argv("", -1, argv, 4), -EINVAL);
}

/* data_directory: absolute, in the service's view, and not the root. */
static void test_data_directory(void **state)
{
	static const struct {
		const char *v, *msg;
	} e[] = {
		{"data", "'data' is not an absolute path"},
		{"./data", "'./data' is not an absolute path"},
		{"/", "'/' is the root; name a directory under it"},
		{"//", "'//' is the root; name a directory under it"},
		{"/var/../etc", "'/var/../etc' has a '..' component"},
		{"/var/..", "'/var/..' has a '..' component"},
		{"/../x", "'/../x' has a '..' component"},
	};
	char text[512], msg[512];

	(void)state;
	accepted(PBASE "data_directory = /var/lib/app..d/...\n");
	assert_string_equal(cfg.workload.data_directory, "/var/lib/app..d/...");
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		snprintf(text, sizeof(text), PBASE "data_directory = %s\n",
			 e[i].v);
		snprintf(msg, sizeof(msg), NAME ":9: data_directory: %s",
			 e[i].msg);
		refused(text, msg);
	}
}

/* Each type's keys, required and refused: the first mistake's line. */
static void test_workload_types(void **state)
{
	static const struct {
		const char *text, *msg;
	} e[] = {
		/* kvm (the default type): no process key. */
		{BASE "command = /bin/true\n",
		 NAME ":8: command: only for type = process"},
		{BASE "environment = A=1\n",
		 NAME ":8: environment: only for type = process"},
		{BASE "directory = /\n",
		 NAME ":8: directory: only for type = process"},
		{BASE "data_directory = /data\n",
		 NAME ":8: data_directory: only for type = process"},
		{BASE "criu = /usr/sbin/criu\n",
		 NAME ":8: criu: only for type = process"},
		{BASE "type = kvm\ncriu = /usr/sbin/criu\n",
		 NAME ":9: criu: only for type = process"},
		/* process: no kvm key, and a command. */
		{PBASE "guest = counter.elf\n",
		 NAME ":9: guest: only for type = kvm"},
		{PBASE "args = --interval 10\n",
		 NAME ":9: args: only for type = kvm"},
		{PBASE "args = x\ncriu = /c\nguest = g\n",
		 NAME ":9: args: only for type = kvm"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\nguest = g\n"
		 "type = process\ncommand = x\n",
		 NAME ":7: guest: only for type = kvm"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "environment = A=1\n",
		 NAME ":6: [workload]: command is required"},
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = process\n"
		 "guest = g\n",
		 NAME ":6: [workload]: command is required"},
		/* kvm still requires its guest. */
		{"[cluster]\nname = d\n[node a]\nreplication_address = "
		 "127.0.0.1:1\nrole = primary\n[workload]\ntype = kvm\n"
		 "command = x\n",
		 NAME ":6: [workload]: guest is required"},
		{BASE "type = Process\n",
		 NAME ":8: type: 'Process' is not supported (kvm or process)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		refused(e[i].text, e[i].msg);
}

/*
 * epoch_interval for a process: 200ms unless set, 20ms..10min when set,
 * whichever of [workload] and [replication] comes first; kvm unchanged.
 */
static void test_process_epoch(void **state)
{
	static const char repl_first[] =
		"[cluster]\nname = d\n[replication]\nepoch_interval = %s\n"
		"[node a]\nreplication_address = 127.0.0.1:1\n"
		"role = primary\n[workload]\ntype = process\ncommand = x\n";
	char text[512];

	(void)state;
	accepted(PBASE "[replication]\ncompression = none\n");
	assert_int_equal(cfg.replication.epoch_interval_ns, 200 * MS);
	accepted(PBASE "[replication]\nepoch_interval = 25ms\n");
	assert_int_equal(cfg.replication.epoch_interval_ns, 25 * MS);
	accepted(PBASE "[replication]\nepoch_interval = 20ms\n");
	assert_int_equal(cfg.replication.epoch_interval_ns, 20 * MS);
	accepted(PBASE "[replication]\nepoch_interval = 10min\n");
	assert_int_equal(cfg.replication.epoch_interval_ns, 600000 * MS);
	refused(PBASE "[replication]\nepoch_interval = 19ms\n",
		NAME ":10: epoch_interval: 19ms is out of range for type = "
		     "process (20ms..10min)");
	refused(PBASE "[replication]\nepoch_interval = 19999us\n",
		NAME ":10: epoch_interval: 19999us is out of range for type = "
		     "process (20ms..10min)");
	/* Beyond every type's range: the key's own message. */
	refused(PBASE "[replication]\nepoch_interval = 11min\n",
		NAME ":10: epoch_interval: '11min' is out of range "
		     "(1ms..10min)");

	snprintf(text, sizeof(text), repl_first, "1ms");
	refused(text, NAME ":4: epoch_interval: 1ms is out of range for type = "
			   "process (20ms..10min)");
	snprintf(text, sizeof(text), repl_first, "50ms");
	accepted(text);
	assert_int_equal(cfg.replication.epoch_interval_ns, 50 * MS);

	/* A line error further down comes after, as all line errors do. */
	refused(PBASE "[replication]\nepoch_interval = 10ms\n"
		      "[failover]\ncolour = red\n",
		NAME ":10: epoch_interval: 10ms is out of range for type = "
		     "process (20ms..10min)");

	/* kvm keeps 25ms and 1ms..10min. */
	accepted(BASE "[replication]\nepoch_interval = 1ms\n");
	assert_int_equal(cfg.replication.epoch_interval_ns, MS);
	accepted(BASE);
	assert_int_equal(cfg.replication.epoch_interval_ns, 25 * MS);
}

/* A [service] section after PBASE: its header is line 9, its keys 10... */
#define SBASE PBASE "[service]\n"

static void mac_is(const uint8_t *mac, const char *want)
{
	char got[18];

	snprintf(got, sizeof(got), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	assert_string_equal(got, want);
}

static void ipv4_is(struct in_addr a, const char *want)
{
	char got[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, &a, got, sizeof(got)));
	assert_string_equal(got, want);
}

/* Every key set; then the defaults: rm-CLUSTER, a derived MAC. */
static void test_service(void **state)
{
	uint8_t mac[6];

	(void)state;
	accepted(PBASE);
	assert_int_equal(cfg.service.enabled, 0);
	assert_int_equal(config_service_mac(&cfg, mac), -EINVAL);

	accepted(SBASE "address = 10.78.0.2/24\n"
		       "gateway = 10.78.0.1\n"
		       "mac = 52:54:00:AB:cd:0F\n"
		       "bridge = br-lan.1\n"
		       "interface = veth_redis-1\n"
		       "max_held_bytes = 1M\n");
	assert_int_equal(cfg.service.enabled, 1);
	assert_int_equal(cfg.service.max_held_bytes, 1 << 20);
	ipv4_is(cfg.service.address, "10.78.0.2");
	assert_int_equal(cfg.service.prefix, 24);
	ipv4_is(cfg.service.gateway, "10.78.0.1");
	assert_int_equal(cfg.service.has_gateway, 1);
	mac_is(cfg.service.mac, "52:54:00:ab:cd:0f");
	assert_int_equal(cfg.service.has_mac, 1);
	assert_string_equal(cfg.service.bridge, "br-lan.1");
	assert_string_equal(cfg.service.interface, "veth_redis-1");
	assert_int_equal(config_service_mac(&cfg, mac), 0);
	mac_is(mac, "52:54:00:ab:cd:0f");

	/* The defaults. The derived MAC is pinned: two nodes of different
	 * remora versions must still derive the same one. */
	accepted(SBASE "address = 10.78.0.2/24\nbridge = br0\n");
	assert_int_equal(cfg.service.has_gateway, 0);
	assert_int_equal(cfg.service.gateway.s_addr, 0);
	assert_int_equal(cfg.service.has_mac, 0);
	assert_string_equal(cfg.service.interface, "rm-demo");
	assert_int_equal(cfg.service.max_held_bytes, 16 << 20);
	assert_int_equal(config_service_mac(&cfg, mac), 0);
	mac_is(mac, "02:b2:ef:4b:44:5f");
	/* Another address, another cluster name: another MAC. */
	accepted(SBASE "address = 10.78.0.3/24\nbridge = br0\n");
	assert_int_equal(config_service_mac(&cfg, mac), 0);
	mac_is(mac, "02:77:c7:ed:c9:a7");
	accepted("[cluster]\nname = demo2\n" PBASE_NODE
		 "[service]\naddress = 10.78.0.2/24\nbridge = br0\n");
	assert_int_equal(config_service_mac(&cfg, mac), 0);
	mac_is(mac, "02:fb:83:ff:c7:d7");
	assert_string_equal(cfg.service.interface, "rm-demo2");

	/* The limits: /1, /31 and /32 have no network or broadcast
	 * address; the interface name at 15 characters, from the default
	 * too. */
	accepted(SBASE "address = 10.78.0.0/31\ngateway = 10.78.0.1\n");
	assert_int_equal(cfg.service.prefix, 31);
	accepted(SBASE "address = 10.78.0.255/32\nbridge = b\n");
	assert_int_equal(cfg.service.prefix, 32);
	accepted(SBASE "address = 1.0.0.1/1\nbridge = b\n"
		       "interface = abcdefghijklmno\n");
	assert_int_equal(cfg.service.prefix, 1);
	assert_string_equal(cfg.service.interface, "abcdefghijklmno");
	accepted("[cluster]\nname = abcdefghijkl\n" PBASE_NODE
		 "[service]\naddress = 10.78.0.2/24\nbridge = br0\n");
	assert_string_equal(cfg.service.interface, "rm-abcdefghijkl");
	/* Routing (no bridge) with its gateway. */
	accepted(SBASE "address = 192.168.7.20/28\ngateway = 192.168.7.17\n");
	assert_string_equal(cfg.service.bridge, "");
	assert_int_equal(cfg.service.prefix, 28);

	/* [service] first, [cluster] and [workload] after it. */
	accepted("[service]\naddress = 10.78.0.2/24\nbridge = br0\n"
		 "[cluster]\nname = late\n" PBASE_NODE);
	assert_string_equal(cfg.service.interface, "rm-late");
}

/* docs/examples/service.conf: redis-server, and where it is reached. */
static void test_service_example(void **state)
{
	char path[4096];
	uint8_t mac[6];

	(void)state;
	find_example_named("service.conf", path, sizeof(path));
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.workload.kind, CONFIG_WORKLOAD_PROCESS);
	assert_int_equal(cfg.nnodes, 2);
	words_are(cfg.workload.command, cfg.workload.command_argc,
		  WORDS("/usr/bin/redis-server", "--bind", "0.0.0.0", "--port",
			"6379", "--protected-mode", "no", "--save", "",
			"--appendonly", "no", "--daemonize", "no", "--loglevel",
			"notice"));
	assert_int_equal(cfg.service.enabled, 1);
	ipv4_is(cfg.service.address, "10.78.0.10");
	assert_int_equal(cfg.service.prefix, 24);
	assert_int_equal(cfg.service.has_gateway, 1);
	ipv4_is(cfg.service.gateway, "10.78.0.1");
	assert_int_equal(cfg.service.has_mac, 0);
	assert_string_equal(cfg.service.bridge, "br0");
	assert_string_equal(cfg.service.interface, "rm-redis");
	assert_int_equal(config_service_mac(&cfg, mac), 0);
	assert_int_equal(mac[0], 0x02);
}

/* Each rule of [service], at the line that breaks it. */
static void test_service_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} e[] = {
		/* address */
		{SBASE "bridge = b\n",
		 NAME ":9: [service]: address is required"},
		/* max_held_bytes */
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "max_held_bytes = 1K\n",
		 NAME ":12: max_held_bytes: '1K' is out of range (64K..1G)"},
		{SBASE "address = 10.78.0.2\n",
		 NAME ":10: address: '10.78.0.2' has no prefix length, e.g. "
		      "10.0.0.2/24"},
		{SBASE "address = redis.lan/24\n",
		 NAME ":10: address: 'redis.lan/24' is not a numeric IPv4 "
		      "address and prefix (A.B.C.D/NN; names are not "
		      "resolved)"},
		{SBASE "address = 10.78.0.256/24\n",
		 NAME ":10: address: '10.78.0.256/24' is not a numeric IPv4 "
		      "address and prefix (A.B.C.D/NN; names are not "
		      "resolved)"},
		{SBASE "address = 10.078.0.2/24\n",
		 NAME ":10: address: '10.078.0.2/24' is not a numeric IPv4 "
		      "address and prefix (A.B.C.D/NN; names are not "
		      "resolved)"},
		{SBASE "address = fd00::2/64\n",
		 NAME ":10: address: 'fd00::2/64' is not a numeric IPv4 "
		      "address and prefix (A.B.C.D/NN; names are not "
		      "resolved)"},
		{SBASE "address = 10.78.0.2/\n",
		 NAME ":10: address: prefix length '' is not a decimal "
		      "number"},
		{SBASE "address = 10.78.0.2/24x\n",
		 NAME ":10: address: prefix length '24x' is not a decimal "
		      "number"},
		{SBASE "address = 10.78.0.2/0\n",
		 NAME ":10: address: prefix length '0' is out of range "
		      "(1..32)"},
		{SBASE "address = 10.78.0.2/33\n",
		 NAME ":10: address: prefix length '33' is out of range "
		      "(1..32)"},
		{SBASE "address = 0.0.0.0/24\n",
		 NAME ":10: address: '0.0.0.0/24' is in 0.0.0.0/8 (this "
		      "network)"},
		{SBASE "address = 127.0.0.2/8\n",
		 NAME ":10: address: '127.0.0.2/8' is a loopback address "
		      "(127.0.0.0/8)"},
		{SBASE "address = 224.0.0.5/24\n",
		 NAME ":10: address: '224.0.0.5/24' is a multicast address "
		      "(224.0.0.0/4)"},
		{SBASE "address = 239.255.255.250/32\n",
		 NAME ":10: address: '239.255.255.250/32' is a multicast "
		      "address (224.0.0.0/4)"},
		{SBASE "address = 240.0.0.1/24\n",
		 NAME ":10: address: '240.0.0.1/24' is reserved "
		      "(240.0.0.0/4)"},
		{SBASE "address = 255.255.255.255/32\n",
		 NAME ":10: address: '255.255.255.255/32' is the broadcast "
		      "address"},
		{SBASE "address = 10.78.0.0/24\n",
		 NAME ":10: address: '10.78.0.0/24' is the network address of "
		      "its prefix"},
		{SBASE "address = 10.78.0.255/24\n",
		 NAME ":10: address: '10.78.0.255/24' is the broadcast "
		      "address of its prefix"},
		{SBASE "address = 10.78.0.3/30\n",
		 NAME ":10: address: '10.78.0.3/30' is the broadcast address "
		      "of its prefix"},
		{SBASE "address = 10.78.0.4/30\n",
		 NAME ":10: address: '10.78.0.4/30' is the network address of "
		      "its prefix"},
		/* gateway */
		{SBASE "address = 10.78.0.2/24\ngateway = gw\n",
		 NAME ":11: gateway: 'gw' is not a numeric IPv4 address "
		      "(A.B.C.D; names are not resolved)"},
		{SBASE "address = 10.78.0.2/24\ngateway = 10.78.0.1/24\n",
		 NAME ":11: gateway: '10.78.0.1/24' is not a numeric IPv4 "
		      "address (A.B.C.D; names are not resolved)"},
		{SBASE "address = 10.78.0.2/24\ngateway = 127.0.0.1\n",
		 NAME ":11: gateway: '127.0.0.1' is a loopback address "
		      "(127.0.0.0/8)"},
		{SBASE "address = 10.78.0.2/24\ngateway = 10.79.0.1\n",
		 NAME ":11: gateway: 10.79.0.1 is outside address's prefix "
		      "(10.78.0.0/24, line 10)"},
		{SBASE "gateway = 10.78.1.1\naddress = 10.78.0.2/24\n",
		 NAME ":10: gateway: 10.78.1.1 is outside address's prefix "
		      "(10.78.0.0/24, line 11)"},
		{SBASE "address = 10.78.0.2/24\ngateway = 10.78.0.2\n",
		 NAME ":11: gateway: 10.78.0.2 is the service's own address"},
		{SBASE "address = 10.78.0.2/32\ngateway = 10.78.0.1\n",
		 NAME ":11: gateway: 10.78.0.1 is outside address's prefix "
		      "(10.78.0.2/32, line 10)"},
		{SBASE "address = 10.78.0.2/24\ngateway = 10.78.0.0\n",
		 NAME ":11: gateway: 10.78.0.0 is the network address of "
		      "10.78.0.0/24"},
		{SBASE "address = 10.78.0.2/24\ngateway = 10.78.0.255\n",
		 NAME ":11: gateway: 10.78.0.255 is the broadcast address of "
		      "10.78.0.0/24"},
		{SBASE "address = 10.78.0.2/24\n",
		 NAME ":9: [service]: gateway is required without bridge (the "
		      "host end routes the service: give the next hop it uses, "
		      "e.g. the first address of its prefix)"},
		/* mac */
		{SBASE "address = 10.78.0.2/24\nbridge = b\nmac = 52:54:00\n",
		 NAME ":12: mac: '52:54:00' is not a MAC address "
		      "(xx:xx:xx:xx:xx:xx, hex)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 52-54-00-12-34-56\n",
		 NAME ":12: mac: '52-54-00-12-34-56' is not a MAC address "
		      "(xx:xx:xx:xx:xx:xx, hex)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 52:54:00:12:34:5g\n",
		 NAME ":12: mac: '52:54:00:12:34:5g' is not a MAC address "
		      "(xx:xx:xx:xx:xx:xx, hex)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 52:54:00:12:34:567\n",
		 NAME ":12: mac: '52:54:00:12:34:567' is not a MAC address "
		      "(xx:xx:xx:xx:xx:xx, hex)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 5:54:00:12:34:56\n",
		 NAME ":12: mac: '5:54:00:12:34:56' is not a MAC address "
		      "(xx:xx:xx:xx:xx:xx, hex)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 01:00:5e:00:00:01\n",
		 NAME ":12: mac: '01:00:5e:00:00:01' is a multicast address "
		      "(odd first byte); an interface needs a unicast one"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = ff:ff:ff:ff:ff:ff\n",
		 NAME ":12: mac: 'ff:ff:ff:ff:ff:ff' is a multicast address "
		      "(odd first byte); an interface needs a unicast one"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "mac = 00:00:00:00:00:00\n",
		 NAME ":12: mac: '00:00:00:00:00:00' is not an interface's "
		      "address"},
		/* bridge, interface */
		{SBASE "address = 10.78.0.2/24\nbridge = br/0\n",
		 NAME ":11: bridge: 'br/0' may only contain A-Z a-z 0-9 . _ -"},
		{SBASE "address = 10.78.0.2/24\nbridge = a:b\n",
		 NAME ":11: bridge: 'a:b' may only contain A-Z a-z 0-9 . _ -"},
		{SBASE "address = 10.78.0.2/24\nbridge = ..\n",
		 NAME ":11: bridge: '..' is not an interface name"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "interface = abcdefghijklmnop\n",
		 NAME ":12: interface: 'abcdefghijklmnop' is longer than 15 "
		      "characters"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\ninterface = .\n",
		 NAME ":12: interface: '.' is not an interface name"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "interface = eth 1\n",
		 NAME ":12: interface: 'eth 1' may only contain A-Z a-z 0-9 . "
		      "_ -"},
		{SBASE "address = 10.78.0.2/24\nbridge = br0\n"
		       "interface = br0\n",
		 NAME ":11: bridge: br0 is the host end's own name "
		      "(interface); name the bridge it joins"},
		{SBASE "address = 10.78.0.2/24\nbridge = rm-demo\n",
		 NAME ":11: bridge: rm-demo is the host end's own name "
		      "(interface); name the bridge it joins"},
		{"[cluster]\nname = abcdefghijklm\n" PBASE_NODE
		 "[service]\naddress = 10.78.0.2/24\nbridge = br0\n",
		 NAME ":9: [service]: the host end's default name "
		      "rm-abcdefghijklm is longer than 15 characters; set "
		      "interface"},
		/* the section */
		{SBASE "address = 10.78.0.2/24\nbridge = b\nport = 6379\n",
		 NAME ":12: port: unknown key in [service]"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n[service]\n",
		 NAME ":12: [service]: duplicate section (first at line 9)"},
		{SBASE "address = 10.78.0.2/24\nbridge = b\n"
		       "address = 10.78.0.3/24\n",
		 NAME ":12: address: duplicate key (first at line 10)"},
		/* Only with a process: at [service]'s header, either order. */
		{BASE "[service]\naddress = 10.78.0.2/24\nbridge = br0\n",
		 NAME ":8: [service]: only for [workload] type = process (type "
		      "is kvm, the default)"},
		{BASE "type = kvm\n[service]\naddress = 10.78.0.2/24\n"
		      "bridge = br0\n",
		 NAME ":9: [service]: only for [workload] type = process (type "
		      "is kvm)"},
		{"[service]\naddress = 10.78.0.2/24\nbridge = br0\n" BASE,
		 NAME ":1: [service]: only for [workload] type = process (type "
		      "is kvm, the default)"},
		/* A line error further down comes after it. */
		{BASE "[service]\naddress = 10.78.0.2/24\nbridge = br0\n"
		      "[failover]\ncolour = red\n",
		 NAME ":8: [service]: only for [workload] type = process (type "
		      "is kvm, the default)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		refused(e[i].text, e[i].msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_process_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many_nodes),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_args_continued),
		cmocka_unit_test(test_bom_crlf_comments),
		cmocka_unit_test(test_first_error_only),
		cmocka_unit_test(test_messages_stay_one_line),
		cmocka_unit_test(test_messages_utf8),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_long_resolved_path),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_defaults_spelled_out),
		cmocka_unit_test(test_arbiter_keys),
		cmocka_unit_test(test_tls_keys),
		cmocka_unit_test(test_process_defaults),
		cmocka_unit_test(test_command_words),
		cmocka_unit_test(test_words_continued),
		cmocka_unit_test(test_words_errors),
		cmocka_unit_test(test_config_argv),
		cmocka_unit_test(test_data_directory),
		cmocka_unit_test(test_workload_types),
		cmocka_unit_test(test_process_epoch),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_service_example),
		cmocka_unit_test(test_service_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
