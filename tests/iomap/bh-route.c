/* SPDX-License-Identifier: MIT */
/*
 * IOMAP_F_BUFFER_HEAD routes a buffered write of the iomap path through
 * buffer heads (gfs2 journaled data): the folio gets a ring of buffer
 * heads mapped from the iomap (no get_block calls), never iomap's
 * per-folio state, and the data reads and writes back through the
 * buffer-head address_space operations.
 */
#include <string.h>

#include "helpers.h"
#include "iomap/buffer_head.h"
#include "iomap/internal.h"
#include "toyfs.h"

#define SEED 0xb4

static int toy_get_block(struct inode *inode, uint64_t iblock, struct buffer_head *bh, int create)
{
	struct toyfs *fs = toy_of_inode(inode);
	uint64_t pos = iblock << inode->i_blkbits;

	(void)create;
	for (unsigned int i = 0; i < fs->nr_ext; i++) {
		struct toy_extent *e = &fs->ext[i];

		if (e->offset <= pos && pos < e->offset + e->length && e->type == IOMAP_MAPPED) {
			map_bh(bh, fs->bdev, (e->addr + pos - e->offset) >> inode->i_blkbits);
			return 0;
		}
	}
	return 0; /* a hole: left unmapped */
}

static int bh_read_folio(struct folio *folio)
{
	return block_read_full_folio(folio, toy_get_block);
}

static int bh_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	return block_writepages(mapping, wbc, toy_get_block);
}

static const struct address_space_ops bh_aops = {
	.read_folio = bh_read_folio,
	.release_folio = try_to_free_buffers,
	.invalidate_folio = block_invalidate_folio,
	.is_partially_uptodate = block_is_partially_uptodate,
	.writepages = bh_writepages,
};

static void test_route(unsigned int bs)
{
	struct toyfs fs;
	char data[300], *back = t_malloc(8192), *disk = t_malloc(8192);
	struct bh_stats bst;
	struct iomap_stats ist;
	struct folio *folio;

	toy_init_aops(&fs, bs, 1 << 20, &bh_aops);
	toy_add(&fs, 0, 8192, IOMAP_MAPPED, 64 << 10, IOMAP_F_BUFFER_HEAD);
	t_fill_pattern(disk, 8192, 0, SEED);
	toy_dev_write(&fs, 64 << 10, disk, 8192);
	i_size_write(&fs.inode, 8192);
	bh_reset_stats();
	iomap_reset_stats();
	memset(data, 0x3c, sizeof(data));
	t_assert_eq(toy_write(&fs, 1000, data, sizeof(data)), sizeof(data));

	bh_get_stats(&bst);
	iomap_get_stats(&ist);
	t_assert_eq(bst.get_block_calls, 0); /* mapped from the iomap */
	t_assert_eq(bst.bh_live, 4096 / bs);
	t_assert_eq(ist.folio_state_bytes, 0);
	t_assert_eq(ist.begin_calls, 1);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, 0, &folio), 0);
	t_assert(folio_buffers(folio));
	t_assert(folio_test_dirty(folio));
	folio_put(folio);

	/* Written back through buffers, then read back from disk. */
	t_assert_eq(filemap_write_and_wait_range(fs.inode.i_mapping, 0, UINT64_MAX), 0);
	t_assert(invalidate_mapping_pages(fs.inode.i_mapping, 0, UINT64_MAX) > 0);
	t_assert_eq(toy_read(&fs, 0, back, 8192), 8192);
	t_assert(t_check_pattern(back, 1000, 0, SEED) == -1);
	t_assert(memcmp(back + 1000, data, sizeof(data)) == 0);
	t_assert(t_check_pattern(back + 1300, 8192 - 1300, 1300, SEED) == -1);
	toy_destroy(&fs);
	free(back);
	free(disk);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++)
		test_route(sizes[i]);
	return T_EXIT_PASS;
}
