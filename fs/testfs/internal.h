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

#include "iomap/folio.h"
#include "iomap/inode.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "testfs.h"

struct workqueue;

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

/*
 * Give every block of [lblk, lblk + len) that is in state @from (MAPPED or
 * UNWRITTEN) the state @to, on the same disk blocks, splitting extents at
 * the range's ends.  Reserves its own slots: returns the blocks converted,
 * or -ENOMEM with the range converted up to some point.
 */
int64_t testfs_ext_convert_state(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
			     enum testfs_ext_state from, enum testfs_ext_state to);

/*
 * As testfs_ext_remove(), only for the pieces in state @state.  Needs one
 * reserved slot (a range strictly inside one extent splits it).  Returns
 * the blocks removed.
 */
uint64_t testfs_ext_remove_state(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
				 enum testfs_ext_state state, testfs_ext_release_t release,
				 void *arg);

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
	_Atomic uint64_t ioends;
	_Atomic uint64_t ioend_errors;
	_Atomic uint64_t blocks_written;
	_Atomic uint64_t blocks_discarded;
	_Atomic uint64_t fsyncs;
	_Atomic uint64_t dio_fallbacks;
	_Atomic uint64_t trans_begun;
	_Atomic uint64_t trans_committed;
	_Atomic uint64_t trans_max_open;
	_Atomic uint64_t trans_nested;
	_Atomic uint64_t journal_blocks;
	_Atomic uint64_t convert_flushes;
};

/*
 * The data journal of jdata mode (journal.c): a ring of nr_blocks blocks
 * from device block @start, allocated when the filesystem is created.
 */
struct testfs_journal {
	uint64_t start, nr_blocks; /* 0 blocks: no journal */
	pthread_mutex_t lock; /* protects reserved */
	pthread_cond_t room; /* reserved went down */
	uint64_t reserved; /* blocks reserved by open transactions */
	pthread_mutex_t commit_lock; /* serialises commits; protects head and seq */
	uint64_t head; /* ring slot of the next commit */
	uint64_t seq; /* commits so far */
};

/*
 * A file's open transaction (jdata): from ->get_folio to ->put_folio of
 * one folio of a write, owned by the writer holding i_rwsem exclusive.
 */
struct testfs_trans {
	bool open;
	uint64_t reserved; /* journal blocks, descriptor included */
	unsigned int nr; /* data blocks added */
	uint64_t blocknr[PAGE_SIZE / 512]; /* their in-place addresses */
	uint8_t *data; /* descriptor block, then the blocks' data */
};

#define testfs_count(fs, field, n) \
	atomic_fetch_add_explicit(&(fs)->counters.field, (n), memory_order_relaxed)

/*
 * Flushes before UNWRITTEN blocks become MAPPED (writeback.c), shared by
 * whoever waits at the same time.  Flush n covers every write completed
 * before it started.  All under @lock.
 */
