/*
 * Unit tests for the operator's status surface: the reply and request
 * grammar (common/status.h), the control socket server (common/ctl.h) on a
 * real libuv loop, and the remoractl binary (its path is argv[1]).
 *
 * status_format: the exact JSON for a given status, escaping included;
 * the text table's fields and alignment; -ENOSPC at every short length
 * without writing past it; the worst case fits STATUS_REPLY_MAX.
 * status_parse_request: what it accepts and each refusal's message.
 * ctl: clients in a thread with plain blocking sockets get the callback's
 * status (JSON and text), error replies, the overlong and idle cases, a
 * client that hangs up early (this binary does not ignore SIGPIPE, so a
 * write that raised it would kill the test), the client limit, clients
 * the server has no memory for (closed, and serving goes on); a stale
 * socket is taken over, a live one or a regular file is refused, and a
 * socket someone else put at the path is left alone at close. Every loop
 * test ends with ctl_close(), the loop running dry, uv_loop_close() == 0
 * and the socket path gone. remoractl: --help, usage errors, a node that
 * is not running (exit 1 and the message), a real status through a
 * server in this process, and the daemon's refusal when every client slot
 * is taken (its line, not EPIPE or ECONNRESET).
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "ctl.h"
#include "status.h"

#define NCLIENTS (CTL_CLIENTS_MAX + 1)

static const char *remoractl; /* argv[1], set once by main() */

/*
 * calloc() in the code under test fails while this is above 0: the test
 * is linked with -Wl,--wrap=calloc, which reaches ctl.c's calls (libuv's
 * and cmocka's are in shared libraries and keep the real one).
 */
static atomic_int calloc_failures;

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_calloc(size_t n, size_t size)
{
	if (atomic_fetch_sub(&calloc_failures, 1) > 0)
		return NULL;
	atomic_store(&calloc_failures, 0);
	return __real_calloc(n, size);
}

/* The status of the JSON test: a quote and a backslash in the name. */
static void example_status(struct node_status *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->node, "a\"b\\c");
	strcpy(s->role, "primary");
	s->term = 2;
	strcpy(s->state, "protected");
	s->epoch = 1234;
	s->acked = 1233;
	s->held_bytes = 12288;
	s->pause_us_p50 = 850.5;
	s->pause_us_p99 = 2100.25;
	s->ack_us_p50 = 4700.5;
	s->ack_us_p99 = 14000;
	s->epochs_per_s = 40;
	s->wire_mb_per_s = 12.5;
	s->compression_ratio = 3.25;
	strcpy(s->peer, "b");
	s->since_last_frame_ms = 12;
	s->heartbeat_timeout_ms = 1000;
	strcpy(s->workload, "kvm micro-VM");
}

#define EXAMPLE_JSON                                                           \
	"{\"node\":\"a\\\"b\\\\c\",\"role\":\"primary\",\"term\":2,"           \
	"\"state\":\"protected\",\"epoch\":1234,\"last_acked_epoch\":1233,"    \
	"\"held_output_bytes\":12288,\"pause_us_p50\":850.500,"                \
	"\"pause_us_p99\":2100.250,\"ack_us_p50\":4700.500,"                   \
	"\"ack_us_p99\":14000.000,\"epochs_per_s\":40.000,"                    \
	"\"wire_mb_per_s\":12.500,\"compression_ratio\":3.250,\"peer\":\"b\"," \
	"\"since_last_frame_ms\":12,\"heartbeat_timeout_ms\":1000,"            \
	"\"workload\":\"kvm micro-VM\"}\n"

static void test_format_json(void **state)
{
	struct node_status s;
	char buf[STATUS_REPLY_MAX];

	(void)state;
	example_status(&s);
	assert_int_equal(status_format(&s, 1, buf, sizeof(buf)),
			 strlen(EXAMPLE_JSON));
	assert_string_equal(buf, EXAMPLE_JSON);
}

