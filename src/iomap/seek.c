/* SPDX-License-Identifier: MIT */
/*
 * SEEK_HOLE / SEEK_DATA over iomap mappings.  HOLE is a hole, MAPPED,
 * DELALLOC and INLINE are data, and an UNWRITTEN extent is data exactly
 * where the page cache holds data over it (written, not yet converted).
 */
#include <errno.h>
#include <unistd.h>

#include "iomap/inode.h"
#include "iomap/internal.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/seek.h"

/* Each iter function stops the walk (advances nothing) when it has found its answer. */
static int seek_hole_iter(struct iomap_iter *iter, int64_t *found)
{
	uint64_t length = iomap_length(iter);
	int64_t off;

	switch (iter->iomap.type) {
	case IOMAP_HOLE:
		*found = (int64_t)iter->pos;
		return 0;
	case IOMAP_UNWRITTEN:
		off = mapping_seek_hole_data(iter->inode->i_mapping, iter->pos, iter->pos + length,
					     SEEK_HOLE);
		if (off < 0)
			return (int)off;
		if ((uint64_t)off != iter->pos + length) {
			*found = off;
			return 0;
		}
		return iomap_iter_advance(iter, length);
	default:
		return iomap_iter_advance(iter, length);
	}
}

static int seek_data_iter(struct iomap_iter *iter, int64_t *found)
{
	uint64_t length = iomap_length(iter);
	int64_t off;

	switch (iter->iomap.type) {
	case IOMAP_HOLE:
		return iomap_iter_advance(iter, length);
	case IOMAP_UNWRITTEN:
		off = mapping_seek_hole_data(iter->inode->i_mapping, iter->pos, iter->pos + length,
					     SEEK_DATA);
		if (off >= 0) {
			*found = off;
			return 0;
		}
		if (off != -ENXIO)
			return (int)off;
		return iomap_iter_advance(iter, length);
	default:
		*found = (int64_t)iter->pos;
		return 0;
	}
}

static int64_t seek_walk(struct inode *inode, int64_t pos, const struct iomap_ops *ops,
			 int (*fn)(struct iomap_iter *, int64_t *), int64_t not_found)
{
	uint64_t size;
	struct iomap_iter iter = { .inode = inode, .flags = IOMAP_REPORT };
	int64_t found = not_found;
	int ret;

	if (!inode || !ops || !ops->begin)
		return -EINVAL;
	size = i_size_read(inode);
	if (pos < 0 || (uint64_t)pos >= size)
		return -ENXIO;
	iter.pos = (uint64_t)pos;
	iter.len = size - (uint64_t)pos;
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = fn(&iter, &found);
	if (ret < 0)
		return ret;
	return found;
}

int64_t iomap_seek_hole(struct inode *inode, int64_t pos, const struct iomap_ops *ops)
{
	int64_t ret = seek_walk(inode, pos, ops, seek_hole_iter, -1);

	/* No hole before EOF: the implicit one at EOF (sampled now). */
	if (ret == -1)
		return (int64_t)i_size_read(inode);
	return ret;
}

int64_t iomap_seek_data(struct inode *inode, int64_t pos, const struct iomap_ops *ops)
{
	return seek_walk(inode, pos, ops, seek_data_iter, -ENXIO);
}
