/* SPDX-License-Identifier: MIT */
/*
 * fiemap over iomap mappings.  Extents are reported one behind, so that the
 * last one can carry FIEMAP_EXTENT_LAST.
 */
#include <errno.h>
#include <linux/fiemap.h>

#include "iomap/inode.h"
#include "iomap/internal.h"
#include "iomap/iomap.h"
#include "iomap/seek.h"

#define IOMAP_FIEMAP_FLAGS FIEMAP_FLAG_SYNC

/* Store one extent.  Returns 1 when the caller's array is full, else 0. */
static int fill_extent(struct fiemap *fi, const struct iomap *iomap, uint32_t flags)
{
	struct fiemap_extent *fe;

	switch (iomap->type) {
	case IOMAP_HOLE:
		return 0;
	case IOMAP_DELALLOC:
		flags |= FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN;
		break;
	case IOMAP_UNWRITTEN:
		flags |= FIEMAP_EXTENT_UNWRITTEN;
		break;
	case IOMAP_INLINE:
		flags |= FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_NOT_ALIGNED;
		break;
	default:
		break;
	}
	if (iomap->flags & IOMAP_F_MERGED)
		flags |= FIEMAP_EXTENT_MERGED;
	if (iomap->flags & IOMAP_F_SHARED)
		flags |= FIEMAP_EXTENT_SHARED;

	if (fi->fm_extent_count == 0) {
		fi->fm_mapped_extents++;
		return 0;
	}
	if (fi->fm_mapped_extents >= fi->fm_extent_count)
		return 1;
	fe = &fi->fm_extents[fi->fm_mapped_extents++];
	fe->fe_logical = iomap->offset;
	fe->fe_physical = iomap->addr == IOMAP_NULL_ADDR ? 0 : iomap->addr;
	fe->fe_length = iomap->length;
	fe->fe_flags = flags;
	return (flags & FIEMAP_EXTENT_LAST) || fi->fm_mapped_extents == fi->fm_extent_count;
}

static int fiemap_iter(struct iomap_iter *iter, struct fiemap *fi, struct iomap *prev)
{
	int ret;

	if (iter->iomap.type == IOMAP_HOLE)
		return iomap_iter_advance(iter, iomap_length(iter));
	ret = fill_extent(fi, prev, 0);
	*prev = iter->iomap;
	if (ret)
		return 0; /* array full: stop */
	return iomap_iter_advance(iter, iomap_length(iter));
}

int iomap_fiemap(struct inode *inode, struct fiemap *fi, uint64_t start, uint64_t len,
		 const struct iomap_ops *ops)
{
	struct iomap_iter iter = { .inode = inode, .pos = start, .flags = IOMAP_REPORT };
	struct iomap prev = { .type = IOMAP_HOLE };
	int ret;

	if (!inode || !fi || !ops || !ops->begin)
		return -EINVAL;
	if (fi->fm_flags & ~IOMAP_FIEMAP_FLAGS) {
		fi->fm_flags &= ~IOMAP_FIEMAP_FLAGS;
		return -EBADR;
	}
	if (start > (uint64_t)INT64_MAX)
		return -EFBIG;
	iter.len = len > (uint64_t)INT64_MAX - start ? (uint64_t)INT64_MAX - start : len;
	fi->fm_mapped_extents = 0;
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = fiemap_iter(&iter, fi, &prev);
	if (prev.type != IOMAP_HOLE) {
		int r = fill_extent(fi, &prev, FIEMAP_EXTENT_LAST);

		if (r < 0)
			return r;
	}
	/* A filesystem says -ENOENT where there is nothing more to map. */
	if (ret < 0 && ret != -ENOENT)
		return ret;
	return 0;
}
