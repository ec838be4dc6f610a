/* SPDX-License-Identifier: MIT */
/*
 * Direct I/O through iomap: reads and writes bypass the page cache; dirty
 * cached data is written back first and cached folios are dropped around
 * writes; holes and unwritten extents read as zeroes; sub-block writes into
 * new or unwritten blocks zero the rest of the block; reads stop at EOF;
 * misaligned requests fail with -EINVAL; asynchronous requests complete
 * through their callback, also from a workqueue.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "helpers.h"
#include "iomap/workqueue.h"
#include "toyfs.h"

#define SEED 0xd10

static void *abuf(size_t len)
{
	return t_aligned_alloc(4096, len);
}

static void test_read(void)
{
	struct toyfs fs;
	char *buf = abuf(64 << 10), *disk = abuf(32 << 10);
	struct bdev_stats st;

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 32 << 10, IOMAP_MAPPED, 64 << 10, 0);
	toy_add(&fs, 48 << 10, 16 << 10, IOMAP_UNWRITTEN, 256 << 10, 0);
	t_fill_pattern(disk, 32 << 10, 0, SEED);
	toy_dev_write(&fs, 64 << 10, disk, 32 << 10);
	i_size_write(&fs.inode, (64 << 10) - 1000);
	memset(buf, 0xcc, 64 << 10);
	t_assert_eq(toy_dio(&fs, false, 0, buf, 64 << 10), (64 << 10) - 1000);
	t_assert(memcmp(buf, disk, 32 << 10) == 0);
	t_assert(t_is_zero(buf + (32 << 10), (32 << 10) - 1000));
	t_assert_eq(mapping_nr_folios(fs.inode.i_mapping), 0);
	bdev_get_stats(fs.bdev, &st);
	t_assert_eq(st.bios_read, 1);
	/* At and past EOF. */
	t_assert_eq(toy_dio(&fs, false, 64 << 10, buf, 4096), 0);
	/* Sub-block but sector aligned is fine; unaligned is not. */
	t_assert_eq(toy_dio(&fs, false, 512, buf, 512), 512);
	t_assert(memcmp(buf, disk + 512, 512) == 0);
	t_assert_eq(toy_dio(&fs, false, 100, buf, 512), -EINVAL);
	t_assert_eq(toy_dio(&fs, false, 0, buf + 1, 512), -EINVAL);
	t_assert_eq(toy_dio(&fs, false, 0, buf, 100), -EINVAL);
	toy_destroy(&fs);
	free(buf);
	free(disk);
}

/* Dirty cached data is written back first; the folios are gone afterwards. */
static void test_write_coherency(void)
{
	struct toyfs fs;
	char *buf = abuf(16 << 10), *back = abuf(16 << 10);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 16 << 10, IOMAP_MAPPED, 0, 0);
	i_size_write(&fs.inode, 16 << 10);
	t_fill_pattern(buf, 16 << 10, 0, SEED);
	t_assert_eq(toy_write(&fs, 0, buf, 16 << 10), 16 << 10); /* buffered, dirty */
	memset(back, 0x11, 4096);
	t_assert_eq(toy_dio(&fs, true, 4096, back, 4096), 4096);
	{
		struct folio *f;

		/* The folio over the write is gone; its neighbours stay, still dirty. */
		t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 1, 0, &f), -ENOENT);
		t_assert_eq(mapping_nr_folios(fs.inode.i_mapping), 3);
		t_assert(mapping_range_tagged(fs.inode.i_mapping, 0, 0, MAPPING_TAG_DIRTY));
	}
	t_assert_eq(toy_read(&fs, 0, buf, 16 << 10), 16 << 10); /* buffered read from disk */
	t_assert(t_check_pattern(buf, 4096, 0, SEED) == -1);
	t_assert(memcmp(buf + 4096, back, 4096) == 0);
	t_assert(t_check_pattern(buf + 8192, 8192, 8192, SEED) == -1);
	toy_destroy(&fs);
	free(buf);
	free(back);
}

