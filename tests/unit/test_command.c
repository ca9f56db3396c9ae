/*
 * Unit tests for operator commands (common/command.h): real /bin/sh
 * children of a libuv loop of each test's own. Outcomes: exit statuses
 * (127 for a command the shell cannot find), a signal the command sent
 * itself, the timeout (also once the command has closed its output), a
 * cancel, and a shell that cannot start (no file descriptors left). Output:
 * the first non-blank line of stdout and stderr together, cut and cleaned
 * for a log, also behind 1 MiB of chatter; stdin is /dev/null; the extra
 * environment reaches the command and replaces the daemon's variable of the
 * same name. Process groups: the timeout kills a background child of the
 * shell too, while a background child left by a shell that exited by
 * itself does not hold the result back. The test process is a child
 * subreaper, so such orphans come back to it and it can see how they died.
 * Every test checks that done ran exactly once, never inside command_run(),
 * and that uv_loop_close() succeeds afterwards (no leaked handle). Times
 * are only checked against generous bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "command.h"

/* Long enough that a loaded machine never reaches it by accident. */
#define LONG_MS 60000
/* The bound on anything that should take well under a second. */
#define GENEROUS_MS 10000

/* What one command's done saw. */
struct run {
	int calls;
	struct command_result r;
	char desc[512];
	struct command *c; /* for a cancel */
};

static void on_done(void *opaque, const struct command_result *r)
{
	struct run *x = opaque;

	x->calls++;
	x->r = *r;
	command_describe(r, x->desc, sizeof(x->desc));
}

static void assert_one_outcome(const struct command_result *r)
{
	int n = !!r->timed_out + !!r->exited + !!r->signaled + !!r->spawn_error;

	if (n != 1)
		fail_msg("timed_out %d exited %d signaled %d spawn_error %d",
			 r->timed_out, r->exited, r->signaled, r->spawn_error);
}

/* Runs the loop dry, then checks done ran once and the loop closes. */
static void finish(uv_loop_t *loop, struct run *x)
{
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(x->calls, 1);
	assert_int_equal(uv_loop_close(loop), 0);
	assert_one_outcome(&x->r);
}

static void start(uv_loop_t *loop, const char *cmdline, uint64_t timeout_ms,
		  const char *const *env, struct run *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(
		command_run(&x->c, loop, cmdline, timeout_ms, env, on_done, x),
		0);
	assert_non_null(x->c);
	/* Never from inside command_run(). */
	assert_int_equal(x->calls, 0);
}

/* Runs cmdline to its end on a loop of its own. */
static void run_env(const char *cmdline, uint64_t timeout_ms,
		    const char *const *env, struct run *x)
{
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, cmdline, timeout_ms, env, x);
	finish(&loop, x);
}

static void run(const char *cmdline, struct run *x)
{
	run_env(cmdline, LONG_MS, NULL, x);
}

static void assert_exit(const struct run *x, int status)
{
	if (!x->r.exited || x->r.status != status)
		fail_msg("want exit %d, got \"%s\"", status, x->desc);
	assert_true(x->r.elapsed_ms < GENEROUS_MS);
}

static void msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Waits (generously) for pid, an orphan given to this subreaper, to end;
 * checks that SIGKILL ended it and that it is gone then.
 */
static void reap_killed(pid_t pid)
{
	int st = 0;
	pid_t got = 0;

	for (int i = 0; i < GENEROUS_MS / 10 && got == 0; i++) {
		got = waitpid(pid, &st, WNOHANG);
		if (got == 0)
			msleep(10);
	}
	if (got != pid)
		fail_msg("background pid %d not ended: waitpid %d (%s)",
			 (int)pid, (int)got, got < 0 ? strerror(errno) : "");
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* ---- exit statuses and output -------------------------------------------- */

static void test_true(void **state)
{
	struct run x;

	(void)state;
	run("true", &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, "");
	assert_string_equal(x.desc, "exit 0");
	assert_int_equal(x.r.timeout_ms, LONG_MS);
}

static void test_exit_status(void **state)
{
	struct run x;

	(void)state;
	run("exit 3", &x);
	assert_exit(&x, 3);
	assert_string_equal(x.desc, "exit 3");
	run("echo no >&2; exit 1", &x);
	assert_exit(&x, 1);
	assert_string_equal(x.desc, "exit 1: no");
}

static void test_first_line(void **state)
{
	struct run x;

	(void)state;
	run("echo hello; echo world >&2", &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, "hello");
	assert_string_equal(x.desc, "exit 0: hello");
	/* stderr alone counts too. */
	run("echo world >&2", &x);
	assert_string_equal(x.r.output, "world");
}

static void test_output_cleaned(void **state)
{
	static const struct {
		const char *cmd, *want;
	} c[] = {
		/* Blank lines first are skipped; so is the indentation. */
		{"echo; printf ' \\t\\r\\n'; echo '  two'; echo three", "two"},
		/* A last line without '\n'. */
		{"printf 'no newline'", "no newline"},
		/* CRLF, a tab, a terminal escape, trailing blanks. */
		{"printf 'a\\tb\\033[31mc  \\r\\n'", "a b?[31mc"},
		{"printf '\\n\\n\\n'", ""},
	};
	struct run x;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		run(c[i].cmd, &x);
		assert_exit(&x, 0);
		if (strcmp(x.r.output, c[i].want))
			fail_msg("%s: \"%s\", want \"%s\"", c[i].cmd,
				 x.r.output, c[i].want);
	}
}

