/* SPDX-License-Identifier: MIT */
/*
 * SEEK_HOLE / SEEK_DATA and fiemap over iomap mappings (->begin with
 * IOMAP_REPORT).  Unwritten extents are data where the page cache holds
 * data over them, as in the kernel.
 */
#ifndef IOMAP_SEEK_H
#define IOMAP_SEEK_H

#include <stdint.h>

struct fiemap;
struct inode;
struct iomap_ops;

/*
 * The first hole at or after @pos (i_size if none).  Returns the offset, or
 * -ENXIO when @pos is negative or at/after i_size, or another negative errno.
 */
int64_t iomap_seek_hole(struct inode *inode, int64_t pos, const struct iomap_ops *ops);

/* The first data at or after @pos, or -ENXIO if there is none before EOF. */
int64_t iomap_seek_data(struct inode *inode, int64_t pos, const struct iomap_ops *ops);

/*
 * Fill @fi (struct fiemap from <linux/fiemap.h>, with fm_extent_count slots
 * after it) with the extents over [start, start + len), in file order; the
 * last one reported carries FIEMAP_EXTENT_LAST.  fm_extent_count == 0 only
 * counts them.  fm_flags may hold FIEMAP_FLAG_SYNC (accepted; dirty data is
 * reported as the filesystem maps it, e.g. DELALLOC); other flags give
 * -EBADR with the unsupported ones left in fm_flags.  Returns 0 or a
 * negative errno.
 */
int iomap_fiemap(struct inode *inode, struct fiemap *fi, uint64_t start, uint64_t len,
		 const struct iomap_ops *ops);

#endif /* IOMAP_SEEK_H */
