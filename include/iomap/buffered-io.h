/* SPDX-License-Identifier: MIT */
/*
 * Buffered I/O through iomap: filling folios from extents, writing into
 * them, and the address_space operations a filesystem plugs into its
 * mapping.  iomap keeps its per-folio state in folio->private: uptodate and
 * dirty bits per block, created only when a folio holds more than one block.
 *
 * Unless said otherwise the caller holds the filesystem's upper lock
 * (i_rwsem) as the filesystem requires; iomap takes folio locks itself.
 */
#ifndef IOMAP_BUFFERED_IO_H
#define IOMAP_BUFFERED_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct address_space;
struct folio;
struct inode;
struct io_iter;
struct iomap_ops;
struct readahead_control;

/*
 * ->read_folio: fill a locked folio.  HOLE, UNWRITTEN, DELALLOC and blocks
 * past EOF are zeroed without I/O, INLINE is copied, MAPPED blocks are read.
 * The folio is unlocked when the reads end.  Returns 0 or a negative errno
 * from ->begin (the folio is then unlocked and not uptodate).
 */
int iomap_read_folio(struct folio *folio, const struct iomap_ops *ops);

/* ->readahead: as iomap_read_folio over every folio of @rac, with bios that
 * span folios wherever the blocks are contiguous on disk. */
void iomap_readahead(struct readahead_control *rac, const struct iomap_ops *ops);

/*
 * Write the bytes of @from to the file at @pos through the page cache.
 * Asks ->begin with IOMAP_WRITE once per extent.  Grows i_size (under the
 * folio lock) and sets IOMAP_F_SIZE_CHANGED on the mapping when it does.
 * Returns the bytes written, or a negative errno when none were; @from is
 * advanced by the bytes written.  @private is handed to the iterator
 * (iter->private) for the filesystem's hooks.
 */
int64_t iomap_file_buffered_write(struct inode *inode, uint64_t pos, struct io_iter *from,
				  const struct iomap_ops *ops, void *private);

/*
 * Zero [pos, pos + len) through the page cache.  Holes and unwritten extents
 * are skipped (they read as zeroes) unless cached data over them is dirty.
 * Sets *did_zero if any folio was zeroed (may be NULL).  Returns 0 or a
 * negative errno.  Does not change i_size.
 */
int iomap_zero_range(struct inode *inode, uint64_t pos, uint64_t len, bool *did_zero,
		     const struct iomap_ops *ops);

/*
 * Zero from @pos to the end of its block (the new EOF of a truncate), so the
 * tail of the EOF block reads as zeroes if the file grows again.
 */
int iomap_truncate_page(struct inode *inode, uint64_t pos, bool *did_zero,
			const struct iomap_ops *ops);

/*
 * address_space_ops members; a filesystem points its ops at these (directly,
 * or through a wrapper that passes its iomap_ops).
 */
bool iomap_release_folio(struct folio *folio);
void iomap_invalidate_folio(struct folio *folio, size_t offset, size_t len);
bool iomap_is_partially_uptodate(struct folio *folio, size_t from, size_t count);

/*
 * Mark a whole folio dirty, with every block dirty (a page fault writes
 * into it, or a filesystem dirties it by other means).  Folio locked.
 */
bool iomap_dirty_folio(struct folio *folio);

#endif /* IOMAP_BUFFERED_IO_H */
