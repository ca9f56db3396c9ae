/*
 * Structured events (common/events.c): a line is one flat JSON object that
 * Python's json module reads back (the e2e tests and drills do), whatever
 * bytes a string field holds, and a line never exceeds its buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"

static void fields_in_order(void **state)
{
	struct ev_field f[] = {EV_S("from", "replicating"),
			       EV_U("epoch", 18446744073709551615ull),
			       EV_I("delta", -5), EV_F("ms", 1.5)};
	char buf[256];
	size_t n;

	(void)state;
	n = events_format(buf, sizeof(buf), "state", f, 4);
	assert_string_equal(buf, "{\"event\": \"state\", \"from\": "
				 "\"replicating\", \"epoch\": "
				 "18446744073709551615, \"delta\": -5, "
				 "\"ms\": 1.500}\n");
	assert_int_equal(n, strlen(buf));
}

static void strings_escaped(void **state)
{
	struct ev_field f[] = {EV_S("why", "a \"b\" \\ c\nd\x01\x7f\xc3\xa9")};
	char buf[256];

	(void)state;
	events_format(buf, sizeof(buf), "x", f, 1);
	assert_string_equal(buf, "{\"event\": \"x\", \"why\": \"a \\\"b\\\" "
				 "\\\\ c\\nd\\u0001\\u007f\xc3\xa9\"}\n");
}

static void null_string_is_empty(void **state)
{
	struct ev_field f[] = {EV_S("peer", NULL)};
	char buf[64];

	(void)state;
	events_format(buf, sizeof(buf), "x", f, 1);
	assert_string_equal(buf, "{\"event\": \"x\", \"peer\": \"\"}\n");
}

static void not_a_number_is_null(void **state)
{
	struct ev_field f[] = {EV_F("r", 0.0 / 0.0)};
	char buf[64];

	(void)state;
	events_format(buf, sizeof(buf), "x", f, 1);
	assert_string_equal(buf, "{\"event\": \"x\", \"r\": null}\n");
}

/* Long fields are cut, but the line stays terminated and in bounds. */
static void bounded(void **state)
{
	char big[1000], buf[64];
	struct ev_field f[] = {EV_S("why", big), EV_U("n", 1)};
	size_t n, len;

	(void)state;
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (len = 4; len <= sizeof(buf); len++) {
		memset(buf, 'X', sizeof(buf));
		n = events_format(buf, len, "event", f, 2);
		assert_true(n < len);
		assert_int_equal(buf[n], '\0');
		assert_int_equal(buf[n - 1], '\n');
		assert_int_equal(buf[n - 2], '}');
	}
}

/* events_emitv writes whole lines to the file, with node and role. */
static void emit_to_file(void **state)
{
	char path[] = "/tmp/remora-test-events.XXXXXX", buf[1024];
	int fd = mkstemp(path);
	ssize_t r;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(events_init(path, "b", "backup"), 0);
	events_emit("state", EV_S("to", "syncing"));
	events_set_role("primary");
	events_emit("promoted", EV_U("term", 2));
	events_close();
	events_emit("ignored", EV_U("n", 1)); /* closed: a no-op */
	r = read(fd, buf, sizeof(buf) - 1);
	assert_true(r > 0);
	buf[r] = '\0';
	assert_non_null(strstr(buf, "\"node\": \"b\", \"role\": \"backup\", "
				    "\"event\": \"state\", \"to\": "
				    "\"syncing\"}\n{"));
	assert_non_null(strstr(buf, "\"role\": \"primary\", \"event\": "
				    "\"promoted\", \"term\": 2}\n"));
	assert_null(strstr(buf, "ignored"));
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_in_order),
		cmocka_unit_test(strings_escaped),
		cmocka_unit_test(null_string_is_empty),
		cmocka_unit_test(not_a_number_is_null),
		cmocka_unit_test(bounded),
		cmocka_unit_test(emit_to_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
