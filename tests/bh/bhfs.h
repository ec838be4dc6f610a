/* SPDX-License-Identifier: MIT */
/*
 * A tiny buffer-head filesystem for the bh tests: one file whose block map
 * is an array (file block -> device block, 0 = hole) over a RAM device,
 * with a page cache whose address_space_ops are the block_* helpers.
 * get_block allocates blocks in order from device block 1 on, counts its
 * calls, and can be told to fail for one file block.
 */
#ifndef T_BHFS_H
#define T_BHFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "iomap/bdev.h"
#include "iomap/buffer_head.h"
#include "iomap/folio.h"
#include "iomap/inode.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"

#define BHFS_NO_FAIL UINT64_MAX

struct bhfs {
	struct inode inode;
	struct pagecache *cache;
	struct bdev *bdev;
	uint64_t dev_blocks; /* device size in filesystem blocks */
	pthread_mutex_t lock; /* map, next_free */
	uint64_t *map; /* dev_blocks entries */
	uint64_t next_free;
	_Atomic uint64_t get_block_calls;
	_Atomic uint64_t get_block_allocs;
	_Atomic uint64_t fail_iblock; /* get_block fails with -EIO here */
	/*
	 * Writers take i_rwsem shared, so writers of different folios run at
	 * once.  Only for writes that never grow i_size (the test sets it).
	 */
	bool shared_writes;
};

/* A file system of 2^blkbits-byte blocks over a RAM device of dev_bytes. */
void bhfs_create(struct bhfs *fs, unsigned int blkbits, uint64_t dev_bytes);
/* The same over a file-backed device (io_uring: completions in another thread). */
void bhfs_create_file(struct bhfs *fs, unsigned int blkbits, uint64_t dev_bytes, const char *path);
/* Drops the cache (writes nothing back), closes the device. */
void bhfs_destroy(struct bhfs *fs);

int bhfs_get_block(struct inode *inode, uint64_t iblock, struct buffer_head *bh, int create);

/* Map file block @iblock to device block @dblock (0 = hole) by hand. */
void bhfs_map(struct bhfs *fs, uint64_t iblock, uint64_t dblock);
uint64_t bhfs_lookup(struct bhfs *fs, uint64_t iblock);

/* Device I/O behind the page cache's back, in bytes. */
void bhfs_dev_write(struct bhfs *fs, uint64_t addr, const void *buf, size_t len);
void bhfs_dev_read(struct bhfs *fs, uint64_t addr, void *buf, size_t len);

/* File operations, as a filesystem would do them. */
ssize_t bhfs_write(struct bhfs *fs, uint64_t pos, const void *buf, size_t len);
ssize_t bhfs_read(struct bhfs *fs, uint64_t pos, void *buf, size_t len);
int bhfs_sync(struct bhfs *fs);
unsigned long bhfs_drop_cache(struct bhfs *fs);
int bhfs_truncate(struct bhfs *fs, uint64_t size);

/*
 * The folio at @index after ->read_folio, waited for: referenced, unlocked.
 * Fails the test if read_folio returned an error other than @expect_err.
 */
struct folio *bhfs_read_folio(struct bhfs *fs, uint64_t index, int expect_err);

/* Buffer heads of a folio (0 if none). */
unsigned int bhfs_nr_buffers(struct folio *folio);
/* The @n-th buffer of a folio. */
struct buffer_head *bhfs_buffer(struct folio *folio, unsigned int n);

uint64_t bhfs_dev_bytes_written(struct bhfs *fs);
uint64_t bhfs_dev_bios_read(struct bhfs *fs);

#endif /* T_BHFS_H */
