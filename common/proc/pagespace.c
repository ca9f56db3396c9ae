/*
 * The page space (pagespace.h): a hash table from (owner, vpn) to slot,
 * open addressing with linear probing, sized at twice the slots so that a
 * full space still probes short; each entry remembers the dump that last
 * named it, so pagespace_end() finds the pages that went away in one pass
 * over the table (the table is touched once per dump, never per page
 * beyond the lookup).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "pagespace.h"

enum { E_EMPTY = 0, E_USED, E_TOMB };

struct pagespace_entry {
	uint64_t vpn;
	uint32_t owner;
	uint32_t slot;
	uint32_t seen; /* the dump that last named it */
	uint32_t state;
};

int pagespace_init(struct pagespace *ps, uint32_t nslots)
{
	uint64_t size = 16;

	memset(ps, 0, sizeof(*ps));
	if (nslots == 0 || nslots > (1u << 30))
		return -EINVAL;
	while (size < 2ull * nslots)
		size <<= 1;
	ps->tab = calloc(size, sizeof(*ps->tab));
	ps->free = malloc((size_t)nslots * sizeof(*ps->free));
	if (!ps->tab || !ps->free) {
		pagespace_free(ps);
		return -ENOMEM;
	}
	ps->mask = (uint32_t)(size - 1);
	ps->nslots = nslots;
	/* slot 0 on top: a fresh process fills the space from the start */
	for (uint32_t i = 0; i < nslots; i++)
		ps->free[i] = nslots - 1 - i;
	ps->nfree = nslots;
	return 0;
}

void pagespace_free(struct pagespace *ps)
{
	free(ps->tab);
	free(ps->free);
	memset(ps, 0, sizeof(*ps));
}

void pagespace_begin(struct pagespace *ps)
{
	ps->epoch++;
	ps->assigned = 0;
}

static uint32_t hash(uint32_t owner, uint64_t vpn)
{
	uint64_t k[2] = {vpn, owner};

	return (uint32_t)XXH3_64bits(k, sizeof(k));
}

/* Rebuilds the table without tombstones (same size). */
static void rehash(struct pagespace *ps)
{
	uint32_t size = ps->mask + 1;
	struct pagespace_entry *old = ps->tab, *t;

	t = calloc(size, sizeof(*t));
	if (!t)
		return; /* keep probing through the tombstones */
	for (uint32_t i = 0; i < size; i++) {
		uint32_t h;

		if (old[i].state != E_USED)
			continue;
		h = hash(old[i].owner, old[i].vpn) & ps->mask;
		while (t[h].state == E_USED)
			h = (h + 1) & ps->mask;
		t[h] = old[i];
	}
	free(old);
	ps->tab = t;
	ps->tombs = 0;
}

long pagespace_slot(struct pagespace *ps, uint32_t owner, uint64_t vpn,
		    int *fresh)
{
	uint32_t h = hash(owner, vpn) & ps->mask, tomb = UINT32_MAX;
	struct pagespace_entry *e;

	*fresh = 0;
	/* An empty entry ends every probe (used + tombs stay under 3/4 of
	 * the table); the bound only guards a rehash that failed. */
	for (uint32_t n = 0;; n++) {
		if (n > ps->mask) {
			e = NULL;
			break;
		}
		e = &ps->tab[h];
		if (e->state == E_EMPTY)
			break;
		if (e->state == E_TOMB) {
			if (tomb == UINT32_MAX)
				tomb = h;
		} else if (e->vpn == vpn && e->owner == owner) {
			if (e->seen == ps->epoch)
				return -EEXIST;
			e->seen = ps->epoch;
			return e->slot;
		}
		h = (h + 1) & ps->mask;
	}
	if (ps->nfree == 0 || (!e && tomb == UINT32_MAX))
		return -ENOSPC;
	if (tomb != UINT32_MAX) {
		e = &ps->tab[tomb];
		ps->tombs--;
	}
	*e = (struct pagespace_entry){.vpn = vpn,
				      .owner = owner,
				      .slot = ps->free[--ps->nfree],
				      .seen = ps->epoch,
				      .state = E_USED};
	ps->used++;
	ps->assigned++;
	*fresh = 1;
	return e->slot;
}

uint32_t pagespace_end(struct pagespace *ps)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i <= ps->mask; i++) {
		struct pagespace_entry *e = &ps->tab[i];

		if (e->state != E_USED || e->seen == ps->epoch)
			continue;
		ps->free[ps->nfree++] = e->slot;
		e->state = E_TOMB;
		ps->tombs++;
		ps->used--;
		n++;
	}
	ps->released = n;
	/* Probes stay short only while tombstones are few. */
	if (ps->tombs > (ps->mask + 1) / 4)
		rehash(ps);
	return n;
}
