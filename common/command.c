/*
 * Operator commands on libuv (see command.h). Three handles carry one
 * command: the process (reaped by libuv's SIGCHLD handling), a poll on the
 * read end of the output pipe, and the timeout timer. The output is read
 * with plain read(2) behind a uv_poll_t rather than through a uv_pipe_t so
 * that, when the shell exits, what it left in the pipe can be drained at
 * once and the pipe closed without waiting for an end of file that a
 * background process still holding the write end would delay forever.
 * done runs from the close callback of the last handle, so that by then
 * nothing of the command is left in the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "paths.h"

extern char **environ;

/* One read(2) into the stack; enough to keep up with any command. */
#define COMMAND_READ_CHUNK 8192
/*
 * At most this much is read per wakeup, so that a command writing without
 * pause cannot hold the loop; the poll is level-triggered, it comes back.
 */
#define COMMAND_READ_BURST (256u << 10)
/*
 * What is drained when the shell has exited: all it can have left in the
 * pipe, even one enlarged to the usual pipe-max-size, while background
 * writers that keep going cannot hold the loop.
 */
#define COMMAND_EXIT_DRAIN (1u << 20)

enum command_kill { KILL_NONE, KILL_TIMEOUT, KILL_CANCEL };

struct command {
	uv_process_t proc;
	uv_poll_t poll;
	uv_timer_t timer;
	int fd;	       /* read end of the output pipe, -1 once closed */
	int handles;   /* initialised handles not yet closed; done at 0 */
	int proc_init; /* uv_spawn() was called (it initialises proc) */
	int running;   /* spawned and not yet reaped */
	int finishing; /* the handles are closing */
	enum command_kill killed;
	uint64_t start_ns;
	size_t line_len; /* bytes of the first line kept so far */
	int line_done;	 /* the first non-blank line is complete */
	command_done_fn done;
	void *opaque;
	struct command_result r;
};

static void on_closed(uv_handle_t *h)
{
	struct command *c = h->data;

	if (--c->handles)
		return;
	c->done(c->opaque, &c->r);
	free(c);
}

/* Both the shell and its output are over: close what is left. */
static void maybe_finish(struct command *c)
{
	if (c->running || c->fd >= 0 || c->finishing)
		return;
	c->finishing = 1;
	uv_close((uv_handle_t *)&c->timer, on_closed);
	if (c->proc_init)
		uv_close((uv_handle_t *)&c->proc, on_closed);
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Ends the line being kept; a blank one is forgotten and the next tried. */
static void line_end(struct command *c)
{
	while (c->line_len > 0 && c->r.output[c->line_len - 1] == ' ')
		c->line_len--;
	c->r.output[c->line_len] = '\0';
	if (c->line_len > 0)
		c->line_done = 1;
}

static void output_take(struct command *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !c->line_done; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\n') {
			line_end(c);
			continue;
		}
		if (c->line_len == 0 && is_blank((char)ch))
			continue;
		if (c->line_len >= sizeof(c->r.output) - 1)
			continue; /* cut: the rest of the line is dropped */
		/* The line goes into a log line: no terminal controls. */
		if (is_blank((char)ch))
			ch = ' ';
		else if (ch < 0x20 || ch == 0x7f)
			ch = '?';
		c->r.output[c->line_len++] = (char)ch;
	}
}

/*
 * Reads what the pipe holds now, up to max bytes. Returns 1 if more may
 * come later, 0 when the output is over: every writer has closed the pipe,
 * or reading failed (not expected of a pipe; the result keeps what was
 * read).
 */
static int output_drain(struct command *c, size_t max)
{
	char buf[COMMAND_READ_CHUNK];
	size_t total = 0;

	while (total < max) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n > 0) {
			output_take(c, buf, (size_t)n);
			total += (size_t)n;
		} else if (n == 0) {
			return 0;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 1;
		} else {
			return 0;
		}
	}
	return 1;
}

static void output_close(struct command *c)
{
	if (c->fd < 0)
		return;
	if (!c->line_done)
		line_end(c); /* a last line without '\n' */
	/* uv_close() stops polling at once: the fd may go now. */
	uv_close((uv_handle_t *)&c->poll, on_closed);
	close(c->fd);
	c->fd = -1;
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct command *c = p->data;

	(void)events;
	if (status < 0 || !output_drain(c, COMMAND_READ_BURST)) {
		output_close(c);
		maybe_finish(c);
	}
}

static uint64_t elapsed_ms(const struct command *c)
{
	return (uv_hrtime() - c->start_ns) / 1000000;
}

static void on_proc_exit(uv_process_t *proc, int64_t exit_status,
			 int term_signal)
{
	struct command *c = proc->data;

	c->running = 0;
	c->r.elapsed_ms = elapsed_ms(c);
	uv_timer_stop(&c->timer);
	if (term_signal && c->killed == KILL_TIMEOUT) {
		c->r.timed_out = 1;
	} else if (term_signal) {
		c->r.signaled = 1;
		c->r.sig = term_signal;
	} else {
		c->r.exited = 1;
		c->r.status = (int)exit_status;
	}
	/*
	 * Whatever the shell wrote is in the pipe now. Anything still holding
	 * the write end is a background process: not waited for.
	 */
	if (c->fd >= 0) {
		output_drain(c, COMMAND_EXIT_DRAIN);
		output_close(c);
	}
	maybe_finish(c);
}

