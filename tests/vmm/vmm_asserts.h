/*
 * Test helpers shared by the KVM suites that run guests in-process
 * (test_vmm.c, test_prepared.c): they fail the cmocka test on a timeout or
 * a mismatch. Include after <cmocka.h> and console_capture.h.
 */
#ifndef REMORA_TESTS_VMM_ASSERTS_H
#define REMORA_TESTS_VMM_ASSERTS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vm.h"

/* cap_find() that fails the test on a timeout, showing the output. */
static inline size_t cap_wait(struct capture *c, const char *needle,
			      size_t from, int timeout_ms)
{
	size_t off = cap_find(c, needle, from, timeout_ms, NULL);

	if (!off)
		fail_msg("timed out waiting for '%s'; output:\n%s", needle,
			 c->buf + from);
	return off;
}

/* Whether needle is in the output yet (no wait). */
static inline int cap_has(struct capture *c, const char *needle)
{
	int has;

	pthread_mutex_lock(&c->lock);
	has = c->len && strstr(c->buf, needle) != NULL;
	pthread_mutex_unlock(&c->lock);
	return has;
}

/* The number in the last "tick N" line of the output (-1: none). */
static inline long last_tick(struct capture *c)
{
	long n = -1;
	char *p;

	pthread_mutex_lock(&c->lock);
	for (p = c->buf; (p = strstr(p, "tick ")); p += 5)
		n = strtol(p + 5, NULL, 10);
	pthread_mutex_unlock(&c->lock);
	return n;
}

/*
 * A counter guest restored at tick n continues it: its very first line is
 * tick n+1, nothing before it, and it goes on (tick n+3).
 */
static inline void expect_ticks_continue(struct capture *c, long n)
{
	char want[32];

	snprintf(want, sizeof(want), "tick %ld\n", n + 1);
	cap_wait(c, want, 0, 10000);
	assert_memory_equal(c->buf, want, strlen(want));
	snprintf(want, sizeof(want), "tick %ld\n", n + 3);
	cap_wait(c, want, 0, 10000);
}

/* A whole file, malloc()ed. */
static inline uint8_t *load(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f),
			 (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* The guest at path, with args, loaded into a fresh VM made from cfg;
 * not started. */
static inline struct vm *vm_from_elf(const char *path, const char *args,
				     const struct vm_config *cfg)
{
	char err[VM_ERR_MAX];
	struct vm *vm;
	uint8_t *img;
	size_t len;

	img = load(path, &len);
	if (vm_create(&vm, cfg, err, sizeof(err)))
		fail_msg("vm_create: %s", err);
	if (vm_load_elf(vm, img, len, args))
		fail_msg("vm_load_elf: %s", vm_error(vm));
	free(img);
	return vm;
}

#endif
