/* SPDX-License-Identifier: MIT */
/*
 * address_space helpers for buffer-head filesystems: invalidation and
 * dirtying.  (->read_folio is block_read_full_folio in read.c,
 * ->writepages block_writepages in writeback.c, ->release_folio
 * try_to_free_buffers in buffer.c.)  All run under the folio lock.
 */
#include "bh/internal.h"

/* State that names disk contents: gone once the block is out of the file. */
#define BH_DISCARD_BITS                                                           \
	(BH_BIT(BH_Mapped) | BH_BIT(BH_Req) | BH_BIT(BH_New) | BH_BIT(BH_Delay) | \
	 BH_BIT(BH_Unwritten) | BH_BIT(BH_Dirty))

/*
 * The block no longer belongs to the file.  Under the buffer lock so that
 * I/O on it (a journal writing it by hand) ends first.
 */
static void discard_buffer(struct buffer_head *bh)
{
	lock_buffer(bh);
	bh->b_bdev = NULL;
	atomic_fetch_and_explicit(&bh->b_state, ~BH_DISCARD_BITS, memory_order_acq_rel);
	unlock_buffer(bh);
}

void block_invalidate_folio(struct folio *folio, size_t offset, size_t length)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	size_t start = 0, stop = offset + length;

	if (!head || stop > folio_size(folio) || stop < length)
		return;
	do {
		size_t end = start + bh->b_size;

		if (end > stop)
			break;
		if (start >= offset)
			discard_buffer(bh);
		start = end;
		bh = bh->b_this_page;
	} while (bh != head);
	if (offset == 0 && length == folio_size(folio))
		try_to_free_buffers(folio);
}

bool block_dirty_folio(struct folio *folio)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;

	if (head) {
		do {
			set_buffer_dirty(bh);
		} while ((bh = bh->b_this_page) != head);
	}
	return folio_mark_dirty(folio);
}
