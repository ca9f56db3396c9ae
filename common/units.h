/*
 * Sizes and durations as operators write them ("64M", "1G", "25ms", "2s"),
 * for the command line and the config file. Pure code.
 */
#ifndef REMORA_UNITS_H
#define REMORA_UNITS_H

#include <stdint.h>

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

#endif
