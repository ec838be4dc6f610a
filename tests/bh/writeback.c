/* SPDX-License-Identifier: MIT */
/*
 * Writeback through buffer heads (1 KiB blocks, 4 per folio):
 *  - only dirty buffers are written: one dirty block of four costs one bio
 *    and one block of device bytes; block_dirty_folio makes all four go;
 *  - a folio dirtied whole without buffers gets them, dirty, and every
 *    block is allocated and written;
 *  - the EOF folio: its tail past i_size is zeroed, blocks wholly past EOF
 *    are cleaned and not written; a folio wholly past EOF is skipped;
 *  - WB_SYNC_NONE skips a buffer locked by someone else and redirties the
 *    folio; WB_SYNC_ALL sleeps on the buffer lock until it is released;
 *  - a write error (a block beyond the device) sets BH_Write_EIO, clears
 *    BH_Uptodate, ends writeback, and is reported once per observer
 *    through the mapping's errseq; a rewrite clears BH_Write_EIO;
 *  - a get_block error at writeback still writes the blocks already
 *    mapped, drops the dirt of the rest and reports the error.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bhfs.h"
#include "helpers.h"

#define SEED 0x3b
#define BITS 10
#define BS (1U << BITS)
#define DEV_BYTES (4U << 20)

static struct bh_stats stats_reset(void)
{
	struct bh_stats st;

	bh_get_stats(&st);
	bh_reset_stats();
	return st;
}

static void write_pattern(struct bhfs *fs, uint64_t pos, size_t len)
{
	char *buf = t_malloc(len);

	t_fill_pattern(buf, len, pos, SEED);
	t_assert_eq(bhfs_write(fs, pos, buf, len), (ssize_t)len);
	free(buf);
}

static struct folio *lock_folio(struct bhfs *fs, uint64_t index)
{
	struct folio *folio;

	t_assert_eq(filemap_get_folio(fs->inode.i_mapping, index, FGP_LOCK, &folio), 0);
	return folio;
}

static void unlock_folio(struct folio *folio)
{
	folio_unlock(folio);
	folio_put(folio);
}

static void test_dirty_only(void)
{
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;
	uint64_t w0;
	char buf[PAGE_SIZE];

	bhfs_create(&fs, BITS, DEV_BYTES);
	write_pattern(&fs, 0, PAGE_SIZE);
	t_assert_eq(bhfs_sync(&fs), 0);
	/* Rewrite one block: one bio, one block of bytes. */
	write_pattern(&fs, 2 * BS, BS);
	stats_reset();
	w0 = bhfs_dev_bytes_written(&fs);
	t_assert_eq(bhfs_sync(&fs), 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 1);
	t_assert_eq(st.bios_submitted, 1);
	t_assert_eq(bhfs_dev_bytes_written(&fs) - w0, BS);
	/* block_dirty_folio: all four. */
	folio = lock_folio(&fs, 0);
	t_assert(block_dirty_folio(folio));
	t_assert(!block_dirty_folio(folio));
	for (unsigned int b = 0; b < 4; b++)
		t_assert(buffer_dirty(bhfs_buffer(folio, b)));
	unlock_folio(folio);
	t_assert_eq(bhfs_sync(&fs), 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 4);
	t_assert_eq(st.get_block_calls, 0);
	bhfs_drop_cache(&fs);
	t_assert_eq(bhfs_read(&fs, 0, buf, PAGE_SIZE), PAGE_SIZE);
	t_assert(t_check_pattern(buf, PAGE_SIZE, 0, SEED) < 0);
	bhfs_destroy(&fs);
}

