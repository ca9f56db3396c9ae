/*
 * Fuzz target: the config file (config_parse) on arbitrary bytes.
 * Properties: no read past the text (it is not NUL-terminated); the result
 * is 0 or a negative errno; a refusal is one printable line that starts
 * with the file's name, never an internal error (config.c and libinih
 * disagreeing on a section), and the same refusal, cut short, in a small
 * buffer; an accepted config holds every limit docs/configuration.md
 * promises, for either workload type (a process's command and environment
 * well-formed words; a [service] address, gateway and MAC a host can
 * use), so no consumer has to check again.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define NAME "remora.conf"
#define DIR  "/etc/remora"

static int name_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n == size)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

/* A path from the file: set, NUL-terminated, absolute once resolved. */
static int path_ok(const char *s, size_t size, int dash_ok)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n == size)
		return 0;
	return s[0] == '/' || (dash_ok && strcmp(s, "-") == 0);
}

/*
 * n words in a store of size bytes, each ending in a NUL, the rest zero;
 * an argv of them by config_argv. Returns the argv's first word.
 */
static const char *words_ok(const char *w, size_t size, int n)
{
	static const char *argv[CONFIG_WORDS_MAX + 1];
	size_t used = 0;

	FUZZ_CHECK(n >= 0 && n <= CONFIG_WORDS_MAX);
	for (int i = 0; i < n; i++) {
		size_t len = strnlen(w + used, size - used);

		FUZZ_CHECK(len < size - used);
		used += len + 1;
	}
	for (size_t i = used; i < size; i++)
		FUZZ_CHECK(w[i] == '\0');
	FUZZ_CHECK(config_argv(w, n, argv, CONFIG_WORDS_MAX + 1) == n);
	FUZZ_CHECK(argv[n] == NULL);
	return n ? argv[0] : NULL;
}

/* KEY=VALUE, KEY a variable name, no KEY twice. */
static void env_ok(const char *w, int n)
{
	const char *word = w, *o, *eq;

	for (int i = 0; i < n; i++, word += strlen(word) + 1) {
		eq = strchr(word, '=');
		FUZZ_CHECK(eq && eq > word && !isdigit((unsigned char)*word));
		for (const char *p = word; p < eq; p++)
			FUZZ_CHECK(isalnum((unsigned char)*p) || *p == '_');
		for (o = w; o < word; o += strlen(o) + 1)
			FUZZ_CHECK(strncmp(o, word, (size_t)(eq - word) + 1));
	}
}

static void check_process(const struct config *c)
{
	const char *dd = c->workload.data_directory;
	const char *argv0;

	FUZZ_CHECK(strcmp(c->workload.type, "process") == 0);
	FUZZ_CHECK(c->workload.guest[0] == '\0');
	FUZZ_CHECK(c->workload.args[0] == '\0');
	argv0 = words_ok(c->workload.command, sizeof(c->workload.command),
			 c->workload.command_argc);
	FUZZ_CHECK(argv0 && *argv0);
	words_ok(c->workload.environment, sizeof(c->workload.environment),
		 c->workload.environment_count);
	env_ok(c->workload.environment, c->workload.environment_count);
	if (*dd) {
		FUZZ_CHECK(dd[0] == '/' && dd[strspn(dd, "/")] != '\0');
		FUZZ_CHECK(strnlen(dd, CONFIG_PATH_MAX) < CONFIG_PATH_MAX);
		for (const char *p = dd; (p = strstr(p, "/..")); p++)
			FUZZ_CHECK(p[3] != '/' && p[3] != '\0');
	}
	FUZZ_CHECK(c->workload.criu[0] == '\0' ||
		   path_ok(c->workload.criu, sizeof(c->workload.criu), 0));
	FUZZ_CHECK(c->replication.epoch_interval_ns >= 20000000ull);
}

