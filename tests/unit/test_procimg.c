/*
 * Unit tests for a process workload's image sets in its page space
 * (common/proc/procimg.c, procset.c), no CRIU needed: manifests built and
 * walked back, every malformed manifest or state blob refused with a
 * reason; and synthetic dumps (pagemaps written with pagemap_write())
 * loaded into a space and rebuilt byte for byte, with exactly the changed
 * pages marked, and a space whose manifest does not match its state
 * refused before anything is written. test_proc does the same with real
 * CRIU dumps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bytes.h"
#include "pagemap.h"
#include "procimg.h"
#include "procset.h"

#define PG    PROCIMG_PAGE_SIZE
#define SPACE (8u << 20) /* 2048 pages: 256 of them the image region */

/* --- manifests ------------------------------------------------------------ */

static void test_manifest_roundtrip(void **state)
{
	static uint8_t buf[1 << 16];
	struct procimg_builder b;
	struct procimg_file f;
	uint32_t slot, pages;
	size_t len, pos = 0;
	char why[200];

	(void)state;
	procimg_begin(&b, buf, sizeof(buf));
	assert_int_equal(
		procimg_add_bytes(&b, "core-1.img", (const uint8_t *)"abc", 3),
		0);
	assert_int_equal(procimg_add_pages(&b, "pages-1.img"), 0);
	/* 5 6 7 then 9, then 2: three runs */
	for (uint32_t s = 5; s < 8; s++)
		assert_int_equal(procimg_add_slot(&b, s), 0);
	assert_int_equal(procimg_add_slot(&b, 9), 0);
	assert_int_equal(procimg_add_slot(&b, 2), 0);
	assert_int_equal(procimg_add_bytes(&b, "empty.img", NULL, 0), 0);
	len = procimg_end(&b);
	assert_int_equal(procimg_check(buf, len, 10, why, sizeof(why)), 0);

	assert_true(procimg_next(buf, len, &pos, &f));
	assert_string_equal(f.name, "core-1.img");
	assert_int_equal(f.kind, PROCIMG_BYTES);
	assert_int_equal(f.size, 3);
	assert_memory_equal(f.data, "abc", 3);
	assert_true(procimg_next(buf, len, &pos, &f));
	assert_string_equal(f.name, "pages-1.img");
	assert_int_equal(f.kind, PROCIMG_PAGES);
	assert_int_equal(f.nruns, 3);
	assert_int_equal(f.size, 5 * PG);
	procimg_run(&f, 0, &slot, &pages);
	assert_int_equal(slot, 5);
	assert_int_equal(pages, 3);
	procimg_run(&f, 1, &slot, &pages);
	assert_int_equal(slot, 9);
	assert_int_equal(pages, 1);
	procimg_run(&f, 2, &slot, &pages);
	assert_int_equal(slot, 2);
	assert_int_equal(pages, 1);
	assert_true(procimg_next(buf, len, &pos, &f));
	assert_string_equal(f.name, "empty.img");
	assert_int_equal(f.size, 0);
	assert_false(procimg_next(buf, len, &pos, &f));

	/* slot 9 is outside a space of 9 data pages */
	assert_int_equal(procimg_check(buf, len, 9, why, sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "pages-1.img: run 1"));
}

static void test_manifest_builder_bounds(void **state)
{
	uint8_t buf[64];
	struct procimg_builder b;
	static const uint8_t big[100];

	(void)state;
	procimg_begin(&b, buf, sizeof(buf));
	assert_int_equal(procimg_add_bytes(&b, "a/b", NULL, 0), -EINVAL);
	assert_int_equal(procimg_add_bytes(&b, "..", NULL, 0), -EINVAL);
	assert_int_equal(procimg_add_bytes(&b, "", NULL, 0), -EINVAL);
	assert_int_equal(procimg_add_bytes(&b, "x y", NULL, 0), -EINVAL);
	assert_int_equal(procimg_add_bytes(&b, "big.img", big, sizeof(big)),
			 -ENOSPC);
	assert_int_equal(procimg_add_slot(&b, 1), -EINVAL); /* no file */
	assert_int_equal(procimg_add_pages(&b, "pages-1.img"), 0);
	for (uint32_t s = 0; s < 1000; s += 2)
		if (procimg_add_slot(&b, s))
			break;
	assert_int_equal(procimg_add_slot(&b, 5000), -ENOSPC);
}

