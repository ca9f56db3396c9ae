/*
 * bench_vmm: the micro-VM's costs that replication pays on every epoch, with
 * real guests under KVM:
 *
 *   pause+resume   latency of a vm_pause()+vm_resume() pair timed from the
 *                  calling thread, idle guest (counter, asleep in the poll
 *                  hypercall) and busy guest (spin, always in KVM_RUN), with
 *                  100..500 us of guest run time between pairs; p50/p99.
 *   harvest        vm_harvest_dirty() of 64 MiB, 1 GiB and 4 GiB idle
 *                  (counter) guests with a few dirty pages; median.
 *   dirty copy     copying N dirty pages out of vm_mem() into a staging
 *                  buffer, walking a harvest bitmap, vs one plain memcpy of
 *                  as many bytes between two host buffers, in the same run.
 *   snapshot       vm_snapshot_save() and vm_snapshot_restore() of 64 MiB and
 *                  1 GiB memstress guests; restore split in reading memory
 *                  and setting the VM up (vm_snapshot_restore's split_ns).
 *   wp fault       the extra cost of a guest page write after its dirty bit
 *                  was cleared (the platform's write-protect fault), from two
 *                  memstress VMs, dirty logging on and off.
 *
 * Everything that copies or restores is checked (copied pages equal the
 * guest's, a restored VM's memory equals the saved one and its memstress
 * passes its self-check): a broken VMM gets an error, not numbers. Timings
 * are best-of-N where a minimum is meaningful (copies, save, restore),
 * medians or percentiles where the spread is the point (harvest, pauses).
 *
 * Guest images are NAME=PATH arguments (counter, memstress, spin), which
 * scripts/bench vmm and tests/bench/meson.build pass. Run it through
 * scripts/bench vmm [--json] [--strict] [--quick].
 *
 * Exit status: 0; 1 when --strict and a target is missed, or when /dev/kvm
 * is not usable (77 instead with --skip-without-kvm, for the smoke test); 2
 * on a usage error or a failed correctness check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "bench_vmm"
#include "bench_util.h"
#include "bench_memstress.h"
#include "bench_vm.h"
#include "abi.h"
#include "console_capture.h"
#include "snapshot.h"
#include "vm.h"

#define PAGE VM_PAGE_SIZE
#define MiB  (1ull << 20)
#define GiB  (1ull << 30)

/* Targets from the issue. */
#define T_PAUSE_P99_US	     100.0
#define T_HARVEST_1G_US	     300.0
#define T_COPY_VS_MEMCPY     0.5
#define T_RESTORE_READ_SETUP 1.0 /* read part / set-up part, 1 GiB */

/* Workloads. */
#define PAUSE_SLEEP_MIN_US 100
#define PAUSE_SLEEP_MAX_US 500
#define HARVEST_RUN_US	   2000 /* guest run time between harvests */
#define COPY_GUEST_MEM	   (64 * MiB)
#define COPY_WS_PAGES	   12288 /* memstress working set: 48 MiB of 64 */
#define SNAP_WS_PAGES	   4096
#define WP_GUEST_MEM	   (64 * MiB)
#define WP_WS_PAGES	   8192
#define WP_INTERVAL_US	   5000	 /* harvest period */
#define WAIT_MS		   20000 /* liveness only: a guest line must come */

#define BARRIER() __asm__ __volatile__("" ::: "memory")

static const char *const sizes_harvest[] = {"64M", "1G", "4G"};
static const uint64_t harvest_mem[] = {64 * MiB, 1 * GiB, 4 * GiB};
#define NHARVEST 3
static const size_t copy_n[] = {100, 1000, 10000};
#define NCOPY 3
static const char *const sizes_snap[] = {"64M", "1G"};
static const uint64_t snap_mem[] = {64 * MiB, 1 * GiB};
#define NSNAP 2

enum { G_COUNTER, G_MEMSTRESS, G_SPIN, NGUESTS };
static const char *const guest_name[NGUESTS] = {"counter", "memstress", "spin"};
static const char *guest_path[NGUESTS];

struct results {
	/* pause+resume, [0] idle, [1] busy */
	double pr_p50[2], pr_p99[2], pr_max[2];
	int pr_pairs;
	/* harvest */
	double harvest_us[NHARVEST];
	long harvest_pages[NHARVEST];
	int harvest_reps;
	/* dirty page copy */
	double copy_gbps[NCOPY], memcpy_gbps[NCOPY];
	long copy_harvested; /* dirty pages in the harvest they came from */
	int copy_reps;
	/* snapshots */
	double save_ms[NSNAP], restore_ms[NSNAP], read_ms[NSNAP],
		setup_ms[NSNAP];
	double file_mib[NSNAP], alloc_mib[NSNAP];
	int snap_reps[NSNAP];
	/* write-protect fault */
	double wp_us_log, wp_us_nolog, wp_fault_us, wp_faults_per_write;
	double wp_fault_us_per_fault;
	uint64_t wp_writes[2];
	double wp_run_ms[2];
	int wp_rounds;
};

/* ------------------------------------------------------------------------ */
/* Messages, clock, temporary files. */

static char tmpdir[512];
static char snap_file[600];
static char snap_tmp[610];

static void cleanup_files(void)
{
	/* Async-signal-safe: also called from the signal handler. */
	if (snap_file[0]) {
		unlink(snap_file);
		unlink(snap_tmp);
	}
	if (tmpdir[0])
		rmdir(tmpdir);
}

