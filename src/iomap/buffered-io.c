/* SPDX-License-Identifier: MIT */
/*
 * Buffered I/O through iomap: reads that fill folios from extents, writes
 * that copy into folios, zeroing, and the address_space helpers.
 *
 * Lock order: i_rwsem (filesystem, outside us) -> folio lock -> the
 * filesystem's mapping lock (only inside ->begin/->end, which are never
 * called with a folio locked).  Per-folio state is in folio-state.c.
 */
#include <errno.h>
#include <string.h>

#include "iomap/bdev.h"
#include "iomap/buffer_head.h"
#include "iomap/buffered-io.h"
#include "iomap/inode.h"
#include "iomap/internal.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "iomap/uio.h"
#include "lib/compiler.h"

/* Largest file position plus one that iomap accepts (loff_t range). */
#define IOMAP_MAX_BYTES ((uint64_t)INT64_MAX)

static size_t offset_in_folio(const struct folio *folio, uint64_t pos)
{
	return (size_t)(pos - folio_pos(folio));
}

/*
 * Blocks that read as zeroes without I/O: anything not MAPPED, freshly
 * allocated blocks, and blocks at or past EOF.
 */
static bool block_needs_zeroing(const struct iomap_iter *iter, uint64_t pos)
{
	const struct iomap *srcmap = iomap_iter_srcmap(iter);

	return srcmap->type != IOMAP_MAPPED || (srcmap->flags & IOMAP_F_NEW) ||
	       pos >= i_size_read(iter->inode);
}

/*
 * Narrow [*pos, *pos + length) inside @folio to the first run of blocks
 * that are not uptodate: skip uptodate blocks at the start (moving *pos),
 * stop at the next uptodate block, and cut off blocks wholly past EOF from a
 * run that starts before it, so those are zeroed on their own.  Returns the
 * run as a folio offset and length; length 0 when everything is uptodate.
 */
static void adjust_read_range(struct inode *inode, struct folio *folio, uint64_t *pos,
			      uint64_t length, size_t *offp, size_t *lenp)
{
	struct iomap_folio_state *ifs = folio_ifs(folio);
	unsigned int bits = inode->i_blkbits;
	size_t bs = (size_t)1 << bits;
	uint64_t fpos = folio_pos(folio), isize = i_size_read(inode);
	size_t poff = round_down_pow2(offset_in_folio(folio, *pos), bs);
	size_t end = min(round_up_pow2(offset_in_folio(folio, *pos) + length, bs), folio_size(folio));
	size_t plen = end - poff;
	unsigned int first = (unsigned int)(poff >> bits), last = (unsigned int)((end - 1) >> bits);

	if (ifs) {
		for (; first <= last && ifs_block_is_uptodate(ifs, first); first++) {
			poff += bs;
			plen -= bs;
		}
		for (unsigned int i = first; i <= last; i++) {
			if (ifs_block_is_uptodate(ifs, i)) {
				plen -= (size_t)(last - i + 1) << bits;
				last = i - 1;
				break;
			}
		}
	}
	if (plen && fpos + poff < isize && fpos + poff + plen > isize) {
		unsigned int eof_block = (unsigned int)((isize - 1 - fpos) >> bits);

		if (first <= eof_block && last > eof_block)
			plen -= (size_t)(last - eof_block) << bits;
	}
	*pos = fpos + poff;
	*offp = poff;
	*lenp = plen;
}

/*
 * Copy INLINE data into a folio that is not uptodate and zero the rest of
 * it.  The inline extent must lie in this folio; data past it up to i_size
 * would have nowhere to come from.
 */
