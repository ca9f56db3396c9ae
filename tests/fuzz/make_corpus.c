/*
 * Writes the seed corpora of the fuzz targets into the directory given on the
 * command line (tests/fuzz/corpus): a handful of meaningful inputs per target
 * (valid ones of every kind, each class of malformed one), from which the
 * fuzzer grows its own. Run by hand when a format changes; the output is
 * committed and replayed by the test suite.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <elf.h>
#include <linux/kvm.h>
#include <xxhash.h>

#include "auth.h"
#include "codec.h"
#include "etcd_json.h"
#include "fuzz_auth.h"
#include "pack.h"
#include "snapshot.h"
#include "state.h"
#include "status.h"
#include "wire.h"

static const char *dir;

static void put(const char *target, const char *name, const uint8_t *a,
		size_t alen, const uint8_t *b, size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void roundtrip_seeds(void)
{
	static const struct {
		const char *name;
		uint8_t in[16];
		size_t len;
	} s[] = {
		{"unchanged", {0x02}, 1},
		{"zero", {0x0a}, 1},
		{"one-byte-first", {0x02, 0, 0, 1, 0x77}, 5},
		{"one-byte-last", {0x02, 0xff, 0x0f, 1, 0x77}, 5},
		{"run64", {0x12, 0x00, 0x08, 64, 0x31}, 5},
		{"two-runs-gap2",
		 {0x12, 0x10, 0, 8, 0x31, 0x1a, 0, 8, 0x44},
		 9},
		{"small-page", {0x13, 0x70, 0, 16, 0x99}, 5},
		{"unknown-old", {0x06, 0x00, 0x01, 200, 0x42}, 5},
		{"input-old",
		 {0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		 13},
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("codec_roundtrip", s[i].name, s[i].in, s[i].len, NULL, 0);
}

static void decode_seeds(void)
{
	static const struct {
		const char *name;
		uint8_t in[16];
		size_t len;
	} s[] = {
		{"unchanged", {1, 0}, 2},
		{"zero", {2, 0}, 2},
		{"delta-first", {3, 0, 0x00, 0x01, 0xff}, 5},
		{"delta-last", {3, 0, 0xff, 0x1f, 0x01, 0x42}, 6},
		{"delta-two", {3, 0, 5, 2, 1, 2, 9, 1, 3}, 9},
		{"truncated-varint", {3, 0, 0x80}, 3},
		{"overlong-varint", {3, 0, 0x80, 0x00, 1, 1}, 6},
		{"skip-past-end", {3, 1, 0x81, 0x01, 1, 1}, 6},
		{"zero-len", {3, 0, 4, 0}, 4},
		{"zero-skip-later", {3, 0, 0, 1, 7, 0, 1, 7}, 8},
		{"trailing", {3, 0, 0, 1, 7, 3}, 6},
		{"bad-kind", {5, 0, 1}, 3},
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("codec_decode", s[i].name, s[i].in, s[i].len, NULL, 0);
}

static void pack_seeds(void)
{
	static uint8_t pages[3][4096], body[4 * (4096 + 16)],
		out[4 * (4096 + 16) + PACK_HEADER_SIZE];
	uint8_t enc[4096], flag;
	struct pack_writer w;
	size_t len;
	long blen;
	int kind;

	for (int i = 0; i < 4096; i++) {
		pages[0][i] = (uint8_t)i;
		pages[1][i] = (uint8_t)(i * 7919 >> 3);
	}
	memcpy(pages[2], pages[0], 4096);
	pages[2][100] ^= 0x55;
	pages[2][2000] ^= 0x0f;

	for (int lz = 0; lz < 2; lz++) {
		pack_init(&w, body, sizeof(body), 4096);
		kind = codec_encode(pages[0], pages[2], 4096, enc, &len);
		pack_add(&w, 3, kind, enc, len);
		pack_add(&w, 4, CODEC_ZERO, NULL, 0);
		kind = codec_encode(NULL, pages[lz], 4096, enc, &len);
		pack_add(&w, 1000, kind, enc, len);
		blen = pack_finish(&w, 1, out, sizeof(out));
		if (blen < 0)
			exit(1);
		flag = 0;
		put("pack_unpack", lz ? "mixed-lz4" : "mixed-stored", &flag, 1,
		    out, (size_t)blen);
		/* The same with a flipped body byte: repaired, and not. */
		out[blen - 3] ^= 0x40;
		put("pack_unpack", lz ? "flipped-lz4" : "flipped-stored", &flag,
		    1, out, (size_t)blen);
		flag = 1;
		put("pack_unpack",
		    lz ? "flipped-lz4-repaired" : "flipped-stored-repaired",
		    &flag, 1, out, (size_t)blen);
	}
	flag = 0;
	put("pack_unpack", "header-only", &flag, 1, out, PACK_HEADER_SIZE);
}

