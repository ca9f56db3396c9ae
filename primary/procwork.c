/*
 * The process workload (procwork.h).
 *
 * Which pages an epoch carries: a load marks every page of the space whose
 * content it changed (set.changed). A checkpoint stages those and the
 * pages a finished sync left over (carry), so the backup always ends up
 * with the space exactly as the last staged load left it. A harvest (a
 * pre-copy round) takes the marks as its round; a round that is not sent
 * goes to carry (defer()). ever: every page a load ever wrote, the first
 * round of a sync.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "clock.h"
#include "criu.h"
#include "log.h"
#include "netout.h"
#include "outbuf.h"
#include "procwork.h"
#include "spawn.h"

#define STAGE_PREALLOC_PAGES 2048u
#define FREEZE_TIMEOUT_MS    5000
#define KILL_TIMEOUT_MS	     10000
/* Dumps go to memory: a tmpfs every Debian system has. */
#define RUN_ROOT "/dev/shm"

static size_t bitmap_words(const struct procwork *p)
{
	return (p->set.npages + 63) / 64;
}

/* --- output ------------------------------------------------------------- */

/* Moves what the pipe holds into the output buffer (out_lock held).
 * Returns 0 at EOF. */
static int drain(struct procwork *p)
{
	uint8_t buf[65536];

	for (;;) {
		ssize_t n = read(p->out_fd, buf, sizeof(buf));

		if (n > 0) {
			outbuf_append(p->sink.ob, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n != 0;
	}
}

static void *reader_main(void *arg)
{
	struct procwork *p = arg;
	struct pollfd fds[3] = {
		{.fd = p->out_fd, .events = POLLIN},
		{.fd = p->pidfd, .events = POLLIN},
		{.fd = p->stop_fd, .events = POLLIN},
	};

	for (;;) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[2].revents)
			break;
		if (fds[0].revents) {
			int more;

			pthread_mutex_lock(&p->out_lock);
			more = drain(p);
			pthread_mutex_unlock(&p->out_lock);
			if (!more)
				fds[0].fd = -1; /* every writer closed it */
		}
		if (fds[1].revents) {
			int st;

			pthread_mutex_lock(&p->out_lock);
			drain(p);
			pthread_mutex_unlock(&p->out_lock);
			if (waitpid(p->pid, &st, 0) == p->pid) {
				p->status = st;
				__atomic_store_n(&p->exited, 1,
						 __ATOMIC_RELEASE);
			}
			p->sink.ended(p->sink.arg);
			break;
		}
	}
	return NULL;
}

static int start_reader(struct procwork *p)
{
	int ret;

	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0)
		return -errno;
	ret = pthread_create(&p->reader, NULL, reader_main, p);
	if (ret)
		return -ret;
	p->reader_on = 1;
	return 0;
}

/* --- freezing ------------------------------------------------------------ */

static int freeze(struct procwork *p)
{
	int ret;

	if (p->frozen)
		return 0;
	ret = proc_cgroup_freeze(&p->cg, FREEZE_TIMEOUT_MS, p->err,
				 sizeof(p->err));
	if (!ret)
		p->frozen = 1;
	return ret;
}

static int thaw(struct procwork *p)
{
	int ret;

	if (!p->frozen)
		return 0;
	ret = proc_cgroup_thaw(&p->cg, FREEZE_TIMEOUT_MS, p->err,
			       sizeof(p->err));
	if (!ret)
		p->frozen = 0;
	return ret;
}

static int exited(const struct procwork *p)
{
	return __atomic_load_n(&p->exited, __ATOMIC_ACQUIRE);
}

/* --- a dump (on its own thread) --------------------------------------------- */

/*
 * The pause, on the dump thread: freeze, drain the output, dump, for a
 * checkpoint close the epoch's output, and thaw unless the tree is to stay
 * stopped (the loop thread makes sure when it takes the result,
 * finish_dump()); then, outside the pause, load the dump into the page
 * space. A tree that has ended is not dumped (dumped 0): its last epoch
 * carries only its output.
 */