/* -pid: the shell leads its own process group (UV_PROCESS_DETACHED). */
static void kill_group(struct command *c, enum command_kill why)
{
	if (!c->running || c->killed != KILL_NONE)
		return;
	c->killed = why;
	uv_timer_stop(&c->timer);
	/*
	 * Until libuv has reaped the shell its pid, and so the group id, can
	 * name nothing else. The shell's own pid is the fallback should the
	 * group be gone already.
	 */
	if (kill(-c->proc.pid, SIGKILL) && errno == ESRCH)
		kill(c->proc.pid, SIGKILL);
}

static void on_timeout(uv_timer_t *t)
{
	kill_group(t->data, KILL_TIMEOUT);
}

void command_cancel(struct command *c)
{
	kill_group(c, KILL_CANCEL);
}

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/*
 * The daemon's environment with env added, replacing variables of the same
 * name (a duplicate would leave which one the shell sees to chance). The
 * strings are borrowed: the array lives only across uv_spawn().
 */
static char **env_build(const char *const *env)
{
	size_t n = 0, m = 0, k = 0;
	char **all;

	while (environ && environ[n])
		n++;
	while (env && env[m])
		m++;
	all = calloc(n + m + 1, sizeof(*all));
	if (!all)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = name_len(environ[i]);
		size_t j;

		for (j = 0; j < m; j++)
			if (name_len(env[j]) == len &&
			    !memcmp(env[j], environ[i], len))
				break;
		if (j == m)
			all[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		all[k++] = (char *)env[j];
	return all;
}

static int spawn(struct command *c, uv_loop_t *loop, const char *cmdline,
		 char **envp)
{
	char *args[] = {"sh", "-c", (char *)cmdline, NULL};
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	int fds[2], ret;

	/* The read end is the daemon's alone: close-on-exec for every child. */
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	/* This also makes the read end non-blocking. */
	ret = uv_poll_init(loop, &c->poll, fds[0]);
	if (ret) {
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	c->poll.data = c;
	c->handles++;
	c->fd = fds[0];

	memset(&o, 0, sizeof(o));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE; /* libuv gives it /dev/null */
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fds[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fds[1];
	o.exit_cb = on_proc_exit;
	o.file = PATHS_SHELL;
	o.args = args;
	o.env = envp;
	o.stdio = stdio;
	o.stdio_count = 3;
	/* setsid(): the group can be killed whole, children included. */
	o.flags = UV_PROCESS_DETACHED;
	c->start_ns = uv_hrtime();
	ret = uv_spawn(loop, &c->proc, &o);
	c->proc.data = c;
	c->proc_init = 1;
	c->handles++;
	/* Only the shell may hold the write end, or EOF never comes. */
	close(fds[1]);
	if (ret)
		return ret;
	c->running = 1;
	/* Cannot fail for a pipe; if it did, the command runs unheard. */
	if (uv_poll_start(&c->poll, UV_READABLE, on_readable))
		output_close(c);
	/* From now, not from when the loop last looked at the clock. */
	uv_update_time(loop);
	return 0;
}

int command_run(struct command **out, uv_loop_t *loop, const char *cmdline,
		uint64_t timeout_ms, const char *const *env,
		command_done_fn done, void *opaque)
{
	struct command *c;
	char **envp;
	int ret;

	if (!cmdline || !done || !timeout_ms)
		return -EINVAL;
	for (size_t i = 0; env && env[i]; i++)
		if (!strchr(env[i], '=') || env[i][0] == '=')
			return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	envp = env_build(env);
	if (!envp) {
		free(c);
		return -ENOMEM;
	}
	c->fd = -1;
	c->done = done;
	c->opaque = opaque;
	c->r.timeout_ms = timeout_ms;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->handles = 1;

	ret = spawn(c, loop, cmdline, envp);
	free(envp);
	if (ret) {
		/* Reported through done, from the loop like any outcome. */
		c->r.spawn_error = ret;
		output_close(c);
	} else {
		uv_timer_start(&c->timer, on_timeout, timeout_ms, 0);
	}
	maybe_finish(c);
	if (out)
		*out = c;
	return 0;
}

void command_describe(const struct command_result *r, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return;
	if (r->spawn_error) {
		snprintf(buf, len, "cannot run: %s", strerror(-r->spawn_error));
		return;
	}
	if (r->timed_out)
		n = snprintf(buf, len, "timed out after %llu ms",
			     (unsigned long long)r->timeout_ms);
	else if (r->signaled)
		n = snprintf(buf, len, "killed by signal %d", r->sig);
	else
		n = snprintf(buf, len, "exit %d", r->status);
	if (r->output[0] && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ": %s", r->output);
}
