/*
 * cgroup v2 for a process workload: where the hierarchy is, one cgroup per
 * service, and the kernel's freezer and kill switch on it. The waits poll
 * cgroup.events: kernfs marks it changed (POLLPRI) whenever "populated" or
 * "frozen" flips, and re-reading it re-arms the notification, so a freeze
 * is observed as soon as the last task stops (~0.1 ms), unlike CRIU's own
 * freezer loop, which sleeps 100 ms between looks.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fail.h"

/* mountinfo escapes blanks and backslashes as \ooo; undo it in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

int proc_cgroup_v2_mount(char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int rc = -ENOENT;

	if (!f)
		return fail_line(err, errlen, -errno,
				 "open /proc/self/mountinfo: %s",
				 strerror(errno));
	/* id parent maj:min root mountpoint opts [optional...] - fstype ... */
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char *save, *tok, *mnt = NULL;
		int i = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = 0;
		for (tok = strtok_r(line, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save))
			if (i++ == 4)
				mnt = tok;
		if (!mnt)
			continue;
		unescape(mnt);
		if (strlen(mnt) >= len) {
			rc = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, mnt);
		rc = 0;
		break;
	}
	fclose(f);
	if (rc == -ENOENT)
		return fail_line(
			err, errlen, rc,
			"no cgroup2 mount in /proc/self/mountinfo "
			"(mount cgroup2, e.g. on /sys/fs/cgroup/unified)");
	if (rc)
		return fail_line(err, errlen, rc,
				 "cgroup2 mount path too long");
	return 0;
}

/* The caller's own v2 cgroup ("0::/path" in /proc/self/cgroup). */
static int own_cgroup(char *buf, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 16];
	int rc = -ENOENT;

	if (!f)
		return fail_line(err, errlen, -errno,
				 "open /proc/self/cgroup: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (strlen(line + 3) >= len) {
			rc = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, line + 3);
		rc = 0;
		break;
	}
	fclose(f);
	if (rc)
		return fail_line(
			err, errlen, rc,
			"no cgroup v2 entry (0::) in /proc/self/cgroup");
	return 0;
}

static int open_ctl(struct proc_cgroup *cg, const char *file, int flags,
		    int *fd, char *err, size_t errlen)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/%s", cg->path, file);
	*fd = open(p, flags | O_CLOEXEC);
	if (*fd < 0)
		return fail_line(err, errlen, -errno, "open %s: %s", p,
				 strerror(errno));
	return 0;
}