/* A minimal static x86-64 executable: one PT_LOAD segment at 1 MiB. */
static void elf_seeds(void)
{
	uint8_t img[256];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	memset(img, 0, sizeof(img));
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0x100000 + 0xb0;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = 0;
	ph.p_vaddr = ph.p_paddr = 0x100000;
	ph.p_filesz = sizeof(img);
	ph.p_memsz = 0x2000;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	img[0xb0] = 0xeb; /* jmp . */
	img[0xb1] = 0xfe;
	put("elf_image", "tiny", img, sizeof(img), NULL, 0);
	img[0] = 0x7e;
	put("elf_image", "bad-magic", img, sizeof(img), NULL, 0);
	put("elf_image", "text", (const uint8_t *)"#!/bin/sh\necho hi\n", 18,
	    NULL, 0);
}

static size_t state_section(uint8_t *b, size_t off, uint32_t id, const void *d,
			    uint32_t len)
{
	memcpy(b + off, &id, 4);
	memcpy(b + off + 4, &len, 4);
	memcpy(b + off + 8, d, len);
	return off + 8 + (len + 7) / 8 * 8;
}

/* A vCPU state blob and snapshot headers, as state.c/snapshot.c lay out. */
static void snapshot_seeds(void)
{
	static uint8_t blob[1 + 16384], hdr[9 + SNAPSHOT_HEADER_SIZE];
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint64_t clock = 123456789, v, mem = 64ull << 20;
	uint32_t ver = 1, n = 4, total;
	size_t off;

	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&fpu, 0, sizeof(fpu));
	regs.rip = 0x101000;
	sregs.cs.selector = 0x1b;
	sregs.cr3 = 0x2000;
	blob[0] = 1; /* state mode */
	off = 16;
	off = state_section(blob + 1, off, S_REGS, &regs, sizeof(regs));
	off = state_section(blob + 1, off, S_SREGS, &sregs, sizeof(sregs));
	off = state_section(blob + 1, off, S_FPU, &fpu, sizeof(fpu));
	off = state_section(blob + 1, off, S_CLOCK, &clock, sizeof(clock));
	total = (uint32_t)off;
	memcpy(blob + 1, "RMVS", 4);
	memcpy(blob + 5, &ver, 4);
	memcpy(blob + 9, &total, 4);
	memcpy(blob + 13, &n, 4);
	put("snapshot", "state-fpu", blob, 1 + off, NULL, 0);

	memset(hdr, 0, sizeof(hdr));
	hdr[0] = 0; /* header mode, checksum as given */
	v = 12288 + mem;
	memcpy(hdr + 1, &v, 8);
	memcpy(hdr + 9, "REMORASN", 8);
	memcpy(hdr + 17, &ver, 4);
	memcpy(hdr + 21, &(uint32_t){SNAPSHOT_HEADER_SIZE}, 4);
	memcpy(hdr + 25, &(uint32_t){4096}, 4);
	memcpy(hdr + 33, &mem, 8);
	v = SNAPSHOT_HEADER_SIZE;
	memcpy(hdr + 41, &v, 8);
	v = 5000;
	memcpy(hdr + 49, &v, 8);
	v = 12288;
	memcpy(hdr + 57, &v, 8);
	v = XXH3_64bits(hdr + 9, 64);
	memcpy(hdr + 73, &v, 8);
	put("snapshot", "header", hdr, sizeof(hdr), NULL, 0);
	hdr[0] = 2;	/* the same, checksum repaired by the target */
	hdr[33] = 0x01; /* memory size not a multiple of 2 MiB */
	put("snapshot", "header-bad-size", hdr, sizeof(hdr), NULL, 0);
}

