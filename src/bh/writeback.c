/* SPDX-License-Identifier: MIT */
/*
 * Writeback through buffers: only the dirty buffers of a folio are
 * written, each with its own bio.
 *
 * Per folio (block_write_full_folio), under the folio lock:
 *  1. map: dirty buffers that have no block yet (unmapped, Delay,
 *     Unwritten) get get_block(create = 1); buffers past EOF are cleaned;
 *  2. lock: each mapped buffer is locked and, if it was dirty, cleaned and
 *     marked BH_Async_Write (cleaning under the buffer lock means a buffer
 *     redirtied after this point is written next time);
 *  3. submit: writeback starts on the folio, each Async_Write buffer is
 *     submitted, the folio is unlocked.
 * The first buffer's b_writes_pending counts the buffers in flight plus a
 * bias of 1 held from before the first submission until after the folio
 * is unlocked; whoever takes it to zero ends writeback on the folio.  The
 * WRITEBACK flag keeps the ring alive until then (try_to_free_buffers
 * refuses such folios), and keeps ->mapping stable for error reporting.
 */
#include <errno.h>

#include "bh/internal.h"
#include "lib/compiler.h"

/* Drop one pending write (or the bias); acq_rel so the last one sees all others' state. */
static void write_put(struct buffer_head *head)
{
	struct folio *folio = head->b_folio;

	if (atomic_fetch_sub_explicit(&head->b_writes_pending, 1, memory_order_acq_rel) == 1)
		folio_end_writeback(folio);
}

/* b_end_io of a folio writeback. */
static void end_buffer_async_write(struct buffer_head *bh, bool uptodate)
{
	struct buffer_head *head = folio_buffers(bh->b_folio);

	if (uptodate) {
		set_buffer_uptodate(bh);
	} else {
		buf_write_io_error(bh);
		clear_buffer_uptodate(bh);
	}
	clear_buffer_async_write(bh);
	unlock_buffer(bh);
	write_put(head);
}

/* Buffer locked and cleaned: it goes out in step 3. */
static void mark_async_write(struct buffer_head *bh)
{
	bh->b_end_io = end_buffer_async_write;
	set_buffer_async_write(bh);
}

static bool needs_block(const struct buffer_head *bh)
{
	return !buffer_mapped(bh) || buffer_delay(bh) || buffer_unwritten(bh);
}

/* Step 1.  Returns 0 or the first get_block error (buffers after it untouched). */
static int wb_map(struct inode *inode, struct buffer_head *head, get_block_t get_block,
		  uint64_t isize)
{
	uint64_t block = folio_pos(head->b_folio) >> inode->i_blkbits;
	uint64_t last_block = (isize - 1) >> inode->i_blkbits;
	struct buffer_head *bh = head;
	int err;

	do {
		if (block > last_block) {
			/* Zeroed by block_write_full_folio(); truncation in progress. */
			clear_buffer_dirty(bh);
			set_buffer_uptodate(bh);
		} else if (buffer_dirty(bh) && needs_block(bh)) {
			err = buf_get_block(get_block, inode, block, bh, 1);
			if (!err && !buffer_mapped(bh))
				err = -EIO; /* get_block broke its contract */
			if (err)
				return err;
			clear_buffer_delay(bh);
			clear_buffer_unwritten(bh);
			clear_buffer_new(bh);
		}
		block++;
		bh = bh->b_this_page;
	} while (bh != head);
	return 0;
}

/*
 * Step 2, normal case.  Clean buffers are passed over without their lock:
 * dirtying a buffer needs the folio lock (mark_buffer_dirty), which we hold.
 */
