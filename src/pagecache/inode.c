/* SPDX-License-Identifier: MIT */
/* The page cache side of struct inode: its mapping and locks. */
#include "pagecache/internal.h"

#include <errno.h>

int inode_init(struct inode *inode, struct pagecache *cache, unsigned int blkbits,
	       const struct address_space_ops *aops)
{
	struct address_space *mapping;
	int err;

	if (!inode || !cache || !aops || !aops->read_folio || blkbits < 9 || blkbits > 12)
		return -EINVAL;
	err = pc_mapping_create(cache, inode, aops, &mapping);
	if (err)
		return err;
	if (pthread_rwlock_init(&inode->i_rwsem, NULL))
		goto fail_mapping;
	if (pthread_rwlock_init(&inode->invalidate_lock, NULL))
		goto fail_rwsem;
	inode->i_mapping = mapping;
	inode->i_blkbits = blkbits;
	atomic_init(&inode->i_size, 0);
	return 0;
fail_rwsem:
	pthread_rwlock_destroy(&inode->i_rwsem);
fail_mapping:
	pc_mapping_destroy(mapping);
	return -ENOMEM;
}

/*
 * Unhook the mapping from the flusher first (waiting for a ->writepages
 * call it or pagecache_sync() is making on it), so nothing starts writing
 * data that is about to be discarded, and nothing uses the mapping once it
 * is freed.
 */
void inode_destroy(struct inode *inode)
{
	pc_wb_unhook(inode->i_mapping);
	truncate_inode_pages_range(inode->i_mapping, 0, UINT64_MAX);
	pc_mapping_destroy(inode->i_mapping);
	inode->i_mapping = NULL;
	pthread_rwlock_destroy(&inode->invalidate_lock);
	pthread_rwlock_destroy(&inode->i_rwsem);
}