/* A valid manifest with one file of each kind, for the refusals. */
static size_t sample(uint8_t *buf, size_t cap)
{
	struct procimg_builder b;

	procimg_begin(&b, buf, cap);
	assert_int_equal(
		procimg_add_bytes(&b, "core-1.img", (const uint8_t *)"abcd", 4),
		0);
	assert_int_equal(procimg_add_pages(&b, "pages-1.img"), 0);
	assert_int_equal(procimg_add_slot(&b, 3), 0);
	return procimg_end(&b);
}

#define REFUSED(m, len, want)                                                 \
	do {                                                                  \
		char why_[200] = "";                                          \
		int err_ = procimg_check(m, len, 10, why_, sizeof(why_));     \
		if (err_ != -EBADMSG || !strstr(why_, want))                  \
			fail_msg("got %d '%s', want '%s'", err_, why_, want); \
	} while (0)

static void test_manifest_refusals(void **state)
{
	uint8_t buf[256], m[256];
	size_t len = sample(buf, sizeof(buf));

	(void)state;
	memcpy(m, buf, len);
	m[0] ^= 1;
	REFUSED(m, len, "not a version 1 image manifest");
	memcpy(m, buf, len);
	put_le32(m + 4, 2);
	REFUSED(m, len, "not a version 1");
	REFUSED(buf, 10, "not a version 1");
	/* cut anywhere inside the files */
	for (size_t cut = PROCIMG_HEADER_LEN; cut < len; cut++) {
		char why[200] = "";

		assert_int_equal(procimg_check(buf, cut, 10, why, sizeof(why)),
				 -EBADMSG);
		assert_true(why[0] != '\0');
	}
	/* trailing bytes, a file too many, one too few */
	memcpy(m, buf, len);
	m[len] = 0;
	REFUSED(m, len + 1, "1 bytes after the last of 2 files");
	memcpy(m, buf, len);
	put_le32(m + 8, 3);
	REFUSED(m, len, "manifest ends inside a file header");
	put_le32(m + 8, 1);
	REFUSED(m, len, "after the last of 1 files");
	/* a kind, a name */
	memcpy(m, buf, len);
	m[PROCIMG_HEADER_LEN] = 3;
	REFUSED(m, len, "unknown kind 3");
	memcpy(m, buf, len);
	m[PROCIMG_HEADER_LEN + 2] = '/';
	REFUSED(m, len, "bad name");
	/* a size past the end, a run count past the end, an empty run */
	memcpy(m, buf, len);
	put_le64(m + PROCIMG_HEADER_LEN + 2 + 10, 1000);
	REFUSED(m, len, "core-1.img: 1000 bytes");
	memcpy(m, buf, len);
	put_le32(m + len - 12, 2);
	REFUSED(m, len, "pages-1.img: 2 runs, room for 1");
	memcpy(m, buf, len);
	put_le32(m + len - 4, 0);
	REFUSED(m, len, "pages-1.img: run 0 (slot 3, 0 pages)");
	memcpy(m, buf, len);
	put_le32(m + len - 8, UINT32_MAX);
	REFUSED(m, len, "outside the 10 data pages");
}

static void test_state(void **state)
{
	uint8_t buf[256], st[PROCIMG_STATE_LEN], bad[PROCIMG_STATE_LEN];
	uint64_t npages = SPACE / PG, region = procimg_region_pages(npages);
	struct procimg_state_view v;
	size_t len = sample(buf, sizeof(buf));
	char why[200];

	(void)state;
	assert_int_equal(region, 256);
	assert_int_equal(procimg_region_pages(1024), 256);	 /* 1 MiB */
	assert_int_equal(procimg_region_pages(1u << 20), 16384); /* 64 MiB */
	assert_int_equal(procimg_region_pages(300), 150);	 /* half */
	procimg_state(st, npages - region, buf, len);
	assert_int_equal(procimg_state_parse(st, sizeof(st), npages, &v, why,
					     sizeof(why)),
			 0);
	assert_int_equal(v.data_pages, npages - region);
	assert_int_equal(v.len, len);

	assert_int_equal(procimg_state_parse(st, sizeof(st) - 1, npages, &v,
					     why, sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "31 bytes"));
	/* a VM's state, another version, another memory size, too long */
	memcpy(bad, st, sizeof(st));
	bad[0] ^= 1;
	assert_int_equal(procimg_state_parse(bad, sizeof(bad), npages, &v, why,
					     sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "another workload type"));
	memcpy(bad, st, sizeof(st));
	put_le32(bad + 4, 9);
	assert_int_equal(procimg_state_parse(bad, sizeof(bad), npages, &v, why,
					     sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "version 9"));
	assert_int_equal(procimg_state_parse(st, sizeof(st), npages * 2, &v,
					     why, sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "[workload] memory differs"));
	memcpy(bad, st, sizeof(st));
	put_le64(bad + 16, region * PG + 1);
	assert_int_equal(procimg_state_parse(bad, sizeof(bad), npages, &v, why,
					     sizeof(why)),
			 -EBADMSG);
	assert_non_null(strstr(why, "image region holds"));
}

