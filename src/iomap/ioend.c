/* SPDX-License-Identifier: MIT */
/*
 * Writeback: dirty folios to ioends to bios, and back at completion.
 *
 * An ioend is a file range that is contiguous in the file and on disk, of
 * one kind (MAPPED or UNWRITTEN, shared or not).  Its bios are submitted as
 * they fill and kept on the ioend until all are done, because writeback of
 * their folios may end only after the filesystem has finished with the
 * ioend (unwritten conversion).
 *
 * Invariants
 *  1. ioend->remaining = bios submitted and not completed, plus one while
 *     the ioend is open (being added to).  Whoever takes it to zero
 *     completes the ioend; the bio list is final by then.
 *  2. A folio under writeback with per-folio state counts in
 *     write_bytes_pending every byte in an open or in-flight ioend, plus 1
 *     while writeback_folio() walks it.  Without state (one block) the
 *     folio is in at most one ioend and its completion ends writeback.
 */
#include <errno.h>
#include <stdlib.h>

#include "iomap/bdev.h"
#include "iomap/inode.h"
#include "iomap/internal.h"
#include "iomap/mapping.h"
#include "iomap/workqueue.h"
#include "iomap/writeback.h"
#include "lib/compiler.h"

/* Folios per ioend at most, as in the kernel: bounds completion latency. */
#define IOEND_BATCH_FOLIOS 4096U

struct iomap_ioend {
	struct work_item work;
	struct inode *inode;
	const struct iomap_writeback_ops *ops;
	struct workqueue *wq;
	struct bdev *bdev;
	uint64_t offset, size; /* file range */
	uint64_t next_sector; /* where the next byte goes on disk */
	unsigned int flags; /* IOMAP_IOEND_* */
	unsigned int nr_folios;
	struct folio *last_folio;
	struct bio *bio; /* being filled, not yet submitted */
	struct bio *bios; /* submitted, newest first */
	_Atomic int remaining;
	_Atomic int error;
};

static void folio_finish_write(struct folio *folio, size_t len)
{
	if (!folio_ifs(folio) || ifs_write_done(folio, len))
		folio_end_writeback(folio);
}

/* The filesystem is done with the ioend: end writeback on its folios. */
static void ioend_finish(struct iomap_ioend *ioend)
{
	int error = atomic_load_explicit(&ioend->error, memory_order_acquire);
	struct bio *bio = ioend->bios;

	if (ioend->ops->ioend_done)
		ioend->ops->ioend_done(ioend->inode, ioend->offset, ioend->size, ioend->flags,
				       error);
	if (error) {
		mapping_set_error(ioend->inode->i_mapping, error);
		iomap_count(writeback_errors, 1);
	}
	iomap_count(ioends, 1);
	iomap_count(ioend_bytes, ioend->size);
	while (bio) {
		struct bio *next = bio->bi_next;

		for (unsigned int i = 0; i < bio->bi_vcnt; i++)
			folio_finish_write(bio->bi_owner[i], bio->bi_iov[i].iov_len);
		bio_put(bio);
		bio = next;
	}
	free(ioend);
}

static void ioend_work(struct work_item *work)
{
	ioend_finish(container_of(work, struct iomap_ioend, work));
}

/* Invariant 1: the caller took remaining to zero. */
static void ioend_complete(struct iomap_ioend *ioend)
{
	if (ioend->ops->ioend_done && ioend->wq) {
		ioend->work.fn = ioend_work;
		workqueue_queue(ioend->wq, &ioend->work);
	} else {
		ioend_finish(ioend);
	}
}

static void ioend_put(struct iomap_ioend *ioend)
{
	/* acq_rel: the completer sees the bio list and every bio's status. */
	if (atomic_fetch_sub_explicit(&ioend->remaining, 1, memory_order_acq_rel) == 1)
		ioend_complete(ioend);
}

static void ioend_bio_end_io(struct bio *bio)
{
	struct iomap_ioend *ioend = bio->bi_private;
	int expected = 0;

	if (bio->bi_status)
		atomic_compare_exchange_strong_explicit(&ioend->error, &expected, bio->bi_status,
							memory_order_relaxed,
							memory_order_relaxed);
	ioend_put(ioend);
}

static void ioend_submit_bio(struct iomap_ioend *ioend)
{
	struct bio *bio = ioend->bio;

	if (!bio)
		return;
	ioend->bio = NULL;
	bio->bi_next = ioend->bios;
	ioend->bios = bio;
	atomic_fetch_add_explicit(&ioend->remaining, 1, memory_order_relaxed);
	bio_submit(bio);
}

