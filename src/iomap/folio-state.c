/* SPDX-License-Identifier: MIT */
/*
 * Per-folio state (ifs): what iomap knows about each block of a folio that
 * holds more than one block.  A folio of one block has no ifs; its folio
 * flags say everything (0 bytes of state at block size == folio size).
 *
 * Layout: two 32-bit counters and a bitmap of 2 bits per block, bits
 * [0, n) uptodate and [n, 2n) dirty.  At 4 KiB folios and 512-byte blocks
 * that is 16 bytes, taken from a slab of 16-byte slots, so 16 bytes is also
 * what it costs (malloc would charge 32).
 *
 * Invariants
 *  1. The ifs is created and freed only under the folio lock; while a folio
 *     has one, folio->private points to it.
 *  2. FOLIO_UPTODATE set => every uptodate bit is set.  The converse is made
 *     true by whoever sets the last bit (ifs_set_range_uptodate, read
 *     completion).
 *  3. FOLIO_DIRTY clear => no dirty bit is set, except transiently inside
 *     iomap while the folio is locked.
 *  4. read_bytes_pending counts bytes of a read in progress plus, while the
 *     submitter is still walking the folio, a bias of the folio size less
 *     what it submitted.  Whoever brings it to zero ends the read.
 * Bits are updated with atomic OR/AND because read completions set
 * uptodate bits from the device's completion thread while the folio lock is
 * held (on their behalf) by the submitter.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "iomap/inode.h"
#include "iomap/folio.h"
#include "iomap/internal.h"
#include "lib/compiler.h"
#include "lib/slab.h"

struct iomap_folio_state {
	_Atomic uint32_t read_bytes_pending;
	_Atomic uint32_t write_bytes_pending;
	_Atomic uint64_t state[];
};

/* Largest folio we size caches for: 2 MiB of 512-byte blocks. */
#define IFS_MAX_WORDS (2 * ((2U << 20) >> 9) / 64)

static struct slab_cache ifs_caches[IFS_MAX_WORDS + 1];
static _Atomic bool ifs_cache_ready[IFS_MAX_WORDS + 1];
static pthread_mutex_t ifs_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint64_t ifs_live_objects;
static _Atomic uint64_t ifs_live_bytes;
static _Atomic uint64_t ifs_peak_bytes;

unsigned int ifs_blocks_per_folio(const struct inode *inode, const struct folio *folio)
{
	return (unsigned int)(folio_size(folio) >> inode->i_blkbits);
}

static unsigned int ifs_words(unsigned int nblocks)
{
	return div_round_up(2 * nblocks, 64);
}

static struct slab_cache *ifs_cache(unsigned int words)
{
	/* Acquire pairs with the release below: a ready cache is initialised. */
	if (atomic_load_explicit(&ifs_cache_ready[words], memory_order_acquire))
		return &ifs_caches[words];
	pthread_mutex_lock(&ifs_cache_lock);
	if (!atomic_load_explicit(&ifs_cache_ready[words], memory_order_relaxed)) {
		slab_cache_init(&ifs_caches[words],
				sizeof(struct iomap_folio_state) + words * sizeof(uint64_t));
		atomic_store_explicit(&ifs_cache_ready[words], true, memory_order_release);
	}
	pthread_mutex_unlock(&ifs_cache_lock);
	return &ifs_caches[words];
}

