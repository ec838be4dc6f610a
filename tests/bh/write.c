/* SPDX-License-Identifier: MIT */
/*
 * Buffered writes through buffer heads, at block sizes 512 to 4096:
 *  - block_write_begin calls get_block(create) once per block the write
 *    touches, reads only the partial blocks that are neither uptodate nor
 *    new (a write over existing data), never the blocks it covers whole;
 *  - new blocks get the part the write does not cover zeroed, without I/O;
 *  - generic_write_end grows i_size; the folio is uptodate only once every
 *    buffer is;
 *  - writeback writes exactly the dirty buffers (bytes on the device
 *    counted), leaves the other blocks on disk alone, and the data reads
 *    back after the cache is dropped;
 *  - a short copy into a folio that is not uptodate counts as nothing and
 *    leaves no new block with stale memory in it.
 */
#include <errno.h>
#include <string.h>

#include "bhfs.h"
#include "helpers.h"

#define SEED_OLD 0x01d
#define SEED_NEW 0x2e3
#define DEV_BYTES (8U << 20)
#define DEV_BASE 1000 /* device block of file block 0 for pre-existing data */
#define FILE_PAGES 4

struct model {
	char *data;
	uint64_t size;
};

static unsigned int bsize(struct bhfs *fs)
{
	return i_blocksize(&fs->inode);
}

/* A file of FILE_PAGES pages that already has data on disk. */
static void make_old_file(struct bhfs *fs, struct model *m)
{
	unsigned int bs = bsize(fs);
	uint64_t nblocks = FILE_PAGES * PAGE_SIZE / bs;

	m->size = FILE_PAGES * PAGE_SIZE;
	m->data = t_malloc(2 * m->size);
	memset(m->data, 0, 2 * m->size);
	t_fill_pattern(m->data, m->size, 0, SEED_OLD);
	for (uint64_t b = 0; b < nblocks; b++) {
		bhfs_dev_write(fs, (DEV_BASE + b) * bs, m->data + b * bs, bs);
		bhfs_map(fs, b, DEV_BASE + b);
	}
	i_size_write(&fs->inode, m->size);
}

static void model_write(struct model *m, uint64_t pos, size_t len)
{
	t_fill_pattern(m->data + pos, len, pos, SEED_NEW);
	if (pos + len > m->size)
		m->size = pos + len;
}

static void do_write(struct bhfs *fs, struct model *m, uint64_t pos, size_t len)
{
	char *buf = t_malloc(len);

	t_fill_pattern(buf, len, pos, SEED_NEW);
	t_assert_eq(bhfs_write(fs, pos, buf, len), (ssize_t)len);
	model_write(m, pos, len);
	free(buf);
}

static void check_file(struct bhfs *fs, const struct model *m)
{
	char *buf = t_malloc(m->size + 1);

	t_assert_eq(i_size_read(&fs->inode), m->size);
	t_assert_eq(bhfs_read(fs, 0, buf, m->size + 1), (ssize_t)m->size);
	for (uint64_t i = 0; i < m->size; i++)
		if (buf[i] != m->data[i])
			t_fail("byte %llu differs", (unsigned long long)i);
	free(buf);
}

static void check_dev_block(struct bhfs *fs, const struct model *m, uint64_t iblock)
{
	unsigned int bs = bsize(fs);
	char *buf = t_malloc(bs);

	bhfs_dev_read(fs, bhfs_lookup(fs, iblock) * bs, buf, bs);
	if (memcmp(buf, m->data + iblock * bs, bs))
		t_fail("disk block of file block %llu differs", (unsigned long long)iblock);
	free(buf);
}

/*
 * A write across a block boundary over existing data: two partial blocks,
 * both read, nothing else; only those two go back to disk.
 */
