/*
 * The micro-VM end to end, with real guests under KVM: snapshot/restore
 * continuity (counter), torn-state detection across a chain of restores and
 * across 10,000 pauses (memstress), the dirty log (exactly the pages written,
 * nothing untouched), bad guests (not an ELF, faults, bad hypercall
 * pointers), and a 4 GiB guest. Needs /dev/kvm; without it every test is
 * skipped with a message saying so.
 *
 * Guest images are passed as NAME=PATH arguments by tests/vmm/meson.build.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <cpuid.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "abi.h"
#include "console_capture.h"
#include "vmm_asserts.h"
#include "snapshot.h"
#include "vm.h"

#define MiB (1ull << 20)

static const char *guest_path[8];
static const char *const guest_name[8] = {
	"counter", "memstress", "dirty", "nullderef",
	"badptr",  "exitcode",	"spin",	 NULL,
};
static char tmpdir[256];

static const char *guest(const char *name)
{
	for (int i = 0; guest_name[i]; i++)
		if (strcmp(guest_name[i], name) == 0 && guest_path[i])
			return guest_path[i];
	fail_msg("no path for guest %s", name);
	return NULL;
}

static struct vm *boot(const char *name, const char *args, uint64_t mem,
		       int dirty_log, struct capture *c)
{
	struct vm_config cfg = {.mem_size = mem,
				.dirty_log = dirty_log,
				.console = cap_console,
				.console_opaque = c};
	struct vm *vm = vm_from_elf(guest(name), args, &cfg);

	assert_int_equal(vm_start(vm), 0);
	return vm;
}

static void snap_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* counter: snapshot at tick N, restore, the next line is tick N+1. */
static void test_counter_restore(void **state)
{
	struct vm_config cfg = {.console = cap_console};
	struct capture a, b;
	struct vm *vm;
	char path[512], err[VM_ERR_MAX];
	uint64_t clock_saved, *bm;
	long n;

	(void)state;
	assert_int_equal(cap_init(&a), 0);
	assert_int_equal(cap_init(&b), 0);
	vm = boot("counter", "--interval 5", 64 * MiB, 0, &a);
	cap_wait(&a, "tick 4\n", 0, 10000);
	assert_int_equal(vm_pause(vm), 0);
	clock_saved = vm_guest_monotonic_ns(vm);
	n = last_tick(&a);
	assert_true(n >= 4);
	snap_path(path, sizeof(path), "counter.snap");
	assert_int_equal(vm_snapshot_save(vm, path), 0);
	vm_destroy(vm);

	cfg.console_opaque = &b;
	if (vm_snapshot_restore(path, &cfg, &vm, NULL, err, sizeof(err)))
		fail_msg("restore: %s", err);
	/* The virtual clock continues from the save, never back. */
	assert_true(vm_guest_monotonic_ns(vm) >= clock_saved);
	assert_true(vm_guest_monotonic_ns(vm) < clock_saved + 1000000000ull);
	/* A peer may hold anything: every page of a restored VM is dirty. */
	bm = calloc(1, vm_bitmap_bytes(vm));
	assert_non_null(bm);
	assert_int_equal(vm_harvest_dirty(vm, bm),
			 (long)(vm_mem_size(vm) / VM_PAGE_SIZE));
	assert_int_equal(vm_harvest_dirty(vm, bm), 0);
	free(bm);
	assert_int_equal(vm_start(vm), 0);
	expect_ticks_continue(&b, n);
	vm_destroy(vm);
	unlink(path);
	cap_free(&a);
	cap_free(&b);
}

/* memstress: run, snapshot, restore, self-check; 20 times in a chain. */
static void test_memstress_chain(void **state)
{
	struct vm_config cfg = {.console = cap_console};
	struct capture c[2];
	char path[512], err[VM_ERR_MAX];
	struct vm *vm;
	int i;

	(void)state;
	snap_path(path, sizeof(path), "memstress.snap");
	assert_int_equal(cap_init(&c[0]), 0);
	vm = boot("memstress",
		  "--pages 512 --rate 50 --seed 11 --check-every 0", 64 * MiB,
		  0, &c[0]);
	cap_wait(&c[0], " ok\n", 0, 10000); /* the check at start */
	for (i = 0; i < 20; i++) {
		struct capture *cur = &c[i % 2], *next = &c[(i + 1) % 2];

		usleep(20000 + (useconds_t)(i * 3000));
		assert_int_equal(vm_pause(vm), 0);
		assert_int_equal(vm_snapshot_save(vm, path), 0);
		vm_destroy(vm);
		assert_null(strstr(cur->buf, "FAIL"));
		cap_free(cur);

		assert_int_equal(cap_init(next), 0);
		cfg.console_opaque = next;
		if (vm_snapshot_restore(path, &cfg, &vm, NULL, err,
					sizeof(err)))
			fail_msg("restore %d: %s", i, err);
		assert_int_equal(vm_start(vm), 0);
		/* A restore asks memstress for a full self-check. */
		cap_wait(next, " ok\n", 0, 10000);
		assert_null(strstr(next->buf, "FAIL"));
	}
	vm_destroy(vm);
	cap_free(&c[20 % 2]);
	unlink(path);
}

