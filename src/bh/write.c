/* SPDX-License-Identifier: MIT */
/*
 * Buffered writes through buffers: prepare the blocks a write touches
 * (map them, zero what new blocks will not get, read partial blocks that
 * hold old data), then commit the copy block by block.
 *
 * All of it runs under the folio lock, with i_rwsem held by the caller.
 * Blocks are mapped from a get_block_t (one call per block) or, for the
 * iomap path (IOMAP_F_BUFFER_HEAD), from the struct iomap that iomap
 * already got from the filesystem for the whole extent.
 */
#include <errno.h>

#include "bh/internal.h"
#include "iomap/iomap.h"
#include "lib/compiler.h"

/*
 * Map @bh, the buffer of file block @block, from @iomap (the kernel's
 * iomap_to_bh).  Blocks at or past EOF, and unwritten ones, become New so
 * that the write zeroes what it does not cover.  A HOLE leaves the buffer
 * unmapped (writeback asks get_block later); DELALLOC gives a Delay
 * buffer.  Returns 0, or -EIO for a block outside the mapping or a type
 * that cannot take a write.
 */
static int iomap_to_bh(struct inode *inode, uint64_t block, struct buffer_head *bh,
		       const struct iomap *iomap)
{
	uint64_t offset = block << inode->i_blkbits;
	bool past_eof = offset >= i_size_read(inode);

	if (offset < iomap->offset || offset - iomap->offset >= iomap->length)
		return -EIO;
	bh->b_bdev = iomap->bdev;
	switch (iomap->type) {
	case IOMAP_HOLE:
		if (!buffer_uptodate(bh) || past_eof)
			set_buffer_new(bh);
		return 0;
	case IOMAP_DELALLOC:
		if (!buffer_uptodate(bh) || past_eof)
			set_buffer_new(bh);
		set_buffer_uptodate(bh);
		set_buffer_mapped(bh);
		set_buffer_delay(bh);
		return 0;
	case IOMAP_UNWRITTEN:
		set_buffer_new(bh);
		set_buffer_unwritten(bh);
		/* fall through */
	case IOMAP_MAPPED:
		if (iomap->addr == IOMAP_NULL_ADDR || !iomap->bdev)
			return -EIO;
		if ((iomap->flags & IOMAP_F_NEW) || past_eof)
			set_buffer_new(bh);
		bh->b_blocknr = (iomap->addr + offset - iomap->offset) >> inode->i_blkbits;
		set_buffer_mapped(bh);
		return 0;
	default:
		return -EIO;
	}
}

/* What one write_begin call is preparing. */
struct begin_ctx {
	struct folio *folio;
	struct inode *inode;
	get_block_t get_block;
	const struct iomap *iomap;
	size_t from, to; /* the write, as folio offsets */
};

/* Zero the parts of block [start, end) outside the write [from, to). */
static void zero_around_write(const struct begin_ctx *c, size_t start, size_t end)
{
	if (start < c->from)
		folio_zero_range(c->folio, start, c->from - start);
	if (end > c->to)
		folio_zero_range(c->folio, c->to, end - c->to);
}

/*
 * Prepare one buffer that the write overlaps, at folio offset @start.
 * Returns 0, 1 when the block must be read before the copy (a partial
 * block with old data on disk), or a negative errno.
 */
static int begin_block(const struct begin_ctx *c, struct buffer_head *bh, uint64_t block,
		       size_t start)
{
	size_t end = start + bh->b_size;
	int err;

	if (buffer_new(bh))
		clear_buffer_new(bh);
	if (!buffer_mapped(bh)) {
		err = c->iomap ? iomap_to_bh(c->inode, block, bh, c->iomap) :
				 buf_get_block(c->get_block, c->inode, block, bh, 1);
		if (err)
			return err;
		if (buffer_new(bh)) {
			if (folio_test_uptodate(c->folio)) {
				clear_buffer_new(bh);
				set_buffer_uptodate(bh);
				mark_buffer_dirty(bh);
			} else {
				zero_around_write(c, start, end);
			}
			return 0;
		}
	}
	if (folio_test_uptodate(c->folio)) {
		if (!buffer_uptodate(bh))
			set_buffer_uptodate(bh);
		return 0;
	}
	if (!buffer_uptodate(bh) && !buffer_delay(bh) && !buffer_unwritten(bh) &&
	    (start < c->from || end > c->to))
		return 1;
	return 0;
}