/* A first line longer than output[] is cut, the rest dropped. */
static void test_long_line(void **state)
{
	char want[sizeof(((struct command_result *)0)->output)];
	struct run x;

	(void)state;
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	run("head -c 100000 /dev/zero | tr '\\0' x; echo; echo second", &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, want);
}

/*
 * 1 MiB after the first line: far more than a pipe holds, so the command
 * completes only if the loop keeps reading and discarding.
 */
static void test_chatty(void **state)
{
	struct run x;

	(void)state;
	run("echo first; yes chatter | head -c 1048576; echo last >&2", &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, "first");
	/* The same without any newline at all. */
	run("head -c 1048576 /dev/zero", &x);
	assert_exit(&x, 0);
}

/* stdin is /dev/null: a command reading it sees the end at once. */
static void test_stdin_null(void **state)
{
	struct run x;

	(void)state;
	run("cat; echo end", &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, "end");
}

static void test_not_found(void **state)
{
	struct run x;

	(void)state;
	run("remora-no-such-command-anywhere", &x);
	assert_exit(&x, 127);
	/* The shell's own words vary; these parts do not. */
	if (strncmp(x.desc, "exit 127: ", 10) ||
	    !strstr(x.desc, "remora-no-such-command-anywhere") ||
	    !strstr(x.desc, "not found"))
		fail_msg("\"%s\"", x.desc);
}

/* A signal that is not ours: the command sent it to itself. */
static void test_signaled(void **state)
{
	struct run x;

	(void)state;
	run("echo bye; kill -TERM $$; sleep 30", &x);
	assert_int_equal(x.r.signaled, 1);
	assert_int_equal(x.r.sig, SIGTERM);
	assert_string_equal(x.desc, "killed by signal 15: bye");
	assert_true(x.r.elapsed_ms < GENEROUS_MS);
}

static void test_env(void **state)
{
	const char *const peer[] = {"REMORA_PEER=a", NULL};
	const char *const more[] = {"REMORA_TEST_OLD=new", "REMORA_PEER=b c",
				    NULL};
	struct run x;

	(void)state;
	run_env("echo $REMORA_PEER", LONG_MS, peer, &x);
	assert_exit(&x, 0);
	assert_string_equal(x.r.output, "a");
	/* Added to the daemon's environment; a name it has is replaced. */
	assert_int_equal(setenv("REMORA_TEST_OLD", "daemon", 1), 0);
	assert_int_equal(setenv("REMORA_TEST_KEEP", "kept", 1), 0);
	run_env("echo \"$REMORA_TEST_OLD/$REMORA_PEER/$REMORA_TEST_KEEP\"",
		LONG_MS, more, &x);
	assert_string_equal(x.r.output, "new/b c/kept");
	/* The daemon's own environment is not changed. */
	assert_string_equal(getenv("REMORA_TEST_OLD"), "daemon");
	assert_null(getenv("REMORA_PEER"));
	/* NULL and empty lists: just the daemon's. */
	run_env("echo $REMORA_TEST_KEEP", LONG_MS, NULL, &x);
	assert_string_equal(x.r.output, "kept");
	run_env("echo $REMORA_TEST_KEEP", LONG_MS, (const char *const[]){NULL},
		&x);
	assert_string_equal(x.r.output, "kept");
	unsetenv("REMORA_TEST_OLD");
	unsetenv("REMORA_TEST_KEEP");
}

/* ---- timeout and cancel -------------------------------------------------- */

static void test_timeout(void **state)
{
	struct run x;

	(void)state;
	/* Long enough for a slow machine's shell to print first. */
	run_env("echo started; sleep 30", 2000, NULL, &x);
	assert_int_equal(x.r.timed_out, 1);
	assert_int_equal(x.r.signaled, 0);
	assert_string_equal(x.desc, "timed out after 2000 ms: started");
	/* Not long before the bound, not anywhere near sleep's 30 s. */
	assert_true(x.r.elapsed_ms >= 1000);
	assert_true(x.r.elapsed_ms < GENEROUS_MS);
}