/* A 512-byte write into an unwritten 4 KiB block zeroes the rest of the block. */
static void test_subblock_zeroing(void)
{
	struct toyfs fs;
	char *buf = abuf(4096), *disk = abuf(4096);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 8192, IOMAP_UNWRITTEN, 8192, 0);
	memset(disk, 0xee, 4096);
	toy_dev_write(&fs, 8192, disk, 4096); /* stale contents */
	memset(buf, 0x55, 512);
	t_assert_eq(toy_dio(&fs, true, 1024, buf, 512), 512);
	t_assert(fs.dio_end_flags & IOMAP_DIO_UNWRITTEN);
	t_assert_eq(i_size_read(&fs.inode), 1536);
	toy_dev_read(&fs, 8192, disk, 4096);
	t_assert(t_is_zero(disk, 1024));
	t_assert(memcmp(disk + 1024, buf, 512) == 0);
	t_assert(t_is_zero(disk + 1536, 4096 - 1536));
	toy_destroy(&fs);
	free(buf);
	free(disk);
}

static void test_bad_mappings(void)
{
	struct toyfs fs;
	char *buf = abuf(4096);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_DELALLOC, IOMAP_NULL_ADDR, 0);
	i_size_write(&fs.inode, 4096);
	t_assert_eq(toy_dio(&fs, false, 0, buf, 4096), -EIO);
	toy_destroy(&fs);
	free(buf);
}

static void test_inline(void)
{
	struct toyfs fs;
	char *buf = abuf(4096);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 3584, IOMAP_INLINE, IOMAP_NULL_ADDR, 0);
	t_fill_pattern(buf, 1024, 0, SEED);
	t_assert_eq(toy_dio(&fs, true, 0, buf, 1024), 1024);
	t_assert_eq(i_size_read(&fs.inode), 1024);
	t_assert(memcmp(fs.inline_buf, buf, 1024) == 0);
	memset(buf, 0, 4096);
	t_assert_eq(toy_dio(&fs, false, 0, buf, 2048), 1024);
	t_assert(t_check_pattern(buf, 1024, 0, SEED) == -1);
	toy_destroy(&fs);
	free(buf);
}

struct async_done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t result;
	bool done;
};

static void async_complete(struct iomap_dio_req *req, int64_t result)
{
	struct async_done *d = req->private;

	pthread_mutex_lock(&d->lock);
	d->result = result;
	d->done = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void test_async(bool use_wq)
{
	struct toyfs fs;
	char *buf = abuf(1 << 20), *back = abuf(1 << 20);
	struct async_done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
	struct iovec iov = { buf, 1 << 20 };
	struct io_iter mem;
	struct workqueue *wq = NULL;
	struct iomap_dio_req req;

	toy_init(&fs, 4096, 4 << 20);
	toy_add(&fs, 0, 1 << 20, IOMAP_UNWRITTEN, 1 << 20, 0);
	if (use_wq)
		t_assert_eq(workqueue_create(1, &wq), 0);
	t_fill_pattern(buf, 1 << 20, 0, SEED);
	io_iter_init(&mem, &iov, 1, 1 << 20);
	req = (struct iomap_dio_req){ .inode = &fs.inode, .iter = &mem,
				      .flags = IOMAP_DIO_WRITE | IOMAP_DIO_DSYNC,
				      .complete = async_complete, .wq = wq, .private = &d };
	t_assert_eq(iomap_dio_rw(&req, &toy_iomap_ops, &toy_dio_ops), -EIOCBQUEUED);
	pthread_mutex_lock(&d.lock);
	while (!d.done)
		pthread_cond_wait(&d.cond, &d.lock);
	pthread_mutex_unlock(&d.lock);
	t_assert_eq(d.result, 1 << 20);
	t_assert_eq(fs.ext[0].type, IOMAP_MAPPED);
	t_assert_eq(toy_dio(&fs, false, 0, back, 1 << 20), 1 << 20);
	t_assert(memcmp(buf, back, 1 << 20) == 0);
	workqueue_destroy(wq);
	toy_destroy(&fs);
	free(buf);
	free(back);
}

int main(void)
{
	test_read();
	test_write_coherency();
	test_subblock_zeroing();
	test_bad_mappings();
	test_inline();
	test_async(false);
	test_async(true);
	return T_EXIT_PASS;
}
