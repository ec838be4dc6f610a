/* SPDX-License-Identifier: MIT */
/*
 * The mapping interface between a filesystem and the I/O layer.
 *
 * The filesystem describes a file one extent at a time: ->begin maps as
 * much of a requested range as one extent allows, the I/O layer does its
 * work over that extent (many folios, many blocks), then ->end is told how
 * many bytes were actually done.  The filesystem is never asked per page or
 * per block.
 *
 * Locking levels (as in the kernel's iomap design):
 *  - upper: i_rwsem / invalidate_lock, taken by the filesystem around the
 *    whole operation;
 *  - lower: the filesystem's own mapping lock, taken only inside ->begin and
 *    ->end, never held while the I/O layer works on folios;
 *  - operation: the folio lock and per-folio state, iomap's own.
 * Because the mapping lock is dropped between ->begin and the folio work,
 * a filesystem whose extents can change under a write (writeback allocating
 * delalloc blocks, unwritten conversion) provides ->iomap_valid in its folio
 * ops and a validity_cookie in each mapping.
 */
#ifndef IOMAP_IOMAP_H
#define IOMAP_IOMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bdev;
struct folio;
struct inode;
struct iomap_iter;

#define IOMAP_NULL_ADDR UINT64_MAX

/* Mapping types: what backs the extent. */
enum iomap_type {
	IOMAP_HOLE = 0, /* no storage; reads as zeroes, never returned for writes */
	IOMAP_DELALLOC = 1, /* space reserved, no address until writeback */
	IOMAP_MAPPED = 2, /* blocks at addr */
	IOMAP_UNWRITTEN = 3, /* blocks at addr that read as zeroes */
	IOMAP_INLINE = 4, /* data in inline_data memory (e.g. inside the inode) */
};

/*
 * Mapping flags set by the filesystem in ->begin.
 * NEW: freshly allocated; what the write does not cover must be zeroed, and
 *   a failed write must give the space back in ->end.
 * DIRTY: metadata needed to reach the data is not yet on disk (fdatasync
 *   must commit it).
 * SHARED: blocks shared with another file; writes must copy on write.
 * MERGED: several on-disk mappings reported as one (fiemap).
 * BUFFER_HEAD: do the page cache work of this mapping through buffer heads.
 * XATTR: the extent holds extended attributes (fiemap).
 * BOUNDARY: I/O of this mapping must not merge with the mapping before it.
 * PRIVATE: bits from here up are the filesystem's own.
 */
#define IOMAP_F_NEW (1U << 0)
#define IOMAP_F_DIRTY (1U << 1)
#define IOMAP_F_SHARED (1U << 2)
#define IOMAP_F_MERGED (1U << 3)
#define IOMAP_F_BUFFER_HEAD (1U << 4)
#define IOMAP_F_XATTR (1U << 5)
#define IOMAP_F_BOUNDARY (1U << 6)
#define IOMAP_F_PRIVATE (1U << 12)

/*
 * Mapping flags set by iomap.
 * SIZE_CHANGED: a buffered write grew i_size inside this mapping; ->end may
 *   record the new size.
 * STALE: ->iomap_valid said the mapping changed under the write; iomap
 *   calls ->end and then ->begin again for what is left of the range.
 */
#define IOMAP_F_SIZE_CHANGED (1U << 14)
#define IOMAP_F_STALE (1U << 15)

/* Operation flags passed to ->begin and ->end.  None set means read. */
#define IOMAP_WRITE (1U << 0) /* the filesystem must return storage, not a hole */
#define IOMAP_ZERO (1U << 1) /* zero_range / truncate_page */
#define IOMAP_REPORT (1U << 2) /* fiemap, seek: report only; -ENOENT past EOF ends fiemap */
#define IOMAP_FAULT (1U << 3) /* page fault on a shared writable mapping */
#define IOMAP_DIRECT (1U << 4) /* direct I/O */
#define IOMAP_NOWAIT (1U << 5) /* do not block: -EAGAIN instead */
#define IOMAP_OVERWRITE_ONLY (1U << 6) /* only pure overwrites, else -EAGAIN */
#define IOMAP_UNSHARE (1U << 7) /* unshare: read old data even for whole folios */

struct iomap_folio_ops;

struct iomap {
	uint64_t addr; /* device byte address of offset; IOMAP_NULL_ADDR if none */
	uint64_t offset; /* file offset of the extent, <= the position asked */
	uint64_t length; /* bytes, > 0, covering at least the position asked */
	uint16_t type; /* enum iomap_type */
	uint16_t flags; /* IOMAP_F_* */
	struct bdev *bdev; /* for MAPPED and UNWRITTEN */
	/*
	 * INLINE: the data of file offset @offset.  Must stay valid (and the
	 * memory it lives in referenced) until ->end; writes copy into it.
	 */
	void *inline_data;
	void *private; /* the filesystem's, handed back to ->end */
	const struct iomap_folio_ops *folio_ops; /* optional, buffered writes */
	uint64_t validity_cookie; /* the filesystem's, for ->iomap_valid */
};

/* Device sector of file position @pos inside a MAPPED / UNWRITTEN extent. */
static inline uint64_t iomap_sector(const struct iomap *iomap, uint64_t pos)
{
	return (iomap->addr + pos - iomap->offset) >> 9;
}

