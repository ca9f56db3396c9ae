/*
 * Wire messages: the protobuf-c messages of proto/remora.proto in frames
 * (frame.h), turned into checked C structures and back.
 *
 * wire_decode() unpacks a frame's payload and validates every field a
 * receiver relies on (non-zero epochs, bounded strings, present blobs), so a
 * decoded message needs no further structural checks; whether it fits the
 * conversation (the right epoch, the right memory size) is the receiver's
 * business. Pure code: no libuv, no I/O, never exits.
 */
#ifndef REMORA_WIRE_H
#define REMORA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "remora.pb-c.h"

#define WIRE_PROTOCOL_VERSION 3u
#define WIRE_NAME_MAX	      64u  /* node names, workload id, device names */
#define WIRE_REASON_MAX	      512u /* Refuse reasons */
#define WIRE_CAPS_MAX	      32u  /* Hello capabilities */
#define WIRE_STATE_MAX	      (64u << 10) /* CpuState blob (VM_STATE_MAX) */
#define WIRE_CONSOLE_MAX      (4u << 20)  /* DeviceState data per epoch */
#define WIRE_NONCE_SIZE	      32u /* Challenge nonce (AUTH_NONCE_BYTES) */

/* Frame types: part of the wire format, never renumber. */
enum wire_type {
	WIRE_HELLO = 1,
	WIRE_EPOCH_BEGIN = 2,
	WIRE_PAGE_BATCH = 3,
	WIRE_CPU_STATE = 4,
	WIRE_DEVICE_STATE = 5,
	WIRE_EPOCH_COMMIT = 6,
	WIRE_ACK = 7,
	WIRE_HEARTBEAT = 8,
	WIRE_REFUSE = 9,
};

/*
 * The first frame, untagged, when the cluster has a key (auth.h). conn.c
 * consumes it and never hands it to an owner, so it stays out of the enum
 * that the owners' switches cover.
 */
#define WIRE_CHALLENGE 10
#define WIRE_TYPE_MAX  10

/* A decoded message; exactly the member named by type is set. */
struct wire_msg {
	enum wire_type type;
	union {
		ProtobufCMessage *base;
		Remora__Hello *hello;
		Remora__EpochBegin *begin;
		Remora__PageBatch *batch;
		Remora__CpuState *cpu;
		Remora__DeviceState *device;
		Remora__EpochCommit *commit;
		Remora__Ack *ack;
		Remora__Heartbeat *heartbeat;
		Remora__Refuse *refuse;
		Remora__Challenge *challenge;
	};
	/* A PageBatch is decoded in place: batch points into the payload
	 * wire_decode() was given, so the message lives no longer than it
	 * (the frame callback). Not to be copied (base points into it). */
	Remora__PageBatch batch_view; /* base points here: nothing to free */
};

/* The largest payload of a frame of this type, 0 if unknown (frame.h). */
size_t wire_type_max(uint8_t type);

/* A constant name for a type ("EpochCommit"), or "unknown". */
const char *wire_type_name(int type);

/*
 * Unpacks and validates one frame payload. Returns 0 (free m with
 * wire_msg_free()), or -EBADMSG with one line in err naming the message and
 * what is wrong ("EpochCommit: epoch 0"). A PageBatch's batch is not
 * copied: it points into payload, which must outlive m.
 */
int wire_decode(uint8_t type, const uint8_t *payload, size_t len,
		struct wire_msg *m, char *err, size_t errlen);
void wire_msg_free(struct wire_msg *m);

/*
 * Fills a Hello as every remora node says it: this protocol version, the
 * capabilities this build has, and the sender's term, page size, guest
 * memory size, workload (cluster) and node name, which h points to.
 */
void wire_hello_init(Remora__Hello *h, uint64_t term, uint32_t page_size,
		     uint64_t mem_bytes, const char *workload, const char *node,
		     Remora__Role role);

/*
 * Fills a Refuse: the sender's term, the node that is primary in it (or
 * ""), a one-line reason (all of which r points to), and whether retrying
 * is pointless.
 */
void wire_refuse_init(Remora__Refuse *r, uint64_t term, const char *primary,
		      const char *reason, int permanent);

/*
 * Packs msg (which must be a message of the given type) as a whole frame,
 * header included, into a malloc()ed buffer. Returns 0 or -ENOMEM / -E2BIG
 * (over the type's maximum) / -EINVAL (msg is not of that type).
 */
int wire_encode(enum wire_type type, const ProtobufCMessage *msg,
		uint8_t **frame, size_t *len);

/*
 * A PageBatch frame without copying the batch: writes the frame header and
 * the message's bytes up to the start of the batch into prefix (which must
 * hold WIRE_BATCH_PREFIX_MAX bytes) and returns its length. The frame is
 * prefix followed by the batch_len bytes of the batch, byte for byte what
 * wire_encode() would produce. Returns 0 when that frame would be over the
 * PageBatch maximum (where wire_encode() says -E2BIG); a batch of at most
 * WIRE_BATCH_MAX bytes always fits, whatever the epoch and term.
 */
#define WIRE_BATCH_PREFIX_MAX 40u
#define WIRE_BATCH_MAX	      (FRAME_MAX_PAYLOAD - 64u)
size_t wire_batch_prefix(uint8_t *prefix, uint64_t epoch, uint64_t term,
			 size_t batch_len);

#endif
