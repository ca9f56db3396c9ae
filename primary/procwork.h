/*
 * An unmodified Linux process tree as the primary's workload (workload.h,
 * docs/process.md): it runs in its own namespaces and cgroup
 * (common/proc/spawn.h). A capture is asynchronous (a CRIU dump takes
 * 100 ms and more, and the loop must go on sending heartbeats): the first
 * call starts a thread that freezes the cgroup, drains its stdout/stderr,
 * dumps it with CRIU and closes the epoch's output, and returns
 * -EINPROGRESS; the call after sink.ready thaws it (the pause ends), loads
 * the dump into the page space (procset.h) and stages the pages whose
 * content changed plus the image manifest's pages. memory() is
 * the page space: pre-copy rounds read it as they read a VM's memory, and
 * a harvest is a dump.
 *
 * Loop thread only, but for the dump thread and the output reader (a
 * thread that moves what the service writes into the output buffer and
 * notices its end).
 */
#ifndef REMORA_PRIMARY_PROCWORK_H
#define REMORA_PRIMARY_PROCWORK_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "cgroup.h"
#include "procset.h"
#include "workload.h"

struct procwork_opts {
	const char *const *argv; /* the command (NULL-terminated) */
	const char *path;	 /* the program argv[0] names, found */
	const char *const *envp; /* its whole environment */
	const char *dir;	 /* working directory; NULL: "/" */
	const char *data_dir;	 /* private tmpfs there, or NULL */
	const char *criu;	 /* NULL: proc_criu_default() */
	const char *name;	 /* "CLUSTER-NODE": cgroup and run dir */
	uint64_t mem_size;	 /* the page space */
	unsigned nslots;	 /* pipeline slots */
	/* use_netns: the service's network namespace is netns_fd (the
	 * caller's, svcnet.h; procwork dups it); else one of its own, with
	 * no interface but the loopback */
	int use_netns;
	int netns_fd;
	/* the gate on that namespace's packets (NULL: none): a checkpoint
	 * closes its epoch while the tree is frozen, before the dump */
	struct netout *net;
};

/* A dump on the dump thread, and its result. */
struct dump_job {
	int checkpoint; /* closes epoch's output (else a pre-copy dump) */
	int stay;	/* the tree stays frozen after it */
	uint64_t epoch;
	uint64_t t0; /* started (the pause begins) */
	int done;    /* atomic: the thread is done, results below set */
	int ret;
	int dumped; /* a dump was made (not when the tree had ended) */
	int closed; /* the output was closed: off, len */
	uint64_t off;
	size_t len;
	uint64_t freeze_ns, dump_ns, pause_ns;
	char err[512];
};

struct procwork {
	struct procwork_opts o;
	struct workload_sink sink;
	struct proc_cgroup cg;
	int cg_made;
	int pid;    /* the tree's init (our child); 0: none */
	int out_fd; /* its stdout+stderr */
	int pidfd, stop_fd;
	int netns_fd;	    /* the service's network namespace (ours) */
	uint64_t netns_ino; /* its inode: CRIU's external net[] */
	pthread_t reader;
	int reader_on;
	/* Orders the reader's appends with a capture's drain (the epoch's
	 * output is exactly what was written before its freeze). */
	pthread_mutex_t out_lock;
	int status, exited;	/* waitpid status, once the init exited */
	int restored;		/* the tree came from a replica: it runs */
	char run_dir[PATH_MAX]; /* tmpfs: dump/ and restore/ */
	char dump_dir[PATH_MAX + 8];
	struct procset set;
	int loaded;			/* set.state holds a state */
	uint64_t *round, *carry, *ever; /* bitmaps over the space's pages */
	uint64_t *round_pfns;
	struct staged *slots;
	int stopped, held, frozen;
	/* Output closed into an epoch whose capture then failed: it goes
	 * with the next capture (of the same epoch number). */
	int from_valid;
	uint64_t from;
	char err[512];
	/* The dump thread: running (dumping), or joined and its result not
	 * taken yet (joined). A capture or harvest starts a dump and returns
	 * -EINPROGRESS; the thread freezes, dumps, thaws (unless stopped or
	 * held say otherwise), loads the dump into set, and calls sink.ready;
	 * the next call takes the result. While it runs the loop thread
	 * touches neither set nor the cgroup (pause and hold join it first);
	 * the encoder reads set.mem only for pre-copy epochs, which are all
	 * acknowledged before a harvest starts a dump. */
	pthread_t dumper;
	int dumping, joined;
	struct dump_job job;
};

/* 0, or -errno with err; the tree starts at start(). */
int procwork_init(struct procwork *p, const struct procwork_opts *o, char *err,
		  size_t errlen);

/*
 * Rebuilds the image set a replica holds (mem: the replica's npages
 * pages, state: its state blob) and restores it with CRIU: the tree runs
 * when this returns 0. -errno with err otherwise (nothing runs).
 */
int procwork_restore(struct procwork *p, const struct procwork_opts *o,
		     const uint8_t *mem, const uint8_t *state, size_t state_len,
		     char *err, size_t errlen);

/* Kills the tree (if it runs), then frees everything. */
void procwork_destroy(struct procwork *p);
struct workload procwork_workload(struct procwork *p);

/* Checks a replica's state blob for a page space of mem_size bytes. */
int procwork_check_state(const uint8_t *blob, size_t len, uint64_t mem_size,
			 char *why, size_t whylen);

#endif
