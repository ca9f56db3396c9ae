/*
 * Parsing of sizes and durations with units. Strict: no sign, no spaces,
 * no fractions, no overflow; the whole string must be consumed. Formatting
 * goes the other way, for messages and docs that quote a limit.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

/* Leading decimal digits of s into *v; returns the first non-digit. */
static const char *digits(const char *s, uint64_t *v, int *err)
{
	*v = 0;
	*err = 0;
	if (*s < '0' || *s > '9') {
		*err = -EINVAL;
		return s;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (*v > (UINT64_MAX - d) / 10)
			*err = -ERANGE;
		else
			*v = *v * 10 + d;
	}
	return s;
}

int units_parse_uint(const char *s, uint64_t *out)
{
	int err;
	const char *rest = digits(s, out, &err);

	return err ? err : *rest ? -EINVAL : 0;
}

static int scale(uint64_t v, uint64_t mul, uint64_t *out, const char **why)
{
	if (mul && v > UINT64_MAX / mul) {
		*why = "too large";
		return -ERANGE;
	}
	*out = v * mul;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t mul;
};

/* What a kind of quantity accepts, and what to tell the operator. */
struct unit_kind {
	const struct unit *units;
	size_t n;
	const char *want_number; /* no leading digits */
	const char *want_unit;	 /* "" given where a unit is required */
	const char *bad_unit;	 /* a suffix not in the table */
};

static int parse(const char *s, const struct unit_kind *k, uint64_t *out,
		 const char **why)
{
	const char *rest;
	uint64_t v;
	int err;

	rest = digits(s, &v, &err);
	if (err) {
		*why = err == -EINVAL ? k->want_number : "too large";
		return err;
	}
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(rest, k->units[i].suffix) == 0)
			return scale(v, k->units[i].mul, out, why);
	*why = *rest ? k->bad_unit : k->want_unit;
	return -EINVAL;
}

int units_parse_size(const char *s, uint64_t *out, const char **why)
{
	static const struct unit units[] = {
		{"", 1},
		{"B", 1},
		{"K", 1ull << 10},
		{"KB", 1ull << 10},
		{"KiB", 1ull << 10},
		{"M", 1ull << 20},
		{"MB", 1ull << 20},
		{"MiB", 1ull << 20},
		{"G", 1ull << 30},
		{"GB", 1ull << 30},
		{"GiB", 1ull << 30},
		{"T", 1ull << 40},
		{"TB", 1ull << 40},
		{"TiB", 1ull << 40},
	};
	static const struct unit_kind k = {
		units,
		sizeof(units) / sizeof(units[0]),
		"expected a number, e.g. 64M",
		"",
		"unknown size unit (use K, M, G or T)",
	};

	return parse(s, &k, out, why);
}

int units_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	static const struct unit units[] = {
		{"ns", 1},
		{"us", 1000},
		{"ms", 1000000},
		{"s", 1000000000ull},
		{"min", 60000000000ull},
		{"h", 3600000000000ull},
	};
	static const struct unit_kind k = {
		units,
		sizeof(units) / sizeof(units[0]),
		"expected a number with a unit, e.g. 25ms",
		"missing unit (ns, us, ms, s, min or h)",
		"unknown duration unit (use ns, us, ms, s, min or h)",
	};

	return parse(s, &k, ns, why);
}

/* The largest of units (biggest first) that divides v, else the last one. */
static const char *format(char *buf, size_t size, uint64_t v,
			  const struct unit *units, size_t n)
{
	size_t i = 0;

	while (i < n - 1 && (!v || v % units[i].mul))
		i++;
	snprintf(buf, size, "%llu%s", (unsigned long long)(v / units[i].mul),
		 units[i].suffix);
	return buf;
}

const char *units_format_size(char *buf, size_t size, uint64_t bytes)
{
	static const struct unit units[] = {
		{"T", 1ull << 40}, {"G", 1ull << 30}, {"M", 1ull << 20},
		{"K", 1ull << 10}, {"", 1},
	};

	return format(buf, size, bytes, units,
		      sizeof(units) / sizeof(units[0]));
}

const char *units_format_duration(char *buf, size_t size, uint64_t ns)
{
	static const struct unit units[] = {
		{"h", 3600000000000ull}, {"min", 60000000000ull},
		{"s", 1000000000ull},	 {"ms", 1000000ull},
		{"us", 1000ull},	 {"ns", 1},
	};

	return format(buf, size, ns, units, sizeof(units) / sizeof(units[0]));
}