/* Control bytes, non-ASCII, a field without its NUL, NaN and -1. */
static void test_format_json_odd_values(void **state)
{
	struct node_status s;
	char buf[STATUS_REPLY_MAX];

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.node, "n\n\t\x01\xc3\xa9");
	memset(s.role, 'r', sizeof(s.role)); /* no NUL */
	s.pause_us_p50 = NAN;
	s.pause_us_p99 = INFINITY;
	s.ack_us_p99 = NAN;
	s.epochs_per_s = -INFINITY;
	s.since_last_frame_ms = -1;
	s.heartbeat_timeout_ms = UINT64_MAX;
	assert_true(status_format(&s, 1, buf, sizeof(buf)) > 0);
	assert_string_equal(
		buf, "{\"node\":\"n\\u000a\\u0009\\u0001\\u00c3\\u00a9\","
		     "\"role\":\"rrrrrrrrrrrrrrrr\",\"term\":0,\"state\":\"\","
		     "\"epoch\":0,\"last_acked_epoch\":0,"
		     "\"held_output_bytes\":0,\"pause_us_p50\":null,"
		     "\"pause_us_p99\":null,\"ack_us_p50\":0.000,"
		     "\"ack_us_p99\":null,\"epochs_per_s\":null,"
		     "\"wire_mb_per_s\":0.000,\"compression_ratio\":0.000,"
		     "\"peer\":\"\",\"since_last_frame_ms\":-1,"
		     "\"heartbeat_timeout_ms\":18446744073709551615,"
		     "\"workload\":\"\"}\n");
}

static void test_format_text(void **state)
{
	struct node_status s;
	char buf[STATUS_REPLY_MAX];
	int n, lines = 0;

	(void)state;
	example_status(&s);
	strcpy(s.node, "a");
	n = status_format(&s, 0, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
			    "node       a\n"
			    "role       primary (term 2)\n"
			    "state      protected\n"
			    "epoch      1234 (last acked 1233)\n"
			    "held       12288 bytes of output (12.0 KiB)\n"
			    "pause      p50 850.5 us, p99 2100.2 us\n"
			    "ack        p50 4.70 ms, p99 14.00 ms after the "
			    "pause (output held that long)\n"
			    "throughput 40.0 epochs/s, 12.50 MB/s on the wire, "
			    "compression 3.25x\n"
			    "peer       b, last frame 12 ms ago (heartbeat "
			    "timeout 1000 ms)\n"
			    "workload   kvm micro-VM\n");

	/* Every line: a key, spaces to column 11, a value. */
	for (char *line = buf; *line; line = strchr(line, '\n') + 1) {
		size_t key = strcspn(line, " ");

		assert_true(key > 0 && key <= 10);
		assert_true(line[10] == ' ' || key == 10);
		assert_true(line[11] != ' ' && line[11] != '\n');
		lines++;
	}
	assert_int_equal(lines, 10);

	/* No peer, unknown values, and names a terminal must not see raw. */
	memset(&s, 0, sizeof(s));
	strcpy(s.node, "x\x1b[2J");
	s.since_last_frame_ms = -1;
	s.compression_ratio = NAN;
	s.heartbeat_timeout_ms = 300;
	assert_true(status_format(&s, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "node       x?[2J\n"));
	assert_non_null(strstr(buf, "role       (unknown) (term 0)\n"));
	assert_non_null(strstr(buf, "compression n/a\n"));
	assert_non_null(
		strstr(buf, "peer       none (heartbeat timeout 300 ms)\n"));
	assert_null(strstr(buf, "KiB"));

	strcpy(s.peer, "b");
	assert_true(status_format(&s, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "peer       b, last frame: unknown "
				    "(heartbeat timeout 300 ms)\n"));
}

/* Too small by any amount: -ENOSPC, a NUL inside, nothing written past. */
static void test_format_nospc(void **state)
{
	struct node_status s;
	char full[STATUS_REPLY_MAX], buf[STATUS_REPLY_MAX + 16];

	(void)state;
	example_status(&s);
	for (int json = 0; json < 2; json++) {
		int n = status_format(&s, json, full, sizeof(full));

		assert_true(n > 0);
		for (size_t len = 0; len <= (size_t)n; len++) {
			memset(buf, 'x', sizeof(buf));
			assert_int_equal(status_format(&s, json, buf, len),
					 -ENOSPC);
			for (size_t i = len; i < sizeof(buf); i++)
				assert_int_equal(buf[i], 'x');
			if (len) {
				assert_int_equal(strnlen(buf, len), len - 1);
				assert_memory_equal(buf, full, len - 1);
			}
		}
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(status_format(&s, json, buf, (size_t)n + 1),
				 n);
		assert_string_equal(buf, full);
	}
}

