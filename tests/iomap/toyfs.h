/* SPDX-License-Identifier: MIT */
/*
 * A toy filesystem for the iomap unit tests: one file whose extent list
 * the test writes by hand, over a RAM device, with counters and switches
 * on every hook so a test can see exactly what iomap asked.
 */
#ifndef T_TOYFS_H
#define T_TOYFS_H

#include <stdbool.h>
#include <stdint.h>

#include "iomap/bdev.h"
#include "iomap/buffered-io.h"
#include "iomap/folio.h"
#include "iomap/inode.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "iomap/seek.h"
#include "iomap/stats.h"
#include "iomap/uio.h"
#include "iomap/writeback.h"
#include "iomap/direct-io.h"

#define TOY_MAX_EXTENTS 4096

struct toy_extent {
	uint64_t offset, length, addr;
	uint16_t type, flags;
};

struct toyfs {
	struct inode inode;
	struct bdev *bdev;
	struct pagecache *cache;
	uint64_t dev_size;
	struct toy_extent ext[TOY_MAX_EXTENTS];
	unsigned int nr_ext;
	uint64_t next_addr; /* bump allocator for writes into holes */
	uint64_t max_alloc; /* largest extent a write allocates; 0 = hole size */
	char inline_buf[4096];

	/* What iomap asked. */
	unsigned int begins, ends;
	int64_t last_written;
	uint64_t last_end_pos, last_end_len;
	unsigned int last_end_iomap_flags, last_end_flags;
	uint64_t size_changed_ends;

	/* Folio hooks (installed when use_folio_ops). */
	bool use_folio_ops;
	unsigned int get_folios, put_folios, valid_calls;
	uint64_t put_copied_total;
	int min_put_refcount; /* smallest refcount seen in put_folio */
	unsigned int stale_at; /* iomap_valid returns false at this call (1-based); 0 = never */
	unsigned int stale_every; /* ... and at every Nth call; 0 = never */
	struct folio *cur_folio; /* folio between get_folio and put_folio */

	int fail_begin_at; /* ->begin fails with -EIO at this call (1-based) */

	/* Writeback. */
	unsigned int map_calls, ioend_dones;
	unsigned int ioend_flags_seen; /* OR of IOMAP_IOEND_* */
	uint64_t disk_size; /* on-disk size learned from ioend_done */
	int last_ioend_error;

	/* Direct I/O. */
	unsigned int dio_end_ios, dio_end_flags;
};

/* Direct I/O, synchronous.  Returns bytes or a negative errno. */
int64_t toy_dio(struct toyfs *fs, bool write, uint64_t pos, void *buf, size_t len);

extern const struct iomap_dio_ops toy_dio_ops;

/* Write back everything dirty and wait.  Returns 0 or the error seen. */
int toy_sync(struct toyfs *fs);

/* Set up a toy fs with block size @bs over a RAM device of @dev_size bytes. */
void toy_init(struct toyfs *fs, unsigned int bs, uint64_t dev_size);
/* The same with the test's own address_space_ops (e.g. buffer heads). */
void toy_init_aops(struct toyfs *fs, unsigned int bs, uint64_t dev_size,
		   const struct address_space_ops *aops);
struct toyfs *toy_of_inode(struct inode *inode);
void toy_destroy(struct toyfs *fs);

/* Add an extent (file offset, length, type, device address, flags). */
void toy_add(struct toyfs *fs, uint64_t off, uint64_t len, uint16_t type, uint64_t addr,
	     uint16_t flags);

/* Write/read the device directly. */
void toy_dev_write(struct toyfs *fs, uint64_t addr, const void *buf, size_t len);
void toy_dev_read(struct toyfs *fs, uint64_t addr, void *buf, size_t len);

int64_t toy_write(struct toyfs *fs, uint64_t pos, const void *buf, size_t len);
int64_t toy_read(struct toyfs *fs, uint64_t pos, void *buf, size_t len);

extern const struct iomap_ops toy_iomap_ops;

#endif /* T_TOYFS_H */