static void ioend_close(struct iomap_writepage_ctx *wpc)
{
	struct iomap_ioend *ioend = wpc->_ioend;

	if (!ioend)
		return;
	wpc->_ioend = NULL;
	ioend_submit_bio(ioend);
	ioend_put(ioend);
}

static struct iomap_ioend *ioend_new(struct iomap_writepage_ctx *wpc, struct inode *inode,
				     uint64_t pos, unsigned int flags)
{
	struct iomap_ioend *ioend = calloc(1, sizeof(*ioend));

	if (!ioend)
		return NULL;
	ioend->inode = inode;
	ioend->ops = wpc->_ops;
	ioend->wq = wpc->wq;
	ioend->bdev = wpc->iomap.bdev;
	ioend->offset = pos;
	ioend->next_sector = iomap_sector(&wpc->iomap, pos);
	ioend->flags = flags;
	atomic_init(&ioend->remaining, 1);
	return ioend;
}

static bool ioend_can_add(const struct iomap_ioend *ioend, const struct iomap_writepage_ctx *wpc,
			  struct folio *folio, uint64_t pos, unsigned int flags)
{
	return ioend && ioend->flags == flags && ioend->bdev == wpc->iomap.bdev &&
	       ioend->offset + ioend->size == pos &&
	       ioend->next_sector == iomap_sector(&wpc->iomap, pos) &&
	       (ioend->last_folio == folio || ioend->nr_folios < IOEND_BATCH_FOLIOS);
}

static int ioend_add_to_bio(struct iomap_ioend *ioend, struct folio *folio, size_t off,
			    size_t len)
{
	void *addr = folio_address(folio, off);

	if (ioend->bio && bio_add(ioend->bio, addr, (uint32_t)len, folio))
		return 0;
	ioend_submit_bio(ioend);
	ioend->bio = bio_alloc(ioend->bdev, BIO_MAX_VECS, BIO_OP_WRITE, 0);
	if (!ioend->bio)
		return -ENOMEM;
	ioend->bio->bi_sector = ioend->next_sector;
	ioend->bio->bi_end_io = ioend_bio_end_io;
	ioend->bio->bi_private = ioend;
	return bio_add(ioend->bio, addr, (uint32_t)len, folio) ? 0 : -EIO;
}

/* Add [pos, pos + len) of a locked folio under writeback to the open ioend. */
static int add_to_ioend(struct iomap_writepage_ctx *wpc, struct inode *inode,
			struct folio *folio, uint64_t pos, size_t len)
{
	unsigned int flags = 0;
	struct iomap_ioend *ioend;
	int ret;

	if (wpc->iomap.type == IOMAP_UNWRITTEN)
		flags |= IOMAP_IOEND_UNWRITTEN;
	if (wpc->iomap.flags & IOMAP_F_SHARED)
		flags |= IOMAP_IOEND_SHARED;
	if (!ioend_can_add(wpc->_ioend, wpc, folio, pos, flags)) {
		ioend_close(wpc);
		wpc->_ioend = ioend_new(wpc, inode, pos, flags);
		if (!wpc->_ioend)
			return -ENOMEM;
	}
	ioend = wpc->_ioend;
	ret = ioend_add_to_bio(ioend, folio, (size_t)(pos - folio_pos(folio)), len);
	if (ret)
		return ret;
	if (folio_ifs(folio))
		ifs_write_start(folio, len);
	if (ioend->last_folio != folio) {
		ioend->last_folio = folio;
		ioend->nr_folios++;
	}
	ioend->size += len;
	ioend->next_sector += len >> SECTOR_SHIFT;
	return 0;
}

static bool map_covers(const struct iomap *iomap, uint64_t pos)
{
	return iomap->offset <= pos && pos - iomap->offset < iomap->length;
}

/* Make wpc->iomap cover @pos, asking the filesystem only when needed. */
static int writeback_map(struct iomap_writepage_ctx *wpc, struct inode *inode, uint64_t pos,
			 uint64_t len)
{
	const struct iomap_writeback_ops *ops = wpc->_ops;
	int ret;

	if (wpc->iomap_set && map_covers(&wpc->iomap, pos) &&
	    (!ops->map_valid || ops->map_valid(wpc, inode)))
		return 0;
	iomap_count(map_blocks_calls, 1);
	wpc->iomap_set = false;
	ret = ops->map_blocks(wpc, inode, pos, len);
	if (ret)
		return ret;
	if (!wpc->iomap.length || !map_covers(&wpc->iomap, pos))
		return -EIO;
	wpc->iomap_set = true;
	return 0;
}

/*
 * Write [pos, pos + len) of the folio: map it piece by piece and add the
 * pieces that have blocks to ioends.  Returns the bytes added to I/O or a
 * negative errno.
 */
