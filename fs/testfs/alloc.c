/* SPDX-License-Identifier: MIT */
/*
 * The block allocator: one bit per device block, first fit from a goal.
 *
 * Space is handed out in two steps so that nothing is ever allocated
 * halfway: a reservation (testfs_alloc_reserve) only moves a count and is
 * all that a delayed allocation holds until writeback; claiming
 * (testfs_alloc_claim) then sets bits out of a reservation and cannot fail,
 * because allocated + reserved never exceeds the device.  Callers that
 * allocate at once reserve, claim, and give back what the claim did not use.
 *
 * Lock order: a file's map_lock, then a->lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define BITS 64U

int testfs_alloc_init(struct testfs_alloc *a, uint64_t nr_blocks)
{
	a->bitmap = calloc((nr_blocks + BITS - 1) / BITS, sizeof(uint64_t));
	if (!a->bitmap)
		return -ENOMEM;
	a->nr_blocks = nr_blocks;
	a->allocated = 0;
	a->reserved = 0;
	pthread_mutex_init(&a->lock, NULL);
	return 0;
}

void testfs_alloc_destroy(struct testfs_alloc *a)
{
	pthread_mutex_destroy(&a->lock);
	free(a->bitmap);
	a->bitmap = NULL;
}

bool testfs_alloc_test_locked(const struct testfs_alloc *a, uint64_t blk)
{
	return a->bitmap[blk / BITS] & (1ULL << (blk % BITS));
}

int64_t testfs_alloc_reserve(struct testfs_alloc *a, uint64_t want, bool partial)
{
	int64_t got = -ENOSPC;
	uint64_t avail;

	pthread_mutex_lock(&a->lock);
	avail = a->nr_blocks - a->allocated - a->reserved;
	if (avail >= want)
		got = (int64_t)want;
	else if (partial && avail > 0)
		got = (int64_t)avail;
	if (got > 0)
		a->reserved += (uint64_t)got;
	pthread_mutex_unlock(&a->lock);
	return got;
}

void testfs_alloc_unreserve(struct testfs_alloc *a, uint64_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&a->lock);
	a->reserved -= n;
	pthread_mutex_unlock(&a->lock);
}

/* First clear bit in [from, to), or @to. */
static uint64_t find_clear(const struct testfs_alloc *a, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t word = ~a->bitmap[from / BITS] >> (from % BITS);

		if (word)
			return tfs_min(to, from + (uint64_t)__builtin_ctzll(word));
		from = (from / BITS + 1) * BITS;
	}
	return to;
}

/* First set bit in [from, to), or @to. */
static uint64_t find_set(const struct testfs_alloc *a, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t word = a->bitmap[from / BITS] >> (from % BITS);

		if (word)
			return tfs_min(to, from + (uint64_t)__builtin_ctzll(word));
		from = (from / BITS + 1) * BITS;
	}
	return to;
}

static void set_range(struct testfs_alloc *a, uint64_t blk, uint64_t n, bool set)
{
	for (uint64_t b = blk; b < blk + n; b++) {
		if (set)
			a->bitmap[b / BITS] |= 1ULL << (b % BITS);
		else
			a->bitmap[b / BITS] &= ~(1ULL << (b % BITS));
	}
}

uint64_t testfs_alloc_claim(struct testfs_alloc *a, uint64_t goal, uint64_t want,
			    uint64_t *pblk)
{
	uint64_t start, end;

	pthread_mutex_lock(&a->lock);
	if (goal >= a->nr_blocks)
		goal = 0;
	start = find_clear(a, goal, a->nr_blocks);
	if (start == a->nr_blocks)
		start = find_clear(a, 0, goal);
	/* A free block exists: the caller's reservation is backed by one. */
	end = find_set(a, start, tfs_min(a->nr_blocks, start + want));
	set_range(a, start, end - start, true);
	a->allocated += end - start;
	a->reserved -= end - start;
	pthread_mutex_unlock(&a->lock);
	*pblk = start;
	return end - start;
}

void testfs_alloc_free(struct testfs_alloc *a, uint64_t pblk, uint64_t n)
{
	pthread_mutex_lock(&a->lock);
	set_range(a, pblk, n, false);
	a->allocated -= n;
	pthread_mutex_unlock(&a->lock);
}

void testfs_alloc_counts(struct testfs_alloc *a, uint64_t *allocated, uint64_t *reserved)
{
	pthread_mutex_lock(&a->lock);
	*allocated = a->allocated;
	*reserved = a->reserved;
	pthread_mutex_unlock(&a->lock);
}
