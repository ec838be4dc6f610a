/* SPDX-License-Identifier: MIT */
/*
 * io_iter: a cursor over memory segments.  Invariant: count equals the
 * bytes left from iov[0] + iov_offset to the end of the segments, and
 * iov_offset < iov[0].iov_len whenever count > 0 (empty segments are
 * stepped over eagerly).
 */
#include <string.h>

#include "iomap/uio.h"
#include "lib/compiler.h"

static void skip_empty(struct io_iter *iter)
{
	while (iter->nr_segs && iter->iov_offset == iter->iov->iov_len) {
		if (iter->nr_segs == 1)
			break;
		iter->iov++;
		iter->nr_segs--;
		iter->iov_offset = 0;
	}
}

void io_iter_init(struct io_iter *iter, const struct iovec *iov, unsigned long nr_segs,
		  size_t count)
{
	memset(iter, 0, sizeof(*iter));
	iter->iov = iov;
	iter->_first = iov;
	iter->nr_segs = nr_segs;
	iter->count = count;
	skip_empty(iter);
}

/*
 * Walk up to @len bytes, calling @step on each contiguous piece, and advance.
 * For copies *from* the iterator the ->readable hook may shorten the walk.
 */
static size_t walk(struct io_iter *iter, size_t len, char *buf, int dir)
{
	size_t done = 0;

	len = min(len, iter->count);
	if (dir == 0 && iter->readable)
		len = min(len, iter->readable(iter, len, iter->readable_arg));
	while (done < len) {
		char *seg = (char *)iter->iov->iov_base + iter->iov_offset;
		size_t n = min(len - done, iter->iov->iov_len - iter->iov_offset);

		if (dir == 0)
			memcpy(buf + done, seg, n);
		else if (buf)
			memcpy(seg, buf + done, n);
		else if (dir == 1)
			memset(seg, 0, n);
		done += n;
		iter->iov_offset += n;
		iter->count -= n;
		skip_empty(iter);
	}
	return done;
}

size_t io_iter_copy_from(struct io_iter *iter, void *dst, size_t len)
{
	return walk(iter, len, dst, 0);
}

size_t io_iter_copy_to(struct io_iter *iter, const void *src, size_t len)
{
	return walk(iter, len, (char *)src, 1);
}

size_t io_iter_zero(struct io_iter *iter, size_t len)
{
	return walk(iter, len, NULL, 1);
}

void io_iter_advance(struct io_iter *iter, size_t len)
{
	walk(iter, len, NULL, 2);
}

void io_iter_revert(struct io_iter *iter, size_t len)
{
	while (len) {
		size_t n = min(len, iter->iov_offset);

		iter->iov_offset -= n;
		iter->count += n;
		len -= n;
		if (len && iter->iov != iter->_first) {
			iter->iov--;
			iter->nr_segs++;
			iter->iov_offset = iter->iov->iov_len;
		} else if (len) {
			break;
		}
	}
}
