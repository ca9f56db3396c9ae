/*
 * Splits the boot command line into arguments. The VMM passes the guest's
 * arguments as one string (struct remora_boot.cmdline); this is the inverse
 * of how it joins them: separate with spaces, wrap an argument that contains
 * white space or is empty in double quotes, and put a backslash before every
 * " and \ inside it. Splitting happens in place, since the unquoted argument
 * is never longer than its quoted form.
 */
#include <stdbool.h>

#include "libc.h"

int remora_split_args(char *s, char **argv, int max)
{
	char *r = s, *w = s;
	int argc = 0;

	for (;;) {
		bool quoted = false;

		while (RL(isspace)(*r))
			r++;
		if (!*r)
			break;
		if (argc == max)
			return -1;
		argv[argc++] = w;
		for (; *r && (quoted || !RL(isspace)(*r)); r++) {
			if (*r == '"')
				quoted = !quoted;
			else if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
				*w++ = *++r;
			else
				*w++ = *r;
		}
		if (quoted)
			return -1;
		/* w <= r, so the terminator lands on a byte already read. */
		if (*r)
			r++;
		*w++ = '\0';
	}
	return argc;
}

int remora_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !RL(isdigit)((unsigned char)*s))
		return 0;
	*v = RL(strtoull)(s, &end, 0);
	return *end == '\0';
}