/* --- synthetic dumps ------------------------------------------------------ */

static void put_file(const char *dir, const char *name, const void *data,
		     size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint8_t *get_file(const char *dir, const char *name, size_t *len)
{
	char path[512];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	buf = malloc(*len + 1);
	assert_int_equal(read(fd, buf, *len), (ssize_t)*len);
	close(fd);
	return buf;
}

/* A task pid's pagemap of runs + its pages-ID.img (page k of run r filled
 * with fill(pid, vaddr)). */
static void put_task(const char *dir, int pid, unsigned pages_id,
		     const struct pagemap_run *runs, size_t nruns, int gen)
{
	struct pagemap pm = {.pages_id = pages_id,
			     .run = (struct pagemap_run *)runs,
			     .nruns = nruns};
	uint8_t img[4096], *pages;
	char name[64];
	size_t need, at = 0;
	long n;

	for (size_t r = 0; r < nruns; r++)
		pm.npages += runs[r].nr_pages;
	n = pagemap_write(&pm, img, sizeof(img), &need);
	assert_true(n > 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	put_file(dir, name, img, (size_t)n);
	pages = calloc(pm.npages, PG);
	for (size_t r = 0; r < nruns; r++)
		for (uint64_t k = 0; k < runs[r].nr_pages; k++, at++) {
			uint64_t va = runs[r].vaddr + k * PG;

			memcpy(pages + at * PG, &va, 8);
			pages[at * PG + 8] = (uint8_t)pid;
			pages[at * PG + 9] = (uint8_t)gen;
			/* page 0x402000 of every task changes with gen */
			if (va == 0x402000)
				pages[at * PG + 100] = (uint8_t)(gen * 7);
		}
	snprintf(name, sizeof(name), "pages-%u.img", pages_id);
	put_file(dir, name, pages, pm.npages * PG);
	free(pages);
}

static void rm_dir(const char *dir)
{
	procset_clear_dir(dir, NULL, 0);
	rmdir(dir);
}

/* Every file of a is in b with the same bytes, and b has no other. */
static void same_dirs(const char *a, const char *b)
{
	DIR *dp = opendir(a);
	struct dirent *e;
	int na = 0, nb = 0;

	assert_non_null(dp);
	while ((e = readdir(dp))) {
		uint8_t *x, *y;
		size_t lx, ly;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "dump.log"))
			continue;
		x = get_file(a, e->d_name, &lx);
		y = get_file(b, e->d_name, &ly);
		if (lx != ly || memcmp(x, y, lx))
			fail_msg("%s differs after the rebuild", e->d_name);
		free(x);
		free(y);
		na++;
	}
	closedir(dp);
	dp = opendir(b);
	while ((e = readdir(dp)))
		nb += e->d_name[0] != '.';
	closedir(dp);
	assert_int_equal(na, nb);
}

static uint64_t count_changed(struct procset *s)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < (s->npages + 63) / 64; w++) {
		n += (uint64_t)__builtin_popcountll(s->changed[w]);
		s->changed[w] = 0;
	}
	return n;
}

static const struct pagemap_run runs1[] = {{0x400000, 4}, {0x7f0000000000, 2}};
static const struct pagemap_run runs2[] = {{0x400000, 3}};

static void make_dump(const char *dir, int gen)
{
	static const char core[] = "core bytes";

	put_task(dir, 1, 1, runs1, 2, gen);
	put_task(dir, 2, 3, runs2, 1, gen);
	put_file(dir, "core-1.img", core, sizeof(core));
	put_file(dir, "inventory.img", "inv", 3);
	put_file(dir, "dump.log", "a log", 5); /* not an image */
}

