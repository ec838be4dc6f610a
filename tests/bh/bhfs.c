/* SPDX-License-Identifier: MIT */
/* The tiny buffer-head filesystem of the bh tests; see bhfs.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bhfs.h"
#include "helpers.h"
#include "lib/compiler.h"

static struct bhfs *to_bhfs(struct inode *inode)
{
	return container_of(inode, struct bhfs, inode);
}

int bhfs_get_block(struct inode *inode, uint64_t iblock, struct buffer_head *bh, int create)
{
	struct bhfs *fs = to_bhfs(inode);
	int ret = 0;

	atomic_fetch_add(&fs->get_block_calls, 1);
	if (iblock == atomic_load(&fs->fail_iblock))
		return -EIO;
	if (iblock >= fs->dev_blocks)
		return -EFBIG;
	pthread_mutex_lock(&fs->lock);
	if (!fs->map[iblock] && create) {
		if (fs->next_free >= fs->dev_blocks) {
			ret = -ENOSPC;
			goto out;
		}
		fs->map[iblock] = fs->next_free++;
		atomic_fetch_add(&fs->get_block_allocs, 1);
		set_buffer_new(bh);
	}
	if (fs->map[iblock])
		map_bh(bh, fs->bdev, fs->map[iblock]);
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static int bhfs_read_folio_op(struct folio *folio)
{
	return block_read_full_folio(folio, bhfs_get_block);
}

static int bhfs_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	return block_writepages(mapping, wbc, bhfs_get_block);
}

static const struct address_space_ops bhfs_aops = {
	.read_folio = bhfs_read_folio_op,
	.writepages = bhfs_writepages,
	.invalidate_folio = block_invalidate_folio,
	.release_folio = try_to_free_buffers,
	.is_partially_uptodate = block_is_partially_uptodate,
};

static void bhfs_setup(struct bhfs *fs, unsigned int blkbits, uint64_t dev_bytes)
{
	t_assert(pagecache_create(NULL, &fs->cache) == 0);
	t_assert(inode_init(&fs->inode, fs->cache, blkbits, &bhfs_aops) == 0);
	fs->dev_blocks = dev_bytes >> blkbits;
	fs->map = t_calloc(fs->dev_blocks, sizeof(*fs->map));
	fs->next_free = 1;
	atomic_store(&fs->fail_iblock, BHFS_NO_FAIL);
	pthread_mutex_init(&fs->lock, NULL);
}

void bhfs_create(struct bhfs *fs, unsigned int blkbits, uint64_t dev_bytes)
{
	memset(fs, 0, sizeof(*fs));
	t_assert(bdev_open_ram(dev_bytes, 512, &fs->bdev) == 0);
	bhfs_setup(fs, blkbits, dev_bytes);
}

void bhfs_create_file(struct bhfs *fs, unsigned int blkbits, uint64_t dev_bytes, const char *path)
{
	struct bdev_open_opts opts = { .flags = BDEV_O_CREATE, .size = dev_bytes };

	memset(fs, 0, sizeof(*fs));
	t_assert(bdev_open(path, &opts, &fs->bdev) == 0);
	bhfs_setup(fs, blkbits, dev_bytes);
}

void bhfs_destroy(struct bhfs *fs)
{
	inode_destroy(&fs->inode);
	pagecache_destroy(fs->cache);
	bdev_close(fs->bdev);
	pthread_mutex_destroy(&fs->lock);
	free(fs->map);
}

void bhfs_map(struct bhfs *fs, uint64_t iblock, uint64_t dblock)
{
	pthread_mutex_lock(&fs->lock);
	fs->map[iblock] = dblock;
	if (dblock >= fs->next_free && dblock < fs->dev_blocks)
		fs->next_free = dblock + 1;
	pthread_mutex_unlock(&fs->lock);
}

uint64_t bhfs_lookup(struct bhfs *fs, uint64_t iblock)
{
	uint64_t d;

	pthread_mutex_lock(&fs->lock);
	d = fs->map[iblock];
	pthread_mutex_unlock(&fs->lock);
	return d;
}

static void dev_io(struct bhfs *fs, enum bio_op op, uint64_t addr, void *buf, size_t len)
{
	struct bio *bio = bio_alloc(fs->bdev, 1, op, 0);

	t_assert(bio);
	bio->bi_sector = addr >> SECTOR_SHIFT;
	t_assert(bio_add(bio, buf, (uint32_t)len, NULL));
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
}

void bhfs_dev_write(struct bhfs *fs, uint64_t addr, const void *buf, size_t len)
{
	dev_io(fs, BIO_OP_WRITE, addr, (void *)buf, len);
}

void bhfs_dev_read(struct bhfs *fs, uint64_t addr, void *buf, size_t len)
{
	dev_io(fs, BIO_OP_READ, addr, buf, len);
}

/* One page-sized chunk at most: block_write_begin() works within a page. */
static ssize_t write_chunk(struct bhfs *fs, uint64_t pos, const char *buf, size_t len)
{
	struct address_space *mapping = fs->inode.i_mapping;
	struct folio *folio;
	int err;

	err = block_write_begin(mapping, pos, len, &folio, bhfs_get_block);
	if (err)
		return err;
	memcpy(folio_address(folio, (size_t)(pos - folio_pos(folio))), buf, len);
	return (ssize_t)generic_write_end(mapping, pos, len, len, folio);
}

