/*
 * The cgroup v2 a process workload lives in: created beside (under) the
 * caller's own v2 cgroup, found through /proc/self/mountinfo and
 * /proc/self/cgroup (so hybrid layouts such as /sys/fs/cgroup/unified work),
 * then frozen, thawed and killed as one unit. The freezer is the kernel's
 * (cgroup.freeze); waiting for it to settle is a poll(2) on cgroup.events,
 * which kernfs signals on every change, never a sleep loop.
 *
 * Every function returns 0 or a negative errno and never exits; on failure
 * err receives one line saying what failed (may be NULL).
 */
#ifndef REMORA_PROC_CGROUP_H
#define REMORA_PROC_CGROUP_H

#include <limits.h>
#include <stddef.h>

struct proc_cgroup {
	char path[PATH_MAX]; /* absolute directory of the cgroup */
	int freeze_fd;	     /* cgroup.freeze, O_RDWR */
	int events_fd;	     /* cgroup.events, polled for changes */
	int procs_fd;	     /* cgroup.procs, O_WRONLY: joins a task */
};

/* The mount point of the cgroup v2 hierarchy (-ENOENT when none). */
int proc_cgroup_v2_mount(char *buf, size_t len, char *err, size_t errlen);

/*
 * Creates <v2 mount>/<caller's v2 cgroup>/<name> (-EEXIST if it exists) and
 * opens its control files. name is one path component.
 */
int proc_cgroup_create(struct proc_cgroup *cg, const char *name, char *err,
		       size_t errlen);

/*
 * Removes the empty cgroups named prefix<PID> beside the ones
 * proc_cgroup_create() makes, for every PID that no longer exists (left
 * by a daemon that was killed; its service died with it). Populated ones
 * stay. Returns how many went.
 */
int proc_cgroup_sweep(const char *prefix);

/* Closes the control files and removes the (empty) cgroup directory. */
int proc_cgroup_remove(struct proc_cgroup *cg, char *err, size_t errlen);

/*
 * Writes 1 to cgroup.freeze and waits, at most timeout_ms, until
 * cgroup.events says "frozen 1" (-ETIMEDOUT otherwise; the cgroup is then
 * left freezing: thaw it). Once it returns 0 no task of the cgroup runs.
 */
int proc_cgroup_freeze(struct proc_cgroup *cg, int timeout_ms, char *err,
		       size_t errlen);

/* Writes 0 to cgroup.freeze and waits until cgroup.events says "frozen 0". */
int proc_cgroup_thaw(struct proc_cgroup *cg, int timeout_ms, char *err,
		     size_t errlen);

/*
 * SIGKILLs every task of the cgroup (cgroup.kill) and waits until
 * cgroup.events says "populated 0". Exited tasks may still be zombies
 * waiting for their parent (the namespace's init is the caller's child:
 * the caller reaps it).
 */
int proc_cgroup_kill(struct proc_cgroup *cg, int timeout_ms, char *err,
		     size_t errlen);

/* Moves task pid (0: the calling task) into the cgroup. */
int proc_cgroup_join(const struct proc_cgroup *cg, int pid, char *err,
		     size_t errlen);

#endif