/* Wait for the reads begin started; -EIO if one failed. */
static int begin_wait(struct buffer_head **wait, unsigned int nr)
{
	int err = 0;

	while (nr--) {
		wait_on_buffer(wait[nr]);
		if (!buffer_uptodate(wait[nr]))
			err = -EIO;
	}
	return err;
}

/* Walk the ring, preparing the buffers [from, to) overlaps. */
static int begin_walk(const struct begin_ctx *c, struct buffer_head *head)
{
	struct buffer_head *bh = head, *wait[2];
	uint64_t block = folio_pos(c->folio) >> c->inode->i_blkbits;
	unsigned int nr_wait = 0;
	size_t start = 0;
	int ret = 0;

	do {
		if (start + bh->b_size <= c->from || start >= c->to) {
			if (folio_test_uptodate(c->folio) && !buffer_uptodate(bh))
				set_buffer_uptodate(bh);
		} else {
			ret = begin_block(c, bh, block, start);
			if (ret < 0)
				break;
			/* Only the first and last blocks of the write can be partial. */
			if (ret > 0 && nr_wait == ARRAY_SIZE(wait)) {
				ret = -EIO;
				break;
			}
			if (ret > 0) {
				bh_read_nowait(bh);
				wait[nr_wait++] = bh;
			}
			ret = 0;
		}
		start += bh->b_size;
		block++;
		bh = bh->b_this_page;
	} while (bh != head);
	/* Never leave reads in flight behind: the caller may free the ring on error. */
	if (nr_wait) {
		int err = begin_wait(wait, nr_wait);

		if (!ret)
			ret = err;
	}
	return ret;
}

int __block_write_begin_int(struct folio *folio, uint64_t pos, size_t len, get_block_t get_block,
			    const struct iomap *iomap)
{
	struct begin_ctx c = { .folio = folio, .get_block = get_block, .iomap = iomap };
	struct buffer_head *head;
	int err;

	if (!get_block && !iomap)
		return -EINVAL;
	if (pos < folio_pos(folio) || pos - folio_pos(folio) > folio_size(folio) ||
	    len > folio_size(folio) - (pos - folio_pos(folio)))
		return -EINVAL;
	c.inode = buf_folio_inode(folio);
	c.from = (size_t)(pos - folio_pos(folio));
	c.to = c.from + len;
	head = buf_folio_create(folio, 0);
	if (!head)
		return -ENOMEM;
	err = begin_walk(&c, head);
	if (err)
		buf_zero_new(folio, c.from, c.to);
	return err;
}

int block_write_begin(struct address_space *mapping, uint64_t pos, size_t len,
		      struct folio **foliop, get_block_t get_block)
{
	struct folio *folio;
	int err;

	*foliop = NULL;
	if (!get_block || (pos & (PAGE_SIZE - 1)) + len > PAGE_SIZE)
		return -EINVAL;
	err = filemap_get_folio(mapping, pos >> PAGE_SHIFT, FGP_WRITEBEGIN, &folio);
	if (err)
		return err;
	err = __block_write_begin_int(folio, pos, len, get_block, NULL);
	if (err) {
		folio_unlock(folio);
		folio_put(folio);
		return err;
	}
	*foliop = folio;
	return 0;
}

void buf_zero_new(struct folio *folio, size_t from, size_t to)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	size_t start = 0;

	if (!head)
		return;
	do {
		size_t end = start + bh->b_size;

		if (buffer_new(bh) && end > from && start < to) {
			if (!folio_test_uptodate(folio)) {
				folio_zero_range(folio, max(from, start),
						 min(to, end) - max(from, start));
				set_buffer_uptodate(bh);
			}
			clear_buffer_new(bh);
			mark_buffer_dirty(bh);
		}
		start = end;
		bh = bh->b_this_page;
	} while (bh != head);
}