static int read_inline_data(const struct iomap_iter *iter, struct folio *folio)
{
	const struct iomap *iomap = iomap_iter_srcmap(iter);
	uint64_t isize = i_size_read(iter->inode);
	size_t offset = offset_in_folio(folio, iomap->offset);
	size_t size = isize > iomap->offset ? (size_t)(isize - iomap->offset) : 0;

	if (folio_test_uptodate(folio))
		return 0;
	if (iomap->offset < folio_pos(folio) || size > iomap->length ||
	    size > folio_size(folio) - offset)
		return -EIO;
	if (offset && !ifs_alloc(iter->inode, folio))
		return -ENOMEM;
	memcpy(folio_address(folio, offset), iomap_inline_data(iomap, iomap->offset), size);
	folio_zero_range(folio, offset + size, folio_size(folio) - offset - size);
	ifs_set_range_uptodate(iter->inode, folio, offset, folio_size(folio) - offset);
	iomap_count(inline_reads, 1);
	return 0;
}

/* ---- reads ---------------------------------------------------------- */

/*
 * State of one read_folio or readahead call.  cur_folio is locked for the
 * whole time it is being walked; with per-folio state it carries a pending
 * bias of its size, dropped in read_folio_done() less what went to bios.
 */
struct read_ctx {
	struct folio *cur_folio;
	size_t cur_submitted; /* bytes of cur_folio handed to bios */
	struct bio *bio;
	struct readahead_control *rac;
	int error; /* first setup error of the current folio */
};

static void read_end_io(struct bio *bio)
{
	for (unsigned int i = 0; i < bio->bi_vcnt; i++) {
		struct folio *folio = bio->bi_owner[i];
		size_t off = (size_t)((char *)bio->bi_iov[i].iov_base - (char *)folio->data);

		iomap_finish_folio_read(folio, off, bio->bi_iov[i].iov_len, bio->bi_status);
	}
	bio_put(bio);
}

static void read_submit(struct read_ctx *ctx)
{
	if (!ctx->bio)
		return;
	iomap_count(read_bios, 1);
	bio_submit(ctx->bio);
	ctx->bio = NULL;
}

static int read_folio_start(struct read_ctx *ctx, struct inode *inode, struct folio *folio)
{
	ctx->cur_folio = folio;
	ctx->cur_submitted = 0;
	if (ifs_blocks_per_folio(inode, folio) > 1) {
		if (!ifs_alloc(inode, folio))
			return -ENOMEM;
		ifs_read_start(folio, folio_size(folio));
	}
	return 0;
}

/*
 * The walk of the current folio is over: drop the bias.  Without per-folio
 * state a folio that went to a bio is finished by its completion; one that
 * did not is finished here, uptodate if the walk filled it.
 */
static void read_folio_done(struct read_ctx *ctx)
{
	struct folio *folio = ctx->cur_folio;

	if (!folio)
		return;
	ctx->cur_folio = NULL;
	if (folio_ifs(folio))
		ifs_read_finish_bias(folio, folio_size(folio) - ctx->cur_submitted);
	else if (!ctx->cur_submitted)
		folio_end_read(folio, folio_test_uptodate(folio));
}

static int read_add_to_bio(const struct iomap_iter *iter, struct read_ctx *ctx, uint64_t pos,
			   size_t poff, size_t plen)
{
	const struct iomap *iomap = &iter->iomap;
	struct folio *folio = ctx->cur_folio;
	uint64_t sector = iomap_sector(iomap, pos);
	void *addr = folio_address(folio, poff);

	if (ctx->bio && (ctx->bio->bi_bdev != iomap->bdev || bio_end_sector(ctx->bio) != sector ||
			 !bio_add(ctx->bio, addr, (uint32_t)plen, folio)))
		read_submit(ctx);
	if (!ctx->bio) {
		uint64_t left = ctx->rac ? readahead_length(ctx->rac) + folio_size(folio) : plen;
		unsigned int nr = (unsigned int)min((uint64_t)BIO_MAX_VECS,
						    div_round_up(left, PAGE_SIZE));

		ctx->bio = bio_alloc(iomap->bdev, nr, BIO_OP_READ, 0);
		if (!ctx->bio)
			return -ENOMEM;
		ctx->bio->bi_sector = sector;
		ctx->bio->bi_end_io = read_end_io;
		if (!bio_add(ctx->bio, addr, (uint32_t)plen, folio))
			return -EIO;
	}
	ctx->cur_submitted += plen;
	return 0;
}

