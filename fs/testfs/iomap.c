/* SPDX-License-Identifier: MIT */
/*
 * testfs's side of the iomap contract: ->begin maps one extent, ->end
 * settles what the I/O did with it, ->iomap_valid tells a writer whether
 * the mapping it holds is still current, and the address_space ops route
 * the page cache to iomap.  The same ->begin serves buffered, zeroing,
 * report and direct I/O; writeback's ->map_blocks is here too
 * (testfs_map_blocks_locked), its other ops in writeback.c.
 *
 * All of it runs under the file's map_lock, the "lower" lock of the iomap
 * locking model: taken on entry to ->begin / ->end and dropped on return,
 * so iomap never works on folios with it held.  The callers' "upper" locks
 * (i_rwsem, invalidate_lock) are described in testfs.h.
 *
 * Mappings handed out (offsets are block aligned and <= pos, as iomap
 * requires, except for the post-EOF hole of a stuffed file):
 *   extent           -> MAPPED / UNWRITTEN, or DELALLOC with addr
 *                       IOMAP_NULL_ADDR, from the block holding pos to the
 *                       end of the extent
 *   hole, read       -> HOLE up to the next extent or the end of the range
 *   hole, write      -> a new reservation (delalloc) or allocation
 *                       (UNWRITTEN; MAPPED in the buffer-head modes),
 *                       flagged IOMAP_F_NEW, starting at the block holding
 *                       pos; direct writes always allocate
 *   stuffed file     -> INLINE over the inode's data buffer
 * Every mapping carries the file's sequence number as validity_cookie and
 * the mode's folio ops (testfs_folio_ops, or the jdata transaction hooks),
 * whose ->iomap_valid compares the two; in the buffer-head modes it is
 * flagged IOMAP_F_BUFFER_HEAD.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iomap/bdev.h"
#include "iomap/bio.h"
#include "iomap/buffered-io.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "internal.h"

static const struct iomap_folio_ops testfs_folio_ops;

/* ---- inline data ---- */

struct testfs_inline *testfs_inline_alloc(struct testfs *fs)
{
	struct testfs_inline *inl = calloc(1, sizeof(*inl) + fs->opts.inline_max);

	if (inl)
		atomic_init(&inl->refs, 1);
	return inl;
}

static struct testfs_inline *inline_get(struct testfs_inline *inl)
{
	atomic_fetch_add_explicit(&inl->refs, 1, memory_order_relaxed);
	return inl;
}

void testfs_inline_put(struct testfs_inline *inl)
{
	/* acq_rel: the last holder must see every write into the data. */
	if (inl && atomic_fetch_sub_explicit(&inl->refs, 1, memory_order_acq_rel) == 1)
		free(inl);
}

/* ---- freeing ---- */

void testfs_release_piece(void *arg, const struct testfs_extent *piece)
{
	struct testfs *fs = arg;

	if (piece->state == TESTFS_EXT_DELALLOC)
		testfs_alloc_unreserve(&fs->alloc, piece->len);
	else
		testfs_alloc_free(&fs->alloc, piece->pblk, piece->len);
}

/* ---- unstuffing ---- */

/* Largest bounce buffer of testfs_write_sync(). */
#define TESTFS_SYNC_CHUNK (1U << 20)

