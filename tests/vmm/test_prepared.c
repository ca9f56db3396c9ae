/*
 * A promotion made ahead, under KVM: a VM whose vCPU thread is started
 * parked runs nothing until vm_start() (or vm_pause() + vm_resume()); a VM
 * made on a replica's memfd before the replica holds the guest sees what
 * the replica writes afterwards and, once the state is loaded, continues
 * the guest exactly where a VM made at the promotion would (counter: the
 * next tick); primary_prepare() keeps what it made for the same memory
 * file and rebuilds it for another one (a sync replaced the replica's
 * memfd). Needs /dev/kvm; without it every test is skipped with a message
 * saying so.
 *
 *   test_prepared counter=PATH
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "console_capture.h"
#include "vmm_asserts.h"
#include "primary.h"
#include "vm.h"

#define MiB (1ull << 20)

static const char *counter_path;

/* The counter guest loaded into a fresh VM, not started. */
static struct vm *counter_vm(struct capture *c, uint64_t mem)
{
	struct vm_config cfg = {
		.mem_size = mem, .console = cap_console, .console_opaque = c};

	return vm_from_elf(counter_path, "--interval 5", &cfg);
}

static int memfd_of(uint64_t size)
{
	int fd = memfd_create("test-replica", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* Parked: nothing runs until vm_start(), which does not fail as a second
 * start would; parked then paused and resumed runs too. */
static void test_parked_runs_only_when_started(void **state)
{
	struct capture c;
	struct vm *vm;
	int how;

	(void)state;
	for (how = 0; how < 2; how++) {
		assert_int_equal(cap_init(&c), 0);
		vm = counter_vm(&c, 16 * MiB);
		assert_int_equal(vm_start_parked(vm), 0);
		assert_int_equal(vm_start_parked(vm), -EBUSY);
		usleep(100000);
		assert_int_equal(c.len, 0); /* 20 ticks' time: none */
		if (how == 0) {
			assert_int_equal(vm_start(vm), 0);
		} else {
			assert_int_equal(vm_pause(vm), 0);
			/* An ordinary pause now: only vm_resume() runs it. */
			assert_int_equal(vm_start(vm), -EBUSY);
			assert_int_equal(vm_resume(vm), 0);
		}
		cap_wait(&c, "tick 3\n", 0, 10000);
		assert_int_equal(vm_start(vm), -EBUSY); /* running */
		vm_destroy(vm);
		cap_free(&c);
	}
	/* Never started at all: destroyed parked, no thread left behind. */
	assert_int_equal(cap_init(&c), 0);
	vm = counter_vm(&c, 16 * MiB);
	assert_int_equal(vm_start_parked(vm), 0);
	vm_destroy(vm);
	assert_int_equal(c.len, 0);
	cap_free(&c);
}

/*
 * The replica's memfd gets its VM made (and parked) while still empty;
 * the guest's memory is written into it afterwards, through another
 * mapping, as replica_commit() does. With the state loaded, the guest's
 * first line is the tick after the one it stopped at.
 */
static void test_made_ahead_continues_the_guest(void **state)
{
	const uint64_t mem = 64 * MiB;
	struct vm_config cfg = {
		.mem_size = mem, .dirty_log = 1, .console = cap_console};
	struct capture a, b;
	char err[VM_ERR_MAX];
	uint8_t *blob, *replica;
	struct vm *vm, *ahead;
	size_t blob_len;
	long n;
	int fd;

	(void)state;
	assert_int_equal(cap_init(&a), 0);
	assert_int_equal(cap_init(&b), 0);
	fd = memfd_of(mem);
	cfg.console_opaque = &b;
	if (vm_create_from_memfd(&ahead, &cfg, fd, err, sizeof(err)))
		fail_msg("vm_create_from_memfd: %s", err);
	assert_int_equal(vm_start_parked(ahead), 0);

	vm = counter_vm(&a, mem);
	assert_int_equal(vm_start(vm), 0);
	cap_wait(&a, "tick 4\n", 0, 10000);
	assert_int_equal(vm_pause(vm), 0);
	n = last_tick(&a);
	blob = malloc(VM_STATE_MAX);
	assert_non_null(blob);
	assert_int_equal(vm_state_save(vm, blob, &blob_len), 0);
	replica = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(replica != MAP_FAILED);
	memcpy(replica, vm_mem(vm), mem);
	munmap(replica, mem);
	vm_destroy(vm);
	close(fd); /* the VM holds its own descriptor */

	assert_int_equal(vm_state_load(ahead, blob, blob_len), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(vm_start(ahead), 0);
	expect_ticks_continue(&b, n);
	vm_destroy(ahead);
	free(blob);
	cap_free(&a);
	cap_free(&b);
}

/*
 * primary_prepare(): made once per memory file. The same file again (by
 * another descriptor too) keeps it; a sync's new memfd rebuilds it; a
 * workload type with nothing to make ahead makes nothing.
 */
static void test_prepare_follows_the_replica_memfd(void **state)
{
	const uint64_t mem = 16 * MiB;
	struct config cfg;
	struct primary *p;
	char err[256];
	int a, a2, b;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.workload.kind = CONFIG_WORKLOAD_KVM;
	cfg.replication.max_inflight_epochs = 2;
	p = primary_alloc();
	assert_non_null(p);
	a = memfd_of(mem);
	b = memfd_of(mem);
	a2 = dup(a);
	assert_true(a2 >= 0);
	if (primary_prepare(p, &cfg, a, mem, err, sizeof(err)) != 1)
		fail_msg("primary_prepare: %s", err);
	assert_int_equal(primary_prepare(p, &cfg, a, mem, err, sizeof(err)), 0);
	assert_int_equal(primary_prepare(p, &cfg, a2, mem, err, sizeof(err)),
			 0);
	close(a);
	close(a2);
	assert_int_equal(primary_prepare(p, &cfg, b, mem, err, sizeof(err)), 1);
	assert_int_equal(primary_prepare(p, &cfg, b, mem, err, sizeof(err)), 0);
	/* A memfd of the wrong size: an error, and a promotion makes its
	 * own VM (and fails the same way there). */
	a = memfd_of(mem / 2);
	assert_true(primary_prepare(p, &cfg, a, mem, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "memfd"));
	close(a);
	assert_int_equal(primary_prepare(p, &cfg, b, mem, err, sizeof(err)), 1);
	close(b);
	cfg.workload.kind = CONFIG_WORKLOAD_PROCESS;
	b = memfd_of(mem);
	assert_int_equal(primary_prepare(p, &cfg, b, mem, err, sizeof(err)), 0);
	close(b);
	primary_free(p); /* frees the VM made ahead */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parked_runs_only_when_started),
		cmocka_unit_test(test_made_ahead_continues_the_guest),
		cmocka_unit_test(test_prepare_follows_the_replica_memfd),
	};
	int fd;

	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "counter=", 8) == 0)
			counter_path = argv[i] + 8;
	if (!counter_path) {
		fprintf(stderr, "usage: test_prepared counter=PATH\n");
		return 2;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s (the prepared-promotion tests need "
		       "KVM)\n",
		       strerror(errno));
		return 77;
	}
	close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
