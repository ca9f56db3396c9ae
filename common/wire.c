/*
 * Wire messages: the frame types of wire.h, their size limits, and the
 * checks that turn a frame's payload into a message a receiver can use
 * without further structural doubt.
 *
 * Payload grammar (proto3 as protobuf-c writes and reads it):
 *
 *   payload = field*                        at most WIRE_FIELDS_MAX fields
 *   field   = key:varint value
 *     key      field number << 3 | wire type; numbers 1 .. 2^29 - 1
 *     value    wire type 0: varint; 1: 8 bytes; 5: 4 bytes;
 *              2: length:varint, then length bytes (string, bytes)
 *              (3 and 4, groups, are refused)
 *
 * Fields holding their default (0, false, empty) are left out; unknown
 * field numbers (from a newer peer) are kept and skipped. Before protobuf-c
 * sees a payload, prescan() walks it once without allocating: it bounds the
 * number of fields, because protobuf-c allocates a record per field and a
 * frame of two-byte fields would cost it many times the frame's size; it
 * refuses NUL bytes in strings, which protobuf-c would silently cut at, and
 * field numbers protobuf-c reads but cannot write back (0, over 2^29 - 1).
 * Then each type's check_*() enforces what the receivers rely on (see
 * docs/wire.md for the rules, the limits and the conversation).
 *
 * A PageBatch frame is built without copying the batch by
 * wire_batch_prefix(), which writes exactly the bytes protobuf-c puts before
 * field 3's data: fields 1 and 2 only when non-zero, field 3's key and
 * length only when the batch is not empty.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "varint.h"
#include "wire.h"

/*
 * Room for a message's small fields beside its one big string or blob, and
 * for fields a newer peer may add. Today the most any message needs is 104
 * bytes (DeviceState: four varints, a 64-byte name, data's key and length);
 * the control messages (EpochBegin, EpochCommit, Ack, Heartbeat) need 44 at
 * most. Hello's own maximum: 2278 bytes with 32 capabilities, so 4 KiB.
 */
#define WIRE_OVERHEAD 256u
/* Fields per message, repeats and unknown fields included (Hello: 38). */
#define WIRE_FIELDS_MAX 128u

/* The largest field number protobuf allows. */
#define PB_FIELD_MAX ((1u << 29) - 1)

/* The proto3 keys of PageBatch: field << 3 | wire type. */
#define KEY_EPOCH 0x08 /* 1, varint */
#define KEY_TERM  0x10 /* 2, varint */
#define KEY_BATCH 0x1a /* 3, length-delimited */

typedef int (*check_fn)(const ProtobufCMessage *m, char *err, size_t errlen);

