/*
 * The deployment's one config file (remora.conf, INI), parsed with libinih
 * and checked key by key. Every error is one line naming the file, the line
 * and the key: "remora.conf:12: epoch_interval: '25' needs a unit (25ms)".
 * The keys, their defaults and their limits are one table, config_keys.c,
 * which docs/configuration.md lists.
 *
 * Pure code: no libuv, never exits; it reads the file and nothing else (no
 * name resolution: addresses are numeric).
 */
#ifndef REMORA_CONFIG_H
#define REMORA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#define CONFIG_NODES_MAX  8
#define CONFIG_NAME_MAX	  64 /* node and cluster names, with the NUL */
#define CONFIG_PATH_MAX	  4096
#define CONFIG_SOCK_MAX	  108  /* sun_path */
#define CONFIG_ARGS_MAX	  3072 /* guest arguments (fit the boot page) */
#define CONFIG_WORDS_MAX  256  /* words of command, and of environment */
#define CONFIG_ERR_MAX	  512
#define CONFIG_CMD_MAX	  200 /* fence and health-check command lines */
#define CONFIG_URLS_MAX	  256 /* etcd_endpoints, normalised */
#define CONFIG_IFNAME_MAX 16  /* IFNAMSIZ: interface names, with the NUL */

enum config_role {
	CONFIG_ROLE_PRIMARY = 1,
	CONFIG_ROLE_BACKUP = 2,
};

struct config_node {
	char name[CONFIG_NAME_MAX];
	char host[64]; /* replication address: numeric IPv4 or IPv6 */
	uint16_t port; /* 1..65535 */
	char control_socket[CONFIG_SOCK_MAX];
	enum config_role role;	       /* initial role */
	char console[CONFIG_PATH_MAX]; /* "" unless the node overrides it */
	int line;		       /* line of the [node NAME] header */
};

enum config_compression {
	CONFIG_COMPRESSION_NONE = 0,
	CONFIG_COMPRESSION_LZ4 = 1,
};

/* What the backup does when the connection to the primary breaks. */
enum config_conn_loss {
	CONFIG_CONN_LOSS_WAIT = 0, /* the heartbeat_timeout clock decides */
	CONFIG_CONN_LOSS_PROMOTE,  /* promote at once */
};

/* Who decides which node may release output (docs/design.md, "Arbiter"). */
enum config_arbiter {
	CONFIG_ARBITER_NONE = 0, /* the two nodes alone (and fence_command) */
	CONFIG_ARBITER_ETCD,	 /* a lease in etcd */
};

/* Where guest RAM and the backup's replica live ([workload]
 * memory_backing). */
enum config_backing {
	CONFIG_BACKING_NORMAL = 0,  /* shared memory, 4 KiB pages */
	CONFIG_BACKING_HUGETLB = 1, /* 2 MiB pages from the host's pool */
};

/* What is replicated ([workload] type). */
enum config_workload {
	CONFIG_WORKLOAD_KVM = 0,     /* a remora micro-VM under KVM */
	CONFIG_WORKLOAD_PROCESS = 1, /* a Linux program, checkpointed by CRIU */
};

/* What a primary does when it loses its backup. */
enum config_backup_loss {
	CONFIG_BACKUP_LOSS_CONTINUE = 0, /* release held output, run on */
	CONFIG_BACKUP_LOSS_PAUSE,	 /* pause the guest, hold output */
};

struct config {
	char path[CONFIG_PATH_MAX]; /* as given, for messages */

	/* [cluster] */
	char cluster[CONFIG_NAME_MAX]; /* name: the workload identity */
	/* the pre-shared key authenticating every frame; "" = none */
	char key_file[CONFIG_PATH_MAX];
	/* TLS instead of key_file (tls.h): this node's certificate, its
	 * private key and the CA that signs every node's; all "" or all set */
	char tls_certificate[CONFIG_PATH_MAX];
	char tls_private_key[CONFIG_PATH_MAX];
	char tls_ca[CONFIG_PATH_MAX];

	/* [node NAME], in file order */
	struct config_node nodes[CONFIG_NODES_MAX];
	int nnodes;

	/* [workload] */
	struct {
		char type[16];		   /* "kvm" or "process", as written */
		enum config_workload kind; /* the same, as a value */
		/* kvm ("" for process): resolved against the file's dir */
		char guest[CONFIG_PATH_MAX];
		/* the page space: guest RAM, or the most a process's tasks
		 * and images may use; bytes, 4M..4G, 2M multiple */
		uint64_t memory;
		enum config_backing memory_backing;
		char args[CONFIG_ARGS_MAX];    /* kvm: guest command line */
		char console[CONFIG_PATH_MAX]; /* sink: file path or "-" */

		/* type = process (empty for kvm, but directory's "/") */
		/* the program and its arguments: command_argc >= 1 words,
		 * each ending in a NUL; config_argv() makes the argv */
		char command[CONFIG_ARGS_MAX];
		int command_argc;
		/* the service's whole environment: KEY=VALUE words, each
		 * ending in a NUL, valid distinct KEYs; 0 words: empty */
		char environment[CONFIG_ARGS_MAX];
		int environment_count;
		char directory[CONFIG_PATH_MAX]; /* working dir; default "/" */
		/* absolute in the service's view, not "/", no ".."; "" = none:
		 * a private tmpfs there travels with every epoch */
		char data_directory[CONFIG_PATH_MAX];
		char criu[CONFIG_PATH_MAX]; /* "" = .criu/sbin/criu */
	} workload;

