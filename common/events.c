/*
 * Structured events (see events.h). JSON is written by hand: the lines are
 * flat objects of strings and numbers, and escaping is the only subtle
 * part (every control byte, quote and backslash; bytes >= 0x80 pass as
 * they are, which keeps valid UTF-8 valid).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "fdio.h"
#include "paths.h"

static int ev_fd = -1;
static char ev_node[64];
static char ev_role[16];

int events_init(const char *path, const char *node, const char *role)
{
	/* A FIFO without a reader fails (ENXIO) instead of hanging. */
	int fd = paths_open_sink(path);

	if (fd < 0)
		return fd;
	events_close();
	ev_fd = fd;
	snprintf(ev_node, sizeof(ev_node), "%s", node ? node : "");
	events_set_role(role);
	return 0;
}

void events_set_role(const char *role)
{
	snprintf(ev_role, sizeof(ev_role), "%s", role ? role : "");
}

void events_close(void)
{
	if (ev_fd >= 0)
		close(ev_fd);
	ev_fd = -1;
}

/*
 * A line being built: text goes into b[0..lim), where lim keeps room for
 * the closing "}\n" and the terminating NUL; whatever does not fit is cut.
 */
struct line {
	char *b;
	size_t n, lim;
};

static void put_raw(struct line *l, const char *s, size_t k)
{
	if (k > l->lim - l->n)
		k = l->lim - l->n;
	memcpy(l->b + l->n, s, k);
	l->n += k;
}

/* s as a JSON string; an escape is never cut in half. */
static void put_str(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char e[6];
	size_t k;

	put_raw(l, "\"", 1);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		k = 0;
		if (c == '"' || c == '\\') {
			e[k++] = '\\';
			e[k++] = (char)c;
		} else if (c == '\n') {
			e[k++] = '\\';
			e[k++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			k = 6;
		} else {
			e[k++] = (char)c;
		}
		if (l->lim - l->n < k + 1)
			break; /* keep room for the closing quote */
		put_raw(l, e, k);
	}
	put_raw(l, "\"", 1);
}

static void put_field(struct line *l, const struct ev_field *f)
{
	char num[40];

	put_raw(l, ", ", 2);
	put_str(l, f->key);
	put_raw(l, ": ", 2);
	switch (f->type) {
	case EV_STR:
		put_str(l, f->s);
		return;
	case EV_U64:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)f->u);
		break;
	case EV_I64:
		snprintf(num, sizeof(num), "%lld", (long long)f->i);
		break;
	case EV_F64:
		/* JSON has no NaN or infinity. */
		if (isfinite(f->f))
			snprintf(num, sizeof(num), "%.3f", f->f);
		else
			snprintf(num, sizeof(num), "null");
		break;
	}
	put_raw(l, num, strlen(num));
}

static size_t format(char *buf, size_t len, const char *prefix,
		     const char *event, const struct ev_field *f, size_t nf)
{
	struct line l = {.b = buf, .lim = len - 3};
	size_t i;

	if (len < 4)
		return 0;
	put_raw(&l, "{", 1);
	put_raw(&l, prefix, strlen(prefix));
	put_raw(&l, "\"event\": ", 9);
	put_str(&l, event);
	for (i = 0; i < nf; i++)
		put_field(&l, &f[i]);
	buf[l.n++] = '}';
	buf[l.n++] = '\n';
	buf[l.n] = '\0';
	return l.n;
}

size_t events_format(char *buf, size_t len, const char *event,
		     const struct ev_field *f, size_t n)
{
	return format(buf, len, "", event, f, n);
}

void events_emitv(const char *event, const struct ev_field *f, size_t nf)
{
	char buf[4096], prefix[256], node[80], role[32];
	struct line ln = {.b = node, .lim = sizeof(node) - 1};
	struct line lr = {.b = role, .lim = sizeof(role) - 1};
	struct timespec ts;
	struct tm tm;
	char when[32];
	size_t n;

	if (ev_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	put_str(&ln, ev_node);
	node[ln.n] = '\0';
	put_str(&lr, ev_role);
	role[lr.n] = '\0';
	snprintf(prefix, sizeof(prefix),
		 "\"t_ms\": %.3f, \"time\": \"%s.%03ldZ\", \"node\": %s, "
		 "\"role\": %s, ",
		 (double)now_ns() / 1e6, when, ts.tv_nsec / 1000000, node,
		 role);
	n = format(buf, sizeof(buf), prefix, event, f, nf);
	/*
	 * One write per line (O_APPEND): lines never interleave. An event
	 * that cannot be written is lost; the daemon goes on.
	 */
	(void)fd_write_all(ev_fd, (const uint8_t *)buf, n);
}
