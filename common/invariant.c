/*
 * invariant_broken() (invariant.h): the one function in common/ that ends
 * the process, on purpose.
 */
#include <stdlib.h>

#include "invariant.h"
#include "log.h"

void invariant_broken(const char *file, int line, const char *what)
{
	log_error("bug at %s:%d: %s; stopping at once (a crashed node is "
		  "safer than a confused one: its peer takes over)",
		  file, line, what);
	abort();
}