static void wb_lock(struct folio *folio, struct buffer_head *head,
		    const struct writeback_control *wbc)
{
	struct buffer_head *bh = head;

	do {
		if (!buffer_mapped(bh) || !buffer_dirty(bh))
			continue;
		if (wbc->sync_mode == WB_SYNC_NONE) {
			if (!trylock_buffer(bh)) {
				folio_mark_dirty(folio); /* busy: next pass */
				continue;
			}
		} else {
			lock_buffer(bh);
		}
		if (test_clear_buffer_dirty(bh))
			mark_async_write(bh);
		else
			unlock_buffer(bh);
	} while ((bh = bh->b_this_page) != head);
}

/*
 * Step 2 after a get_block error: write what is already mapped, so that
 * blocks allocated for this folio do not expose stale disk data, and drop
 * the dirty state of the rest (the error goes to the mapping).
 */
static void wb_lock_recover(struct buffer_head *head)
{
	struct buffer_head *bh = head;

	do {
		if (buffer_dirty(bh) && !needs_block(bh)) {
			lock_buffer(bh);
			if (test_clear_buffer_dirty(bh))
				mark_async_write(bh);
			else
				unlock_buffer(bh);
		} else {
			clear_buffer_dirty(bh);
		}
	} while ((bh = bh->b_this_page) != head);
}

/* Step 3.  Unlocks the folio; writeback ends with the last write. */
static void wb_submit(struct folio *folio, struct buffer_head *head)
{
	struct buffer_head *bh = head;

	/* Relaxed: the count's RMWs are totally ordered; WRITEBACK orders the rest. */
	atomic_fetch_add_explicit(&head->b_writes_pending, 1, memory_order_relaxed);
	folio_start_writeback(folio);
	do {
		if (buffer_async_write(bh)) {
			atomic_fetch_add_explicit(&head->b_writes_pending, 1, memory_order_relaxed);
			submit_bh(BIO_OP_WRITE, bh);
		}
	} while ((bh = bh->b_this_page) != head);
	folio_unlock(folio);
	write_put(head);
}

/* The folio lies (partly) below @isize. */
static int write_folio(struct inode *inode, struct folio *folio, struct writeback_control *wbc,
		       get_block_t get_block, uint64_t isize)
{
	struct buffer_head *head;
	int err;

	/* A folio dirtied whole, without buffers: every block is dirty and valid. */
	head = buf_folio_create(folio, BH_BIT(BH_Dirty) | BH_BIT(BH_Uptodate));
	if (!head) {
		folio_mark_dirty(folio);
		folio_unlock(folio);
		return -ENOMEM;
	}
	err = wb_map(inode, head, get_block, isize);
	if (err) {
		wb_lock_recover(head);
		mapping_set_error(folio->mapping, err);
	} else {
		wb_lock(folio, head, wbc);
	}
	wb_submit(folio, head);
	return err;
}

/* Nothing of the folio is in the file any more: its dirty data goes nowhere. */
static void write_skip(struct folio *folio)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;

	if (head) {
		do {
			clear_buffer_dirty(bh);
		} while ((bh = bh->b_this_page) != head);
	}
	folio_unlock(folio);
}

int block_write_full_folio(struct folio *folio, struct writeback_control *wbc,
			   get_block_t get_block)
{
	struct inode *inode = buf_folio_inode(folio);
	uint64_t isize = i_size_read(inode), pos = folio_pos(folio);

	if (pos >= isize) {
		write_skip(folio);
		return 0;
	}
	/* The EOF folio: the tail may hold stale bytes and its block is written whole. */
	if (pos + folio_size(folio) > isize)
		folio_zero_range(folio, (size_t)(isize - pos),
				 (size_t)(pos + folio_size(folio) - isize));
	return write_folio(inode, folio, wbc, get_block, isize);
}

int block_writepages(struct address_space *mapping, struct writeback_control *wbc,
		     get_block_t get_block)
{
	struct folio *folio = NULL;
	int ret = 0, err;

	if (!mapping || !wbc || !get_block)
		return -EINVAL;
	while ((folio = writeback_iter(mapping, wbc, folio))) {
		err = block_write_full_folio(folio, wbc, get_block);
		if (err && !ret)
			ret = err;
	}
	return ret;
}