static int64_t writeback_range(struct iomap_writepage_ctx *wpc, struct inode *inode,
			       struct folio *folio, uint64_t pos, uint64_t len)
{
	int64_t added = 0;
	int ret;

	while (len) {
		uint64_t n;

		ret = writeback_map(wpc, inode, pos, len);
		if (ret)
			return ret;
		n = min(len, wpc->iomap.offset + wpc->iomap.length - pos);
		switch (wpc->iomap.type) {
		case IOMAP_HOLE:
			break;
		case IOMAP_MAPPED:
		case IOMAP_UNWRITTEN:
			ret = add_to_ioend(wpc, inode, folio, pos, (size_t)n);
			if (ret)
				return ret;
			added += (int64_t)n;
			break;
		default:
			return -EIO; /* DELALLOC and INLINE cannot be written back here */
		}
		pos += n;
		len -= n;
	}
	return added;
}

/*
 * The part of the folio to write: up to EOF rounded to a block.  The tail
 * of the EOF folio past i_size is zeroed on every writeback, since it may
 * hold stale bytes and the block is written whole.  Returns 0 for a folio
 * wholly past EOF (truncated meanwhile).
 */
static uint64_t writeback_limit(struct inode *inode, struct folio *folio)
{
	uint64_t isize = i_size_read(inode), pos = folio_pos(folio);
	uint64_t end = pos + folio_size(folio);

	if (pos >= isize)
		return 0;
	if (end > isize) {
		folio_zero_range(folio, (size_t)(isize - pos), (size_t)(end - isize));
		end = round_up_pow2(isize, (uint64_t)i_blocksize(inode));
	}
	return end - pos;
}

/* Send the dirty blocks of [0, limit) to I/O.  Returns bytes added or -errno. */
static int64_t writeback_dirty_blocks(struct iomap_writepage_ctx *wpc, struct inode *inode,
				      struct folio *folio, uint64_t limit)
{
	unsigned int bits = inode->i_blkbits;
	unsigned int end = (unsigned int)(limit >> bits), from = 0, nr;
	int64_t added = 0, ret;

	if (!folio_ifs(folio))
		return writeback_range(wpc, inode, folio, folio_pos(folio), limit);
	for (;;) {
		from = ifs_next_dirty_run(inode, folio, from, end, &nr);
		if (!nr)
			return added;
		ret = writeback_range(wpc, inode, folio, folio_pos(folio) + ((uint64_t)from << bits),
				      (uint64_t)nr << bits);
		if (ret < 0)
			return ret;
		added += ret;
		from += nr;
	}
}

/* Write back one locked folio whose DIRTY flag writeback_iter() cleared; unlocks it. */
static int writeback_folio(struct iomap_writepage_ctx *wpc, struct folio *folio)
{
	struct inode *inode = folio_inode(folio);
	uint64_t limit = writeback_limit(inode, folio);
	int64_t added = 0;

	/*
	 * A folio dirtied whole has no state; DIRTY is already cleared, so
	 * state created now must be told that every block is dirty.
	 */
	if (ifs_blocks_per_folio(inode, folio) > 1 && !folio_ifs(folio)) {
		if (!ifs_alloc(inode, folio)) {
			folio_unlock(folio);
			return -ENOMEM;
		}
		ifs_set_range_dirty(inode, folio, 0, folio_size(folio));
	}
	if (folio_ifs(folio))
		ifs_write_start(folio, 1);
	folio_start_writeback(folio);
	if (limit)
		added = writeback_dirty_blocks(wpc, inode, folio, limit);
	ifs_clear_range_dirty(inode, folio, 0, folio_size(folio));
	if (added < 0 && wpc->_ops->discard_folio)
		wpc->_ops->discard_folio(folio, folio_pos(folio));
	folio_unlock(folio);
	iomap_count(writeback_folios, 1);
	if (folio_ifs(folio) ? ifs_write_done(folio, 1) : added <= 0)
		folio_end_writeback(folio);
	if (added < 0) {
		mapping_set_error(inode->i_mapping, (int)added);
		iomap_count(writeback_errors, 1);
		return (int)added;
	}
	return 0;
}

int iomap_writepages(struct address_space *mapping, struct writeback_control *wbc,
		     struct iomap_writepage_ctx *wpc, const struct iomap_writeback_ops *ops)
{
	struct folio *folio = NULL;
	int ret = 0, err;

	if (!mapping || !wbc || !wpc || !ops || !ops->map_blocks)
		return -EINVAL;
	wpc->_wbc = wbc;
	wpc->_ops = ops;
	while ((folio = writeback_iter(mapping, wbc, folio))) {
		err = writeback_folio(wpc, folio);
		if (err && !ret)
			ret = err;
	}
	ioend_close(wpc);
	return ret;
}