static void *dump_main(void *arg)
{
	struct procwork *p = arg;
	struct dump_job *j = &p->job;
	struct proc_criu_dump_opts o = {
		.criu = p->o.criu,
		.pid = p->pid,
		.images_dir = p->dump_dir,
		.frozen_cgroup = p->cg.path,
		.leave_running = 1,
		.stdio_fd = p->out_fd,
		.netlock = PROC_NETLOCK_SKIP,
		.ext_netns_ino = p->netns_ino,
	};
	uint64_t t1, t2;
	int ret = 0;

	if (!exited(p) && !p->frozen) {
		ret = proc_cgroup_freeze(&p->cg, FREEZE_TIMEOUT_MS, j->err,
					 sizeof(j->err));
		if (!ret)
			p->frozen = 1;
	}
	t1 = now_ns();
	j->freeze_ns = t1 - j->t0;
	/* Packets sent before the freeze are the epoch's; the dump, which
	 * reads the TCP state, comes after (docs/network.md). */
	if (!ret && j->checkpoint && p->o.net &&
	    (ret = netout_close_epoch(p->o.net, j->epoch))) {
		char why[160];

		netout_why(p->o.net, why, sizeof(why));
		snprintf(j->err, sizeof(j->err), "packet gate: %s", why);
	}
	if (!ret) {
		pthread_mutex_lock(&p->out_lock);
		drain(p);
		if (!exited(p)) {
			ret = procset_clear_dir(p->dump_dir, j->err,
						sizeof(j->err));
			if (!ret)
				ret = proc_criu_dump(&o, j->err,
						     sizeof(j->err));
			j->dumped = ret == 0;
		}
		if (!ret && j->checkpoint) {
			ret = outbuf_close_epoch(p->sink.ob, j->epoch, &j->off,
						 &j->len);
			if (ret)
				snprintf(j->err, sizeof(j->err),
					 "out of memory for the output");
			j->closed = ret == 0;
		}
		pthread_mutex_unlock(&p->out_lock);
	}
	t2 = now_ns();
	j->dump_ns = t2 - t1;
	/* The pause ends here unless the loop wants the tree stopped (it
	 * checks again when it takes the result). */
	if (p->frozen && !j->stay &&
	    !__atomic_load_n(&p->stopped, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&p->held, __ATOMIC_ACQUIRE) &&
	    !proc_cgroup_thaw(&p->cg, FREEZE_TIMEOUT_MS, NULL, 0))
		p->frozen = 0;
	j->pause_ns = now_ns() - j->t0;
	/* Outside the pause, still off the loop: into the page space
	 * (nothing else touches it while a dump runs, procwork.h). */
	if (!ret && j->dumped) {
		ret = procset_load(&p->set, p->dump_dir, j->err,
				   sizeof(j->err));
		if (!ret)
			p->loaded = 1;
	}
	j->ret = ret;
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	p->sink.ready(p->sink.arg);
	return NULL;
}

/* Starts a dump (checkpoint: for epoch, closing its output; stay: the
 * tree stays frozen after it). */
static int start_dump(struct procwork *p, int checkpoint, uint64_t epoch,
		      int stay)
{
	struct dump_job *j = &p->job;
	int ret;

	memset(j, 0, sizeof(*j));
	j->checkpoint = checkpoint;
	j->epoch = epoch;
	j->stay = stay;
	j->t0 = now_ns();
	ret = pthread_create(&p->dumper, NULL, dump_main, p);
	if (ret) {
		snprintf(p->err, sizeof(p->err), "dump thread: %s",
			 strerror(ret));
		return -ret;
	}
	p->dumping = 1;
	return -EINPROGRESS;
}

/* Waits for the dump in flight, if any (its result is kept). */
static void join_dump(struct procwork *p)
{
	if (!p->dumping)
		return;
	pthread_join(p->dumper, NULL);
	p->dumping = 0;
	p->joined = 1;
}

/*
 * The dump's result, on the loop thread: -EINPROGRESS while it runs; else
 * the tree is thawed (unless it stays stopped) and the result is taken.
 * Output a checkpoint dump closed goes with the next staged checkpoint
 * (from), whatever happens to this one.
 */
