/*
 * bench_uffd: a prototype of an incremental dirty tracker for process
 * workloads (docs/tracker.md), measured next to the full CRIU dump that
 * remora takes today. A child allocates N MiB, touches every page, then
 * registers userfaultfd in write-protect-async mode over it and protects it
 * (cooperative: a stand-in for a registration injected with compel;
 * --register remote: the child only calls userfaultfd(), the tracker does
 * the rest through its copy of it; --register compel: the child does
 * nothing, the tracker stops it with compel and runs userfaultfd() and
 * close() in it, then registers from outside and scans once). Each
 * epoch the child writes K distinct random pages and logs them in shared
 * memory; the parent stops it (SIGSTOP) and, through /proc/PID/pagemap
 * alone, asks PAGEMAP_SCAN for the written pages (re-protecting them in the
 * same call) and for the pages that are gone (holes), copies the written
 * pages out with process_vm_readv and resumes the child. The written set
 * must equal the child's log, every copied page must hold its last logged
 * stamp, and the holes must equal what the logs imply, or the benchmark
 * fails (exit 2).
 *
 *   bench_uffd [--quick] [--json] [--mib LIST] [--pages LIST] [--epochs N]
 *              [--criu PATH | --no-criu] [--criu-runs N] [--thp]
 *              [--register self|remote|compel] [--help]
 *
 * Per size it also: times the child's writes with and without protection
 * (the cost of the write-protect fault); reads the whole region once with
 * process_vm_readv (a full copy without CRIU); runs `criu dump
 * --leave-running` on the child without userfaultfd, with its userfaultfd
 * open, and with the userfaultfd held only by the tracker (pidfd_getfd, then
 * the child closes its own), then checks that tracking is still exact;
 * zaps pages with MADV_DONTNEED (no write: only the hole scan sees it);
 * follows a half-touched mapping made after registration (a /proc/PID/maps
 * diff, registered from outside through the tracker's copy of the
 * userfaultfd); and registers a sparse 1 GiB mapping to show why the
 * written scan must be limited to present pages (VmPTE, scan time). The
 * reference, measured in the same run, is memcpy of the same number of
 * pages. Needs root (pidfd_getfd, CRIU) and Linux >= 6.7 (PAGEMAP_SCAN,
 * UFFD_FEATURE_WP_ASYNC). The machine's other load makes every time noisy.
 */
#define BENCH_PROG "bench_uffd"
#include "bench_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef BENCH_COMPEL
#include <compel/infect.h>
#include <compel/log.h>
#endif

/* Debian 12's linux-libc-dev is 6.1: the 6.7 interfaces are spelled here. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN	  (1 << 1)
#define PAGE_IS_PRESENT	  (1 << 3)
#define PAGE_IS_SWAPPED	  (1 << 4)

struct page_region {
	uint64_t start, end, categories;
};

struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN	    _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#endif

#ifndef BENCH_CRIU
#define BENCH_CRIU "criu"
#endif

#define PAGE	     4096ul
#define USER_END     0x00007ffffffff000ull /* x86-64, 4-level paging */
#define MAX_K	     65536u		   /* pages written per epoch */
#define EXTRA_MIB    16u		   /* the mapping made later */
#define SPARSE_MIB   1024u		   /* the sparse mapping */
#define SPARSE_TOUCH 10u		   /* its touched pages */
#define ZAP_PAGES    64u		   /* MADV_DONTNEED'd pages */
#define SEED	     0x72656d6f7261ull
#define FEATURES     (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)
#define PRESENT	     (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
#define MAX_SIZES    8
#define MAX_KS	     8
#define MAX_VMAS     4096
#define REMOTE_IOVS  1024 /* IOV_MAX */
#define WHY_LEN	     256

/* What the parent asks of the child; one command at a time. */
enum cmd {
	CMD_WRITE,	  /* write k distinct random pool pages, log them */
	CMD_UFFD,	  /* userfaultfd() only (--register remote) */
	CMD_REGISTER,	  /* userfaultfd, API, REGISTER, WRITEPROTECT */
	CMD_CLOSE_UFFD,	  /* close the child's own userfaultfd */
	CMD_ZAP,	  /* MADV_DONTNEED k random region pages, log them */
	CMD_MAP_EXTRA,	  /* mmap EXTRA_MIB, touch every other page */
	CMD_MAP_SPARSE,	  /* mmap SPARSE_MIB, touch SPARSE_TOUCH pages */
	CMD_UNMAP_SPARSE, /* and unmap it */
	CMD_EXIT,
};

struct logent {
	uint64_t addr, stamp;
};

/* The control block, MAP_SHARED between parent and child. */
struct shared {
	uint32_t cmd_seq;  /* parent: bumped for each command (futex) */
	uint32_t done_seq; /* child: = cmd_seq when it is done (futex) */
	uint32_t cmd, k;
	int32_t err;	   /* child: 0 or the errno of what failed */
	int32_t uffd;	   /* child: its userfaultfd's number */
	char why[WHY_LEN]; /* child: what failed */
	uint64_t region, region_bytes, extra, extra_bytes, sparse;
	uint64_t write_ns;   /* CMD_WRITE: the write loop alone */
	uint64_t protect_ns; /* CMD_REGISTER: API + REGISTER + WRITEPROTECT */
	uint64_t nlog;
	struct logent log[MAX_K];
};

/* Per epoch, nanoseconds. */
struct epoch_t {
	uint64_t freeze, scan, holes, copy, thaw, pause;
};

struct kresult {
	unsigned k;			/* pages written per epoch */
	uint64_t write_plain, write_wp; /* median ns per page written */
	struct epoch_t med, p90;	/* over the epochs */
	uint64_t memcpy_ns;		/* reference: memcpy of k pages */
};

struct criu_result {
	int ran, ok;
	uint64_t wall_ns, frozen_us, memdump_us, pages_written, image_bytes;
	char why[WHY_LEN];
};

struct sresult {
	unsigned mib;
	uint64_t npages, protect_ns, full_read_ns;
	int nk;
	struct kresult kr[MAX_KS];
	struct criu_result plain, with_fd, held;
	uint64_t zap_written, zap_holes; /* after ZAP_PAGES were zapped */
	uint64_t follow_ns;		 /* maps diff + remote REGISTER */
	uint64_t extra_written;		 /* the new mapping's first scan */
	uint64_t extra_holes;		 /* and its untouched pages */
	/* The sparse mapping: first written scan limited to present pages,
	 * then the hole scan; then an unlimited written scan (the mistake). */
	uint64_t sparse_scan_ns, sparse_pages, sparse_hole_ns;
	uint64_t naive_scan_ns, naive_pages, naive_rescan_ns;
	long pte_kib[3]; /* VmPTE: before, after the limited, the unlimited */
	long thp_kib[2]; /* AnonHugePages: after touching, after the epochs */
	uint64_t epochs, pages;
};

/* Who registers the region (--register). */
enum reg_mode {
	REG_SELF,   /* the child: userfaultfd, API, REGISTER, WRITEPROTECT */
	REG_REMOTE, /* the child calls userfaultfd(), the tracker the rest */
	REG_COMPEL, /* the tracker alone, with compel_syscall() in the child */
};

static const char *const reg_names[] = {"self", "remote", "compel"};

struct opts {
	unsigned mib[MAX_SIZES], ks[MAX_KS];
	int nmib, nk, epochs, criu_runs, json, thp;
	enum reg_mode reg;
	const char *criu;
};

/* What one scan found: ranges of pages, ascending. */
struct ranges {
	struct page_region *v;
	size_t n, cap;
	uint64_t pages;
};

/* The parent's view of one child. */
struct child {
	pid_t pid;
	int pidfd, pagemap, uffd; /* uffd: the tracker's copy, or -1 */
	struct shared *sh;
	uint8_t *buf; /* copy destination */
	size_t buf_pages;
	struct page_region *vec; /* PAGEMAP_SCAN's output */
	size_t vec_cap;
	struct ranges wr, ho; /* the last written scan, the last hole scan */
	uint64_t *written, *holes; /* the same as page addresses, ascending */
	size_t written_cap, holes_cap, nwritten, nholes;
	/*
	 * What the child's memory should look like: one byte per pool page
	 * (the region, then the extra mapping once made), 1 when present.
	 * Kept from the logs, so that every hole scan can be checked.
	 */
	uint8_t *present;
	uint64_t region_pages, pool_pages;
	uint64_t epochs, pages;
};

static long futex(uint32_t *addr, int op, uint32_t val,
		  const struct timespec *timeout)
{
	return syscall(SYS_futex, addr, op, val, timeout, NULL, 0);
}

