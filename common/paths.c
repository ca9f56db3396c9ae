/*
 * Opening and checking the files a daemon is told about (see paths.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

const char *paths_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFLNK:
		return "a symbolic link";
	}
	return "a special file";
}

/* Clears O_NONBLOCK: the caller reads and writes as on any blocking fd. */
static int make_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int paths_open_regular(const char *path, char *why, size_t whylen)
{
	struct stat st;
	int fd, ret;

	/* O_NONBLOCK: a FIFO without a writer would block open(2). */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s, not a regular file",
			 paths_kind(st.st_mode));
		close(fd);
		return -EINVAL;
	} else {
		ret = make_blocking(fd);
		if (!ret)
			return fd;
	}
	close(fd);
err:
	snprintf(why, whylen, "%s", strerror(-ret));
	return ret;
}

int paths_open_sink(const char *path)
{
	int fd, ret;

	if (strcmp(path, "-") == 0) {
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	/*
	 * O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of
	 * blocking until one comes. Writes then block as they always did
	 * (outbuf.c writes whole epochs with fd_write_all()).
	 */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return -errno;
	ret = make_blocking(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The key that set node n's console: what the operator changes. */
static void console_key(const struct config_node *n, char *buf, size_t len)
{
	if (n->console[0])
		snprintf(buf, len, "[node %s] console", n->name);
	else
		snprintf(buf, len, "[workload] console");
}

int paths_open_console(const struct config *cfg, const struct config_node *n,
		       char *err, size_t errlen)
{
	const char *path = config_console(cfg, n);
	char key[CONFIG_NAME_MAX + 32];
	struct stat st;
	int fd;

	fd = paths_open_sink(path);
	if (fd >= 0)
		return fd;
	console_key(n, key, sizeof(key));
	/* ENXIO: a FIFO without a reader, or a socket (open(2) cannot open
	 * one). Which of the two is only said, not acted on. */
	if (fd == -ENXIO && !stat(path, &st)) {
		if (S_ISFIFO(st.st_mode))
			snprintf(err, errlen,
				 "console FIFO %s of node %s in %s has no "
				 "reader; start the reader first, or change %s",
				 path, n->name, cfg->path, key);
		else
			snprintf(err, errlen,
				 "console %s of node %s in %s is %s; name a "
				 "file or a FIFO in %s",
				 path, n->name, cfg->path,
				 paths_kind(st.st_mode), key);
		return fd;
	}
	snprintf(err, errlen, "console %s of node %s in %s: %s; %s %s", path,
		 n->name, cfg->path, strerror(-fd),
		 fd == -ENOENT ? "create the directory or change"
		 : fd == -EACCES || fd == -EPERM || fd == -EROFS
			 ? "make it writable or change"
			 : "change",
		 key);
	return fd;
}

/* The directory part of path ("." for none), in buf. */
static void dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int paths_check_snapshot(const char *path, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX];
	struct stat st;
	int ret;

	if (!*path || path[strlen(path) - 1] == '/') {
		snprintf(err, errlen,
			 "--snapshot '%s': not a file name; give the file to "
			 "write",
			 path);
		return -EINVAL;
	}
	dir_of(path, dir, sizeof(dir));
	ret = stat(dir, &st) ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (ret) {
		snprintf(err, errlen,
			 "--snapshot %s: directory %s: %s; create it or change "
			 "--snapshot",
			 path, dir, strerror(-ret));
		return ret;
	}
	/* snapshot.c creates PATH.tmp there and renames it over path. */
	if (access(dir, W_OK | X_OK)) {
		ret = -errno;
		snprintf(err, errlen,
			 "--snapshot %s: directory %s: %s; make it writable or "
			 "change --snapshot",
			 path, dir, strerror(errno));
		return ret;
	}
	if (!lstat(path, &st) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		snprintf(err, errlen,
			 "--snapshot %s is %s, which a snapshot would replace; "
			 "name a file",
			 path, paths_kind(st.st_mode));
		return -EEXIST;
	}
	return 0;
}

/* 0 when path is a regular file we may execute, else a negative errno. */
static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	return access(path, X_OK) ? -errno : 0;
}

/*
 * The first word of cmd when it is a plain path: a '/' and only characters
 * the shell takes literally (no variables, quotes, globs or assignments).
 */
static int first_path(const char *cmd, char *buf, size_t len)
{
	size_t n = 0;
	int slash = 0;

	while (isspace((unsigned char)*cmd))
		cmd++;
	for (; *cmd && !isspace((unsigned char)*cmd); cmd++) {
		if (!isalnum((unsigned char)*cmd) && !strchr("/._+-,:@%", *cmd))
			return 0;
		if (n + 1 >= len)
			return 0;
		slash |= *cmd == '/';
		buf[n++] = *cmd;
	}
	buf[n] = '\0';
	return slash;
}

static int check_command(const struct config *cfg, const char *key,
			 const char *cmd, char *err, size_t errlen)
{
	char word[CONFIG_CMD_MAX];
	const char *p = cmd;
	int ret;

	if (!*cmd)
		return 0; /* none */
	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		snprintf(err, errlen,
			 "%s in %s is blank; give the command, or remove the "
			 "line for none",
			 key, cfg->path);
		return -EINVAL;
	}
	ret = executable(PATHS_SHELL);
	if (ret) {
		snprintf(err, errlen,
			 "%s in %s cannot run: %s: %s; install a POSIX shell "
			 "there (remora runs the command with %s -c)",
			 key, cfg->path, PATHS_SHELL,
			 ret == -EACCES ? "not an executable file"
					: strerror(-ret),
			 PATHS_SHELL);
		return ret;
	}
	if (first_path(p, word, sizeof(word)) && (ret = executable(word))) {
		snprintf(err, errlen,
			 "%s in %s cannot run: %s: %s; install it or change "
			 "[failover] %s",
			 key, cfg->path, word,
			 ret == -EACCES ? "not an executable file"
					: strerror(-ret),
			 key);
		return ret;
	}
	return 0;
}