static int finish_dump(struct procwork *p)
{
	struct dump_job *j = &p->job;
	int ret;

	if (p->dumping && !__atomic_load_n(&j->done, __ATOMIC_ACQUIRE))
		return -EINPROGRESS;
	join_dump(p);
	p->joined = 0;
	/* What the loop wants now (a pause or hold meanwhile, or a resume). */
	ret = exited(p) ? 0 : p->stopped || p->held ? freeze(p) : thaw(p);
	if (j->closed) {
		if (!p->from_valid || j->off < p->from ||
		    p->from < outbuf_released(p->sink.ob))
			p->from = j->off;
		p->from_valid = 1;
	}
	if (j->ret) {
		snprintf(p->err, sizeof(p->err), "%s", j->err);
		return j->ret;
	}
	return ret;
}

/* --- the workload's operations ------------------------------------------- */

static void pw_bind(void *w, const struct workload_sink *sink)
{
	((struct procwork *)w)->sink = *sink;
}

static int pw_start(void *w)
{
	struct procwork *p = w;
	struct proc_spawn_opts so = {
		.argv = p->o.argv,
		.path = p->o.path,
		.envp = p->o.envp,
		.dir = p->o.dir,
		.cgroup = &p->cg,
		.data_dir = p->o.data_dir,
		.data_opts = "mode=0755",
		.die_with_parent = 1,
		.join_netns = 1,
		.netns_fd = p->netns_fd,
	};
	struct proc_spawned sp;
	int ret;

	if (!p->restored) {
		ret = proc_spawn(&so, &sp, p->err, sizeof(p->err));
		if (ret)
			return ret;
		p->pid = sp.pid;
		p->out_fd = sp.out_fd;
	}
	ret = start_reader(p);
	if (ret)
		snprintf(p->err, sizeof(p->err), "output reader: %s",
			 strerror(-ret));
	return ret;
}

static int pw_ended(void *w, char *why, size_t len)
{
	struct procwork *p = w;
	int st = p->status;

	*why = '\0';
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	snprintf(why, len, "the service was killed by signal %d (%s)",
		 WTERMSIG(st), strsignal(WTERMSIG(st)));
	return 128 + WTERMSIG(st);
}

static const char *pw_error(void *w)
{
	return ((struct procwork *)w)->err;
}

static struct staged *pw_staged(void *w, unsigned slot)
{
	return &((struct procwork *)w)->slots[slot];
}

static const uint8_t *pw_memory(void *w)
{
	return ((struct procwork *)w)->set.mem;
}

/* Stages every marked page (changed | carry) from the space. */
static int stage_marked(struct procwork *p, struct staged *s)
{
	size_t i, nw = bitmap_words(p);
	uint64_t *bits = p->round; /* scratch: a checkpoint has no round */
	size_t n = 0;
	int ret;

	for (i = 0; i < nw; i++) {
		bits[i] = p->set.changed[i] | p->carry[i];
		n += (size_t)__builtin_popcountll(bits[i]);
	}
	ret = staged_reserve(s, n, 1);
	if (ret) {
		memset(bits, 0, nw * 8);
		return ret;
	}
	s->npages = capture_list(bits, p->set.npages, s->pfns);
	for (i = 0; i < s->npages; i++)
		memcpy(s->pages + i * VM_PAGE_SIZE,
		       p->set.mem + s->pfns[i] * VM_PAGE_SIZE, VM_PAGE_SIZE);
	for (i = 0; i < nw; i++) {
		p->ever[i] |= bits[i];
		p->set.changed[i] = p->carry[i] = bits[i] = 0;
	}
	return 0;
}