struct testfs_convert_flush {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a flush ended */
	uint64_t started, done; /* flushes started, and the last one ended */
	bool running;
	int error; /* of the last one ended */
};

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
	/*
	 * Runs ->ioend_done: it takes map_lock, which unstuffing and loading
	 * hold across synchronous bios, so it must never run in the device's
	 * completion thread (that would wait for a lock whose holder waits
	 * for that very thread).
	 */
	struct workqueue *wq;
	struct testfs_convert_flush convert_flush;
	struct testfs_journal journal;
	_Atomic uint64_t trans_open; /* transactions open now, all files */
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
	/*
	 * As seq, except that UNWRITTEN blocks becoming MAPPED once their data
	 * is on disk (testfs_map_written()) leave it alone: writeback's cached
	 * mapping (compared by ->map_valid) names the same blocks either way,
	 * and a conversion finishing behind the writeback cursor must not make
	 * it look the extent up again.
	 */
	_Atomic uint64_t wb_seq;
	uint64_t disk_size; /* bytes known to be on disk (ioend_done, end_io); map_lock */
	/*
	 * Blocks reserved by the direct write in progress for the holes of its
	 * range, taken by its ->begin calls; under map_lock, and only one
	 * direct write runs at a time (i_rwsem exclusive).
	 */
	uint64_t dio_reserved;
	struct testfs_trans trans; /* jdata */
	/*
	 * Held across every ->writepages call on the file (flusher, fsync,
	 * sync, direct I/O, throttled writers).  Works around the page cache
	 * clearing a folio's DIRTY tag in folio_clear_dirty_for_io() rather
	 * than at folio_start_writeback() as the kernel does: a WB_SYNC_ALL
	 * pass that ran while another writeback had a folio locked and
	 * cleaned but not yet under writeback would neither write nor wait for
	 * it, and fsync or a direct read would go ahead of the data.  Taken
	 * with no folio lock held; order: i_rwsem, wb_mutex, folio, map_lock.
	 */
	pthread_mutex_t wb_mutex;
	uint64_t rng; /* xorshift state for short_extents */
	struct testfs_file *prev, *next; /* fs->files, under fs->files_lock */
};

static inline struct testfs_file *TESTFS_F(struct inode *inode)
{
	return (struct testfs_file *)((char *)inode - offsetof(struct testfs_file, inode));
}

extern const struct iomap_ops testfs_iomap_ops;
extern const struct address_space_ops testfs_aops; /* iomap's page cache path */
extern const struct address_space_ops testfs_bh_aops; /* buffer heads (bh.c) */

/* The file's folios carry buffer heads (buffer_heads or jdata mode). */
static inline bool testfs_uses_bh(const struct testfs *fs)
{
	return fs->opts.buffer_heads || fs->opts.jdata;
}

/* Buffered writes into holes reserve DELALLOC (not in the buffer-head modes). */
static inline bool testfs_delalloc(const struct testfs *fs)
{
	return fs->opts.delalloc && !testfs_uses_bh(fs);
}

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
	atomic_fetch_add_explicit(&f->wb_seq, 1, memory_order_release);
	atomic_fetch_add_explicit(&f->seq, 1, memory_order_release);
}

/*
 * UNWRITTEN blocks became MAPPED after their data was written: writers'
 * mappings are stale (they would zero around a write instead of reading),
 * writeback's are not (see wb_seq).  Caller holds map_lock.
 */
static inline void testfs_map_written(struct testfs_file *f)
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
 * to a whole block, with bio @flags (BIO_FUA or 0), and wait.  Returns 0
 * or a negative errno.
 */
int testfs_write_sync(struct testfs *fs, uint64_t pblk, const void *data, size_t len,
		      unsigned int flags);

/*
 * Move an inline file's data to a newly allocated block, synchronously, and
 * make it an extent file.  Caller holds i_rwsem exclusive and map_lock.
 * Returns 0, -ENOSPC, -ENOMEM, -EIO.
 */
int testfs_unstuff_locked(struct testfs_file *f);

/*
 * Where to allocate for a hole just before extent @next: right after the
 * nearest allocated extent before it.  Caller holds map_lock.
 */
uint64_t testfs_alloc_goal(const struct testfs_file *f, size_t next);

/*
 * The writeback mapping of testfs_map_blocks(), for callers that hold
 * map_lock: fills @iomap (zeroed by the caller), cookie = seq.
 */
int testfs_map_blocks_locked(struct testfs_file *f, uint64_t pos, uint64_t len,
			     struct iomap *iomap);

/*
 * A buffered write in the file's mode (iomap, or buffer heads), after
 * zeroing past EOF.  Caller holds i_rwsem exclusive.  Returns bytes written
 * or a negative errno if none were.  (testfs.c)
 */
int64_t testfs_write_locked(struct testfs_file *f, uint64_t pos, struct io_iter *from);