static uint32_t load(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_wake(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	futex(p, FUTEX_WAKE, INT32_MAX, NULL);
}

static uint64_t ns_since(uint64_t t0)
{
	return now_ns() - t0;
}

/* --- the child --------------------------------------------------------- */

struct wl {
	struct shared *sh;
	uint64_t seed, stamp;
	uint32_t *perm; /* a permutation of the pool's page indices */
	uint64_t nperm, region_pages;
};

static int child_fail(struct shared *sh, const char *what)
{
	sh->err = errno ? errno : EIO;
	snprintf(sh->why, sizeof(sh->why), "%s: %s", what, strerror(errno));
	return -sh->err;
}

static uint64_t page_addr(const struct wl *w, uint64_t idx)
{
	if (idx < w->region_pages)
		return w->sh->region + idx * PAGE;
	return w->sh->extra + (idx - w->region_pages) * PAGE;
}

/* k distinct indices of perm[0..limit) in perm[0..k): a partial
 * Fisher-Yates shuffle, uniform whatever order perm is in. */
static void pick(struct wl *w, uint64_t k, uint64_t limit)
{
	for (uint64_t i = 0; i < k; i++) {
		uint64_t j = i + splitmix64(&w->seed) % (limit - i);
		uint32_t t = w->perm[i];

		w->perm[i] = w->perm[j];
		w->perm[j] = t;
	}
}

static void child_write(struct wl *w)
{
	struct shared *sh = w->sh;
	uint64_t k = sh->k < w->nperm ? sh->k : w->nperm, t0;

	pick(w, k, w->nperm);
	for (uint64_t i = 0; i < k; i++) {
		sh->log[i].addr = page_addr(w, w->perm[i]);
		sh->log[i].stamp = ++w->stamp;
	}
	sh->nlog = k;
	t0 = now_ns();
	for (uint64_t i = 0; i < k; i++)
		*(volatile uint64_t *)sh->log[i].addr = sh->log[i].stamp;
	sh->write_ns = ns_since(t0);
}

static void child_register(struct shared *sh, int api_too)
{
	struct uffdio_api api = {.api = UFFD_API, .features = FEATURES};
	struct uffdio_register reg = {
		.range = {.start = sh->region, .len = sh->region_bytes},
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = {.start = sh->region, .len = sh->region_bytes},
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	uint64_t t0 = now_ns();
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		child_fail(sh, "userfaultfd");
		return;
	}
	sh->uffd = fd;
	if (!api_too)
		return;
	if (ioctl(fd, UFFDIO_API, &api))
		child_fail(sh, "UFFDIO_API(WP_ASYNC|WP_UNPOPULATED)");
	else if (ioctl(fd, UFFDIO_REGISTER, &reg))
		child_fail(sh, "UFFDIO_REGISTER(MODE_WP)");
	else if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
		child_fail(sh, "UFFDIO_WRITEPROTECT");
	sh->protect_ns = ns_since(t0);
}

static void *child_map(struct shared *sh, uint64_t bytes, int flags)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED) {
		child_fail(sh, "mmap");
		return NULL;
	}
	return p;
}

/* A mapping after registration, in the pool, every other page touched. */
static void child_map_extra(struct wl *w)
{
	struct shared *sh = w->sh;
	uint64_t bytes = (uint64_t)EXTRA_MIB << 20, pages = bytes / PAGE;
	uint8_t *p = child_map(sh, bytes, 0);

	if (!p)
		return;
	madvise(p, bytes, MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < pages; i += 2)
		p[i * PAGE] = 0x5a;
	sh->extra = (uint64_t)p;
	sh->extra_bytes = bytes;
	for (uint64_t i = 0; i < pages; i++)
		w->perm[w->nperm + i] = (uint32_t)(w->nperm + i);
	w->nperm += pages;
}

static void child_zap(struct wl *w)
{
	struct shared *sh = w->sh;
	uint64_t k = sh->k;

	/* Region pages only: their indices are the first region_pages. */
	for (uint64_t i = 0; i < w->nperm; i++)
		w->perm[i] = (uint32_t)i;
	pick(w, k, w->region_pages);
	for (uint64_t i = 0; i < k; i++) {
		sh->log[i] = (struct logent){page_addr(w, w->perm[i]), 0};
		if (madvise((void *)sh->log[i].addr, PAGE, MADV_DONTNEED)) {
			child_fail(sh, "madvise(MADV_DONTNEED)");
			return;
		}
	}
	sh->nlog = k;
}

static void __attribute__((noreturn))
child_main(struct shared *sh, uint64_t bytes, int thp)
{
	struct wl w = {.sh = sh, .seed = SEED};
	uint64_t sparse = (uint64_t)SPARSE_MIB << 20;
	uint32_t seen = 0;
	uint8_t *p;
	int fd;

	/* Dies with the benchmark; owns its session, so CRIU may dump it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setsid();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	close_range(3, ~0u, 0);

	w.perm = malloc((bytes + ((uint64_t)EXTRA_MIB << 20)) / PAGE *
			sizeof(*w.perm));
	p = child_map(sh, bytes, 0);
	if (!w.perm || !p)
		goto out;
	madvise(p, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 0x5a, bytes);
	sh->region = (uint64_t)p;
	sh->region_bytes = bytes;
	w.region_pages = w.nperm = bytes / PAGE;
	for (uint64_t i = 0; i < w.nperm; i++)
		w.perm[i] = (uint32_t)i;
out:
	for (;;) {
		store_wake(&sh->done_seq, seen);
		if (sh->err)
			_exit(1);
		while (load(&sh->cmd_seq) == seen)
			futex(&sh->cmd_seq, FUTEX_WAIT, seen, NULL);
		seen = load(&sh->cmd_seq);
		switch (sh->cmd) {
		case CMD_WRITE:
			child_write(&w);
			break;
		case CMD_UFFD:
		case CMD_REGISTER:
			child_register(sh, sh->cmd == CMD_REGISTER);
			break;
		case CMD_CLOSE_UFFD:
			if (close(sh->uffd))
				child_fail(sh, "close(uffd)");
			sh->uffd = -1;
			break;
		case CMD_ZAP:
			child_zap(&w);
			break;
		case CMD_MAP_EXTRA:
			child_map_extra(&w);
			break;
		case CMD_MAP_SPARSE:
			p = child_map(sh, sparse, MAP_NORESERVE);
			if (!p)
				break;
			madvise(p, sparse, MADV_NOHUGEPAGE);
			for (uint64_t i = 0; i < SPARSE_TOUCH; i++)
				p[i * (sparse / SPARSE_TOUCH)] = 0x5a;
			sh->sparse = (uint64_t)p;
			break;
		case CMD_UNMAP_SPARSE:
			if (munmap((void *)sh->sparse, sparse))
				child_fail(sh, "munmap");
			break;
		case CMD_EXIT:
			_exit(0);
		}
	}
}

/* --- the parent: commands, freeze, scans, copy -------------------------- */

/* Waits for the child to finish command `seq`, or dies with it. */
static void wait_done(struct child *c, uint32_t seq)
{
	const struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	uint32_t v;

	while ((v = load(&c->sh->done_seq)) != seq) {
		int st;

		futex(&c->sh->done_seq, FUTEX_WAIT, v, &tick);
		if (waitpid(c->pid, &st, WNOHANG) == c->pid)
			die("the child died (status %#x): %s", st, c->sh->why);
	}
	if (c->sh->err)
		die("child: %s", c->sh->why);
}

static uint32_t send_cmd(struct child *c, enum cmd cmd, uint32_t k)
{
	uint32_t seq = c->sh->cmd_seq + 1;

	c->sh->cmd = cmd;
	c->sh->k = k;
	store_wake(&c->sh->cmd_seq, seq);
	return seq;
}

static void command(struct child *c, enum cmd cmd, uint32_t k)
{
	wait_done(c, send_cmd(c, cmd, k));
}

static uint64_t freeze(struct child *c)
{
	uint64_t t0 = now_ns();
	int st;

	if (kill(c->pid, SIGSTOP))
		die("SIGSTOP %d: %s", c->pid, strerror(errno));
	if (waitpid(c->pid, &st, WUNTRACED) != c->pid || !WIFSTOPPED(st))
		die("waitpid %d: not stopped (status %#x)", c->pid, st);
	return ns_since(t0);
}

static uint64_t thaw(struct child *c)
{
	uint64_t t0 = now_ns();

	if (kill(c->pid, SIGCONT))
		die("SIGCONT %d: %s", c->pid, strerror(errno));
	return ns_since(t0);
}

/*
 * PAGEMAP_SCAN of [lo, hi) into *out. Only pages of VMAs that are
 * registered WP-async (PAGE_IS_WPALLOWED) are candidates; of those, pages
 * with every category of `all` (after inverting `inverted`) and, when `any`
 * is not 0, one of `any`. Returns the number of pages.
 *
 * The scan is repeated only while it fills the output vector, from where
 * the last range ended: walk_end cannot be trusted otherwise. On 6.18,
 * once a call has produced more than 512 ranges (the kernel's internal
 * buffer) walk_end stays where that buffer was last flushed even though
 * the walk went on to the end and returned every range; restarting there
 * returns some ranges twice (docs/tracker.md).
 */
static uint64_t scan_range(struct child *c, uint64_t lo, uint64_t hi,
			   struct ranges *out, uint64_t flags, uint64_t all,
			   uint64_t any, uint64_t inverted)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = flags,
		.start = lo,
		.end = hi,
		.vec = (uint64_t)c->vec,
		.vec_len = c->vec_cap,
		.category_inverted = inverted,
		.category_mask = all | PAGE_IS_WPALLOWED,
		.category_anyof_mask = any,
		.return_mask = all | any | PAGE_IS_WPALLOWED,
	};

	out->n = 0;
	out->pages = 0;
	for (;;) {
		long r = ioctl(c->pagemap, PAGEMAP_SCAN, &a);

		if (r < 0)
			die("PAGEMAP_SCAN of %d: %s", c->pid, strerror(errno));
		if (out->n + (size_t)r > out->cap) {
			out->cap = (out->n + (size_t)r) * 2;
			out->v = realloc(out->v, out->cap * sizeof(*out->v));
			if (!out->v)
				die("out of memory for %zu ranges", out->cap);
		}
		for (long i = 0; i < r; i++) {
			out->v[out->n++] = c->vec[i];
			out->pages += (c->vec[i].end - c->vec[i].start) / PAGE;
		}
		if ((uint64_t)r < c->vec_cap)
			return out->pages;
		a.start = a.walk_end > c->vec[r - 1].end ? a.walk_end
							 : c->vec[r - 1].end;
		a.walk_end = 0;
	}
}

