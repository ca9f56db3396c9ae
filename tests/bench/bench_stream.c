/*
 * bench_stream: the sync stream's two ends in one process, without a VM or
 * a socket: the primary's encoder (primary/encoder.c) turning pre-copy
 * epochs of a guest image into frames, and the backup taking those frames
 * in (wire_decode, then its receiver, which applies them to a replica).
 * It shows what page faults cost the backup: one sync into a fresh memfd
 * (filled on demand) and one into the spare that remora-backup prefaults at
 * start (replica.h). Runs anywhere; no KVM, no root.
 *
 *   bench_stream [--mib N] [--compression lz4|none]
 *                [--backing normal|hugetlb] [--json] [--help]
 *
 * --backing hugetlb: the replica in 2 MiB pages ([workload]
 * memory_backing); the first sync goes into the memory replica_init()
 * reserved for it, unprefaulted, and the second into a fresh memfd, from a
 * pool whose pages the first one touched.
 *
 * The image is N MiB (default 1024) of pseudo-random pages, the case of a
 * memstress working set: every page goes RAW, stored where LZ4 cannot
 * shrink it. Epochs are 2048 pages, as remora-primary sends them, encoded
 * into five reused slots whose output was reserved, as remora-primary's
 * are. Every epoch must be acknowledged, and after each sync the replica
 * must equal the image byte for byte, or the benchmark fails (exit 2, as on
 * any error). The reference is memcpy over the same bytes, measured in the
 * same run. GB/s are guest page bytes per second.
 */
#define BENCH_PROG "bench_stream"
#include "bench_util.h"

#include <getopt.h>

#include "capture.h"
#include "encoder.h"
#include "prefault.h"
#include "receiver.h"
#include "replica.h"
#include "vm.h"
#include "wire.h"

#define EPOCH_PAGES 2048u
#define NSLOTS	    5u
#define DELTA_CACHE (256ull << 20) /* the config's default */
#define TERM	    1u
#define CLUSTER	    "bench"

struct run {
	double encode_gbps, decode_gbps;
	double wire_mb;
};

struct bench {
	uint64_t mem_size, npages;
	uint8_t *image;
	uint64_t *pfns;
	struct encoder enc;
	struct staged slots[NSLOTS];
	struct replica r;
	struct receiver rx;
	int hugetlb; /* --backing hugetlb */
};

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

/* One message to the backup's receiver, which must take it; returns what
 * it says to answer. */
static enum rx_verdict deliver(struct bench *b, const struct wire_msg *m)
{
	struct rx_result res;

	receiver_on_msg(&b->rx, m, &res);
	if (res.verdict == RX_CLOSE || res.verdict == RX_FATAL)
		die("the receiver refused a frame: %s", res.why);
	return res.verdict;
}

/* A new connection from primary "a": the receiver starts a sync. */
static void hello(struct bench *b)
{
	Remora__Hello h;
	struct wire_msg m = {.type = WIRE_HELLO};

	receiver_reset(&b->rx);
	wire_hello_init(&h, TERM, VM_PAGE_SIZE, b->mem_size, CLUSTER, "a",
			REMORA__ROLE__ROLE_PRIMARY);
	m.hello = &h;
	deliver(b, &m);
}

/* Decodes one encoded epoch's frames as the backup does (wire_decode, then
 * the receiver, which applies them to the replica); it must be acked. */
static void decode_epoch(struct bench *b, const struct staged *s)
{
	enum rx_verdict v = RX_OK;
	struct wire_msg m;
	char err[256];

	for (size_t f = 0; f < s->nframes; f++) {
		const uint8_t *fr = s->out + s->frame_off[f];

		if (wire_decode(fr[4], fr + FRAME_HEADER_SIZE,
				s->frame_len[f] - FRAME_HEADER_SIZE, &m, err,
				sizeof(err)))
			die("epoch %llu frame %zu: %s",
			    (unsigned long long)s->epoch, f, err);
		v = deliver(b, &m);
		wire_msg_free(&m);
	}
	if (v != RX_ACK)
		die("epoch %llu was not acknowledged",
		    (unsigned long long)s->epoch);
}

