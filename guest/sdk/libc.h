/*
 * The guest SDK's small C library: string and memory functions, character
 * classes, number parsing, formatted output into buffers, the heap allocator
 * and the argument splitter. None of it makes hypercalls, so the same sources
 * also build on the host for unit tests (tests/unit/test_guest_libc.c). There,
 * glibc already owns these names, so building with -DREMORA_HOST_TEST gives
 * every libc name an rl_ prefix through RL(); in guests RL(memcpy) is plain
 * memcpy, which also lets gcc treat calls to it as builtins.
 */
#ifndef REMORA_GUEST_LIBC_H
#define REMORA_GUEST_LIBC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#ifdef REMORA_HOST_TEST
#define RL(name) rl_##name
#else
#define RL(name) name
#endif

#define REMORA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* string.c */
void *RL(memcpy)(void *restrict dst, const void *restrict src, size_t n);
void *RL(memmove)(void *dst, const void *src, size_t n);
void *RL(memset)(void *dst, int c, size_t n);
int RL(memcmp)(const void *a, const void *b, size_t n);
size_t RL(strlen)(const char *s);
size_t RL(strnlen)(const char *s, size_t max);
int RL(strcmp)(const char *a, const char *b);
int RL(strncmp)(const char *a, const char *b, size_t n);
char *RL(strchr)(const char *s, int c);
char *RL(strrchr)(const char *s, int c);
char *RL(strcpy)(char *restrict dst, const char *restrict src);

/* ctype.c: the "C" locale, ASCII only. */
int RL(isdigit)(int c);
int RL(isxdigit)(int c);
int RL(isspace)(int c);
int RL(isupper)(int c);
int RL(islower)(int c);
int RL(isalpha)(int c);
int RL(isalnum)(int c);
int RL(isprint)(int c);
int RL(tolower)(int c);
int RL(toupper)(int c);

/*
 * strtoul.c: C semantics (leading space, sign, base 0 detects 0x and 0,
 * bases 2..36, *end after the last digit or = s when there is none), except
 * that there is no errno: an overflow saturates to ULONG_MAX / LONG_MIN /
 * LONG_MAX.
 */
unsigned long RL(strtoul)(const char *s, char **end, int base);
unsigned long long RL(strtoull)(const char *s, char **end, int base);
long RL(strtol)(const char *s, char **end, int base);
int RL(atoi)(const char *s);

/*
 * printf.c: conversions d i u o x X c s p %, flags - 0 + space #, field
 * width and precision (also as *), length modifiers hh h l ll z j t. No
 * floating point and no %n. Where C leaves it open, it does what glibc
 * does: a NULL %s prints "(null)" (nothing if the precision is below 6), a
 * NULL %p "(nil)", and %p takes the '+' and ' ' flags. An unknown
 * conversion is copied to the output as written.
 */
struct remora_sink {
	void (*write)(struct remora_sink *sink, const char *s, size_t n);
};
/* Formats into sink; returns the number of bytes produced. */
int remora_vformat(struct remora_sink *sink, const char *fmt, va_list ap);
int RL(vsnprintf)(char *restrict buf, size_t size, const char *restrict fmt,
		  va_list ap);
int RL(snprintf)(char *restrict buf, size_t size, const char *restrict fmt, ...)
	REMORA_PRINTF(3, 4);

/*
 * malloc.c: first fit over an address-ordered free list that coalesces on
 * free. Blocks are 16-byte aligned with a 16-byte header, so one allocation
 * of (heap size - REMORA_HEAP_OVERHEAD) bytes fits an empty heap. Everything
 * returns NULL when the heap cannot satisfy the request (a failed realloc
 * leaves the block as it was); realloc(p, 0) frees p and returns NULL.
 */
#define REMORA_HEAP_OVERHEAD 16u
void remora_heap_init(void *start, size_t len);
void *RL(malloc)(size_t n);
void *RL(calloc)(size_t nmemb, size_t size);
void *RL(realloc)(void *p, size_t n);
void *RL(aligned_alloc)(size_t align, size_t n);
void RL(free)(void *p);
/* n pages of 4096 bytes, page aligned; release with free(). */
void *remora_alloc_pages(size_t n);

/*
 * args.c: splits s in place into at most max arguments. Arguments are
 * separated by unquoted white space; a double quote starts or ends a quoted
 * stretch (so "a b" and x"y z" are one argument each, "" is an empty one),
 * and a backslash makes the next " or \ literal. Returns the number of
 * arguments, or -1 if there are more than max or a quote is not closed.
 */
int remora_split_args(char *s, char **argv, int max);

/*
 * args.c: an option's unsigned number, decimal or 0x-hex, nothing else in
 * the string. Returns 1 and stores it, or 0 (NULL, empty, sign, junk).
 */
int remora_parse_u64(const char *s, uint64_t *v);

/*
 * What the library calls when it finds itself broken (heap corruption, a
 * double free): the guest SDK aborts the VM with the message, the host test
 * turns it into a test failure.
 */
noreturn void remora_libc_panic(const char *msg);

#endif