/* Memory of file position @pos inside an INLINE extent. */
static inline void *iomap_inline_data(const struct iomap *iomap, uint64_t pos)
{
	return (char *)iomap->inline_data + (pos - iomap->offset);
}

struct iomap_ops {
	/*
	 * Required.  Map [pos, pos + length) as far as one extent allows, into
	 * @iomap.  Fill @srcmap only when existing data must be read from
	 * somewhere else than @iomap (copy on write); leave it as a HOLE
	 * otherwise.  With IOMAP_WRITE, reserve or allocate space: never return
	 * a HOLE.  Called without iomap locks; the filesystem takes and drops
	 * its mapping lock inside.  Returns 0 or a negative errno.
	 */
	int (*begin)(struct inode *inode, uint64_t pos, uint64_t length, unsigned int flags,
		     struct iomap *iomap, struct iomap *srcmap);
	/*
	 * Optional.  Ends the mapping returned by ->begin.  @written bytes from
	 * @pos were done (0 is possible: failure, short copy, stale mapping);
	 * the filesystem commits those and releases the reservation of the
	 * rest.  @pos is where the mapping was asked for and @length the part
	 * of the asked range it covered; a mapping the filesystem allocated may
	 * start before @pos and end past @pos + @length, so what to release is
	 * computed from @iomap's offset and length.  @flags are those given to
	 * ->begin.  Returns 0
	 * or a negative errno, which the caller sees only if nothing was done.
	 */
	int (*end)(struct inode *inode, uint64_t pos, uint64_t length, int64_t written,
		   unsigned int flags, struct iomap *iomap);
};

/*
 * The iterator.  Use:
 *
 *	struct iomap_iter iter = { .inode = inode, .pos = pos, .len = len,
 *				   .flags = IOMAP_WRITE };
 *	while ((ret = iomap_iter(&iter, ops)) > 0)
 *		iter.status = do_one_extent(&iter);   // advances the iterator
 *
 * Each call ends the previous mapping (->end with the bytes the body
 * advanced over), then maps the rest of the range with ->begin.  The body
 * calls iomap_iter_advance() for the bytes it did and leaves a negative
 * errno in @status on failure.  The loop ends with 0 when the range is done
 * or the body made no progress, and with the first error otherwise.
 * A mapping marked IOMAP_F_STALE by the body is ended and the rest of the
 * range is mapped again even if nothing was done.
 */
struct iomap_iter {
	struct inode *inode;
	uint64_t pos; /* current position; advanced by iomap_iter_advance() */
	uint64_t len; /* bytes left */
	int status; /* body result: 0 or negative errno */
	unsigned int flags; /* IOMAP_* operation flags */
	struct iomap iomap;
	struct iomap srcmap;
	void *private; /* the caller's */
	/* Internal: position at which the current mapping was obtained. */
	uint64_t _iter_start_pos;
};

int iomap_iter(struct iomap_iter *iter, const struct iomap_ops *ops);

/*
 * Move the iterator on by @count bytes done over the current mapping.
 * Returns 0, or -EIO if @count goes past the mapping or the range.
 */
int iomap_iter_advance(struct iomap_iter *iter, uint64_t count);

/* Bytes left in both the range and the current mapping (and srcmap). */
uint64_t iomap_length(const struct iomap_iter *iter);

/* Where existing data comes from: srcmap if it is set, else iomap. */
static inline const struct iomap *iomap_iter_srcmap(const struct iomap_iter *iter)
{
	return iter->srcmap.type != IOMAP_HOLE ? &iter->srcmap : &iter->iomap;
}

/*
 * Per-folio hooks around a buffered write, for filesystems that must act on
 * each folio: journaled data opens a transaction in ->get_folio and adds the
 * written range to it in ->put_folio, so that no transaction is held across
 * the whole write (a write may wait for memory, and freeing memory may need
 * the journal).
 */
struct iomap_folio_ops {
	/*
	 * Optional (default iomap_get_folio()).  Return in @foliop a locked,
	 * referenced folio of iter->inode for the write of [pos, pos + len).
	 * Called with no iomap locks held, once per folio of the write.
	 * Returns 0 or a negative errno; on error nothing is held and
	 * ->put_folio is not called.
	 */
	int (*get_folio)(struct iomap_iter *iter, uint64_t pos, size_t len, struct folio **foliop);
	/*
	 * Optional.  Called once for every folio ->get_folio returned, after
	 * the copy: @copied bytes from @pos were written into the folio and
	 * marked dirty (0 when the write failed or the copy was short).  Must
	 * unlock and put the folio.  Without this hook iomap unlocks and puts.
	 */
	void (*put_folio)(struct inode *inode, uint64_t pos, size_t copied, struct folio *folio);
	/*
	 * Optional.  Called with the folio locked: is @iomap still what the
	 * filesystem would map now (compare validity_cookie with a sequence
	 * number)?  false makes iomap drop the folio, mark the mapping
	 * IOMAP_F_STALE and ask ->begin again for the rest of the write.
	 */
	bool (*iomap_valid)(struct inode *inode, const struct iomap *iomap);
};

/* The default ->get_folio: filemap_get_folio(FGP_WRITEBEGIN). */
int iomap_get_folio(struct iomap_iter *iter, uint64_t pos, size_t len, struct folio **foliop);

#endif /* IOMAP_IOMAP_H */
