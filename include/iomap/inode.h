/* SPDX-License-Identifier: MIT */
/*
 * The in-memory file that the page cache and iomap work on.  A filesystem
 * embeds a struct inode in its own inode and finds its structure again with
 * container_of (as the kernel's filesystems do).
 *
 * Locking rules
 *  1. i_rwsem is the filesystem's I/O lock: writers, truncate and fallocate
 *     hold it exclusive, buffered readers shared.  Neither the page cache nor
 *     iomap takes it; the filesystem does, around calls into them.
 *  2. invalidate_lock: held shared while folios are added for reads and
 *     exclusive while folios are removed over a range whose blocks change
 *     (punch, truncate), so that no read instantiates a folio from blocks
 *     being freed.  Also taken by the filesystem.
 *  3. i_size is read without locks (i_size_read); it is written with
 *     i_rwsem held, and by buffered writes also under the folio lock of the
 *     folio that holds the new EOF.
 */
#ifndef IOMAP_INODE_H
#define IOMAP_INODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct address_space;
struct address_space_ops;
struct pagecache;

struct inode {
	struct address_space *i_mapping;
	_Atomic uint64_t i_size;
	unsigned int i_blkbits; /* log2 of the filesystem block size, 9..12 */
	uint64_t i_ino;
	pthread_rwlock_t i_rwsem;
	pthread_rwlock_t invalidate_lock;
	void *i_private; /* the filesystem's */
};

/*
 * Set up @inode with an empty mapping in @cache, its locks, and i_size 0
 * (i_ino and i_private are the caller's).  @blkbits is 9..12 (block sizes
 * 512 to 4096); @aops and its ->read_folio are required.  Returns 0,
 * -EINVAL or -ENOMEM.
 */
int inode_init(struct inode *inode, struct pagecache *cache, unsigned int blkbits,
	       const struct address_space_ops *aops);

/*
 * Remove every folio (dirty data is discarded: write it back first) and free
 * the mapping.  No other thread may use the inode.
 */
void inode_destroy(struct inode *inode);

static inline uint64_t i_size_read(const struct inode *inode)
{
	return atomic_load_explicit(&((struct inode *)inode)->i_size, memory_order_acquire);
}

static inline void i_size_write(struct inode *inode, uint64_t size)
{
	atomic_store_explicit(&inode->i_size, size, memory_order_release);
}

static inline unsigned int i_blocksize(const struct inode *inode)
{
	return 1U << inode->i_blkbits;
}

#endif /* IOMAP_INODE_H */
