/*
 * Sizes and durations as operators write them ("64M", "1G", "25ms", "2s"),
 * for the command line and the config file, and back. Pure code.
 */
#ifndef REMORA_UNITS_H
#define REMORA_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A plain count: decimal digits only (no sign, space, unit or trailing
 * junk). Returns 0, -EINVAL (malformed) or -ERANGE (over 2^64-1).
 */
int units_parse_uint(const char *s, uint64_t *out);

/*
 * A size: digits, then an optional binary suffix K, M, G or T (optionally
 * followed by "iB" or "B"); no suffix means bytes. Returns 0, or -EINVAL
 * (malformed) / -ERANGE (over 2^64-1) with a short reason in *why.
 */
int units_parse_size(const char *s, uint64_t *out, const char **why);

/*
 * A duration: digits, then a unit: ns, us, ms, s, min or h (the unit is
 * required, so "25" cannot be misread). Result in nanoseconds.
 */
int units_parse_duration(const char *s, uint64_t *ns, const char **why);

/*
 * The inverses, as an operator would write the value back: the largest
 * unit that divides it exactly ("64M", "4G", "1000"; "25ms", "10min",
 * "0ns"), so that units_parse_* gives the same value again. Return buf.
 */
const char *units_format_size(char *buf, size_t size, uint64_t bytes);
const char *units_format_duration(char *buf, size_t size, uint64_t ns);

#endif