static int pw_capture(void *w, unsigned slot, uint64_t epoch, int final)
{
	struct procwork *p = w;
	struct staged *s = &p->slots[slot];
	int ret;

	if (final)
		__atomic_store_n(&p->stopped, 1, __ATOMIC_RELEASE);
	if (!p->dumping && !p->joined)
		return start_dump(p, 1, epoch, p->stopped || p->held);
	ret = finish_dump(p);
	if (ret == -EINPROGRESS)
		return ret;
	/* A pre-copy dump, one for another epoch, or not the last one when
	 * this is: it cannot be this epoch (its output is not closed at its
	 * freeze, or the tree ran after it); it is in the space: take
	 * another. */
	if (!ret && (!p->job.checkpoint || p->job.epoch != epoch ||
		     (final && !p->job.stay)))
		return start_dump(p, 1, epoch, p->stopped || p->held);
	staged_begin(s, epoch, 0);
	s->pause_ns = p->job.pause_ns;
	s->resumed_ns = now_ns();
	s->harvest_ns = p->job.freeze_ns;
	s->copy_ns = p->job.dump_ns;
	if (ret)
		goto failed;
	if (!p->loaded) {
		ret = -ESRCH;
		snprintf(p->err, sizeof(p->err),
			 "the service ended before its first dump");
		goto failed;
	}
	ret = stage_marked(p, s);
	if (ret) {
		snprintf(p->err, sizeof(p->err), "out of memory for the epoch");
		goto failed;
	}
	s->capture_bytes = p->job.dumped ? p->set.dump_bytes : 0;
	memcpy(s->state, p->set.state, PROCIMG_STATE_LEN);
	s->state_len = PROCIMG_STATE_LEN;
	s->console_off = p->from;
	s->console_len = (size_t)(p->job.off + p->job.len - p->from);
	ret = outbuf_copy(p->sink.ob, s->console_off, s->console_len,
			  &s->console);
	if (ret) {
		snprintf(p->err, sizeof(p->err), "output copy: %s",
			 strerror(-ret));
		goto failed;
	}
	p->from_valid = 0;
	return 0;
failed:
	log_error("epoch %llu: capture: %s", (unsigned long long)epoch, p->err);
	return ret;
}

static long pw_harvest(void *w)
{
	struct procwork *p = w;
	size_t i, nw = bitmap_words(p);
	long n = 0;
	int ret;

	if (exited(p))
		return -ESRCH;
	if (!p->dumping && !p->joined)
		return start_dump(p, 0, 0, p->stopped || p->held);
	ret = finish_dump(p);
	if (ret == -EINPROGRESS)
		return ret;
	/* Any dump serves a pre-copy round (a checkpoint's closed output
	 * waits in from for the next checkpoint). */
	if (!ret && !p->job.dumped)
		ret = -ESRCH;
	if (ret) {
		log_error("harvest: %s", p->err);
		return ret;
	}
	for (i = 0; i < nw; i++) {
		p->round[i] = p->set.changed[i];
		p->ever[i] |= p->round[i];
		p->set.changed[i] = 0;
		n += __builtin_popcountll(p->round[i]);
	}
	return n;
}

static size_t pw_list(void *w, int all)
{
	struct procwork *p = w;

	return capture_list(all ? p->ever : p->round, p->set.npages,
			    p->round_pfns);
}

static void pw_defer(void *w)
{
	struct procwork *p = w;

	for (size_t i = 0; i < bitmap_words(p); i++) {
		p->carry[i] |= p->round[i];
		p->round[i] = 0;
	}
}

static int pw_stage(void *w, unsigned slot, uint64_t epoch, size_t pos,
		    size_t n)
{
	struct procwork *p = w;
	struct staged *s = &p->slots[slot];
	int ret = staged_reserve(s, n, 0);

	if (ret)
		return ret;
	staged_set_precopy(s, epoch, p->round_pfns + pos, n);
	return 0;
}

static int pw_reserve(void *w)
{
	struct procwork *p = w;
	int ret;

	for (unsigned i = 0; i < p->o.nslots; i++) {
		ret = staged_reserve(&p->slots[i], STAGE_PREALLOC_PAGES, 1);
		if (!ret)
			ret = staged_reserve_output(&p->slots[i],
						    STAGE_PREALLOC_PAGES);
		if (ret)
			return ret;
	}
	return 0;
}

/* A dump in flight leaves the tree frozen; the next capture or harvest
 * takes its result (join_dump() keeps it). */
static int pw_pause(void *w)
{
	struct procwork *p = w;

	__atomic_store_n(&p->stopped, 1, __ATOMIC_RELEASE);
	join_dump(p);
	return exited(p) ? 0 : freeze(p);
}

static int pw_resume(void *w)
{
	struct procwork *p = w;

	__atomic_store_n(&p->stopped, 0, __ATOMIC_RELEASE);
	if (p->dumping || p->joined)
		return 0; /* thawed when its result is taken */
	return p->held ? 0 : thaw(p);
}

static int pw_hold(void *w, int on)
{
	struct procwork *p = w;

	__atomic_store_n(&p->held, on, __ATOMIC_RELEASE);
	if (on) {
		join_dump(p);
		return exited(p) ? 0 : freeze(p);
	}
	if (p->dumping || p->joined)
		return 0;
	return p->stopped ? 0 : thaw(p);
}

