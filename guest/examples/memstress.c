/*
 * memstress: the torn-state detector. It keeps rewriting the pages of a
 * working set in an order and with contents that are pure functions of the
 * seed and a step counter held in guest memory, so that at any instant the
 * whole working set is predictable from that counter alone. A self-check
 * recomputes every page; a replica restored from a mix of two epochs (a page
 * from one, the counter or another page from the next) fails it.
 *
 *   memstress --pages P --rate R --seed S [--check-every MS] [--steps N]
 *
 * Step j (1, 2, ...) rewrites page perm[j mod P] with fill(S, j, page), perm
 * being a permutation of the pages drawn from the seed; at step 0 every page
 * holds fill(S, 0, page). So after k steps page p holds fill(S, j, p) for the
 * largest j <= k with j = inv[p] (mod P), or j = 0 if there is none. Word 0
 * of a page is the tag j << 32 | page, to make a mismatch readable; the other
 * words are a hash of (S, j, page, word).
 *
 * R is in page rewrites per millisecond of monotonic time (0: flat out).
 * After a stall, it catches up in bursts, but forgets debt older than
 * MAX_DEBT_MS so that a long pause (a failover) is not followed by seconds
 * of flat-out writing. The check runs at start, every MS milliseconds (1000;
 * 0 = never), whenever the VMM bumps boot->check_seq (e.g. after a restore),
 * and after N steps (0 = run forever), after which it exits 0. It prints
 * "memstress step K ok" or one FAIL line naming the first bad word and exits
 * with 1; bad arguments exit with 2.
 */
#include "remora.h"

#define PAGE	    4096u
#define WORDS	    (PAGE / 8)
#define BURST	    256 /* steps between looks at the clock */
#define MAX_DEBT_MS 100
#define NS_PER_MS   1000000ull

struct memstress {
	uint64_t pages, rate, seed, check_every_ms, steps;
	volatile uint64_t step; /* k: page rewrites done */
	uint64_t *ws;		/* the working set, pages * WORDS words */
	uint32_t *perm;		/* step j rewrites page perm[j % pages] */
	uint32_t *scratch;	/* the check's own permutation and inverse */
	uint64_t seen_check_seq;
};

/* In guest memory, like all of the state, so a snapshot carries it. */
static struct memstress ms;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *state)
{
	return mix64(*state += 0x9e3779b97f4a7c15ull);
}

/* The part of every word's hash that depends on the page version only. */
static uint64_t page_key(uint64_t j, uint64_t page)
{
	return ms.seed ^ j * 0x9e3779b97f4a7c15ull ^
	       page * 0xc2b2ae3d27d4eb4full;
}

static uint64_t fill_word(uint64_t key, uint64_t j, uint64_t page, unsigned w)
{
	if (w == 0)
		return j << 32 | page;
	return mix64(key ^ w * 0x165667b19e3779f9ull);
}

static void fill(uint64_t j, uint64_t page)
{
	uint64_t *p = ms.ws + page * WORDS;
	uint64_t key = page_key(j, page);

	for (unsigned w = 0; w < WORDS; w++)
		p[w] = fill_word(key, j, page, w);
}