/* The output ends long before the command does: the timer still rules. */
static void test_timeout_after_output_closed(void **state)
{
	struct run x;

	(void)state;
	run_env("exec >/dev/null 2>&1; sleep 30", 200, NULL, &x);
	assert_int_equal(x.r.timed_out, 1);
	assert_string_equal(x.desc, "timed out after 200 ms");
	assert_true(x.r.elapsed_ms < GENEROUS_MS);
}

/* Waits for the shell to have written its background child's pid. */
static pid_t read_pid_file(const char *path)
{
	for (int i = 0; i < GENEROUS_MS / 10; i++) {
		FILE *f = fopen(path, "r");
		char line[32] = "";
		int ok;

		assert_non_null(f);
		ok = fgets(line, sizeof(line), f) && strchr(line, '\n');
		fclose(f);
		if (ok)
			return (pid_t)atoi(line);
		msleep(10);
	}
	fail_msg("the shell did not write %s", path);
	return -1;
}

/*
 * The timeout kills the whole process group: a background child of the
 * shell dies with it. The loop is not run until the child exists, so the
 * timer cannot fire before (it fires at once then: the test does not time
 * anything).
 */
static void test_timeout_kills_group(void **state)
{
	char path[] = "/tmp/remora-test-command-XXXXXX";
	char cmd[128];
	uv_loop_t loop;
	struct run x;
	pid_t bg;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", path);
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, cmd, 200, NULL, &x);
	bg = read_pid_file(path);
	assert_true(bg > 0);
	assert_int_equal(kill(bg, 0), 0);
	finish(&loop, &x);
	assert_int_equal(x.r.timed_out, 1);
	reap_killed(bg);
	unlink(path);
}

/*
 * A shell that exited by itself is the end of the command, even while a
 * background child still holds its output pipe open: that child is still
 * alive when done runs (the timeout is far off), and left alone.
 */
static void test_background_not_waited(void **state)
{
	struct run x;
	pid_t bg;

	(void)state;
	run("sleep 30 & echo $!", &x);
	assert_exit(&x, 0);
	bg = (pid_t)atoi(x.r.output);
	assert_true(bg > 0);
	assert_int_equal(kill(bg, 0), 0);
	assert_int_equal(kill(bg, SIGKILL), 0);
	reap_killed(bg);
}

static void test_cancel(void **state)
{
	char path[] = "/tmp/remora-test-command-XXXXXX";
	char cmd[128];
	uv_loop_t loop;
	struct run x;
	pid_t bg;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", path);
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, cmd, LONG_MS, NULL, &x);
	bg = read_pid_file(path);
	command_cancel(x.c);
	command_cancel(x.c);
	assert_int_equal(x.calls, 0);
	finish(&loop, &x);
	assert_int_equal(x.r.signaled, 1);
	assert_int_equal(x.r.sig, SIGKILL);
	assert_int_equal(x.r.timed_out, 0);
	assert_string_equal(x.desc, "killed by signal 9");
	assert_true(x.r.elapsed_ms < GENEROUS_MS);
	reap_killed(bg);
	unlink(path);
}

/* As the daemon would: from a callback, with output already read. */
static void cancel_later(uv_timer_t *t)
{
	struct run *x = t->data;

	command_cancel(x->c);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel_from_loop(void **state)
{
	uv_loop_t loop;
	uv_timer_t t;
	struct run x;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, "echo waiting; sleep 30", LONG_MS, NULL, &x);
	assert_int_equal(uv_timer_init(&loop, &t), 0);
	t.data = &x;
	/* Late enough for a slow machine's shell to have printed. */
	assert_int_equal(uv_timer_start(&t, cancel_later, 2000, 0), 0);
	finish(&loop, &x);
	assert_int_equal(x.r.signaled, 1);
	assert_string_equal(x.desc, "killed by signal 9: waiting");
}

/* ---- several, and chained ------------------------------------------------ */

static void test_concurrent(void **state)
{
	struct run a, b, c;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, "sleep 30", 200, NULL, &a);
	start(&loop, "echo b; exit 5", LONG_MS, NULL, &b);
	start(&loop, "sleep 0.3; echo c", LONG_MS, NULL, &c);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(a.calls + b.calls + c.calls, 3);
	assert_string_equal(a.desc, "timed out after 200 ms");
	assert_string_equal(b.desc, "exit 5: b");
	assert_string_equal(c.desc, "exit 0: c");
}

/* A health check starts the next one from done: c is already gone then. */
struct chain {
	uv_loop_t *loop;
	int n;
	char desc[3][64];
};

