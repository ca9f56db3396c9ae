/*
 * Formatted output for guests: one formatting engine, remora_vformat(), that
 * hands its output in pieces to a sink, and the snprintf family on top of it
 * (console.c adds printf with a sink that makes console hypercalls). The
 * engine follows C99 for everything it supports, checked byte for byte
 * against glibc by tests/unit/test_guest_libc.c; what it does not support
 * (floating point, %n, wide characters) is copied to the output as written,
 * so a mistake is visible rather than silently consuming arguments.
 */
#include <stdbool.h>

#include "libc.h"

_Static_assert(sizeof(size_t) == sizeof(long), "%z reads a long");
_Static_assert(sizeof(ptrdiff_t) == sizeof(long), "%t reads a long");

enum fmt_len { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T };

/* One parsed conversion specification. */
struct fmt_spec {
	bool minus, plus, space, alt, zero;
	int width; /* 0 when not given */
	int prec;  /* -1 when not given */
	enum fmt_len len;
	char conv;
};

struct fmt_out {
	struct remora_sink *sink;
	size_t count; /* bytes produced so far */
};

static void emit(struct fmt_out *o, const char *s, size_t n)
{
	if (n) {
		o->sink->write(o->sink, s, n);
		o->count += n;
	}
}

/* Padding goes out in pieces of a constant string, not byte by byte. */
static void pad(struct fmt_out *o, char c, size_t n)
{
	static const char spaces[] = "                                ";
	static const char zeros[] = "00000000000000000000000000000000";
	const char *run = c == '0' ? zeros : spaces;

	while (n) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		emit(o, run, k);
		n -= k;
	}
}

/* Adds the padding that width asks for around a body of len bytes. */
static void pad_left(struct fmt_out *o, const struct fmt_spec *sp, size_t len)
{
	if (!sp->minus && (size_t)sp->width > len)
		pad(o, ' ', (size_t)sp->width - len);
}

static void pad_right(struct fmt_out *o, const struct fmt_spec *sp, size_t len)
{
	if (sp->minus && (size_t)sp->width > len)
		pad(o, ' ', (size_t)sp->width - len);
}

static void put_str(struct fmt_out *o, const struct fmt_spec *sp, const char *s,
		    size_t n)
{
	pad_left(o, sp, n);
	emit(o, s, n);
	pad_right(o, sp, n);
}

/*
 * An integer: [spaces] [sign or 0x] [zeros] digits [spaces]. The zeros come
 * from the precision, from '#' with 'o' (the first digit must be 0), and
 * from the '0' flag, which only applies without a precision.
 */
static void put_int(struct fmt_out *o, const struct fmt_spec *sp, uint64_t v,
		    bool neg, unsigned base)
{
	const char *xdigits =
		sp->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];	/* 22 octal digits for 64 bits */
	char prefix[3]; /* sign, 0x */
	size_t nd = 0, np = 0, zeros = 0, len;
	/* glibc honours '+' and ' ' for %p too. */
	bool signed_conv =
		sp->conv == 'd' || sp->conv == 'i' || sp->conv == 'p';
	bool nonzero = v != 0;

	while (v) {
		buf[sizeof(buf) - ++nd] = xdigits[v % base];
		v /= base;
	}
	/* Zero prints as "0" unless the precision is explicitly 0. */
	if (!nonzero && sp->prec != 0)
		buf[sizeof(buf) - ++nd] = '0';

	if (signed_conv && neg)
		prefix[np++] = '-';
	else if (signed_conv && sp->plus)
		prefix[np++] = '+';
	else if (signed_conv && sp->space)
		prefix[np++] = ' ';
	if (sp->conv == 'p' || (sp->alt && nonzero && base == 16)) {
		prefix[np++] = '0';
		prefix[np++] = sp->conv == 'X' ? 'X' : 'x';
	}

	if (sp->prec >= 0 && (size_t)sp->prec > nd)
		zeros = (size_t)sp->prec - nd;
	if (sp->alt && base == 8 && zeros == 0 &&
	    (nd == 0 || buf[sizeof(buf) - nd] != '0'))
		zeros = 1;
	len = np + zeros + nd;
	if (sp->zero && !sp->minus && sp->prec < 0 && (size_t)sp->width > len) {
		zeros += (size_t)sp->width - len;
		len = (size_t)sp->width;
	}

	pad_left(o, sp, len);
	emit(o, prefix, np);
	pad(o, '0', zeros);
	emit(o, buf + sizeof(buf) - nd, nd);
	pad_right(o, sp, len);
}

static int64_t arg_signed(va_list *ap, enum fmt_len len)
{
	switch (len) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
	case LEN_Z: /* the signed type of size_t's width */
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_J:
		return va_arg(*ap, intmax_t);
	case LEN_T:
		return va_arg(*ap, ptrdiff_t);
	default:
		return va_arg(*ap, int);
	}
}

static uint64_t arg_unsigned(va_list *ap, enum fmt_len len)
{
	switch (len) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z:
		return va_arg(*ap, size_t);
	case LEN_J:
		return va_arg(*ap, uintmax_t);
	case LEN_T: /* the unsigned type of ptrdiff_t's width */
		return va_arg(*ap, unsigned long);
	default:
		return va_arg(*ap, unsigned int);
	}
}

