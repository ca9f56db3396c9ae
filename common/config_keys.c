/*
 * Every key of remora.conf, one row each: the single place that says what
 * a key is called, what it holds, what it defaults to, what it accepts and
 * what it is for. config.c parses and checks files with it, and
 * tests/unit/config_keys_md.c prints it as the key list in
 * docs/configuration.md (scripts/gen-config-docs). Adding a key is adding
 * a row here and its field in config.h; checks that involve several keys
 * stay code, in config.c's close_section.
 *
 * Rows go in the order the docs list them; a section's missing required
 * keys are reported in that order too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"

#define US  1000ull
#define MS  (1000 * US)
#define S   (1000 * MS)
#define MIN (60 * S)
#define H   (60 * MIN)
#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* The field a key fills: in struct config, or (NODE_FIELD) config_node. */
#define FIELD(f)                           \
	.off = offsetof(struct config, f), \
	.size = sizeof(((struct config *)0)->f)
#define NODE_FIELD(f)                           \
	.off = offsetof(struct config_node, f), \
	.size = sizeof(((struct config_node *)0)->f)

#define CHOICES(...)                   \
	(const struct config_choice[]) \
	{                              \
		__VA_ARGS__,           \
		{                      \
			NULL, 0        \
		}                      \
	}

const char *const config_section_names[CONFIG_SEC_COUNT] = {
	[CONFIG_SEC_CLUSTER] = "cluster",
	[CONFIG_SEC_NODE] = "node",
	[CONFIG_SEC_WORKLOAD] = "workload",
	[CONFIG_SEC_SERVICE] = "service",
	[CONFIG_SEC_REPLICATION] = "replication",
	[CONFIG_SEC_FAILOVER] = "failover",
};

