/* SPDX-License-Identifier: MIT */
/*
 * Buffer heads: their memory, the ring attached to a folio, and the
 * counters.
 *
 * Memory.  Every buffer head comes from one slab of fixed-size slots, so a
 * buffer head costs exactly its slot and bh_stats.bytes_live is
 * bh_live * slot_size with nothing hidden.  The slab is set up on first use
 * and lives as long as the process.
 *
 * The ring.  create_empty_buffers() links a folio's buffers in offset order
 * through b_this_page, the last back to the first, and publishes the first
 * in folio->private; try_to_free_buffers() undoes it.  Both run under the
 * folio lock (rule 1 of buffer_head.h), so whoever holds the folio lock sees
 * either no ring or a whole one.
 */
#include <errno.h>
#include <pthread.h>

#include "bh/internal.h"
#include "lib/compiler.h"
#include "lib/slab.h"

/* Layout check: see the cost note in buffer_head.h. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct buffer_head) == 80,
	       "struct buffer_head is 80 bytes on LP64");

struct buf_counters buf_counters;

static struct slab_cache bh_cache;
static pthread_once_t bh_cache_once = PTHREAD_ONCE_INIT;
static int bh_cache_error;

/* Live buffer heads and their peak; relaxed, counters only. */
static _Atomic uint64_t bh_live;
static _Atomic uint64_t bh_peak;

static void bh_cache_init(void)
{
	bh_cache_error = slab_cache_init(&bh_cache, sizeof(struct buffer_head));
}

/* pthread_once orders the init before every use of bh_cache. */
static struct slab_cache *bh_slab(void)
{
	pthread_once(&bh_cache_once, bh_cache_init);
	return bh_cache_error ? NULL : &bh_cache;
}

static void bh_account(int64_t n)
{
	uint64_t now, peak;

	now = atomic_fetch_add_explicit(&bh_live, (uint64_t)n, memory_order_relaxed) + (uint64_t)n;
	peak = atomic_load_explicit(&bh_peak, memory_order_relaxed);
	while (n > 0 && now > peak &&
	       !atomic_compare_exchange_weak_explicit(&bh_peak, &peak, now, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Free a ring that nobody else can reach any more. */
static void ring_free(struct slab_cache *slab, struct buffer_head *head)
{
	struct buffer_head *bh = head, *next;
	int64_t n = 0;

	do {
		next = bh->b_this_page;
		slab_free(slab, bh);
		n++;
		bh = next;
	} while (bh && bh != head);
	bh_account(-n);
}

/*
 * Allocate the ring for @folio: one zeroed buffer per @blocksize bytes, in
 * offset order, each with @b_state.  NULL when out of memory.
 */
static struct buffer_head *ring_alloc(struct folio *folio, unsigned int blocksize, uint32_t b_state)
{
	struct slab_cache *slab = bh_slab();
	struct buffer_head *head = NULL, *tail = NULL;

	if (!slab)
		return NULL;
	for (size_t off = 0; off < folio_size(folio); off += blocksize) {
		struct buffer_head *bh = slab_alloc(slab);

		if (!bh) {
			if (head)
				ring_free(slab, head);
			return NULL;
		}
		bh_account(1);
		atomic_init(&bh->b_state, b_state);
		bh->b_folio = folio;
		bh->b_data = folio_address(folio, off);
		bh->b_size = blocksize;
		if (tail)
			tail->b_this_page = bh;
		else
			head = bh;
		tail = bh;
	}
	tail->b_this_page = head;
	return head;
}

int create_empty_buffers(struct folio *folio, unsigned int blocksize, uint32_t b_state)
{
	struct buffer_head *head;

	if (!is_power_of_2(blocksize) || blocksize < SECTOR_SIZE || blocksize > folio_size(folio))
		return -EINVAL;
	if (folio->private)
		return -EEXIST;
	if (folio_test_uptodate(folio))
		b_state |= BH_BIT(BH_Uptodate);
	if (folio_test_dirty(folio))
		b_state |= BH_BIT(BH_Dirty);
	head = ring_alloc(folio, blocksize, b_state);
	if (!head)
		return -ENOMEM;
	folio->private = head;
	return 0;
}

struct buffer_head *buf_folio_create(struct folio *folio, uint32_t b_state)
{
	if (!folio_buffers(folio) &&
	    create_empty_buffers(folio, i_blocksize(buf_folio_inode(folio)), b_state))
		return NULL;
	return folio_buffers(folio);
}

/* In use: referenced, or its lock or dirty data would be lost. */
static bool buffer_busy(const struct buffer_head *bh)
{
	uint32_t busy = BH_BIT(BH_Dirty) | BH_BIT(BH_Lock);

	/* Acquire pairs with put_bh(): the last user is done with the buffer. */
	return atomic_load_explicit(&((struct buffer_head *)bh)->b_count, memory_order_acquire) ||
	       (atomic_load_explicit(&((struct buffer_head *)bh)->b_state, memory_order_acquire) &
		busy);
}

bool try_to_free_buffers(struct folio *folio)
{
	struct buffer_head *head = folio_buffers(folio), *bh;

	if (!head)
		return true;
	if (folio_test_writeback(folio))
		return false;
	bh = head;
	do {
		if (buffer_busy(bh))
			return false;
		bh = bh->b_this_page;
	} while (bh != head);
	folio->private = NULL;
	ring_free(bh_slab(), head);
	/*
	 * Clean buffers under a dirty folio: whoever dirtied it wrote the
	 * buffers by hand (or invalidation discarded them); nothing is left
	 * for writeback.
	 */
	if (folio_test_dirty(folio))
		folio_cancel_dirty(folio);
	return true;
}

int buf_get_block(get_block_t get_block, struct inode *inode, uint64_t iblock,
		  struct buffer_head *bh, int create)
{
	size_t size = bh->b_size;
	int ret;

	buf_count(get_block_calls, 1);
	ret = get_block(inode, iblock, bh, create);
	/* A folio's buffer is one block: a filesystem that resized it broke the ring. */
	if (!ret && bh->b_size != size) {
		bh->b_size = size;
		clear_buffer_mapped(bh);
		return -EIO;
	}
	return ret;
}

void bh_get_stats(struct bh_stats *stats)
{
	struct slab_cache *slab = bh_slab();
	uint64_t slot = slab ? slab->obj_size : 0;

	stats->get_block_calls =
		atomic_load_explicit(&buf_counters.get_block_calls, memory_order_relaxed);
	stats->bios_submitted =
		atomic_load_explicit(&buf_counters.bios_submitted, memory_order_relaxed);
	stats->bios_written =
		atomic_load_explicit(&buf_counters.bios_written, memory_order_relaxed);
	stats->bh_live = atomic_load_explicit(&bh_live, memory_order_relaxed);
	stats->bh_peak = atomic_load_explicit(&bh_peak, memory_order_relaxed);
	stats->slot_size = slot;
	stats->bytes_live = stats->bh_live * slot;
	stats->bytes_peak = stats->bh_peak * slot;
}

void bh_reset_stats(void)
{
	atomic_store_explicit(&buf_counters.get_block_calls, 0, memory_order_relaxed);
	atomic_store_explicit(&buf_counters.bios_submitted, 0, memory_order_relaxed);
	atomic_store_explicit(&buf_counters.bios_written, 0, memory_order_relaxed);
	atomic_store_explicit(&bh_peak, atomic_load_explicit(&bh_live, memory_order_relaxed),
			      memory_order_relaxed);
}