static int bit(const uint64_t *bm, uint64_t gpa)
{
	uint64_t p = gpa / VM_PAGE_SIZE;

	return (int)(bm[p / 64] >> (p % 64)) & 1;
}

/* The dirty log reports every page written and none left untouched. */
static void test_dirty_log(void **state)
{
	static const uint64_t written[] = {0x800000, 0x801000, 0x9000ab,
					   0x1234567, 0x3f00010};
	static const uint64_t untouched[] = {0x802000, 0xa00000, 0x2000000,
					     0x3e00000};
	char args[256];
	struct capture c;
	struct vm *vm;
	uint64_t *bm;
	size_t off = 0;
	long n, n2;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		off += (size_t)snprintf(args + off, sizeof(args) - off,
					"0x%llx ",
					(unsigned long long)written[i]);
	memmove(args + 7, args, off + 1);
	memcpy(args, "--wait ", 7);
	assert_int_equal(cap_init(&c), 0);
	vm = boot("dirty", args, 64 * MiB, 1, &c);
	bm = calloc(1, vm_bitmap_bytes(vm));
	assert_non_null(bm);
	cap_wait(&c, "dirty done\n", 0, 10000);
	assert_int_equal(vm_pause(vm), 0);
	n = vm_harvest_dirty(vm, bm);
	assert_true(n > 0);
	for (i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		if (!bit(bm, written[i]))
			fail_msg("written page 0x%llx not reported",
				 (unsigned long long)written[i]);
	for (i = 0; i < sizeof(untouched) / sizeof(untouched[0]); i++)
		if (bit(bm, untouched[i]))
			fail_msg("untouched page 0x%llx reported",
				 (unsigned long long)untouched[i]);
	/* The page at 0 is never mapped, so nothing can dirty it. */
	assert_false(bit(bm, 0));
	/* What else is dirty: the runtime's own pages, for the docs. */
	fprintf(stderr, "first harvest: %ld dirty pages:", n);
	for (uint64_t p = 0; p < vm_mem_size(vm) / VM_PAGE_SIZE; p++)
		if (bit(bm, p * VM_PAGE_SIZE))
			fprintf(stderr, " 0x%llx",
				(unsigned long long)(p * VM_PAGE_SIZE));
	fprintf(stderr, "\n");

	/* A new interval: the guest only sleeps, so its pages stay clean. */
	assert_int_equal(vm_resume(vm), 0);
	usleep(50000);
	assert_int_equal(vm_pause(vm), 0);
	n2 = vm_harvest_dirty(vm, bm);
	assert_true(n2 >= 0 && n2 < n);
	for (i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		if (bit(bm, written[i]))
			fail_msg("page 0x%llx reported again without a write",
				 (unsigned long long)written[i]);
	fprintf(stderr, "sleeping-guest harvest: %ld dirty pages:", n2);
	for (uint64_t p = 0; p < vm_mem_size(vm) / VM_PAGE_SIZE; p++)
		if (bit(bm, p * VM_PAGE_SIZE))
			fprintf(stderr, " 0x%llx",
				(unsigned long long)(p * VM_PAGE_SIZE));
	fprintf(stderr, "\n");
	free(bm);
	vm_destroy(vm);
	cap_free(&c);
}

/*
 * Hot pages (vm.h): the guest writes one page every 2 ms (the byte is the
 * round number, so every write changes it), and the test harvests every 5
 * ms. Exact at every harvest: a page whose byte changed since the last one
 * is reported (no write is missed, hot or not), and never more than
 * hot_max pages are hot. Once the guest stops writing, the page is still
 * reported while it is hot (unchanged: so it was hot), for at most
 * VM_HOT_LIFE harvests, and then never again.
 */
static void test_hot_pages(void **state)
{
	const uint64_t page = 0x800000;
	struct vm_config cfg = {.mem_size = 64 * MiB,
				.dirty_log = 1,
				.hot_max = 8,
				.console = cap_console};
	struct vm_hot_stats hs;
	struct capture c;
	struct vm *vm;
	uint64_t *bm;
	uint8_t last;
	int harvests = 0, unchanged_reports = 0, after = 0, done = 0;

	(void)state;
	assert_int_equal(cap_init(&c), 0);
	cfg.console_opaque = &c;
	/* 100 writes 2 ms apart end within ~40 harvests of 5 ms or more,
	 * well before the page's first cooling (VM_HOT_LIFE harvests on):
	 * so the writes surely end while it is hot, on any host. */
	vm = vm_from_elf(guest("dirty"),
			 "--wait --repeat 100 --every 2 0x800000", &cfg);
	bm = calloc(1, vm_bitmap_bytes(vm));
	assert_non_null(bm);
	last = vm_mem(vm)[page];
	assert_int_equal(vm_start(vm), 0);
	/* While it writes, and then VM_HOT_LIFE + 4 harvests more. */
	while (!done || after < (int)VM_HOT_LIFE + 4) {
		uint8_t now;
		int reported;

		usleep(5000);
		assert_int_equal(vm_pause(vm), 0);
		assert_true(vm_harvest_dirty(vm, bm) >= 0);
		harvests++;
		now = vm_mem(vm)[page];
		reported = bit(bm, page);
		if (now != last && !reported)
			fail_msg("harvest %d: the page changed (%u -> %u) "
				 "but was not reported",
				 harvests, last, now);
		vm_hot_stats(vm, &hs);
		assert_true(hs.now <= 8);
		if (done) {
			/* The guest no longer writes it. */
			assert_int_equal(now, last);
			after++;
			if (reported && unchanged_reports < after - 1)
				fail_msg("reported again %d harvests after "
					 "it cooled",
					 after);
			unchanged_reports += reported;
		}
		last = now;
		/* Read before resuming: the last round is then in `last`. */
		if (!done && cap_has(&c, "dirty done\n")) {
			done = 1;
			last = vm_mem(vm)[page];
		}
		assert_int_equal(vm_resume(vm), 0);
		if (harvests > 20000)
			fail_msg("the guest did not finish its writes");
	}
	vm_hot_stats(vm, &hs);
	fprintf(stderr,
		"hot pages: %d harvests, made %llu, cooled %llu, reported "
		"%llu; the page reported %d times unchanged after the last "
		"write\n",
		harvests, (unsigned long long)hs.made,
		(unsigned long long)hs.cooled, (unsigned long long)hs.reported,
		unchanged_reports);
	assert_int_equal(last, 100);
	assert_true(hs.made >= 1);
	assert_true(hs.cooled >= 1);
	/* Hot when the writes ended (the guest wrote it within the last
	 * harvests), so reported unchanged for a while, then cooled. */
	assert_true(unchanged_reports >= 1);
	assert_true(unchanged_reports <= (int)VM_HOT_LIFE);
	free(bm);
	vm_destroy(vm);
	cap_free(&c);
}

static int cpu_is_amd(void)
{
	unsigned a, b, c, d;

	/* The vendor string is in EBX, EDX, ECX: "Auth" "enti" "cAMD". */
	return __get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541u &&
	       d == 0x69746e65u && c == 0x444d4163u;
}

/* Runs a guest to its end; returns how it stopped. */
static struct vm_status run_to_end(const char *name, const char *args)
{
	struct vm_status st;
	struct capture c;
	struct vm *vm;

	assert_int_equal(cap_init(&c), 0);
	vm = boot(name, args, 16 * MiB, 0, &c);
	assert_int_equal(vm_wait(vm, 20000, &st), 0);
	vm_destroy(vm);
	cap_free(&c);
	return st;
}

static void test_bad_guests(void **state)
{
	struct vm_config cfg = {.mem_size = 16 * MiB};
	static const char text[] = "#!/bin/sh\necho not an ELF\n";
	char err[VM_ERR_MAX];
	struct vm_status st;
	struct vm *vm;

	(void)state;
	assert_int_equal(vm_create(&vm, &cfg, err, sizeof(err)), 0);
	assert_int_equal(
		vm_load_elf(vm, (const uint8_t *)text, sizeof(text), ""),
		-ENOEXEC);
	assert_non_null(strstr(vm_error(vm), "not an ELF"));
	vm_destroy(vm);

	st = run_to_end("nullderef", "");
	assert_int_equal(st.how, VM_CRASHED);
	assert_non_null(strstr(st.msg, "guest crashed"));
	/* Where it died; only KVM on AMD resets the vCPU at the shutdown,
	 * and then the report says so and claims no registers. */
	if (strstr(st.msg, "registers unknown")) {
		assert_true(cpu_is_amd());
		assert_true(st.rip == 0 && st.rsp == 0);
	} else {
		assert_true(st.rip >= REMORA_LOAD_MIN);
	}
	fprintf(stderr, "nullderef: %s\n", st.msg);

	st = run_to_end("nullderef", "--jump");
	assert_int_equal(st.how, VM_CRASHED);
	fprintf(stderr, "nullderef --jump: %s\n", st.msg);

	st = run_to_end("badptr", "");
	assert_int_equal(st.how, VM_FAILED);
	assert_non_null(strstr(st.msg, "outside guest memory"));
	fprintf(stderr, "badptr: %s\n", st.msg);
	st = run_to_end("badptr", "--block");
	assert_int_equal(st.how, VM_FAILED);
	assert_non_null(strstr(st.msg, "argument block"));
	st = run_to_end("badptr", "--len");
	assert_int_equal(st.how, VM_FAILED);
	assert_non_null(strstr(st.msg, "outside guest memory"));

	st = run_to_end("exitcode", "42");
	assert_int_equal(st.how, VM_EXITED);
	assert_int_equal(st.code, 42);
	st = run_to_end("exitcode", "--abort \"out of cheese\"");
	assert_int_equal(st.how, VM_ABORTED);
	assert_non_null(strstr(st.msg, "out of cheese"));
}

/* 10,000 pauses from another thread never tear memstress's state. */
static void test_pause_resume_10000(void **state)
{
	struct capture c;
	struct vm *vm;
	size_t off;
	int i;

	(void)state;
	assert_int_equal(cap_init(&c), 0);
	vm = boot("memstress", "--pages 1024 --rate 0 --seed 5 --check-every 0",
		  64 * MiB, 1, &c);
	off = cap_wait(&c, " ok\n", 0, 10000);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(vm_pause(vm), 0);
		assert_int_equal(vm_resume(vm), 0);
	}
	assert_int_equal(vm_pause(vm), 0);
	vm_request_check(vm);
	assert_int_equal(vm_resume(vm), 0);
	cap_wait(&c, " ok\n", off, 20000);
	assert_null(strstr(c.buf, "FAIL"));
	vm_destroy(vm);
	cap_free(&c);
}

/* A 4 GiB guest runs, and its dirty log can be harvested. */
static void test_4gib_guest(void **state)
{
	struct capture c;
	struct vm *vm;
	uint64_t *bm;

	(void)state;
	assert_int_equal(cap_init(&c), 0);
	vm = boot("counter", "--interval 5", 4096 * MiB, 1, &c);
	cap_wait(&c, "tick 2\n", 0, 10000);
	assert_int_equal(vm_pause(vm), 0);
	bm = calloc(1, vm_bitmap_bytes(vm));
	assert_non_null(bm);
	assert_true(vm_harvest_dirty(vm, bm) > 0);
	/* The stack is at the top of the 4 GiB. */
	assert_true(bit(bm, 4096 * MiB - VM_PAGE_SIZE));
	free(bm);
	vm_destroy(vm);
	cap_free(&c);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_restore),
		cmocka_unit_test(test_memstress_chain),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_hot_pages),
		cmocka_unit_test(test_bad_guests),
		cmocka_unit_test(test_pause_resume_10000),
		cmocka_unit_test(test_4gib_guest),
	};
	int i, ret;

	for (i = 1; i < argc; i++)
		for (int j = 0; guest_name[j]; j++) {
			size_t l = strlen(guest_name[j]);

			if (strncmp(argv[i], guest_name[j], l) == 0 &&
			    argv[i][l] == '=')
				guest_path[j] = argv[i] + l + 1;
		}
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: /dev/kvm is not usable here (%s); the micro-VM "
		       "tests need KVM and root\n",
		       strerror(errno));
		return 77;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/remora-test-vmm.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return ret;
}