/* Fill the part of the current folio that the current mapping covers. */
static int read_folio_range(struct iomap_iter *iter, struct read_ctx *ctx)
{
	struct folio *folio = ctx->cur_folio;
	uint64_t pos = iter->pos;
	uint64_t length = min(iomap_length(iter), folio_pos(folio) + folio_size(folio) - pos);
	size_t poff, plen;
	int ret;

	if (iter->iomap.type == IOMAP_INLINE) {
		ret = read_inline_data(iter, folio);
		return ret ? ret : iomap_iter_advance(iter, length);
	}
	/* E.g. the rest of a folio that INLINE data already filled. */
	if (folio_test_uptodate(folio))
		return iomap_iter_advance(iter, length);
	adjust_read_range(iter->inode, folio, &pos, length, &poff, &plen);
	if (plen && block_needs_zeroing(iter, pos)) {
		folio_zero_range(folio, poff, plen);
		ifs_set_range_uptodate(iter->inode, folio, poff, plen);
		iomap_count(bytes_zeroed, plen);
	} else if (plen) {
		if (!folio_ifs(folio) && plen != folio_size(folio))
			return -EIO; /* a mapping that splits a one-block folio */
		ret = read_add_to_bio(iter, ctx, pos, poff, plen);
		if (ret)
			return ret;
	}
	return iomap_iter_advance(iter, pos + plen - iter->pos);
}

static int read_folio_iter(struct iomap_iter *iter, struct read_ctx *ctx)
{
	int ret = 0;

	while (!ret && iomap_length(iter))
		ret = read_folio_range(iter, ctx);
	return ret;
}

int iomap_read_folio(struct folio *folio, const struct iomap_ops *ops)
{
	struct inode *inode = folio_inode(folio);
	struct iomap_iter iter = {
		.inode = inode,
		.pos = folio_pos(folio),
		.len = folio_size(folio),
	};
	struct read_ctx ctx = { 0 };
	int ret;

	ret = read_folio_start(&ctx, inode, folio);
	if (ret) {
		folio_end_read(folio, false);
		return ret;
	}
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = read_folio_iter(&iter, &ctx);
	read_submit(&ctx);
	read_folio_done(&ctx);
	return ret;
}