static uint64_t scan(struct child *c, struct ranges *out, uint64_t flags,
		     uint64_t all, uint64_t any, uint64_t inverted)
{
	return scan_range(c, 0, USER_END, out, flags, all, any, inverted);
}

/*
 * The written pages that are there to copy (present or swapped), which the
 * same call write-protects again. Limiting the scan to present pages keeps
 * it from write-protecting, and so filling with page tables, every empty
 * page of a registered mapping (see the sparse case).
 */
static void scan_written(struct child *c)
{
	scan(c, &c->wr, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, PRESENT, 0);
}

/* Pages of registered mappings that are neither present nor swapped:
 * zapped (MADV_DONTNEED, which is no write) or never touched. */
static void scan_holes(struct child *c)
{
	scan(c, &c->ho, 0, PRESENT, 0, PRESENT);
}

/* process_vm_readv of the written ranges into c->buf, IOV_MAX at a time. */
static void copy_pages(struct child *c)
{
	struct iovec local, remote[REMOTE_IOVS];
	size_t i = 0, done = 0;

	if (c->wr.pages > c->buf_pages)
		die("%llu pages to copy, room for %zu",
		    (unsigned long long)c->wr.pages, c->buf_pages);
	while (i < c->wr.n) {
		size_t nr = 0, bytes = 0;

		for (; i < c->wr.n && nr < REMOTE_IOVS; i++, nr++) {
			remote[nr].iov_base = (void *)c->wr.v[i].start;
			remote[nr].iov_len = c->wr.v[i].end - c->wr.v[i].start;
			bytes += remote[nr].iov_len;
		}
		local.iov_base = c->buf + done;
		local.iov_len = bytes;
		if (process_vm_readv(c->pid, &local, 1, remote, nr, 0) !=
		    (ssize_t)bytes)
			die("process_vm_readv of %zu bytes from %d: %s", bytes,
			    c->pid, strerror(errno));
		done += bytes;
	}
}

/* The pages of *r, ascending, into *out; returns how many. */
static size_t expand(const struct ranges *r, uint64_t **out, size_t *cap)
{
	size_t n = 0;

	if (r->pages > *cap) {
		*cap = r->pages * 2;
		*out = realloc(*out, *cap * sizeof(**out));
		if (!*out)
			die("out of memory for %zu pages", *cap);
	}
	for (size_t i = 0; i < r->n; i++)
		for (uint64_t a = r->v[i].start; a < r->v[i].end; a += PAGE)
			(*out)[n++] = a;
	return n;
}

/* --- checking the scans against the child's logs -------------------------- */

static int cmp_u64_p(const void *a, const void *b)
{
	return cmp_u64(a, b);
}

static int cmp_logent(const void *a, const void *b)
{
	const struct logent *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static uint64_t pool_addr(const struct child *c, uint64_t idx)
{
	if (idx < c->region_pages)
		return c->sh->region + idx * PAGE;
	return c->sh->extra + (idx - c->region_pages) * PAGE;
}

static int64_t pool_index(const struct child *c, uint64_t addr)
{
	const struct shared *sh = c->sh;

	if (addr >= sh->region && addr < sh->region + sh->region_bytes)
		return (int64_t)((addr - sh->region) / PAGE);
	if (sh->extra_bytes && addr >= sh->extra &&
	    addr < sh->extra + sh->extra_bytes)
		return (int64_t)(c->region_pages + (addr - sh->extra) / PAGE);
	return -1;
}

/*
 * Checks one scan against the child's log (sorted here) and the model.
 * `zapped` 0: the log is what was written: the written scan must equal it,
 * each copied page hold its logged stamp when `stamps`, and the pages are
 * present from now on. `zapped` 1: the log is what was zapped: nothing may
 * be written, and the pages are absent from now on. Either way the hole
 * scan must then equal the pool pages the model says are absent. Dies on
 * any difference.
 */
static void check(struct child *c, int stamps, int zapped, const char *what)
{
	struct logent *log = c->sh->log;
	size_t m = zapped ? 0 : c->sh->nlog, i = 0, j = 0, h = 0;
	uint64_t mism = 0, bad = 0;

	c->nwritten = expand(&c->wr, &c->written, &c->written_cap);
	c->nholes = expand(&c->ho, &c->holes, &c->holes_cap);
	qsort(log, c->sh->nlog, sizeof(*log), cmp_logent);
	while (i < c->nwritten || j < m) {
		if (j == m ||
		    (i < c->nwritten && c->written[i] < log[j].addr)) {
			mism++, i++;
		} else if (i == c->nwritten || log[j].addr < c->written[i]) {
			mism++, j++;
		} else {
			if (stamps &&
			    *(uint64_t *)(c->buf + i * PAGE) != log[j].stamp)
				bad++;
			i++, j++;
		}
	}
	for (j = 0; j < c->sh->nlog; j++) {
		int64_t x = pool_index(c, log[j].addr);

		if (x < 0)
			die("%s: the child logged %#llx, outside the pool",
			    what, (unsigned long long)log[j].addr);
		c->present[x] = !zapped;
	}
	for (uint64_t x = 0; x < c->pool_pages; x++) {
		uint64_t addr = pool_addr(c, x);

		if (c->present[x])
			continue;
		if (bsearch(&addr, c->holes, c->nholes, sizeof(addr),
			    cmp_u64_p))
			h++;
		else
			mism++;
	}
	mism += c->nholes - h; /* holes the model does not have */
	if (mism || bad)
		die("%s: %llu pages differ from the child's log or the "
		    "model, %llu copies without their stamp (%zu written, "
		    "%zu holes, %zu logged)",
		    what, (unsigned long long)mism, (unsigned long long)bad,
		    c->nwritten, c->nholes, (size_t)c->sh->nlog);
	c->epochs++;
	c->pages += c->nwritten;
}

/* One epoch: the child writes k pages, then the pause. */
static void epoch(struct child *c, unsigned k, struct epoch_t *t,
		  uint64_t *write_ns)
{
	uint64_t t0;

	command(c, CMD_WRITE, k);
	*write_ns = c->sh->write_ns;
	t0 = now_ns();
	t->freeze = freeze(c);
	t->scan = now_ns();
	scan_written(c);
	t->scan = ns_since(t->scan);
	t->holes = now_ns();
	scan_holes(c);
	t->holes = ns_since(t->holes);
	t->copy = now_ns();
	copy_pages(c);
	t->copy = ns_since(t->copy);
	t->thaw = thaw(c);
	t->pause = ns_since(t0);
	check(c, 1, 0, "epoch");
}

/* --- CRIU ---------------------------------------------------------------- */

/* Bytes of the files in CRIU's (flat) image directory; removes them and
 * the directory when `remove_all`. */
static uint64_t image_dir(const char *dir, int remove_all)
{
	DIR *d = opendir(dir);
	uint64_t bytes = 0;
	struct dirent *e;
	struct stat st;

	if (!d)
		die("%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			bytes += (uint64_t)st.st_size;
		if (remove_all && unlinkat(dirfd(d), e->d_name, 0))
			die("%s/%s: %s", dir, e->d_name, strerror(errno));
	}
	closedir(d);
	if (remove_all && rmdir(dir))
		die("rmdir %s: %s", dir, strerror(errno));
	return bytes;
}

static uint64_t stat_field(const char *out, const char *name)
{
	const char *p = strstr(out, name);

	return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* The first line of CRIU's log that says why it failed (not the rlimit
 * complaint every run here logs). */
static void criu_error(const char *dir, char why[WHY_LEN])
{
	char path[PATH_MAX], line[512];
	FILE *f;

	snprintf(why, WHY_LEN, "no error line in %s/dump.log", dir);
	snprintf(path, sizeof(path), "%s/dump.log", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "Error (") && !strstr(line, "rlimit")) {
			line[strcspn(line, "\n")] = 0;
			line[WHY_LEN - 1] = 0; /* a long line is cut */
			memcpy(why, line, WHY_LEN);
			break;
		}
	fclose(f);
}

