/*
 * Checkpoint and restore of a process tree started by proc_spawn(), by
 * driving CRIU through its RPC ("swrk") protocol: remora forks `criu swrk
 * <fd>` itself (so it chooses exactly which descriptors and which cgroup
 * CRIU inherits), sends one criu_req and reads the criu_resp. CRIU's
 * stdout is never parsed; on failure the reason is CRIU's own error line,
 * taken from the operation's log file (dump.log or restore.log in the
 * images directory).
 *
 * Every function returns 0 (or a pid) or a negative errno and never exits;
 * err receives one line saying why (may be NULL).
 */
#ifndef REMORA_PROC_CRIU_H
#define REMORA_PROC_CRIU_H

#include <stddef.h>
#include <stdint.h>

struct proc_cgroup;

/*
 * How CRIU blocks the network namespace's traffic during a dump. Restore
 * with the mode of the dump: the nftables lock table is inside the dumped
 * ruleset (nftables-*.img) and only a restore with that lock removes it.
 * Measured here: the nftables lock costs 2-38 ms to take and 12-16 ms to
 * release per dump; skip costs nothing.
 */
enum proc_netlock {
	PROC_NETLOCK_DEFAULT = 0, /* the binary's default (ours: nftables) */
	PROC_NETLOCK_NFTABLES,
	PROC_NETLOCK_SKIP, /* none: the caller holds the packets itself */
};

/* File names CRIU and remora write into the images directory. */
#define PROC_CRIU_DUMP_LOG    "dump.log"
#define PROC_CRIU_RESTORE_LOG "restore.log"
#define PROC_CRIU_STDIO_KEY   "remora-stdio.key"

struct proc_criu_dump_opts {
	const char *criu;	/* the criu binary; NULL: proc_criu_default() */
	int pid;		/* root of the tree: the namespace's init */
	const char *images_dir; /* exists; images and dump.log go there */
	/*
	 * The tree's cgroup, which the caller has ALREADY frozen
	 * (proc_cgroup_freeze): CRIU sees "frozen 1", skips its own 100 ms
	 * freeze loop, seizes every task of the cgroup with ptrace and leaves
	 * the cgroup frozen again when it is done; the caller thaws it.
	 * NULL: CRIU stops the tree with ptrace alone.
	 */
	const char *frozen_cgroup;
	int leave_running; /* the tree goes on after the dump */
	/* The read end of the tree's stdout/stderr pipe, or -1: its key
	 * ("pipe:[inode]") is saved as PROC_CRIU_STDIO_KEY beside the images,
	 * so that a restore can replace that pipe with a new one. */
	int stdio_fd;
	enum proc_netlock netlock;
	int log_level;	/* CRIU's -v: 0..4; 0 means 2 (errors, warnings) */
	int timeout_ms; /* for the whole operation; 0: 60 s */
	/* The tree's network namespace is remora's (proc_netns_new()): its
	 * inode (proc_netns_inode()); CRIU dumps its sockets, not the
	 * namespace. 0: CRIU dumps the namespace. */
	uint64_t ext_netns_ino;
};

struct proc_criu_restore_opts {
	const char *criu; /* NULL: proc_criu_default() */
	const char *images_dir;
	/* The write end that replaces the dumped stdout/stderr pipe (CRIU's
	 * inherit-fd, keyed by the PROC_CRIU_STDIO_KEY the dump saved); -1:
	 * the restored tree writes into a fresh pipe nobody reads. */
	int stdio_fd;
	/* The restored tree is born in this cgroup (CRIU runs in it, and
	 * cgroup membership is not in the images); NULL: the caller's. */
	const struct proc_cgroup *cgroup;
	const char *root; /* the mount namespace's root; NULL: "/" */
	enum proc_netlock netlock;
	int log_level;
	int timeout_ms;
	/* A dump with ext_netns_ino restores into this network namespace
	 * (join_netns set; proc_netns_new()). */
	int join_netns;
	int netns_fd;
};

/* The key CRIU's external net[INODE] entry and inherit_fd share. */
#define PROC_CRIU_NETNS_KEY "remora-netns"

/* The default binary: the project's .criu/sbin/criu (scripts/build-criu). */
const char *proc_criu_default(void);

/*
 * Dumps the tree rooted at o->pid into o->images_dir, with its PID, mount,
 * IPC, UTS and network namespaces, established TCP connections, external
 * unix sockets and file locks. Drain the stdio pipe after the freeze and
 * before the dump: what the tree printed before the freeze is then all
 * read, and the restored tree prints exactly what follows.
 */
int proc_criu_dump(const struct proc_criu_dump_opts *o, char *err,
		   size_t errlen);

/*
 * Restores o->images_dir into fresh namespaces. The restored root becomes
 * the caller's child (CRIU's rst_sibling): reap it with waitpid. Returns
 * its pid (in the caller's PID namespace) in *pid.
 */
int proc_criu_restore(const struct proc_criu_restore_opts *o, int *pid,
		      char *err, size_t errlen);

/* CRIU's version as major * 10000 + minor * 100 + sublevel (40201). */
int proc_criu_version(const char *criu, int *version, char *err, size_t errlen);

/* "pipe:[inode]" of a pipe end, the key CRIU's inherit-fd matches. */
int proc_criu_pipe_key(int fd, char *buf, size_t len);

/* Bytes of the images (every file in dir except CRIU's and our logs). */
int64_t proc_criu_images_bytes(const char *dir);

#endif