static int readahead_iter(struct iomap_iter *iter, struct read_ctx *ctx)
{
	int ret;

	while (iomap_length(iter)) {
		if (ctx->cur_folio &&
		    iter->pos >= folio_pos(ctx->cur_folio) + folio_size(ctx->cur_folio))
			read_folio_done(ctx);
		if (!ctx->cur_folio) {
			struct folio *folio = readahead_folio(ctx->rac);

			if (!folio)
				return -EIO;
			ret = read_folio_start(ctx, iter->inode, folio);
			if (ret) {
				ctx->cur_folio = NULL;
				folio_end_read(folio, false);
				return ret;
			}
		}
		ret = read_folio_range(iter, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

void iomap_readahead(struct readahead_control *rac, const struct iomap_ops *ops)
{
	struct inode *inode = mapping_host(rac->mapping);
	struct iomap_iter iter = {
		.inode = inode,
		.pos = readahead_pos(rac),
		.len = readahead_length(rac),
	};
	struct read_ctx ctx = { .rac = rac };

	while (iomap_iter(&iter, ops) > 0)
		iter.status = readahead_iter(&iter, &ctx);
	read_submit(&ctx);
	read_folio_done(&ctx);
}

/* ---- writes ---------------------------------------------------------- */

int iomap_get_folio(struct iomap_iter *iter, uint64_t pos, size_t len, struct folio **foliop)
{
	unsigned int fgp = FGP_WRITEBEGIN;

	if (iter->flags & IOMAP_NOWAIT)
		fgp |= FGP_NOWAIT;
	return filemap_get_folio(iter->inode->i_mapping, pos >> PAGE_SHIFT, fgp, foliop);
}

/* Hand a folio of a write back: the filesystem's hook, or unlock + put. */
static void write_put_folio(struct iomap_iter *iter, uint64_t pos, size_t copied,
			    struct folio *folio)
{
	const struct iomap_folio_ops *fops = iter->iomap.folio_ops;

	iomap_count(put_folio_calls, 1);
	if (fops && fops->put_folio) {
		fops->put_folio(iter->inode, pos, copied, folio);
	} else {
		folio_unlock(folio);
		folio_put(folio);
	}
}

/*
 * Synchronous read of [poff, poff + plen) of a locked folio from @srcmap,
 * for the partial blocks around a write.
 */
static int read_folio_sync(const struct iomap *srcmap, struct folio *folio, uint64_t pos,
			   size_t poff, size_t plen)
{
	struct bio *bio = bio_alloc(srcmap->bdev, 1, BIO_OP_READ, 0);
	int ret;

	if (!bio)
		return -ENOMEM;
	bio->bi_sector = iomap_sector(srcmap, pos);
	if (!bio_add(bio, folio_address(folio, poff), (uint32_t)plen, folio)) {
		bio_put(bio);
		return -EIO;
	}
	iomap_count(rmw_reads, 1);
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

/*
 * Make the blocks of a folio that [pos, pos + len) touches only partly
 * valid before the copy: read them, or zero what the write will not cover
 * when they read as zeroes.  Blocks the write covers in full are left for
 * the copy.
 *
 * Zeroed blocks are not marked uptodate here: the bytes the copy will fill
 * still hold old memory, and a reader that does not hold i_rwsem must not
 * see them.  write_end marks them once the copy is in.
 */
static int write_begin_blocks(struct iomap_iter *iter, uint64_t pos, size_t len,
			      struct folio *folio)
{
	struct inode *inode = iter->inode;
	size_t bs = i_blocksize(inode);
	uint64_t block_start = round_down_pow2(pos, bs);
	uint64_t block_end = round_up_pow2(pos + len, bs);
	size_t from = offset_in_folio(folio, pos), to = from + len;
	size_t poff, plen;
	int ret;

	if (!(iter->flags & IOMAP_UNSHARE) && from == 0 && to == folio_size(folio))
		return 0;
	if (ifs_blocks_per_folio(inode, folio) > 1 && !ifs_alloc(inode, folio))
		return (iter->flags & IOMAP_NOWAIT) ? -EAGAIN : -ENOMEM;
	if (folio_test_uptodate(folio))
		return 0;

	do {
		adjust_read_range(inode, folio, &block_start, block_end - block_start, &poff,
				  &plen);
		if (!plen)
			break;
		if (!(iter->flags & IOMAP_UNSHARE) && (from <= poff || from >= poff + plen) &&
		    (to <= poff || to >= poff + plen))
			continue;
		if (block_needs_zeroing(iter, block_start)) {
			if (iter->flags & IOMAP_UNSHARE)
				return -EIO;
			if (from > poff)
				folio_zero_range(folio, poff, from - poff);
			if (to < poff + plen)
				folio_zero_range(folio, to, poff + plen - to);
			iomap_count(bytes_zeroed, plen - (min(to, poff + plen) - max(from, poff)));
		} else {
			if (iter->flags & IOMAP_NOWAIT)
				return -EAGAIN;
			ret = read_folio_sync(iomap_iter_srcmap(iter), folio, block_start, poff,
					      plen);
			if (ret)
				return ret;
			ifs_set_range_uptodate(inode, folio, poff, plen);
		}
	} while ((block_start += plen) < block_end);
	return 0;
}

static int write_begin_inline(const struct iomap_iter *iter, struct folio *folio)
{
	if (iomap_iter_srcmap(iter)->offset != 0)
		return -EIO; /* only an inline extent at the start of the file */
	return read_inline_data(iter, folio);
}

/* Drop folios a failed write instantiated past EOF, so none lingers there. */
static void write_failed(struct inode *inode, uint64_t pos, size_t len)
{
	uint64_t isize = i_size_read(inode);

	if (pos + len > isize)
		truncate_pagecache_range(inode, max(pos, isize), pos + len - 1);
}

/*
 * Get the folio for [pos, pos + *len) and prepare it for the copy.
 * Returns 0 with *foliop set and *len clamped to the folio, or 0 with
 * *foliop NULL when the mapping went stale (IOMAP_F_STALE is set), or a
 * negative errno.
 */
static int write_begin(struct iomap_iter *iter, uint64_t pos, size_t *len, struct folio **foliop)
{
	const struct iomap_folio_ops *fops = iter->iomap.folio_ops;
	const struct iomap *srcmap = iomap_iter_srcmap(iter);
	struct folio *folio;
	int ret;

	*foliop = NULL;
	iomap_count(get_folio_calls, 1);
	if (fops && fops->get_folio)
		ret = fops->get_folio(iter, pos, *len, &folio);
	else
		ret = iomap_get_folio(iter, pos, *len, &folio);
	if (ret)
		return ret;

	/* The folio lock holds off writeback, which may change the extents. */
	if (fops && fops->iomap_valid) {
		iomap_count(iomap_valid_calls, 1);
		if (!fops->iomap_valid(iter->inode, &iter->iomap)) {
			iter->iomap.flags |= IOMAP_F_STALE;
			write_put_folio(iter, pos, 0, folio);
			return 0;
		}
	}
	if (pos + *len > folio_pos(folio) + folio_size(folio))
		*len = (size_t)(folio_pos(folio) + folio_size(folio) - pos);

	if (srcmap->type == IOMAP_INLINE)
		ret = write_begin_inline(iter, folio);
	else if (unlikely(srcmap->flags & IOMAP_F_BUFFER_HEAD))
		ret = __block_write_begin_int(folio, pos, *len, NULL, srcmap);
	else
		ret = write_begin_blocks(iter, pos, *len, folio);
	if (ret) {
		write_put_folio(iter, pos, 0, folio);
		write_failed(iter->inode, pos, *len);
		return ret;
	}
	*foliop = folio;
	return 0;
}

static void write_end_inline(const struct iomap_iter *iter, struct folio *folio, uint64_t pos,
			     size_t copied)
{
	const struct iomap *iomap = &iter->iomap;

	memcpy(iomap_inline_data(iomap, pos), folio_address(folio, offset_in_folio(folio, pos)),
	       copied);
	iomap_count(inline_writes, 1);
}

/*
 * Commit @copied of @len bytes copied into the folio at @pos.  Returns the
 * bytes that count as written: a short copy into a folio that is not
 * uptodate counts as none, since its partial blocks hold neither the old nor
 * the new data and a later read could not tell.
 */
static size_t write_end(struct iomap_iter *iter, uint64_t pos, size_t len, size_t copied,
			struct folio *folio)
{
	const struct iomap *srcmap = iomap_iter_srcmap(iter);
	size_t off = offset_in_folio(folio, pos);

	if (srcmap->type == IOMAP_INLINE) {
		write_end_inline(iter, folio, pos, copied);
		return copied;
	}
	/* folio->private holds buffer heads here, not iomap's state. */
	if (unlikely(srcmap->flags & IOMAP_F_BUFFER_HEAD))
		return block_write_end(pos, len, copied, folio);
	if (copied < len && !folio_test_uptodate(folio))
		return 0;
	ifs_set_range_uptodate(iter->inode, folio, off, len);
	if (copied) {
		ifs_set_range_dirty(iter->inode, folio, off, copied);
		folio_mark_dirty(folio);
	}
	return copied;
}

/*
 * Bytes to copy next: up to the end of the folio-sized chunk, the mapping
 * and what the source can supply now (what faulting in the user buffer
 * would find), so that each attempt can make progress even when a stale
 * mapping throws away a retry.  Returns 0 and sets -EFAULT in *err if the
 * source cannot supply a single byte.
 */
static size_t write_chunk_bytes(const struct iomap_iter *iter, const struct io_iter *from,
				size_t chunk, int *err)
{
	size_t offset = (size_t)(iter->pos & (chunk - 1));
	size_t bytes = min(chunk - offset, min((size_t)iomap_length(iter), from->count));

	*err = 0;
	if (from->readable && bytes) {
		bytes = min(bytes, from->readable(from, bytes, from->readable_arg));
		if (!bytes)
			*err = -EFAULT;
	}
	return bytes;
}

/* Grow i_size over a write that ended past it; the folio is still locked. */
static void write_update_size(struct iomap_iter *iter, uint64_t end)
{
	if (end > i_size_read(iter->inode)) {
		i_size_write(iter->inode, end);
		iter->iomap.flags |= IOMAP_F_SIZE_CHANGED;
	}
}

/*
 * @retry_bytes: after a short copy, the bytes the next attempt copies (what
 * the source could supply).  It outlives the mapping so that a stale remap
 * between a short copy and its retry does not throw the progress away.
 */
static int write_iter(struct iomap_iter *iter, struct io_iter *from, size_t *retry_bytes)
{
	size_t chunk = PAGE_SIZE;
	int ret;

	while (iomap_length(iter) && from->count) {
		uint64_t pos = iter->pos;
		struct folio *folio;
		size_t bytes, copied, written;

		if (*retry_bytes)
			bytes = min(*retry_bytes, (size_t)iomap_length(iter));
		else
			bytes = write_chunk_bytes(iter, from, chunk, &ret);
		if (!bytes)
			return ret;
		ret = write_begin(iter, pos, &bytes, &folio);
		if (ret)
			return ret;
		if (!folio)
			return 0; /* stale: remap the rest */

		copied = io_iter_copy_from(from, folio_address(folio, offset_in_folio(folio, pos)),
					   bytes);
		written = write_end(iter, pos, bytes, copied, folio);
		write_update_size(iter, pos + written);
		write_put_folio(iter, pos, written, folio);
		/* No folio held: the writer may write back or wait here. */
		balance_dirty_pages_ratelimited(iter->inode->i_mapping);

		if (written < bytes)
			iomap_count(short_copies, 1);
		if (!written) {
			write_failed(iter->inode, pos, bytes);
			io_iter_revert(from, copied);
			if (!copied)
				return -EFAULT;
			*retry_bytes = copied;
			continue;
		}
		*retry_bytes = 0;
		ret = iomap_iter_advance(iter, written);
		if (ret)
			return ret;
	}
	return 0;
}

int64_t iomap_file_buffered_write(struct inode *inode, uint64_t pos, struct io_iter *from,
				  const struct iomap_ops *ops, void *private)
{
	struct iomap_iter iter = {
		.inode = inode,
		.pos = pos,
		.len = from->count,
		.flags = IOMAP_WRITE,
		.private = private,
	};
	size_t retry_bytes = 0;
	int ret;

	if (!inode || !ops || !ops->begin)
		return -EINVAL;
	if (pos > IOMAP_MAX_BYTES || from->count > IOMAP_MAX_BYTES - pos)
		return -EFBIG;
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = write_iter(&iter, from, &retry_bytes);
	if (iter.pos == pos)
		return ret;
	return (int64_t)(iter.pos - pos);
}

/* ---- zeroing -------------------------------------------------------- */

/*
 * Over a hole or an unwritten extent the file already reads as zeroes,
 * except where the page cache holds newer data (written but not yet
 * converted): zero those cached bytes in place.
 */
static int zero_cached_range(struct iomap_iter *iter)
{
	struct address_space *mapping = iter->inode->i_mapping;
	uint64_t length = iomap_length(iter), pos = iter->pos;
	uint64_t index = pos >> PAGE_SHIFT, last = (pos + length - 1) >> PAGE_SHIFT;
	struct folio *batch[16];
	unsigned int n;

	while ((n = filemap_get_folios(mapping, &index, last, batch, ARRAY_SIZE(batch)))) {
		for (unsigned int i = 0; i < n; i++) {
			struct folio *folio = batch[i];
			uint64_t start = max(pos, folio_pos(folio));
			uint64_t end = min(pos + length, folio_pos(folio) + folio_size(folio));

			folio_lock(folio);
			if (folio->mapping == mapping)
				folio_zero_range(folio, offset_in_folio(folio, start),
						 (size_t)(end - start));
			folio_unlock(folio);
			folio_put(folio);
		}
	}
	return iomap_iter_advance(iter, length);
}

static int zero_iter(struct iomap_iter *iter, bool *did_zero)
{
	const struct iomap *srcmap = iomap_iter_srcmap(iter);
	int ret;

	if (srcmap->type == IOMAP_HOLE || srcmap->type == IOMAP_UNWRITTEN)
		return zero_cached_range(iter);

	while (iomap_length(iter)) {
		uint64_t pos = iter->pos;
		size_t bytes = min((size_t)iomap_length(iter), PAGE_SIZE - (size_t)(pos & (PAGE_SIZE - 1)));
		struct folio *folio;

		ret = write_begin(iter, pos, &bytes, &folio);
		if (ret)
			return ret;
		if (!folio)
			return 0;
		folio_zero_range(folio, offset_in_folio(folio, pos), bytes);
		write_end(iter, pos, bytes, bytes, folio);
		write_put_folio(iter, pos, bytes, folio);
		if (did_zero)
			*did_zero = true;
		ret = iomap_iter_advance(iter, bytes);
		if (ret)
			return ret;
	}
	return 0;
}

int iomap_zero_range(struct inode *inode, uint64_t pos, uint64_t len, bool *did_zero,
		     const struct iomap_ops *ops)
{
	struct iomap_iter iter = {
		.inode = inode,
		.pos = pos,
		.len = len,
		.flags = IOMAP_ZERO,
	};
	int ret;

	if (!inode || !ops || !ops->begin)
		return -EINVAL;
	if (pos > IOMAP_MAX_BYTES || len > IOMAP_MAX_BYTES - pos)
		return -EFBIG;
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = zero_iter(&iter, did_zero);
	return ret;
}

int iomap_truncate_page(struct inode *inode, uint64_t pos, bool *did_zero,
			const struct iomap_ops *ops)
{
	unsigned int bs;
	unsigned int off;

	if (!inode)
		return -EINVAL;
	bs = i_blocksize(inode);
	off = (unsigned int)(pos & (bs - 1));
	if (!off)
		return 0;
	return iomap_zero_range(inode, pos, bs - off, did_zero, ops);
}

/* ---- address_space helpers ------------------------------------------ */

bool iomap_release_folio(struct folio *folio)
{
	if (folio_test_dirty(folio) || folio_test_writeback(folio))
		return false;
	ifs_free(folio);
	return true;
}

void iomap_invalidate_folio(struct folio *folio, size_t offset, size_t len)
{
	if (offset == 0 && len == folio_size(folio)) {
		folio_cancel_dirty(folio);
		ifs_free(folio);
	}
}

bool iomap_is_partially_uptodate(struct folio *folio, size_t from, size_t count)
{
	if (!folio_ifs(folio) || from >= folio_size(folio) || !count)
		return false;
	count = min(count, folio_size(folio) - from);
	return ifs_range_is_uptodate(folio_inode(folio), folio, from, count);
}

bool iomap_dirty_folio(struct folio *folio)
{
	struct inode *inode = folio_inode(folio);

	if (ifs_blocks_per_folio(inode, folio) > 1) {
		if (!ifs_alloc(inode, folio))
			return false;
		ifs_set_range_dirty(inode, folio, 0, folio_size(folio));
	}
	return folio_mark_dirty(folio);
}