/* criu dump --leave-running of the child into a fresh /dev/shm directory
 * (remora dumps into tmpfs too), timed from fork to exit. */
static void criu_dump(const struct opts *o, struct child *c,
		      struct criu_result *r)
{
	char dir[] = "/dev/shm/bench_uffd.XXXXXX", tree[16], out[4096];
	int pfd[2], st;
	size_t got = 0;
	ssize_t n;
	uint64_t t0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->ran = 1;
	if (!mkdtemp(dir) || pipe2(pfd, O_CLOEXEC))
		die("mkdtemp/pipe: %s", strerror(errno));
	snprintf(tree, sizeof(tree), "%d", c->pid);
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl(o->criu, o->criu, "dump", "-t", tree, "-D", dir,
		      "--leave-running", "--shell-job", "--display-stats",
		      "-v1", "-o", "dump.log", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid criu: %s", strerror(errno));
	r->wall_ns = ns_since(t0);
	r->ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (r->ok) {
		r->frozen_us = stat_field(out, "Frozen time: ");
		r->memdump_us = stat_field(out, "Memory dump time: ");
		r->pages_written = stat_field(out, "Memory pages written: ");
		r->image_bytes = image_dir(dir, 0);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		snprintf(r->why, sizeof(r->why), "cannot run %s", o->criu);
	} else {
		criu_error(dir, r->why);
	}
	image_dir(dir, 1);
}

static int cmp_criu_wall(const void *a, const void *b)
{
	const struct criu_result *x = a, *y = b;

	return x->wall_ns < y->wall_ns ? -1 : x->wall_ns > y->wall_ns;
}

/* The run with the median wall time of o->criu_runs dumps; the first
 * failure ends the series. */
static void criu_series(const struct opts *o, struct child *c,
			struct criu_result *r)
{
	struct criu_result runs[16];
	int n = 0;

	while (n < o->criu_runs && n < 16) {
		criu_dump(o, c, &runs[n]);
		if (!runs[n].ok) {
			*r = runs[n];
			return;
		}
		n++;
	}
	qsort(runs, (size_t)n, sizeof(runs[0]), cmp_criu_wall);
	*r = runs[n / 2];
}

/* --- mappings made after registration ----------------------------------- */

struct vma {
	uint64_t start, end;
};

/* The writable private mappings of the child, from /proc/PID/maps. */
static int read_vmas(pid_t pid, struct vma *v, int max)
{
	char path[64], line[512], perms[8];
	unsigned long long s, e;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) && n < max)
		if (sscanf(line, "%llx-%llx %7s", &s, &e, perms) == 3 &&
		    perms[1] == 'w' && perms[3] == 'p')
			v[n++] = (struct vma){s, e};
	fclose(f);
	return n;
}

static int vma_known(const struct vma *v, int n, struct vma x)
{
	for (int i = 0; i < n; i++)
		if (v[i].start == x.start && v[i].end == x.end)
			return 1;
	return 0;
}

static void register_range(struct child *c, uint64_t start, uint64_t len)
{
	struct uffdio_register reg = {
		.range = {.start = start, .len = len},
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (ioctl(c->uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER of %#llx+%llu in %d from outside: %s",
		    (unsigned long long)start, (unsigned long long)len, c->pid,
		    strerror(errno));
}

/* Registers, from outside, the writable private mappings that are not in
 * `before`; returns how many. */
static int register_new(struct child *c, const struct vma *before, int nb)
{
	struct vma after[MAX_VMAS]; /* 64 KiB: the stack has room */
	int na = read_vmas(c->pid, after, MAX_VMAS), added = 0;

	for (int i = 0; i < na; i++)
		if (!vma_known(before, nb, after[i])) {
			register_range(c, after[i].start,
				       after[i].end - after[i].start);
			added++;
		}
	return added;
}

/*
 * The child maps EXTRA_MIB after registration and touches every other page.
 * At the next freeze the tracker diffs /proc/PID/maps, registers the new VMA
 * through its own copy of the userfaultfd, and its first scan returns (and
 * protects) the touched pages: the new mapping's full copy; the untouched
 * ones are holes. Then an epoch over both mappings must be exact.
 */
static void follow(struct child *c, unsigned k, struct sresult *s)
{
	struct vma before[MAX_VMAS];
	int nb = read_vmas(c->pid, before, MAX_VMAS), added;
	uint64_t t0, extra_pages = ((uint64_t)EXTRA_MIB << 20) / PAGE, wns;
	struct epoch_t t;

	command(c, CMD_MAP_EXTRA, 0);
	freeze(c);
	t0 = now_ns();
	added = register_new(c, before, nb);
	s->follow_ns = ns_since(t0);
	scan_written(c);
	scan_holes(c);
	copy_pages(c);
	thaw(c);
	if (added != 1)
		die("the maps diff found %d new mappings, not 1", added);
	s->extra_written = c->wr.pages;
	s->extra_holes = c->ho.pages;
	/* The model: the pool grows by the new mapping, touched pages are
	 * the child's "log". */
	memset(c->present + c->region_pages, 0, extra_pages);
	c->pool_pages = c->region_pages + extra_pages;
	c->sh->nlog = 0;
	for (uint64_t i = 0; i < extra_pages; i += 2)
		c->sh->log[c->sh->nlog++] =
			(struct logent){c->sh->extra + i * PAGE, 0};
	check(c, 0, 0, "the new mapping's first scan");
	epoch(c, k, &t, &wns);
}

/* MADV_DONTNEED is no write: the written scan does not see it, the hole
 * scan sees exactly the zapped pages. */
static void zap(struct child *c, struct sresult *s)
{
	command(c, CMD_ZAP, ZAP_PAGES);
	freeze(c);
	scan_written(c);
	scan_holes(c);
	thaw(c);
	s->zap_written = c->wr.pages;
	s->zap_holes = c->ho.pages;
	check(c, 0, 1, "zap");
}

/* A "Name:  N kB" line of /proc/PID/<file>, in KiB; -1 when absent. */
static long proc_kib(pid_t pid, const char *file, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len))
			kib = strtol(line + len, NULL, 10);
	fclose(f);
	return kib;
}

static long vm_pte_kib(pid_t pid)
{
	return proc_kib(pid, "status", "VmPTE:");
}

/*
 * A sparse 1 GiB mapping (SPARSE_TOUCH pages touched), registered from
 * outside: the written scan limited to present pages returns them alone;
 * an unlimited one (PAGE_IS_WRITTEN only) returns every empty page as
 * written too and write-protects it, which fills the mapping with page
 * tables and makes every later scan walk them.
 */
