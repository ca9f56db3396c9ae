/*
 * Image sets in the page space (procset.h).
 *
 * A dump's pages are placed by pagemap: pagemap-PID.img names, run by
 * run, the virtual pages that pages-ID.img holds in order. A page's owner
 * in the space is the task's pid for pagemap-PID.img, and for any other
 * pagemap (shared memory: pagemap-shmem-ID.img) a 31-bit hash of the file
 * name with the top bit set, stable from one dump to the next.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fail.h"
#include "fdio.h"
#include "pagemap.h"
#include "procset.h"

#define PAGE PROCIMG_PAGE_SIZE

int procset_init(struct procset *s, uint64_t mem_size, char *err, size_t errlen)
{
	uint64_t region;

	memset(s, 0, sizeof(*s));
	if (mem_size % PAGE || mem_size < (4u << 20))
		return fail_line(err, errlen, -EINVAL,
				 "page space of %llu bytes (whole pages, at "
				 "least 4 MiB)",
				 (unsigned long long)mem_size);
	s->npages = mem_size / PAGE;
	region = procimg_region_pages(s->npages);
	s->data_pages = s->npages - region;
	s->manifest_cap = region * PAGE;
	s->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->manifest = mmap(NULL, s->manifest_cap, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->changed = calloc((s->npages + 63) / 64, 8);
	if (s->mem == MAP_FAILED || s->manifest == MAP_FAILED || !s->changed ||
	    pagespace_init(&s->ps, (uint32_t)s->data_pages)) {
		if (s->mem == MAP_FAILED)
			s->mem = NULL;
		if (s->manifest == MAP_FAILED)
			s->manifest = NULL;
		procset_destroy(s);
		return fail_line(err, errlen, -ENOMEM,
				 "out of memory for a page space of %llu MiB",
				 (unsigned long long)(mem_size >> 20));
	}
	return 0;
}

void procset_destroy(struct procset *s)
{
	if (s->mem)
		munmap(s->mem, s->npages * PAGE);
	if (s->manifest)
		munmap(s->manifest, s->manifest_cap);
	free(s->changed);
	pagespace_free(&s->ps);
	memset(s, 0, sizeof(*s));
}

/* Page p of the space takes these bytes (PAGE, or fewer: zero-filled). */
static void put_page(struct procset *s, uint64_t p, const uint8_t *src,
		     size_t n)
{
	uint8_t *dst = s->mem + p * PAGE;

	if (n == PAGE ? memcmp(dst, src, PAGE) == 0
		      : memcmp(dst, src, n) == 0 &&
				(dst[n] == 0 && memcmp(dst + n, dst + n + 1,
						       PAGE - n - 1) == 0))
		return;
	memcpy(dst, src, n);
	memset(dst + n, 0, PAGE - n);
	s->changed[p / 64] |= 1ull << (p % 64);
	s->changed_pages++;
}

/* --- the dump's files -------------------------------------------------- */

struct dfile {
	char name[PROCIMG_NAME_MAX + 1];
	int pages_of; /* a pages file some pagemap names */
};

struct dump {
	struct dfile *f;
	size_t n, cap;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct dfile *)a)->name,
		      ((const struct dfile *)b)->name);
}

/* Logs and stats of CRIU and remora's own logs are not images. */
static int skipped(const char *name)
{
	return name[0] == '.' || strcmp(name, "dump.log") == 0 ||
	       strcmp(name, "restore.log") == 0 ||
	       strncmp(name, "stats-", 6) == 0;
}

static int list_dump(const char *dir, struct dump *d, char *err, size_t errlen)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	if (!dp)
		return fail_line(err, errlen, -errno, "%s: %s", dir,
				 strerror(errno));
	while ((e = readdir(dp))) {
		if (skipped(e->d_name))
			continue;
		if (strlen(e->d_name) > PROCIMG_NAME_MAX) {
			closedir(dp);
			return fail_line(err, errlen, -ENAMETOOLONG,
					 "image %s: name longer than %u",
					 e->d_name, PROCIMG_NAME_MAX);
		}
		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 64;
			struct dfile *f = realloc(d->f, cap * sizeof(*f));

			if (!f) {
				closedir(dp);
				return fail_line(err, errlen, -ENOMEM,
						 "out of memory");
			}
			d->f = f;
			d->cap = cap;
		}
		snprintf(d->f[d->n].name, sizeof(d->f[d->n].name), "%s",
			 e->d_name);
		d->f[d->n].pages_of = 0;
		d->n++;
	}
	closedir(dp);
	qsort(d->f, d->n, sizeof(*d->f), by_name);
	return 0;
}