	/*
	 * [service] (type = process only): the service's network interface,
	 * eth0 in its namespace, and the host end of its veth pair
	 * (docs/service-network.md). All zero without the section.
	 */
	struct {
		int enabled;		/* the file has a [service] section */
		struct in_addr address; /* network byte order */
		int prefix;		/* 1..32 */
		/* inside address's prefix, not address; a default route */
		struct in_addr gateway;
		int has_gateway;
		/* eth0's MAC: unicast; without mac = ..., has_mac is 0 and
		 * config_service_mac() derives one */
		uint8_t mac[6];
		int has_mac;
		/* an existing bridge the host end joins; "": routing mode */
		char bridge[CONFIG_IFNAME_MAX];
		/* the host end's name: as set, or "rm-" and the cluster */
		char interface[CONFIG_IFNAME_MAX];
		uint64_t max_held_bytes; /* held packets' bound, 64K..1G */
	} service;

	/* [replication] */
	struct {
		/* kvm: 1ms..10min, default 25ms; process: 20ms..10min,
		 * default 200ms */
		uint64_t epoch_interval_ns;
		enum config_compression compression;
		int delta;		      /* 1: XOR-delta pages, 0: RAW */
		uint32_t max_inflight_epochs; /* 1..64 */
		uint64_t delta_cache;	      /* bytes; 0 disables the cache */
		uint32_t hot_pages; /* kvm: most pages left writable; 0..2^20 */
		/* kvm: staging reserved per slot for an epoch's copies,
		 * bytes; 1M..1G, a page multiple */
		uint64_t max_epoch_size;
		uint32_t precopy_max_rounds; /* 1..100 */
		uint64_t precopy_stop_pages; /* stop pre-copy at <= this many */
	} replication;

	/* [failover] */
	struct {
		uint64_t heartbeat_interval_ns;
		uint64_t heartbeat_timeout_ns; /* > heartbeat_interval */
		enum config_conn_loss on_connection_loss;
		/* "" = none; run by /bin/sh -c on the backup */
		char health_check_command[CONFIG_CMD_MAX];
		uint64_t health_check_interval_ns;  /* 10ms..1h */
		uint64_t health_check_timeout_ns;   /* 1ms..10min */
		char fence_command[CONFIG_CMD_MAX]; /* "" = none */
		uint64_t fence_timeout_ns;	    /* 1ms..10min */
		enum config_backup_loss on_backup_loss;
		enum config_arbiter arbiter;
		/* "http://ADDR:PORT[,...]": required with arbiter = etcd */
		char etcd_endpoints[CONFIG_URLS_MAX];
		uint64_t lease_ttl_ns; /* whole seconds, 1s..1min */
	} failover;
};

/*
 * Loads and checks path. Returns 0, or a negative errno with one line in err
 * ("remora.conf:LINE: KEY: what is wrong", or "PATH: strerror" when the file
 * cannot be read).
 */
int config_load(const char *path, struct config *c, char *err, size_t errlen);

/*
 * The same from text already in memory; name stands in for the path in
 * messages and dir is where relative paths are resolved.
 */
int config_parse(const char *text, size_t len, const char *name,
		 const char *dir, struct config *c, char *err, size_t errlen);

/* The node called name, or NULL. */
const struct config_node *config_node(const struct config *c, const char *name);

/* The node whose initial role is role (the first one), or NULL. */
const struct config_node *config_node_by_role(const struct config *c,
					      enum config_role role);

/*
 * The node a daemon of this role runs as: NULL, with one line in err, when
 * there is no such node or its role in the file is another one.
 */
const struct config_node *config_self(const struct config *c, const char *name,
				      enum config_role role, char *err,
				      size_t errlen);

/*
 * An argv from words as [workload] command and environment store them (n
 * words, each ending in a NUL): argv[i] points at word i, and argv[n] is
 * NULL. Returns n, or -ENOSPC (argv untouched) when max, the size of argv,
 * is less than n + 1; -EINVAL when n < 0.
 */
int config_argv(const char *words, int n, const char **argv, int max);

/*
 * The service's MAC (eth0's, the same on every node): [service] mac, or
 * one derived from the cluster name and the service address: locally
 * administered and unicast: 02, then the top 5 bytes of the FNV-1a 64
 * hash, finished by MurmurHash3's fmix64, of the name, a NUL and the
 * address's 4 bytes (so that two clusters of one name on one network still
 * differ). It never changes: nodes of different versions must agree.
 * Returns 0, or -EINVAL when the config has no [service].
 */
int config_service_mac(const struct config *c, uint8_t mac[6]);

/* The console sink path for node n ("-" is stdout). */
const char *config_console(const struct config *c, const struct config_node *n);

const char *config_role_name(enum config_role role);

#endif
