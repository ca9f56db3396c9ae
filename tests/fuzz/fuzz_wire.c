/*
 * Fuzz target: a replication stream from an arbitrary peer. The input is a
 * byte stream fed through a frame_reader (frame.h) whose callback runs
 * wire_decode() (wire.h) on every frame, as common/conn.c does, except that
 * a frame that does not decode does not end the stream, so later frames are
 * explored too.
 *
 * Properties: nothing reads or writes outside its buffers or leaks; the
 * reader ends with 0, -EBADMSG or -E2BIG and a reason; cutting the stream
 * into small pieces gives the same frames and the same end; a refused
 * payload gets one non-empty line naming its message; an accepted message
 * keeps wire.h's promises (non-zero epochs, bounded printable names, present
 * blobs), and re-encoding it with wire_encode() gives a frame that decodes
 * to a message whose encoding is byte for byte the same.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "frame.h"
#include "fuzz.h"
#include "wire.h"

struct run {
	int decode; /* decode the frames (the first pass) */
	size_t frames;
	XXH3_state_t *h; /* over every frame's type, length and payload */
};

static int printable(const char *s, size_t max, int may_be_empty)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i == max || s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return may_be_empty || i > 0;
}

/* What wire.h promises about a decoded message. */
static void check_promises(const struct wire_msg *m)
{
	switch ((int)m->type) {
	case WIRE_HELLO:
		FUZZ_CHECK(m->hello->protocol_version != 0);
		FUZZ_CHECK(m->hello->page_size != 0);
		FUZZ_CHECK(m->hello->guest_mem_bytes != 0);
		FUZZ_CHECK(printable(m->hello->node, WIRE_NAME_MAX, 0));
		FUZZ_CHECK(printable(m->hello->workload_id, WIRE_NAME_MAX, 0));
		FUZZ_CHECK(m->hello->n_capabilities <= WIRE_CAPS_MAX);
		for (size_t i = 0; i < m->hello->n_capabilities; i++)
			FUZZ_CHECK(printable(m->hello->capabilities[i],
					     WIRE_NAME_MAX, 0));
		break;
	case WIRE_EPOCH_BEGIN:
		FUZZ_CHECK(m->begin->epoch != 0);
		break;
	case WIRE_PAGE_BATCH:
		FUZZ_CHECK(m->batch->epoch != 0);
		FUZZ_CHECK(m->batch->batch.len > 0);
		break;
	case WIRE_CPU_STATE:
		FUZZ_CHECK(m->cpu->epoch != 0);
		FUZZ_CHECK(m->cpu->state.len > 0);
		FUZZ_CHECK(m->cpu->state.len <= WIRE_STATE_MAX);
		break;
	case WIRE_DEVICE_STATE:
		FUZZ_CHECK(m->device->epoch != 0);
		FUZZ_CHECK(printable(m->device->device, WIRE_NAME_MAX, 0));
		FUZZ_CHECK(m->device->data.len <= WIRE_CONSOLE_MAX);
		FUZZ_CHECK(m->device->offset <=
			   UINT64_MAX - m->device->data.len);
		break;
	case WIRE_EPOCH_COMMIT:
		FUZZ_CHECK(m->commit->epoch != 0);
		break;
	case WIRE_ACK:
		FUZZ_CHECK(m->ack->epoch != 0);
		break;
	case WIRE_HEARTBEAT:
		break;
	case WIRE_REFUSE:
		FUZZ_CHECK(printable(m->refuse->reason, WIRE_REASON_MAX, 1));
		break;
	case WIRE_CHALLENGE:
		FUZZ_CHECK(m->challenge->version != 0);
		FUZZ_CHECK(m->challenge->nonce.len == WIRE_NONCE_SIZE);
		FUZZ_CHECK(m->challenge->suites != 0);
		break;
	default:
		FUZZ_CHECK(!"decoded an unknown type");
	}
}

/*
 * wire_decode() reads a PageBatch in place, not through protobuf-c: what it
 * accepts, protobuf-c unpacks to the same fields, and what it finds
 * malformed, protobuf-c refuses too (b: the decoded batch, or NULL).
 */
static void same_as_protobuf_c(const uint8_t *p, size_t len,
			       const Remora__PageBatch *b, const char *err)
{
	Remora__PageBatch *u = remora__page_batch__unpack(
		NULL, len, len ? p : (const uint8_t *)"");

	if (b) {
		FUZZ_CHECK(u != NULL);
		FUZZ_CHECK(u->epoch == b->epoch && u->term == b->term);
		FUZZ_CHECK(u->batch.len == b->batch.len);
		FUZZ_CHECK(memcmp(u->batch.data, b->batch.data, b->batch.len) ==
			   0);
	} else if (strstr(err, "wrong wire type")) {
		FUZZ_CHECK(u == NULL);
	}
	if (u)
		remora__page_batch__free_unpacked(u, NULL);
}