static void sparse(struct child *c, struct sresult *s)
{
	struct vma before[MAX_VMAS];
	int nb = read_vmas(c->pid, before, MAX_VMAS);
	struct ranges all = {0};
	uint64_t t0;

	command(c, CMD_MAP_SPARSE, 0);
	freeze(c);
	if (register_new(c, before, nb) != 1)
		die("the maps diff did not find the sparse mapping");
	s->pte_kib[0] = vm_pte_kib(c->pid);
	t0 = now_ns();
	scan_written(c);
	s->sparse_scan_ns = ns_since(t0);
	s->sparse_pages = c->wr.pages;
	t0 = now_ns();
	scan_holes(c);
	s->sparse_hole_ns = ns_since(t0);
	s->pte_kib[1] = vm_pte_kib(c->pid);
	t0 = now_ns();
	/* Of the sparse mapping alone: over the pool it would turn the empty
	 * pages there into markers too, which are no holes any more. */
	s->naive_pages = scan_range(
		c, c->sh->sparse, c->sh->sparse + ((uint64_t)SPARSE_MIB << 20),
		&all, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, 0, 0);
	s->naive_scan_ns = ns_since(t0);
	s->pte_kib[2] = vm_pte_kib(c->pid);
	t0 = now_ns();
	scan_written(c);
	s->naive_rescan_ns = ns_since(t0);
	thaw(c);
	free(all.v);
	if (s->sparse_pages != SPARSE_TOUCH)
		die("sparse: %llu pages written, not %u",
		    (unsigned long long)s->sparse_pages, SPARSE_TOUCH);
	command(c, CMD_UNMAP_SPARSE, 0);
}

/* --- limits, checked on this process's own memory --------------------- */

/* What the tracker cannot see or breaks; printed, and JSON "limits". */
struct limits {
	int second_uffd_errno;	  /* UFFDIO_REGISTER by a 2nd userfaultfd */
	int again_errno;	  /* the same userfaultfd registering again */
	int after_close_errno;	  /* the 2nd one, once the 1st is closed */
	uint64_t shared_own;	  /* MAP_SHARED: our own 1 store */
	uint64_t shared_by_child; /* MAP_SHARED: a forked child's 2 stores */
	uint64_t private_after_fork; /* our 1 store after fork (COW) */
	uint64_t memfd_pwrite;	     /* pwrite(2) into a mapped memfd */
	uint64_t memfd_store;	     /* 1 store through the mapping */
	uint64_t walk_ranges;	     /* a scan returning 513 ranges */
	uint64_t walk_end_pages;     /* its walk_end, pages from start */
	uint64_t walk_pages;	     /* of so many */
};

static void self_map(struct child *self, uint8_t **p, size_t bytes, int shared,
		     int fd)
{
	*p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		  (shared ? MAP_SHARED : MAP_PRIVATE) |
			  (fd < 0 ? MAP_ANONYMOUS : 0),
		  fd, 0);
	if (*p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	madvise(*p, bytes, MADV_NOHUGEPAGE);
	memset(*p, 1, bytes);
	register_range(self, (uint64_t)*p, bytes);
	scan_range(self, (uint64_t)*p, (uint64_t)*p + bytes, &self->wr,
		   PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, PRESENT, 0);
}

static uint64_t self_scan(struct child *self, const uint8_t *p, size_t bytes)
{
	return scan_range(self, (uint64_t)p, (uint64_t)p + bytes, &self->wr,
			  PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, PRESENT, 0);
}

static void limits(struct limits *l)
{
	struct uffdio_api api = {.api = UFFD_API, .features = FEATURES};
	struct child self = {.vec_cap = 8192};
	size_t bytes = 1u << 20, walk = 1026;
	uint8_t *priv, *shr, *mfd, *sparse;
	struct pm_scan_arg a;
	int other, fd, st;
	pid_t pid;

	memset(l, 0, sizeof(*l));
	self.vec = calloc(self.vec_cap, sizeof(*self.vec));
	self.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	self.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	other = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	fd = memfd_create("bench_uffd", MFD_CLOEXEC);
	if (!self.vec || self.pagemap < 0 || self.uffd < 0 || other < 0 ||
	    fd < 0 || ftruncate(fd, (off_t)bytes) ||
	    ioctl(self.uffd, UFFDIO_API, &api))
		die("setting up the limits: %s", strerror(errno));
	/* UFFDIO_API writes back every feature the kernel has: asking for
	 * those again would enable the blocking events (unmap, fork...). */
	api.features = FEATURES;
	if (ioctl(other, UFFDIO_API, &api))
		die("UFFDIO_API: %s", strerror(errno));
	self_map(&self, &priv, bytes, 0, -1);
	self_map(&self, &shr, bytes, 1, -1);
	self_map(&self, &mfd, bytes, 1, fd);

	/* A workload's own userfaultfd cannot take a tracked mapping. */
	{
		struct uffdio_register reg = {
			.range = {.start = (uint64_t)priv, .len = bytes},
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		l->second_uffd_errno =
			ioctl(other, UFFDIO_REGISTER, &reg) ? errno : 0;
		l->again_errno =
			ioctl(self.uffd, UFFDIO_REGISTER, &reg) ? errno : 0;
	}
	shr[0] = 2;
	l->shared_own = self_scan(&self, shr, bytes);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		shr[PAGE] = 3;
		shr[2 * PAGE] = 3;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		die("fork/waitpid: %s", strerror(errno));
	l->shared_by_child = self_scan(&self, shr, bytes);
	priv[3 * PAGE] = 4;
	l->private_after_fork = self_scan(&self, priv, bytes);
	if (pwrite(fd, "zz", 2, 5 * PAGE) != 2)
		die("pwrite: %s", strerror(errno));
	l->memfd_pwrite = self_scan(&self, mfd, bytes);
	mfd[7 * PAGE] = 9;
	l->memfd_store = self_scan(&self, mfd, bytes);

	/* walk_end after a scan that returned more than 512 ranges. */
	sparse = mmap(NULL, walk * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sparse == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	madvise(sparse, walk * PAGE, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < walk; i += 2)
		sparse[i * PAGE] = 1;
	a = (struct pm_scan_arg){
		.size = sizeof(a),
		.start = (uint64_t)sparse,
		.end = (uint64_t)sparse + walk * PAGE,
		.vec = (uint64_t)self.vec,
		.vec_len = self.vec_cap,
		.category_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT,
	};
	l->walk_ranges = (uint64_t)ioctl(self.pagemap, PAGEMAP_SCAN, &a);
	l->walk_end_pages = (a.walk_end - a.start) / PAGE;
	l->walk_pages = walk;

	/* Closing the last reference to a userfaultfd unregisters. */
	{
		struct uffdio_register reg = {
			.range = {.start = (uint64_t)priv, .len = bytes},
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		close(self.uffd);
		l->after_close_errno =
			ioctl(other, UFFDIO_REGISTER, &reg) ? errno : 0;
	}
	munmap(sparse, walk * PAGE);
	munmap(priv, bytes);
	munmap(shr, bytes);
	munmap(mfd, bytes);
	close(fd);
	close(other);
	close(self.pagemap);
	free(self.vec);
	free(self.wr.v);
}

/* --- one size ----------------------------------------------------------- */

static uint64_t med(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64_p);
	return quantile(v, n, 0.5);
}

static uint64_t p90(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64_p);
	return quantile(v, n, 0.9);
}

/* Whole-region process_vm_readv in 4 MiB pieces: a full copy, no CRIU. */
static uint64_t full_read(struct child *c)
{
	size_t chunk = 4u << 20, off = 0, bytes = c->sh->region_bytes;
	uint8_t *dst = malloc(chunk);
	uint64_t t0 = now_ns();

	if (!dst)
		die("out of memory");
	while (off < bytes) {
		size_t len = bytes - off < chunk ? bytes - off : chunk;
		struct iovec l = {dst, len};
		struct iovec r = {(void *)(c->sh->region + off), len};

		if (process_vm_readv(c->pid, &l, 1, &r, 1, 0) != (ssize_t)len)
			die("process_vm_readv: %s", strerror(errno));
		off += len;
	}
	t0 = ns_since(t0);
	free(dst);
	return t0;
}

static uint64_t memcpy_ref(unsigned k)
{
	uint8_t *a = alloc_bytes((size_t)k * PAGE, "memcpy reference");
	uint8_t *b = alloc_bytes((size_t)k * PAGE, "memcpy reference");
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = now_ns();

		memcpy(b, a, (size_t)k * PAGE);
		__asm__ __volatile__("" ::: "memory");
		t0 = ns_since(t0);
		best = t0 < best ? t0 : best;
	}
	munmap(a, (size_t)k * PAGE);
	munmap(b, (size_t)k * PAGE);
	return best;
}