/* The longest reply possible still fits the control socket's buffer. */
static void test_format_worst_case_fits(void **state)
{
	struct node_status s;
	char buf[STATUS_REPLY_MAX];

	(void)state;
	memset(&s, 0x01, sizeof(s)); /* every string escaped, no NULs */
	s.term = s.epoch = s.acked = s.held_bytes = UINT64_MAX;
	s.heartbeat_timeout_ms = UINT64_MAX;
	s.since_last_frame_ms = INT64_MIN;
	s.pause_us_p50 = s.pause_us_p99 = -DBL_MAX;
	s.ack_us_p50 = s.ack_us_p99 = -DBL_MAX;
	s.epochs_per_s = s.wire_mb_per_s = s.compression_ratio = -DBL_MAX;
	assert_true(status_format(&s, 1, buf, sizeof(buf)) > 0);
	assert_true(status_format(&s, 0, buf, sizeof(buf)) > 0);
}

static int parse(const char *req, size_t len, enum ctl_cmd *cmd, int *json,
		 char *err, size_t errlen)
{
	return status_parse_request(req, len, cmd, json, err, errlen);
}

static void accepted(const char *req, int want_json)
{
	enum ctl_cmd cmd = 0;
	int json = -1;
	char err[STATUS_ERR_MAX] = "x";

	if (parse(req, strlen(req), &cmd, &json, err, sizeof(err)))
		fail_msg("'%s' refused: %s", req, err);
	assert_int_equal(cmd, CTL_CMD_STATUS);
	assert_int_equal(json, want_json);
	assert_string_equal(err, "");
}

