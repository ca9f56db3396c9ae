/*
 * The manifest of a process's image set (procimg.h).
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "bytes.h"
#include "fail.h"
#include "procimg.h"

uint64_t procimg_region_pages(uint64_t npages)
{
	uint64_t r = npages / 16, lo = (1u << 20) / PROCIMG_PAGE_SIZE,
		 hi = (64u << 20) / PROCIMG_PAGE_SIZE;

	if (r < lo)
		r = lo;
	if (r > hi)
		r = hi;
	if (r > npages / 2)
		r = npages / 2;
	return r;
}

static int name_ok(const char *name, size_t n)
{
	if (n == 0 || n > PROCIMG_NAME_MAX)
		return 0;
	if ((n == 1 && name[0] == '.') ||
	    (n == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Closes the PAGES file being built, if any. */
static void close_pages(struct procimg_builder *b)
{
	if (b->runs_at)
		put_le32(b->buf + b->runs_at, b->nruns);
	b->runs_at = 0;
}

void procimg_begin(struct procimg_builder *b, uint8_t *buf, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
	b->len = PROCIMG_HEADER_LEN;
}

static int add_name(struct procimg_builder *b, enum procimg_kind kind,
		    const char *name, size_t extra)
{
	size_t n = strlen(name);

	close_pages(b);
	if (!name_ok(name, n) || b->nfiles == PROCIMG_FILES_MAX)
		return -EINVAL;
	if (b->len > b->cap || b->cap - b->len < 2 + n + extra)
		return -ENOSPC;
	b->buf[b->len] = (uint8_t)kind;
	b->buf[b->len + 1] = (uint8_t)n;
	memcpy(b->buf + b->len + 2, name, n);
	b->len += 2 + n;
	b->nfiles++;
	return 0;
}

int procimg_add_bytes(struct procimg_builder *b, const char *name,
		      const uint8_t *data, size_t len)
{
	int ret = add_name(b, PROCIMG_BYTES, name, 8 + len);

	if (ret)
		return ret;
	put_le64(b->buf + b->len, len);
	if (len)
		memcpy(b->buf + b->len + 8, data, len);
	b->len += 8 + len;
	return 0;
}

int procimg_add_pages(struct procimg_builder *b, const char *name)
{
	int ret = add_name(b, PROCIMG_PAGES, name, 4);

	if (ret)
		return ret;
	b->runs_at = b->len;
	b->nruns = 0;
	b->last = 0;
	put_le32(b->buf + b->len, 0);
	b->len += 4;
	return 0;
}

int procimg_add_slot(struct procimg_builder *b, uint32_t slot)
{
	uint8_t *run = b->buf + b->len - 8;

	if (!b->runs_at)
		return -EINVAL;
	/* Slots are handed out in order: most pages extend the last run. */
	if (b->nruns && b->last == (uint64_t)slot &&
	    get_le32(run + 4) < UINT32_MAX) {
		put_le32(run + 4, get_le32(run + 4) + 1);
		b->last++;
		return 0;
	}
	if (b->cap - b->len < 8)
		return -ENOSPC;
	put_le32(b->buf + b->len, slot);
	put_le32(b->buf + b->len + 4, 1);
	b->len += 8;
	b->nruns++;
	b->last = (uint64_t)slot + 1;
	return 0;
}

size_t procimg_end(struct procimg_builder *b)
{
	close_pages(b);
	put_le32(b->buf, PROCIMG_MAGIC);
	put_le32(b->buf + 4, PROCIMG_VERSION);
	put_le32(b->buf + 8, b->nfiles);
	put_le32(b->buf + 12, 0);
	return b->len;
}

void procimg_state(uint8_t *out, uint64_t data_pages, const uint8_t *manifest,
		   size_t len)
{
	put_le32(out, PROCIMG_STATE_MAGIC);
	put_le32(out + 4, PROCIMG_VERSION);
	put_le64(out + 8, data_pages);
	put_le64(out + 16, len);
	put_le64(out + 24, XXH3_64bits(manifest, len));
}

int procimg_state_parse(const uint8_t *blob, size_t len, uint64_t npages,
			struct procimg_state_view *v, char *why, size_t whylen)
{
	uint64_t region = procimg_region_pages(npages);

	if (len != PROCIMG_STATE_LEN)
		return fail_line(why, whylen, -EBADMSG,
				 "process state of %zu bytes (not %u)", len,
				 PROCIMG_STATE_LEN);
	if (get_le32(blob) != PROCIMG_STATE_MAGIC)
		return fail_line(why, whylen, -EBADMSG,
				 "not a process workload's state (magic "
				 "%08x): the primary runs another workload "
				 "type",
				 get_le32(blob));
	if (get_le32(blob + 4) != PROCIMG_VERSION)
		return fail_line(why, whylen, -EBADMSG,
				 "process state version %u (this remora "
				 "reads %u)",
				 get_le32(blob + 4), PROCIMG_VERSION);
	v->data_pages = get_le64(blob + 8);
	v->len = get_le64(blob + 16);
	v->hash = get_le64(blob + 24);
	if (v->data_pages != npages - region)
		return fail_line(why, whylen, -EBADMSG,
				 "process state for %llu data pages, this "
				 "replica has %llu: [workload] memory differs",
				 (unsigned long long)v->data_pages,
				 (unsigned long long)(npages - region));
	if (v->len < PROCIMG_HEADER_LEN || v->len > region * PROCIMG_PAGE_SIZE)
		return fail_line(
			why, whylen, -EBADMSG,
			"manifest of %llu bytes (the image region "
			"holds %llu)",
			(unsigned long long)v->len,
			(unsigned long long)(region * PROCIMG_PAGE_SIZE));
	return 0;
}

