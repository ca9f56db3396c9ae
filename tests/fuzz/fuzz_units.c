/*
 * Fuzz target: sizes and durations as operators write them. Properties: no
 * read past the string; an accepted size or duration round-trips: the
 * number printed back with the unit that was parsed parses to the same
 * value, and digits alone are accepted as a size exactly when they fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *why = NULL;
	uint64_t v, ns, again;
	char buf[64];

	memcpy(s, data, size);
	s[size] = '\0';
	if (units_parse_size(s, &v, &why) == 0) {
		snprintf(buf, sizeof(buf), "%lluB", (unsigned long long)v);
		FUZZ_CHECK(units_parse_size(buf, &again, &why) == 0);
		FUZZ_CHECK(again == v);
	} else {
		FUZZ_CHECK(why != NULL);
	}
	why = NULL;
	if (units_parse_duration(s, &ns, &why) == 0) {
		snprintf(buf, sizeof(buf), "%lluns", (unsigned long long)ns);
		FUZZ_CHECK(units_parse_duration(buf, &again, &why) == 0);
		FUZZ_CHECK(again == ns);
	} else {
		FUZZ_CHECK(why != NULL);
	}
	free(s);
	return 0;
}
