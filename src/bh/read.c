/* SPDX-License-Identifier: MIT */
/*
 * Reading a folio through its buffers: get_block once per unmapped block
 * below EOF, holes and everything past EOF zeroed in memory, one bio per
 * block that must come from the disk.
 *
 * Completion.  The folio stays locked until its last read ends.  The first
 * buffer's b_reads_pending counts the buffers under BH_Async_Read plus a
 * bias of 1 held by block_read_full_folio() while it walks the ring, so
 * completions that run before the walk is over (a RAM device completes
 * inside submit_bh()) never end the read early.  Whoever takes the count to
 * zero decides the folio's state from its buffers and unlocks it.
 */
#include <errno.h>

#include "bh/internal.h"
#include "lib/compiler.h"

/* Every read of the folio has ended: publish what is valid and unlock. */
static void read_folio_finish(struct folio *folio)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	bool uptodate = true;

	do {
		if (!buffer_uptodate(bh)) {
			uptodate = false;
			break;
		}
		bh = bh->b_this_page;
	} while (bh != head);
	folio_end_read(folio, uptodate);
}

/*
 * Drop one pending read (or the bias).  Acquire-release: the thread that
 * reaches zero sees every other completion's BH_Uptodate and data.
 */
static void read_put(struct buffer_head *head)
{
	if (atomic_fetch_sub_explicit(&head->b_reads_pending, 1, memory_order_acq_rel) == 1)
		read_folio_finish(head->b_folio);
}

/*
 * b_end_io of a folio read.  The folio is locked on our behalf until
 * read_put(), so the ring stays alive after the buffer is unlocked.
 */
static void end_buffer_async_read(struct buffer_head *bh, bool uptodate)
{
	struct buffer_head *head = folio_buffers(bh->b_folio);

	if (uptodate)
		set_buffer_uptodate(bh);
	else
		clear_buffer_uptodate(bh);
	clear_buffer_async_read(bh);
	unlock_buffer(bh);
	read_put(head);
}

/* Start the read of one mapped buffer, unless it became valid while we waited for its lock. */
static void read_submit(struct buffer_head *head, struct buffer_head *bh)
{
	lock_buffer(bh);
	if (buffer_uptodate(bh)) {
		unlock_buffer(bh);
		return;
	}
	/* Relaxed: the count's RMWs are totally ordered; submission orders the rest. */
	atomic_fetch_add_explicit(&head->b_reads_pending, 1, memory_order_relaxed);
	set_buffer_async_read(bh);
	bh->b_end_io = end_buffer_async_read;
	submit_bh(BIO_OP_READ, bh);
}

/* Data that reads as zeroes: a hole, past EOF, or space with nothing written. */
static void read_zero(struct buffer_head *bh)
{
	folio_zero_range(bh->b_folio, bh_offset(bh), bh->b_size);
	set_buffer_uptodate(bh);
}

/*
 * Make one buffer of the folio valid: map it if needed (below EOF @lblock),
 * zero it if there is nothing to read, or start its read.  Returns 0 or
 * the get_block error, which leaves the buffer not uptodate.
 */
static int read_one(struct inode *inode, struct buffer_head *head, struct buffer_head *bh,
		    uint64_t iblock, uint64_t lblock, get_block_t get_block)
{
	int err;

	if (buffer_uptodate(bh))
		return 0;
	if (!buffer_mapped(bh)) {
		if (iblock < lblock) {
			err = buf_get_block(get_block, inode, iblock, bh, 0);
			if (err)
				return err;
		}
		if (!buffer_mapped(bh)) {
			read_zero(bh);
			return 0;
		}
		if (buffer_uptodate(bh))
			return 0; /* get_block filled it */
	}
	if (buffer_delay(bh) || buffer_unwritten(bh)) {
		read_zero(bh);
		return 0;
	}
	read_submit(head, bh);
	return 0;
}

int block_read_full_folio(struct folio *folio, get_block_t get_block)
{
	struct inode *inode = buf_folio_inode(folio);
	struct buffer_head *head = buf_folio_create(folio, 0), *bh;
	uint64_t iblock, lblock;
	int err = 0, ret;

	if (!head) {
		folio_end_read(folio, false);
		return -ENOMEM;
	}
	iblock = folio_pos(folio) >> inode->i_blkbits;
	lblock = div_round_up(i_size_read(inode), (uint64_t)head->b_size);
	atomic_fetch_add_explicit(&head->b_reads_pending, 1, memory_order_relaxed); /* the bias */
	bh = head;
	do {
		ret = read_one(inode, head, bh, iblock++, lblock, get_block);
		if (ret && !err)
			err = ret;
		bh = bh->b_this_page;
	} while (bh != head);
	read_put(head);
	return err;
}

bool block_is_partially_uptodate(struct folio *folio, size_t from, size_t count)
{
	struct buffer_head *head = folio_buffers(folio), *bh;
	size_t bs, to, start = 0;

	if (!head || from >= folio_size(folio) || !count)
		return false;
	bs = head->b_size;
	to = from + min(count, folio_size(folio) - from);
	if (from < bs && to > folio_size(folio) - bs)
		return false;
	bh = head;
	do {
		if (start + bs > from && start < to && !buffer_uptodate(bh))
			return false;
		start += bs;
		bh = bh->b_this_page;
	} while (bh != head && start < to);
	return true;
}