/*
 * Reads the file at *pos into f without looking past len: 0, or -EBADMSG
 * with why.
 */
static int read_file(const uint8_t *m, size_t len, size_t *pos,
		     struct procimg_file *f, char *why, size_t whylen)
{
	size_t p = *pos, n;

	if (len - p < 2)
		return fail_line(why, whylen, -EBADMSG,
				 "manifest ends inside a file header at %zu",
				 p);
	f->kind = m[p];
	n = m[p + 1];
	p += 2;
	if (f->kind != PROCIMG_BYTES && f->kind != PROCIMG_PAGES)
		return fail_line(why, whylen, -EBADMSG,
				 "file at %zu: unknown kind %u", *pos, f->kind);
	if (len - p < n || !name_ok((const char *)m + p, n))
		return fail_line(why, whylen, -EBADMSG, "file at %zu: bad name",
				 *pos);
	memcpy(f->name, m + p, n);
	f->name[n] = '\0';
	p += n;
	if (f->kind == PROCIMG_BYTES) {
		if (len - p < 8)
			return fail_line(why, whylen, -EBADMSG,
					 "%s: manifest ends in its size",
					 f->name);
		f->size = get_le64(m + p);
		p += 8;
		if (f->size > len - p)
			return fail_line(why, whylen, -EBADMSG,
					 "%s: %llu bytes, %zu left", f->name,
					 (unsigned long long)f->size, len - p);
		f->data = m + p;
		f->runs = NULL;
		f->nruns = 0;
		p += f->size;
	} else {
		if (len - p < 4)
			return fail_line(why, whylen, -EBADMSG,
					 "%s: manifest ends in its run count",
					 f->name);
		f->nruns = get_le32(m + p);
		p += 4;
		if (f->nruns > (len - p) / 8)
			return fail_line(why, whylen, -EBADMSG,
					 "%s: %u runs, room for %zu", f->name,
					 f->nruns, (len - p) / 8);
		f->runs = m + p;
		f->data = NULL;
		f->size = 0;
		for (uint32_t r = 0; r < f->nruns; r++)
			f->size +=
				(uint64_t)get_le32(m + p + (size_t)r * 8 + 4) *
				PROCIMG_PAGE_SIZE;
		p += (size_t)f->nruns * 8;
	}
	*pos = p;
	return 0;
}

int procimg_check(const uint8_t *m, size_t len, uint64_t data_pages, char *why,
		  size_t whylen)
{
	struct procimg_file f;
	uint32_t nfiles, i, r;
	size_t pos = PROCIMG_HEADER_LEN;
	int ret;

	if (len < PROCIMG_HEADER_LEN || get_le32(m) != PROCIMG_MAGIC ||
	    get_le32(m + 4) != PROCIMG_VERSION || get_le32(m + 12) != 0)
		return fail_line(why, whylen, -EBADMSG,
				 "not a version %u image manifest",
				 PROCIMG_VERSION);
	nfiles = get_le32(m + 8);
	if (nfiles > PROCIMG_FILES_MAX)
		return fail_line(why, whylen, -EBADMSG, "%u files (at most %u)",
				 nfiles, PROCIMG_FILES_MAX);
	for (i = 0; i < nfiles; i++) {
		ret = read_file(m, len, &pos, &f, why, whylen);
		if (ret)
			return ret;
		for (r = 0; r < f.nruns; r++) {
			uint32_t slot, pages;

			procimg_run(&f, r, &slot, &pages);
			if (pages == 0 || (uint64_t)slot + pages > data_pages)
				return fail_line(
					why, whylen, -EBADMSG,
					"%s: run %u (slot %u, %u "
					"pages) outside the %llu "
					"data pages",
					f.name, r, slot, pages,
					(unsigned long long)data_pages);
		}
	}
	if (pos != len)
		return fail_line(why, whylen, -EBADMSG,
				 "%zu bytes after the last of %u files",
				 len - pos, nfiles);
	return 0;
}

int procimg_next(const uint8_t *m, size_t len, size_t *pos,
		 struct procimg_file *f)
{
	if (*pos == 0)
		*pos = PROCIMG_HEADER_LEN;
	if (*pos >= len)
		return 0;
	return read_file(m, len, pos, f, NULL, 0) == 0;
}

void procimg_run(const struct procimg_file *f, uint32_t i, uint32_t *slot,
		 uint32_t *pages)
{
	*slot = get_le32(f->runs + (size_t)i * 8);
	*pages = get_le32(f->runs + (size_t)i * 8 + 4);
}