static void units_seeds(void)
{
	static const char *const s[] = {"64M",
					"1G",
					"4096",
					"2KiB",
					"25ms",
					"2s",
					"1h",
					"18446744073709551615",
					"18446744073709551616",
					"1x",
					""};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "seed-%zu", i);
		put("units", name, (const uint8_t *)s[i], strlen(s[i]), NULL,
		    0);
	}
}

/*
 * Control requests (fuzz_ctl_request): both accepted forms, the spacing the
 * grammar allows, and one seed per refusal; the longest request and one
 * byte more.
 */
static void ctl_request_seeds(void)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;
	} s[] = {
		{"status", "status\n", 7},
		{"status-json", "status json\n", 12},
		{"spaces", "  status   json  \n", 18},
		{"unknown-command", "xyz\n", 4},
		{"unknown-argument", "status xml\n", 11},
		{"too-many-arguments", "status json json\n", 17},
		{"empty-line", "\n", 1},
		{"empty", "", 0},
		{"no-newline", "status", 6},
		{"crlf", "status\r\n", 8},
		{"two-lines", "status\nstatus\n", 14},
		{"nul", "sta\0tus\n", 8},
		{"non-ascii", "status \xff\n", 9},
		{"tab", "status\tjson\n", 12},
	};
	char big[STATUS_REQUEST_MAX + 1];

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("ctl_request", s[i].name, (const uint8_t *)s[i].in,
		    s[i].len, NULL, 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "status json", 11);
	big[STATUS_REQUEST_MAX - 1] = '\n';
	put("ctl_request", "longest", (const uint8_t *)big, STATUS_REQUEST_MAX,
	    NULL, 0);
	big[STATUS_REQUEST_MAX - 1] = ' ';
	big[STATUS_REQUEST_MAX] = '\n';
	put("ctl_request", "overlong", (const uint8_t *)big,
	    STATUS_REQUEST_MAX + 1, NULL, 0);
}

/*
 * The replication stream (fuzz_wire): one frame of every message, a whole
 * conversation, and one seed per rule wire_decode() or the frame reader
 * enforces, each breaking just that rule.
 */
static uint8_t wire_stream[16384];
static size_t wire_len;

static void wire_add(enum wire_type type, const void *msg)
{
	uint8_t *f;
	size_t len;

	if (wire_encode(type, msg, &f, &len) ||
	    len > sizeof(wire_stream) - wire_len) {
		fprintf(stderr, "make_corpus: cannot encode a %s\n",
			wire_type_name(type));
		exit(1);
	}
	memcpy(wire_stream + wire_len, f, len);
	wire_len += len;
	free(f);
}

/* A frame of type around a hand-made payload. */
static void wire_add_raw(uint8_t type, const void *payload, size_t len)
{
	frame_put_header(wire_stream + wire_len, type, len);
	memcpy(wire_stream + wire_len + FRAME_HEADER_SIZE, payload, len);
	wire_len += FRAME_HEADER_SIZE + len;
}

/* Writes the stream built so far as one seed and starts a new one. */
static void wire_put(const char *name)
{
	put("wire", name, wire_stream, wire_len, NULL, 0);
	wire_len = 0;
}