static void close_ctls(struct proc_cgroup *cg)
{
	int *fds[] = {&cg->freeze_fd, &cg->events_fd, &cg->procs_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* The directory new cgroups are made in: <v2 mount><own cgroup>. */
static int parent_dir(char *buf, size_t len, char *err, size_t errlen)
{
	char mnt[PATH_MAX], own[PATH_MAX];
	int rc = proc_cgroup_v2_mount(mnt, sizeof(mnt), err, errlen);

	if (!rc)
		rc = own_cgroup(own, sizeof(own), err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(buf, len, "%s%s", mnt,
			     strcmp(own, "/") ? own : "") >= len)
		return fail_line(err, errlen, -ENAMETOOLONG,
				 "cgroup path too long");
	return 0;
}

int proc_cgroup_sweep(const char *prefix)
{
	char dir[PATH_MAX];
	struct dirent *e;
	int n = 0;
	DIR *dp;

	if (parent_dir(dir, sizeof(dir), NULL, 0) || !(dp = opendir(dir)))
		return 0;
	while ((e = readdir(dp))) {
		char *end;
		long pid;

		if (e->d_type != DT_DIR ||
		    strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		pid = strtol(e->d_name + strlen(prefix), &end, 10);
		/* Only a dead daemon's: a live one's is empty too until its
		 * service is spawned into it. */
		if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		if (unlinkat(dirfd(dp), e->d_name, AT_REMOVEDIR) == 0)
			n++;
	}
	closedir(dp);
	return n;
}

int proc_cgroup_create(struct proc_cgroup *cg, const char *name, char *err,
		       size_t errlen)
{
	char mnt[PATH_MAX], own[PATH_MAX];
	int rc;

	cg->freeze_fd = cg->events_fd = cg->procs_fd = -1;
	cg->path[0] = 0;
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return fail_line(err, errlen, -EINVAL,
				 "cgroup name '%s' is not one path component",
				 name);
	rc = proc_cgroup_v2_mount(mnt, sizeof(mnt), err, errlen);
	if (rc)
		return rc;
	rc = own_cgroup(own, sizeof(own), err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(cg->path, sizeof(cg->path), "%s%s/%s", mnt,
			     strcmp(own, "/") ? own : "",
			     name) >= sizeof(cg->path))
		return fail_line(err, errlen, -ENAMETOOLONG,
				 "cgroup path too long");
	if (mkdir(cg->path, 0755) < 0) {
		rc = -errno;
		return fail_line(err, errlen, rc, "mkdir %s: %s", cg->path,
				 strerror(-rc));
	}
	rc = open_ctl(cg, "cgroup.freeze", O_RDWR, &cg->freeze_fd, err, errlen);
	if (!rc)
		rc = open_ctl(cg, "cgroup.events", O_RDONLY, &cg->events_fd,
			      err, errlen);
	if (!rc)
		rc = open_ctl(cg, "cgroup.procs", O_WRONLY, &cg->procs_fd, err,
			      errlen);
	if (rc) {
		close_ctls(cg);
		rmdir(cg->path);
		return rc;
	}
	return 0;
}

int proc_cgroup_remove(struct proc_cgroup *cg, char *err, size_t errlen)
{
	close_ctls(cg);
	if (!cg->path[0])
		return 0;
	if (rmdir(cg->path) < 0 && errno != ENOENT)
		return fail_line(err, errlen, -errno, "rmdir %s: %s", cg->path,
				 strerror(errno));
	cg->path[0] = 0;
	return 0;
}

/* The value of "key N" in cgroup.events, or -errno. */
static int events_value(const struct proc_cgroup *cg, const char *key)
{
	char buf[256], *p;
	size_t klen = strlen(key);
	ssize_t n = pread(cg->events_fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return atoi(p + klen + 1);
	return -ENOENT;
}

/*
 * Waits until cgroup.events has "key want". Reading the file re-arms its
 * POLLPRI notification, so a change between the read and the poll is not
 * lost: poll returns at once.
 */
static int events_wait(const struct proc_cgroup *cg, const char *key, int want,
		       int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd pfd = {.fd = cg->events_fd, .events = POLLPRI};
		int v = events_value(cg, key);
		uint64_t now;
		int left, n;

		if (v < 0)
			return fail_line(err, errlen, v,
					 "read %s/cgroup.events (%s): %s",
					 cg->path, key, strerror(-v));
		if (v == want)
			return 0;
		now = now_ns();
		if (now >= deadline)
			return fail_line(err, errlen, -ETIMEDOUT,
					 "%s: cgroup.events still says '%s %d' "
					 "after %d ms",
					 cg->path, key, v, timeout_ms);
		left = (int)((deadline - now + 999999) / 1000000);
		n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR)
			return fail_line(err, errlen, -errno,
					 "poll %s/cgroup.events: %s", cg->path,
					 strerror(errno));
	}
}

static int write_ctl(int fd, const char *what, const char *path,
		     const char *val, char *err, size_t errlen)
{
	size_t len = strlen(val);

	if (pwrite(fd, val, len, 0) != (ssize_t)len)
		return fail_line(err, errlen, -errno, "write '%s' to %s/%s: %s",
				 val, path, what, strerror(errno));
	return 0;
}

int proc_cgroup_freeze(struct proc_cgroup *cg, int timeout_ms, char *err,
		       size_t errlen)
{
	int rc = write_ctl(cg->freeze_fd, "cgroup.freeze", cg->path, "1", err,
			   errlen);

	return rc ? rc : events_wait(cg, "frozen", 1, timeout_ms, err, errlen);
}

int proc_cgroup_thaw(struct proc_cgroup *cg, int timeout_ms, char *err,
		     size_t errlen)
{
	int rc = write_ctl(cg->freeze_fd, "cgroup.freeze", cg->path, "0", err,
			   errlen);

	return rc ? rc : events_wait(cg, "frozen", 0, timeout_ms, err, errlen);
}

int proc_cgroup_kill(struct proc_cgroup *cg, int timeout_ms, char *err,
		     size_t errlen)
{
	char p[PATH_MAX + 16];
	int fd, rc;

	snprintf(p, sizeof(p), "%s/cgroup.kill", cg->path);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_line(err, errlen, -errno,
				 "open %s: %s (cgroup.kill needs Linux 5.14)",
				 p, strerror(errno));
	rc = write_ctl(fd, "cgroup.kill", cg->path, "1", err, errlen);
	close(fd);
	return rc ? rc
		  : events_wait(cg, "populated", 0, timeout_ms, err, errlen);
}

int proc_cgroup_join(const struct proc_cgroup *cg, int pid, char *err,
		     size_t errlen)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", pid);
	return write_ctl(cg->procs_fd, "cgroup.procs", cg->path, v, err,
			 errlen);
}