static void refused(const char *req, size_t len, const char *want)
{
	enum ctl_cmd cmd = 0;
	int json = -1;
	char err[STATUS_ERR_MAX];

	memset(err, 'x', sizeof(err));
	assert_int_equal(parse(req, len, &cmd, &json, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, want);
	/* Left alone on error. */
	assert_int_equal(cmd, 0);
	assert_int_equal(json, -1);
	for (const char *p = err; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

#define TRY "; try: status [json]"

static void test_parse_request(void **state)
{
	char big[STATUS_REQUEST_MAX + 2], err[12];
	enum ctl_cmd cmd;
	int json;

	(void)state;
	accepted("status\n", 0);
	accepted("status json\n", 1);
	accepted("  status   json  \n", 1);
	accepted("status \n", 0);

	refused("xyz\n", 4, "unknown command 'xyz'" TRY);
	refused("status xml\n", 11, "unknown argument 'xml' to status" TRY);
	refused("status json json\n", 17, "too many arguments to status" TRY);
	refused("statusjson\n", 11, "unknown command 'statusjson'" TRY);
	refused("STATUS\n", 7, "unknown command 'STATUS'" TRY);
	refused("\n", 1, "empty request" TRY);
	refused("   \n", 4, "empty request" TRY);
	refused("", 0, "request does not end with a newline" TRY);
	refused("status", 6, "request does not end with a newline" TRY);
	refused("status\r\n", 8,
		"byte 0x0d at offset 6 is not printable ASCII" TRY);
	refused("status\nstatus\n", 14,
		"byte 0x0a at offset 6 is not printable ASCII" TRY);
	refused("sta\0tus\n", 8,
		"byte 0x00 at offset 3 is not printable ASCII" TRY);
	refused("status \xff\n", 9,
		"byte 0xff at offset 7 is not printable ASCII" TRY);
	refused("0123456789012345678901234567890123456789\n", 41,
		"unknown command '01234567890123456789012345678901...'" TRY);

	/* The longest request is 256 bytes with its newline. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "status", 6);
	big[STATUS_REQUEST_MAX - 1] = '\n';
	assert_int_equal(
		parse(big, STATUS_REQUEST_MAX, &cmd, &json, err, sizeof(err)),
		0);
	big[STATUS_REQUEST_MAX - 1] = ' ';
	big[STATUS_REQUEST_MAX] = '\n';
	refused(big, STATUS_REQUEST_MAX + 1,
		"request longer than 256 bytes" TRY);

	/* A small err gets the start of the line, NUL-terminated. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse("xyz\n", 4, &cmd, &json, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "unknown com");
	assert_int_equal(parse("xyz\n", 4, &cmd, &json, NULL, 0), -EINVAL);
}

/* --- the control socket -------------------------------------------------- */

struct t;
typedef void (*client_fn)(struct t *t);

#define MAXREPLY (STATUS_REPLY_MAX + 1)

/* One test's loop and server, and what the client thread saw. */
struct t {
	uv_loop_t loop;
	uv_async_t done;
	struct ctl *ctl;
	char dir[64], path[128];
	struct node_status st; /* what the status callback answers */
	int calls;	       /* status callbacks (loop thread) */
	client_fn client;
	pthread_t thread;
	/* Filled by the client thread, checked after it is joined. */
	char reply[NCLIENTS][MAXREPLY];
	ssize_t len[NCLIENTS];
	int end[NCLIENTS]; /* 0: EOF, else the errno that ended the read */
	int n;
};

static void t_status(void *opaque, struct node_status *out)
{
	struct t *t = opaque;

	/* The contract: zeroed, with the unknown liveness preset. */
	assert_int_equal(out->since_last_frame_ms, -1);
	assert_int_equal(out->term, 0);
	assert_int_equal(out->node[0], 0);
	*out = t->st;
	t->calls++;
}

static void t_init(struct t *t)
{
	memset(t, 0, sizeof(*t));
	atomic_store(&calloc_failures, 0); /* a failed test may leave some */
	strcpy(t->dir, "/tmp/remora-test-ctl-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/n.sock", t->dir);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	example_status(&t->st);
}

static void t_cleanup(struct t *t)
{
	char conf[160];

	snprintf(conf, sizeof(conf), "%s/remora.conf", t->dir);
	unlink(conf);
	unlink(t->path);
	assert_int_equal(rmdir(t->dir), 0);
}

static int path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void t_start(struct t *t)
{
	char err[256];

	if (ctl_start(&t->ctl, &t->loop, t->path, t_status, t, err,
		      sizeof(err)))
		fail_msg("ctl_start: %s", err);
	assert_non_null(t->ctl);
	assert_true(path_exists(t->path));
}

static void on_done(uv_async_t *a)
{
	struct t *t = a->data;

	ctl_close(t->ctl);
	t->ctl = NULL;
	uv_close((uv_handle_t *)a, NULL);
}

static void *client_thread(void *arg)
{
	struct t *t = arg;

	t->client(t);
	uv_async_send(&t->done);
	return NULL;
}

/*
 * Serves until the client thread is done, then closes the server: the loop
 * must run dry, close cleanly and leave no socket file behind.
 */
static void t_serve(struct t *t, client_fn client)
{
	t->client = client;
	t->done.data = t;
	assert_int_equal(uv_async_init(&t->loop, &t->done, on_done), 0);
	assert_int_equal(pthread_create(&t->thread, NULL, client_thread, t), 0);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(pthread_join(t->thread, NULL), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	assert_false(path_exists(t->path));
}

/* A blocking client; -1 (errno set) when it cannot connect. */
static int client_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* A server that never answers fails the test instead of hanging. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Reads to the end of the connection into slot i. */
static void client_read(struct t *t, int fd, int i)
{
	ssize_t k;

	t->len[i] = 0;
	t->end[i] = 0;
	for (;;) {
		k = read(fd, t->reply[i] + t->len[i],
			 MAXREPLY - 1 - (size_t)t->len[i]);
		if (k == 0)
			break;
		if (k < 0) {
			t->end[i] = errno;
			break;
		}
		t->len[i] += k;
		if (t->len[i] == MAXREPLY - 1)
			break;
	}
	t->reply[i][t->len[i]] = '\0';
}

/* Sends req on a new connection, reads the answer into slot i. */
static void client_ask(struct t *t, int i, const char *req, size_t len)
{
	int fd = client_connect(t->path);

	if (fd < 0) {
		t->len[i] = -1;
		t->end[i] = errno;
		return;
	}
	/* Then the end of the stream: a request without its newline is
	 * answered at once instead of at the deadline. */
	if (write(fd, req, len) != (ssize_t)len) {
		t->len[i] = -1;
		t->end[i] = errno;
	} else {
		shutdown(fd, SHUT_WR);
		client_read(t, fd, i);
	}
	close(fd);
}

static void ask_json_text_error(struct t *t)
{
	int fd;

	client_ask(t, 0, "status json\n", 12);
	client_ask(t, 1, "status\n", 7);
	client_ask(t, 2, "xyz\n", 4);
	/* Cut short by the end of the stream. */
	client_ask(t, 3, "status js", 9);
	/* In pieces that arrive apart, the request is still one line. */
	t->n = 5;
	fd = client_connect(t->path);
	if (fd < 0 || write(fd, "sta", 3) != 3) {
		t->len[4] = -1;
		return;
	}
	usleep(50000);
	if (write(fd, "tus json\n", 9) == 9)
		client_read(t, fd, 4);
	close(fd);
}

static void test_ctl_roundtrip(void **state)
{
	static struct t t;
	char text[STATUS_REPLY_MAX];

	(void)state;
	t_init(&t);
	t_start(&t);
	t_serve(&t, ask_json_text_error);

	assert_int_equal(t.end[0], 0);
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	assert_int_equal(t.end[1], 0);
	assert_true(status_format(&t.st, 0, text, sizeof(text)) > 0);
	assert_string_equal(t.reply[1], text);
	assert_int_equal(t.end[2], 0);
	assert_string_equal(
		t.reply[2],
		"error: unknown command 'xyz'; try: status [json]\n");
	/* "status js" then EOF: told what is wrong, not just dropped. */
	assert_int_equal(t.end[3], 0);
	assert_string_equal(t.reply[3],
			    "error: request does not end with a newline; try: "
			    "status [json]\n");
	assert_string_equal(t.reply[4], EXAMPLE_JSON);
	assert_int_equal(t.calls, 3);
	t_cleanup(&t);
}

static void overlong(struct t *t)
{
	char req[300];

	memset(req, 'a', sizeof(req));
	client_ask(t, 0, req, sizeof(req));
	/* The server is still there for the next one. */
	client_ask(t, 1, "status json\n", 12);
	t->n = 2;
}

static void test_ctl_overlong(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	t_start(&t);
	t_serve(&t, overlong);
	/* Told why, then closed; what it still sent was not read (reset). */
	assert_string_equal(t.reply[0],
			    "error: request longer than 256 bytes; try: status "
			    "[json]\n");
	assert_true(t.end[0] == 0 || t.end[0] == ECONNRESET);
	assert_string_equal(t.reply[1], EXAMPLE_JSON);
	assert_int_equal(t.calls, 1);
	t_cleanup(&t);
}

static void idle_then_ask(struct t *t)
{
	struct timespec a, b;
	int fd = client_connect(t->path);

	t->n = 3;
	if (fd < 0) {
		t->len[0] = -1;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	client_read(t, fd, 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	close(fd);
	/* Slot 2 records how long the server waited, in ms. */
	t->len[2] = (b.tv_sec - a.tv_sec) * 1000 +
		    (b.tv_nsec - a.tv_nsec) / 1000000;
	client_ask(t, 1, "status json\n", 12);
}

static void test_ctl_idle_timeout(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	t_start(&t);
	t_serve(&t, idle_then_ask);
	assert_int_equal(t.end[0], 0);
	assert_string_equal(t.reply[0],
			    "error: no request line within 2000 ms; try: "
			    "status [json]\n");
	if (t.len[2] < CTL_TIMEOUT_MS - 100 || t.len[2] > CTL_TIMEOUT_MS + 3000)
		fail_msg("closed after %zd ms, expected about %d", t.len[2],
			 CTL_TIMEOUT_MS);
	assert_string_equal(t.reply[1], EXAMPLE_JSON);
	t_cleanup(&t);
}

/*
 * Clients that leave before their reply: the server's write then fails
 * with EPIPE, which must not raise SIGPIPE (not ignored in this process).
 */
static void hang_up_early(struct t *t)
{
	/* Fewer than the limit, so that the last one is served however many
	 * of these the server has yet to see. */
	for (int i = 0; i < CTL_CLIENTS_MAX - 1; i++) {
		int fd = client_connect(t->path);

		if (fd < 0)
			continue;
		if (write(fd, "status json\n", 12) != 12)
			t->end[1] = errno;
		close(fd);
	}
	client_ask(t, 0, "status json\n", 12);
	t->n = 1;
}

static void test_ctl_client_hangs_up(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	t_start(&t);
	t_serve(&t, hang_up_early);
	assert_int_equal(t.end[1], 0);
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	t_cleanup(&t);
}

/*
 * CTL_CLIENTS_MAX connections that have not asked yet: one more is told
 * to try again; once they have asked (and been answered), a new one is
 * served.
 */
static void too_many(struct t *t)
{
	int fd[NCLIENTS];

	for (int i = 0; i < NCLIENTS; i++)
		fd[i] = client_connect(t->path);
	/* Accepted in order: the last one is over the limit. */
	if (fd[NCLIENTS - 1] >= 0)
		client_read(t, fd[NCLIENTS - 1], NCLIENTS - 1);
	for (int i = 0; i < NCLIENTS - 1; i++) {
		if (fd[i] < 0 || write(fd[i], "status\n", 7) != 7) {
			t->len[i] = -1;
			continue;
		}
		client_read(t, fd[i], i);
	}
	for (int i = 0; i < NCLIENTS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	client_ask(t, 0, "status json\n", 12);
	t->n = NCLIENTS;
}

static void test_ctl_client_limit(void **state)
{
	static struct t t;
	char text[STATUS_REPLY_MAX];

	(void)state;
	t_init(&t);
	t_start(&t);
	t_serve(&t, too_many);
	assert_string_equal(t.reply[NCLIENTS - 1],
			    "error: too many control clients at once; try "
			    "again\n");
	assert_true(status_format(&t.st, 0, text, sizeof(text)) > 0);
	for (int i = 1; i < NCLIENTS - 1; i++)
		assert_string_equal(t.reply[i], text);
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	assert_int_equal(t.calls, NCLIENTS);
	t_cleanup(&t);
}

/*
 * Connections the server has no memory for are closed at once, however
 * many come together, and the socket keeps serving afterwards.
 */
static void out_of_memory(struct t *t)
{
	int fd[3];

	for (int i = 0; i < 3; i++)
		fd[i] = client_connect(t->path);
	for (int i = 0; i < 3; i++) {
		if (fd[i] < 0) {
			t->len[i + 1] = -1;
			continue;
		}
		client_read(t, fd[i], i + 1);
		close(fd[i]);
	}
	client_ask(t, 0, "status json\n", 12);
	t->n = 4;
}

static void test_ctl_out_of_memory(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	t_start(&t);
	atomic_store(&calloc_failures, 3);
	t_serve(&t, out_of_memory);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(t.len[i], 0);
		assert_int_equal(t.end[i], 0);
	}
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	assert_int_equal(atomic_load(&calloc_failures), 0);
	t_cleanup(&t);
}

/* Leaves a socket file behind, as a daemon that was killed does. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	close(fd);
	assert_true(path_exists(path));
}

static void ask_once(struct t *t)
{
	client_ask(t, 0, "status json\n", 12);
	t->n = 1;
}

static void test_ctl_stale_takeover(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	make_stale_socket(t.path);
	assert_true(client_connect(t.path) < 0 && errno == ECONNREFUSED);
	t_start(&t);
	t_serve(&t, ask_once);
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	t_cleanup(&t);
}

static void test_ctl_refuses_live(void **state)
{
	static struct t t;
	struct ctl *second = (struct ctl *)&t; /* must be reset */
	char err[256];
	struct stat before, after;

	(void)state;
	t_init(&t);
	t_start(&t);
	assert_int_equal(lstat(t.path, &before), 0);
	assert_int_equal(ctl_start(&second, &t.loop, t.path, t_status, &t, err,
				   sizeof(err)),
			 -EADDRINUSE);
	assert_null(second);
	if (!strstr(err, "control socket ") || !strstr(err, t.path) ||
	    !strstr(err, " is in use by another daemon"))
		fail_msg("err: \"%s\"", err);
	/* The first server's socket is untouched and still serves. */
	assert_int_equal(lstat(t.path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	t_serve(&t, ask_once);
	assert_string_equal(t.reply[0], EXAMPLE_JSON);
	t_cleanup(&t);
}

static void test_ctl_refuses_non_socket(void **state)
{
	static struct t t;
	struct ctl *c;
	char err[256];
	int fd;

	(void)state;
	t_init(&t);
	fd = open(t.path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(
		ctl_start(&c, &t.loop, t.path, t_status, &t, err, sizeof(err)),
		-EEXIST);
	assert_non_null(strstr(err, "is not a socket"));
	assert_true(path_exists(t.path));

	/* A directory that does not exist, and a path too long. */
	assert_true(ctl_start(&c, &t.loop, "/nonexistent-remora/x.sock",
			      t_status, &t, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "create its directory"));
	{
		char lng[200];

		memset(lng, 'a', sizeof(lng));
		lng[0] = '/';
		lng[sizeof(lng) - 1] = '\0';
		assert_int_equal(ctl_start(&c, &t.loop, lng, t_status, &t, err,
					   sizeof(err)),
				 -ENAMETOOLONG);
	}
	/* Failures leave nothing on the loop: it closes without a run. */
	assert_int_equal(uv_loop_close(&t.loop), 0);
	t_cleanup(&t);
}

/* Someone replaced our socket file: ctl_close() must leave theirs alone. */
static void test_ctl_close_leaves_other_socket(void **state)
{
	static struct t t;

	(void)state;
	t_init(&t);
	t_start(&t);
	assert_int_equal(unlink(t.path), 0);
	make_stale_socket(t.path);
	ctl_close(t.ctl);
	assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	assert_true(path_exists(t.path));
	t_cleanup(&t);
}

/* --- remoractl ----------------------------------------------------------- */

/* Writes a two-node config into t->dir: a at t->path, b at DIR/b.sock. */
static void write_config(struct t *t)
{
	char conf[160];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/remora.conf", t->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"[cluster]\nname = test\n"
		"[node a]\nreplication_address = 127.0.0.1:7301\n"
		"control_socket = %s\nrole = primary\n"
		"[node b]\nreplication_address = 127.0.0.1:7302\n"
		"control_socket = b.sock\nrole = backup\n"
		"[workload]\ntype = kvm\nguest = guest.elf\nmemory = 64M\n",
		t->path);
	assert_int_equal(fclose(f), 0);
}

struct run {
	int status; /* exit code, or 128 + signal */
	char out[MAXREPLY], err[1024];
};

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t k = pread(fd, buf, len - 1, 0);

	buf[k > 0 ? k : 0] = '\0';
	close(fd);
}

/* Runs remoractl with args (NULL-terminated), waiting for it. */
static void run_remoractl(struct run *r, const char *const *args)
{
	const char *argv[16] = {remoractl};
	char outp[] = "/tmp/remora-test-ctl-out-XXXXXX";
	char errp[] = "/tmp/remora-test-ctl-err-XXXXXX";
	int out = mkstemp(outp), err = mkstemp(errp), st;
	pid_t pid;

	assert_true(out >= 0 && err >= 0);
	unlink(outp);
	unlink(errp);
	for (int i = 0; args[i]; i++)
		argv[i + 1] = args[i];
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(remoractl, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

static void test_remoractl_usage(void **state)
{
	static struct t t;
	static struct run r;
	char conf[160];

	(void)state;
	run_remoractl(&r, (const char *[]){"--help", NULL});
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(
		r.out,
		"usage: remoractl -c FILE --node NAME status [--json]\n"));

	run_remoractl(&r, (const char *[]){NULL});
	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "remoractl: no command; try: remoractl -c "
				   "FILE --node NAME status\n");
	run_remoractl(&r, (const char *[]){"--bogus", NULL});
	assert_int_equal(r.status, 2);
	run_remoractl(&r,
		      (const char *[]){"-c", "x", "--node", "a", "stop", NULL});
	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "remoractl: unknown command 'stop'; the "
				   "only one is status\n");

	t_init(&t);
	write_config(&t);
	snprintf(conf, sizeof(conf), "%s/remora.conf", t.dir);
	run_remoractl(&r, (const char *[]){"-c", conf, "--node", "zz", "status",
					   NULL});
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "has no node 'zz' (its nodes: a, b)\n"));
	assert_int_equal(uv_loop_close(&t.loop), 0);
	t_cleanup(&t);
}

static void test_remoractl_not_running(void **state)
{
	static struct t t;
	static struct run r;
	char conf[160], want[512];

	(void)state;
	t_init(&t);
	write_config(&t);
	snprintf(conf, sizeof(conf), "%s/remora.conf", t.dir);

	/* Never started: no socket file. */
	run_remoractl(&r, (const char *[]){"-c", conf, "--node", "b", "status",
					   NULL});
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want),
		 "remoractl: node b is not running: control socket %s/b.sock: "
		 "No such file or directory\n",
		 t.dir);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");

	/* Died: its socket file is still there. */
	make_stale_socket(t.path);
	run_remoractl(&r, (const char *[]){"-c", conf, "--node", "a", "status",
					   "--json", NULL});
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want),
		 "remoractl: node a is not running: control socket %s: "
		 "Connection refused\n",
		 t.path);
	assert_string_equal(r.err, want);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	t_cleanup(&t);
}

