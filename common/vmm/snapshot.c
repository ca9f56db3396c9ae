/*
 * Snapshot files.
 *
 * Layout (integers little-endian):
 *
 *   offset size
 *        0    8  magic "REMORASN"
 *        8    4  version, 1
 *       12    4  header size, 4096
 *       16    4  page size, 4096
 *       20    4  reserved, 0
 *       24    8  guest memory size
 *       32    8  state offset (4096)
 *       40    8  state length (<= VM_STATE_MAX)
 *       48    8  memory offset: page aligned, after the state
 *       56    8  XXH3-64 of the state blob
 *       64    8  XXH3-64 of bytes 0..64 of this header
 *     ....       zero up to 4096
 *    state       the vm_state_save() blob (common/vmm/state.c)
 *   memory       guest RAM, byte for byte; all-zero pages are holes
 *
 * The file is exactly memory offset + memory size long. Restore reads only
 * the data extents (SEEK_DATA/SEEK_HOLE), into a fresh memfd-backed VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "bytes.h"
#include "snapshot.h"
#include "vm_impl.h"

#define SNAP_VERSION 1
static const char snap_magic[8] = {'R', 'E', 'M', 'O', 'R', 'A', 'S', 'N'};

int snapshot_parse_header(const uint8_t *b, size_t len, uint64_t file_size,
			  struct snapshot_header *h, char *err, size_t errlen)
{
#define BAD(ret, ...)                               \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return ret;                         \
	} while (0)
	if (len < 8 || memcmp(b, snap_magic, 8) != 0)
		BAD(-EBADMSG, "not a remora snapshot (bad magic)");
	if (len < SNAPSHOT_HEADER_SIZE)
		BAD(-EBADMSG, "snapshot: header truncated (%zu bytes)", len);
	if (get_le32(b + 8) != SNAP_VERSION)
		BAD(-EPROTO, "snapshot version %u; this remora reads %u",
		    get_le32(b + 8), SNAP_VERSION);
	if (XXH3_64bits(b, 64) != get_le64(b + 64))
		BAD(-EBADMSG, "snapshot: header checksum mismatch");
	if (get_le32(b + 12) != SNAPSHOT_HEADER_SIZE ||
	    get_le32(b + 16) != VM_PAGE_SIZE || get_le32(b + 20) != 0)
		BAD(-EBADMSG, "snapshot: header size or page size is not 4096");
	h->mem_size = get_le64(b + 24);
	h->state_off = get_le64(b + 32);
	h->state_len = get_le64(b + 40);
	h->mem_off = get_le64(b + 48);
	h->state_hash = get_le64(b + 56);
	if (h->mem_size < VM_MEM_MIN || h->mem_size > VM_MEM_MAX ||
	    h->mem_size % VM_MEM_ALIGN)
		BAD(-EBADMSG, "snapshot: guest memory size %llu is invalid",
		    (unsigned long long)h->mem_size);
	if (h->state_off != SNAPSHOT_HEADER_SIZE || h->state_len == 0 ||
	    h->state_len > VM_STATE_MAX)
		BAD(-EBADMSG, "snapshot: state at %llu+%llu is invalid",
		    (unsigned long long)h->state_off,
		    (unsigned long long)h->state_len);
	if (h->mem_off % VM_PAGE_SIZE ||
	    h->mem_off < h->state_off + h->state_len ||
	    h->mem_off > h->state_off + h->state_len + VM_PAGE_SIZE)
		BAD(-EBADMSG, "snapshot: memory offset %llu is invalid",
		    (unsigned long long)h->mem_off);
	if (file_size != h->mem_off + h->mem_size)
		BAD(-EBADMSG,
		    "snapshot: file is %llu bytes, header says %llu (truncated "
		    "or not a snapshot)",
		    (unsigned long long)file_size,
		    (unsigned long long)(h->mem_off + h->mem_size));
	return 0;
#undef BAD
}

static int page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[VM_PAGE_SIZE];

	return memcmp(p, zero, VM_PAGE_SIZE) == 0;
}

/* pwrite()s or pread()s all of p[0..len) at off; -EIO at an early EOF. */
static int pio_all(int fd, uint8_t *p, size_t len, uint64_t off, int wr)
{
	while (len) {
		ssize_t n = wr ? pwrite(fd, p, len, (off_t)off)
			       : pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	return pio_all(fd, (uint8_t *)p, len, off, 1);
}

static int read_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
	return pio_all(fd, p, len, off, 0);
}

