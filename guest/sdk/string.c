/*
 * Memory and string functions for guests. gcc emits calls to memcpy, memset,
 * memmove and memcmp on its own (struct copies, zeroing), so these must exist
 * even in a guest that never names them. The loops copy eight bytes at a time
 * where they can; that is plenty for guests, which are not memcpy-bound. The
 * guest build passes -fno-tree-loop-distribute-patterns so that gcc does not
 * turn these very loops back into calls to themselves.
 */
#include "libc.h"

/* Unaligned 8-byte access without undefined behaviour; compiles to one mov. */
static inline uint64_t load64(const unsigned char *p)
{
	uint64_t w;

	__builtin_memcpy(&w, p, sizeof(w));
	return w;
}

static inline void store64(unsigned char *p, uint64_t w)
{
	__builtin_memcpy(p, &w, sizeof(w));
}

void *RL(memcpy)(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	for (; n >= 8; n -= 8, d += 8, s += 8)
		store64(d, load64(s));
	while (n--)
		*d++ = *s++;
	return dst;
}

void *RL(memmove)(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	/* Forward is safe unless dst starts inside [src, src + n). */
	if ((uintptr_t)d - (uintptr_t)s >= n) {
		for (; n >= 8; n -= 8, d += 8, s += 8)
			store64(d, load64(s));
		while (n--)
			*d++ = *s++;
		return dst;
	}
	d += n;
	s += n;
	for (; n >= 8; n -= 8) {
		d -= 8;
		s -= 8;
		store64(d, load64(s));
	}
	while (n--)
		*--d = *--s;
	return dst;
}

void *RL(memset)(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	uint64_t w = (unsigned char)c * 0x0101010101010101ull;

	for (; n >= 8; n -= 8, d += 8)
		store64(d, w);
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int RL(memcmp)(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	/* Skip equal words quickly, then find the first differing byte. */
	for (; n >= 8 && load64(x) == load64(y); n -= 8, x += 8, y += 8)
		;
	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x < *y ? -1 : 1;
	}
	return 0;
}

size_t RL(strlen)(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

size_t RL(strnlen)(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int RL(strcmp)(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	return (*x > *y) - (*x < *y);
}

int RL(strncmp)(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x < *y ? -1 : 1;
		if (!*x)
			break;
	}
	return 0;
}

char *RL(strchr)(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *RL(strrchr)(const char *s, int c)
{
	const char *last = NULL;

	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (!*s)
			return (char *)last;
	}
}

char *RL(strcpy)(char *restrict dst, const char *restrict src)
{
	return RL(memcpy)(dst, src, RL(strlen)(src) + 1);
}