static void wire_seeds(void)
{
	static char *caps[WIRE_CAPS_MAX + 1] = {"lz4", "xxh3"};
	static char name64[WIRE_NAME_MAX + 2], reason[WIRE_REASON_MAX + 2];
	static uint8_t blob[256], many[2 * 129];
	Remora__Hello h = REMORA__HELLO__INIT;
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__CpuState c = REMORA__CPU_STATE__INIT;
	Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;
	Remora__EpochCommit ec = REMORA__EPOCH_COMMIT__INIT;
	Remora__Ack a = REMORA__ACK__INIT;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Refuse r = REMORA__REFUSE__INIT;
	size_t i;

	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 37);
	memset(name64, 'n', WIRE_NAME_MAX);
	memset(reason, 'r', WIRE_REASON_MAX);
	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.term = 1;
	h.page_size = 4096;
	h.guest_mem_bytes = 64ull << 20;
	h.workload_id = "counter";
	h.node = "node-a";
	h.n_capabilities = 2;
	h.capabilities = caps;
	b.epoch = pb.epoch = c.epoch = d.epoch = ec.epoch = a.epoch = 1;
	b.term = pb.term = c.term = d.term = ec.term = a.term = hb.term = 1;
	b.precopy = 1;
	b.dirty_pages = 16384;
	pb.batch.data = c.state.data = d.data.data = blob;
	pb.batch.len = 200;
	c.state.len = 120;
	d.device = "console";
	d.offset = 4000;
	d.data.len = 13;
	ec.pages = 3;
	ec.checksum = 0x0123456789abcdefull;
	hb.last_epoch = 1;
	r.term = 1;
	r.reason = "guest memory 64 MiB differs from ours (128 MiB)";

	/* Every message alone, valid. */
	wire_add(WIRE_HELLO, &h);
	wire_put("hello");
	wire_add(WIRE_EPOCH_BEGIN, &b);
	wire_put("epoch-begin");
	wire_add(WIRE_PAGE_BATCH, &pb);
	wire_put("page-batch");
	wire_add(WIRE_CPU_STATE, &c);
	wire_put("cpu-state");
	wire_add(WIRE_DEVICE_STATE, &d);
	wire_put("device-state");
	wire_add(WIRE_EPOCH_COMMIT, &ec);
	wire_put("epoch-commit");
	wire_add(WIRE_ACK, &a);
	wire_put("ack");
	wire_add(WIRE_HEARTBEAT, &hb);
	wire_put("heartbeat");
	wire_add(WIRE_REFUSE, &r);
	wire_put("refuse");
	{
		Remora__Heartbeat zero = REMORA__HEARTBEAT__INIT;

		wire_add(WIRE_HEARTBEAT, &zero); /* a 0-byte payload */
		wire_put("heartbeat-empty");
	}

	/* A conversation: handshake, a pre-copy round, a checkpoint. */
	wire_add(WIRE_HELLO, &h);
	wire_add(WIRE_EPOCH_BEGIN, &b);
	wire_add(WIRE_PAGE_BATCH, &pb);
	wire_add(WIRE_EPOCH_COMMIT, &ec);
	b.epoch = pb.epoch = c.epoch = d.epoch = ec.epoch = 2;
	b.precopy = 0;
	wire_add(WIRE_EPOCH_BEGIN, &b);
	wire_add(WIRE_PAGE_BATCH, &pb);
	pb.term = 0; /* term 0: left off the wire */
	wire_add(WIRE_PAGE_BATCH, &pb);
	wire_add(WIRE_CPU_STATE, &c);
	wire_add(WIRE_DEVICE_STATE, &d);
	wire_add(WIRE_EPOCH_COMMIT, &ec);
	wire_add(WIRE_ACK, &a);
	wire_add(WIRE_HEARTBEAT, &hb);
	wire_put("conversation");

	/* Hello at its limits, and one capability over. */
	for (i = 0; i <= WIRE_CAPS_MAX; i++)
		caps[i] = name64;
	h.n_capabilities = WIRE_CAPS_MAX;
	h.node = h.workload_id = name64;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-limits");
	h.n_capabilities = WIRE_CAPS_MAX + 1;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-33-capabilities");

	/* Each Hello rule broken. */
	caps[0] = "lz4";
	caps[1] = "xxh3";
	h.n_capabilities = 2;
	h.node = "node-a";
	h.workload_id = "counter";
	h.protocol_version = 0;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-version-0");
	h.protocol_version = 1;
	h.page_size = 0;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-page-size-0");
	h.page_size = 4096;
	h.guest_mem_bytes = 0;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-memory-0");
	h.guest_mem_bytes = 64ull << 20;
	h.node = "";
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-node-empty");
	name64[WIRE_NAME_MAX] = 'x';
	h.node = name64;
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-node-long");
	name64[WIRE_NAME_MAX] = '\0';
	h.node = "node\x1b";
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-node-control");
	h.node = "node-a";
	h.workload_id = "";
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-workload-empty");
	h.workload_id = "counter";
	caps[1] = "";
	wire_add(WIRE_HELLO, &h);
	wire_put("hello-capability-empty");
	caps[1] = "xxh3";

	/* Each epoch rule broken. */
	b.epoch = pb.epoch = c.epoch = d.epoch = ec.epoch = a.epoch = 0;
	wire_add(WIRE_EPOCH_BEGIN, &b);
	wire_put("epoch-begin-epoch-0");
	wire_add(WIRE_PAGE_BATCH, &pb);
	wire_put("page-batch-epoch-0");
	wire_add(WIRE_CPU_STATE, &c);
	wire_put("cpu-state-epoch-0");
	wire_add(WIRE_DEVICE_STATE, &d);
	wire_put("device-state-epoch-0");
	wire_add(WIRE_EPOCH_COMMIT, &ec);
	wire_put("epoch-commit-epoch-0");
	wire_add(WIRE_ACK, &a);
	wire_put("ack-epoch-0");
	pb.epoch = c.epoch = d.epoch = 3;
	pb.batch.len = 0;
	wire_add(WIRE_PAGE_BATCH, &pb);
	wire_put("page-batch-empty");
	c.state.len = 0;
	wire_add(WIRE_CPU_STATE, &c);
	wire_put("cpu-state-empty");
	d.device = "";
	wire_add(WIRE_DEVICE_STATE, &d);
	wire_put("device-state-name-empty");
	d.device = "console";
	d.offset = UINT64_MAX - 5;
	wire_add(WIRE_DEVICE_STATE, &d);
	wire_put("device-state-offset-overflow");

	/* Refuse: too long, more than one line. */
	reason[WIRE_REASON_MAX] = 'r';
	r.reason = reason;
	wire_add(WIRE_REFUSE, &r);
	wire_put("refuse-long");
	r.reason = "two\nlines";
	wire_add(WIRE_REFUSE, &r);
	wire_put("refuse-newline");

	/* Payloads protobuf-c alone would get wrong or choke on. */
	wire_add_raw(WIRE_REFUSE, "\x12\x03\x61\x00\x62", 5);
	wire_put("refuse-nul");
	wire_add_raw(WIRE_ACK, "\x08\x01\xa0\x06\x05\xaa\x06\x01x", 9);
	wire_put("ack-unknown-fields");
	for (i = 0; i < sizeof(many); i += 2) {
		many[i] = 0x08;
		many[i + 1] = 0x01;
	}
	wire_add_raw(WIRE_REFUSE, many, sizeof(many));
	wire_put("refuse-129-fields");
	wire_add_raw(WIRE_ACK, "\x0b\x0c", 2);
	wire_put("ack-group");
	wire_add_raw(WIRE_PAGE_BATCH, "\x08\x01\x1a\x7f\x00", 5);
	wire_put("page-batch-length-past-end");

	/* Frames the reader refuses, and streams that stop halfway. */
	wire_add_raw(42, "", 0);
	wire_put("unknown-type");
	wire_add(WIRE_HEARTBEAT, &hb);
	memcpy(wire_stream + wire_len, "\xff\xff\xff\xff\x03", 5);
	wire_len += 5;
	wire_put("heartbeat-then-4-GiB-batch");
	frame_put_header(wire_stream, WIRE_ACK, wire_type_max(WIRE_ACK) + 1);
	wire_len = FRAME_HEADER_SIZE;
	wire_put("ack-over-maximum");
	wire_add(WIRE_EPOCH_COMMIT, &ec);
	wire_len -= 1;
	wire_put("truncated-payload");
	wire_add(WIRE_ACK, &a);
	wire_len = 3;
	wire_put("truncated-header");
}