/* Maps dir/name read-only (*len 0: nothing mapped). */
static int map_file(const char *dir, const char *name, const uint8_t **data,
		    size_t *len, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return fail_line(err, errlen, -errno, "image %s: %s", name,
				 strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail_line(err, errlen, -EINVAL,
				 "image %s: not a regular file", name);
	}
	*len = (size_t)st.st_size;
	*data = NULL;
	if (*len) {
		void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			int e = errno;

			*len = 0;
			close(fd);
			return fail_line(err, errlen, -e, "image %s: %s", name,
					 strerror(e));
		}
		*data = p;
	}
	close(fd);
	return 0;
}

static void unmap_file(const uint8_t *data, size_t len)
{
	if (data && len)
		munmap((void *)data, len);
}

static uint32_t owner_of(const char *name)
{
	char *end;
	unsigned long pid = strtoul(name + strlen("pagemap-"), &end, 10);

	if (end != name + strlen("pagemap-") && strcmp(end, ".img") == 0 &&
	    pid < 0x80000000ul)
		return (uint32_t)pid;
	return 0x80000000u | (XXH32(name, strlen(name), 0) & 0x7fffffffu);
}

static struct dfile *find(struct dump *d, const char *name)
{
	struct dfile key;

	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, d->f, d->n, sizeof(*d->f), by_name);
}

static int too_big(const struct procset *s, char *err, size_t errlen)
{
	return fail_line(err, errlen, -ENOSPC,
			 "the process's images besides its pages do not fit "
			 "the image region (%zu KiB, a sixteenth of "
			 "[workload] memory); raise memory",
			 s->manifest_cap >> 10);
}

static int space_full(const char *pm_name, char *err, size_t errlen)
{
	return fail_line(err, errlen, -ENOSPC,
			 "%s: the process has more pages than the page space "
			 "holds; raise [workload] memory",
			 pm_name);
}

/* Pages of pm from pages into their slots, listed in the manifest. */
static int place_pages(struct procset *s, struct procimg_builder *b,
		       const struct pagemap *pm, const char *pm_name,
		       const uint8_t *pages, char *err, size_t errlen)
{
	uint32_t owner = owner_of(pm_name);
	uint64_t at = 0;

	for (size_t r = 0; r < pm->nruns; r++) {
		for (uint64_t k = 0; k < pm->run[r].nr_pages; k++, at++) {
			int fresh;
			long slot = pagespace_slot(&s->ps, owner,
						   pm->run[r].vaddr / PAGE + k,
						   &fresh);

			if (slot == -ENOSPC)
				return space_full(pm_name, err, errlen);
			if (slot < 0)
				return fail_line(err, errlen, (int)slot,
						 "%s: a page named twice",
						 pm_name);
			put_page(s, (uint64_t)slot, pages + at * PAGE, PAGE);
			if (procimg_add_slot(b, (uint32_t)slot))
				return too_big(s, err, errlen);
		}
	}
	return 0;
}

/* One pagemap and the pages file it names: pages into their slots. */
static int load_pages(struct procset *s, struct procimg_builder *b,
		      const char *dir, struct dump *d, const char *pm_name,
		      char *err, size_t errlen)
{
	const uint8_t *img, *pages = NULL;
	size_t len, plen = 0;
	char why[256], pname[PROCIMG_NAME_MAX + 1];
	struct pagemap pm;
	struct dfile *pf;
	int ret;

	ret = map_file(dir, pm_name, &img, &len, err, errlen);
	if (ret)
		return ret;
	ret = pagemap_parse(img, len, s->data_pages, &pm, why, sizeof(why));
	if (!ret && procimg_add_bytes(b, pm_name, img, len)) {
		pagemap_free(&pm);
		ret = 1;
	}
	unmap_file(img, len);
	if (ret == 1)
		return too_big(s, err, errlen);
	if (ret == -E2BIG)
		return space_full(pm_name, err, errlen);
	if (ret)
		return fail_line(err, errlen, ret, "%s: %s", pm_name,
				 ret == -EINVAL ? why : strerror(-ret));
	snprintf(pname, sizeof(pname), "pages-%u.img", pm.pages_id);
	pf = find(d, pname);
	if (!pf || pf->pages_of) {
		pagemap_free(&pm);
		return fail_line(err, errlen, -EINVAL,
				 "%s names %s, which is %s", pm_name, pname,
				 pf ? "named twice" : "not in the dump");
	}
	pf->pages_of = 1;
	ret = map_file(dir, pname, &pages, &plen, err, errlen);
	if (!ret && plen != pm.npages * PAGE)
		ret = fail_line(err, errlen, -EINVAL,
				"%s: %zu bytes, its pagemap says %llu pages",
				pname, plen, (unsigned long long)pm.npages);
	if (!ret && procimg_add_pages(b, pname))
		ret = too_big(s, err, errlen);
	if (!ret)
		ret = place_pages(s, b, &pm, pm_name, pages, err, errlen);
	s->dump_bytes += plen;
	s->dump_pages += pm.npages;
	unmap_file(pages, plen);
	pagemap_free(&pm);
	return ret;
}

