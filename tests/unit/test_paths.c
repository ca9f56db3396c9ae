/*
 * Unit tests for common/paths.h, on real files in a scratch directory:
 * regular files only for reading (a FIFO is refused without blocking, a
 * directory is EISDIR); console sinks (created, appended, "-" is stdout, a
 * FIFO only with its reader and then blocking again, a socket refused);
 * the console's one-line errors naming the key that set it; the --snapshot
 * checks; the failover commands' first word; a process workload's program
 * (found as execvp would, in the PATH its environment sets), directories
 * and CRIU. A call that blocked would hang: alarm() ends the test instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "paths.h"

static char dir[64];
static char err[1024];
static struct config cfg;

static const char *at(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int blocking(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static void test_open_regular(void **state)
{
	char why[96];
	int fd;

	(void)state;
	write_text(at("f"), "x", 0644);
	fd = paths_open_regular(at("f"), why, sizeof(why));
	assert_true(fd >= 0);
	assert_true(blocking(fd));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	assert_int_equal(paths_open_regular(at("none"), why, sizeof(why)),
			 -ENOENT);
	assert_string_equal(why, "No such file or directory");
	assert_int_equal(paths_open_regular(dir, why, sizeof(why)), -EISDIR);
	assert_string_equal(why, "Is a directory");
	/* No writer: a plain open(2) would wait for one. */
	assert_int_equal(mkfifo(at("fifo"), 0600), 0);
	assert_int_equal(paths_open_regular(at("fifo"), why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "a FIFO, not a regular file");
	assert_int_equal(paths_open_regular("/dev/null", why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "a character device, not a regular file");
	unlink(at("fifo"));
	unlink(at("f"));
}

static void test_open_sink(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat a, b;
	char buf[8];
	int fd, r, s;

	(void)state;
	/* Created, then appended to. */
	fd = paths_open_sink(at("log"));
	assert_true(fd >= 0);
	assert_true(blocking(fd));
	assert_int_equal(write(fd, "ab", 2), 2);
	close(fd);
	fd = paths_open_sink(at("log"));
	assert_int_equal(write(fd, "c", 1), 1);
	close(fd);
	fd = open(at("log"), O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	close(fd);
	unlink(at("log"));

	fd = paths_open_sink("-");
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(STDOUT_FILENO, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	close(fd);

	assert_int_equal(paths_open_sink(at("nodir/log")), -ENOENT);

	/* A FIFO: refused without a reader, blocking again with one. */
	assert_int_equal(mkfifo(at("fifo"), 0600), 0);
	assert_int_equal(paths_open_sink(at("fifo")), -ENXIO);
	r = open(at("fifo"), O_RDONLY | O_NONBLOCK);
	assert_true(r >= 0);
	fd = paths_open_sink(at("fifo"));
	assert_true(fd >= 0);
	assert_true(blocking(fd));
	assert_int_equal(write(fd, "hi", 2), 2);
	assert_int_equal(read(r, buf, sizeof(buf)), 2);
	close(fd);
	close(r);
	unlink(at("fifo"));

	/* A socket cannot be opened at all. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("sock"));
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(paths_open_sink(at("sock")), -ENXIO);
	close(s);
	unlink(at("sock"));
}

/* A config whose [node b] console is node_console ("" for none). */
static void load(const char *node_console, const char *wl_console,
		 const char *failover)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n"
		 "[node a]\nreplication_address = 127.0.0.1:7301\n"
		 "role = primary\n"
		 "[node b]\nreplication_address = 127.0.0.1:7302\n"
		 "role = backup\n%s%s%s"
		 "[workload]\nguest = g.elf\nconsole = %s\n"
		 "[failover]\n%s",
		 *node_console ? "console = " : "", node_console,
		 *node_console ? "\n" : "", wl_console, failover);
	if (config_parse(text, strlen(text), "remora.conf", dir, &cfg, err,
			 sizeof(err)))
		fail_msg("config: %s", err);
}

static void test_open_console(void **state)
{
	char want[1024];
	int fd, r;

	(void)state;
	load("b.log", "-", "");
	fd = paths_open_console(&cfg, config_node(&cfg, "b"), err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	unlink(at("b.log"));

	load("nodir/b.log", "-", "");
	assert_int_equal(paths_open_console(&cfg, config_node(&cfg, "b"), err,
					    sizeof(err)),
			 -ENOENT);
	snprintf(want, sizeof(want),
		 "console %s of node b in remora.conf: No such file or "
		 "directory; create the directory or change [node b] console",
		 at("nodir/b.log"));
	assert_string_equal(err, want);

	/* The workload's console, a FIFO: without a reader, then with. */
	assert_int_equal(mkfifo(at("w.fifo"), 0600), 0);
	load("", "w.fifo", "");
	assert_int_equal(paths_open_console(&cfg, config_node(&cfg, "b"), err,
					    sizeof(err)),
			 -ENXIO);
	snprintf(want, sizeof(want),
		 "console FIFO %s of node b in remora.conf has no reader; "
		 "start the reader first, or change [workload] console",
		 at("w.fifo"));
	assert_string_equal(err, want);
	r = open(at("w.fifo"), O_RDONLY | O_NONBLOCK);
	fd = paths_open_console(&cfg, config_node(&cfg, "b"), err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	close(r);
	unlink(at("w.fifo"));

	load("", "/", "");
	assert_int_equal(paths_open_console(&cfg, config_node(&cfg, "a"), err,
					    sizeof(err)),
			 -EISDIR);
	assert_string_equal(err, "console / of node a in remora.conf: Is a "
				 "directory; change [workload] console");
}

static void test_check_snapshot(void **state)
{
	char want[1024];

	(void)state;
	assert_int_equal(paths_check_snapshot(at("r.snap"), err, sizeof(err)),
			 0);
	write_text(at("r.snap"), "old", 0600); /* replaced: fine */
	assert_int_equal(paths_check_snapshot(at("r.snap"), err, sizeof(err)),
			 0);
	unlink(at("r.snap"));

	assert_int_equal(
		paths_check_snapshot(at("nodir/r.snap"), err, sizeof(err)),
		-ENOENT);
	snprintf(want, sizeof(want),
		 "--snapshot %s: directory %s: No such file or directory; "
		 "create it or change --snapshot",
		 at("nodir/r.snap"), at("nodir"));
	assert_string_equal(err, want);

	write_text(at("file"), "", 0644);
	assert_int_equal(
		paths_check_snapshot(at("file/r.snap"), err, sizeof(err)),
		-ENOTDIR);
	unlink(at("file"));

	assert_int_equal(paths_check_snapshot(dir, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want),
		 "--snapshot %s is a directory, which a snapshot would "
		 "replace; name a file",
		 dir);
	assert_string_equal(err, want);
	/* The rename would replace the device itself. */
	assert_int_equal(paths_check_snapshot("/dev/null", err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(paths_check_snapshot("", err, sizeof(err)), -EINVAL);
	assert_int_equal(paths_check_snapshot("x/", err, sizeof(err)), -EINVAL);
}

static void test_check_commands(void **state)
{
	char fo[512], want[1024];

	(void)state;
	load("", "-", "");
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), 0);
	/* Words the shell finds, or expands, are left to it. */
	load("", "-",
	     "fence_command = echo $REMORA_PEER >> /tmp/x; exit 1\n"
	     "health_check_command = FOO=/nonexistent/x ~/bin/y\n");
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), 0);
	load("", "-", "fence_command = /bin/true --node a\n");
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), 0);

	load("", "-", "health_check_command = /nonexistent/check a\n");
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "health_check_command in remora.conf cannot "
				 "run: /nonexistent/check: No such file or "
				 "directory; install it or change [failover] "
				 "health_check_command");

	write_text(at("fence.sh"), "#!/bin/sh\n", 0644);
	snprintf(fo, sizeof(fo), "fence_command = %s\n", at("fence.sh"));
	load("", "-", fo);
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "fence_command in remora.conf cannot run: %s: not an "
		 "executable file; install it or change [failover] "
		 "fence_command",
		 at("fence.sh"));
	assert_string_equal(err, want);
	assert_int_equal(chmod(at("fence.sh"), 0755), 0);
	assert_int_equal(paths_check_commands(&cfg, err, sizeof(err)), 0);
	unlink(at("fence.sh"));
}