/* Fisher-Yates over splitmix64(seed): the same seed, the same order. */
static void make_perm(uint32_t *perm)
{
	uint64_t state = ms.seed;

	for (uint64_t i = 0; i < ms.pages; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = ms.pages - 1; i > 0; i--) {
		uint64_t j = splitmix64(&state) % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
}

static void step_once(void)
{
	uint64_t j = ms.step + 1;

	fill(j, ms.perm[j % ms.pages]);
	ms.step = j;
}

static noreturn void check_failed(uint64_t k, const char *what, uint64_t i,
				  uint64_t w, uint64_t want, uint64_t got)
{
	if (w == UINT64_MAX)
		printf("memstress step %llu FAIL %s %llu: expected 0x%016llx "
		       "got 0x%016llx\n",
		       (unsigned long long)k, what, (unsigned long long)i,
		       (unsigned long long)want, (unsigned long long)got);
	else
		printf("memstress step %llu FAIL %s %llu word %llu: expected "
		       "0x%016llx got 0x%016llx\n",
		       (unsigned long long)k, what, (unsigned long long)i,
		       (unsigned long long)w, (unsigned long long)want,
		       (unsigned long long)got);
	remora_exit(1);
}

/*
 * Recomputes the permutation from the seed (the stored one must match it)
 * and every page from the step counter.
 */
static void check(void)
{
	uint64_t k = ms.step, P = ms.pages;
	uint32_t *inv = ms.scratch;

	make_perm(ms.scratch);
	for (uint64_t i = 0; i < P; i++) {
		if (ms.perm[i] != ms.scratch[i])
			check_failed(k, "perm", i, UINT64_MAX, ms.scratch[i],
				     ms.perm[i]);
	}
	for (uint64_t i = 0; i < P; i++)
		inv[ms.perm[i]] = (uint32_t)i;
	for (uint64_t p = 0; p < P; p++) {
		uint64_t r = inv[p];
		uint64_t j = k < r ? 0 : k - (k - r) % P;
		uint64_t key = page_key(j, p);
		const uint64_t *pg = ms.ws + p * WORDS;

		for (unsigned w = 0; w < WORDS; w++) {
			uint64_t want = fill_word(key, j, p, w);

			if (pg[w] != want)
				check_failed(k, "page", p, w, want, pg[w]);
		}
	}
	printf("memstress step %llu ok\n", (unsigned long long)k);
}

/* The VMM asks for a check by changing boot->check_seq. */
static bool memstress_check_requested(void)
{
#ifdef REMORA_BOOT_HAS_CHECK_SEQ
	uint64_t seq = remora_boot_info()->check_seq;

	if (seq != ms.seen_check_seq) {
		ms.seen_check_seq = seq;
		return true;
	}
#endif
	return false;
}

static int usage(void)
{
	printf("usage: memstress --pages P --rate R --seed S "
	       "[--check-every MS] [--steps N]\n");
	return 2;
}

static int parse_args(int argc, char **argv)
{
	bool have_pages = false, have_rate = false, have_seed = false;

	ms.check_every_ms = 1000;
	for (int i = 1; i < argc; i += 2) {
		const char *opt = argv[i], *val = argv[i + 1];
		bool ok;

		if (!strcmp(opt, "--pages"))
			ok = have_pages = remora_parse_u64(val, &ms.pages);
		else if (!strcmp(opt, "--rate"))
			ok = have_rate = remora_parse_u64(val, &ms.rate);
		else if (!strcmp(opt, "--seed"))
			ok = have_seed = remora_parse_u64(val, &ms.seed);
		else if (!strcmp(opt, "--check-every"))
			ok = remora_parse_u64(val, &ms.check_every_ms);
		else if (!strcmp(opt, "--steps"))
			ok = remora_parse_u64(val, &ms.steps);
		else
			ok = false;
		if (!ok)
			return -1;
	}
	if (!have_pages || !have_rate || !have_seed || ms.pages == 0 ||
	    ms.pages > UINT32_MAX)
		return -1;
	return 0;
}

/* When the schedule (t0, k0) next allows a step, given the current step. */
static uint64_t next_step_time(uint64_t t0, uint64_t k0)
{
	return t0 + ((ms.step - k0) / ms.rate + 1) * NS_PER_MS;
}

int main(int argc, char **argv)
{
	uint64_t now, t0, k0, next_check, n;

	if (parse_args(argc, argv) < 0)
		return usage();
	ms.ws = remora_alloc_pages(ms.pages);
	ms.perm = malloc(ms.pages * sizeof(*ms.perm));
	ms.scratch = malloc(ms.pages * sizeof(*ms.scratch));
	if (!ms.ws || !ms.perm || !ms.scratch) {
		printf("memstress: cannot allocate %llu pages\n",
		       (unsigned long long)ms.pages);
		return 2;
	}
	printf("memstress pages %llu at 0x%llx seed %llu\n",
	       (unsigned long long)ms.pages,
	       (unsigned long long)(uintptr_t)ms.ws,
	       (unsigned long long)ms.seed);

	make_perm(ms.perm);
	for (uint64_t p = 0; p < ms.pages; p++)
		fill(0, p);
	memstress_check_requested(); /* a request from before start is moot */
	check();

	now = remora_monotonic_ns();
	t0 = now;
	k0 = ms.step;
	next_check = ms.check_every_ms ? now + ms.check_every_ms * NS_PER_MS
				       : UINT64_MAX;
	for (;;) {
		if (memstress_check_requested())
			check();
		if (now >= next_check) {
			check();
			now = remora_monotonic_ns();
			next_check = now + ms.check_every_ms * NS_PER_MS;
		}
		if (ms.steps && ms.step >= ms.steps) {
			check();
			return 0;
		}

		if (ms.rate == 0) {
			n = BURST;
		} else {
			uint64_t due = k0 + ms.rate * ((now - t0) / NS_PER_MS);

			if (due > ms.step + ms.rate * MAX_DEBT_MS) {
				/* Forget the debt: restart the schedule now. */
				t0 = now;
				k0 = ms.step;
				due = k0;
			}
			n = due > ms.step ? due - ms.step : 0;
			if (n > BURST)
				n = BURST;
		}
		if (ms.steps && n > ms.steps - ms.step)
			n = ms.steps - ms.step;

		if (n == 0) {
			uint64_t deadline = next_step_time(t0, k0);

			now = remora_poll(deadline < next_check ? deadline
								: next_check);
			continue;
		}
		while (n--)
			step_once();
		now = remora_monotonic_ns();
	}
}
