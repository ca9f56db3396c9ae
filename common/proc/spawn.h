/*
 * Starting an unmodified program so that CRIU can checkpoint it: the
 * command becomes the init (pid 1) of new PID, mount, IPC, UTS and network
 * namespaces, born directly inside the service's cgroup (clone3 with
 * CLONE_INTO_CGROUP, so not one instruction runs outside it), the leader of
 * its own session, with no descriptor from the caller but stdio: stdin is
 * /dev/null opened inside the new mount namespace, stdout and stderr are
 * the write end of ONE pipe (their relative order is kept, as on a
 * console) whose read end the caller gets. Its network namespace has only
 * the loopback, brought up. Its mount namespace is a private (MS_REC |
 * MS_PRIVATE) copy of the caller's with a fresh /proc for its PID
 * namespace; nothing it mounts propagates back to the host.
 *
 * Why each of these (see docs/criu.md): CRIU dumps a tree whose session
 * leader is inside the dumped PID namespace, and cannot dump a descriptor
 * that belongs to a mount of another mount namespace (an inherited fd).
 */
#ifndef REMORA_PROC_SPAWN_H
#define REMORA_PROC_SPAWN_H

#include <stddef.h>
#include <stdint.h>

struct proc_cgroup;

struct proc_spawn_opts {
	/* NULL-terminated; argv[0] without '/' is searched in the caller's
	 * PATH (not in envp's), unless path names the program. */
	const char *const *argv;
	const char *path;	 /* the program to exec, or NULL (see argv) */
	const char *dir;	 /* working directory; NULL: "/" */
	const char *const *envp; /* NULL-terminated KEY=VALUE; NULL: empty */
	const struct proc_cgroup *cgroup; /* created, empty; required */
	/* A private tmpfs mounted here in the new mount namespace (its
	 * content is in every dump), with these mount options; NULL: none. */
	const char *data_dir;
	const char *data_opts;
	/* SIGKILL the init (and so the whole tree) when the caller's thread
	 * that spawned it dies (PR_SET_PDEATHSIG; CRIU restores it). */
	int die_with_parent;
	/* join_netns: join netns_fd's network namespace (proc_netns_new());
	 * else a new one with only the loopback. */
	int join_netns;
	int netns_fd;
};

struct proc_spawned {
	int pid;    /* the namespace's init, in the caller's PID namespace */
	int out_fd; /* read end of the stdout+stderr pipe: O_NONBLOCK,
		     * O_CLOEXEC; the caller owns it */
};

/*
 * Starts the command; the init is the caller's child (reap it with
 * waitpid). Returns 0, or -errno with err saying which step failed, in the
 * caller or in the child before exec (e.g. "execvpe nosuch: No such file or
 * directory"); then nothing is left running.
 */
int proc_spawn(const struct proc_spawn_opts *o, struct proc_spawned *out,
	       char *err, size_t errlen);

/*
 * A new network namespace with its loopback up, held by *fd (O_CLOEXEC),
 * made on a short-lived thread (the caller's own namespaces do not
 * change). A service that joins it lives in a network namespace remora
 * holds: CRIU dumps it as external (only its sockets, not its links,
 * addresses and rules: tens of ms less per dump) and a restore joins
 * another one made the same way.
 */
int proc_netns_new(int *fd, char *err, size_t errlen);

/* The namespace's inode: what CRIU's external "net[INODE]" names. */
int proc_netns_inode(int fd, uint64_t *ino);

#endif