/* Digits of a width or precision, saturating far above any sane value. */
static int parse_num(const char **p)
{
	int n = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++) {
		if (n < 100000000)
			n = n * 10 + (**p - '0');
	}
	return n;
}

/* Parses the specification after '%' at *p; leaves *p at the conversion. */
static void parse_spec(const char **p, struct fmt_spec *sp, va_list *ap)
{
	const char *s = *p;

	*sp = (struct fmt_spec){.prec = -1};
	for (;; s++) {
		if (*s == '-')
			sp->minus = true;
		else if (*s == '+')
			sp->plus = true;
		else if (*s == ' ')
			sp->space = true;
		else if (*s == '#')
			sp->alt = true;
		else if (*s == '0')
			sp->zero = true;
		else
			break;
	}
	if (*s == '*') {
		int w = va_arg(*ap, int);

		s++;
		/* A negative width argument is a '-' flag and a width. */
		if (w < 0) {
			sp->minus = true;
			w = w < -100000000 ? 100000000 : -w;
		}
		sp->width = w;
	} else {
		sp->width = parse_num(&s);
	}
	if (*s == '.') {
		s++;
		if (*s == '*') {
			int pr = va_arg(*ap, int);

			s++;
			/* A negative precision argument means none was given. */
			sp->prec = pr < 0 ? -1 : pr;
		} else {
			sp->prec = parse_num(&s);
		}
	}
	switch (*s) {
	case 'h':
		sp->len = s[1] == 'h' ? LEN_HH : LEN_H;
		s += sp->len == LEN_HH ? 2 : 1;
		break;
	case 'l':
		sp->len = s[1] == 'l' ? LEN_LL : LEN_L;
		s += sp->len == LEN_LL ? 2 : 1;
		break;
	case 'z':
		sp->len = LEN_Z;
		s++;
		break;
	case 'j':
		sp->len = LEN_J;
		s++;
		break;
	case 't':
		sp->len = LEN_T;
		s++;
		break;
	default:
		break;
	}
	sp->conv = *s;
	*p = s;
}

int remora_vformat(struct remora_sink *sink, const char *fmt, va_list ap)
{
	struct fmt_out o = {.sink = sink};
	struct fmt_spec sp;
	const char *p = fmt, *start;
	va_list args;
	int64_t sv;
	char c;

	va_copy(args, ap);
	while (*p) {
		if (*p != '%') {
			start = p;
			while (*p && *p != '%')
				p++;
			emit(&o, start, (size_t)(p - start));
			continue;
		}
		start = p++;
		parse_spec(&p, &sp, &args);
		switch (sp.conv) {
		case 'd':
		case 'i':
			sv = arg_signed(&args, sp.len);
			put_int(&o, &sp,
				sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv,
				sv < 0, 10);
			break;
		case 'u':
			put_int(&o, &sp, arg_unsigned(&args, sp.len), false,
				10);
			break;
		case 'o':
			put_int(&o, &sp, arg_unsigned(&args, sp.len), false, 8);
			break;
		case 'x':
		case 'X':
			put_int(&o, &sp, arg_unsigned(&args, sp.len), false,
				16);
			break;
		case 'p': {
			void *ptr = va_arg(args, void *);

			if (ptr)
				put_int(&o, &sp, (uintptr_t)ptr, false, 16);
			else
				put_str(&o, &sp, "(nil)", 5);
			break;
		}
		case 'c':
			c = (char)va_arg(args, int);
			put_str(&o, &sp, &c, 1);
			break;
		case 's': {
			const char *s = va_arg(args, const char *);

			/* Like glibc: all of "(null)" or nothing of it. */
			if (!s)
				s = sp.prec < 0 || sp.prec >= 6 ? "(null)" : "";
			put_str(&o, &sp, s,
				sp.prec >= 0 ? RL(strnlen)(s, (size_t)sp.prec)
					     : RL(strlen)(s));
			break;
		}
		case '%':
			emit(&o, "%", 1);
			break;
		default:
			/* Unsupported: show it as written (a lone % at the end too). */
			if (sp.conv)
				p++;
			emit(&o, start, (size_t)(p - start));
			continue;
		}
		p++;
	}
	va_end(args);
	return o.count > INT32_MAX ? -1 : (int)o.count;
}

/* Keeps the first size - 1 bytes; the rest is only counted. */
struct buf_sink {
	struct remora_sink sink; /* first, so a sink pointer is a buf_sink */
	char *buf;
	size_t cap;
	size_t len;
};

static void buf_write(struct remora_sink *sink, const char *s, size_t n)
{
	struct buf_sink *b = (struct buf_sink *)sink;
	size_t room = b->cap - b->len;

	if (n > room)
		n = room;
	if (!n)
		return; /* buf may be NULL when size is 0 */
	RL(memcpy)(b->buf + b->len, s, n);
	b->len += n;
}

int RL(vsnprintf)(char *restrict buf, size_t size, const char *restrict fmt,
		  va_list ap)
{
	struct buf_sink b = {
		.sink = {.write = buf_write},
		.buf = buf,
		.cap = size ? size - 1 : 0,
	};
	int n = remora_vformat(&b.sink, fmt, ap);

	if (size)
		buf[b.len] = '\0';
	return n;
}

int RL(snprintf)(char *restrict buf, size_t size, const char *restrict fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = RL(vsnprintf)(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