/* One bio of @len bytes (a multiple of the block size) from @buf at block @pblk. */
static int write_chunk_sync(struct testfs *fs, uint64_t pblk, void *buf, size_t len,
			    unsigned int flags)
{
	struct bio *bio = bio_alloc(fs->bdev, 1, BIO_OP_WRITE, flags);
	int ret = -EIO;

	if (!bio)
		return -ENOMEM;
	bio->bi_sector = pblk << (fs->blkbits - SECTOR_SHIFT);
	if (bio_add(bio, buf, (uint32_t)len, NULL))
		ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

/*
 * The filesystem talks to the device directly here, never through folios:
 * copy through a page-aligned bounce buffer (direct I/O engines want
 * aligned memory), zero padding the last block, and wait for each bio.
 */
int testfs_write_sync(struct testfs *fs, uint64_t pblk, const void *data, size_t len,
		      unsigned int flags)
{
	size_t bsize = testfs_bsize(fs), cap = tfs_min(testfs_round_up(fs, len),
						     (uint64_t)TESTFS_SYNC_CHUNK);
	void *buf = aligned_alloc(PAGE_SIZE, (cap + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t done = 0; !ret && done < len;) {
		size_t n = tfs_min(len - done, cap), padded = testfs_round_up(fs, n);

		memcpy(buf, (const char *)data + done, n);
		memset((char *)buf + n, 0, padded - n);
		ret = write_chunk_sync(fs, pblk + done / bsize, buf, padded, flags);
		done += n;
	}
	free(buf);
	return ret;
}

/*
 * Why folio 0 stays valid across unstuffing: while the file was stuffed,
 * every byte of it went through folio 0 (iomap copies an INLINE write into
 * the folio, then from the folio into the inline buffer), so folio 0, if
 * cached, is uptodate and holds exactly the inline bytes followed by
 * zeroes.  The block written here holds the same bytes and zeroes, so the
 * folio and the block agree: the folio may stay (clean or dirty) or be
 * dropped and read back from the block, with the same result.  Nothing
 * touches the folio here, which is why no folio lock is needed.  The write
 * is synchronous because the folio may be dropped at any time after we
 * return, and a read must then find the data on disk.  It is FUA because
 * inline data is as durable as the inode it lived in: once the file points
 * at the block, a power cut must not take back what fsync acknowledged.
 */
int testfs_unstuff_locked(struct testfs_file *f)
{
	struct testfs *fs = f->fs;
	uint64_t size = i_size_read(&f->inode), pblk;
	int ret;

	if (size > 0) {
		ret = testfs_ext_reserve(&f->map, 1);
		if (ret)
			return ret;
		if (testfs_alloc_reserve(&fs->alloc, 1, false) < 0)
			return -ENOSPC;
		testfs_alloc_claim(&fs->alloc, 0, 1, &pblk);
		ret = testfs_write_sync(fs, pblk, f->inl->data, size, BIO_FUA);
		if (ret) {
			testfs_alloc_free(&fs->alloc, pblk, 1);
			return ret;
		}
		testfs_ext_insert(&f->map, &(struct testfs_extent){ .lblk = 0, .len = 1,
				  .pblk = pblk, .state = TESTFS_EXT_MAPPED });
	}
	testfs_inline_put(f->inl);
	f->inl = NULL;
	testfs_map_changed(f);
	testfs_count(fs, unstuffs, 1);
	return 0;
}

/* ---- ->begin ---- */

static void map_common(struct testfs_file *f, struct iomap *iomap)
{
	iomap->bdev = f->fs->bdev;
	/* Folios carry buffer heads: iomap must work on them through those. */
	if (testfs_uses_bh(f->fs))
		iomap->flags |= IOMAP_F_BUFFER_HEAD;
	iomap->folio_ops = f->fs->opts.jdata ? &testfs_jdata_folio_ops : &testfs_folio_ops;
	iomap->validity_cookie = atomic_load_explicit(&f->seq, memory_order_relaxed);
}

/* Map @len blocks of extent @e from file block @lblk on. */
static void map_extent_len(struct testfs_file *f, const struct testfs_extent *e, uint64_t lblk,
			   uint64_t len, struct iomap *iomap)
{
	unsigned int bits = f->fs->blkbits;

	iomap->offset = lblk << bits;
	iomap->length = len << bits;
	switch (e->state) {
	case TESTFS_EXT_MAPPED:
		iomap->type = IOMAP_MAPPED;
		break;
	case TESTFS_EXT_UNWRITTEN:
		iomap->type = IOMAP_UNWRITTEN;
		break;
	case TESTFS_EXT_DELALLOC:
		iomap->type = IOMAP_DELALLOC;
		break;
	}
	iomap->addr = IOMAP_NULL_ADDR;
	if (e->state != TESTFS_EXT_DELALLOC)
		iomap->addr = (e->pblk + (lblk - e->lblk)) << bits;
}

/*
 * Map extent @e from the block holding the position asked (@lblk) to its
 * end, as XFS trims its mappings; so a report (fiemap) that comes back for
 * the rest of an extent never sees the part it already reported.  With
 * short_extents, end it at random (at least one block).
 */
static void map_extent(struct testfs_file *f, const struct testfs_extent *e, uint64_t lblk,
		       struct iomap *iomap)
{
	uint64_t len = testfs_ext_end(e) - lblk;

	if (f->fs->opts.short_extents)
		len = 1 + testfs_rand_below(&f->rng, len);
	map_extent_len(f, e, lblk, len, iomap);
}

/* A hole from the block holding @pos to the next extent, or to @end. */
static void map_hole(struct testfs_file *f, size_t next, uint64_t pos, uint64_t end,
		     struct iomap *iomap)
{
	struct testfs *fs = f->fs;
	uint64_t start = testfs_round_down(fs, pos);

	if (next < f->map.nr)
		end = f->map.ext[next].lblk << fs->blkbits;
	else
		end = tfs_max(testfs_round_up(fs, end), start + testfs_bsize(fs));
	iomap->type = IOMAP_HOLE;
	iomap->addr = IOMAP_NULL_ADDR;
	iomap->offset = start;
	iomap->length = end - start;
}

static void map_inline(struct testfs_file *f, uint64_t length, struct iomap *iomap)
{
	iomap->type = IOMAP_INLINE;
	iomap->addr = IOMAP_NULL_ADDR;
	iomap->offset = 0;
	iomap->length = length;
	iomap->inline_data = f->inl->data;
	/* Dropped in ->end: the buffer outlives an unstuff that races with us. */
	iomap->private = inline_get(f->inl);
}

/*
 * Reads, IOMAP_ZERO and IOMAP_REPORT of a stuffed file: INLINE over
 * [0, i_size); at or past EOF a HOLE (reads) or -ENOENT (report).
 */
static int begin_inline_read(struct testfs_file *f, uint64_t pos, uint64_t length,
			     unsigned int flags, struct iomap *iomap)
{
	uint64_t size = i_size_read(&f->inode);

	if (pos < size) {
		map_inline(f, size, iomap);
		return 0;
	}
	if (flags & IOMAP_REPORT)
		return -ENOENT;
	iomap->type = IOMAP_HOLE;
	iomap->addr = IOMAP_NULL_ADDR;
	iomap->offset = pos;
	iomap->length = length;
	return 0;
}

static int begin_read(struct testfs_file *f, uint64_t pos, uint64_t length, unsigned int flags,
		      struct iomap *iomap)
{
	uint64_t lblk = pos >> f->fs->blkbits;
	size_t i;

	if (f->inl)
		return begin_inline_read(f, pos, length, flags, iomap);
	i = testfs_ext_find(&f->map, lblk);
	if (i < f->map.nr && testfs_ext_contains(&f->map.ext[i], lblk)) {
		map_extent(f, &f->map.ext[i], lblk, iomap);
		return 0;
	}
	/* Report past EOF ends fiemap, unless preallocated extents follow. */
	if ((flags & IOMAP_REPORT) && pos >= i_size_read(&f->inode) && i == f->map.nr)
		return -ENOENT;
	map_hole(f, i, pos, pos + length, iomap);
	return 0;
}

/*
 * Where to allocate for a hole just before extent @next: right after the
 * nearest allocated extent before it, so a file written front to back is
 * contiguous on disk.
 */
uint64_t testfs_alloc_goal(const struct testfs_file *f, size_t next)
{
	for (size_t i = next; i-- > 0;) {
		const struct testfs_extent *e = &f->map.ext[i];

		if (e->state != TESTFS_EXT_DELALLOC)
			return e->pblk + e->len;
	}
	return 0;
}

/*
 * Reserve up to @want blocks for a write into a hole: a direct write takes
 * them from the reservation testfs_direct_write() made for its whole range
 * (so it never runs out of space half-way), a buffered write from the
 * allocator, as many as there are.  Returns the number or -ENOSPC.
 */
static int64_t alloc_reserve(struct testfs_file *f, uint64_t want, unsigned int flags)
{
	int64_t got;

	if (!(flags & IOMAP_DIRECT) || !f->dio_reserved)
		return testfs_alloc_reserve(&f->fs->alloc, want, true);
	got = (int64_t)tfs_min(want, f->dio_reserved);
	f->dio_reserved -= (uint64_t)got;
	return got;
}

/*
 * Blocks a write allocates at once (no delalloc, or direct I/O) start
 * UNWRITTEN and become MAPPED when their data is on disk (->ioend_done,
 * ->end_io), so that a block whose write failed, or was lost to a power
 * cut, reads as zeroes and not as what it held before; a partly written
 * block shows the zeroes written around the data.  Buffer-head writeback
 * has no completion to convert in, so those modes allocate MAPPED.
 */
static bool alloc_unwritten(const struct testfs *fs, unsigned int flags)
{
	return (flags & IOMAP_DIRECT) || !testfs_uses_bh(fs);
}

/*
 * A write into a hole: reserve (delalloc) or allocate blocks from the block
 * holding @pos, as many as the write needs, limited by the next extent,
 * max_extent and free space.  Fewer than asked is fine: iomap comes back
 * for the rest.  Direct writes get real blocks, never DELALLOC: there is
 * no folio to write back.
 */
static int begin_alloc(struct testfs_file *f, size_t next, uint64_t pos, uint64_t length,
		       unsigned int flags, struct iomap *iomap)
{
	struct testfs *fs = f->fs;
	uint64_t lblk = pos >> fs->blkbits;
	uint64_t want = (testfs_round_up(fs, pos + length) >> fs->blkbits) - lblk;
	struct testfs_extent e = { .lblk = lblk, .pblk = TESTFS_NO_BLOCK,
				   .state = TESTFS_EXT_DELALLOC };
	int64_t got;

	if (next < f->map.nr)
		want = tfs_min(want, f->map.ext[next].lblk - lblk);
	want = tfs_min(want, fs->max_ext_blocks);
	if (fs->opts.short_extents)
		want = 1 + testfs_rand_below(&f->rng, want);
	/* One slot for the insert, one for ->end cutting off what the write did not use. */
	if (testfs_ext_reserve(&f->map, 2))
		return -ENOMEM;
	got = alloc_reserve(f, want, flags);
	if (got < 0)
		return (int)got;
	e.len = (uint64_t)got;
	if (!testfs_delalloc(fs) || (flags & IOMAP_DIRECT)) {
		e.len = testfs_alloc_claim(&fs->alloc, testfs_alloc_goal(f, next), e.len, &e.pblk);
		testfs_alloc_unreserve(&fs->alloc, (uint64_t)got - e.len);
		e.state = alloc_unwritten(fs, flags) ? TESTFS_EXT_UNWRITTEN : TESTFS_EXT_MAPPED;
	}
	testfs_ext_insert(&f->map, &e);
	testfs_map_changed(f);
	/* Exactly what is new: F_NEW must not cover blocks that hold data. */
	map_extent_len(f, &e, lblk, e.len, iomap);
	iomap->flags |= IOMAP_F_NEW;
	return 0;
}

static int convert_delalloc(struct testfs_file *f, uint64_t lblk);

/*
 * Writes.  A stuffed file keeps taking writes inline while they fit
 * (direct ones too: iomap copies them into the buffer); past inline_max
 * it is unstuffed first.  A direct write finds no DELALLOC normally (the
 * range was written back before ->begin), but if it does it allocates the
 * extent as writeback would.
 */
static int begin_write(struct testfs_file *f, uint64_t pos, uint64_t length,
		       unsigned int flags, struct iomap *iomap)
{
	uint64_t lblk = pos >> f->fs->blkbits;
	size_t i;
	int ret;

	if (f->inl) {
		if (pos + length <= f->fs->opts.inline_max) {
			map_inline(f, f->fs->opts.inline_max, iomap);
			return 0;
		}
		ret = testfs_unstuff_locked(f);
		if (ret)
			return ret;
	}
	i = testfs_ext_find(&f->map, lblk);
	if (i < f->map.nr && testfs_ext_contains(&f->map.ext[i], lblk)) {
		if ((flags & IOMAP_DIRECT) && f->map.ext[i].state == TESTFS_EXT_DELALLOC) {
			ret = convert_delalloc(f, lblk);
			if (ret)
				return ret;
			i = testfs_ext_find(&f->map, lblk);
		}
		map_extent(f, &f->map.ext[i], lblk, iomap);
		return 0;
	}
	return begin_alloc(f, i, pos, length, flags, iomap);
}

static int testfs_iomap_begin(struct inode *inode, uint64_t pos, uint64_t length,
			      unsigned int flags, struct iomap *iomap, struct iomap *srcmap)
{
	struct testfs_file *f = TESTFS_F(inode);
	int ret;

	if (pos >= TESTFS_MAX_FILE_SIZE)
		return (flags & IOMAP_WRITE) ? -EFBIG : -ENOENT;
	length = tfs_min(tfs_max(length, (uint64_t)1), TESTFS_MAX_FILE_SIZE - pos);
	pthread_mutex_lock(&f->map_lock);
	if (flags & IOMAP_WRITE)
		ret = begin_write(f, pos, length, flags, iomap);
	else
		ret = begin_read(f, pos, length, flags, iomap);
	if (!ret)
		map_common(f, iomap);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* ---- ->end ---- */

/*
 * Take the pieces of blocks [first, first + nr) that are in state @a or @b
 * out of the map.  Returns the blocks removed or -ENOMEM.  Caller holds
 * map_lock.
 */
static int64_t remove_states_locked(struct testfs_file *f, uint64_t first, uint64_t nr,
				    enum testfs_ext_state a, enum testfs_ext_state b)
{
	uint64_t n = 0;

	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	n += testfs_ext_remove_state(&f->map, first, nr, a, testfs_release_piece, f->fs);
	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	n += testfs_ext_remove_state(&f->map, first, nr, b, testfs_release_piece, f->fs);
	return (int64_t)n;
}

/*
 * A write did @written of the @length bytes from @pos into a mapping it
 * had newly reserved or allocated: give back the blocks it did not reach.
 * A block the write reached partly stays (it holds data now).  Nothing is
 * cached over the blocks given back: the writer holds i_rwsem exclusive
 * and the blocks were a hole when ->begin ran.  If nothing at all was
 * written, the block holding @pos goes too: its data would otherwise be
 * whatever the disk holds there.
 *
 * With delalloc, a buffered write gives back only DELALLOC blocks.
 * Blocks that writeback allocated meanwhile (UNWRITTEN: it maps a whole
 * delalloc extent, reservations of writes still copying included) stay, as
 * XFS keeps them: they read as zeroes, and the write that comes back for
 * the rest of its range (the allocation made its mapping stale) fills them
 * instead of reserving and having them allocated all over again.  A write
 * that allocated at once gives back its own allocation (UNWRITTEN, or
 * MAPPED in the buffer-head modes): nothing else can have put blocks in
 * what was a hole.
 *
 * Returns 0 or -ENOMEM (the blocks then stay allocated; ->begin reserved
 * the slot, so only a concurrent map_blocks can have used it up).
 */
static int end_release_new(struct testfs_file *f, uint64_t pos, int64_t written,
			   unsigned int flags, const struct iomap *iomap)
{
	struct testfs *fs = f->fs;
	uint64_t start, end = iomap->offset + iomap->length, first, nr;
	bool own_unwritten = alloc_unwritten(fs, flags) &&
			     (!testfs_delalloc(fs) || (flags & IOMAP_DIRECT));
	int64_t n;

	start = written > 0 ? testfs_round_up(fs, pos + (uint64_t)written)
			    : testfs_round_down(fs, pos);
	start = tfs_max(start, iomap->offset);
	if (start >= end)
		return 0;
	first = start >> fs->blkbits;
	nr = (end - start) >> fs->blkbits;
	/*
	 * Buffer heads may name the blocks (a short copy zeroes and dirties
	 * the new buffers it prepared): drop them first, as gfs2 does.
	 */
	if (testfs_uses_bh(fs) && !(flags & IOMAP_DIRECT))
		truncate_pagecache_range(&f->inode, start, end - 1);
	pthread_mutex_lock(&f->map_lock);
	/* An allocation of its own is UNWRITTEN (alloc_unwritten): that goes instead. */
	n = remove_states_locked(f, first, nr, TESTFS_EXT_DELALLOC,
				 own_unwritten ? TESTFS_EXT_UNWRITTEN : TESTFS_EXT_MAPPED);
	testfs_map_changed(f);
	if (n > 0)
		testfs_count(fs, blocks_released, (uint64_t)n);
	pthread_mutex_unlock(&f->map_lock);
	return n < 0 ? (int)n : 0;
}

static int testfs_iomap_end(struct inode *inode, uint64_t pos, uint64_t length, int64_t written,
			    unsigned int flags, struct iomap *iomap)
{
	struct testfs_file *f = TESTFS_F(inode);

	if (iomap->type == IOMAP_INLINE) {
		/* The inline buffer's pointer is iomap's no more. */
		testfs_inline_put(iomap->private);
		iomap->private = NULL;
		return 0;
	}
	if (!(flags & IOMAP_WRITE))
		return 0;
	if (iomap->flags & IOMAP_F_SIZE_CHANGED)
		testfs_count(f->fs, size_changes, 1);
	if ((iomap->flags & IOMAP_F_NEW) && written < (int64_t)length)
		return end_release_new(f, pos, written, flags, iomap);
	return 0;
}

const struct iomap_ops testfs_iomap_ops = {
	.begin = testfs_iomap_begin,
	.end = testfs_iomap_end,
};

/* ---- ->iomap_valid ---- */

/*
 * Called by iomap with the folio locked, without map_lock: the sequence
 * number is read atomically.  Anything that changed the extent map since
 * ->begin (writeback converting delalloc, for one) bumped it.
 */
bool testfs_iomap_valid(struct inode *inode, const struct iomap *iomap)
{
	struct testfs_file *f = TESTFS_F(inode);
	struct testfs *fs = f->fs;
	unsigned int every = fs->opts.stale_every;

	if (every && atomic_fetch_add_explicit(&fs->valid_calls, 1, memory_order_relaxed) %
			     every == every - 1) {
		testfs_count(fs, stale_injected, 1);
		return false;
	}
	return iomap->validity_cookie == atomic_load_explicit(&f->seq, memory_order_acquire);
}

/*
 * After each folio of a write, as the kernel's iomap_write_iter() does
 * (libiomap's does not): the page cache may make the writer wait for, or
 * do, writeback, so that dirty data stays within the cache's budget.  No
 * folio lock is held by then; i_rwsem is, which ->writepages never takes.
 */
static void testfs_put_folio(struct inode *inode, uint64_t pos, size_t copied,
			     struct folio *folio)
{
	folio_unlock(folio);
	folio_put(folio);
	if (copied)
		balance_dirty_pages_ratelimited(inode->i_mapping);
}

static const struct iomap_folio_ops testfs_folio_ops = {
	.put_folio = testfs_put_folio,
	.iomap_valid = testfs_iomap_valid,
};

/* ---- writeback mapping ---- */

/*
 * Turn the DELALLOC extent holding @lblk into real blocks, run by run from
 * its start (first fit after the extent before it keeps the file
 * contiguous when it can).  The reservation pays for every claim.
 *
 * The blocks start UNWRITTEN, as ext4's and XFS's COW writeback does, and
 * become MAPPED in ->ioend_done once their data is on disk: until then a
 * reader that misses the cache (the data is dirty or under writeback, so
 * only a failed write or a power cut lets it) reads zeroes, never whatever
 * the blocks held before.  Every DELALLOC block has its data in a dirty
 * folio, so nothing is lost by reading it as zeroes meanwhile.
 */
static int convert_delalloc(struct testfs_file *f, uint64_t lblk)
{
	struct testfs *fs = f->fs;
	size_t i = testfs_ext_find(&f->map, lblk);
	uint64_t cur = f->map.ext[i].lblk, end = testfs_ext_end(&f->map.ext[i]);

	while (cur < end) {
		uint64_t pblk, got;

		if (testfs_ext_reserve(&f->map, 2))
			return -ENOMEM;
		i = testfs_ext_find(&f->map, cur);
		got = testfs_alloc_claim(&fs->alloc, testfs_alloc_goal(f, i), end - cur, &pblk);
		testfs_ext_convert(&f->map, cur, got, TESTFS_EXT_UNWRITTEN, pblk);
		testfs_count(fs, blocks_converted, got);
		cur += got;
	}
	testfs_map_changed(f);
	return 0;
}

int testfs_map_blocks_locked(struct testfs_file *f, uint64_t pos, uint64_t len,
			     struct iomap *iomap)
{
	uint64_t lblk = pos >> f->fs->blkbits;
	size_t i;
	int ret;

	if (f->inl)
		return -EIO;
	i = testfs_ext_find(&f->map, lblk);
	if (i == f->map.nr || !testfs_ext_contains(&f->map.ext[i], lblk)) {
		map_hole(f, i, pos, pos + tfs_max(len, (uint64_t)1), iomap);
		map_common(f, iomap);
		return 0;
	}
	if (f->map.ext[i].state == TESTFS_EXT_DELALLOC) {
		ret = convert_delalloc(f, lblk);
		if (ret)
			return ret;
		i = testfs_ext_find(&f->map, lblk);
	}
	map_extent(f, &f->map.ext[i], lblk, iomap);
	map_common(f, iomap);
	return 0;
}

int testfs_map_blocks(struct testfs_file *f, uint64_t pos, uint64_t len, struct iomap *iomap)
{
	int ret;

	if (pos >= TESTFS_MAX_FILE_SIZE)
		return -EINVAL;
	len = tfs_min(len, TESTFS_MAX_FILE_SIZE - pos);
	memset(iomap, 0, sizeof(*iomap));
	pthread_mutex_lock(&f->map_lock);
	ret = testfs_map_blocks_locked(f, pos, len, iomap);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* ---- address_space_ops ---- */

static int testfs_read_folio(struct folio *folio)
{
	return iomap_read_folio(folio, &testfs_iomap_ops);
}

static void testfs_readahead(struct readahead_control *rac)
{
	iomap_readahead(rac, &testfs_iomap_ops);
}

const struct address_space_ops testfs_aops = {
	.read_folio = testfs_read_folio,
	.readahead = testfs_readahead,
	.writepages = testfs_writepages,
	.release_folio = iomap_release_folio,
	.invalidate_folio = iomap_invalidate_folio,
	.is_partially_uptodate = iomap_is_partially_uptodate,
};
