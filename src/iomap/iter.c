/* SPDX-License-Identifier: MIT */
/*
 * The iomap iterator: walks a byte range one filesystem mapping at a time.
 *
 * State between calls: iter->iomap.length != 0 means a mapping obtained at
 * _iter_start_pos is active and must be ended with ->end before the next
 * ->begin.  The body advances iter->pos/len with iomap_iter_advance() and
 * reports failure in iter->status.
 */
#include <errno.h>
#include <string.h>

#include "iomap/iomap.h"
#include "iomap/internal.h"
#include "lib/compiler.h"

static uint64_t map_end(const struct iomap *iomap)
{
	return iomap->offset + iomap->length;
}

uint64_t iomap_length(const struct iomap_iter *iter)
{
	uint64_t end = map_end(&iter->iomap);

	if (iter->srcmap.type != IOMAP_HOLE)
		end = min(end, map_end(&iter->srcmap));
	if (end <= iter->pos)
		return 0;
	return min(iter->len, end - iter->pos);
}

int iomap_iter_advance(struct iomap_iter *iter, uint64_t count)
{
	if (unlikely(count > iomap_length(iter)))
		return -EIO;
	iter->pos += count;
	iter->len -= count;
	return 0;
}

/* A mapping that does not start at or before pos, or does not cover it,
 * breaks the contract of ->begin: fail the operation rather than loop. */
static bool map_covers(const struct iomap *iomap, uint64_t pos)
{
	return iomap->length && iomap->offset <= pos && map_end(iomap) > pos &&
	       map_end(iomap) > iomap->offset;
}

/*
 * End the active mapping.  Returns the error of ->end if the body did
 * nothing and reported nothing, else 0.
 */
static int iter_end(struct iomap_iter *iter, const struct iomap_ops *ops, uint64_t advanced)
{
	uint64_t olen = iter->len + advanced;
	uint64_t length = min(olen, map_end(&iter->iomap) - iter->_iter_start_pos);
	int ret;

	if (!ops->end)
		return 0;
	iomap_count(end_calls, 1);
	ret = ops->end(iter->inode, iter->_iter_start_pos, length, (int64_t)advanced, iter->flags,
		       &iter->iomap);
	if (ret < 0 && !advanced && !iter->status)
		return ret;
	return 0;
}

static int iter_begin(struct iomap_iter *iter, const struct iomap_ops *ops)
{
	int ret;

	memset(&iter->iomap, 0, sizeof(iter->iomap));
	memset(&iter->srcmap, 0, sizeof(iter->srcmap));
	iter->iomap.addr = IOMAP_NULL_ADDR;
	iter->srcmap.addr = IOMAP_NULL_ADDR;
	iter->status = 0;
	iter->_iter_start_pos = iter->pos;
	iomap_count(begin_calls, 1);
	ret = ops->begin(iter->inode, iter->pos, iter->len, iter->flags, &iter->iomap,
			 &iter->srcmap);
	if (ret < 0) {
		iter->iomap.length = 0;
		return ret;
	}
	if (!map_covers(&iter->iomap, iter->pos) || (iter->iomap.flags & IOMAP_F_STALE) ||
	    (iter->srcmap.type != IOMAP_HOLE && !map_covers(&iter->srcmap, iter->pos))) {
		/* End the bad mapping so the filesystem can release it. */
		if (iter->iomap.length)
			iter_end(iter, ops, 0);
		iter->iomap.length = 0;
		return -EIO;
	}
	return 1;
}

int iomap_iter(struct iomap_iter *iter, const struct iomap_ops *ops)
{
	uint64_t advanced;
	bool stale;
	int ret;

	if (!iter->iomap.length) {
		/* First call. */
		if (iter->status < 0)
			return iter->status;
		return iter->len ? iter_begin(iter, ops) : 0;
	}

	advanced = iter->pos - iter->_iter_start_pos;
	stale = iter->iomap.flags & IOMAP_F_STALE;
	ret = iter_end(iter, ops, advanced);
	iter->iomap.length = 0;
	if (ret < 0)
		return ret;
	if (stale)
		iomap_count(stale_remaps, 1);
	if (iter->status < 0)
		return iter->status;
	if (iter->status > 0)
		return -EIO;
	if (!iter->len || (!advanced && !stale))
		return 0;
	return iter_begin(iter, ops);
}