static void start_child(struct child *c, const struct opts *o, unsigned mib)
{
	uint64_t bytes = (uint64_t)mib << 20;

	memset(c, 0, sizeof(*c));
	c->uffd = c->pidfd = c->pagemap = -1;
	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->sh == MAP_FAILED)
		die("mmap control block: %s", strerror(errno));
	c->sh->done_seq = UINT32_MAX; /* the child stores 0 when ready */
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		die("fork: %s", strerror(errno));
	if (c->pid == 0)
		child_main(c->sh, bytes, o->thp);
	wait_done(c, 0);
	c->region_pages = c->pool_pages = bytes / PAGE;
	c->present = malloc(c->region_pages + ((size_t)EXTRA_MIB << 20) / PAGE);
	c->buf_pages = MAX_K + ((size_t)EXTRA_MIB << 20) / PAGE;
	c->buf = alloc_bytes(c->buf_pages * PAGE, "the copy buffer");
	c->vec_cap = 8192;
	c->vec = calloc(c->vec_cap, sizeof(*c->vec));
	if (!c->vec || !c->present)
		die("out of memory");
	memset(c->present, 1, c->region_pages);
}

/* The tracker takes the child's userfaultfd and opens its pagemap. */
static void attach(struct child *c)
{
	char path[64];

	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0)
		die("pidfd_open %d: %s", c->pid, strerror(errno));
	c->uffd = (int)syscall(SYS_pidfd_getfd, c->pidfd, c->sh->uffd, 0);
	if (c->uffd < 0)
		die("pidfd_getfd(%d, %d): %s", c->pid, c->sh->uffd,
		    strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	c->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (c->pagemap < 0)
		die("%s: %s", path, strerror(errno));
}

/* --register remote: the child only made the userfaultfd (what a compel
 * syscall injection would do); API, REGISTER and WRITEPROTECT come from
 * the tracker, with the child stopped. */