static int add_file(struct procimg_builder *b, const char *dir,
		    const char *name, uint64_t *bytes, char *err, size_t errlen)
{
	const uint8_t *data;
	size_t len;
	int ret = map_file(dir, name, &data, &len, err, errlen);

	if (ret)
		return ret;
	ret = procimg_add_bytes(b, name, data, len) ? -EMSGSIZE : 0;
	unmap_file(data, len);
	*bytes += len;
	return ret;
}

int procset_load(struct procset *s, const char *dir, char *err, size_t errlen)
{
	struct procimg_builder b;
	struct dump d = {0};
	size_t i;
	int ret;

	if (err && errlen)
		*err = '\0';
	s->dump_bytes = s->dump_pages = s->changed_pages = 0;
	ret = list_dump(dir, &d, err, errlen);
	if (ret)
		goto out;
	procimg_begin(&b, s->manifest, s->manifest_cap);
	pagespace_begin(&s->ps);
	for (i = 0; i < d.n && !ret; i++)
		if (strncmp(d.f[i].name, "pagemap-", 8) == 0)
			ret = load_pages(s, &b, dir, &d, d.f[i].name, err,
					 errlen);
	if (ret)
		goto out; /* the next load begins the space again */
	pagespace_end(&s->ps);
	for (i = 0; i < d.n && !ret; i++)
		if (!d.f[i].pages_of && strncmp(d.f[i].name, "pagemap-", 8))
			ret = add_file(&b, dir, d.f[i].name, &s->dump_bytes,
				       err, errlen);
	if (ret == -EMSGSIZE)
		ret = too_big(s, err, errlen);
	if (ret)
		goto out;
	s->files = b.nfiles;
	s->manifest_len = procimg_end(&b);
	for (i = 0; i * PAGE < s->manifest_len; i++) {
		size_t n = s->manifest_len - i * PAGE;

		put_page(s, s->data_pages + i, s->manifest + i * PAGE,
			 n < PAGE ? n : PAGE);
	}
	procimg_state(s->state, s->data_pages, s->manifest, s->manifest_len);
out:
	free(d.f);
	return ret;
}

/* --- rebuilding -------------------------------------------------------- */

static int write_file(const uint8_t *mem, const struct procimg_file *f,
		      const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return fail_line(err, errlen, -errno, "%s: %s", path,
				 strerror(errno));
	if (f->kind == PROCIMG_BYTES)
		ret = fd_write_all(fd, f->data, (size_t)f->size);
	for (uint32_t r = 0; !ret && r < f->nruns; r++) {
		uint32_t slot, pages;

		procimg_run(f, r, &slot, &pages);
		ret = fd_write_all(fd, mem + (uint64_t)slot * PAGE,
				   (size_t)pages * PAGE);
	}
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		return fail_line(err, errlen, ret, "%s: %s", path,
				 strerror(-ret));
	return 0;
}

int procset_rebuild(const uint8_t *mem, uint64_t npages, const uint8_t *state,
		    size_t state_len, const char *dir, char *err, size_t errlen)
{
	struct procimg_state_view v;
	struct procimg_file f;
	const uint8_t *m;
	char why[256];
	size_t pos = 0;
	int ret;

	ret = procimg_state_parse(state, state_len, npages, &v, why,
				  sizeof(why));
	if (ret)
		return fail_line(err, errlen, ret, "replica state: %s", why);
	m = mem + v.data_pages * PAGE;
	if (XXH3_64bits(m, v.len) != v.hash)
		return fail_line(err, errlen, -EBADMSG,
				 "the replica's image manifest does not match "
				 "its checksum");
	ret = procimg_check(m, v.len, v.data_pages, why, sizeof(why));
	if (ret)
		return fail_line(err, errlen, ret, "image manifest: %s", why);
	while (procimg_next(m, v.len, &pos, &f)) {
		ret = write_file(mem, &f, dir, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int procset_clear_dir(const char *dir, char *err, size_t errlen)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!dp)
		return fail_line(err, errlen, -errno, "%s: %s", dir,
				 strerror(errno));
	while ((e = readdir(dp))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dp), e->d_name, 0) && errno != ENOENT) {
			ret = fail_line(err, errlen, -errno, "%s/%s: %s", dir,
					e->d_name, strerror(errno));
			break;
		}
	}
	closedir(dp);
	return ret;
}