/* remoractl as a child of the loop, against the server on the same loop. */
struct spawn {
	struct t *t;
	uv_process_t proc;
	int64_t status;
	int term_signal;
};

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct spawn *s = p->data;

	s->status = status;
	s->term_signal = sig;
	uv_close((uv_handle_t *)p, NULL);
	ctl_close(s->t->ctl);
	s->t->ctl = NULL;
}

static void spawn_remoractl(struct t *t, struct run *r, int json)
{
	char conf[160], outp[] = "/tmp/remora-test-ctl-out-XXXXXX";
	char errp[] = "/tmp/remora-test-ctl-err-XXXXXX";
	char *args[] = {
		(char *)remoractl,	"-c", conf, "--node", "a", "status",
		json ? "--json" : NULL, NULL};
	uv_stdio_container_t stdio[3];
	uv_process_options_t opt = {0};
	struct spawn s = {.t = t, .status = -1};
	int out = mkstemp(outp), err = mkstemp(errp);

	assert_true(out >= 0 && err >= 0);
	unlink(outp);
	unlink(errp);
	snprintf(conf, sizeof(conf), "%s/remora.conf", t->dir);
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = out;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = err;
	opt.file = remoractl;
	opt.args = args;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	opt.exit_cb = on_exit_cb;
	s.proc.data = &s;
	assert_int_equal(uv_spawn(&t->loop, &s.proc, &opt), 0);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	r->status = s.term_signal ? 128 + s.term_signal : (int)s.status;
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

static void test_remoractl_status(void **state)
{
	static struct t t;
	static struct run r;
	char text[STATUS_REPLY_MAX];

	(void)state;
	t_init(&t);
	write_config(&t);
	t_start(&t);
	spawn_remoractl(&t, &r, 1);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, EXAMPLE_JSON);

	t_start(&t);
	spawn_remoractl(&t, &r, 0);
	assert_int_equal(r.status, 0);
	assert_true(status_format(&t.st, 0, text, sizeof(text)) > 0);
	assert_string_equal(r.out, text);
	assert_int_equal(t.calls, 2);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	assert_false(path_exists(t.path));
	t_cleanup(&t);
}