/*
 * Before writing at, or growing the file to, @pos past EOF: zero the tail
 * of the EOF block through the cache.  Caller holds i_rwsem exclusive.
 * Returns 0 or a negative errno.  (testfs.c)
 */
int testfs_zero_eof(struct testfs_file *f, uint64_t pos);

/* ---- buffer-head mode (bh.c) ---- */

struct buffer_head;

/*
 * The get_block_t of buffer-head mode: map file block @iblock of @inode
 * into @bh from the extent map; with @create allocate a hole, or make a
 * dirty Unwritten buffer's block MAPPED for writeback.  Called with the
 * buffer's folio locked; takes map_lock.  Returns 0, -ENOSPC, -ENOMEM,
 * -EIO, -EFBIG.
 */
int testfs_get_block(struct inode *inode, uint64_t iblock, struct buffer_head *bh, int create);

/*
 * Buffered write through block_write_begin / generic_write_end, a page at
 * a time.  Caller holds i_rwsem exclusive.  Returns bytes written or a
 * negative errno if none were.
 */
ssize_t testfs_bh_write_iter(struct testfs_file *f, uint64_t pos, struct io_iter *from);

/* ---- journaled data (journal.c) ---- */

/* Allocate the journal ring (jdata only).  Returns 0, -EINVAL (device too small), -ENOSPC. */
int testfs_journal_init(struct testfs *fs);
void testfs_journal_destroy(struct testfs *fs);

/* The file's transaction buffer (jdata only).  Returns 0 or -ENOMEM. */
int testfs_trans_init(struct testfs_file *f);
void testfs_trans_free(struct testfs_file *f);

/* Folio hooks of jdata mode: a transaction per folio. */
extern const struct iomap_folio_ops testfs_jdata_folio_ops;

/* ->iomap_valid (iomap.c), shared by every mode's folio hooks. */
bool testfs_iomap_valid(struct inode *inode, const struct iomap *iomap);

/* ---- writeback and fsync (writeback.c) ---- */

/*
 * An open file: what the VFS's struct file is to fsync.  @wb_err is the
 * mapping's error sequence as this handle last saw it; only the handle's
 * owner uses it, one call at a time.
 */
struct testfs_handle {
	struct testfs_file *file;
	errseq_t wb_err;
};

/* ->writepages: iomap_writepages() with testfs's writeback ops. */
int testfs_writepages(struct address_space *mapping, struct writeback_control *wbc);

/*
 * Write back and wait for [start, end] (inclusive) of the file, ignoring
 * errors (they stay recorded for fsync).  Used before zeroing: iomap zeroes
 * cached data over UNWRITTEN extents in place without dirtying it, which
 * would lose the zeroes if writeback of the old data were in flight and
 * converted the extent afterwards.  Caller holds no folio lock.
 */
void testfs_flush_range(struct testfs_file *f, uint64_t start, uint64_t end);

/*
 * The data of blocks [first, last) is on disk: make their UNWRITTEN blocks
 * MAPPED.  Caller holds map_lock.  Returns 0 or -ENOMEM (part may be
 * converted; the caller reports the error, as the data would otherwise
 * read as zeroes).
 */
int testfs_written_locked(struct testfs_file *f, uint64_t first, uint64_t last);

/*
 * Flush the device before UNWRITTEN blocks become MAPPED, so the data
 * under them is durable first; concurrent callers share flushes.  Takes
 * no other lock (call it without map_lock).  Returns 0 or the error of
 * the flush that covered the caller.
 */
int testfs_flush_before_convert(struct testfs *fs);

/* The file's bytes below @end are on disk (at most i_size).  Caller holds map_lock. */
void testfs_disk_size_grow_locked(struct testfs_file *f, uint64_t end);

/*
 * Blocks of [first, last) not covered by extents.  Caller holds map_lock.
 * (testfs.c)
 */
uint64_t testfs_count_holes_locked(const struct testfs_file *f, uint64_t first, uint64_t last);

#endif /* TESTFS_INTERNAL_H */
