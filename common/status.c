/*
 * The status reply and the control request grammar (see status.h). The
 * reply is built by appending to a bounded buffer that remembers when it ran
 * out, so the formatter is written as straight-line code and checks for
 * -ENOSPC once at the end. The request parser echoes at most a short,
 * already checked printable piece of what it was sent, so its error line
 * can go back to the client and into a log as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

#define TRY " try: status [json]"
/* The longest piece of a request an error message quotes. */
#define QUOTE_MAX 32

/* An append-only view of the caller's buffer; full is sticky. */
struct out {
	char *buf;
	size_t len, n;
	int full;
};

static void out_bytes(struct out *o, const char *p, size_t n)
{
	if (o->full)
		return;
	/* Always keep room for the NUL. */
	if (o->len == 0 || n > o->len - 1 - o->n) {
		o->full = 1;
		if (o->len) {
			size_t room = o->len - 1 - o->n;

			memcpy(o->buf + o->n, p, room);
			o->n += room;
			o->buf[o->n] = '\0';
		}
		return;
	}
	memcpy(o->buf + o->n, p, n);
	o->n += n;
	o->buf[o->n] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
out_printf(struct out *o, const char *fmt, ...)
{
	/* Big enough for any %.3f of a double (DBL_MAX has 309 digits). */
	char tmp[512];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp)) {
		o->full = 1;
		return;
	}
	out_bytes(o, tmp, (size_t)k);
}

/* A string field that may fill its array without a NUL. */
static size_t field_len(const char *s, size_t size)
{
	return strnlen(s, size);
}

/*
 * A JSON string. Everything outside printable ASCII is escaped, so the
 * reply is ASCII (hence valid UTF-8) whatever bytes a daemon put in a name.
 */
static void out_json_str(struct out *o, const char *s, size_t size)
{
	size_t n = field_len(s, size);

	out_bytes(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			char esc[2] = {'\\', (char)ch};

			out_bytes(o, esc, 2);
		} else if (ch < 0x20 || ch >= 0x7f) {
			out_printf(o, "\\u%04x", ch);
		} else {
			out_bytes(o, (const char *)&ch, 1);
		}
	}
	out_bytes(o, "\"", 1);
}

/* JSON has no NaN or infinity. */
static void out_json_num(struct out *o, double v)
{
	if (isfinite(v))
		out_printf(o, "%.3f", v);
	else
		out_str(o, "null");
}

static void format_json(struct out *o, const struct node_status *s)
{
	out_str(o, "{\"node\":");
	out_json_str(o, s->node, sizeof(s->node));
	out_str(o, ",\"role\":");
	out_json_str(o, s->role, sizeof(s->role));
	out_printf(o, ",\"term\":%" PRIu64, s->term);
	out_str(o, ",\"state\":");
	out_json_str(o, s->state, sizeof(s->state));
	out_printf(o, ",\"epoch\":%" PRIu64, s->epoch);
	out_printf(o, ",\"last_acked_epoch\":%" PRIu64, s->acked);
	out_printf(o, ",\"held_output_bytes\":%" PRIu64, s->held_bytes);
	out_str(o, ",\"pause_us_p50\":");
	out_json_num(o, s->pause_us_p50);
	out_str(o, ",\"pause_us_p99\":");
	out_json_num(o, s->pause_us_p99);
	out_str(o, ",\"ack_us_p50\":");
	out_json_num(o, s->ack_us_p50);
	out_str(o, ",\"ack_us_p99\":");
	out_json_num(o, s->ack_us_p99);
	out_str(o, ",\"epochs_per_s\":");
	out_json_num(o, s->epochs_per_s);
	out_str(o, ",\"wire_mb_per_s\":");
	out_json_num(o, s->wire_mb_per_s);
	out_str(o, ",\"compression_ratio\":");
	out_json_num(o, s->compression_ratio);
	out_str(o, ",\"peer\":");
	out_json_str(o, s->peer, sizeof(s->peer));
	out_printf(o, ",\"since_last_frame_ms\":%" PRId64,
		   s->since_last_frame_ms);
	out_printf(o, ",\"heartbeat_timeout_ms\":%" PRIu64,
		   s->heartbeat_timeout_ms);
	out_str(o, ",\"workload\":");
	out_json_str(o, s->workload, sizeof(s->workload));
	out_str(o, "}\n");
}

/* A name for a terminal: control bytes and non-ASCII become '?'. */
static void out_text_str(struct out *o, const char *s, size_t size,
			 const char *empty)
{
	size_t n = field_len(s, size);

	if (n == 0) {
		out_str(o, empty);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';

		out_bytes(o, &ch, 1);
	}
}

static void out_text_num(struct out *o, const char *fmt, double v)
{
	if (isfinite(v))
		out_printf(o, fmt, v);
	else
		out_str(o, "n/a");
}

/* The key column: wide enough for the longest key and one space. */
static void out_key(struct out *o, const char *key)
{
	out_printf(o, "%-11s", key);
}