static void test_load_rebuild(void **state)
{
	char dump[] = "/tmp/remora-test-procimg-XXXXXX";
	char out[sizeof(dump) + 8];
	struct procset s;
	char err[256];
	uint64_t first;

	(void)state;
	assert_non_null(mkdtemp(dump));
	snprintf(out, sizeof(out), "%s.out", dump);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(procset_init(&s, SPACE, err, sizeof(err)), 0);

	make_dump(dump, 1);
	if (procset_load(&s, dump, err, sizeof(err)))
		fail_msg("load: %s", err);
	assert_int_equal(s.dump_pages, 9);
	first = count_changed(&s);
	/* 9 pages and the manifest's one page */
	assert_int_equal(first, 10);
	if (procset_rebuild(s.mem, s.npages, s.state, sizeof(s.state), out, err,
			    sizeof(err)))
		fail_msg("rebuild: %s", err);
	same_dirs(dump, out);

	/* The same dump again: nothing changed. */
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), 0);
	assert_int_equal(count_changed(&s), 0);

	/* gen 2: every page's byte 9 differs: 9 pages, the manifest the
	 * same (slots kept) */
	make_dump(dump, 2);
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), 0);
	assert_int_equal(count_changed(&s), 9);
	rm_dir(out);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(procset_rebuild(s.mem, s.npages, s.state,
					 sizeof(s.state), out, err,
					 sizeof(err)),
			 0);
	same_dirs(dump, out);

	/* A rebuild into a directory that has the files refuses (O_EXCL). */
	assert_int_equal(procset_rebuild(s.mem, s.npages, s.state,
					 sizeof(s.state), out, err,
					 sizeof(err)),
			 -EEXIST);

	/* The manifest in the space corrupted: refused, nothing written. */
	rm_dir(out);
	assert_int_equal(mkdir(out, 0700), 0);
	s.mem[s.data_pages * PG + 20] ^= 1;
	assert_int_equal(procset_rebuild(s.mem, s.npages, s.state,
					 sizeof(s.state), out, err,
					 sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "does not match its checksum"));
	assert_int_equal(rmdir(out), 0); /* still empty */
	s.mem[s.data_pages * PG + 20] ^= 1;

	procset_destroy(&s);
	rm_dir(dump);
}

static void test_load_refusals(void **state)
{
	char dump[] = "/tmp/remora-test-procimg-XXXXXX";
	static const struct pagemap_run big[] = {{0x400000, 1800}};
	struct procset s;
	char err[256];
	char path[600];

	(void)state;
	assert_non_null(mkdtemp(dump));
	assert_int_equal(procset_init(&s, SPACE, err, sizeof(err)), 0);

	/* a pagemap naming a pages file that is not there */
	make_dump(dump, 1);
	snprintf(path, sizeof(path), "%s/pages-3.img", dump);
	unlink(path);
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pagemap-2.img names pages-3.img, which "
				    "is not in the dump"));
	/* a pages file shorter than its pagemap says */
	make_dump(dump, 1);
	truncate(path, PG);
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pages-3.img: 4096 bytes, its pagemap "
				    "says 3 pages"));
	/* more pages than the space: 1800 + 9 > 1792 data pages */
	make_dump(dump, 1);
	put_task(dump, 5, 9, big, 1, 1);
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "raise [workload] memory"));
	snprintf(path, sizeof(path), "%s/pagemap-5.img", dump);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pages-9.img", dump);
	unlink(path);
	/* a file too big for the image region (1 MiB) */
	{
		uint8_t *blob = calloc(1, 1u << 20);

		put_file(dump, "tmpfs-dev-1.tar.gz.img", blob, 1u << 20);
		free(blob);
	}
	assert_int_equal(procset_load(&s, dump, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "do not fit the image region"));
	snprintf(path, sizeof(path), "%s/tmpfs-dev-1.tar.gz.img", dump);
	unlink(path);
	/* and a good dump still loads after all that */
	if (procset_load(&s, dump, err, sizeof(err)))
		fail_msg("load: %s", err);
	procset_destroy(&s);
	rm_dir(dump);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_manifest_builder_bounds),
		cmocka_unit_test(test_manifest_refusals),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_load_rebuild),
		cmocka_unit_test(test_load_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