ssize_t bhfs_write(struct bhfs *fs, uint64_t pos, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t ret = 0;

	if (fs->shared_writes)
		pthread_rwlock_rdlock(&fs->inode.i_rwsem);
	else
		pthread_rwlock_wrlock(&fs->inode.i_rwsem);
	while (done < len) {
		size_t chunk =
			min(len - done, PAGE_SIZE - (size_t)((pos + done) & (PAGE_SIZE - 1)));

		ret = write_chunk(fs, pos + done, (const char *)buf + done, chunk);
		if (ret <= 0)
			break;
		done += (size_t)ret;
	}
	pthread_rwlock_unlock(&fs->inode.i_rwsem);
	return done ? (ssize_t)done : ret;
}

ssize_t bhfs_read(struct bhfs *fs, uint64_t pos, void *buf, size_t len)
{
	ssize_t ret;

	pthread_rwlock_rdlock(&fs->inode.i_rwsem);
	ret = filemap_read(&fs->inode, pos, buf, len);
	pthread_rwlock_unlock(&fs->inode.i_rwsem);
	return ret;
}

int bhfs_sync(struct bhfs *fs)
{
	return filemap_write_and_wait_range(fs->inode.i_mapping, 0, UINT64_MAX);
}

unsigned long bhfs_drop_cache(struct bhfs *fs)
{
	return invalidate_mapping_pages(fs->inode.i_mapping, 0, UINT64_MAX);
}

/* Shrinking only frees the blocks wholly past the new size. */
int bhfs_truncate(struct bhfs *fs, uint64_t size)
{
	unsigned int bits = fs->inode.i_blkbits;
	int err = 0;

	pthread_rwlock_wrlock(&fs->inode.i_rwsem);
	pthread_rwlock_wrlock(&fs->inode.invalidate_lock);
	if (size < i_size_read(&fs->inode))
		err = block_truncate_page(fs->inode.i_mapping, size, bhfs_get_block);
	if (!err) {
		i_size_write(&fs->inode, size);
		truncate_pagecache(&fs->inode, size);
		pthread_mutex_lock(&fs->lock);
		for (uint64_t b = div_round_up(size, (uint64_t)1 << bits); b < fs->dev_blocks; b++)
			fs->map[b] = 0;
		pthread_mutex_unlock(&fs->lock);
	}
	pthread_rwlock_unlock(&fs->inode.invalidate_lock);
	pthread_rwlock_unlock(&fs->inode.i_rwsem);
	return err;
}

struct folio *bhfs_read_folio(struct bhfs *fs, uint64_t index, int expect_err)
{
	struct folio *folio;
	int err;

	t_assert_eq(filemap_get_folio(fs->inode.i_mapping, index, FGP_LOCK | FGP_CREAT, &folio), 0);
	if (folio_test_uptodate(folio)) {
		folio_unlock(folio);
		return folio;
	}
	err = block_read_full_folio(folio, bhfs_get_block);
	t_assert_eq(err, expect_err);
	folio_wait_locked(folio);
	return folio;
}

unsigned int bhfs_nr_buffers(struct folio *folio)
{
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	unsigned int n = 0;

	if (!head)
		return 0;
	do {
		n++;
		bh = bh->b_this_page;
	} while (bh != head);
	return n;
}

struct buffer_head *bhfs_buffer(struct folio *folio, unsigned int n)
{
	struct buffer_head *bh = folio_buffers(folio);

	t_assert(bh);
	while (n--)
		bh = bh->b_this_page;
	return bh;
}

uint64_t bhfs_dev_bytes_written(struct bhfs *fs)
{
	struct bdev_stats st;

	bdev_get_stats(fs->bdev, &st);
	return st.bytes_written;
}

uint64_t bhfs_dev_bios_read(struct bhfs *fs)
{
	struct bdev_stats st;

	bdev_get_stats(fs->bdev, &st);
	return st.bios_read;
}