static void format_text(struct out *o, const struct node_status *s)
{
	out_key(o, "node");
	out_text_str(o, s->node, sizeof(s->node), "(unknown)");
	out_str(o, "\n");

	out_key(o, "role");
	out_text_str(o, s->role, sizeof(s->role), "(unknown)");
	out_printf(o, " (term %" PRIu64 ")\n", s->term);

	out_key(o, "state");
	out_text_str(o, s->state, sizeof(s->state), "(unknown)");
	out_str(o, "\n");

	out_key(o, "epoch");
	out_printf(o, "%" PRIu64 " (last acked %" PRIu64 ")\n", s->epoch,
		   s->acked);

	out_key(o, "held");
	out_printf(o, "%" PRIu64 " bytes of output", s->held_bytes);
	if (s->held_bytes >= 1024)
		out_printf(o, " (%.1f KiB)", (double)s->held_bytes / 1024);
	out_str(o, "\n");

	out_key(o, "pause");
	out_text_num(o, "p50 %.1f us", s->pause_us_p50);
	out_str(o, ", ");
	out_text_num(o, "p99 %.1f us", s->pause_us_p99);
	out_str(o, "\n");

	out_key(o, "ack");
	out_text_num(o, "p50 %.2f ms", s->ack_us_p50 / 1e3);
	out_str(o, ", ");
	out_text_num(o, "p99 %.2f ms", s->ack_us_p99 / 1e3);
	out_str(o, " after the pause (output held that long)\n");

	out_key(o, "throughput");
	out_text_num(o, "%.1f epochs/s", s->epochs_per_s);
	out_str(o, ", ");
	out_text_num(o, "%.2f MB/s on the wire", s->wire_mb_per_s);
	out_str(o, ", compression ");
	out_text_num(o, "%.2fx", s->compression_ratio);
	out_str(o, "\n");

	out_key(o, "peer");
	out_text_str(o, s->peer, sizeof(s->peer), "none");
	if (s->since_last_frame_ms >= 0)
		out_printf(o, ", last frame %" PRId64 " ms ago",
			   s->since_last_frame_ms);
	else if (field_len(s->peer, sizeof(s->peer)))
		out_str(o, ", last frame: unknown");
	out_printf(o, " (heartbeat timeout %" PRIu64 " ms)\n",
		   s->heartbeat_timeout_ms);

	out_key(o, "workload");
	out_text_str(o, s->workload, sizeof(s->workload), "(unknown)");
	out_str(o, "\n");
}

int status_format(const struct node_status *s, int json, char *buf, size_t len)
{
	struct out o = {.buf = buf, .len = len};

	if (len)
		buf[0] = '\0';
	if (json)
		format_json(&o, s);
	else
		format_text(&o, s);
	if (o.full)
		return -ENOSPC;
	return (int)o.n;
}

__attribute__((format(printf, 3, 4))) static int
request_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The next space-separated word of [*p, end), or 0 when there is none. */
static size_t next_word(const char **p, const char *end, const char **word)
{
	const char *q = *p;

	while (q < end && *q == ' ')
		q++;
	*word = q;
	while (q < end && *q != ' ')
		q++;
	*p = q;
	return (size_t)(q - *word);
}

static int word_is(const char *w, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(w, s, n) == 0;
}

int status_parse_request(const char *line, size_t len, enum ctl_cmd *cmd,
			 int *json, char *err, size_t errlen)
{
	const char *p = line, *end, *w, *arg, *extra;
	size_t n, an;

	if (len > STATUS_REQUEST_MAX)
		return request_error(err, errlen,
				     "request longer than %d bytes;" TRY,
				     STATUS_REQUEST_MAX);
	if (len == 0 || line[len - 1] != '\n')
		return request_error(
			err, errlen,
			"request does not end with a newline;" TRY);
	end = line + len - 1;
	for (const char *q = line; q < end; q++)
		if (*q < 0x20 || *q > 0x7e)
			return request_error(err, errlen,
					     "byte 0x%02x at offset %zu is not "
					     "printable ASCII;" TRY,
					     (unsigned char)*q,
					     (size_t)(q - line));

	n = next_word(&p, end, &w);
	if (n == 0)
		return request_error(err, errlen, "empty request;" TRY);
	if (!word_is(w, n, "status"))
		return request_error(err, errlen,
				     "unknown command '%.*s%s';" TRY,
				     (int)(n > QUOTE_MAX ? QUOTE_MAX : n), w,
				     n > QUOTE_MAX ? "..." : "");
	an = next_word(&p, end, &arg);
	if (an && !word_is(arg, an, "json"))
		return request_error(err, errlen,
				     "unknown argument '%.*s%s' to status;" TRY,
				     (int)(an > QUOTE_MAX ? QUOTE_MAX : an),
				     arg, an > QUOTE_MAX ? "..." : "");
	if (next_word(&p, end, &extra))
		return request_error(err, errlen,
				     "too many arguments to status;" TRY);
	*cmd = CTL_CMD_STATUS;
	*json = an != 0;
	if (errlen)
		err[0] = '\0';
	return 0;
}
