/*
 * Building replication epochs without a VM (see fake_epochs.h). Every
 * message goes through wire_encode() and every page through codec_encode()
 * and pack.c, so what comes out is what primary/encoder.c would send for
 * the same pages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>
#include <xxhash.h>

#include "bytes.h"
#include "codec.h"
#include "fake_epochs.h"
#include "pack.h"
#include "state.h"
#include "wire.h"

/* The code segment and page-table root state.c insists on (vm_impl.h). */
#define SEL_UCODE 0x1b
#define GPA_PML4  0x2000

#define BATCH_PAGES_DEFAULT 256u

static size_t state_section(uint8_t *b, size_t off, uint32_t id, const void *d,
			    uint32_t len)
{
	put_le32(b + off, id);
	put_le32(b + off + 4, len);
	memcpy(b + off + 8, d, len);
	return off + 8 + (len + 7) / 8 * 8;
}

size_t fake_state_blob(uint8_t *b, uint64_t seed, enum fake_state_fault fault)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint8_t msrs[8 + 2 * 16];
	uint64_t clock = 1000000007ull * seed;
	uint32_t n = 0;
	size_t off = 16;

	/* Header, five section headers, their data and padding. */
	_Static_assert(16 + 5 * (8 + 7) + sizeof(regs) + sizeof(sregs) +
				       sizeof(fpu) + sizeof(msrs) +
				       sizeof(clock) <=
			       FAKE_STATE_MAX,
		       "FAKE_STATE_MAX is too small for the blob");
	memset(b, 0, FAKE_STATE_MAX);
	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&fpu, 0, sizeof(fpu));
	regs.rip = 0x101000 + seed;
	regs.rax = seed;
	regs.rsp = 0x7ff000 - seed * 16;
	regs.rflags = 2;
	sregs.cs.selector = SEL_UCODE;
	sregs.cr3 = fault == FAKE_STATE_CR3 ? GPA_PML4 + 0x1000 : GPA_PML4;
	fpu.fcw = 0x37f;
	put_le32(msrs, 2);
	put_le32(msrs + 4, 0);
	put_le32(msrs + 8, 0x174);
	put_le32(msrs + 12, 0);
	put_le64(msrs + 16, seed);
	put_le32(msrs + 24, 0xc0000082);
	put_le32(msrs + 28, 0);
	put_le64(msrs + 32, 0xffff800000000000ull + seed);

	off = state_section(b, off, S_REGS, &regs, sizeof(regs)), n++;
	off = state_section(b, off, S_SREGS, &sregs, sizeof(sregs)), n++;
	off = state_section(b, off, S_FPU, &fpu, sizeof(fpu)), n++;
	off = state_section(b, off, S_MSRS, msrs, sizeof(msrs)), n++;
	if (fault != FAKE_STATE_NO_CLOCK)
		off = state_section(b, off, S_CLOCK, &clock, sizeof(clock)),
		n++;
	memcpy(b, fault == FAKE_STATE_MAGIC ? "RMVX" : "RMVS", 4);
	put_le32(b + 4, 1);
	put_le32(b + 8, (uint32_t)(fault == FAKE_STATE_LEN ? off + 8 : off));
	put_le32(b + 12, n);
	return off;
}

