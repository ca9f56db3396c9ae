/*
 * Operator commands (the backup's fence_command and health_check_command)
 * run from a libuv loop without ever blocking it: `/bin/sh -c cmdline` in a
 * session and process group of its own, its output read by the loop, the
 * whole group killed when it runs past its timeout, and the outcome handed
 * to a callback on the loop thread, with the first line of what it printed
 * for the log.
 *
 * Lifetime: command_run() returns a struct command that frees itself right
 * after its done callback returns; done runs exactly once (also when the
 * shell could not be started, or the command was cancelled), never from
 * inside command_run(). The pointer may be used (for command_cancel()) until
 * done is called, never after. When done runs, the command's libuv handles
 * are already closed, so a loop that has nothing else to do can be closed.
 */
#ifndef REMORA_COMMAND_H
#define REMORA_COMMAND_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct command;

/* Exactly one of timed_out, exited, signaled and spawn_error is set. */
struct command_result {
	int timed_out;	     /* we killed it after timeout_ms */
	int exited, status;  /* the shell exited by itself with this status */
	int signaled, sig;   /* killed by a signal we did not send for the
			       timeout (command_cancel()'s SIGKILL counts) */
	int spawn_error;     /* negative errno: the shell could not start */
	uint64_t timeout_ms; /* the bound it ran under */
	uint64_t elapsed_ms; /* from start until the shell was reaped */
	char output[256];    /* first non-blank line of stdout+stderr, control
				characters replaced, cut to fit ("" if none) */
};

typedef void (*command_done_fn)(void *opaque, const struct command_result *r);

/*
 * Runs `/bin/sh -c cmdline`: stdin from /dev/null, stdout and stderr into
 * one pipe that the loop reads (keeping the first line, discarding the rest
 * as fast as it comes, so a chatty command never blocks on a full pipe), in
 * the daemon's environment plus env (a NULL-terminated list of "NAME=VALUE";
 * a NAME the daemon has already is replaced; env may be NULL). After
 * timeout_ms (> 0) the whole process group gets SIGKILL.
 *
 * done(opaque, r) is called once on the loop thread, after the shell has
 * been reaped and its output read: r is only valid during the call. The
 * command ends with the shell: background processes it leaves behind are
 * neither waited for (nor their output) nor killed.
 *
 * Returns 0 and sets *out (when out is not NULL), or -EINVAL (no cmdline or
 * done, timeout_ms 0, an env entry without '=') or -ENOMEM; then done is
 * never called. A shell that cannot be started (no /bin/sh, out of file
 * descriptors or processes) is reported through done, in spawn_error.
 */
int command_run(struct command **out, uv_loop_t *loop, const char *cmdline,
		uint64_t timeout_ms, const char *const *env,
		command_done_fn done, void *opaque);

/*
 * Kills the process group now (the daemon is stopping). done is still
 * called once, later, on the loop: with signaled = 1, sig = SIGKILL, or
 * with what had already happened if the shell had exited or could not
 * start. Calling it again does nothing more.
 */
void command_cancel(struct command *c);

/*
 * One line for the log: "exit 0", "exit 1: <output>", "timed out after 500
 * ms", "killed by signal 9", "cannot run: <strerror>" (": <output>" follows
 * any but the last when the command printed something). Always
 * NUL-terminated when len > 0, cut to fit.
 */
void command_describe(const struct command_result *r, char *buf, size_t len);

#endif