void iomap_state_account(int64_t objects, int64_t bytes)
{
	uint64_t now, peak;

	atomic_fetch_add_explicit(&ifs_live_objects, (uint64_t)objects, memory_order_relaxed);
	now = atomic_fetch_add_explicit(&ifs_live_bytes, (uint64_t)bytes, memory_order_relaxed) +
	      (uint64_t)bytes;
	peak = atomic_load_explicit(&ifs_peak_bytes, memory_order_relaxed);
	while (bytes > 0 && now > peak &&
	       !atomic_compare_exchange_weak_explicit(&ifs_peak_bytes, &peak, now,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t iomap_state_slab_bytes(void)
{
	uint64_t total = 0;

	for (unsigned int w = 1; w <= IFS_MAX_WORDS; w++)
		if (atomic_load_explicit(&ifs_cache_ready[w], memory_order_acquire))
			total += slab_cache_bytes(&ifs_caches[w]);
	return total;
}

void iomap_state_counts(uint64_t *objects, uint64_t *bytes, uint64_t *peak)
{
	*objects = atomic_load_explicit(&ifs_live_objects, memory_order_relaxed);
	*bytes = atomic_load_explicit(&ifs_live_bytes, memory_order_relaxed);
	*peak = atomic_load_explicit(&ifs_peak_bytes, memory_order_relaxed);
}

void iomap_state_reset_peak(void)
{
	atomic_store_explicit(&ifs_peak_bytes,
			      atomic_load_explicit(&ifs_live_bytes, memory_order_relaxed),
			      memory_order_relaxed);
}

/* Set (or clear) bits [first, first + n) of the state bitmap, a word at a time. */
static void bits_update(struct iomap_folio_state *ifs, unsigned int first, unsigned int n,
			bool set)
{
	while (n) {
		unsigned int w = first / 64, b = first % 64;
		unsigned int k = min(n, 64 - b);
		uint64_t mask = (k == 64 ? ~0ULL : ((1ULL << k) - 1)) << b;

		if (set)
			atomic_fetch_or_explicit(&ifs->state[w], mask, memory_order_release);
		else
			atomic_fetch_and_explicit(&ifs->state[w], ~mask, memory_order_release);
		first += k;
		n -= k;
	}
}

static void bits_set(struct iomap_folio_state *ifs, unsigned int first, unsigned int n)
{
	bits_update(ifs, first, n, true);
}

static void bits_clear(struct iomap_folio_state *ifs, unsigned int first, unsigned int n)
{
	bits_update(ifs, first, n, false);
}

static bool bit_test(const struct iomap_folio_state *ifs, unsigned int bit)
{
	uint64_t w = atomic_load_explicit(&((struct iomap_folio_state *)ifs)->state[bit / 64],
					  memory_order_acquire);

	return w >> (bit % 64) & 1;
}

static bool bits_all_set(const struct iomap_folio_state *ifs, unsigned int first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!bit_test(ifs, first + i))
			return false;
	return true;
}

struct iomap_folio_state *ifs_alloc(struct inode *inode, struct folio *folio)
{
	unsigned int nblocks = ifs_blocks_per_folio(inode, folio);
	struct iomap_folio_state *ifs = folio_ifs(folio);
	struct slab_cache *cache;

	if (ifs || nblocks <= 1)
		return ifs;
	cache = ifs_cache(ifs_words(nblocks));
	ifs = slab_alloc(cache);
	if (!ifs)
		return NULL;
	/* A folio that is already uptodate or dirty is so in every block. */
	if (folio_test_uptodate(folio))
		bits_set(ifs, 0, nblocks);
	if (folio_test_dirty(folio))
		bits_set(ifs, nblocks, nblocks);
	folio->private = ifs;
	iomap_state_account(1, (int64_t)cache->obj_size);
	return ifs;
}

void ifs_free(struct folio *folio)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	struct inode *inode;
	unsigned int nblocks;
	struct slab_cache *cache;

	if (!ifs)
		return;
	inode = folio_inode(folio);
	nblocks = ifs_blocks_per_folio(inode, folio);
	cache = ifs_cache(ifs_words(nblocks));
	folio->private = NULL;
	slab_free(cache, ifs);
	iomap_state_account(-1, -(int64_t)cache->obj_size);
}

bool ifs_block_is_uptodate(const struct iomap_folio_state *ifs, unsigned int block)
{
	return bit_test(ifs, block);
}

bool ifs_block_is_dirty(const struct iomap_folio_state *ifs, unsigned int nblocks,
			unsigned int block)
{
	return bit_test(ifs, nblocks + block);
}

static void block_span(const struct inode *inode, size_t off, size_t len, unsigned int *first,
		       unsigned int *n)
{
	unsigned int bits = inode->i_blkbits;

	*first = (unsigned int)(off >> bits);
	*n = (unsigned int)(((off + len + (1U << bits) - 1) >> bits) - *first);
}

/*
 * Mark the blocks of [off, off + len) uptodate, and the folio when that
 * completes it.  Partial blocks count as whole: callers pass ranges whose
 * partial blocks were made valid around them.
 */
void ifs_set_range_uptodate(struct inode *inode, struct folio *folio, size_t off, size_t len)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int first, n, nblocks;

	if (!ifs) {
		folio_mark_uptodate(folio);
		return;
	}
	nblocks = ifs_blocks_per_folio(inode, folio);
	block_span(inode, off, len, &first, &n);
	bits_set(ifs, first, n);
	if (bits_all_set(ifs, 0, nblocks))
		folio_mark_uptodate(folio);
}

