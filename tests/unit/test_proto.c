/*
 * Unit tests for the generated wire messages (proto/remora.proto through
 * protoc-c). They check that a Hello and a PageBatch survive pack/unpack
 * with every field intact, that the bytes on the wire are the proto3 ones
 * (field numbers are forever, so a renumbering must fail here), that fields
 * from a newer peer are skipped rather than refused, and that garbage bytes
 * are refused with NULL instead of half-parsed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remora.pb-c.h"

static void test_hello_round_trip(void **state)
{
	char *caps[] = {"lz4", "xxh3", ""};
	Remora__Hello h = REMORA__HELLO__INIT, *u;
	uint8_t *buf;
	size_t len;

	(void)state;
	h.protocol_version = 3;
	h.term = 0x123456789abcdefULL;
	h.page_size = 4096;
	h.guest_mem_bytes = 16ULL << 30;
	h.workload_id = "db-primary";
	h.node = "node-a";
	h.n_capabilities = 3;
	h.capabilities = caps;

	len = remora__hello__get_packed_size(&h);
	assert_true(len > 0);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(remora__hello__pack(&h, buf), len);

	u = remora__hello__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_int_equal(u->protocol_version, 3);
	assert_true(u->term == 0x123456789abcdefULL);
	assert_int_equal(u->page_size, 4096);
	assert_true(u->guest_mem_bytes == 16ULL << 30);
	assert_string_equal(u->workload_id, "db-primary");
	assert_string_equal(u->node, "node-a");
	assert_int_equal(u->n_capabilities, 3);
	assert_string_equal(u->capabilities[0], "lz4");
	assert_string_equal(u->capabilities[1], "xxh3");
	assert_string_equal(u->capabilities[2], "");
	remora__hello__free_unpacked(u, NULL);
	free(buf);
}

/* The exact proto3 bytes: tag = field << 3 | wire type. */
static void test_hello_wire_bytes(void **state)
{
	static const uint8_t want[] = {
		0x08, 0x01,			    /* 1 protocol_version: 1 */
		0x10, 0x02,			    /* 2 term: 2 */
		0x18, 0x80, 0x20,		    /* 3 page_size: 4096 */
		0x20, 0x80, 0x80, 0x80, 0x80, 0x04, /* 4 guest_mem: 1 GiB */
		0x2a, 0x01, 'w',		    /* 5 workload_id */
		0x32, 0x01, 'n',		    /* 6 node */
		0x3a, 0x02, 'c',  'p',		    /* 7 capabilities */
	};
	char *caps[] = {"cp"};
	Remora__Hello h = REMORA__HELLO__INIT;
	uint8_t buf[64];

	(void)state;
	h.protocol_version = 1;
	h.term = 2;
	h.page_size = 4096;
	h.guest_mem_bytes = 1ULL << 30;
	h.workload_id = "w";
	h.node = "n";
	h.n_capabilities = 1;
	h.capabilities = caps;
	assert_int_equal(remora__hello__get_packed_size(&h), sizeof(want));
	assert_int_equal(remora__hello__pack(&h, buf), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* proto3 leaves default values off the wire entirely. */
	{
		Remora__Hello empty = REMORA__HELLO__INIT;

		assert_int_equal(remora__hello__get_packed_size(&empty), 0);
	}
}

/* An empty message is all defaults; unknown fields are skipped. */
static void test_hello_defaults_and_unknown(void **state)
{
	/* Field 1 = 7, unknown varint field 99, unknown bytes field 100. */
	static const uint8_t newer[] = {0x08, 0x07, 0x98, 0x06, 0x01,
					0xa2, 0x06, 0x02, 'x',	'y'};
	static const uint8_t none[1];
	Remora__Hello *u;

	(void)state;
	u = remora__hello__unpack(NULL, 0, none);
	assert_non_null(u);
	assert_int_equal(u->protocol_version, 0);
	assert_true(u->term == 0);
	assert_int_equal(u->page_size, 0);
	assert_string_equal(u->workload_id, "");
	assert_string_equal(u->node, "");
	assert_int_equal(u->n_capabilities, 0);
	remora__hello__free_unpacked(u, NULL);

	u = remora__hello__unpack(NULL, sizeof(newer), newer);
	assert_non_null(u);
	assert_int_equal(u->protocol_version, 7);
	assert_int_equal(u->page_size, 0);
	remora__hello__free_unpacked(u, NULL);
}

static void test_hello_garbage(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t len;
	} bad[] = {
		{"all 0xff",
		 {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff},
		 12},
		{"varint field cut short", {0x08}, 1},
		{"varint value cut short", {0x08, 0x80}, 2},
		{"string longer than the input", {0x2a, 0x10, 'a'}, 3},
		{"string length cut short", {0x2a, 0x80}, 2},
		{"wire type 7", {0x0f, 0x00}, 2},
		{"wire type 6", {0x0e, 0x00}, 2},
		{"good field, then junk", {0x08, 0x01, 0x32, 0x05, 'a'}, 5},
		{"11-byte varint",
		 {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		  0x80, 0x01},
		 12},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Remora__Hello *u =
			remora__hello__unpack(NULL, bad[i].len, bad[i].b);

		if (u) {
			remora__hello__free_unpacked(u, NULL);
			fail_msg("%s: unpacked", bad[i].what);
		}
	}
}

/* The batch bytes are opaque to protobuf: binary, NULs included. */
static void test_page_batch_round_trip(void **state)
{
	Remora__PageBatch m = REMORA__PAGE_BATCH__INIT, *u;
	uint8_t data[300], *buf;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37);
	m.epoch = 99;
	m.term = 4;
	m.batch.data = data;
	m.batch.len = sizeof(data);
	len = remora__page_batch__get_packed_size(&m);
	/* 2 + 2 + tag + two-byte length + 300. */
	assert_int_equal(len, 2 + 2 + 1 + 2 + sizeof(data));
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(remora__page_batch__pack(&m, buf), len);
	u = remora__page_batch__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_true(u->epoch == 99);
	assert_true(u->term == 4);
	assert_int_equal(u->batch.len, sizeof(data));
	assert_memory_equal(u->batch.data, data, sizeof(data));
	remora__page_batch__free_unpacked(u, NULL);

	/* One byte short: the bytes field no longer fits. */
	assert_null(remora__page_batch__unpack(NULL, len - 1, buf));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_hello_wire_bytes),
		cmocka_unit_test(test_hello_defaults_and_unknown),
		cmocka_unit_test(test_hello_garbage),
		cmocka_unit_test(test_page_batch_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
