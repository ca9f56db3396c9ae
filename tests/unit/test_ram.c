/*
 * ram_make(): guest-sized memory with the chosen backing. Normal memory
 * always; hugetlb where the host's pool has room (root can reserve it:
 * sysctl vm.nr_hugepages), and otherwise its refusal, which must name the
 * shortfall and the setting.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ram.h"

#define MIB (1ull << 20)

/* Zero at first, keeps what is written, and is visible through its fd. */
static void check_memory(int fd, uint8_t *mem, uint64_t size)
{
	uint8_t b = 0;

	assert_true(fd >= 0);
	assert_non_null(mem);
	for (uint64_t off = 0; off < size; off += 4096)
		assert_int_equal(mem[off], 0);
	mem[size - 1] = 0xa5;
	assert_int_equal(pread(fd, &b, 1, (off_t)(size - 1)), 1);
	assert_int_equal(b, 0xa5);
}

static void test_normal(void **state)
{
	char err[256] = "";
	uint8_t *mem = NULL;
	int fd = -1;

	(void)state;
	assert_int_equal(
		ram_make(6 * MIB + 4096, 0, "t", &fd, &mem, err, sizeof(err)),
		0);
	check_memory(fd, mem, 6 * MIB + 4096);
	ram_drop(6 * MIB + 4096, &fd, &mem);
	assert_int_equal(fd, -1);
	assert_null(mem);
	ram_drop(6 * MIB, &fd, &mem); /* twice: nothing to do */
	assert_int_equal(fd, -1);
	assert_null(mem);
}

/* Not a whole number of huge pages: refused before anything is made. */
static void test_hugetlb_size(void **state)
{
	char err[256] = "";
	uint8_t *mem = NULL;
	int fd = -1;

	(void)state;
	assert_int_equal(ram_make(3 * MIB, 1, "t", &fd, &mem, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a multiple of 2 MiB"));
	assert_int_equal(fd, -1);
	assert_null(mem);
}

/* More than the pool holds: one line that says how much to reserve. */
static void test_hugetlb_short_pool(void **state)
{
	long free_pages = ram_pool_unreserved();
	uint64_t want = (uint64_t)(free_pages > 0 ? free_pages : 0) * 2 * MIB +
			64 * MIB;
	char err[512] = "";
	uint8_t *mem = NULL;
	int fd = -1;

	(void)state;
	assert_int_equal(ram_make(want, 1, "t", &fd, &mem, err, sizeof(err)),
			 -ENOMEM);
	assert_int_equal(fd, -1);
	assert_null(mem);
	assert_non_null(strstr(err, "memory_backing = hugetlb"));
	if (free_pages >= 0) {
		char more[64];

		snprintf(more, sizeof(more), "reserve 32 more 2 MiB pages");
		assert_non_null(strstr(err, more));
		assert_non_null(strstr(err, "vm.nr_hugepages"));
	}
	assert_null(strchr(err, '\n'));
}

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * Where the pool has room: the same guarantees as normal memory. Root
 * grows a short pool by 2 pages for the test, and gives them back.
 */
static void test_hugetlb(void **state)
{
	long before = -1;
	char err[512] = "";
	uint8_t *mem = NULL;
	int fd = -1, ret;

	(void)state;
	if (ram_pool_unreserved() < 2 && geteuid() == 0) {
		before = read_long(NR_HUGEPAGES);
		if (before < 0 || write_long(NR_HUGEPAGES, before + 2))
			before = -1;
	}
	if (ram_pool_unreserved() < 2) {
		if (before >= 0)
			write_long(NR_HUGEPAGES, before);
		printf("SKIP hugetlb memory: fewer than 2 free 2 MiB pages in "
		       "the pool%s (the refusal is tested above)\n",
		       geteuid() ? " and not root to reserve them"
				 : ", and the kernel would not add them");
		skip();
	}
	ret = ram_make(4 * MIB, 1, "t", &fd, &mem, err, sizeof(err));
	if (!ret) {
		check_memory(fd, mem, 4 * MIB);
		ram_drop(4 * MIB, &fd, &mem);
	}
	if (before >= 0)
		assert_int_equal(write_long(NR_HUGEPAGES, before), 0);
	if (ret)
		fail_msg("%s", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal),
		cmocka_unit_test(test_hugetlb_size),
		cmocka_unit_test(test_hugetlb_short_pool),
		cmocka_unit_test(test_hugetlb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