static void on_signal(int sig)
{
	cleanup_files();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static double gbps(uint64_t bytes, uint64_t ns)
{
	return (double)bytes / (double)(ns ? ns : 1);
}

/*
 * Waits until needle appears at or after offset from; returns the offset
 * just past it. Dies after WAIT_MS (liveness, not timing) or on "FAIL".
 */
static size_t cap_wait(struct capture *c, const char *needle, size_t from,
		       const char *who)
{
	size_t off = cap_find(c, needle, from, WAIT_MS, "FAIL");

	if (!off)
		die("%s: no '%s' from the guest within %d s; its output:\n%s",
		    who, needle, WAIT_MS / 1000, c->buf + from);
	return off;
}

static uint8_t *images[NGUESTS];
static size_t image_len[NGUESTS];

static void load_images(void)
{
	for (int g = 0; g < NGUESTS; g++) {
		struct stat st;
		FILE *f;

		if (!guest_path[g])
			die("no path for guest %s: pass %s=PATH (scripts/bench "
			    "vmm does)",
			    guest_name[g], guest_name[g]);
		f = fopen(guest_path[g], "rb");
		if (!f || fstat(fileno(f), &st))
			die("guest %s: %s: %s", guest_name[g], guest_path[g],
			    strerror(errno));
		image_len[g] = (size_t)st.st_size;
		images[g] = malloc(image_len[g] ? image_len[g] : 1);
		if (!images[g] ||
		    fread(images[g], 1, image_len[g], f) != image_len[g])
			die("guest %s: reading %s failed", guest_name[g],
			    guest_path[g]);
		fclose(f);
	}
}

static struct vm *boot(int g, const char *args, uint64_t mem, int dirty_log,
		       struct capture *c)
{
	struct vm_config cfg = {.mem_size = mem,
				.dirty_log = dirty_log,
				.console = c ? cap_console : NULL,
				.console_opaque = c};
	char err[VM_ERR_MAX];
	struct vm *vm;

	if (vm_create(&vm, &cfg, err, sizeof(err)))
		die("vm_create(%llu MiB): %s", (unsigned long long)(mem / MiB),
		    err);
	if (vm_load_elf(vm, images[g], image_len[g], args))
		die("vm_load_elf(%s): %s", guest_name[g], vm_error(vm));
	if (vm_start(vm))
		die("vm_start(%s): %s", guest_name[g], vm_error(vm));
	return vm;
}

static long harvest(struct vm *vm, uint64_t *bm)
{
	long n = vm_harvest_dirty(vm, bm);

	if (n < 0)
		die("vm_harvest_dirty: %s", vm_error(vm));
	return n;
}

/* The guest must still be running (not exited, crashed or failed). */
static void check_alive(struct vm *vm, const char *who)
{
	struct vm_status st;

	if (vm_wait(vm, 0, &st) != -ETIMEDOUT || st.how != VM_RUNNING)
		die("%s: the guest stopped: %s", who, st.msg);
}

/* The working set address from memstress's first line. */
static uint64_t memstress_ws(struct capture *c, uint64_t pages)
{
	uint64_t addr;

	cap_wait(c, " seed ", 0, "memstress");
	pthread_mutex_lock(&c->lock);
	addr = memstress_parse_ws(c->buf, pages);
	pthread_mutex_unlock(&c->lock);
	return addr;
}

/* ------------------------------------------------------------------------ */
/* 1. Pause + resume. */

static void bench_pause(struct results *r, int kind)
{
	static const char *const what[2] = {"idle (counter)", "busy (spin)"};
	int n = r->pr_pairs;
	uint64_t *d = malloc((size_t)n * sizeof(*d));
	uint64_t seed = 0x70617573ull + (uint64_t)kind;
	struct vm *vm;

	if (!d)
		die("out of memory");
	status("pause+resume: %s guest, %d pairs", what[kind], n);
	vm = kind == 0 ? boot(G_COUNTER, "--interval 1000", 64 * MiB, 0, NULL)
		       : boot(G_SPIN, "", 64 * MiB, 0, NULL);
	sleep_us(20000); /* boot, and for counter: reach its first poll */
	for (int i = 0; i < n; i++) {
		uint64_t t0, t1;

		sleep_us(PAUSE_SLEEP_MIN_US +
			 splitmix64(&seed) %
				 (PAUSE_SLEEP_MAX_US - PAUSE_SLEEP_MIN_US + 1));
		t0 = now_ns();
		pause_vm(vm);
		resume_vm(vm);
		t1 = now_ns();
		d[i] = t1 - t0;
	}
	check_alive(vm, what[kind]);
	vm_destroy(vm);
	qsort(d, (size_t)n, sizeof(*d), cmp_u64);
	r->pr_p50[kind] = (double)quantile(d, (size_t)n, 0.50) / 1e3;
	r->pr_p99[kind] = (double)quantile(d, (size_t)n, 0.99) / 1e3;
	r->pr_max[kind] = (double)d[n - 1] / 1e3;
	free(d);
}

/* ------------------------------------------------------------------------ */
/* 2. Dirty harvest of idle guests. */

static void bench_harvest(struct results *r, int s)
{
	int reps = r->harvest_reps;
	uint64_t *t = malloc((size_t)reps * sizeof(*t));
	long *np = malloc((size_t)reps * sizeof(*np));
	struct vm *vm;
	uint64_t *bm;

	if (!t || !np)
		die("out of memory");
	status("harvest: %s guest, %d harvests", sizes_harvest[s], reps);
	vm = boot(G_COUNTER, "--interval 1000", harvest_mem[s], 1, NULL);
	bm = calloc(1, vm_bitmap_bytes(vm));
	if (!bm)
		die("out of memory");
	sleep_us(20000);
	pause_vm(vm);
	harvest(vm, bm); /* everything since boot: the image, the stack */
	for (int i = 0; i < reps; i++) {
		size_t words = vm_bitmap_bytes(vm) / 8;
		uint64_t t0, t1;
		long n, pop = 0;

		resume_vm(vm);
		sleep_us(HARVEST_RUN_US);
		pause_vm(vm);
		t0 = now_ns();
		n = harvest(vm, bm);
		t1 = now_ns();
		t[i] = t1 - t0;
		np[i] = n;
		for (size_t w = 0; w < words; w++)
			pop += __builtin_popcountll(bm[w]);
		if (pop != n)
			die("harvest of %s: returned %ld pages, bitmap has %ld",
			    sizes_harvest[s], n, pop);
	}
	resume_vm(vm);
	check_alive(vm, "harvest");
	vm_destroy(vm);
	free(bm);
	qsort(t, (size_t)reps, sizeof(*t), cmp_u64);
	qsort(np, (size_t)reps, sizeof(*np), cmp_long);
	r->harvest_us[s] = (double)quantile(t, (size_t)reps, 0.5) / 1e3;
	r->harvest_pages[s] = np[(reps - 1) / 2];
	free(t);
	free(np);
}

/* ------------------------------------------------------------------------ */
/* 3. Copying dirty pages out. */

/*
 * The copy path: walk a dirty bitmap, copy each dirty page of guest memory
 * to the next slot of the staging buffer. Returns the pages copied.
 */
static size_t copy_dirty(const uint64_t *bm, size_t words, const uint8_t *mem,
			 uint8_t *dst)
{
	size_t k = 0;

	for (size_t i = 0; i < words; i++) {
		uint64_t w = bm[i];

		while (w) {
			uint64_t p =
				(uint64_t)i * 64 + (uint64_t)__builtin_ctzll(w);

			w &= w - 1;
			memcpy(dst + k * PAGE, mem + p * PAGE, PAGE);
			BARRIER();
			k++;
		}
	}
	return k;
}

static void bench_copy(struct results *r)
{
	struct capture c;
	struct vm *vm;
	char args[128];
	uint64_t *bm, *sub, *set;
	size_t words, cnt = 0, max_n = copy_n[NCOPY - 1];
	uint8_t *staging, *src;
	const uint8_t *mem;

	status("dirty copy: 64 MiB memstress guest, %d-page working set",
	       COPY_WS_PAGES);
	if (cap_init(&c))
		die("out of memory");
	snprintf(args, sizeof(args),
		 "--pages %d --rate 0 --seed 3 --check-every 0", COPY_WS_PAGES);
	vm = boot(G_MEMSTRESS, args, COPY_GUEST_MEM, 1, &c);
	memstress_ws(&c, COPY_WS_PAGES);
	cap_wait(&c, " ok\n", 0, "memstress"); /* filled and checked */
	pause_vm(vm);
	words = vm_bitmap_bytes(vm) / 8;
	bm = calloc(1, words * 8);
	sub = calloc(1, words * 8);
	set = malloc(words * 64 * sizeof(*set));
	if (!bm || !sub || !set)
		die("out of memory");
	/* Every page written since boot: the working set and the rest. */
	r->copy_harvested = harvest(vm, bm);
	for (size_t i = 0; i < words; i++)
		for (uint64_t w = bm[i]; w; w &= w - 1)
			set[cnt++] =
				(uint64_t)i * 64 + (uint64_t)__builtin_ctzll(w);
	if ((long)cnt != r->copy_harvested || cnt < max_n)
		die("dirty copy: harvest gave %ld pages (%zu bits), need %zu",
		    r->copy_harvested, cnt, max_n);

	staging = alloc_bytes(max_n * PAGE, "staging buffer");
	src = alloc_bytes(max_n * PAGE, "memcpy source");
	for (size_t i = 0; i < max_n * PAGE; i += 8) {
		uint64_t v = i * 0x9e3779b97f4a7c15ull;

		memcpy(src + i, &v, 8);
	}
	mem = vm_mem(vm);
	for (int k = 0; k < NCOPY; k++) {
		size_t n = copy_n[k], got;
		uint64_t best_copy = UINT64_MAX, best_memcpy = UINT64_MAX;

		/*
		 * The N pages: N of the harvested dirty pages, evenly spread
		 * over the harvest (the i-th is dirty page i * cnt / N in
		 * address order), so they are scattered over the 48 MiB
		 * working set, not a contiguous run. The bitmap keeps the
		 * harvest's format and size: the walk covers every word.
		 */
		memset(sub, 0, words * 8);
		for (size_t i = 0; i < n; i++) {
			uint64_t p = set[(uint64_t)i * cnt / n];

			sub[p / 64] |= 1ull << (p % 64);
		}
		/* Correctness, untimed: the copies are the guest's pages. */
		memset(staging, 0, n * PAGE);
		got = copy_dirty(sub, words, mem, staging);
		if (got != n)
			die("dirty copy: %zu pages copied, %zu "
			    "selected",
			    got, n);
		for (size_t i = 0; i < n; i++) {
			uint64_t p = set[(uint64_t)i * cnt / n];

			if (memcmp(staging + i * PAGE, mem + p * PAGE, PAGE))
				die("dirty copy: staging page %zu "
				    "differs from "
				    "guest page 0x%llx",
				    i, (unsigned long long)(p * PAGE));
		}
		/* Alternating passes, so both see the same machine load. */
		for (int rep = 0; rep < r->copy_reps; rep++) {
			uint64_t t0 = now_ns(), t1;

			got = copy_dirty(sub, words, mem, staging);
			t1 = now_ns();
			if (t1 - t0 < best_copy)
				best_copy = t1 - t0;
			t0 = now_ns();
			memcpy(staging, src, n * PAGE);
			BARRIER();
			t1 = now_ns();
			if (t1 - t0 < best_memcpy)
				best_memcpy = t1 - t0;
		}
		r->copy_gbps[k] = gbps(n * PAGE, best_copy);
		r->memcpy_gbps[k] = gbps(n * PAGE, best_memcpy);
	}
	munmap(staging, max_n * PAGE);
	munmap(src, max_n * PAGE);
	free(bm);
	free(sub);
	free(set);
	resume_vm(vm);
	check_alive(vm, "dirty copy");
	vm_destroy(vm);
	cap_free(&c);
}

/* ------------------------------------------------------------------------ */
/* 4. Snapshots. */

/*
 * Fills the free top of memstress's heap with non-zero data, from well
 * above its allocations (working set, then its permutation and scratch
 * arrays, first fit) to the bottom of the stack, so that the guest's memory
 * is mostly data rather than holes. The guest never touches that memory;
 * the VMM's dirty bitmap does not hear of these writes either, which only
 * matters to replication, not to a snapshot. Returns the bytes filled.
 */
static uint64_t fill_free_heap(struct vm *vm, uint64_t ws, uint64_t pages)
{
	const struct remora_boot *b =
		(const void *)(vm_mem(vm) + REMORA_BOOT_GPA);
	uint64_t lo = ws + pages * PAGE + 2 * pages * 4 + MiB;
	uint64_t hi = b->heap_end;
	uint8_t *mem = vm_mem(vm);

	lo = (lo + 2 * MiB - 1) & ~(2 * MiB - 1);
	if (b->magic != REMORA_BOOT_MAGIC || hi > vm_mem_size(vm) || lo >= hi)
		die("snapshot: unexpected boot info (heap_end 0x%llx)",
		    (unsigned long long)hi);
	for (uint64_t a = lo; a < hi; a += 8) {
		uint64_t v = (a * 0x9e3779b97f4a7c15ull) | 1;

		memcpy(mem + a, &v, 8);
	}
	return hi - lo;
}

static void bench_snapshot(struct results *r, int s)
{
	struct vm_config cfg = {.dirty_log = 1, .console = cap_console};
	struct capture c, rc;
	struct vm *vm, *rvm;
	char args[128], err[VM_ERR_MAX];
	uint64_t ws, size = snap_mem[s], best_save = UINT64_MAX;
	uint64_t best_restore = UINT64_MAX, best_split[2] = {0, 0};
	struct stat st;
	int reps = r->snap_reps[s];

	status("snapshot: %s memstress guest, %d saves and restores",
	       sizes_snap[s], reps);
	if (cap_init(&c))
		die("out of memory");
	snprintf(args, sizeof(args),
		 "--pages %d --rate 50 --seed 9 --check-every 0",
		 SNAP_WS_PAGES);
	vm = boot(G_MEMSTRESS, args, size, 1, &c);
	ws = memstress_ws(&c, SNAP_WS_PAGES);
	cap_wait(&c, " ok\n", 0, "memstress");
	sleep_us(50000); /* some steps: 50 page rewrites per ms */
	pause_vm(vm);
	if (size >= GiB) {
		uint64_t filled = fill_free_heap(vm, ws, SNAP_WS_PAGES);

		status("snapshot: %s guest: filled %llu MiB of free "
		       "heap from "
		       "the host",
		       sizes_snap[s], (unsigned long long)(filled / MiB));
	}

	for (int i = 0; i < reps; i++) {
		uint64_t t0 = now_ns(), t1;

		if (vm_snapshot_save(vm, snap_file))
			die("vm_snapshot_save(%s): %s", snap_file,
			    vm_error(vm));
		t1 = now_ns();
		if (t1 - t0 < best_save)
			best_save = t1 - t0;
	}
	if (stat(snap_file, &st))
		die("stat %s: %s", snap_file, strerror(errno));
	r->file_mib[s] = (double)st.st_size / (double)MiB;
	r->alloc_mib[s] = (double)st.st_blocks * 512.0 / (double)MiB;

	for (int i = 0; i < reps; i++) {
		uint64_t split[2], t0, t1;

		if (cap_init(&rc))
			die("out of memory");
		cfg.console_opaque = &rc;
		t0 = now_ns();
		if (vm_snapshot_restore(snap_file, &cfg, &rvm, split, err,
					sizeof(err)))
			die("vm_snapshot_restore(%s): %s", snap_file, err);
		t1 = now_ns();
		if (t1 - t0 < best_restore) {
			best_restore = t1 - t0;
			best_split[0] = split[0];
			best_split[1] = split[1];
		}
		if (vm_mem_size(rvm) != size)
			die("restored VM has %llu bytes of memory, not %llu",
			    (unsigned long long)vm_mem_size(rvm),
			    (unsigned long long)size);
		if (i == 0) {
			/*
			 * All of memory equals the saved VM's but the boot
			 * page, whose check_seq the restore bumps; and the
			 * restored memstress passes the self-check that bump
			 * asks for.
			 */
			const uint8_t *a = vm_mem(vm), *b = vm_mem(rvm);

			for (uint64_t p = 0; p < size / PAGE; p++) {
				if (p == REMORA_BOOT_GPA / PAGE)
					continue;
				if (memcmp(a + p * PAGE, b + p * PAGE, PAGE))
					die("restored %s "
					    "guest: page "
					    "0x%llx "
					    "differs from the "
					    "saved one",
					    sizes_snap[s],
					    (unsigned long long)(p * PAGE));
			}
			if (vm_start(rvm))
				die("vm_start(restored): %s", vm_error(rvm));
			cap_wait(&rc, " ok\n", 0, "restored memstress");
			check_alive(rvm, "restored memstress");
		}
		vm_destroy(rvm);
		cap_free(&rc);
	}
	unlink(snap_file);
	r->save_ms[s] = (double)best_save / 1e6;
	r->restore_ms[s] = (double)best_restore / 1e6;
	r->read_ms[s] = (double)best_split[0] / 1e6;
	r->setup_ms[s] = (double)best_split[1] / 1e6;
	vm_destroy(vm);
	if (strstr(c.buf, "FAIL"))
		die("memstress reported a failure:\n%s", c.buf);
	cap_free(&c);
}

/* ------------------------------------------------------------------------ */
/* 5. Write-protect fault cost. */

/*
 * Two 64 MiB VMs run memstress --rate 0 (flat out, one 4 KiB page rewrite
 * per step) over 8192 pages, one with dirty logging and one without. They
 * take turns: each round runs one VM for WP_INTERVAL_US, pauses it and
 * harvests, then the other, so both see the same machine load and the same
 * pause/harvest cadence. The logged VM's harvest re-protects every page it
 * reports, so the next write to it faults; a round writes fewer pages than
 * the working set holds, so (almost) every write is the page's first since
 * the last harvest and takes the fault. Writes are counted from the guest's
 * own step counter (memstress_steps()), time is the host's from resume to
 * pause. Then
 *
 *   wp_fault_us_per_page = us per write (logged) - us per write (unlogged)
 *
 * and faulting writes / writes (dirty working-set pages harvested per step)
 * says how close to "every write faults" the run was. It comes out a little
 * above 1: the page being written when a round's pause lands is dirty in
 * that round and again in the next, while its step counts once.
 */
static void bench_wp(struct results *r)
{
	struct capture c[2];
	struct vm *vm[2];
	uint64_t ws[2], steps0[2], run_ns[2] = {0, 0};
	uint64_t *bm[2], faults = 0;
	char args[128];

	status("write-protect: 2 x memstress --rate 0 over %d pages, %d "
	       "rounds of %d us",
	       WP_WS_PAGES, r->wp_rounds, WP_INTERVAL_US);
	snprintf(args, sizeof(args),
		 "--pages %d --rate 0 --seed 5 --check-every 0", WP_WS_PAGES);
	for (int m = 0; m < 2; m++) { /* 0: logging on, 1: off */
		if (cap_init(&c[m]))
			die("out of memory");
		vm[m] = boot(G_MEMSTRESS, args, WP_GUEST_MEM, m == 0, &c[m]);
		ws[m] = memstress_ws(&c[m], WP_WS_PAGES);
		cap_wait(&c[m], " ok\n", 0, "memstress");
		pause_vm(vm[m]);
		bm[m] = calloc(1, vm_bitmap_bytes(vm[m]));
		if (!bm[m])
			die("out of memory");
		harvest(vm[m], bm[m]);
		steps0[m] = memstress_steps(vm[m], ws[m], WP_WS_PAGES);
	}
	/* One warm-up round, untimed, then the measured ones. */
	for (int round = -1; round < r->wp_rounds; round++) {
		for (int m = 0; m < 2; m++) {
			uint64_t t0, t1, lo = ws[m] / PAGE;

			resume_vm(vm[m]);
			t0 = now_ns();
			sleep_us(WP_INTERVAL_US);
			t1 = now_ns();
			pause_vm(vm[m]);
			harvest(vm[m], bm[m]);
			if (round < 0) {
				steps0[m] = memstress_steps(vm[m], ws[m],
							    WP_WS_PAGES);
				continue;
			}
			run_ns[m] += t1 - t0;
			if (m != 0)
				continue;
			for (uint64_t p = lo; p < lo + WP_WS_PAGES; p++)
				faults += bm[m][p / 64] >> (p % 64) & 1;
		}
	}
	for (int m = 0; m < 2; m++) {
		uint64_t steps = memstress_steps(vm[m], ws[m], WP_WS_PAGES);

		r->wp_writes[m] = steps - steps0[m];
		r->wp_run_ms[m] = (double)run_ns[m] / 1e6;
		if (r->wp_writes[m] == 0)
			die("write-protect: memstress made no progress");
		resume_vm(vm[m]);
		check_alive(vm[m], "write-protect");
		vm_destroy(vm[m]);
		if (strstr(c[m].buf, "FAIL"))
			die("memstress reported a failure:\n%s", c[m].buf);
		cap_free(&c[m]);
		free(bm[m]);
	}
	r->wp_us_log = (double)run_ns[0] / 1e3 / (double)r->wp_writes[0];
	r->wp_us_nolog = (double)run_ns[1] / 1e3 / (double)r->wp_writes[1];
	r->wp_fault_us = r->wp_us_log - r->wp_us_nolog;
	r->wp_faults_per_write = (double)faults / (double)r->wp_writes[0];
	/* The same excess spread over the writes that really faulted. */
	r->wp_fault_us_per_fault =
		faults ? ((double)run_ns[0] / 1e3 -
			  (double)r->wp_writes[0] * r->wp_us_nolog) /
				 (double)faults
		       : NAN;
	if ((double)r->wp_writes[1] / r->wp_rounds > WP_WS_PAGES)
		status("write-protect: warning: %.0f unlogged writes per round "
		       "exceed the %d-page working set",
		       (double)r->wp_writes[1] / r->wp_rounds, WP_WS_PAGES);
}

/* ------------------------------------------------------------------------ */
/* Targets and output. */

struct target {
	const char *key;
	const char *label;
	double value; /* NAN: not measured in this run (--quick) */
	int at_most;
	double threshold;
	int pass;
};

#define NTARGETS 7

static int eval_targets(const struct results *r, struct target *t)
{
	int all = 1;

	t[0] = (struct target){"pause_resume_us_p99_idle",
			       "pause+resume p99, idle (us)",
			       r->pr_p99[0],
			       1,
			       T_PAUSE_P99_US,
			       0};
	t[1] = (struct target){"pause_resume_us_p99_busy",
			       "pause+resume p99, busy (us)",
			       r->pr_p99[1],
			       1,
			       T_PAUSE_P99_US,
			       0};
	t[2] = (struct target){"harvest_us_1G",	 "harvest 1G, few dirty (us)",
			       r->harvest_us[1], 1,
			       T_HARVEST_1G_US,	 0};
	for (int k = 0; k < NCOPY; k++) {
		static const char *const keys[NCOPY] = {
			"copy_pages_vs_memcpy_100", "copy_pages_vs_memcpy_1000",
			"copy_pages_vs_memcpy_10000"};
		static const char *const labels[NCOPY] = {
			"copy 100 dirty pages / memcpy",
			"copy 1000 dirty pages / memcpy",
			"copy 10000 dirty pages / memcpy"};

		t[3 + k] = (struct target){keys[k],
					   labels[k],
					   r->memcpy_gbps[k] > 0
						   ? r->copy_gbps[k] /
							     r->memcpy_gbps[k]
						   : 0,
					   0,
					   T_COPY_VS_MEMCPY,
					   0};
	}
	t[6] = (struct target){"restore_1G_read_vs_setup",
			       "restore 1G: read / set-up",
			       r->setup_ms[1] > 0
				       ? r->read_ms[1] / r->setup_ms[1]
				       : r->setup_ms[1],
			       0,
			       T_RESTORE_READ_SETUP,
			       0};
	for (int i = 0; i < NTARGETS; i++) {
		if (isnan(t[i].value)) {
			t[i].pass = 1; /* skipped: not a failure */
			continue;
		}
		t[i].pass = t[i].at_most ? t[i].value <= t[i].threshold
					 : t[i].value >= t[i].threshold;
		all &= t[i].pass;
	}
	return all;
}

static void json_by(const char *key, const char *const *names, int n,
		    const double *v, const char *fmt, int last)
{
	printf(" \"%s\": {", key);
	for (int i = 0; i < n; i++) {
		printf("%s\"%s\": ", i ? ", " : "", names[i]);
		jnum(fmt, v[i]);
	}
	printf("}%s\n", last ? "" : ",");
}

static void print_json(const struct results *r, int quick,
		       const struct target *t, int all)
{
	static const char *const kinds[2] = {"idle", "busy"};
	static const char *const ns[NCOPY] = {"100", "1000", "10000"};
	double pages[NHARVEST];

	for (int s = 0; s < NHARVEST; s++)
		pages[s] = r->harvest_pages[s] < 0
				   ? NAN
				   : (double)r->harvest_pages[s];
	printf("{\"quick\": %s, \"page_size\": %u, \"pause_resume_pairs\": "
	       "%d, \"harvest_reps\": %d, \"copy_reps\": %d,\n",
	       quick ? "true" : "false", PAGE, r->pr_pairs, r->harvest_reps,
	       r->copy_reps);
	json_by("pause_resume_us_p50", kinds, 2, r->pr_p50, "%.3f", 0);
	json_by("pause_resume_us_p99", kinds, 2, r->pr_p99, "%.3f", 0);
	json_by("pause_resume_us_max", kinds, 2, r->pr_max, "%.3f", 0);
	json_by("harvest_us", sizes_harvest, NHARVEST, r->harvest_us, "%.3f",
		0);
	json_by("harvest_dirty_pages", sizes_harvest, NHARVEST, pages, "%.0f",
		0);
	json_by("copy_pages_gbps", ns, NCOPY, r->copy_gbps, "%.4f", 0);
	printf(" \"memcpy_gbps\": ");
	jnum("%.4f", r->memcpy_gbps[NCOPY - 1]);
	printf(",\n");
	json_by("memcpy_gbps_by_n", ns, NCOPY, r->memcpy_gbps, "%.4f", 0);
	printf(" \"copy_harvest_dirty_pages\": %ld,\n", r->copy_harvested);
	json_by("snapshot_save_ms", sizes_snap, NSNAP, r->save_ms, "%.3f", 0);
	json_by("snapshot_restore_ms", sizes_snap, NSNAP, r->restore_ms, "%.3f",
		0);
	json_by("snapshot_restore_read_ms", sizes_snap, NSNAP, r->read_ms,
		"%.3f", 0);
	json_by("snapshot_restore_setup_ms", sizes_snap, NSNAP, r->setup_ms,
		"%.3f", 0);
	json_by("snapshot_file_mib", sizes_snap, NSNAP, r->file_mib, "%.3f", 0);
	json_by("snapshot_alloc_mib", sizes_snap, NSNAP, r->alloc_mib, "%.3f",
		0);
	printf(" \"wp_fault_us_per_page\": ");
	jnum("%.3f", r->wp_fault_us);
	printf(",\n \"wp_write_us\": {\"logged\": ");
	jnum("%.4f", r->wp_us_log);
	printf(", \"unlogged\": ");
	jnum("%.4f", r->wp_us_nolog);
	printf("},\n \"wp_writes\": {\"logged\": %llu, \"unlogged\": %llu},\n",
	       (unsigned long long)r->wp_writes[0],
	       (unsigned long long)r->wp_writes[1]);
	printf(" \"wp_faults_per_write\": ");
	jnum("%.4f", r->wp_faults_per_write);
	printf(",\n \"wp_fault_us_per_fault\": ");
	jnum("%.3f", r->wp_fault_us_per_fault);
	printf(",\n \"targets\": [\n");
	for (int i = 0; i < NTARGETS; i++) {
		printf("  {\"name\": \"%s\", \"value\": ", t[i].key);
		jnum("%.4f", t[i].value);
		printf(", \"op\": \"%s\", \"threshold\": %.4f, \"pass\": "
		       "%s}%s\n",
		       t[i].at_most ? "<=" : ">=", t[i].threshold,
		       isnan(t[i].value) ? "null"
		       : t[i].pass	 ? "true"
					 : "false",
		       i + 1 < NTARGETS ? "," : "");
	}
	printf(" ],\n \"pass\": %s}\n", all ? "true" : "false");
}

/* " %*.Nf" of v, or a dash when not measured (--quick). */
static void print_num(const char *fmt, double v, int width)
{
	if (isfinite(v))
		printf(fmt, width, v);
	else
		printf(" %*s", width, "-");
}

static void print_human(const struct results *r, int quick,
			const struct target *t, int all)
{
	static const char *const kinds[2] = {"idle (counter)", "busy (spin)"};
	int passed = 0, measured = 0;

	printf("remora micro-VM benchmark (%s run), %ld CPUs online\n\n",
	       quick ? "quick" : "full", sysconf(_SC_NPROCESSORS_ONLN));

	printf("pause+resume, us: %d vm_pause()+vm_resume() pairs per guest, "
	       "%d..%d us of guest run between pairs\n",
	       r->pr_pairs, PAUSE_SLEEP_MIN_US, PAUSE_SLEEP_MAX_US);
	printf("%-16s %9s %9s %9s\n", "guest", "p50", "p99", "max");
	for (int k = 0; k < 2; k++)
		printf("%-16s %9.1f %9.1f %9.1f\n", kinds[k], r->pr_p50[k],
		       r->pr_p99[k], r->pr_max[k]);

	printf("\ndirty harvest, us: idle counter guest, dirty logging on, "
	       "median of %d harvests %d us apart\n",
	       r->harvest_reps, HARVEST_RUN_US);
	printf("%-16s %9s %12s\n", "guest memory", "harvest", "dirty pages");
	for (int s = 0; s < NHARVEST; s++) {
		printf("%-16s", sizes_harvest[s]);
		print_num(" %*.1f", r->harvest_us[s], 9);
		if (r->harvest_pages[s] >= 0)
			printf(" %12ld\n", r->harvest_pages[s]);
		else
			printf(" %12s\n", "-");
	}

	printf("\ndirty page copy, GB/s: 64 MiB guest, N pages of a %ld-page "
	       "memstress harvest, bitmap walk + memcpy\nper page into a "
	       "staging buffer, vs one memcpy of N pages between host "
	       "buffers; best of %d\n",
	       r->copy_harvested, r->copy_reps);
	printf("%-16s %9s %9s %9s %9s\n", "pages", "MiB", "copy", "memcpy",
	       "ratio");
	for (int k = 0; k < NCOPY; k++)
		printf("%-16zu %9.2f %9.2f %9.2f %9.2f\n", copy_n[k],
		       (double)(copy_n[k] * PAGE) / (double)MiB,
		       r->copy_gbps[k], r->memcpy_gbps[k],
		       r->memcpy_gbps[k] > 0
			       ? r->copy_gbps[k] / r->memcpy_gbps[k]
			       : 0);

	printf("\nsnapshot, ms: memstress guest (%d-page working set; 1G: "
	       "free heap filled from the host),\nfile under %s, page cache "
	       "warm for restore; best of N\n",
	       SNAP_WS_PAGES, tmpdir);
	printf("%-16s %9s %9s %9s %9s %9s %9s\n", "guest memory", "file MiB",
	       "alloc MiB", "save", "restore", "read", "set-up");
	for (int s = 0; s < NSNAP; s++) {
		printf("%-16s", sizes_snap[s]);
		print_num(" %*.1f", r->file_mib[s], 9);
		print_num(" %*.1f", r->alloc_mib[s], 9);
		print_num(" %*.2f", r->save_ms[s], 9);
		print_num(" %*.2f", r->restore_ms[s], 9);
		print_num(" %*.2f", r->read_ms[s], 9);
		print_num(" %*.2f", r->setup_ms[s], 9);
		printf("\n");
	}

	printf("\nwrite-protect fault: memstress --rate 0 over %d pages, 64 "
	       "MiB guests, logging on/off taking turns,\n%d rounds of %d us "
	       "each, a harvest after every round\n",
	       WP_WS_PAGES, r->wp_rounds, WP_INTERVAL_US);
	printf("%-16s %12s %12s %12s\n", "dirty logging", "page writes",
	       "guest ms", "us/write");
	printf("%-16s %12llu %12.1f %12.3f\n", "on",
	       (unsigned long long)r->wp_writes[0], r->wp_run_ms[0],
	       r->wp_us_log);
	printf("%-16s %12llu %12.1f %12.3f\n", "off",
	       (unsigned long long)r->wp_writes[1], r->wp_run_ms[1],
	       r->wp_us_nolog);
	printf("wp_fault_us_per_page %.2f us (on - off); %.3f faulting writes "
	       "per write, %.2f us per faulting write\n",
	       r->wp_fault_us, r->wp_faults_per_write,
	       r->wp_fault_us_per_fault);

	printf("\ntargets\n");
	for (int i = 0; i < NTARGETS; i++) {
		if (isnan(t[i].value)) {
			printf("  %-36s %9s  %s %7.2f  SKIPPED (--quick)\n",
			       t[i].label, "-",
			       t[i].at_most ? "<=" : ">=", t[i].threshold);
			continue;
		}
		printf("  %-36s %9.3f  %s %7.2f  %s\n", t[i].label, t[i].value,
		       t[i].at_most ? "<=" : ">=", t[i].threshold,
		       t[i].pass ? "PASS" : "FAIL");
		passed += t[i].pass;
		measured++;
	}
	printf("%d/%d targets met: %s\n", passed, measured,
	       all ? "PASS" : "FAIL");

	printf("\nnotes\n"
	       "  pause+resume: vm_resume() only wakes the vCPU thread; the "
	       "pair ends when it returns.\n"
	       "  harvest: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG + the merge "
	       "with the VMM's own bitmap.\n"
	       "  copy: the N pages are spread evenly over the harvested dirty "
	       "pages; memcpy is the same\n"
	       "    byte count, contiguous, between private host buffers "
	       "(JSON memcpy_gbps: N = 10000).\n"
	       "  snapshot: save includes its fsync; restore = read (memory "
	       "extents) + set-up (the rest:\n"
	       "    open, header, vm_create, state load); alloc = st_blocks * "
	       "512 (zero pages are holes).\n"
	       "  wp fault: per-write time with dirty logging and a "
	       "re-protecting harvest every %d us,\n"
	       "    minus the same without logging; writes counted from "
	       "memstress's own step counter,\n"
	       "    time from resume to pause on the host.\n",
	       WP_INTERVAL_US);
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--json] [--strict] [--quick] [--skip-without-kvm] "
		"counter=PATH memstress=PATH spin=PATH\n"
		"\n"
		"Measures the micro-VM: pause+resume latency, dirty harvest, "
		"copying dirty\n"
		"pages out, snapshot save/restore and the write-protect fault "
		"cost, with real\n"
		"guests under /dev/kvm, and checks the issue's targets.\n"
		"\n"
		"  --json              print one JSON object on stdout and "
		"nothing else\n"
		"  --strict            exit 1 when a target is missed "
		"(default: exit 0)\n"
		"  --quick             smaller counts, no 4 GiB harvest, no 1 "
		"GiB snapshot\n"
		"                      (for smoke tests: the numbers mean "
		"little)\n"
		"  --skip-without-kvm  exit 77 (a skip for meson) rather than "
		"1 "
		"when /dev/kvm\n"
		"                      is not usable\n"
		"  --help              this text\n"
		"\n"
		"NAME=PATH: the guest ELFs (build/guest/examples/counter.elf, "
		"memstress.elf,\n"
		"build/guest/spin.elf); scripts/bench vmm passes them.\n",
		argv0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"strict", no_argument, NULL, 's'},
		{"quick", no_argument, NULL, 'q'},
		{"skip-without-kvm", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *bad;
	struct results r;
	struct target t[NTARGETS];
	int json = 0, strict = 0, quick = 0, skip = 0, opt, all;
	const char *td;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 's':
			strict = 1;
			break;
		case 'q':
			quick = 1;
			break;
		case 'k':
			skip = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	bad = named_paths(argc, argv, optind, guest_name, guest_path, NGUESTS);
	if (bad) {
		fprintf(stderr, "bench_vmm: unexpected argument '%s'\n", bad);
		usage(stderr, argv[0]);
		return 2;
	}
	load_images();
	probe_kvm(skip);

	td = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/remora-bench-vmm.XXXXXX",
		 td && *td ? td : "/var/tmp");
	if (!mkdtemp(tmpdir)) {
		int e = errno;

		snprintf(tmpdir, sizeof(tmpdir),
			 "/tmp/remora-bench-vmm.XXXXXX");
		if (!mkdtemp(tmpdir))
			die("mkdtemp: %s", strerror(e));
	}
	snprintf(snap_file, sizeof(snap_file), "%s/vm.snap", tmpdir);
	snprintf(snap_tmp, sizeof(snap_tmp), "%s.tmp", snap_file);
	atexit(cleanup_files);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	memset(&r, 0, sizeof(r));
	r.pr_pairs = quick ? 200 : 2000;
	r.harvest_reps = quick ? 5 : 20;
	r.copy_reps = quick ? 3 : 20;
	r.snap_reps[0] = quick ? 1 : 5;
	r.snap_reps[1] = quick ? 0 : 3;
	r.wp_rounds = quick ? 10 : 100;
	for (int s = 0; s < NSNAP; s++)
		r.save_ms[s] = r.restore_ms[s] = r.read_ms[s] = r.setup_ms[s] =
			r.file_mib[s] = r.alloc_mib[s] = NAN;
	for (int s = 0; s < NHARVEST; s++) {
		r.harvest_us[s] = NAN;
		r.harvest_pages[s] = -1;
	}
	status("%s run, guests: counter %s, memstress %s, spin %s, files in %s",
	       quick ? "quick" : "full", guest_path[G_COUNTER],
	       guest_path[G_MEMSTRESS], guest_path[G_SPIN], tmpdir);

	bench_pause(&r, 0);
	bench_pause(&r, 1);
	for (int s = 0; s < NHARVEST; s++)
		if (!quick || harvest_mem[s] < 4 * GiB)
			bench_harvest(&r, s);
	bench_copy(&r);
	for (int s = 0; s < NSNAP; s++)
		if (r.snap_reps[s])
			bench_snapshot(&r, s);
	bench_wp(&r);

	all = eval_targets(&r, t);
	if (json)
		print_json(&r, quick, t, all);
	else
		print_human(&r, quick, t, all);
	if (fflush(stdout) != 0)
		die("writing the results: %s", strerror(errno));
	status("done: %s", all ? "all targets met" : "targets missed");
	return strict && !all ? 1 : 0;
}