static void test_overwrite_partial(unsigned int bits)
{
	struct bhfs fs;
	struct model m;
	struct bh_stats st;
	struct folio *folio;
	unsigned int bs = 1U << bits, n = (unsigned int)(PAGE_SIZE >> bits);
	uint64_t pos = bs / 2, written0;
	size_t len = bs == PAGE_SIZE ? bs / 4 : bs;
	unsigned int touched = bs == PAGE_SIZE ? 1 : 2;

	bhfs_create(&fs, bits, DEV_BYTES);
	make_old_file(&fs, &m);
	bh_reset_stats();
	do_write(&fs, &m, pos, len);
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, touched);
	t_assert_eq(st.bios_submitted, touched); /* both partial blocks read */
	t_assert_eq(st.bh_live, n);
	t_assert_eq(atomic_load(&fs.get_block_allocs), 0);

	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, FGP_LOCK, &folio), 0);
	t_assert_eq(folio_test_uptodate(folio), n == touched);
	t_assert(folio_test_dirty(folio));
	for (unsigned int b = 0; b < n; b++) {
		struct buffer_head *bh = bhfs_buffer(folio, b);

		t_assert_eq(buffer_dirty(bh), b < touched);
		t_assert_eq(buffer_uptodate(bh), b < touched);
		t_assert_eq(buffer_mapped(bh), b < touched);
		t_assert(!buffer_new(bh));
	}
	folio_unlock(folio);
	folio_put(folio);

	written0 = bhfs_dev_bytes_written(&fs);
	bh_reset_stats();
	t_assert_eq(bhfs_sync(&fs), 0);
	bh_get_stats(&st);
	t_assert_eq(st.bios_written, touched);
	t_assert_eq(st.get_block_calls, 0);
	t_assert_eq(bhfs_dev_bytes_written(&fs) - written0, (uint64_t)touched * bs);
	for (uint64_t b = 0; b < FILE_PAGES * PAGE_SIZE / bs; b++)
		check_dev_block(&fs, &m, b);
	/* A reader of the untouched blocks reads them; data all there. */
	check_file(&fs, &m);
	t_assert(bhfs_drop_cache(&fs) > 0);
	check_file(&fs, &m);
	free(m.data);
	bhfs_destroy(&fs);
}

/*
 * Writes into a hole past EOF: each new block gets one get_block that
 * allocates, nothing is read, and what the write leaves is zero.
 */
static void test_new_blocks(unsigned int bits)
{
	struct bhfs fs;
	struct model m;
	struct bh_stats st;
	unsigned int bs = 1U << bits;
	uint64_t pos = FILE_PAGES * PAGE_SIZE + PAGE_SIZE + bs / 4;
	size_t len = bs / 2 + (bs == PAGE_SIZE ? 0 : bs); /* one or two blocks, both partial */
	uint64_t nb = bs == PAGE_SIZE ? 1 : 2;

	bhfs_create(&fs, bits, DEV_BYTES);
	make_old_file(&fs, &m);
	bh_reset_stats();
	do_write(&fs, &m, pos, len);
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, nb);
	t_assert_eq(atomic_load(&fs.get_block_allocs), nb);
	t_assert_eq(st.bios_submitted, 0);
	t_assert_eq(i_size_read(&fs.inode), pos + len);
	check_file(&fs, &m);
	t_assert_eq(bhfs_sync(&fs), 0);
	bhfs_drop_cache(&fs);
	check_file(&fs, &m);
	/* The zeroes around the data are on disk too. */
	for (uint64_t b = pos / bs; b <= (pos + len - 1) / bs; b++)
		check_dev_block(&fs, &m, b);
	free(m.data);
	bhfs_destroy(&fs);
}

/* Whole blocks over old data: no reads; untouched blocks not uptodate. */
static void test_whole_blocks(unsigned int bits)
{
	struct bhfs fs;
	struct model m;
	struct bh_stats st;
	unsigned int bs = 1U << bits;
	uint64_t w0;

	bhfs_create(&fs, bits, DEV_BYTES);
	make_old_file(&fs, &m);
	bh_reset_stats();
	do_write(&fs, &m, 2 * PAGE_SIZE, bs);
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, 1);
	t_assert_eq(st.bios_submitted, 0);
	w0 = bhfs_dev_bytes_written(&fs);
	t_assert_eq(bhfs_sync(&fs), 0);
	t_assert_eq(bhfs_dev_bytes_written(&fs) - w0, bs);
	bhfs_drop_cache(&fs);
	check_file(&fs, &m);
	free(m.data);
	bhfs_destroy(&fs);
}

