/*
 * stdout for guests: printf, puts and putchar write to the console
 * hypercall. Output is gathered in a buffer on the stack so that a line
 * costs one VM exit, not one per piece the formatter produces. gcc rewrites
 * some printf calls into puts or putchar, so those must exist and must not
 * call printf themselves.
 */
#include "remora.h"

#define CONSOLE_BUF 512

struct console_sink {
	struct remora_sink
		sink; /* first, so a sink pointer is a console_sink */
	size_t len;
	char buf[CONSOLE_BUF];
};

static void console_put(struct remora_sink *sink, const char *s, size_t n);

/* Not an initialiser: that would zero the whole buffer on every call. */
static void console_init(struct console_sink *c)
{
	c->sink.write = console_put;
	c->len = 0;
}

static void console_flush(struct console_sink *c)
{
	remora_console_write(c->buf, c->len);
	c->len = 0;
}

static void console_put(struct remora_sink *sink, const char *s, size_t n)
{
	struct console_sink *c = (struct console_sink *)sink;

	while (n) {
		size_t k = sizeof(c->buf) - c->len;

		if (k > n)
			k = n;
		memcpy(c->buf + c->len, s, k);
		c->len += k;
		s += k;
		n -= k;
		if (c->len == sizeof(c->buf))
			console_flush(c);
	}
}

int vprintf(const char *fmt, va_list ap)
{
	struct console_sink c;
	int n;

	console_init(&c);
	n = remora_vformat(&c.sink, fmt, ap);

	console_flush(&c);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int puts(const char *s)
{
	struct console_sink c;

	console_init(&c);
	console_put(&c.sink, s, strlen(s));
	console_put(&c.sink, "\n", 1);
	console_flush(&c);
	return 1;
}

int putchar(int c)
{
	char ch = (char)c;

	remora_console_write(&ch, 1);
	return (unsigned char)ch;
}
