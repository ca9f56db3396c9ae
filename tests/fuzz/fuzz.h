/*
 * What the fuzz targets share: the libFuzzer entry point and a check that
 * aborts with a message, so a broken property is a crash the fuzzer (or the
 * corpus replay in the normal test suite) reports with its input.
 */
#ifndef REMORA_FUZZ_H
#define REMORA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "%s:%d: property failed: %s\n", \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

#endif
