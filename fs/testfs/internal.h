/* SPDX-License-Identifier: MIT */
/*
 * Internal to testfs: the in-memory inode, the extent map and the block
 * allocator.  Only public libiomap headers are used here.
 */
#ifndef TESTFS_INTERNAL_H
#define TESTFS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iomap/inode.h"
#include "iomap/iomap.h"
#include "testfs.h"

#define TESTFS_NO_BLOCK UINT64_MAX

#define tfs_min(a, b) ((a) < (b) ? (a) : (b))
#define tfs_max(a, b) ((a) > (b) ? (a) : (b))

/* ---- extent map (extent.c) ---- */

enum testfs_ext_state {
	TESTFS_EXT_MAPPED, /* blocks at pblk hold the data (or it is dirty in the cache) */
	TESTFS_EXT_UNWRITTEN, /* blocks at pblk, reading as zeroes */
	TESTFS_EXT_DELALLOC, /* space reserved in the allocator, no blocks yet */
};

struct testfs_extent {
	uint64_t lblk; /* first file block */
	uint64_t len; /* blocks, > 0 */
	uint64_t pblk; /* first device block; TESTFS_NO_BLOCK when DELALLOC */
	enum testfs_ext_state state;
};

/*
 * A file's extents, sorted by lblk, never overlapping, each at most max_len
 * blocks.  Neighbours that are contiguous in the file and on disk and have
 * the same state are merged as long as the result stays within max_len.
 *
 * Functions that split an extent need a free slot: callers make room with
 * testfs_ext_reserve() before changing anything, so that a change either
 * fails up front with -ENOMEM or completes.
 */
struct testfs_extmap {
	struct testfs_extent *ext;
	size_t nr, cap;
	uint64_t max_len; /* blocks; UINT64_MAX when unlimited */
};

/* Called for every piece an extent-map change takes out of the map. */
typedef void (*testfs_ext_release_t)(void *arg, const struct testfs_extent *piece);

void testfs_ext_init(struct testfs_extmap *map, uint64_t max_len);
void testfs_ext_free(struct testfs_extmap *map);

/* Make room for @extra more extents.  Returns 0 or -ENOMEM. */
int testfs_ext_reserve(struct testfs_extmap *map, size_t extra);

/* Index of the first extent ending after @lblk (containing it or after it); nr if none. */
size_t testfs_ext_find(const struct testfs_extmap *map, uint64_t lblk);

static inline uint64_t testfs_ext_end(const struct testfs_extent *e)
{
	return e->lblk + e->len;
}

static inline bool testfs_ext_contains(const struct testfs_extent *e, uint64_t lblk)
{
	return lblk >= e->lblk && lblk < testfs_ext_end(e);
}

/*
 * Insert @e into a hole of the map (the caller checked there is no
 * overlap) and merge it with its neighbours.  Needs one reserved slot.
 */
void testfs_ext_insert(struct testfs_extmap *map, const struct testfs_extent *e);

/*
 * Take blocks [lblk, lblk + len) out of the map; holes in the range are
 * skipped.  @release sees every piece removed.  Needs one reserved slot (a
 * range strictly inside one extent splits it).
 */
void testfs_ext_remove(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
		       testfs_ext_release_t release, void *arg);

/*
 * Give blocks [lblk, lblk + len), which lie inside one extent, a new state
 * and disk address (@pblk for lblk).  Needs two reserved slots.
 */
void testfs_ext_convert(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
			enum testfs_ext_state state, uint64_t pblk);

/* ---- block allocator (alloc.c) ---- */

/*
 * Blocks are free, allocated (bit set), or free but reserved for delayed
 * allocation (counted in @reserved only).  Invariant:
 * allocated + reserved <= nr_blocks, so every reservation can become real
 * blocks later without failing.
 */
struct testfs_alloc {
	pthread_mutex_t lock; /* protects everything below */
	uint64_t *bitmap;
	uint64_t nr_blocks;
	uint64_t allocated;
	uint64_t reserved;
};

int testfs_alloc_init(struct testfs_alloc *a, uint64_t nr_blocks);
void testfs_alloc_destroy(struct testfs_alloc *a);

/*
 * Reserve @want blocks; with @partial as many as are available (at least
 * one).  Returns the number reserved or -ENOSPC.
 */
int64_t testfs_alloc_reserve(struct testfs_alloc *a, uint64_t want, bool partial);
void testfs_alloc_unreserve(struct testfs_alloc *a, uint64_t n);

/*
 * Turn up to @want reserved blocks into allocated ones: the first free run
 * at or after @goal (wrapping to the start of the device), cut to @want.
 * Stores its first block in @pblk and returns its length (>= 1).  The
 * caller must hold a reservation of at least @want blocks.
 */
uint64_t testfs_alloc_claim(struct testfs_alloc *a, uint64_t goal, uint64_t want,
			    uint64_t *pblk);

void testfs_alloc_free(struct testfs_alloc *a, uint64_t pblk, uint64_t n);