static void register_remote(struct child *c, uint64_t *ns)
{
	struct uffdio_api api = {.api = UFFD_API, .features = FEATURES};
	struct uffdio_writeprotect wp = {
		.range = {.start = c->sh->region, .len = c->sh->region_bytes},
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	uint64_t t0;

	freeze(c);
	t0 = now_ns();
	if (ioctl(c->uffd, UFFDIO_API, &api))
		die("UFFDIO_API from outside: %s", strerror(errno));
	register_range(c, c->sh->region, c->sh->region_bytes);
	if (ioctl(c->uffd, UFFDIO_WRITEPROTECT, &wp))
		die("UFFDIO_WRITEPROTECT from outside: %s", strerror(errno));
	*ns = ns_since(t0);
	thaw(c);
}

#ifdef BENCH_COMPEL
static void compel_msg(unsigned int lvl, const char *fmt, va_list ap)
{
	(void)lvl;
	fputs(BENCH_PROG ": compel: ", stderr);
	vfprintf(stderr, fmt, ap);
}
#endif

/*
 * --register compel: the child runs nothing of ours. The tracker seizes it
 * with compel (ptrace), runs userfaultfd() in it with compel_syscall(),
 * takes the new fd with pidfd_getfd(), closes it in the child (so that CRIU
 * finds no userfaultfd there), registers the region from outside and scans
 * it once: that scan returns every present page (the initial full copy,
 * not copied here) and write-protects it. *ns: the whole time the child is
 * stopped.
 */
static void register_compel(struct child *c, uint64_t *ns)
{
#ifdef BENCH_COMPEL
	struct uffdio_api api = {.api = UFFD_API, .features = FEATURES};
	struct parasite_ctl *ctl;
	uint64_t t0 = now_ns();
	long ret = -1;
	int state;

	compel_log_init(compel_msg, COMPEL_LOG_ERROR);
	state = compel_stop_task(c->pid);
	if (state < 0)
		die("compel_stop_task(%d) failed", c->pid);
	ctl = compel_prepare(c->pid, false);
	if (!ctl)
		die("compel_prepare(%d) failed", c->pid);
	if (compel_syscall(ctl, __NR_userfaultfd, &ret, O_CLOEXEC | O_NONBLOCK,
			   0, 0, 0, 0, 0) < 0 ||
	    ret < 0)
		die("userfaultfd() in %d: %s", c->pid, strerror((int)-ret));
	c->sh->uffd = (int)ret;
	attach(c);
	if (compel_syscall(ctl, __NR_close, &ret, (unsigned long)c->sh->uffd, 0,
			   0, 0, 0, 0) < 0 ||
	    ret)
		die("close(%d) in %d: %s", c->sh->uffd, c->pid,
		    strerror((int)-ret));
	c->sh->uffd = -1;
	if (ioctl(c->uffd, UFFDIO_API, &api))
		die("UFFDIO_API from outside: %s", strerror(errno));
	register_range(c, c->sh->region, c->sh->region_bytes);
	scan_written(c);
	if (c->wr.pages != c->region_pages)
		die("the first scan found %llu pages of %llu",
		    (unsigned long long)c->wr.pages,
		    (unsigned long long)c->region_pages);
	if (compel_cure(ctl))
		die("compel_cure(%d) failed", c->pid);
	if (compel_resume_task(c->pid, state, state))
		die("compel_resume_task(%d) failed", c->pid);
	*ns = ns_since(t0);
#else
	(void)c, (void)ns;
	die("--register compel: built without CRIU's libcompel.a (build CRIU "
	    "with scripts/build-criu, then reconfigure)");
#endif
}

static void run_k(struct child *c, const struct opts *o, unsigned k,
		  int protected, struct kresult *kr)
{
	size_t n = (size_t)o->epochs;
	uint64_t w[n], f[6][n];
	struct epoch_t t;

	for (size_t e = 0; e < n; e++) {
		if (!protected) {
			command(c, CMD_WRITE, k);
			w[e] = c->sh->write_ns;
			continue;
		}
		epoch(c, k, &t, &w[e]);
		f[0][e] = t.freeze, f[1][e] = t.scan, f[2][e] = t.holes;
		f[3][e] = t.copy, f[4][e] = t.thaw, f[5][e] = t.pause;
	}
	kr->k = k;
	if (!protected) {
		kr->write_plain = med(w, n) / k;
		return;
	}
	kr->write_wp = med(w, n) / k;
	kr->med = (struct epoch_t){med(f[0], n), med(f[1], n), med(f[2], n),
				   med(f[3], n), med(f[4], n), med(f[5], n)};
	kr->p90 = (struct epoch_t){p90(f[0], n), p90(f[1], n), p90(f[2], n),
				   p90(f[3], n), p90(f[4], n), p90(f[5], n)};
}

static void run_size(const struct opts *o, unsigned mib, struct sresult *s)
{
	struct child c;
	struct epoch_t t;
	uint64_t wns;
	int st;

	memset(s, 0, sizeof(*s));
	s->mib = mib;
	s->npages = ((uint64_t)mib << 20) / PAGE;
	status("%u MiB: child touching its memory", mib);
	start_child(&c, o, mib);
	s->thp_kib[0] = proc_kib(c.pid, "smaps_rollup", "AnonHugePages:");
	s->nk = o->nk;
	for (int i = 0; i < o->nk; i++) {
		unsigned k =
			o->ks[i] < s->npages ? o->ks[i] : (unsigned)s->npages;

		run_k(&c, o, k, 0, &s->kr[i]);
		s->kr[i].memcpy_ns = memcpy_ref(k);
	}
	s->full_read_ns = full_read(&c);
	if (o->criu) {
		status("%u MiB: criu dump, no userfaultfd", mib);
		criu_series(o, &c, &s->plain);
	}

	status("%u MiB: registering (%s)", mib, reg_names[o->reg]);
	if (o->reg == REG_COMPEL) {
		register_compel(&c, &s->protect_ns);
	} else {
		command(&c, o->reg == REG_REMOTE ? CMD_UFFD : CMD_REGISTER, 0);
		attach(&c);
		if (o->reg == REG_REMOTE)
			register_remote(&c, &s->protect_ns);
		else
			s->protect_ns = c.sh->protect_ns;
	}
	freeze(&c);
	scan_written(&c);
	scan_holes(&c);
	thaw(&c);
	c.sh->nlog = 0;
	check(&c, 0, 0, "the scan right after protection");

	for (int i = 0; i < o->nk; i++) {
		status("%u MiB: %u pages per epoch, %d epochs", mib, s->kr[i].k,
		       o->epochs);
		run_k(&c, o, s->kr[i].k, 1, &s->kr[i]);
	}

	s->thp_kib[1] = proc_kib(c.pid, "smaps_rollup", "AnonHugePages:");
	if (o->reg != REG_COMPEL) {
		if (o->criu) {
			status("%u MiB: criu dump, child holding its "
			       "userfaultfd",
			       mib);
			criu_dump(o, &c, &s->with_fd);
		}
		command(&c, CMD_CLOSE_UFFD, 0);
		epoch(&c, s->kr[0].k, &t,
		      &wns); /* the tracker's copy will do */
	}
	if (o->criu) {
		status("%u MiB: criu dump, userfaultfd held by the tracker",
		       mib);
		criu_series(o, &c, &s->held);
		epoch(&c, s->kr[0].k, &t, &wns); /* and CRIU left it alone */
	}

	status("%u MiB: a zap, a new mapping, a sparse mapping", mib);
	zap(&c, s);
	follow(&c, s->kr[0].k, s);
	sparse(&c, s);
	epoch(&c, s->kr[0].k, &t, &wns);
	s->epochs = c.epochs;
	s->pages = c.pages;

	send_cmd(&c, CMD_EXIT, 0);
	if (waitpid(c.pid, &st, 0) != c.pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		die("the child did not exit cleanly (status %#x)", st);
	close(c.uffd);
	close(c.pidfd);
	close(c.pagemap);
	munmap(c.buf, c.buf_pages * PAGE);
	munmap(c.sh, sizeof(*c.sh));
	free(c.vec);
	free(c.written);
	free(c.holes);
	free(c.wr.v);
	free(c.ho.v);
	free(c.present);
}

/* --- output ------------------------------------------------------------- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static void print_criu_text(const char *what, const struct criu_result *r)
{
	if (!r->ran)
		return;
	if (!r->ok) {
		printf("  %-30s FAILED: %s\n", what, r->why);
		return;
	}
	printf("  %-30s wall %6.1f ms, frozen %6.1f ms (memory %6.1f ms), "
	       "%llu pages, %.1f MiB of images\n",
	       what, ms(r->wall_ns), (double)r->frozen_us / 1e3,
	       (double)r->memdump_us / 1e3,
	       (unsigned long long)r->pages_written,
	       (double)r->image_bytes / 1048576.0);
}

static void print_limits_text(const struct limits *l)
{
	printf("\nlimits, on this process's own memory (1 MiB each):\n");
	printf("  a second userfaultfd registering a tracked mapping: %s\n",
	       l->second_uffd_errno ? strerror(l->second_uffd_errno) : "ok");
	printf("  the tracker's userfaultfd registering it again: %s\n",
	       l->again_errno ? strerror(l->again_errno) : "ok");
	printf("  the second one, once the tracker's is closed: %s\n",
	       l->after_close_errno ? strerror(l->after_close_errno) : "ok");
	printf("  MAP_SHARED anon: own store %llu written; a forked child's "
	       "2 stores %llu written\n",
	       (unsigned long long)l->shared_own,
	       (unsigned long long)l->shared_by_child);
	printf("  MAP_PRIVATE after fork: own store %llu written (COW)\n",
	       (unsigned long long)l->private_after_fork);
	printf("  memfd MAP_SHARED: pwrite(2) %llu written; a store through "
	       "the mapping %llu\n",
	       (unsigned long long)l->memfd_pwrite,
	       (unsigned long long)l->memfd_store);
	printf("  PAGEMAP_SCAN of %llu pages returning %llu ranges: walk_end "
	       "%llu pages from start (%s)\n",
	       (unsigned long long)l->walk_pages,
	       (unsigned long long)l->walk_ranges,
	       (unsigned long long)l->walk_end_pages,
	       l->walk_end_pages == l->walk_pages ? "the end" : "stale");
}

static void print_text(const struct opts *o, const struct sresult *s, int n)
{
	for (int z = 0; z < n; z++) {
		const struct sresult *r = &s[z];

		printf("%s%u MiB (%llu pages): registration %.2f ms "
		       "(%s), process_vm_readv of it all %.1f ms, "
		       "AnonHugePages %ld -> %ld KiB\n",
		       z ? "\n" : "", r->mib, (unsigned long long)r->npages,
		       ms(r->protect_ns), reg_names[o->reg],
		       ms(r->full_read_ns), r->thp_kib[0], r->thp_kib[1]);
		printf("  %6s %7s %7s %7s %7s %7s %8s %8s %7s %6s %6s\n", "K",
		       "freeze", "scan", "holes", "copy", "thaw", "pause",
		       "pause90", "memcpy", "wr ns", "wr+wp");
		for (int i = 0; i < r->nk; i++) {
			const struct kresult *k = &r->kr[i];

			printf("  %6u %7.1f %7.1f %7.1f %7.1f %7.1f %8.1f "
			       "%8.1f %7.1f %6llu %6llu\n",
			       k->k, us(k->med.freeze), us(k->med.scan),
			       us(k->med.holes), us(k->med.copy),
			       us(k->med.thaw), us(k->med.pause),
			       us(k->p90.pause), us(k->memcpy_ns),
			       (unsigned long long)k->write_plain,
			       (unsigned long long)k->write_wp);
		}
		print_criu_text("criu dump, no uffd:", &r->plain);
		print_criu_text("criu dump, child holds uffd:", &r->with_fd);
		print_criu_text("criu dump, tracker holds it:", &r->held);
		printf("  MADV_DONTNEED of %u pages: %llu written, %llu "
		       "holes\n",
		       ZAP_PAGES, (unsigned long long)r->zap_written,
		       (unsigned long long)r->zap_holes);
		printf("  new %u MiB mapping, every other page touched: maps "
		       "diff + register %.1f us; first scan %llu written, "
		       "%llu holes\n",
		       EXTRA_MIB, us(r->follow_ns),
		       (unsigned long long)r->extra_written,
		       (unsigned long long)r->extra_holes);
		printf("  sparse %u MiB, %u pages touched: written scan "
		       "(present only) %.1f us, %llu pages; hole scan %.1f us; "
		       "VmPTE %ld -> %ld KiB\n",
		       SPARSE_MIB, SPARSE_TOUCH, us(r->sparse_scan_ns),
		       (unsigned long long)r->sparse_pages,
		       us(r->sparse_hole_ns), r->pte_kib[0], r->pte_kib[1]);
		printf("    unlimited written scan instead: %.1f us, %llu "
		       "pages, VmPTE -> %ld KiB; the next scan %.1f us\n",
		       us(r->naive_scan_ns), (unsigned long long)r->naive_pages,
		       r->pte_kib[2], us(r->naive_rescan_ns));
		printf("  exact: %llu scans checked against the child's logs "
		       "(%llu pages written and copied)\n",
		       (unsigned long long)r->epochs,
		       (unsigned long long)r->pages);
	}
	printf("\nK: pages written per epoch. Times in us, medians of %d "
	       "epochs; pause = freeze (SIGSTOP) + scan (written, "
	       "re-protected) + holes + copy (process_vm_readv) + thaw, "
	       "pause90 its 90th percentile; memcpy: the reference, K pages "
	       "in this process, this run; wr ns, wr+wp: ns per page the "
	       "child writes without and with write protection. "
	       "Registration: self, the child's userfaultfd + API + "
	       "REGISTER + WRITEPROTECT; remote, API + REGISTER + "
	       "WRITEPROTECT from the tracker; compel, the whole time the "
	       "child is stopped (seize, inject, register, first scan, "
	       "cure).",
	       o->epochs);
	if (o->criu)
		printf(" criu: the dump with the median wall time of %d; "
		       "frozen and memory from its --display-stats.",
		       o->criu_runs);
	printf("\n");
}

static void json_criu(const char *name, const struct criu_result *r)
{
	printf("\"%s\": ", name);
	if (!r->ran) {
		printf("null");
		return;
	}
	printf("{\"ok\": %s, \"wall_ms\": %.2f, \"frozen_ms\": %.2f, "
	       "\"memdump_ms\": %.2f, \"pages_written\": %llu, "
	       "\"image_mib\": %.2f, \"error\": ",
	       r->ok ? "true" : "false", ms(r->wall_ns),
	       (double)r->frozen_us / 1e3, (double)r->memdump_us / 1e3,
	       (unsigned long long)r->pages_written,
	       (double)r->image_bytes / 1048576.0);
	if (r->ok) {
		printf("null}");
		return;
	}
	putchar('"');
	for (const char *p = r->why; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}");
}

static void json_times(const char *name, const struct epoch_t *t)
{
	printf("\"%s\": {\"freeze_us\": %.1f, \"scan_us\": %.1f, "
	       "\"holes_us\": %.1f, \"copy_us\": %.1f, \"thaw_us\": %.1f, "
	       "\"pause_us\": %.1f}",
	       name, us(t->freeze), us(t->scan), us(t->holes), us(t->copy),
	       us(t->thaw), us(t->pause));
}

static void print_json(const struct opts *o, const struct sresult *s, int n,
		       const struct limits *l)
{
	printf("{\"epochs\": %d, \"criu_runs\": %d, \"register\": \"%s\", "
	       "\"thp\": %s, \"exact\": true, \"sizes\": [",
	       o->epochs, o->criu_runs, reg_names[o->reg],
	       o->thp ? "true" : "false");
	for (int z = 0; z < n; z++) {
		const struct sresult *r = &s[z];

		printf("%s{\"mib\": %u, \"pages\": %llu, \"protect_ms\": %.3f, "
		       "\"full_read_ms\": %.3f, \"anon_huge_kib\": [%ld, %ld], "
		       "\"k\": [",
		       z ? ", " : "", r->mib, (unsigned long long)r->npages,
		       ms(r->protect_ns), ms(r->full_read_ns), r->thp_kib[0],
		       r->thp_kib[1]);
		for (int i = 0; i < r->nk; i++) {
			const struct kresult *k = &r->kr[i];

			printf("%s{\"pages\": %u, \"memcpy_ref_us\": %.1f, "
			       "\"write_ns\": %llu, \"write_wp_ns\": %llu, ",
			       i ? ", " : "", k->k, us(k->memcpy_ns),
			       (unsigned long long)k->write_plain,
			       (unsigned long long)k->write_wp);
			json_times("median", &k->med);
			printf(", ");
			json_times("p90", &k->p90);
			printf("}");
		}
		printf("], ");
		json_criu("criu_plain", &r->plain);
		printf(", ");
		json_criu("criu_child_holds_uffd", &r->with_fd);
		printf(", ");
		json_criu("criu_tracker_holds_uffd", &r->held);
		printf(", \"zap\": {\"pages\": %u, \"written\": %llu, "
		       "\"holes\": %llu}, \"follow\": {\"us\": %.1f, "
		       "\"written\": %llu, \"holes\": %llu}, ",
		       ZAP_PAGES, (unsigned long long)r->zap_written,
		       (unsigned long long)r->zap_holes, us(r->follow_ns),
		       (unsigned long long)r->extra_written,
		       (unsigned long long)r->extra_holes);
		printf("\"sparse\": {\"mib\": %u, \"touched\": %u, "
		       "\"scan_us\": %.1f, \"pages\": %llu, \"holes_us\": "
		       "%.1f, "
		       "\"pte_kib\": [%ld, %ld, %ld], \"unlimited_scan_us\": "
		       "%.1f, \"unlimited_pages\": %llu, "
		       "\"unlimited_rescan_us\": %.1f}, \"scans_checked\": "
		       "%llu, \"pages_checked\": %llu}",
		       SPARSE_MIB, SPARSE_TOUCH, us(r->sparse_scan_ns),
		       (unsigned long long)r->sparse_pages,
		       us(r->sparse_hole_ns), r->pte_kib[0], r->pte_kib[1],
		       r->pte_kib[2], us(r->naive_scan_ns),
		       (unsigned long long)r->naive_pages,
		       us(r->naive_rescan_ns), (unsigned long long)r->epochs,
		       (unsigned long long)r->pages);
	}
	printf("], \"limits\": {\"second_uffd_error\": \"%s\", "
	       "\"register_again_error\": \"%s\", "
	       "\"second_after_close_error\": \"%s\", "
	       "\"shared_own_written\": %llu, "
	       "\"shared_child_written\": %llu, "
	       "\"private_after_fork_written\": %llu, "
	       "\"memfd_pwrite_written\": %llu, "
	       "\"memfd_store_written\": %llu, \"walk_ranges\": %llu, "
	       "\"walk_end_pages\": %llu, \"walk_pages\": %llu}}\n",
	       l->second_uffd_errno ? strerror(l->second_uffd_errno) : "",
	       l->again_errno ? strerror(l->again_errno) : "",
	       l->after_close_errno ? strerror(l->after_close_errno) : "",
	       (unsigned long long)l->shared_own,
	       (unsigned long long)l->shared_by_child,
	       (unsigned long long)l->private_after_fork,
	       (unsigned long long)l->memfd_pwrite,
	       (unsigned long long)l->memfd_store,
	       (unsigned long long)l->walk_ranges,
	       (unsigned long long)l->walk_end_pages,
	       (unsigned long long)l->walk_pages);
}

/* --- main --------------------------------------------------------------- */

static int parse_list(const char *arg, unsigned *v, int max, unsigned lo,
		      unsigned hi)
{
	int n = 0;
	char *end;

	while (*arg) {
		unsigned long x;

		errno = 0;
		x = strtoul(arg, &end, 10);
		if (errno || end == arg || x < lo || x > hi || n == max)
			return -1;
		v[n++] = (unsigned)x;
		arg = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_uffd [--quick] [--json] [--mib LIST] "
		"[--pages LIST] [--epochs N]\n"
		"                  [--criu PATH | --no-criu] [--criu-runs N] "
		"[--thp] [--register self|remote|compel]\n"
		"  --quick      10 and 100 MiB, 5 epochs, one dump each "
		"(default: 10,100,1024 MiB, 20 epochs, 3 dumps)\n"
		"  --pages      pages written per epoch (default "
		"100,1000,10000; capped at the region)\n"
		"  --criu       the CRIU to time (default %s)\n"
		"  --thp        MADV_HUGEPAGE on the region (default "
		"MADV_NOHUGEPAGE)\n"
		"  --register   who registers: the child (self, default); the "
		"child makes the userfaultfd, the tracker the rest (remote); "
		"the tracker alone, injecting userfaultfd() with compel "
		"(compel)\n",
		BENCH_CRIU);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"mib", required_argument, NULL, 'm'},
		{"pages", required_argument, NULL, 'p'},
		{"epochs", required_argument, NULL, 'e'},
		{"criu", required_argument, NULL, 'c'},
		{"no-criu", no_argument, NULL, 'n'},
		{"criu-runs", required_argument, NULL, 'r'},
		{"thp", no_argument, NULL, 't'},
		{"register", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {
		.mib = {10, 100, 1024},
		.nmib = 3,
		.ks = {100, 1000, 10000},
		.nk = 3,
		.epochs = 20,
		.criu_runs = 3,
		.criu = BENCH_CRIU,
	};
	int quick = 0, set_mib = 0, set_epochs = 0, set_runs = 0, c;
	static struct sresult res[MAX_SIZES];
	struct limits lim;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'm':
			o.nmib = parse_list(optarg, o.mib, MAX_SIZES, 1, 65536);
			if (o.nmib <= 0)
				die("--mib: '%s' is not a list of sizes "
				    "from 1 to 65536",
				    optarg);
			set_mib = 1;
			break;
		case 'p':
			o.nk = parse_list(optarg, o.ks, MAX_KS, 1, MAX_K);
			if (o.nk <= 0)
				die("--pages: '%s' is not a list of counts "
				    "from 1 to %u",
				    optarg, MAX_K);
			break;
		case 'e':
			o.epochs = atoi(optarg);
			if (o.epochs < 1 || o.epochs > 10000)
				die("--epochs: '%s' is not 1 to 10000", optarg);
			set_epochs = 1;
			break;
		case 'c':
			o.criu = optarg;
			break;
		case 'n':
			o.criu = NULL;
			break;
		case 'r':
			o.criu_runs = atoi(optarg);
			if (o.criu_runs < 1 || o.criu_runs > 16)
				die("--criu-runs: '%s' is not 1 to 16", optarg);
			set_runs = 1;
			break;
		case 't':
			o.thp = 1;
			break;
		case 'g':
			for (o.reg = REG_SELF; o.reg <= REG_COMPEL; o.reg++)
				if (!strcmp(optarg, reg_names[o.reg]))
					break;
			if (o.reg > REG_COMPEL)
				die("--register: '%s' is not self, remote or "
				    "compel",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (quick) {
		if (!set_mib) {
			o.mib[0] = 10, o.mib[1] = 100;
			o.nmib = 2;
		}
		if (!set_epochs)
			o.epochs = 5;
		if (!set_runs)
			o.criu_runs = 1;
	}
	if (o.criu && access(o.criu, X_OK)) {
		status("skipping the CRIU dumps: %s: %s", o.criu,
		       strerror(errno));
		o.criu = NULL;
	}
	status("limits, on this process's own memory");
	limits(&lim);
	for (int i = 0; i < o.nmib; i++)
		run_size(&o, o.mib[i], &res[i]);
	if (o.json) {
		print_json(&o, res, o.nmib, &lim);
	} else {
		print_text(&o, res, o.nmib);
		print_limits_text(&lim);
	}
	return 0;
}