void block_commit_write(struct folio *folio, size_t from, size_t to)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	bool partial = false;
	size_t start = 0;

	if (!head)
		return;
	do {
		size_t end = start + bh->b_size;

		if (end <= from || start >= to) {
			if (!buffer_uptodate(bh))
				partial = true;
		} else {
			set_buffer_uptodate(bh);
			mark_buffer_dirty(bh);
		}
		if (buffer_new(bh))
			clear_buffer_new(bh);
		start = end;
		bh = bh->b_this_page;
	} while (bh != head);
	/* A write that happened to fill every block spares the next reader a read_folio. */
	if (!partial)
		folio_mark_uptodate(folio);
}

size_t block_write_end(uint64_t pos, size_t len, size_t copied, struct folio *folio)
{
	size_t start = (size_t)(pos - folio_pos(folio));

	if (copied < len) {
		/*
		 * A partly copied block of a folio that is not uptodate holds
		 * neither the old data nor the new: count the copy as nothing
		 * and let the caller redo it.
		 */
		if (!folio_test_uptodate(folio))
			copied = 0;
		buf_zero_new(folio, start + copied, start + len);
	}
	block_commit_write(folio, start, start + copied);
	return copied;
}

size_t generic_write_end(struct address_space *mapping, uint64_t pos, size_t len, size_t copied,
			 struct folio *folio)
{
	struct inode *inode = mapping_host(mapping);

	copied = block_write_end(pos, len, copied, folio);
	/*
	 * Under the folio lock: writeback must not zero the new bytes as past
	 * EOF.  A copy that counts as nothing leaves the size alone (the
	 * kernel's would move it to @pos).
	 */
	if (copied && pos + copied > i_size_read(inode))
		i_size_write(inode, pos + copied);
	folio_unlock(folio);
	folio_put(folio);
	return copied;
}

/* ---- truncate_page ---------------------------------------------------- */

/* The buffer holding folio offset @off. */
static struct buffer_head *buffer_at(struct buffer_head *head, size_t off)
{
	struct buffer_head *bh = head;

	for (size_t pos = head->b_size; pos <= off; pos += head->b_size)
		bh = bh->b_this_page;
	return bh;
}

/*
 * Zero [from, from + length), the tail of @from's block, in the locked
 * folio, reading the block first if it holds data on disk.
 */
static int truncate_block(struct folio *folio, uint64_t from, size_t length, get_block_t get_block)
{
	struct inode *inode = buf_folio_inode(folio);
	struct buffer_head *head = buf_folio_create(folio, 0), *bh;
	size_t off = (size_t)(from - folio_pos(folio));
	int err;

	if (!head)
		return -ENOMEM;
	bh = buffer_at(head, off);
	if (!buffer_mapped(bh)) {
		err = buf_get_block(get_block, inode, from >> inode->i_blkbits, bh, 0);
		if (err)
			return err;
		if (!buffer_mapped(bh))
			return 0; /* a hole: nothing on disk to zero */
	}
	if (folio_test_uptodate(folio))
		set_buffer_uptodate(bh);
	if (!buffer_uptodate(bh) && !buffer_delay(bh) && !buffer_unwritten(bh)) {
		err = bh_read(bh);
		if (err < 0)
			return err;
	}
	folio_zero_range(folio, off, length);
	mark_buffer_dirty(bh);
	return 0;
}

int block_truncate_page(struct address_space *mapping, uint64_t from, get_block_t get_block)
{
	struct inode *inode = mapping_host(mapping);
	size_t bs = i_blocksize(inode), length = (size_t)(from & (bs - 1));
	struct folio *folio;
	int err;

	if (!length)
		return 0;
	err = filemap_get_folio(mapping, from >> PAGE_SHIFT, FGP_WRITEBEGIN, &folio);
	if (err)
		return err;
	err = truncate_block(folio, from, bs - length, get_block);
	folio_unlock(folio);
	folio_put(folio);
	return err;
}