bool ifs_range_is_uptodate(struct inode *inode, struct folio *folio, size_t off, size_t len)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int first, n;

	if (folio_test_uptodate(folio))
		return true;
	if (!ifs)
		return false;
	block_span(inode, off, len, &first, &n);
	return bits_all_set(ifs, first, n);
}

void ifs_set_range_dirty(struct inode *inode, struct folio *folio, size_t off, size_t len)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int first, n;

	if (!ifs)
		return;
	block_span(inode, off, len, &first, &n);
	bits_set(ifs, ifs_blocks_per_folio(inode, folio) + first, n);
}

void ifs_clear_range_dirty(struct inode *inode, struct folio *folio, size_t off, size_t len)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int first, n;

	if (!ifs)
		return;
	block_span(inode, off, len, &first, &n);
	bits_clear(ifs, ifs_blocks_per_folio(inode, folio) + first, n);
}

/*
 * Reads of a folio with ifs: the submitter starts with a bias of the whole
 * folio (ifs_read_start(folio, folio_size)) and, when done walking, ends
 * the part it did not submit as I/O through iomap_finish_folio_read().
 */
void ifs_read_start(struct folio *folio, size_t len)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);

	if (ifs)
		atomic_fetch_add_explicit(&ifs->read_bytes_pending, (uint32_t)len,
					  memory_order_relaxed);
}

/* Take @bytes off the pending count; the last taker ends the read. */
static void ifs_read_done(struct folio *folio, struct iomap_folio_state *ifs, size_t bytes)
{
	struct inode *inode;

	/*
	 * acq_rel: the last taker must see every other finisher's uptodate
	 * bits, which they set before their own decrement.
	 */
	if (atomic_fetch_sub_explicit(&ifs->read_bytes_pending, (uint32_t)bytes,
				      memory_order_acq_rel) != bytes)
		return;
	inode = folio_inode(folio);
	folio_end_read(folio, bits_all_set(ifs, 0, ifs_blocks_per_folio(inode, folio)));
}

/*
 * With nothing left of the bias (everything went to I/O) the submitter takes
 * no part: the last completion ends the read.
 */
void ifs_read_finish_bias(struct folio *folio, size_t bytes)
{
	if (bytes)
		ifs_read_done(folio, folio_ifs(folio), bytes);
}

void iomap_finish_folio_read(struct folio *folio, size_t off, size_t len, int error)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);

	if (!ifs) {
		folio_end_read(folio, !error);
		return;
	}
	if (!error && len) {
		unsigned int first, n;

		block_span(folio_inode(folio), off, len, &first, &n);
		bits_set(ifs, first, n);
	}
	ifs_read_done(folio, ifs, len);
}

void ifs_write_start(struct folio *folio, size_t len)
{
	atomic_fetch_add_explicit(&folio_ifs(folio)->write_bytes_pending, (uint32_t)len,
				  memory_order_relaxed);
}

/* acq_rel: the one who ends writeback sees every other completer's effects. */
bool ifs_write_done(struct folio *folio, size_t len)
{
	return atomic_fetch_sub_explicit(&folio_ifs(folio)->write_bytes_pending, (uint32_t)len,
					 memory_order_acq_rel) == len;
}

/*
 * The first run of dirty blocks in [from, end) (block numbers): returns its
 * first block and stores its length in *nr (0 when there is none).
 */
unsigned int ifs_next_dirty_run(struct inode *inode, struct folio *folio, unsigned int from,
				unsigned int end, unsigned int *nr)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int nblocks = ifs_blocks_per_folio(inode, folio);
	unsigned int first;

	while (from < end && !bit_test(ifs, nblocks + from))
		from++;
	first = from;
	while (from < end && bit_test(ifs, nblocks + from))
		from++;
	*nr = from - first;
	return first;
}