/*
 * Every slot held by a client that has not asked yet: remoractl is told
 * there are too many clients and says so, however its request and the
 * daemon's close cross (a close before the request makes the send fail
 * with EPIPE; a close with the request unread ends the read with
 * ECONNRESET); five rounds, since which happens is up to the scheduler.
 */
static void test_remoractl_refused(void **state)
{
	static struct t t;
	static struct run r;
	int fd[CTL_CLIENTS_MAX];

	(void)state;
	t_init(&t);
	write_config(&t);
	for (int round = 0; round < 5; round++) {
		t_start(&t);
		/* Queued before remoractl connects: accepted first. */
		for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
			fd[i] = client_connect(t.path);
			assert_true(fd[i] >= 0);
		}
		spawn_remoractl(&t, &r, round % 2);
		for (int i = 0; i < CTL_CLIENTS_MAX; i++)
			close(fd[i]);
		assert_int_equal(r.status, 1);
		assert_string_equal(r.out, "");
		assert_string_equal(r.err,
				    "remoractl: node a answered: error: too "
				    "many control clients at once; try "
				    "again\n");
	}
	assert_int_equal(t.calls, 0);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	assert_false(path_exists(t.path));
	t_cleanup(&t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_json),
		cmocka_unit_test(test_format_json_odd_values),
		cmocka_unit_test(test_format_text),
		cmocka_unit_test(test_format_nospc),
		cmocka_unit_test(test_format_worst_case_fits),
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_ctl_roundtrip),
		cmocka_unit_test(test_ctl_overlong),
		cmocka_unit_test(test_ctl_idle_timeout),
		cmocka_unit_test(test_ctl_client_hangs_up),
		cmocka_unit_test(test_ctl_client_limit),
		cmocka_unit_test(test_ctl_out_of_memory),
		cmocka_unit_test(test_ctl_stale_takeover),
		cmocka_unit_test(test_ctl_refuses_live),
		cmocka_unit_test(test_ctl_refuses_non_socket),
		cmocka_unit_test(test_ctl_close_leaves_other_socket),
		cmocka_unit_test(test_remoractl_usage),
		cmocka_unit_test(test_remoractl_not_running),
		cmocka_unit_test(test_remoractl_status),
		cmocka_unit_test(test_remoractl_refused),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_ctl PATH-TO-REMORACTL\n");
		return 2;
	}
	remoractl = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
