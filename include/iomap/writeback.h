/* SPDX-License-Identifier: MIT */
/*
 * Writeback through iomap: dirty folios are written in file order; the
 * filesystem maps each dirty range with ->map_blocks (turning DELALLOC
 * reservations into real blocks), and the mapping it returns is reused for
 * the following folios while it covers them, so the filesystem is asked
 * about once per extent.  Contiguous dirty blocks of the same kind that are
 * contiguous on disk are gathered into one I/O completion unit (ioend)
 * carried by bios of up to BIO_MAX_VECS folios.
 *
 * When an ioend's I/O is done the filesystem is told (->ioend_done) so it can
 * convert UNWRITTEN extents and record the on-disk size; only then does
 * writeback end on its folios, so a waiter on writeback (fsync) never sees
 * data whose extent still reads as zeroes.  Write errors are recorded on the
 * mapping (mapping_set_error) and folios are not redirtied, as in the kernel.
 */
#ifndef IOMAP_WRITEBACK_H
#define IOMAP_WRITEBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "iomap/iomap.h"

struct address_space;
struct folio;
struct inode;
struct iomap_ioend;
struct workqueue;
struct writeback_control;

/* Kinds of ioend, passed to ->ioend_done. */
#define IOMAP_IOEND_UNWRITTEN (1U << 0) /* blocks were UNWRITTEN: convert them */
#define IOMAP_IOEND_SHARED (1U << 1) /* blocks were SHARED (copy on write) */

struct iomap_writeback_ops;

struct iomap_writepage_ctx {
	/* The current mapping: filled by ->map_blocks, reused while it covers. */
	struct iomap iomap;
	bool iomap_set; /* iomap holds a mapping */
	/*
	 * Where ->ioend_done runs.  NULL: in the I/O completion context, so it
	 * must not take a lock that is held while waiting for I/O.
	 */
	struct workqueue *wq;
	void *private; /* the filesystem's */
	/* Internal. */
	struct writeback_control *_wbc;
	const struct iomap_writeback_ops *_ops;
	struct iomap_ioend *_ioend;
};

struct iomap_writeback_ops {
	/*
	 * Required.  Make wpc->iomap describe file position @pos (MAPPED or
	 * UNWRITTEN; HOLE means nothing there is written; never DELALLOC:
	 * allocate real blocks now).  @len is the length of the dirty range
	 * from @pos, a hint for how much to allocate.  Called with the folio
	 * locked, only when the current mapping does not cover @pos or
	 * ->map_valid says it changed.  Returns 0 or a negative errno (the
	 * folio's data is then lost to this writeback and the error recorded).
	 */
	int (*map_blocks)(struct iomap_writepage_ctx *wpc, struct inode *inode, uint64_t pos,
			  uint64_t len);
	/*
	 * Optional.  Is wpc->iomap, which covers the next position, still
	 * right (compare validity_cookie with a sequence number)?  Without it
	 * a covering mapping is always reused.
	 */
	bool (*map_valid)(struct iomap_writepage_ctx *wpc, struct inode *inode);
	/*
	 * Optional.  The I/O of [offset, offset + size) finished with @error
	 * (0 or negative errno): convert UNWRITTEN blocks (flags), record the
	 * new on-disk size (clamped by the filesystem to i_size).  Runs on
	 * wpc->wq if set.  Writeback of the folios ends after it returns.
	 */
	void (*ioend_done)(struct inode *inode, uint64_t offset, uint64_t size, unsigned int flags,
			   int error);
	/*
	 * Optional.  Mapping [pos, folio end) failed: drop whatever the
	 * filesystem reserved for it (delalloc).  Folio locked.
	 */
	void (*discard_folio)(struct folio *folio, uint64_t pos);
};

/*
 * ->writepages for iomap filesystems.  @wpc is set up by the caller (zeroed,
 * with wq and private filled as wanted).  Returns 0 or the first negative
 * errno from ->map_blocks; I/O errors are recorded on the mapping.  All I/O
 * is submitted when it returns; with WB_SYNC_ALL callers wait with
 * filemap_fdatawait_range().
 */
int iomap_writepages(struct address_space *mapping, struct writeback_control *wbc,
		     struct iomap_writepage_ctx *wpc, const struct iomap_writeback_ops *ops);

#endif /* IOMAP_WRITEBACK_H */