int fake_buf_append(struct fake_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *q;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void fake_buf_free(struct fake_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int fake_epochs_checksum(const struct fake_page *pages, size_t npages,
			 size_t page_size, const uint8_t *state,
			 size_t state_len, const uint8_t *console,
			 size_t console_len, uint64_t console_off,
			 uint64_t *sum)
{
	XXH3_state_t *h = XXH3_createState();
	uint8_t le[8];

	if (!h)
		return -ENOMEM;
	XXH3_64bits_reset(h);
	for (size_t i = 0; i < npages; i++) {
		put_le64(le, pages[i].pfn);
		XXH3_64bits_update(h, le, sizeof(le));
		XXH3_64bits_update(h, pages[i].data, page_size);
	}
	if (state_len)
		XXH3_64bits_update(h, state, state_len);
	/* A checkpoint (it has a state) always places the console stream;
	 * a pre-copy round has no console. */
	if (state_len) {
		put_le64(le, console_off);
		XXH3_64bits_update(h, le, sizeof(le));
		if (console_len)
			XXH3_64bits_update(h, console, console_len);
	}
	*sum = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return 0;
}

int fake_buf_put_msg(struct fake_buf *out, enum wire_type type,
		     const ProtobufCMessage *msg)
{
	uint8_t *f;
	size_t len;
	int ret = wire_encode(type, msg, &f, &len);

	if (ret)
		return ret;
	ret = fake_buf_append(out, f, len);
	free(f);
	return ret;
}

static int put_batch(const struct fake_epoch_spec *s, struct fake_buf *out,
		     const struct pack_writer *w, uint8_t *batch,
		     size_t batch_cap)
{
	Remora__PageBatch m = REMORA__PAGE_BATCH__INIT;
	long len = pack_finish(w, s->stored ? 0 : 1, batch, batch_cap);

	if (len < 0)
		return (int)len;
	m.epoch = s->epoch;
	m.term = s->term;
	m.batch.data = batch;
	m.batch.len = (size_t)len;
	return fake_buf_put_msg(out, WIRE_PAGE_BATCH, &m.base);
}

static int spec_ok(const struct fake_epoch_spec *s)
{
	unsigned frames = s->console_frames ? s->console_frames : 1;

	if (!s->epoch || !codec_page_size_ok(s->page_size) ||
	    (s->page_size & (s->page_size - 1)) || (s->npages && !s->pages))
		return 0;
	for (size_t i = 1; i < s->npages; i++)
		if (s->pages[i].pfn <= s->pages[i - 1].pfn)
			return 0;
	if (s->precopy)
		return !s->state && !s->state_len && !s->console_len;
	if (!s->state || !s->state_len || s->state_len > WIRE_STATE_MAX)
		return 0;
	return !s->console_len || (s->console && frames <= s->console_len);
}

/* The pages, batch after batch; the batches' frames are appended to out. */
static int put_pages(const struct fake_epoch_spec *s, struct fake_buf *out)
{
	size_t per = s->batch_pages ? s->batch_pages : BATCH_PAGES_DEFAULT;
	size_t body_cap, batch_cap;
	uint8_t *body, *batch, *enc;
	struct pack_writer w;
	int ret = 0;

	if (per > PACK_MAX_ENTRIES)
		per = PACK_MAX_ENTRIES;
	body_cap = pack_body_bound(per, s->page_size);
	batch_cap = pack_batch_bound(body_cap);
	body = malloc(body_cap);
	batch = malloc(batch_cap);
	enc = malloc(CODEC_BOUND(s->page_size));
	if (!body || !batch || !enc) {
		ret = -ENOMEM;
		goto out;
	}
	ret = pack_init(&w, body, body_cap, s->page_size);
	for (size_t i = 0; !ret && i < s->npages; i++) {
		const struct fake_page *p = &s->pages[i];
		const uint8_t *payload = enc;
		size_t len;
		int kind =
			codec_encode(p->base, p->data, s->page_size, enc, &len);

		if (kind == CODEC_UNCHANGED) {
			/* Carried all the same, as the caller asked. */
			kind = CODEC_RAW;
			payload = p->data;
			len = s->page_size;
		}
		if (kind < 0) {
			ret = kind;
			break;
		}
		ret = pack_add(&w, p->pfn, kind, payload, len);
		if (!ret && w.count == per) {
			ret = put_batch(s, out, &w, batch, batch_cap);
			if (!ret)
				ret = pack_init(&w, body, body_cap,
						s->page_size);
		}
	}
	if (!ret && w.count)
		ret = put_batch(s, out, &w, batch, batch_cap);
out:
	free(enc);
	free(batch);
	free(body);
	return ret;
}

static int put_console(const struct fake_epoch_spec *s, struct fake_buf *out)
{
	/* No bytes: one empty frame, as the encoder sends. */
	unsigned frames =
		s->console_frames && s->console_len ? s->console_frames : 1;
	Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;
	int ret = 0;

	d.epoch = s->epoch;
	d.term = s->term;
	d.device = "console";
	for (unsigned i = 0; !ret && i < frames; i++) {
		size_t from = s->console_len * i / frames;
		size_t to = s->console_len * (i + 1) / frames;

		d.offset = s->console_off + from;
		d.data.data = to > from ? (uint8_t *)s->console + from : NULL;
		d.data.len = to - from;
		ret = fake_buf_put_msg(out, WIRE_DEVICE_STATE, &d.base);
	}
	return ret;
}

int fake_epochs_build(const struct fake_epoch_spec *s, struct fake_buf *out,
		      uint64_t *checksum)
{
	Remora__EpochBegin begin = REMORA__EPOCH_BEGIN__INIT;
	Remora__CpuState cpu = REMORA__CPU_STATE__INIT;
	Remora__EpochCommit commit = REMORA__EPOCH_COMMIT__INIT;
	size_t was = out->len;
	int ret;

	if (!spec_ok(s))
		return -EINVAL;
	begin.epoch = s->epoch;
	begin.term = s->term;
	begin.precopy = s->precopy;
	begin.dirty_pages = s->npages;
	ret = fake_buf_put_msg(out, WIRE_EPOCH_BEGIN, &begin.base);
	if (!ret)
		ret = put_pages(s, out);
	if (!ret && !s->precopy) {
		cpu.epoch = s->epoch;
		cpu.term = s->term;
		cpu.state.data = (uint8_t *)s->state;
		cpu.state.len = s->state_len;
		ret = fake_buf_put_msg(out, WIRE_CPU_STATE, &cpu.base);
	}
	if (!ret && !s->precopy)
		ret = put_console(s, out); /* perhaps one empty frame */
	if (!ret)
		ret = fake_epochs_checksum(
			s->pages, s->npages, s->page_size, s->state,
			s->state_len, (const uint8_t *)s->console,
			s->console_len, s->console_off, &commit.checksum);
	if (!ret) {
		commit.epoch = s->epoch;
		commit.term = s->term;
		commit.pages = s->npages;
		ret = fake_buf_put_msg(out, WIRE_EPOCH_COMMIT, &commit.base);
	}
	if (ret) {
		out->len = was;
		return ret;
	}
	if (checksum)
		*checksum = commit.checksum;
	return 0;
}

int fake_frames_next(const uint8_t *buf, size_t len, size_t *off, uint8_t *type,
		     size_t *frame_len)
{
	size_t payload;

	if (*off == len)
		return 0;
	if (*off > len || len - *off < FRAME_HEADER_SIZE)
		return -EBADMSG;
	payload = get_le32(buf + *off);
	if (len - *off - FRAME_HEADER_SIZE < payload)
		return -EBADMSG;
	*type = buf[*off + 4];
	*frame_len = FRAME_HEADER_SIZE + payload;
	*off += *frame_len;
	return 1;
}