/*
 * Authenticated streams (fuzz_auth): real sessions under fuzz_auth.h's key,
 * so the fuzzer starts past the tag check; and one seed per way a stream
 * fails it (no Challenge, an untagged frame, a replay, a flipped bit, the
 * other direction's key).
 */
static uint8_t auth_stream[8192];
static size_t auth_len;

static void auth_add(struct auth_dir *d, enum wire_type type, const void *msg)
{
	uint8_t *f;
	size_t len;

	if (wire_encode(type, msg, &f, &len) ||
	    len + AUTH_TAG_BYTES > sizeof(auth_stream) - auth_len) {
		fprintf(stderr, "make_corpus: cannot encode a %s\n",
			wire_type_name(type));
		exit(1);
	}
	memcpy(auth_stream + auth_len, f, len);
	if (d)
		auth_seal(d, f, f + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE,
			  auth_stream + auth_len + len);
	auth_len += len + (d ? AUTH_TAG_BYTES : 0);
	free(f);
}

static void auth_put(const char *name)
{
	put("auth", name, auth_stream, auth_len, NULL, 0);
	auth_len = 0;
}

/* The peer's Challenge, and the sessions it makes (peer = dialer). */
static void auth_start(struct auth_session *peer, struct auth_session *us)
{
	static uint8_t nonce[AUTH_NONCE_BYTES];
	Remora__Challenge ch = REMORA__CHALLENGE__INIT;
	struct auth_key k;

	memset(nonce, 0x77, sizeof(nonce));
	fuzz_auth_key(&k);
	ch.version = AUTH_VERSION;
	ch.suites = AUTH_SUITE_CHACHA20_POLY1305;
	ch.nonce.data = nonce;
	ch.nonce.len = sizeof(nonce);
	auth_session_init(peer, &k, nonce, fuzz_auth_our_nonce, 1,
			  AUTH_SUITE_CHACHA20_POLY1305);
	auth_session_init(us, &k, nonce, fuzz_auth_our_nonce, 0,
			  AUTH_SUITE_CHACHA20_POLY1305);
	auth_add(NULL, WIRE_CHALLENGE, &ch);
}