/* Writes all over the file, then every check. */
static void test_random(unsigned int bits)
{
	struct bhfs fs;
	struct model m;
	struct t_rng rng;

	t_rng_seed(&rng, 77 + bits);
	bhfs_create(&fs, bits, DEV_BYTES);
	make_old_file(&fs, &m);
	for (int i = 0; i < 200; i++) {
		uint64_t pos = t_rng_below(&rng, 2 * FILE_PAGES * PAGE_SIZE - 8192);
		size_t len = 1 + (size_t)t_rng_below(&rng, 8191);

		do_write(&fs, &m, pos, len);
		if (i % 37 == 0)
			check_file(&fs, &m);
		if (i % 50 == 49) {
			t_assert_eq(bhfs_sync(&fs), 0);
			bhfs_drop_cache(&fs);
		}
	}
	check_file(&fs, &m);
	t_assert_eq(bhfs_sync(&fs), 0);
	bhfs_drop_cache(&fs);
	check_file(&fs, &m);
	free(m.data);
	bhfs_destroy(&fs);
}

/*
 * A short copy into a folio that is not uptodate: block_write_end counts it
 * as nothing; the new block's memory is zeroed, not left stale.
 */
static void test_short_copy(void)
{
	struct bhfs fs;
	struct folio *folio;
	struct model m;
	unsigned int bs = 1024;
	uint64_t pos = FILE_PAGES * PAGE_SIZE + 100;

	bhfs_create(&fs, 10, DEV_BYTES);
	make_old_file(&fs, &m);
	pthread_rwlock_wrlock(&fs.inode.i_rwsem);
	t_assert_eq(block_write_begin(fs.inode.i_mapping, pos, 2 * bs, &folio, bhfs_get_block), 0);
	t_assert(buffer_new(bhfs_buffer(folio, 0)) && buffer_new(bhfs_buffer(folio, 2)));
	memset(folio_address(folio, 100), 'x', bs);
	t_assert_eq(generic_write_end(fs.inode.i_mapping, pos, 2 * bs, bs, folio), 0);
	pthread_rwlock_unlock(&fs.inode.i_rwsem);
	t_assert_eq(i_size_read(&fs.inode), m.size);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, FILE_PAGES, FGP_LOCK, &folio), 0);
	for (unsigned int b = 0; b < 3; b++) {
		struct buffer_head *bh = bhfs_buffer(folio, b);

		t_assert(!buffer_new(bh));
		t_assert(buffer_uptodate(bh) && buffer_dirty(bh));
	}
	t_assert(t_is_zero(folio->data, 3 * bs));
	t_assert(!buffer_uptodate(bhfs_buffer(folio, 3)));
	t_assert(!folio_test_uptodate(folio));
	folio_unlock(folio);
	folio_put(folio);
	free(m.data);
	bhfs_destroy(&fs);
}

/* Arguments block_write_begin refuses. */
static void test_bad_args(void)
{
	struct bhfs fs;
	struct folio *folio = (struct folio *)1;

	bhfs_create(&fs, 10, DEV_BYTES);
	t_assert_eq(block_write_begin(fs.inode.i_mapping, 4000, 200, &folio, bhfs_get_block),
		    -EINVAL);
	t_assert(folio == NULL);
	t_assert_eq(block_write_begin(fs.inode.i_mapping, 0, 10, &folio, NULL), -EINVAL);
	/* get_block fails: nothing held, nothing dirty. */
	atomic_store(&fs.fail_iblock, 0);
	t_assert_eq(block_write_begin(fs.inode.i_mapping, 0, 10, &folio, bhfs_get_block), -EIO);
	t_assert(folio == NULL);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, FGP_LOCK, &folio), 0);
	t_assert(!folio_test_dirty(folio));
	t_assert(!buffer_dirty(bhfs_buffer(folio, 0)));
	folio_unlock(folio);
	folio_put(folio);
	bhfs_destroy(&fs);
}

int main(void)
{
	struct bh_stats st;

	for (unsigned int bits = 9; bits <= 12; bits++) {
		test_overwrite_partial(bits);
		test_new_blocks(bits);
		test_whole_blocks(bits);
		test_random(bits);
	}
	test_short_copy();
	test_bad_args();
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	return T_EXIT_PASS;
}