const struct config_key config_keys[] = {
	/* [cluster] */
	{
		.sec = CONFIG_SEC_CLUSTER,
		.name = "name",
		.type = CONFIG_T_NAME,
		FIELD(cluster),
		.doc = "The replicated workload's identity; both nodes must "
		       "agree on it.",
	},
	{
		.sec = CONFIG_SEC_CLUSTER,
		.name = "key_file",
		.type = CONFIG_T_PATH,
		.def = "",
		FIELD(key_file),
		.doc = "The cluster's pre-shared key (32..4096 bytes, mode "
		       "0600): every replication frame is authenticated with "
		       "it. Empty: frames are not authenticated.",
	},
	{
		.sec = CONFIG_SEC_CLUSTER,
		.name = "tls_certificate",
		.type = CONFIG_T_PATH,
		.def = "",
		FIELD(tls_certificate),
		.doc = "TLS 1.3 instead of key_file: this node's certificate "
		       "(PEM), signed by tls_ca, naming the node "
		       "(subjectAltName DNS or CN). Set all three tls_* keys "
		       "or none.",
	},
	{
		.sec = CONFIG_SEC_CLUSTER,
		.name = "tls_private_key",
		.type = CONFIG_T_PATH,
		.def = "",
		FIELD(tls_private_key),
		.doc = "The private key of tls_certificate (PEM, unencrypted, "
		       "mode 0600).",
	},
	{
		.sec = CONFIG_SEC_CLUSTER,
		.name = "tls_ca",
		.type = CONFIG_T_PATH,
		.def = "",
		FIELD(tls_ca),
		.doc = "The cluster's CA certificate (PEM): a peer's "
		       "certificate "
		       "must be signed by it and name one of the cluster's "
		       "nodes.",
	},

	/* [node NAME] */
	{
		.sec = CONFIG_SEC_NODE,
		.name = "replication_address",
		.type = CONFIG_T_ADDRESS,
		NODE_FIELD(host),
		.off2 = offsetof(struct config_node, port),
		.doc = "Where this node listens for, and is reached by, the "
		       "replication stream and heartbeats.",
	},
	{
		.sec = CONFIG_SEC_NODE,
		.name = "control_socket",
		.type = CONFIG_T_PATH,
		.def = "/run/remora/NAME.sock",
		NODE_FIELD(control_socket),
		.doc = "The Unix socket that remoractl talks to on this host.",
	},
	{
		.sec = CONFIG_SEC_NODE,
		.name = "role",
		.type = CONFIG_T_CHOICE,
		.choices = CHOICES({"primary", CONFIG_ROLE_PRIMARY},
				   {"backup", CONFIG_ROLE_BACKUP}),
		.refusal = "is not a role (primary or backup)",
		NODE_FIELD(role),
		.doc = "The role this node starts in; exactly one node starts "
		       "as primary.",
	},
	{
		.sec = CONFIG_SEC_NODE,
		.name = "console",
		.type = CONFIG_T_SINK,
		.def = "",
		NODE_FIELD(console),
		.doc = "The guest's console sink while it runs on this node; "
		       "empty: the workload's console.",
	},

	/* [workload] */
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "type",
		.type = CONFIG_T_WORD,
		.def = "kvm",
		.choices = CHOICES({"kvm", CONFIG_WORKLOAD_KVM},
				   {"process", CONFIG_WORKLOAD_PROCESS}),
		.refusal = "is not supported (kvm or process)",
		FIELD(workload.type),
		.off2 = offsetof(struct config, workload.kind),
		.doc = "The kind of workload: `kvm`, a remora micro-VM under "
		       "KVM, or `process`, an unmodified Linux program "
		       "checkpointed with CRIU.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "guest",
		.type = CONFIG_T_PATH,
		.flags = CONFIG_KEY_KVM,
		FIELD(workload.guest),
		.doc = "The guest program: a static 64-bit ELF built against "
		       "the guest SDK.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "memory",
		.type = CONFIG_T_SIZE,
		.def = "64M",
		.lo = 4 * MIB,
		.hi = 4 * GIB,
		.step = 2 * MIB,
		FIELD(workload.memory),
		.doc = "The page space, and the size of the backup's replica: "
		       "guest RAM (kvm), or the most memory the wrapped "
		       "process, all its tasks plus its images, may use "
		       "(process).",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "memory_backing",
		.type = CONFIG_T_CHOICE,
		.def = "normal",
		.choices = CHOICES({"normal", CONFIG_BACKING_NORMAL},
				   {"hugetlb", CONFIG_BACKING_HUGETLB}),
		.refusal = "is not supported (normal or hugetlb)",
		FIELD(workload.memory_backing),
		.doc = "Where guest RAM (kvm) and the backup's replica live: "
		       "`normal` shared memory in 4 KiB pages, or `hugetlb`, "
		       "2 MiB pages from the host's reserved pool, which "
		       "makes a first sync and promotion several times "
		       "faster where page faults are dear (a virtualized "
		       "host). The operator reserves the pool "
		       "(docs/operations.md, \"Huge pages\"): the primary "
		       "needs memory, the backup twice memory; a node "
		       "whose pool is short refuses to start, saying how "
		       "much to reserve.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "args",
		.type = CONFIG_T_TEXT,
		.def = "",
		.flags = CONFIG_KEY_LINES | CONFIG_KEY_KVM,
		FIELD(workload.args),
		.doc = "The guest's command line, passed verbatim.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "console",
		.type = CONFIG_T_SINK,
		.def = "-",
		FIELD(workload.console),
		.doc = "The workload's console sink (a process's stdout and "
		       "stderr): a file, or `-` for the daemon's stdout.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "command",
		.type = CONFIG_T_ARGV,
		.flags = CONFIG_KEY_LINES | CONFIG_KEY_PROCESS,
		FIELD(workload.command),
		.off2 = offsetof(struct config, workload.command_argc),
		.doc = "The program and its arguments, as words: blanks "
		       "separate them, `'...'` quotes, `\"...\"` quotes "
		       "with `\\` escaping `\"` and `\\`, `\\` escapes "
		       "the next character; no shell: no variables, globs "
		       "or substitutions.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "environment",
		.type = CONFIG_T_ENVIRON,
		.def = "",
		.flags = CONFIG_KEY_LINES | CONFIG_KEY_PROCESS,
		FIELD(workload.environment),
		.off2 = offsetof(struct config, workload.environment_count),
		.doc = "The service's whole environment, `KEY=VALUE` words "
		       "quoted as in command: it gets these variables and no "
		       "others (set PATH here). Empty: none.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "directory",
		.type = CONFIG_T_PATH,
		.def = "/",
		.flags = CONFIG_KEY_PROCESS,
		FIELD(workload.directory),
		.doc = "The service's working directory.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "data_directory",
		.type = CONFIG_T_ABSPATH,
		.def = "",
		.flags = CONFIG_KEY_PROCESS,
		FIELD(workload.data_directory),
		.doc = "A directory, in the service's view, where remora "
		       "mounts "
		       "a private tmpfs whose files travel with every epoch, "
		       "consistent with memory. Empty: none.",
	},
	{
		.sec = CONFIG_SEC_WORKLOAD,
		.name = "criu",
		.type = CONFIG_T_PATH,
		.def = "",
		.flags = CONFIG_KEY_PROCESS,
		FIELD(workload.criu),
		.doc = "The CRIU binary. Empty: the one scripts/build-criu "
		       "installs, the repository's .criu/sbin/criu.",
	},

	/* [service]: only with type = process (config.c checks) */
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "address",
		.type = CONFIG_T_IPV4_NET,
		FIELD(service.address),
		.off2 = offsetof(struct config, service.prefix),
		.doc = "The service's IPv4 address and prefix, on eth0 in its "
		       "network namespace; the same on every node, up only "
		       "where the service runs.",
	},
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "gateway",
		.type = CONFIG_T_IPV4,
		.def = "",
		FIELD(service.gateway),
		.off2 = offsetof(struct config, service.has_gateway),
		.doc = "The service's default route, inside address's prefix. "
		       "Required without bridge. Empty: no default route.",
	},
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "mac",
		.type = CONFIG_T_MAC,
		.def = "",
		FIELD(service.mac),
		.off2 = offsetof(struct config, service.has_mac),
		.doc = "eth0's MAC address, the same on every node. Empty: one "
		       "derived from the cluster name and address "
		       "(02:...).",
	},
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "bridge",
		.type = CONFIG_T_IFNAME,
		.def = "",
		FIELD(service.bridge),
		.doc = "An existing bridge on the host that the host end "
		       "joins. Empty: routing, a /32 route to address via the "
		       "host end.",
	},
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "interface",
		.type = CONFIG_T_IFNAME,
		.def = "",
		FIELD(service.interface),
		.doc = "The name of the veth pair's host end. Empty: `rm-` "
		       "and the cluster name.",
	},
	{
		.sec = CONFIG_SEC_SERVICE,
		.name = "max_held_bytes",
		.type = CONFIG_T_SIZE,
		.def = "16M",
		.lo = 64 * 1024,
		.hi = 1 * GIB,
		FIELD(service.max_held_bytes),
		.doc = "The most packet bytes the primary holds for "
		       "unacknowledged epochs; reaching it starts the next "
		       "epoch at once. The kernel's queue holds two packets "
		       "per 64 bytes of it (1024..262144); past that, packets "
		       "are dropped and TCP resends them.",
	},

	/* [replication] */
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "epoch_interval",
		.type = CONFIG_T_DURATION,
		.def = "25ms",
		.lo = 1 * MS,
		.hi = 10 * MIN,
		FIELD(replication.epoch_interval_ns),
		.doc = "How often the primary pauses the workload and captures "
		       "what changed. type = process: 20ms..10min, default "
		       "200ms.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "compression",
		.type = CONFIG_T_CHOICE,
		.def = "lz4",
		.choices = CHOICES({"lz4", CONFIG_COMPRESSION_LZ4},
				   {"none", CONFIG_COMPRESSION_NONE}),
		.refusal = "is not supported (lz4 or none)",
		FIELD(replication.compression),
		.doc = "How page batches are compressed on the wire.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "delta",
		.type = CONFIG_T_BOOL,
		.def = "on",
		FIELD(replication.delta),
		.doc = "Send changed pages as XOR deltas against the backup's "
		       "copy.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "max_inflight_epochs",
		.type = CONFIG_T_UINT,
		.def = "4",
		.lo = 1,
		.hi = 64,
		FIELD(replication.max_inflight_epochs),
		.doc = "Epochs sent but not yet acknowledged before the "
		       "primary waits (backpressure).",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "hot_pages",
		.type = CONFIG_T_UINT,
		.def = "1024",
		.lo = 0,
		.hi = 1u << 20,
		FIELD(replication.hot_pages),
		.doc = "kvm: the most guest pages left writable between epochs "
		       "because the guest keeps writing them. A hot page is "
		       "copied at every epoch instead of costing a "
		       "write-protect fault at its first write after each "
		       "one (about 20 us where KVM is software-assisted, "
		       "against 0.3 us to copy it); each one adds a page to "
		       "every pause, so they may fill at most half of "
		       "max_epoch_size. 0: every page is protected at every "
		       "epoch (docs/microvm.md, \"Hot pages\").",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "max_epoch_size",
		.type = CONFIG_T_SIZE,
		.def = "16M",
		.lo = 1 * MIB,
		.hi = 1 * GIB,
		.step = 4096,
		FIELD(replication.max_epoch_size),
		.doc = "kvm: the guest memory one epoch's pause copies "
		       "without allocating. Every pipeline slot "
		       "(max_inflight_epochs + 1) reserves this much for "
		       "page copies and as much for encoded output at "
		       "start. When the pages written since the last "
		       "epoch reach three quarters of it, the next epoch "
		       "starts at once instead of at its tick (--stats "
		       "full_epochs); one larger still grows its slot "
		       "inside its pause (--stats staging_grown). The "
		       "backup reserves as much at start to receive an "
		       "epoch into, and logs an epoch that outgrew it.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "delta_cache",
		.type = CONFIG_T_SIZE,
		.def = "256M",
		.hi = UINT64_MAX,
		FIELD(replication.delta_cache),
		.doc = "Primary memory for the pages that deltas are computed "
		       "against, made resident when the primary starts; `0` "
		       "disables it.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "precopy_max_rounds",
		.type = CONFIG_T_UINT,
		.def = "5",
		.lo = 1,
		.hi = 100,
		FIELD(replication.precopy_max_rounds),
		.doc = "Pre-copy rounds, at most, when a backup (re)joins.",
	},
	{
		.sec = CONFIG_SEC_REPLICATION,
		.name = "precopy_stop_pages",
		.type = CONFIG_T_UINT,
		.def = "256",
		.hi = UINT64_MAX,
		FIELD(replication.precopy_stop_pages),
		.doc = "Pre-copy ends once a round leaves this many dirty "
		       "pages or fewer.",
	},

	/* [failover] */
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "heartbeat_interval",
		.type = CONFIG_T_DURATION,
		.def = "100ms",
		.lo = 1 * MS,
		.hi = 1 * MIN,
		FIELD(failover.heartbeat_interval_ns),
		.doc = "How often each node tells the other it is alive.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "heartbeat_timeout",
		.type = CONFIG_T_DURATION,
		.def = "1s",
		.hi = UINT64_MAX,
		FIELD(failover.heartbeat_timeout_ns),
		.doc = "Silence after which the backup promotes; longer than "
		       "heartbeat_interval.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "on_connection_loss",
		.type = CONFIG_T_CHOICE,
		.def = "wait-timeout",
		.choices = CHOICES({"wait-timeout", CONFIG_CONN_LOSS_WAIT},
				   {"promote", CONFIG_CONN_LOSS_PROMOTE}),
		.refusal = "is not wait-timeout or promote",
		FIELD(failover.on_connection_loss),
		.doc = "What the backup does when the connection to the "
		       "primary breaks.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "health_check_command",
		.type = CONFIG_T_COMMAND,
		.def = "",
		FIELD(failover.health_check_command),
		.doc = "The backup's check of the primary; failing it "
		       "promotes. Empty: none.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "health_check_interval",
		.type = CONFIG_T_DURATION,
		.def = "1s",
		.lo = 10 * MS,
		.hi = 1 * H,
		FIELD(failover.health_check_interval_ns),
		.doc = "How often the backup runs health_check_command.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "health_check_timeout",
		.type = CONFIG_T_DURATION,
		.def = "2s",
		.lo = 1 * MS,
		.hi = 10 * MIN,
		FIELD(failover.health_check_timeout_ns),
		.doc = "A health check still running after this has failed.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "fence_command",
		.type = CONFIG_T_COMMAND,
		.def = "",
		FIELD(failover.fence_command),
		.doc = "Run before every promotion, which waits for it to "
		       "exit 0. Empty: none.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "fence_timeout",
		.type = CONFIG_T_DURATION,
		.def = "10s",
		.lo = 1 * MS,
		.hi = 10 * MIN,
		FIELD(failover.fence_timeout_ns),
		.doc = "A fence command still running after this has failed.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "on_backup_loss",
		.type = CONFIG_T_CHOICE,
		/* pause: never two histories without an arbiter (continue
		 * forks them when the link, not the backup, is cut) */
		.def = "pause",
		.choices = CHOICES({"continue", CONFIG_BACKUP_LOSS_CONTINUE},
				   {"pause", CONFIG_BACKUP_LOSS_PAUSE}),
		.refusal = "is not continue or pause",
		FIELD(failover.on_backup_loss),
		.doc = "What the primary does when it loses its backup.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "arbiter",
		.type = CONFIG_T_CHOICE,
		.def = "none",
		.choices = CHOICES({"none", CONFIG_ARBITER_NONE},
				   {"etcd", CONFIG_ARBITER_ETCD}),
		.refusal = "is not none or etcd",
		FIELD(failover.arbiter),
		.doc = "etcd: the primary releases output only while it holds "
		       "the cluster's lease, and a backup promotes only once "
		       "it won it.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "etcd_endpoints",
		.type = CONFIG_T_URLS,
		.def = "",
		FIELD(failover.etcd_endpoints),
		.doc = "The etcd cluster holding the lease (v3 API); required "
		       "with arbiter = etcd.",
	},
	{
		.sec = CONFIG_SEC_FAILOVER,
		.name = "lease_ttl",
		.type = CONFIG_T_DURATION,
		.def = "2s",
		.lo = 1 * S,
		.hi = 1 * MIN,
		.step = 1 * S,
		FIELD(failover.lease_ttl_ns),
		.doc = "How long the lease outlives the last keep-alive of a "
		       "primary that stopped: a failover waits for it.",
	},
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
	       "raise CONFIG_KEYS_MAX");

const struct config_key *config_key_find(enum config_section sec,
					 const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].sec == sec &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

int config_key_for(const struct config_key *k, enum config_workload kind)
{
	if (k->flags & CONFIG_KEY_KVM)
		return kind == CONFIG_WORKLOAD_KVM;
	if (k->flags & CONFIG_KEY_PROCESS)
		return kind == CONFIG_WORKLOAD_PROCESS;
	return 1;
}

const char *config_workload_name(enum config_workload kind)
{
	return kind == CONFIG_WORKLOAD_PROCESS ? "process" : "kvm";
}