static void auth_seeds(void)
{
	static uint8_t blob[200];
	Remora__Hello h = REMORA__HELLO__INIT;
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__EpochCommit ec = REMORA__EPOCH_COMMIT__INIT;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct auth_session peer, us;
	size_t mark;

	memset(blob, 0x3c, sizeof(blob));
	wire_hello_init(&h, 1, 4096, 64ull << 20, "counter", "node-a",
			REMORA__ROLE__ROLE_BACKUP);
	b.epoch = pb.epoch = ec.epoch = 1;
	b.term = pb.term = ec.term = hb.term = 1;
	pb.batch.data = blob;
	pb.batch.len = sizeof(blob);
	ec.pages = 1;

	auth_start(&peer, &us);
	auth_put("challenge-only");
	auth_start(&peer, &us);
	auth_add(&peer.tx, WIRE_HELLO, &h);
	auth_add(&peer.tx, WIRE_EPOCH_BEGIN, &b);
	auth_add(&peer.tx, WIRE_PAGE_BATCH, &pb);
	auth_add(&peer.tx, WIRE_EPOCH_COMMIT, &ec);
	auth_add(&peer.tx, WIRE_HEARTBEAT, &hb);
	hb.term = 0; /* an empty payload, tagged */
	auth_add(&peer.tx, WIRE_HEARTBEAT, &hb);
	auth_put("conversation");

	/* No Challenge: a plain Hello first. */
	auth_add(NULL, WIRE_HELLO, &h);
	auth_put("no-challenge");
	/* An untagged (forged) Hello after the Challenge. */
	auth_start(&peer, &us);
	auth_add(NULL, WIRE_HELLO, &h);
	auth_put("untagged-hello");
	/* A replayed Heartbeat. */
	auth_start(&peer, &us);
	mark = auth_len;
	auth_add(&peer.tx, WIRE_HEARTBEAT, &hb);
	memcpy(auth_stream + auth_len, auth_stream + mark, auth_len - mark);
	auth_len += auth_len - mark;
	auth_put("replay");
	/* A flipped bit in a payload. */
	auth_start(&peer, &us);
	mark = auth_len;
	auth_add(&peer.tx, WIRE_HELLO, &h);
	auth_stream[mark + FRAME_HEADER_SIZE + 3] ^= 0x10;
	auth_put("flipped-bit");
	/* Sealed with the other direction's key (a reflection). */
	auth_start(&peer, &us);
	auth_add(&us.tx, WIRE_HEARTBEAT, &hb);
	auth_put("reflected");
	/* A second Challenge, tagged. */
	auth_start(&peer, &us);
	{
		Remora__Challenge ch = REMORA__CHALLENGE__INIT;

		ch.version = AUTH_VERSION;
		ch.suites = 3;
		ch.nonce.data = blob;
		ch.nonce.len = AUTH_NONCE_BYTES;
		auth_add(&peer.tx, WIRE_CHALLENGE, &ch);
	}
	auth_put("second-challenge");
}