/* A type = process config from the scratch directory; workload: its keys. */
static void load_process(const char *workload)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n"
		 "[node a]\nreplication_address = 127.0.0.1:7301\n"
		 "role = primary\n"
		 "[workload]\ntype = process\n%s",
		 workload);
	if (config_parse(text, strlen(text), "remora.conf", dir, &cfg, err,
			 sizeof(err)))
		fail_msg("config: %s", err);
}

/* paths_find_command must find want (NULL: refuse with -ENOENT). */
static void finds(const char *want)
{
	char path[CONFIG_PATH_MAX];
	int ret =
		paths_find_command(&cfg, path, sizeof(path), err, sizeof(err));

	if (want && (ret || strcmp(path, want) != 0))
		fail_msg("want %s, got %d %s (%s)", want, ret, ret ? "" : path,
			 ret ? err : "");
	if (!want && ret != -ENOENT)
		fail_msg("want -ENOENT, got %d (%s)", ret, ret ? err : path);
}

static void test_find_command(void **state)
{
	char text[1024], want[1024], *own = getenv("PATH");
	char saved[4096];

	(void)state;
	snprintf(saved, sizeof(saved), "%s", own ? own : "");
	assert_int_equal(mkdir(at("bin"), 0755), 0);
	assert_int_equal(mkdir(at("sbin"), 0755), 0);
	write_text(at("bin/prog"), "#!/bin/sh\n", 0755);
	write_text(at("sbin/prog"), "#!/bin/sh\n", 0755);
	write_text(at("sbin/plain"), "", 0644);

	/* A path: as given; relative ones from directory. */
	load_process("command = /bin/sh -c 'exit 0'\n");
	finds("/bin/sh");
	snprintf(text, sizeof(text), "command = ./bin/prog x\ndirectory = %s\n",
		 dir);
	load_process(text);
	snprintf(want, sizeof(want), "%s/./bin/prog", dir);
	finds(want);

	/* A name: in the environment's PATH, first match, relative entries
	 * from directory. */
	snprintf(text, sizeof(text),
		 "command = prog\nenvironment = PATH=/nonexistent:%s:%s\n",
		 at("sbin"), at("bin"));
	load_process(text);
	finds(at("sbin/prog"));
	snprintf(text, sizeof(text),
		 "command = prog\nenvironment = PATH=bin\ndirectory = %s\n",
		 dir);
	load_process(text);
	snprintf(want, sizeof(want), "%s/bin/prog", dir);
	finds(want);
	/* Not executable, then executable further on. */
	snprintf(text, sizeof(text),
		 "command = plain\nenvironment = PATH=%s:%s\n", at("sbin"),
		 at("bin"));
	load_process(text);
	assert_int_equal(
		paths_find_command(&cfg, want, sizeof(want), err, sizeof(err)),
		-EACCES);
	write_text(at("bin/plain"), "", 0755);
	finds(at("bin/plain"));
	unlink(at("bin/plain"));

	/* The environment's PATH, not the daemon's, when it sets one. */
	snprintf(text, sizeof(text),
		 "command = prog\nenvironment = HOME=/ PATH=/usr/bin:/bin\n");
	load_process(text);
	setenv("PATH", at("bin"), 1);
	finds(NULL);
	assert_string_equal(err, "command in remora.conf cannot run: no "
				 "executable 'prog' in PATH /usr/bin:/bin "
				 "(from [workload] environment); install it, "
				 "give its path, or set PATH in [workload] "
				 "environment");
	/* The daemon's own PATH when it sets none. */
	load_process("command = prog --flag\nenvironment = HOME=/\n");
	finds(at("bin/prog"));
	setenv("PATH", at("nothing"), 1);
	finds(NULL);
	snprintf(want, sizeof(want),
		 "command in remora.conf cannot run: no executable 'prog' in "
		 "PATH %s (remora's own, as [workload] environment sets none); "
		 "install it, give its path, or set PATH in [workload] "
		 "environment",
		 at("nothing"));
	assert_string_equal(err, want);
	unsetenv("PATH");
	load_process("command = sh\n");
	finds("/bin/sh");
	setenv("PATH", saved, 1);

	/* A path that is missing, not executable, or a directory. */
	load_process("command = /nonexistent/prog\n");
	finds(NULL);
	assert_string_equal(err, "command in remora.conf cannot run: "
				 "/nonexistent/prog: No such file or "
				 "directory; install it or change [workload] "
				 "command");
	snprintf(text, sizeof(text), "command = %s\n", at("sbin/plain"));
	load_process(text);
	assert_int_equal(
		paths_find_command(&cfg, want, sizeof(want), err, sizeof(err)),
		-EACCES);
	snprintf(want, sizeof(want),
		 "command in remora.conf cannot run: %s: not an executable "
		 "file; install it or change [workload] command",
		 at("sbin/plain"));
	assert_string_equal(err, want);
	snprintf(text, sizeof(text), "command = %s\n", at("bin"));
	load_process(text);
	assert_int_equal(
		paths_find_command(&cfg, want, sizeof(want), err, sizeof(err)),
		-EACCES);

	unlink(at("bin/prog"));
	unlink(at("sbin/prog"));
	unlink(at("sbin/plain"));
	rmdir(at("bin"));
	rmdir(at("sbin"));
}