static void chain_done(void *opaque, const struct command_result *r)
{
	static const char *const next[] = {"exit 1", "echo two", NULL};
	struct chain *ch = opaque;

	command_describe(r, ch->desc[ch->n], sizeof(ch->desc[0]));
	if (next[ch->n])
		assert_int_equal(command_run(NULL, ch->loop, next[ch->n],
					     LONG_MS, NULL, chain_done, ch),
				 0);
	ch->n++;
}

static void test_run_from_done(void **state)
{
	struct chain ch = {0};
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ch.loop = &loop;
	assert_int_equal(command_run(NULL, &loop, "true", LONG_MS, NULL,
				     chain_done, &ch),
			 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(ch.n, 3);
	assert_string_equal(ch.desc[0], "exit 0");
	assert_string_equal(ch.desc[1], "exit 1");
	assert_string_equal(ch.desc[2], "exit 0: two");
}

/* ---- errors -------------------------------------------------------------- */

/* No file descriptor left for the pipe: done says so, from the loop. */
static void test_spawn_error(void **state)
{
	struct rlimit old, low;
	uv_loop_t loop;
	struct run x;
	int fd;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Every descriptor below the lowest free one is in use. */
	fd = dup(STDERR_FILENO);
	assert_true(fd >= 0);
	close(fd);
	low = old;
	low.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	memset(&x, 0, sizeof(x));
	fd = command_run(&x.c, &loop, "true", LONG_MS, NULL, on_done, &x);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(fd, 0);
	assert_int_equal(x.calls, 0);
	finish(&loop, &x);
	assert_int_equal(x.r.spawn_error, -EMFILE);
	assert_string_equal(x.desc, "cannot run: Too many open files");
}

/* Refused outright: done is never called and nothing is left in the loop. */
static void test_bad_args(void **state)
{
	const char *const noeq[] = {"REMORA_PEER", NULL};
	const char *const noname[] = {"A=1", "=x", NULL};
	struct command *c = (struct command *)&c;
	uv_loop_t loop;
	struct run x;

	(void)state;
	memset(&x, 0, sizeof(x));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(command_run(&c, &loop, NULL, 100, NULL, on_done, &x),
			 -EINVAL);
	assert_int_equal(command_run(&c, &loop, "true", 100, NULL, NULL, &x),
			 -EINVAL);
	assert_int_equal(command_run(&c, &loop, "true", 0, NULL, on_done, &x),
			 -EINVAL);
	assert_int_equal(command_run(&c, &loop, "true", 100, noeq, on_done, &x),
			 -EINVAL);
	assert_int_equal(
		command_run(&c, &loop, "true", 100, noname, on_done, &x),
		-EINVAL);
	assert_ptr_equal(c, (struct command *)&c);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(x.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- describe ------------------------------------------------------------ */

static void test_describe(void **state)
{
	struct command_result r;
	char buf[64];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.exited = 1;
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "exit 0");
	r.status = 1;
	snprintf(r.output, sizeof(r.output), "fence: no route to host");
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "exit 1: fence: no route to host");

	memset(&r, 0, sizeof(r));
	r.timed_out = 1;
	r.timeout_ms = 500;
	r.elapsed_ms = 503;
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "timed out after 500 ms");
	snprintf(r.output, sizeof(r.output), "connecting");
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "timed out after 500 ms: connecting");

	memset(&r, 0, sizeof(r));
	r.signaled = 1;
	r.sig = SIGKILL;
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "killed by signal 9");

	memset(&r, 0, sizeof(r));
	r.spawn_error = -ENOENT;
	/* No output is possible, and none is shown. */
	snprintf(r.output, sizeof(r.output), "ignored");
	command_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "cannot run: No such file or directory");

	/* Cut to fit, always terminated; len 0 writes nothing. */
	memset(&r, 0, sizeof(r));
	r.exited = 1;
	r.status = 1;
	snprintf(r.output, sizeof(r.output), "long");
	command_describe(&r, buf, 10);
	assert_string_equal(buf, "exit 1: l");
	command_describe(&r, buf, 4);
	assert_string_equal(buf, "exi");
	buf[0] = 'z';
	command_describe(&r, buf, 0);
	assert_int_equal(buf[0], 'z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_true),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_first_line),
		cmocka_unit_test(test_output_cleaned),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_chatty),
		cmocka_unit_test(test_stdin_null),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_signaled),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_timeout_after_output_closed),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_background_not_waited),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_from_loop),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_run_from_done),
		cmocka_unit_test(test_spawn_error),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_describe),
	};

	/* Orphaned background children come back here, to be checked. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		perror("prctl(PR_SET_CHILD_SUBREAPER)");
		return 1;
	}
	/* Like the daemons: a write to a closed pipe is an error. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