/*
 * etcd's gateway replies (fuzz_etcd_json), as etcd 3.4.23 sent them to the
 * arbiter, plus its error bodies, an owner value, base64, and the usual
 * truncations.
 */
static void etcd_json_seeds(void)
{
#define ETCD_HDR                                                           \
	"\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":" \
	"\"3319814642761637952\",\"revision\":\"2\",\"raft_term\":\"2\"}"
	static const struct {
		const char *name, *body;
	} s[] = {
		{"range-absent", "{" ETCD_HDR "}"},
		{"range-found",
		 "{" ETCD_HDR ",\"kvs\":[{\"key\":\"L3JlbW9yYS9jL293bmVy\","
		 "\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
		 "\"1\",\"value\":\"YSAx\",\"lease\":\"2324035865281490701\"}],"
		 "\"count\":\"1\"}"},
		{"txn-won",
		 "{" ETCD_HDR ",\"succeeded\":true,\"responses\":[{\"response_"
		 "put\":{\"header\":{\"revision\":\"2\"}}},{\"response_put\":{"
		 "\"header\":{\"revision\":\"2\"}}}]}"},
		{"txn-busy",
		 "{" ETCD_HDR
		 ",\"responses\":[{\"response_range\":{\"header\":{"
		 "\"revision\":\"2\"},\"kvs\":[{\"key\":"
		 "\"L3JlbW9yYS9jL293bmVy\","
		 "\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
		 "\"1\",\"value\":\"YSAx\",\"lease\":\"2324035865281490701\"}],"
		 "\"count\":\"1\"}},{\"response_range\":{\"header\":{"
		 "\"revision\":\"2\"},\"kvs\":[{\"key\":\"L3JlbW9yYS9jL3Rlcm0="
		 "\","
		 "\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
		 "\"1\",\"value\":\"MQ==\"}],\"count\":\"1\"}}]}"},
		{"grant", "{" ETCD_HDR ",\"ID\":\"2324035865281490694\","
			  "\"TTL\":\"2\"}"},
		{"keepalive-kept", "{\"result\":{" ETCD_HDR ",\"ID\":"
				   "\"2324035865281490696\",\"TTL\":\"5\"}}\n"},
		{"keepalive-gone", "{\"result\":{" ETCD_HDR ",\"ID\":"
				   "\"2324035865281490694\"}}\n"},
		{"keepalive-two",
		 "{\"result\":{" ETCD_HDR ",\"TTL\":\"5\"}}\n"
		 "{\"result\":{" ETCD_HDR ",\"TTL\":\"7\"}}\n"},
		{"keepalive-stream-error",
		 "{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":"
		 "\"etcdserver: requested lease not found\",\"http_status\":"
		 "\"Not Found\"}}"},
		{"error-not-found",
		 "{\"error\":\"etcdserver: requested lease not "
		 "found\",\"message"
		 "\":\"etcdserver: requested lease not found\",\"code\":5}"},
		{"error-ttl", "{\"error\":\"etcdserver: too large lease TTL\","
			      "\"message\":\"etcdserver: too large lease TTL\","
			      "\"code\":11}"},
		{"revoke", "{" ETCD_HDR "}"},
		{"owner", "node-b 18446744073709551615"},
		{"term", "42"},
		{"base64", "Zm9vYmE="},
		{"truncated",
		 "{\"result\":{" ETCD_HDR ",\"TTL\":\"5\"}}\n{\"re"},
		{"deep", "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}"},
		{"bad-int", "{" ETCD_HDR ",\"ID\":\"0x10\",\"TTL\":\"-0\"}"},
	};
#undef ETCD_HDR

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		put("etcd_json", s[i].name, (const uint8_t *)s[i].body,
		    strlen(s[i].body), NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	roundtrip_seeds();
	decode_seeds();
	pack_seeds();
	elf_seeds();
	snapshot_seeds();
	units_seeds();
	wire_seeds();
	ctl_request_seeds();
	auth_seeds();
	etcd_json_seeds();
	return 0;
}