static void test_check_process(void **state)
{
	char text[1024], want[1024];

	(void)state;
	/* kvm: nothing to check here. */
	load("", "-", "");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), 0);
	assert_int_equal(
		paths_find_command(&cfg, want, sizeof(want), err, sizeof(err)),
		-EINVAL);

	load_process("command = /bin/true\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), 0);
	assert_int_equal(mkdir(at("data"), 0755), 0);
	write_text(at("criu"), "#!/bin/sh\n", 0755);
	write_text(at("file"), "", 0644);
	/* Relative paths from the config file's directory. */
	load_process("command = /bin/true\ndirectory = data\ncriu = criu\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), 0);
	snprintf(text, sizeof(text),
		 "command = /bin/true\ncriu = criu\ndata_directory = %s\n",
		 at("data"));
	load_process(text);
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), 0);

	/* directory */
	load_process("command = /bin/true\ndirectory = nodir\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "directory %s in remora.conf: No such file or directory; "
		 "create it or change [workload] directory",
		 at("nodir"));
	assert_string_equal(err, want);
	load_process("command = /bin/true\ndirectory = file\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOTDIR);
	snprintf(want, sizeof(want),
		 "directory %s in remora.conf is a regular file, not a "
		 "directory; change [workload] directory",
		 at("file"));
	assert_string_equal(err, want);

	/* command, after directory */
	load_process("command = nosuch-program-x\n"
		     "environment = PATH=/nonexistent\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "command in remora.conf cannot run: no "
				 "executable 'nosuch-program-x' in PATH "
				 "/nonexistent (from [workload] environment); "
				 "install it, give its path, or set PATH in "
				 "[workload] environment");

	/* criu */
	load_process("command = /bin/true\ncriu = nocriu\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "criu in remora.conf cannot run: %s: No such file or "
		 "directory; install CRIU there, or change [workload] criu "
		 "(remove it for the one scripts/build-criu installs)",
		 at("nocriu"));
	assert_string_equal(err, want);
	load_process("command = /bin/true\ncriu = file\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "criu in remora.conf cannot run: %s: not an executable file; "
		 "install CRIU there, or change [workload] criu (remove it for "
		 "the one scripts/build-criu installs)",
		 at("file"));
	assert_string_equal(err, want);

	/* data_directory: in the service's view, which starts as ours */
	load_process("command = /bin/true\n"
		     "data_directory = /nonexistent/remora-data\n");
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "data_directory /nonexistent/remora-data in "
				 "remora.conf: No such file or directory; "
				 "create it (remora mounts a tmpfs on it) or "
				 "change [workload] data_directory");
	snprintf(text, sizeof(text),
		 "command = /bin/true\ndata_directory = %s\n", at("file"));
	load_process(text);
	assert_int_equal(paths_check_process(&cfg, err, sizeof(err)), -ENOTDIR);
	snprintf(want, sizeof(want),
		 "data_directory %s in remora.conf is a regular file, not a "
		 "directory; change [workload] data_directory",
		 at("file"));
	assert_string_equal(err, want);

	unlink(at("criu"));
	unlink(at("file"));
	rmdir(at("data"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_regular),
		cmocka_unit_test(test_open_sink),
		cmocka_unit_test(test_open_console),
		cmocka_unit_test(test_check_snapshot),
		cmocka_unit_test(test_check_commands),
		cmocka_unit_test(test_find_command),
		cmocka_unit_test(test_check_process),
	};
	int ret;

	alarm(30); /* a call that blocked fails the test, not the suite */
	snprintf(dir, sizeof(dir), "/tmp/remora-test-paths.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
