/*
 * Two-thread page copy (see copier.h).
 */
#include <errno.h>
#include <string.h>

#include "copier.h"
#include "vm.h"

#define CHUNK_PAGES 16u
/* Below this, waking the helper costs more than it saves. */
#define PARALLEL_MIN_PAGES 256u

/*
 * The job a thread works on: a snapshot taken under the lock, so that a
 * helper waking late never mixes two jobs. Chunks are claimed by
 * compare-and-swap on c->next, whose high half names the job: a claim for
 * a job that is over fails and takes nothing from the next one.
 */
struct job {
	uint32_t gen;
	const uint8_t *mem;
	const uint64_t *pfns;
	uint8_t *dst;
	size_t n;
};

static void copy_chunks(struct copier *c, const struct job *j)
{
	for (;;) {
		uint64_t cur = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE);
		size_t k, i, end;

		do {
			if ((uint32_t)(cur >> 32) != j->gen)
				return; /* another job by now */
			k = (size_t)(uint32_t)cur;
			if (k >= j->n)
				return;
		} while (!__atomic_compare_exchange_n(
			&c->next, &cur, cur + CHUNK_PAGES, 0, __ATOMIC_ACQ_REL,
			__ATOMIC_ACQUIRE));
		end = k + CHUNK_PAGES < j->n ? k + CHUNK_PAGES : j->n;
		for (i = k; i < end; i++)
			memcpy(j->dst + i * VM_PAGE_SIZE,
			       j->mem + j->pfns[i] * VM_PAGE_SIZE,
			       VM_PAGE_SIZE);
		__atomic_fetch_add(&c->done, end - k, __ATOMIC_RELEASE);
	}
}

static void *helper(void *arg)
{
	struct copier *c = arg;
	uint64_t seen = 0;
	struct job j;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		while (c->gen == seen && !c->quit)
			pthread_cond_wait(&c->wake, &c->lock);
		seen = c->gen;
		if (c->quit) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		j = (struct job){.gen = (uint32_t)c->gen,
				 .mem = c->mem,
				 .pfns = c->pfns,
				 .dst = c->dst,
				 .n = c->n};
		pthread_mutex_unlock(&c->lock);
		copy_chunks(c, &j);
	}
}

int copier_start(struct copier *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	ret = pthread_create(&c->thread, NULL, helper, c);
	c->running = ret == 0;
	return -ret;
}

void copier_stop(struct copier *c)
{
	if (c->running) {
		pthread_mutex_lock(&c->lock);
		c->quit = 1;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		c->running = 0;
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
}

void copier_copy(struct copier *c, const uint8_t *mem, const uint64_t *pfns,
		 size_t n, uint8_t *dst)
{
	struct job j;
	size_t i;

	if (!c->running || n < PARALLEL_MIN_PAGES) {
		for (i = 0; i < n; i++)
			memcpy(dst + i * VM_PAGE_SIZE,
			       mem + pfns[i] * VM_PAGE_SIZE, VM_PAGE_SIZE);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->gen++;
	j = (struct job){.gen = (uint32_t)c->gen,
			 .mem = mem,
			 .pfns = pfns,
			 .dst = dst,
			 .n = n};
	c->mem = mem;
	c->pfns = pfns;
	c->dst = dst;
	c->n = n;
	__atomic_store_n(&c->done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->next, (uint64_t)j.gen << 32, __ATOMIC_RELEASE);
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	copy_chunks(c, &j);
	/* At most one chunk is left, in the helper's hands. */
	while (__atomic_load_n(&c->done, __ATOMIC_ACQUIRE) < n)
		__builtin_ia32_pause();
}