static void decode_frame(uint8_t type, const uint8_t *payload, size_t len)
{
	struct wire_msg m, m2;
	char err[256];
	uint8_t *copy, *f, *f2;
	size_t flen, flen2;
	int rc;

	/* An exact copy: the reader's buffer may be larger than the frame. */
	copy = malloc(len ? len : 1);
	FUZZ_CHECK(copy != NULL);
	if (len)
		memcpy(copy, payload, len);
	err[0] = '\0';
	rc = wire_decode(type, copy, len, &m, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (type == WIRE_PAGE_BATCH)
		same_as_protobuf_c(copy, len, rc ? NULL : m.batch, err);
	if (rc) {
		FUZZ_CHECK(m.base == NULL);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		wire_msg_free(&m);
		free(copy);
		return;
	}
	FUZZ_CHECK(m.type == type && m.base != NULL);
	check_promises(&m);

	/* Canonical encoding: never longer than what was received. */
	FUZZ_CHECK(wire_encode(m.type, m.base, &f, &flen) == 0);
	FUZZ_CHECK(flen >= FRAME_HEADER_SIZE &&
		   flen - FRAME_HEADER_SIZE <= len);
	FUZZ_CHECK(f[4] == type);
	rc = wire_decode(type, f + FRAME_HEADER_SIZE, flen - FRAME_HEADER_SIZE,
			 &m2, err, sizeof(err));
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(wire_encode(m2.type, m2.base, &f2, &flen2) == 0);
	FUZZ_CHECK(flen2 == flen && memcmp(f, f2, flen) == 0);

	/* A PageBatch built around its batch is the same frame. */
	if (type == WIRE_PAGE_BATCH) {
		uint8_t prefix[WIRE_BATCH_PREFIX_MAX];
		size_t plen =
			wire_batch_prefix(prefix, m.batch->epoch, m.batch->term,
					  m.batch->batch.len);

		/* Read in place, a PageBatch keeps no unknown field. */
		FUZZ_CHECK(m.batch->base.n_unknown_fields == 0);
		FUZZ_CHECK(plen > 0 && plen + m.batch->batch.len == flen);
		FUZZ_CHECK(memcmp(prefix, f, plen) == 0);
	}
	free(f);
	free(f2);
	wire_msg_free(&m2);
	wire_msg_free(&m);
	free(copy);
}

static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct run *r = opaque;
	uint8_t hdr[FRAME_HEADER_SIZE];

	FUZZ_CHECK(len <= wire_type_max(type));
	FUZZ_CHECK(len == 0 || payload != NULL);
	r->frames++;
	frame_put_header(hdr, type, len);
	XXH3_64bits_update(r->h, hdr, sizeof(hdr));
	XXH3_64bits_update(r->h, payload, len);
	if (r->decode)
		decode_frame(type, payload, len);
	return 0;
}

/* Feeds data in pieces of at most step bytes (0: all at once). */
static int feed(struct run *run, const uint8_t *data, size_t size, size_t step,
		int *idle)
{
	struct frame_reader r;
	size_t at = 0, n;
	int rc = 0;

	frame_reader_init(&r, wire_type_max);
	do {
		n = step && size - at > step ? step : size - at;
		rc = frame_feed(&r, data + at, n, on_frame, run);
		at += n;
	} while (rc == 0 && at < size);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -E2BIG);
	FUZZ_CHECK(rc == 0 || (r.why != NULL && r.why[0] != '\0'));
	FUZZ_CHECK(r.cap <= FRAME_MAX_PAYLOAD);
	/* Sticky. */
	if (rc)
		FUZZ_CHECK(frame_feed(&r, data, size, on_frame, run) == rc);
	*idle = frame_reader_idle(&r);
	frame_reader_free(&r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = {.decode = 1}, cut = {0};
	int rc_whole, rc_cut, idle_whole, idle_cut;

	whole.h = XXH3_createState();
	cut.h = XXH3_createState();
	FUZZ_CHECK(whole.h && cut.h);
	XXH3_64bits_reset(whole.h);
	XXH3_64bits_reset(cut.h);

	rc_whole = feed(&whole, data, size, 0, &idle_whole);
	rc_cut = feed(&cut, data, size, size ? 1 + data[0] % 13 : 1, &idle_cut);
	FUZZ_CHECK(rc_whole == rc_cut && idle_whole == idle_cut);
	FUZZ_CHECK(whole.frames == cut.frames);
	FUZZ_CHECK(XXH3_64bits_digest(whole.h) == XXH3_64bits_digest(cut.h));

	XXH3_freeState(whole.h);
	XXH3_freeState(cut.h);
	return 0;
}