/* A snapshot of the counters. */
void testfs_alloc_counts(struct testfs_alloc *a, uint64_t *allocated, uint64_t *reserved);

/* Is @blk allocated?  Caller holds a->lock. */
bool testfs_alloc_test_locked(const struct testfs_alloc *a, uint64_t blk);

/* ---- filesystem and files (testfs.c, iomap.c) ---- */

struct testfs_counters {
	_Atomic uint64_t unstuffs;
	_Atomic uint64_t size_changes;
	_Atomic uint64_t blocks_released;
	_Atomic uint64_t blocks_converted;
	_Atomic uint64_t stale_injected;
};

#define testfs_count(fs, field, n) \
	atomic_fetch_add_explicit(&(fs)->counters.field, (n), memory_order_relaxed)

struct testfs {
	struct bdev *bdev;
	struct pagecache *cache;
	struct testfs_opts opts;
	unsigned int blkbits;
	uint64_t max_ext_blocks; /* UINT64_MAX when unlimited */
	struct testfs_alloc alloc;
	pthread_mutex_t files_lock; /* protects files and next_ino; taken before map_lock */
	struct testfs_file *files;
	uint64_t next_ino;
	_Atomic uint64_t valid_calls; /* ->iomap_valid calls, for stale_every */
	struct testfs_counters counters;
};

/*
 * Inline ("stuffed") data: inline_max bytes, of which [0, i_size) are the
 * file and the rest are zero.  Reference counted because an INLINE mapping
 * hands iomap a pointer into it that must stay valid until ->end even if
 * the file is unstuffed meanwhile (gfs2 faddeb848305: the dinode buffer
 * head is held from ->begin to ->end).
 */
struct testfs_inline {
	_Atomic unsigned int refs;
	unsigned char data[];
};

struct testfs_file {
	struct inode inode; /* what the page cache and iomap see */
	struct testfs *fs;
	/*
	 * The mapping lock ("lower" level): protects map, inl, rng and writes
	 * of seq.  Held only inside ->begin, ->end, testfs_map_blocks() and
	 * short metadata updates; never across folio work.  inl (the pointer,
	 * and the stuffed state) changes only with i_rwsem exclusive held as
	 * well, so either lock is enough to read it.  The inline bytes are
	 * written by iomap under i_rwsem exclusive without map_lock.
	 */
	pthread_mutex_t map_lock;
	struct testfs_extmap map;
	struct testfs_inline *inl; /* non-NULL while the file is stuffed; then map is empty */
	/*
	 * Bumped (under map_lock) by every change of the extent map or of the
	 * stuffed state; handed out as validity_cookie and compared without
	 * the lock by ->iomap_valid.
	 */
	_Atomic uint64_t seq;
	uint64_t rng; /* xorshift state for short_extents */
	struct testfs_file *prev, *next; /* fs->files, under fs->files_lock */
};

static inline struct testfs_file *TESTFS_F(struct inode *inode)
{
	return (struct testfs_file *)((char *)inode - offsetof(struct testfs_file, inode));
}

extern const struct iomap_ops testfs_iomap_ops;
extern const struct address_space_ops testfs_aops;

static inline uint64_t testfs_bsize(const struct testfs *fs)
{
	return 1ULL << fs->blkbits;
}

static inline uint64_t testfs_round_up(const struct testfs *fs, uint64_t x)
{
	return (x + testfs_bsize(fs) - 1) & ~(testfs_bsize(fs) - 1);
}

static inline uint64_t testfs_round_down(const struct testfs *fs, uint64_t x)
{
	return x & ~(testfs_bsize(fs) - 1);
}

/* Mark a change of the file's mapping; caller holds map_lock. */
static inline void testfs_map_changed(struct testfs_file *f)
{
	atomic_fetch_add_explicit(&f->seq, 1, memory_order_release);
}

/* xorshift64: the exerciser and short_extents need reproducible numbers. */
static inline uint64_t testfs_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* Uniform enough in [0, n); n > 0. */
static inline uint64_t testfs_rand_below(uint64_t *state, uint64_t n)
{
	return testfs_rand(state) % n;
}

struct testfs_inline *testfs_inline_alloc(struct testfs *fs);
void testfs_inline_put(struct testfs_inline *inl);

/* Release callback for testfs_ext_remove(): give blocks or reservations back. */
void testfs_release_piece(void *fs, const struct testfs_extent *piece);

/*
 * Write @len bytes of @data to the device from block @pblk on, zero padded
 * to a whole block, and wait.  Returns 0 or a negative errno.
 */
int testfs_write_sync(struct testfs *fs, uint64_t pblk, const void *data, size_t len);

/*
 * Move an inline file's data to a newly allocated block, synchronously, and
 * make it an extent file.  Caller holds i_rwsem exclusive and map_lock.
 * Returns 0, -ENOSPC, -ENOMEM, -EIO.
 */
int testfs_unstuff_locked(struct testfs_file *f);

#endif /* TESTFS_INTERNAL_H */
