/* SPDX-License-Identifier: MIT */
/*
 * Description: the ->end side of writes.  A write whose source stops short
 * (an io_iter that "faults" part way, as a user buffer can) must leave the
 * file exactly as long as what was written, with the space reserved for the
 * rest given back by ->end (no delalloc or mapped block past EOF,
 * checked by testfs_check).  With stale_every, every few ->iomap_valid
 * calls report the mapping stale: iomap must remap and the data must come
 * out the same.
 */
#include "t-testfs.h"

#include "iomap/stats.h"
#include "iomap/uio.h"

#define DEV_SIZE (8U << 20)

/* The source can be copied up to @limit bytes, then it "faults". */
struct limited_src {
	size_t limit;
	size_t total;
};

static size_t limited_readable(const struct io_iter *iter, size_t want, void *arg)
{
	const struct limited_src *src = arg;
	size_t done = src->total - iter->count;

	if (done >= src->limit)
		return 0;
	return want < src->limit - done ? want : src->limit - done;
}

static ssize_t write_limited(struct testfs_file *f, uint64_t pos, const uint8_t *buf,
			     size_t len, size_t limit)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct limited_src src = { .limit = limit, .total = len };
	struct io_iter from;

	io_iter_init(&from, &iov, 1, len);
	from.readable = limited_readable;
	from.readable_arg = &src;
	return testfs_write_iter(f, pos, &from);
}

static void test_short(struct t_fs *t, uint64_t bs, uint64_t pos)
{
	struct testfs_file *f = t_file(t);
	size_t len = 10 * bs, limit = 5 * bs / 2;
	uint8_t *buf = t_malloc(len);
	uint64_t released = t_stats(t).blocks_released, size;
	ssize_t ret;

	t_fill_pattern(buf, len, pos, 1);
	ret = write_limited(f, pos, buf, len, limit);
	/* Something was written, no more than the source gave. */
	t_assert(ret > 0 && (size_t)ret <= limit);
	t_assert_eq(testfs_size(f), pos + (uint64_t)ret);
	t_assert(t_stats(t).blocks_released > released);
	t_check_pattern_at(f, pos, (size_t)ret, 1);
	t_check_zero_at(f, 0, pos);
	t_fsck(t); /* nothing reserved or allocated past EOF */

	/* Nothing at all readable: nothing written, nothing kept. */
	size = testfs_size(f);
	ret = write_limited(f, size + 3 * bs + 1, buf, len, 0);
	t_assert(ret < 0);
	t_assert_eq(testfs_size(f), size);
	t_fsck(t);
	testfs_file_destroy(f);
	t_assert_eq(t_stats(t).blocks_free, t_stats(t).blocks_total);
	free(buf);
}

static void test_stale(uint64_t bs, bool delalloc, unsigned int every)
{
	struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = delalloc,
				 .stale_every = every, .max_extent = 8 * bs };
	struct testfs_file *f;
	struct iomap_stats st;
	struct t_fs t;

	t_fs_setup(&t, DEV_SIZE, &o);
	f = t_file(&t);
	iomap_reset_stats();
	t_write_pattern(f, 100, 64 * bs, 2);
	t_write_pattern(f, 7 * bs + 3, 5 * bs, 3); /* overwrite, unaligned */
	iomap_get_stats(&st);
	t_assert(st.stale_remaps > 0);
	t_assert_eq(st.stale_remaps, t_stats(&t).stale_injected);
	t_assert_eq(st.begin_calls, st.end_calls);
	t_check_zero_at(f, 0, 100);
	t_check_pattern_at(f, 100, 7 * bs + 3 - 100, 2);
	t_check_pattern_at(f, 7 * bs + 3, 5 * bs, 3);
	t_check_pattern_at(f, 12 * bs + 3, 64 * bs + 100 - 12 * bs - 3, 2);
	t_fsck(&t);
	t_fs_teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (int da = 0; da < 2; da++) {
			uint64_t bs = t_block_sizes[i];
			struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = da };
			struct t_fs t;

			t_fs_setup(&t, DEV_SIZE, &o);
			test_short(&t, bs, 0);
			test_short(&t, bs, bs / 2 + 1);
			test_short(&t, bs, 3 * bs);
			t_fs_teardown(&t);
			test_stale(bs, da, 2);
			test_stale(bs, da, 7);
		}
	}
	return T_EXIT_PASS;
}