/* A folio dirtied whole (as an mmap write would) without buffers. */
static void test_no_buffers(void)
{
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;
	char buf[PAGE_SIZE];

	bhfs_create(&fs, BITS, DEV_BYTES);
	i_size_write(&fs.inode, 6 * PAGE_SIZE);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 5, FGP_LOCK | FGP_CREAT, &folio), 0);
	t_fill_pattern(folio->data, PAGE_SIZE, 5 * PAGE_SIZE, SEED);
	folio_mark_uptodate(folio);
	t_assert(block_dirty_folio(folio));
	t_assert(folio_buffers(folio) == NULL);
	unlock_folio(folio);
	stats_reset();
	t_assert_eq(bhfs_sync(&fs), 0);
	st = stats_reset();
	t_assert_eq(st.get_block_calls, 4);
	t_assert_eq(atomic_load(&fs.get_block_allocs), 4);
	t_assert_eq(st.bios_written, 4);
	t_assert_eq(st.bh_live, 4);
	bhfs_drop_cache(&fs);
	t_assert_eq(bhfs_read(&fs, 5 * PAGE_SIZE, buf, PAGE_SIZE), PAGE_SIZE);
	t_assert(t_check_pattern(buf, PAGE_SIZE, 5 * PAGE_SIZE, SEED) < 0);
	bhfs_destroy(&fs);
}

static void test_eof(void)
{
	uint64_t eof = 2 * PAGE_SIZE + BS + 476;
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;
	char blk[BS], want[BS];

	bhfs_create(&fs, BITS, DEV_BYTES);
	write_pattern(&fs, 0, 2 * PAGE_SIZE + 3000);
	write_pattern(&fs, 3 * PAGE_SIZE, 100);
	t_assert_eq(bhfs_sync(&fs), 0);
	write_pattern(&fs, 2 * PAGE_SIZE, 3000);
	write_pattern(&fs, 3 * PAGE_SIZE, 100);
	/* Truncation in progress: i_size is down, the cache not yet trimmed. */
	i_size_write(&fs.inode, eof);
	stats_reset();
	t_assert_eq(bhfs_sync(&fs), 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 2); /* blocks 0 and 1 of folio 2 */
	folio = lock_folio(&fs, 2);
	t_assert(t_is_zero(folio_address(folio, BS + 476), PAGE_SIZE - BS - 476));
	t_assert(!buffer_dirty(bhfs_buffer(folio, 2)));
	t_assert(!folio_test_dirty(folio));
	unlock_folio(folio);
	folio = lock_folio(&fs, 3);
	t_assert(!folio_test_dirty(folio) && !folio_test_writeback(folio));
	t_assert(!buffer_dirty(bhfs_buffer(folio, 0)));
	unlock_folio(folio);
	bhfs_dev_read(&fs, bhfs_lookup(&fs, 9) * BS, blk, BS);
	t_fill_pattern(want, 476, 2 * PAGE_SIZE + BS, SEED);
	t_assert(!memcmp(blk, want, 476));
	t_assert(t_is_zero(blk + 476, BS - 476));
	bhfs_destroy(&fs);
}

struct syncer {
	struct bhfs *fs;
	_Atomic int done;
	int ret;
};

static void *sync_thread(void *arg)
{
	struct syncer *s = arg;

	s->ret = bhfs_sync(s->fs);
	atomic_store(&s->done, 1);
	return NULL;
}

static void test_locked_buffer(void)
{
	struct writeback_control wbc = {
		.range_end = UINT64_MAX,
		.sync_mode = WB_SYNC_NONE,
		.nr_to_write = 1000,
	};
	struct syncer s = { 0 };
	struct bhfs fs;
	struct folio *folio;
	struct buffer_head *bh;
	struct bh_stats st;
	pthread_t thr;

	bhfs_create(&fs, BITS, DEV_BYTES);
	write_pattern(&fs, 0, PAGE_SIZE);
	folio = lock_folio(&fs, 0);
	bh = bhfs_buffer(folio, 1);
	get_bh(bh);
	unlock_folio(folio);
	lock_buffer(bh); /* as a journal writing it by hand would */
	t_assert(!trylock_buffer(bh));

	stats_reset();
	t_assert_eq(block_writepages(fs.inode.i_mapping, &wbc, bhfs_get_block), 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 3);
	t_assert(buffer_dirty(bh));
	folio = lock_folio(&fs, 0);
	t_assert(folio_test_dirty(folio));
	unlock_folio(folio);

	s.fs = &fs;
	t_assert_eq(pthread_create(&thr, NULL, sync_thread, &s), 0);
	usleep(50 * 1000);
	t_assert_eq(atomic_load(&s.done), 0); /* asleep on the buffer lock */
	unlock_buffer(bh);
	pthread_join(thr, NULL);
	t_assert_eq(s.ret, 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 1);
	t_assert(!buffer_dirty(bh) && !buffer_locked(bh));
	put_bh(bh);
	bhfs_destroy(&fs);
}