static const struct workload_ops procwork_ops = {
	.bind = pw_bind,
	.start = pw_start,
	.ended = pw_ended,
	.error = pw_error,
	.staged = pw_staged,
	.memory = pw_memory,
	.capture = pw_capture,
	.harvest = pw_harvest,
	.list = pw_list,
	.defer = pw_defer,
	.stage = pw_stage,
	.reserve = pw_reserve,
	.pause = pw_pause,
	.resume = pw_resume,
	.hold = pw_hold,
};

struct workload procwork_workload(struct procwork *p)
{
	return (struct workload){.ops = &procwork_ops,
				 .w = p,
				 .net = p->o.net,
				 .mem_size = p->set.npages * VM_PAGE_SIZE,
				 .page_size = VM_PAGE_SIZE};
}

/* --- life ------------------------------------------------------------------ */

/* Removes dir's files and subdirectories' files, then dir (two levels:
 * the run dir's dump/ and restore/). */
static void remove_run_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char sub[PATH_MAX];

	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		procset_clear_dir(sub, NULL, 0);
		if (rmdir(sub))
			unlink(sub);
	}
	closedir(dp);
	rmdir(dir);
}

/* Run dirs of this node's daemons that were killed (SIGKILL leaves them). */
static void sweep_run_dirs(const char *name)
{
	char prefix[PATH_MAX], path[PATH_MAX];
	DIR *dp = opendir(RUN_ROOT);
	struct dirent *e;

	if (!dp)
		return;
	snprintf(prefix, sizeof(prefix), "remora-%s-", name);
	while ((e = readdir(dp))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		pid = strtol(e->d_name + strlen(prefix), &end, 10);
		if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue; /* its daemon lives */
		snprintf(path, sizeof(path), "%s/%s", RUN_ROOT, e->d_name);
		remove_run_dir(path);
	}
	closedir(dp);
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		int e = errno;

		snprintf(err, errlen, "mkdir %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

int procwork_init(struct procwork *p, const struct procwork_opts *o, char *err,
		  size_t errlen)
{
	char cgname[PATH_MAX];
	size_t nw;
	int ret;

	memset(p, 0, sizeof(*p));
	p->o = *o;
	p->out_fd = p->pidfd = p->stop_fd = p->netns_fd = -1;
	pthread_mutex_init(&p->out_lock, NULL);
	ret = procset_init(&p->set, o->mem_size, err, errlen);
	if (ret)
		return ret;
	nw = bitmap_words(p);
	p->round = calloc(nw, 8);
	p->carry = calloc(nw, 8);
	p->ever = calloc(nw, 8);
	p->round_pfns = malloc(p->set.npages * sizeof(*p->round_pfns));
	p->slots = calloc(o->nslots, sizeof(*p->slots));
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!p->round || !p->carry || !p->ever || !p->round_pfns || !p->slots ||
	    p->stop_fd < 0) {
		snprintf(err, errlen, "out of memory for the process workload");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->nslots; i++)
		if ((ret = staged_init(&p->slots[i]))) {
			snprintf(err, errlen, "out of memory for the pipeline");
			return ret;
		}
	/* Cgroups of this node's killed daemons (their services died with
	 * them) go first. */
	snprintf(cgname, sizeof(cgname), "remora-%s-", o->name);
	proc_cgroup_sweep(cgname);
	snprintf(cgname, sizeof(cgname), "remora-%s-%d", o->name, getpid());
	ret = proc_cgroup_create(&p->cg, cgname, err, errlen);
	if (ret)
		return ret;
	p->cg_made = 1;
	/* The service's network namespace is remora's (spawn.h): CRIU dumps
	 * its sockets only. */
	if (o->use_netns) {
		p->netns_fd = fcntl(o->netns_fd, F_DUPFD_CLOEXEC, 0);
		ret = p->netns_fd < 0 ? -errno : 0;
		if (ret)
			snprintf(err, errlen, "the service's namespace: %s",
				 strerror(-ret));
	} else {
		ret = proc_netns_new(&p->netns_fd, err, errlen);
	}
	if (!ret)
		ret = proc_netns_inode(p->netns_fd, &p->netns_ino);
	if (ret)
		return ret;
	sweep_run_dirs(o->name);
	snprintf(p->run_dir, sizeof(p->run_dir), RUN_ROOT "/remora-%s-%d",
		 o->name, getpid());
	snprintf(p->dump_dir, sizeof(p->dump_dir), "%s/dump", p->run_dir);
	ret = make_dir(p->run_dir, err, errlen);
	if (!ret)
		ret = make_dir(p->dump_dir, err, errlen);
	return ret;
}

int procwork_restore(struct procwork *p, const struct procwork_opts *o,
		     const uint8_t *mem, const uint8_t *state, size_t state_len,
		     char *err, size_t errlen)
{
	struct proc_criu_restore_opts ro = {
		.criu = o->criu,
		.cgroup = &p->cg,
		.netlock = PROC_NETLOCK_SKIP,
		.join_netns = 1,
	};
	char dir[PATH_MAX + 16];
	int ret, pfd[2];

	ret = procwork_init(p, o, err, errlen);
	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), "%s/restore", p->run_dir);
	ret = make_dir(dir, err, errlen);
	if (!ret)
		ret = procset_clear_dir(dir, err, errlen);
	if (!ret)
		ret = procset_rebuild(mem, p->set.npages, state, state_len, dir,
				      err, errlen);
	if (ret)
		return ret;
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	ro.images_dir = dir;
	ro.stdio_fd = pfd[1];
	ro.netns_fd = p->netns_fd;
	ret = proc_criu_restore(&ro, &p->pid, err, errlen);
	close(pfd[1]);
	if (ret) {
		char log[PATH_MAX + 32], kept[PATH_MAX];
		size_t n = strlen(err);

		close(pfd[0]);
		/* The run dir goes with the workload: CRIU's log stays. */
		snprintf(log, sizeof(log), "%s/" PROC_CRIU_RESTORE_LOG, dir);
		snprintf(kept, sizeof(kept), RUN_ROOT "/remora-%s-restore.log",
			 o->name);
		if (!rename(log, kept) && n < errlen)
			snprintf(err + n, errlen - n, "; CRIU's log kept as %s",
				 kept);
		return ret;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	p->out_fd = pfd[0];
	p->restored = 1;
	procset_clear_dir(dir, NULL, 0);
	rmdir(dir);
	return 0;
}