int paths_check_commands(const struct config *cfg, char *err, size_t errlen)
{
	int ret;

	ret = check_command(cfg, "fence_command", cfg->failover.fence_command,
			    err, errlen);
	if (ret)
		return ret;
	return check_command(cfg, "health_check_command",
			     cfg->failover.health_check_command, err, errlen);
}

/* The failure of executable() as the messages say it. */
static const char *exec_why(int ret)
{
	return ret == -EACCES ? "not an executable file" : strerror(-ret);
}

/* dir/name into buf; name as it is when absolute or dir is "". */
static int join(char *buf, size_t len, const char *dir, const char *name)
{
	int n;

	if (name[0] == '/' || !*dir)
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The PATH in [workload] environment, or NULL. */
static const char *env_path(const struct config *cfg)
{
	const char *w = cfg->workload.environment;

	for (int i = 0; i < cfg->workload.environment_count;
	     i++, w += strlen(w) + 1)
		if (strncmp(w, "PATH=", 5) == 0)
			return w + 5;
	return NULL;
}

/*
 * name in the PATH search: the first executable regular file, as execvp
 * finds it; -EACCES when only something else of that name is there.
 */
static int search_path(const char *search, const char *dir, const char *name,
		       char *path, size_t len)
{
	char entry[CONFIG_PATH_MAX], rel[CONFIG_PATH_MAX];
	const char *p = search, *colon;
	int ret = -ENOENT, r;

	for (;; p = colon + 1) {
		colon = strchr(p, ':');
		snprintf(entry, sizeof(entry), "%.*s",
			 (int)(colon ? (size_t)(colon - p) : strlen(p)), p);
		if (!join(rel, sizeof(rel), entry[0] ? entry : ".", name) &&
		    !join(path, len, dir, rel)) {
			r = executable(path);
			if (!r)
				return 0;
			if (r != -ENOENT && r != -ENOTDIR)
				ret = -EACCES;
		}
		if (!colon)
			return ret;
	}
}

int paths_find_command(const struct config *cfg, char *path, size_t len,
		       char *err, size_t errlen)
{
	const char *argv0 = cfg->workload.command;
	const char *dir = cfg->workload.directory;
	const char *search = env_path(cfg),
		   *from = "from [workload] environment";
	int ret;

	if (cfg->workload.kind != CONFIG_WORKLOAD_PROCESS ||
	    cfg->workload.command_argc < 1) {
		snprintf(err, errlen, "%s: no [workload] command (type = %s)",
			 cfg->path, cfg->workload.type);
		return -EINVAL;
	}
	if (strchr(argv0, '/')) {
		ret = join(path, len, dir, argv0);
		if (!ret)
			ret = executable(path);
		if (ret)
			snprintf(err, errlen,
				 "command in %s cannot run: %s: %s; install "
				 "it or change [workload] command",
				 cfg->path, ret == -ENAMETOOLONG ? argv0 : path,
				 exec_why(ret));
		return ret;
	}
	if (!search) {
		search = getenv("PATH");
		from = "remora's own, as [workload] environment sets none";
	}
	if (!search) {
		search = "/bin:/usr/bin";
		from = "the default: neither [workload] environment nor "
		       "remora has one";
	}
	ret = search_path(search, dir, argv0, path, len);
	if (ret)
		snprintf(err, errlen,
			 "command in %s cannot run: no executable '%s' in PATH "
			 "%s (%s); install it, give its path, or set PATH in "
			 "[workload] environment",
			 cfg->path, argv0, search, from);
	return ret;
}

/* A directory that key names, or one line saying what is wrong. */
static int check_dir(const struct config *cfg, const char *key,
		     const char *path, const char *fix, char *err,
		     size_t errlen)
{
	struct stat st;

	if (stat(path, &st)) {
		int ret = -errno;

		snprintf(err, errlen, "%s %s in %s: %s; %s", key, path,
			 cfg->path, strerror(-ret), fix);
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
			 "%s %s in %s is %s, not a directory; change "
			 "[workload] %s",
			 key, path, cfg->path, paths_kind(st.st_mode), key);
		return -ENOTDIR;
	}
	return 0;
}

int paths_check_process(const struct config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX];
	int ret;

	if (cfg->workload.kind != CONFIG_WORKLOAD_PROCESS)
		return 0;
	ret = check_dir(cfg, "directory", cfg->workload.directory,
			"create it or change [workload] directory", err,
			errlen);
	if (!ret)
		ret = paths_find_command(cfg, path, sizeof(path), err, errlen);
	if (!ret && cfg->workload.criu[0]) {
		ret = executable(cfg->workload.criu);
		if (ret)
			snprintf(err, errlen,
				 "criu in %s cannot run: %s: %s; install CRIU "
				 "there, or change [workload] criu (remove it "
				 "for the one scripts/build-criu installs)",
				 cfg->path, cfg->workload.criu, exec_why(ret));
	}
	if (!ret && cfg->workload.data_directory[0])
		ret = check_dir(cfg, "data_directory",
				cfg->workload.data_directory,
				"create it (remora mounts a tmpfs on it) or "
				"change [workload] data_directory",
				err, errlen);
	return ret;
}