static void test_write_error(void)
{
	struct bhfs fs;
	struct folio *folio;
	struct buffer_head *bh;
	errseq_t since_a, since_b;

	bhfs_create(&fs, BITS, DEV_BYTES);
	since_a = filemap_sample_wb_err(fs.inode.i_mapping);
	bhfs_map(&fs, 1, fs.dev_blocks + 10);
	write_pattern(&fs, 0, PAGE_SIZE);
	since_b = filemap_sample_wb_err(fs.inode.i_mapping);
	t_assert_eq(bhfs_sync(&fs), -EIO);
	t_assert_eq(file_check_and_advance_wb_err(fs.inode.i_mapping, &since_a), -EIO);
	t_assert_eq(file_check_and_advance_wb_err(fs.inode.i_mapping, &since_a), 0);
	t_assert_eq(file_check_and_advance_wb_err(fs.inode.i_mapping, &since_b), -EIO);
	folio = lock_folio(&fs, 0);
	t_assert(!folio_test_writeback(folio) && !folio_test_dirty(folio));
	bh = bhfs_buffer(folio, 1);
	t_assert(buffer_write_io_error(bh) && !buffer_uptodate(bh) && !buffer_dirty(bh));
	t_assert(!buffer_write_io_error(bhfs_buffer(folio, 0)));
	/* The filesystem moves the block and rewrites it. */
	map_bh(bh, fs.bdev, 50);
	set_buffer_uptodate(bh);
	mark_buffer_dirty(bh);
	unlock_folio(folio);
	t_assert_eq(bhfs_sync(&fs), 0);
	t_assert(!buffer_write_io_error(bh) && buffer_uptodate(bh));
	t_assert_eq(file_check_and_advance_wb_err(fs.inode.i_mapping, &since_a), 0);
	bhfs_destroy(&fs);
}

static void test_get_block_error(void)
{
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;

	bhfs_create(&fs, BITS, DEV_BYTES);
	bhfs_map(&fs, 0, 10);
	bhfs_map(&fs, 1, 11);
	i_size_write(&fs.inode, PAGE_SIZE);
	folio = bhfs_read_folio(&fs, 0, 0);
	folio_lock(folio);
	block_dirty_folio(folio);
	unlock_folio(folio);
	atomic_store(&fs.fail_iblock, 3);
	stats_reset();
	t_assert_eq(bhfs_sync(&fs), -EIO);
	st = stats_reset();
	t_assert_eq(st.get_block_calls, 2); /* block 2 allocated, block 3 failed */
	t_assert_eq(st.bios_written, 3);
	folio = lock_folio(&fs, 0);
	t_assert(!buffer_dirty(bhfs_buffer(folio, 3)) && !buffer_mapped(bhfs_buffer(folio, 3)));
	t_assert(buffer_mapped(bhfs_buffer(folio, 2)));
	t_assert(!folio_test_writeback(folio));
	unlock_folio(folio);
	bhfs_destroy(&fs);
}

int main(void)
{
	struct bh_stats st;

	test_dirty_only();
	test_no_buffers();
	test_eof();
	test_locked_buffer();
	test_write_error();
	test_get_block_error();
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	return T_EXIT_PASS;
}