int snapshot_write(const char *path, const uint8_t *mem, uint64_t mem_size,
		   const uint8_t *state, size_t state_len, char *err,
		   size_t errlen)
{
	uint64_t npages = mem_size / VM_PAGE_SIZE, mem_off, p, run;
	uint8_t *hdr;
	char tmp[4096];
	int fd, ret;

	if (state_len == 0 || state_len > VM_STATE_MAX ||
	    mem_size % VM_PAGE_SIZE) {
		snprintf(err, errlen, "snapshot: %s: bad state or memory size",
			 path);
		return -EINVAL;
	}
	hdr = calloc(1, SNAPSHOT_HEADER_SIZE);
	if (!hdr) {
		snprintf(err, errlen, "snapshot: out of memory");
		return -ENOMEM;
	}
	mem_off = (SNAPSHOT_HEADER_SIZE + state_len + VM_PAGE_SIZE - 1) /
		  VM_PAGE_SIZE * VM_PAGE_SIZE;

	memcpy(hdr, snap_magic, 8);
	put_le32(hdr + 8, SNAP_VERSION);
	put_le32(hdr + 12, SNAPSHOT_HEADER_SIZE);
	put_le32(hdr + 16, VM_PAGE_SIZE);
	put_le64(hdr + 24, mem_size);
	put_le64(hdr + 32, SNAPSHOT_HEADER_SIZE);
	put_le64(hdr + 40, state_len);
	put_le64(hdr + 48, mem_off);
	put_le64(hdr + 56, XXH3_64bits(state, state_len));
	put_le64(hdr + 64, XXH3_64bits(hdr, 64));

	/* Written under a temporary name and renamed: never a torn file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "snapshot: %s: %s", tmp, strerror(errno));
		free(hdr);
		return ret;
	}
	ret = write_all(fd, hdr, SNAPSHOT_HEADER_SIZE, 0);
	if (!ret)
		ret = write_all(fd, state, state_len, SNAPSHOT_HEADER_SIZE);
	/* Runs of non-zero pages, one write each; zero pages stay holes. */
	for (p = 0; !ret && p < npages; p += run) {
		const uint8_t *m = mem + p * VM_PAGE_SIZE;

		run = 1;
		if (page_is_zero(m))
			continue;
		while (p + run < npages && run < 4096 &&
		       !page_is_zero(m + run * VM_PAGE_SIZE))
			run++;
		ret = write_all(fd, m, run * VM_PAGE_SIZE,
				mem_off + p * VM_PAGE_SIZE);
	}
	if (!ret && ftruncate(fd, (off_t)(mem_off + mem_size)))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		snprintf(err, errlen, "snapshot: writing %s: %s", path,
			 strerror(-ret));
	}
	free(hdr);
	return ret;
}

int vm_snapshot_save(struct vm *vm, const char *path)
{
	uint8_t *state = malloc(VM_STATE_MAX);
	char err[VM_ERR_MAX];
	size_t state_len;
	int ret;

	if (!state)
		return vm_fail(vm, -ENOMEM, "snapshot: out of memory");
	ret = vm_state_save(vm, state, &state_len);
	if (!ret) {
		ret = snapshot_write(path, vm->mem, vm->mem_size, state,
				     state_len, err, sizeof(err));
		if (ret)
			vm_fail(vm, ret, "%s", err);
	}
	free(state);
	return ret;
}

/* Reads the data extents of [off, off+len) of the file into dst. */
static int read_extents(int fd, uint8_t *dst, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, pos = off;
	int ret;

	while (pos < end) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		off_t h;

		if (d < 0)
			return errno == ENXIO ? 0
					      : -errno; /* only holes left */
		if ((uint64_t)d >= end)
			return 0;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h > end)
			h = (off_t)end;
		ret = read_all(fd, dst + ((uint64_t)d - off),
			       (size_t)((uint64_t)h - (uint64_t)d),
			       (uint64_t)d);
		if (ret)
			return ret;
		pos = (uint64_t)h;
	}
	return 0;
}

int vm_snapshot_restore(const char *path, const struct vm_config *cfg,
			struct vm **out, uint64_t split_ns[2], char *err,
			size_t errlen)
{
	struct snapshot_header h;
	struct vm_config c = *cfg;
	uint8_t *hdr = NULL, *state = NULL;
	struct vm *vm = NULL;
	uint64_t t0, t1, t2;
	struct stat st;
	size_t hlen;
	int fd, ret;

	*out = NULL;
	t0 = vm_host_monotonic_ns();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "snapshot %s: %s", path, strerror(errno));
		return -errno;
	}
	hdr = malloc(SNAPSHOT_HEADER_SIZE);
	state = malloc(VM_STATE_MAX);
	if (!hdr || !state) {
		snprintf(err, errlen, "snapshot: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "snapshot %s: %s", path, strerror(errno));
		ret = -errno;
		goto out;
	}
	/* A short file still gets its header checked, for a precise error. */
	hlen = st.st_size < SNAPSHOT_HEADER_SIZE ? (size_t)st.st_size
						 : SNAPSHOT_HEADER_SIZE;
	if (read_all(fd, hdr, hlen, 0)) {
		snprintf(err, errlen, "snapshot %s: header unreadable", path);
		ret = -EIO;
		goto out;
	}
	ret = snapshot_parse_header(hdr, hlen, (uint64_t)st.st_size, &h, err,
				    errlen);
	if (ret)
		goto out;
	ret = read_all(fd, state, h.state_len, h.state_off);
	if (ret || XXH3_64bits(state, h.state_len) != h.state_hash) {
		snprintf(err, errlen, "snapshot %s: state blob corrupt", path);
		ret = -EBADMSG;
		goto out;
	}

	c.mem_size = h.mem_size;
	ret = vm_create(&vm, &c, err, errlen);
	if (ret)
		goto out;
	t1 = vm_host_monotonic_ns();
	ret = read_extents(fd, vm->mem, h.mem_off, h.mem_size);
	t2 = vm_host_monotonic_ns();
	if (ret) {
		snprintf(err, errlen, "snapshot %s: reading memory: %s", path,
			 strerror(-ret));
		goto out;
	}
	ret = vm_state_load(vm, state, h.state_len);
	if (ret) {
		snprintf(err, errlen, "snapshot %s: %s", path, vm_error(vm));
		goto out;
	}
	/* Every page may differ from what a peer holds: all dirty. */
	vm_mark_dirty(vm, 0, vm->mem_size);
	vm_request_check(vm);
	if (split_ns) {
		split_ns[0] = t2 - t1;
		split_ns[1] = (vm_host_monotonic_ns() - t0) - split_ns[0];
	}
	*out = vm;
	vm = NULL;
out:
	vm_destroy(vm);
	free(hdr);
	free(state);
	close(fd);
	return ret;
}
