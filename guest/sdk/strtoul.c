/*
 * Number parsing for guest arguments (page counts, seeds, addresses). One
 * unsigned parser does the work; the signed ones and atoi are built on it.
 * unsigned long and unsigned long long are both 64 bits on x86-64, so
 * strtoul and strtoull are the same function.
 */
#include "libc.h"

static int digit_value(int c)
{
	if (RL(isdigit)(c))
		return c - '0';
	if (RL(isalpha)(c))
		return RL(tolower)(c) - 'a' + 10;
	return 99;
}

/*
 * The magnitude of the number at s, saturated at UINT64_MAX (*overflow is set
 * then), with its sign in *neg. *end points after the last digit, or at s if
 * there is no number.
 */
static uint64_t parse(const char *s, char **end, int base, int *neg,
		      int *overflow)
{
	const char *p = s;
	const char *digits;
	uint64_t v = 0;
	int d;

	*neg = 0;
	*overflow = 0;
	if (end)
		*end = (char *)s;
	if (base < 0 || base == 1 || base > 36)
		return 0;
	while (RL(isspace)(*p))
		p++;
	if (*p == '+' || *p == '-')
		*neg = *p++ == '-';
	/* "0x" is a prefix only if a hex digit follows; else "0" is the number. */
	if ((base == 0 || base == 16) && p[0] == '0' &&
	    (p[1] == 'x' || p[1] == 'X') && digit_value(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}
	digits = p;
	for (; (d = digit_value(*p)) < base; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			*overflow = 1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (p == digits)
		return 0;
	if (end)
		*end = (char *)p;
	return *overflow ? UINT64_MAX : v;
}

unsigned long long RL(strtoull)(const char *s, char **end, int base)
{
	int neg, overflow;
	uint64_t v = parse(s, end, base, &neg, &overflow);

	if (overflow)
		return UINT64_MAX;
	/* C says a leading '-' negates in the unsigned type. */
	return neg ? -v : v;
}

unsigned long RL(strtoul)(const char *s, char **end, int base)
{
	return RL(strtoull)(s, end, base);
}

long RL(strtol)(const char *s, char **end, int base)
{
	int neg, overflow;
	uint64_t v = parse(s, end, base, &neg, &overflow);

	if (neg) {
		if (overflow || v >= (uint64_t)INT64_MAX + 1)
			return INT64_MIN;
		return -(long)v;
	}
	if (overflow || v > (uint64_t)INT64_MAX)
		return INT64_MAX;
	return (long)v;
}

int RL(atoi)(const char *s)
{
	return (int)RL(strtol)(s, NULL, 10);
}