/* [service]: a host's address, a gateway beside it, a unicast MAC. */
static void check_service(const struct config *c)
{
	static const char zero[sizeof(c->service)];
	uint32_t a = ntohl(c->service.address.s_addr);
	uint32_t g = ntohl(c->service.gateway.s_addr);
	uint32_t m;
	uint8_t mac[6];

	if (!c->service.enabled) {
		FUZZ_CHECK(memcmp(&c->service, zero, sizeof(zero)) == 0);
		FUZZ_CHECK(config_service_mac(c, mac) == -EINVAL);
		return;
	}
	FUZZ_CHECK(c->workload.kind == CONFIG_WORKLOAD_PROCESS);
	FUZZ_CHECK(c->service.prefix >= 1 && c->service.prefix <= 32);
	m = 0xffffffffu << (32 - c->service.prefix);
	FUZZ_CHECK((a >> 24) != 0 && (a >> 24) != 127 && (a >> 28) < 0xe);
	if (c->service.prefix <= 30)
		FUZZ_CHECK((a & ~m) != 0 && (a & ~m) != ~m);
	FUZZ_CHECK(c->service.has_gateway == 0 || c->service.has_gateway == 1);
	if (c->service.has_gateway)
		FUZZ_CHECK((g & m) == (a & m) && g != a);
	else
		FUZZ_CHECK(g == 0 && c->service.bridge[0]);
	FUZZ_CHECK(config_service_mac(c, mac) == 0);
	FUZZ_CHECK((mac[0] & 1) == 0 &&
		   (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0);
	if (c->service.has_mac)
		FUZZ_CHECK(memcmp(mac, c->service.mac, 6) == 0);
	else
		FUZZ_CHECK(mac[0] == 0x02);
	FUZZ_CHECK(name_ok(c->service.interface, sizeof(c->service.interface)));
	FUZZ_CHECK(c->service.bridge[0] == '\0' ||
		   name_ok(c->service.bridge, sizeof(c->service.bridge)));
	FUZZ_CHECK(strcmp(c->service.bridge, c->service.interface) != 0);
}

static void check_config(const struct config *c)
{
	unsigned char addr[16];
	int primaries = 0;

	FUZZ_CHECK(strcmp(c->path, NAME) == 0);
	FUZZ_CHECK(name_ok(c->cluster, sizeof(c->cluster)));

	FUZZ_CHECK(c->nnodes >= 1 && c->nnodes <= CONFIG_NODES_MAX);
	for (int i = 0; i < c->nnodes; i++) {
		const struct config_node *n = &c->nodes[i];

		FUZZ_CHECK(name_ok(n->name, sizeof(n->name)));
		FUZZ_CHECK(config_node(c, n->name) == n);
		FUZZ_CHECK(strnlen(n->host, sizeof(n->host)) < sizeof(n->host));
		FUZZ_CHECK(inet_pton(AF_INET, n->host, addr) == 1 ||
			   inet_pton(AF_INET6, n->host, addr) == 1);
		FUZZ_CHECK(n->port >= 1);
		FUZZ_CHECK(path_ok(n->control_socket, sizeof(n->control_socket),
				   0));
		FUZZ_CHECK(n->role == CONFIG_ROLE_PRIMARY ||
			   n->role == CONFIG_ROLE_BACKUP);
		primaries += n->role == CONFIG_ROLE_PRIMARY;
		FUZZ_CHECK(n->console[0] == '\0' ||
			   path_ok(n->console, sizeof(n->console), 1));
		FUZZ_CHECK(path_ok(config_console(c, n), CONFIG_PATH_MAX, 1));
		FUZZ_CHECK(n->line >= 1 && (i == 0 || n->line > n[-1].line));
		for (int j = 0; j < i; j++)
			FUZZ_CHECK(c->nodes[j].port != n->port ||
				   strcmp(c->nodes[j].host, n->host) != 0);
	}
	FUZZ_CHECK(primaries == 1);
	FUZZ_CHECK(config_node_by_role(c, CONFIG_ROLE_PRIMARY) != NULL);

	if (c->workload.kind == CONFIG_WORKLOAD_KVM) {
		FUZZ_CHECK(strcmp(c->workload.type, "kvm") == 0);
		FUZZ_CHECK(path_ok(c->workload.guest, sizeof(c->workload.guest),
				   0));
		FUZZ_CHECK(c->workload.command_argc == 0);
		FUZZ_CHECK(c->workload.environment_count == 0);
		FUZZ_CHECK(c->workload.data_directory[0] == '\0');
		FUZZ_CHECK(c->workload.criu[0] == '\0');
		FUZZ_CHECK(c->replication.epoch_interval_ns >= 1000000ull);
	} else {
		FUZZ_CHECK(c->workload.kind == CONFIG_WORKLOAD_PROCESS);
		check_process(c);
	}
	FUZZ_CHECK(path_ok(c->workload.directory, sizeof(c->workload.directory),
			   0));
	FUZZ_CHECK(c->workload.memory >= 4ull << 20 &&
		   c->workload.memory <= 4ull << 30);
	FUZZ_CHECK(c->workload.memory % (2ull << 20) == 0);
	FUZZ_CHECK(strnlen(c->workload.args, sizeof(c->workload.args)) <
		   sizeof(c->workload.args));
	FUZZ_CHECK(
		path_ok(c->workload.console, sizeof(c->workload.console), 1));

	FUZZ_CHECK(c->replication.epoch_interval_ns <= 600000000000ull);
	FUZZ_CHECK(c->replication.compression == CONFIG_COMPRESSION_NONE ||
		   c->replication.compression == CONFIG_COMPRESSION_LZ4);
	FUZZ_CHECK(c->replication.delta == 0 || c->replication.delta == 1);
	FUZZ_CHECK(c->replication.max_inflight_epochs >= 1 &&
		   c->replication.max_inflight_epochs <= 64);
	FUZZ_CHECK(c->replication.precopy_max_rounds >= 1 &&
		   c->replication.precopy_max_rounds <= 100);

	FUZZ_CHECK(c->failover.heartbeat_interval_ns >= 1000000ull &&
		   c->failover.heartbeat_interval_ns <= 60000000000ull);
	FUZZ_CHECK(c->failover.heartbeat_timeout_ns >
		   c->failover.heartbeat_interval_ns);
	check_service(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c;
	static char err[CONFIG_ERR_MAX], small[24];
	const char *what;
	size_t n;
	int ret, again;

	memset(err, 'x', sizeof(err));
	ret = config_parse((const char *)data, size, NAME, DIR, &c, err,
			   sizeof(err));
	FUZZ_CHECK(ret == 0 || ret < 0);
	if (ret == 0) {
		FUZZ_CHECK(err[0] == '\0');
		check_config(&c);
		return 0;
	}

	n = strnlen(err, sizeof(err));
	FUZZ_CHECK(n > 0 && n < sizeof(err));
	FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
	FUZZ_CHECK(n > strlen(NAME ": "));
	/* Our idea of where sections start is libinih's. */
	what = err + strlen(NAME ":");
	what += strspn(what, "0123456789");
	FUZZ_CHECK(strncmp(what, ": internal error: libinih sees", 30) != 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);

	/* The same answer, cut to fit, in a buffer too small for it. */
	memset(small, 'x', sizeof(small));
	again = config_parse((const char *)data, size, NAME, DIR, &c, small,
			     sizeof(small));
	FUZZ_CHECK(again == ret);
	FUZZ_CHECK(strnlen(small, sizeof(small)) < sizeof(small));
	FUZZ_CHECK(strncmp(small, err, strlen(small)) == 0);
	return 0;
}