/* What the wire knows about a frame type. */
struct wire_kind {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
	size_t max; /* payload bytes */
	check_fn check;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/*
 * A varint as protobuf reads it: up to ten bytes, non-minimal encodings
 * allowed (varint.h's strict reader would refuse bytes protobuf-c accepts).
 * Returns the bytes used, 0 if truncated or longer than ten bytes.
 */
static size_t pb_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < len && i < VARINT_MAX_BYTES; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static int prescan(const struct wire_kind *k, const uint8_t *p, size_t len,
		   char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	size_t pos = 0, fields = 0, n;
	uint64_t key, v;

	while (pos < len) {
		if (++fields > WIRE_FIELDS_MAX)
			return fail(err, errlen, "%s: more than %u fields",
				    k->name, WIRE_FIELDS_MAX);
		n = pb_varint(p + pos, len - pos, &key);
		/*
		 * Field numbers are 1 .. 2^29 - 1. protobuf-c takes a 0 in
		 * a padded key (0x80 0x00) and larger numbers, then writes
		 * them back as bytes it refuses or as another number.
		 */
		if (!n || key >> 3 == 0 || key >> 3 > PB_FIELD_MAX)
			goto bad;
		pos += n;
		switch (key & 7) {
		case 0: /* varint */
			n = pb_varint(p + pos, len - pos, &v);
			if (!n)
				goto bad;
			pos += n;
			break;
		case 1: /* 64-bit */
			if (len - pos < 8)
				goto bad;
			pos += 8;
			break;
		case 5: /* 32-bit */
			if (len - pos < 4)
				goto bad;
			pos += 4;
			break;
		case 2: /* length-delimited */
			n = pb_varint(p + pos, len - pos, &v);
			if (!n || v > len - pos - n)
				goto bad;
			pos += n;
			f = protobuf_c_message_descriptor_get_field(
				k->desc, (unsigned)(key >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_STRING &&
			    memchr(p + pos, 0, (size_t)v))
				return fail(err, errlen,
					    "%s: %s has a NUL byte", k->name,
					    f->name);
			pos += (size_t)v;
			break;
		default: /* groups, or no wire type at all */
			goto bad;
		}
	}
	return 0;
bad:
	return fail(err, errlen, "%s: not a valid protobuf message", k->name);
}

enum text_fault { TEXT_OK, TEXT_EMPTY, TEXT_LONG, TEXT_UNPRINTABLE };

/* Whether s is printable ASCII (the text ends up in logs) of 1..max bytes. */
static enum text_fault check_text(const char *s, size_t max, int may_be_empty)
{
	size_t i;

	if (!*s && !may_be_empty)
		return TEXT_EMPTY;
	for (i = 0; s[i]; i++) {
		if (i == max)
			return TEXT_LONG;
		if (s[i] < 0x20 || s[i] > 0x7e)
			return TEXT_UNPRINTABLE;
	}
	return TEXT_OK;
}

/* what: "Hello: node name". */
static int text_fail(char *err, size_t errlen, const char *what,
		     enum text_fault f, size_t max)
{
	switch (f) {
	case TEXT_EMPTY:
		return fail(err, errlen, "%s is empty", what);
	case TEXT_LONG:
		return fail(err, errlen, "%s is longer than %zu bytes", what,
			    max);
	default:
		return fail(err, errlen, "%s has a non-printable byte", what);
	}
}

static int check_hello(const ProtobufCMessage *m, char *err, size_t errlen)
{
	const Remora__Hello *h = (const Remora__Hello *)m;
	enum text_fault f;
	char what[64];

	if (h->protocol_version == 0)
		return fail(err, errlen, "Hello: protocol version 0");
	if (h->page_size == 0)
		return fail(err, errlen, "Hello: page size 0");
	if (h->guest_mem_bytes == 0)
		return fail(err, errlen, "Hello: guest memory size 0");
	if ((f = check_text(h->node, WIRE_NAME_MAX, 0)))
		return text_fail(err, errlen, "Hello: node name", f,
				 WIRE_NAME_MAX);
	if ((f = check_text(h->workload_id, WIRE_NAME_MAX, 0)))
		return text_fail(err, errlen, "Hello: workload id", f,
				 WIRE_NAME_MAX);
	if (h->n_capabilities > WIRE_CAPS_MAX)
		return fail(err, errlen, "Hello: %zu capabilities, at most %u",
			    h->n_capabilities, WIRE_CAPS_MAX);
	for (size_t i = 0; i < h->n_capabilities; i++) {
		if ((f = check_text(h->capabilities[i], WIRE_NAME_MAX, 0))) {
			snprintf(what, sizeof(what), "Hello: capability %zu",
				 i);
			return text_fail(err, errlen, what, f, WIRE_NAME_MAX);
		}
	}
	/* proto3 keeps enum numbers it does not know: refuse them here. */
	if (h->role != REMORA__ROLE__ROLE_BACKUP &&
	    h->role != REMORA__ROLE__ROLE_PRIMARY)
		return fail(err, errlen, "Hello: unknown role %d",
			    (int)h->role);
	return 0;
}

static int check_epoch_begin(const ProtobufCMessage *m, char *err,
			     size_t errlen)
{
	if (((const Remora__EpochBegin *)m)->epoch == 0)
		return fail(err, errlen, "EpochBegin: epoch 0");
	return 0;
}

static int check_page_batch(const ProtobufCMessage *m, char *err, size_t errlen)
{
	const Remora__PageBatch *b = (const Remora__PageBatch *)m;

	if (b->epoch == 0)
		return fail(err, errlen, "PageBatch: epoch 0");
	if (b->batch.len == 0)
		return fail(err, errlen, "PageBatch: empty batch");
	return 0;
}

static int check_cpu_state(const ProtobufCMessage *m, char *err, size_t errlen)
{
	const Remora__CpuState *c = (const Remora__CpuState *)m;

	if (c->epoch == 0)
		return fail(err, errlen, "CpuState: epoch 0");
	if (c->state.len == 0)
		return fail(err, errlen, "CpuState: empty state");
	if (c->state.len > WIRE_STATE_MAX)
		return fail(err, errlen,
			    "CpuState: state of %zu bytes, at most %u",
			    c->state.len, WIRE_STATE_MAX);
	return 0;
}

static int check_device_state(const ProtobufCMessage *m, char *err,
			      size_t errlen)
{
	const Remora__DeviceState *d = (const Remora__DeviceState *)m;
	enum text_fault f;

	if (d->epoch == 0)
		return fail(err, errlen, "DeviceState: epoch 0");
	if ((f = check_text(d->device, WIRE_NAME_MAX, 0)))
		return text_fail(err, errlen, "DeviceState: device name", f,
				 WIRE_NAME_MAX);
	if (d->data.len > WIRE_CONSOLE_MAX)
		return fail(err, errlen,
			    "DeviceState: data of %zu bytes, at most %u",
			    d->data.len, WIRE_CONSOLE_MAX);
	if (d->offset > UINT64_MAX - d->data.len)
		return fail(err, errlen,
			    "DeviceState: offset %llu + %zu bytes overflows",
			    (unsigned long long)d->offset, d->data.len);
	return 0;
}

static int check_epoch_commit(const ProtobufCMessage *m, char *err,
			      size_t errlen)
{
	if (((const Remora__EpochCommit *)m)->epoch == 0)
		return fail(err, errlen, "EpochCommit: epoch 0");
	return 0;
}

static int check_ack(const ProtobufCMessage *m, char *err, size_t errlen)
{
	if (((const Remora__Ack *)m)->epoch == 0)
		return fail(err, errlen, "Ack: epoch 0");
	return 0;
}

static int check_refuse(const ProtobufCMessage *m, char *err, size_t errlen)
{
	const Remora__Refuse *r = (const Remora__Refuse *)m;
	enum text_fault f;

	/* An empty reason is allowed: the peer merely did not say why. */
	if ((f = check_text(r->reason, WIRE_REASON_MAX, 1)))
		return text_fail(err, errlen, "Refuse: reason", f,
				 WIRE_REASON_MAX);
	if ((f = check_text(r->primary, WIRE_NAME_MAX, 1)))
		return text_fail(err, errlen, "Refuse: primary", f,
				 WIRE_NAME_MAX);
	return 0;
}

static int check_challenge(const ProtobufCMessage *m, char *err, size_t errlen)
{
	const Remora__Challenge *c = (const Remora__Challenge *)m;

	if (c->version == 0)
		return fail(err, errlen, "Challenge: version 0");
	if (c->nonce.len != WIRE_NONCE_SIZE)
		return fail(err, errlen,
			    "Challenge: nonce of %zu bytes, it must be %u",
			    c->nonce.len, WIRE_NONCE_SIZE);
	if (c->suites == 0)
		return fail(err, errlen, "Challenge: no suite");
	return 0;
}

static const struct wire_kind kinds[WIRE_TYPE_MAX + 1] = {
	[WIRE_HELLO] = {"Hello", &remora__hello__descriptor, 4096, check_hello},
	[WIRE_EPOCH_BEGIN] = {"EpochBegin", &remora__epoch_begin__descriptor,
			      WIRE_OVERHEAD, check_epoch_begin},
	[WIRE_PAGE_BATCH] = {"PageBatch", &remora__page_batch__descriptor,
			     FRAME_MAX_PAYLOAD, check_page_batch},
	[WIRE_CPU_STATE] = {"CpuState", &remora__cpu_state__descriptor,
			    WIRE_STATE_MAX + WIRE_OVERHEAD, check_cpu_state},
	[WIRE_DEVICE_STATE] = {"DeviceState", &remora__device_state__descriptor,
			       WIRE_CONSOLE_MAX + WIRE_OVERHEAD,
			       check_device_state},
	[WIRE_EPOCH_COMMIT] = {"EpochCommit", &remora__epoch_commit__descriptor,
			       WIRE_OVERHEAD, check_epoch_commit},
	[WIRE_ACK] = {"Ack", &remora__ack__descriptor, WIRE_OVERHEAD,
		      check_ack},
	[WIRE_HEARTBEAT] = {"Heartbeat", &remora__heartbeat__descriptor,
			    WIRE_OVERHEAD, NULL},
	[WIRE_REFUSE] = {"Refuse", &remora__refuse__descriptor,
			 WIRE_REASON_MAX + WIRE_NAME_MAX + WIRE_OVERHEAD,
			 check_refuse},
	[WIRE_CHALLENGE] = {"Challenge", &remora__challenge__descriptor,
			    WIRE_OVERHEAD, check_challenge},
};

_Static_assert(4096 + WIRE_OVERHEAD <= FRAME_MAX_PAYLOAD &&
		       WIRE_CONSOLE_MAX + WIRE_OVERHEAD <= FRAME_MAX_PAYLOAD,
	       "a type's maximum over the frame maximum");
_Static_assert(WIRE_BATCH_MAX + (WIRE_BATCH_PREFIX_MAX - FRAME_HEADER_SIZE) <=
		       FRAME_MAX_PAYLOAD,
	       "WIRE_BATCH_MAX does not always fit a PageBatch frame");

static const struct wire_kind *kind_of(unsigned type)
{
	return type <= WIRE_TYPE_MAX && kinds[type].name ? &kinds[type] : NULL;
}

size_t wire_type_max(uint8_t type)
{
	const struct wire_kind *k = kind_of(type);

	return k ? k->max : 0;
}

const char *wire_type_name(int type)
{
	const struct wire_kind *k = type >= 0 ? kind_of((unsigned)type) : NULL;

	return k ? k->name : "unknown";
}

/*
 * A PageBatch read in place, without protobuf-c's copy of its batch (up to
 * a MiB a frame: the bulk of the stream), by protobuf-c's rules: the last
 * of a repeated field wins, unknown fields are skipped, a known field in
 * another wire type is malformed. prescan() has walked the payload (keys,
 * lengths) already, so only a wrong wire type fails here. Returns 0 or -1. tests/fuzz/fuzz_wire.c holds it to
 * protobuf-c's unpacking of the same bytes.
 */
static int page_batch_view(const uint8_t *p, size_t len, Remora__PageBatch *b)
{
	size_t pos = 0, n;
	uint64_t key, v;

	*b = (Remora__PageBatch)REMORA__PAGE_BATCH__INIT;
	while (pos < len) {
		uint64_t field;

		n = pb_varint(p + pos, len - pos, &key);
		if (!n)
			return -1;
		pos += n;
		field = key >> 3;
		switch (key & 7) {
		case 0:
			n = pb_varint(p + pos, len - pos, &v);
			if (!n || field == KEY_BATCH >> 3)
				return -1;
			pos += n;
			if (field == KEY_EPOCH >> 3)
				b->epoch = v;
			else if (field == KEY_TERM >> 3)
				b->term = v;
			break;
		case 1:
		case 5:
			n = (key & 7) == 1 ? 8 : 4;
			if (field <= KEY_BATCH >> 3 || len - pos < n)
				return -1;
			pos += n;
			break;
		case 2:
			n = pb_varint(p + pos, len - pos, &v);
			if (!n || v > len - pos - n)
				return -1;
			pos += n;
			if (field == KEY_BATCH >> 3) {
				b->batch.data = (uint8_t *)(p + pos);
				b->batch.len = (size_t)v;
			} else if (field <= KEY_BATCH >> 3) {
				return -1;
			}
			pos += (size_t)v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int wire_decode(uint8_t type, const uint8_t *payload, size_t len,
		struct wire_msg *m, char *err, size_t errlen)
{
	const struct wire_kind *k = kind_of(type);
	ProtobufCMessage *msg;
	int ret;

	memset(m, 0, sizeof(*m));
	if (!k)
		return fail(err, errlen, "unknown message type %u",
			    (unsigned)type);
	if (len > k->max)
		return fail(err, errlen, "%s: %zu bytes, at most %zu", k->name,
			    len, k->max);
	ret = prescan(k, payload, len, err, errlen);
	if (ret)
		return ret;
	if (type == WIRE_PAGE_BATCH) {
		if (page_batch_view(payload, len, &m->batch_view))
			return fail(err, errlen,
				    "%s: a field in the wrong "
				    "wire type",
				    k->name);
		ret = k->check(&m->batch_view.base, err, errlen);
		if (ret)
			return ret;
		m->type = WIRE_PAGE_BATCH;
		m->batch = &m->batch_view;
		return 0;
	}
	/*
	 * protobuf-c reads nothing for len 0, but wants a pointer. NULL means
	 * malformed or out of memory: it does not say which.
	 */
	msg = protobuf_c_message_unpack(k->desc, NULL, len,
					len ? payload : (const uint8_t *)"");
	if (!msg)
		return fail(err, errlen, "%s: not a valid protobuf message",
			    k->name);
	ret = k->check ? k->check(msg, err, errlen) : 0;
	if (ret) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return ret;
	}
	m->type = (enum wire_type)type;
	m->base = msg;
	return 0;
}

void wire_msg_free(struct wire_msg *m)
{
	if (m->base && m->base != &m->batch_view.base)
		protobuf_c_message_free_unpacked(m->base, NULL);
	m->base = NULL;
}

int wire_encode(enum wire_type type, const ProtobufCMessage *msg,
		uint8_t **frame, size_t *len)
{
	const struct wire_kind *k = kind_of((unsigned)type);
	size_t size;
	uint8_t *buf;

	if (!k || !msg || msg->descriptor != k->desc)
		return -EINVAL;
	size = protobuf_c_message_get_packed_size(msg);
	if (size > k->max)
		return -E2BIG;
	buf = malloc(FRAME_HEADER_SIZE + size);
	if (!buf)
		return -ENOMEM;
	frame_put_header(buf, (uint8_t)type, size);
	if (protobuf_c_message_pack(msg, buf + FRAME_HEADER_SIZE) != size) {
		free(buf);
		return -EINVAL;
	}
	*frame = buf;
	*len = FRAME_HEADER_SIZE + size;
	return 0;
}

size_t wire_batch_prefix(uint8_t *prefix, uint64_t epoch, uint64_t term,
			 size_t batch_len)
{
	uint8_t *p = prefix + FRAME_HEADER_SIZE;
	size_t n = 0;

	if (epoch) {
		p[n++] = KEY_EPOCH;
		n += varint_put(p + n, epoch);
	}
	if (term) {
		p[n++] = KEY_TERM;
		n += varint_put(p + n, term);
	}
	if (batch_len) {
		p[n++] = KEY_BATCH;
		n += varint_put(p + n, batch_len);
	}
	if (batch_len > kinds[WIRE_PAGE_BATCH].max - n)
		return 0;
	frame_put_header(prefix, WIRE_PAGE_BATCH, n + batch_len);
	return FRAME_HEADER_SIZE + n;
}

void wire_refuse_init(Remora__Refuse *r, uint64_t term, const char *primary,
		      const char *reason, int permanent)
{
	remora__refuse__init(r);
	r->term = term;
	r->primary = (char *)primary;
	r->reason = (char *)reason;
	r->permanent = permanent;
}

void wire_hello_init(Remora__Hello *h, uint64_t term, uint32_t page_size,
		     uint64_t mem_bytes, const char *workload, const char *node,
		     Remora__Role role)
{
	static char *caps[] = {"xor-delta-rle"};

	remora__hello__init(h);
	h->protocol_version = WIRE_PROTOCOL_VERSION;
	h->term = term;
	h->page_size = page_size;
	h->guest_mem_bytes = mem_bytes;
	h->workload_id = (char *)workload;
	h->node = (char *)node;
	h->role = role;
	h->capabilities = caps;
	h->n_capabilities = 1;
}
