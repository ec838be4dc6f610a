/* SPDX-License-Identifier: MIT */
/*
 * A cursor over a list of memory segments: the source of a write or the
 * destination of a read.
 *
 * Copies through an io_iter may stop short, as a copy from user memory
 * stops at an unmapped page.  The optional ->readable hook says how much of
 * what is asked can be copied now; it exists so callers and tests can model
 * such sources.  An io_iter is not thread safe.
 */
#ifndef IOMAP_UIO_H
#define IOMAP_UIO_H

#include <stddef.h>
#include <sys/uio.h>

struct io_iter {
	const struct iovec *iov; /* current segment */
	unsigned long nr_segs; /* segments left, counting the current one */
	size_t iov_offset; /* bytes of the current segment already consumed */
	size_t count; /* bytes left in all */
	/*
	 * Optional: of the next @want bytes, how many can be copied before the
	 * copy "faults"?  Returning less than @want makes the copy short.
	 */
	size_t (*readable)(const struct io_iter *iter, size_t want, void *arg);
	void *readable_arg;
	/* Internal: for io_iter_revert(). */
	const struct iovec *_first;
};

/* Set up over @nr_segs segments holding @count bytes in all. */
void io_iter_init(struct io_iter *iter, const struct iovec *iov, unsigned long nr_segs,
		  size_t count);

/* Copy up to @len bytes out of the iterator into @dst; returns bytes copied. */
size_t io_iter_copy_from(struct io_iter *iter, void *dst, size_t len);

/* Copy up to @len bytes from @src into the iterator; returns bytes copied. */
size_t io_iter_copy_to(struct io_iter *iter, const void *src, size_t len);

/* Store @len zero bytes into the iterator; returns bytes stored. */
size_t io_iter_zero(struct io_iter *iter, size_t len);

/* Move forward or back without copying. */
void io_iter_advance(struct io_iter *iter, size_t len);
void io_iter_revert(struct io_iter *iter, size_t len);

#endif /* IOMAP_UIO_H */