/* One whole sync of the image; the replica it built must equal it. */
static void sync_once(struct bench *b, struct run *out)
{
	uint64_t enc_ns = 0, dec_ns = 0, wire = 0, t0, t1;
	size_t nep = (b->npages + EPOCH_PAGES - 1) / EPOCH_PAGES;

	encoder_reset(&b->enc);
	hello(b);
	for (size_t k = 0; k < nep; k++) {
		struct staged *s = &b->slots[k % NSLOTS];
		size_t n = b->npages - k * EPOCH_PAGES;

		if (n > EPOCH_PAGES)
			n = EPOCH_PAGES;
		t0 = now_ns();
		staged_set_precopy(s, k + 1, b->pfns + k * EPOCH_PAGES, n);
		if (encoder_run(&b->enc, s, b->image))
			die("encoding epoch %zu: %s", k + 1, strerror(-s->err));
		t1 = now_ns();
		decode_epoch(b, s);
		dec_ns += now_ns() - t1;
		enc_ns += t1 - t0;
		wire += s->wire_bytes;
	}
	if (memcmp(b->r.next, b->image, b->mem_size))
		die("the replica differs from the image after the sync");
	out->encode_gbps = gbps(b->mem_size, enc_ns);
	out->decode_gbps = gbps(b->mem_size, dec_ns);
	out->wire_mb = (double)wire / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_stream [--mib N] [--compression lz4|none] "
		   "[--backing normal|hugetlb] [--json] [--help]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mib", required_argument, NULL, 'm'},
		{"compression", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"backing", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench b;
	struct run fresh, spare;
	uint64_t mib = 1024, seed = 7, t0, ref_ns = UINT64_MAX, prefault_ns = 0;
	int json = 0, accel = 1, hugetlb = 0, c;
	char err[256], *end;
	uint8_t *copy;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			errno = 0;
			mib = strtoull(optarg, &end, 10);
			if (errno || *end || mib < 8 || mib > 65536)
				die("--mib: '%s' is not a size from 8 to 65536",
				    optarg);
			break;
		case 'c':
			if (!strcmp(optarg, "lz4") || !strcmp(optarg, "none"))
				accel = !strcmp(optarg, "lz4");
			else
				die("--compression: '%s' is not lz4 or none",
				    optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 'b':
			if (strcmp(optarg, "normal") &&
			    strcmp(optarg, "hugetlb"))
				die("--backing: '%s' is not normal or hugetlb",
				    optarg);
			hugetlb = !strcmp(optarg, "hugetlb");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	memset(&b, 0, sizeof(b));
	b.mem_size = mib << 20;
	b.hugetlb = hugetlb;
	b.npages = b.mem_size / VM_PAGE_SIZE;
	status("making a %llu MiB guest image", (unsigned long long)mib);
	b.image = alloc_bytes(b.mem_size, "the guest image");
	copy = alloc_bytes(b.mem_size, "the memcpy reference");
	for (uint64_t i = 0; i < b.mem_size / 8; i++)
		((uint64_t *)b.image)[i] = splitmix64(&seed);
	b.pfns = malloc(b.npages * sizeof(*b.pfns));
	if (!b.pfns)
		die("out of memory");
	for (uint64_t i = 0; i < b.npages; i++)
		b.pfns[i] = i;
	for (int i = 0; i < 3; i++) {
		t0 = now_ns();
		memcpy(copy, b.image, b.mem_size);
		t0 = now_ns() - t0;
		ref_ns = t0 < ref_ns ? t0 : ref_ns;
	}
	if (encoder_init(&b.enc, b.mem_size, DELTA_CACHE, 1, accel, TERM))
		die("out of memory for the encoder");
	for (unsigned i = 0; i < NSLOTS; i++)
		if (staged_init(&b.slots[i]) ||
		    staged_reserve(&b.slots[i], EPOCH_PAGES, 1) ||
		    staged_reserve_output(&b.slots[i], EPOCH_PAGES))
			die("out of memory for epoch slots");
	if (replica_init(&b.r, b.mem_size, b.hugetlb, err, sizeof(err)))
		die("%s", err);
	b.rx.r = &b.r;
	b.rx.mem_size = b.mem_size;
	b.rx.cluster = CLUSTER;
	b.rx.primary = "a";

	status("sync into a fresh memfd (pages faulted in on demand)");
	sync_once(&b, &fresh);
	if (hugetlb) {
		/* The first sync took the memory replica_init() reserved,
		 * untouched; this one a second fresh memfd, from a pool
		 * whose pages the first one touched. */
		status("sync into a fresh hugetlb memfd again");
		sync_once(&b, &spare);
		goto report;
	}
	status("prefaulting the spare");
	t0 = now_ns();
	if (replica_spare_make(&b.r, err, sizeof(err)))
		die("%s", err);
	if (prefault_shared(replica_spare_fill(&b.r), b.mem_size))
		die("prefaulting the spare: out of memory");
	replica_spare_ready(&b.r, 1);
	prefault_ns = now_ns() - t0;
	status("sync into the prefaulted spare");
	sync_once(&b, &spare);
	if (b.r.spare)
		die("the sync did not take the spare");
report:
	if (json) {
		printf("{\"reference\": {\"memcpy_gbps\": ");
		jnum("%.4f", gbps(b.mem_size, ref_ns));
		printf("}, \"mem_mib\": %llu, \"compression\": \"%s\", "
		       "\"memory_backing\": \"%s\", \"wire_mb\": ",
		       (unsigned long long)mib, accel ? "lz4" : "none",
		       hugetlb ? "hugetlb" : "normal");
		jnum("%.1f", spare.wire_mb);
		printf(", \"encode_gbps\": ");
		jnum("%.4f", spare.encode_gbps);
		printf(", \"decode_fresh_gbps\": ");
		jnum("%.4f", fresh.decode_gbps);
		printf(", \"decode_spare_gbps\": ");
		jnum("%.4f", spare.decode_gbps);
		printf(", \"prefault_s\": ");
		jnum("%.4f", (double)prefault_ns / 1e9);
		printf("}\n");
	} else {
		printf("reference, measured in this run\n");
		printf("  memcpy, %llu MiB                      %8.2f GB/s\n",
		       (unsigned long long)mib, gbps(b.mem_size, ref_ns));
		printf("\nsync of a %llu MiB pseudo-random image in %u-page "
		       "pre-copy epochs, compression %s (%.1f MB of frames)\n",
		       (unsigned long long)mib, EPOCH_PAGES,
		       accel ? "lz4" : "none", spare.wire_mb);
		printf("  primary: encode                          %8.2f GB/s "
		       "(1st sync %.2f)\n",
		       spare.encode_gbps, fresh.encode_gbps);
		printf("  backup: decode into a fresh memfd        %8.2f "
		       "GB/s%s\n",
		       fresh.decode_gbps, hugetlb ? " (hugetlb)" : "");
		if (hugetlb)
			printf("  backup: the same again (the pool's pages "
			       "warm) %8.2f GB/s\n",
			       spare.decode_gbps);
		else
			printf("  backup: decode into the prefaulted spare "
			       "%8.2f GB/s (prefault took %.2f s, at start)\n",
			       spare.decode_gbps, (double)prefault_ns / 1e9);
		printf("both replicas equal the image\n");
	}
	replica_destroy(&b.r);
	for (unsigned i = 0; i < NSLOTS; i++)
		staged_destroy(&b.slots[i]);
	encoder_destroy(&b.enc);
	free(b.pfns);
	munmap(b.image, b.mem_size);
	munmap(copy, b.mem_size);
	return 0;
}
