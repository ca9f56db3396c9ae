/*
 * Output commit's buffer (primary/outbuf.c): bytes reach the sink only when
 * their epoch is released, in stream order; flush, reopen and discard do
 * what a lost backup and a replaced primary need; a flush with nothing
 * ever held (a promoted primary's first ticks) writes nothing; and an
 * unprotected primary's output passes straight through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "outbuf.h"

struct sink {
	int fd[2];
	struct outbuf o;
};

static void expect_sink(struct sink *s, const char *want);

static int setup(void **state)
{
	static struct sink s;

	/* The read end never blocks: an empty sink reads EAGAIN. */
	if (pipe(s.fd) || fcntl(s.fd[0], F_SETFL, O_NONBLOCK) ||
	    outbuf_init(&s.o, s.fd[1]))
		return -1;
	*state = &s;
	return 0;
}

static int teardown(void **state)
{
	struct sink *s = *state;

	expect_sink(s, ""); /* nothing a test did not expect */
	outbuf_destroy(&s->o);
	close(s->fd[0]);
	close(s->fd[1]);
	return 0;
}

/* The sink got exactly want since the last call: no more, no less. */
static void expect_sink(struct sink *s, const char *want)
{
	char got[256];
	size_t n = strlen(want);
	ssize_t r = read(s->fd[0], got, sizeof(got) - 1);

	if (r < 0) {
		assert_int_equal(errno, EAGAIN);
		r = 0;
	}
	got[r] = 0;
	assert_string_equal(got, want);
	assert_int_equal((size_t)r, n);
}

static void append(struct outbuf *o, const char *text)
{
	outbuf_append(o, (const uint8_t *)text, strlen(text));
}

static void test_empty_flush(void **state)
{
	struct sink *s = *state;

	assert_int_equal(outbuf_flush(&s->o), 0);
	assert_int_equal(outbuf_release(&s->o, 7), 0);
	expect_sink(s, "");
	assert_int_equal(outbuf_held(&s->o), 0);
	assert_int_equal(outbuf_released(&s->o), 0);
}

static void test_release_in_order(void **state)
{
	struct sink *s = *state;
	uint64_t off;
	size_t len;

	append(&s->o, "one\n");
	assert_int_equal(outbuf_close_epoch(&s->o, 1, &off, &len), 0);
	assert_int_equal(off, 0);
	assert_int_equal(len, 4);
	append(&s->o, "two\n");
	assert_int_equal(outbuf_close_epoch(&s->o, 2, &off, &len), 0);
	append(&s->o, "open");
	assert_int_equal(off, 4);
	assert_int_equal(outbuf_held(&s->o), 12);

	/* Nothing before its Ack. */
	assert_int_equal(outbuf_release(&s->o, 0), 0);
	expect_sink(s, "");
	assert_int_equal(outbuf_release(&s->o, 1), 4);
	expect_sink(s, "one\n");
	assert_int_equal(outbuf_released(&s->o), 4);
	assert_int_equal(outbuf_release(&s->o, 5), 4);
	expect_sink(s, "two\n");
	/* The open epoch waits for its own close. */
	assert_int_equal(outbuf_held(&s->o), 4);
	assert_int_equal(outbuf_flush(&s->o), 4);
	expect_sink(s, "open");
	assert_int_equal(outbuf_released(&s->o), 12);
}

static void test_reopen_and_discard(void **state)
{
	struct sink *s = *state;
	uint64_t off;
	size_t len;

	outbuf_set_offset(&s->o, 100);
	append(&s->o, "abc");
	assert_int_equal(outbuf_close_epoch(&s->o, 3, &off, &len), 0);
	assert_int_equal(off, 100);
	/* The backup is gone: epoch 3 is never acked, its bytes go with
	 * the next epoch a new backup acknowledges. */
	outbuf_reopen(&s->o);
	assert_int_equal(outbuf_release(&s->o, 3), 0);
	expect_sink(s, "");
	append(&s->o, "de");
	assert_int_equal(outbuf_close_epoch(&s->o, 4, &off, &len), 0);
	assert_int_equal(off, 100);
	assert_int_equal(len, 5);
	assert_int_equal(outbuf_release(&s->o, 4), 5);
	expect_sink(s, "abcde");
	assert_int_equal(outbuf_released(&s->o), 105);

	/* Replaced: held bytes never reach the sink. */
	append(&s->o, "never");
	outbuf_discard(&s->o);
	assert_int_equal(outbuf_held(&s->o), 0);
	assert_int_equal(outbuf_flush(&s->o), 0);
	expect_sink(s, "");
	assert_int_equal(outbuf_released(&s->o), 105);
}

/* Unprotected: held bytes go out when it starts, and every append at
 * once; protected again, appends are held from the next one on. */
static void test_pass_through(void **state)
{
	struct sink *s = *state;
	uint64_t off;
	size_t len;

	outbuf_set_offset(&s->o, 10);
	append(&s->o, "held");
	expect_sink(s, "");
	assert_int_equal(outbuf_pass_through(&s->o, UINT64_MAX), 4);
	expect_sink(s, "held");
	append(&s->o, "now");
	expect_sink(s, "now");
	assert_int_equal(outbuf_held(&s->o), 0);
	assert_int_equal(outbuf_released(&s->o), 17);

	assert_int_equal(outbuf_pass_through(&s->o, 0), 0);
	append(&s->o, "wait");
	expect_sink(s, "");
	assert_int_equal(outbuf_close_epoch(&s->o, 1, &off, &len), 0);
	assert_int_equal(off, 17);
	assert_int_equal(len, 4);
	assert_int_equal(outbuf_release(&s->o, 1), 4);
	expect_sink(s, "wait");
}

/* Unprotected only until a deadline (an arbiter's lease): past it, what
 * is appended is held, though nobody said protected; a new deadline lets
 * it out. */
static void test_pass_through_until(void **state)
{
	struct sink *s = *state;

	/* In time by a minute: no load can make it late. */
	assert_int_equal(
		outbuf_pass_through(&s->o, now_ns() + 60 * 1000000000ull), 0);
	append(&s->o, "in time");
	expect_sink(s, "in time");
	/* A deadline 1 ms ahead, surely past after 2 ms. */
	assert_int_equal(outbuf_pass_through(&s->o, now_ns() + 1000000), 0);
	usleep(2000);
	append(&s->o, "late");
	expect_sink(s, "");
	assert_int_equal(outbuf_held(&s->o), 4);
	/* Expired already: still held. */
	assert_int_equal(outbuf_pass_through(&s->o, now_ns() - 1), 0);
	expect_sink(s, "");
	assert_int_equal(outbuf_pass_through(&s->o, UINT64_MAX), 4);
	expect_sink(s, "late");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_flush, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_release_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_discard, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pass_through, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pass_through_until, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