static void stop_tree(struct procwork *p)
{
	char err[256];

	join_dump(p);
	if (p->reader_on) {
		uint64_t one = 1;

		if (write(p->stop_fd, &one, sizeof(one)) < 0)
			log_warn("stopping the output reader: %s",
				 strerror(errno));
		pthread_join(p->reader, NULL);
		p->reader_on = 0;
	}
	if (p->cg_made) {
		if (p->frozen)
			thaw(p); /* a frozen task does not die of SIGKILL */
		if (proc_cgroup_kill(&p->cg, KILL_TIMEOUT_MS, err, sizeof(err)))
			log_warn("stopping the service: %s", err);
	}
	if (p->pid > 0 && !exited(p)) {
		int st;

		if (waitpid(p->pid, &st, 0) == p->pid)
			p->status = st;
		p->exited = 1;
	}
}

void procwork_destroy(struct procwork *p)
{
	char err[256];

	stop_tree(p);
	if (p->cg_made && proc_cgroup_remove(&p->cg, err, sizeof(err)))
		log_warn("%s", err);
	if (p->run_dir[0])
		remove_run_dir(p->run_dir);
	for (unsigned i = 0; p->slots && i < p->o.nslots; i++)
		staged_destroy(&p->slots[i]);
	free(p->slots);
	free(p->round);
	free(p->carry);
	free(p->ever);
	free(p->round_pfns);
	procset_destroy(&p->set);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	if (p->netns_fd >= 0)
		close(p->netns_fd);
	pthread_mutex_destroy(&p->out_lock);
	memset(p, 0, sizeof(*p));
}

int procwork_check_state(const uint8_t *blob, size_t len, uint64_t mem_size,
			 char *why, size_t whylen)
{
	struct procimg_state_view v;

	return procimg_state_parse(blob, len, mem_size / VM_PAGE_SIZE, &v, why,
				   whylen);
}
