/* SPDX-License-Identifier: MIT */
/*
 * The iomap iterator: ->begin once per extent, ->end with the bytes the
 * body advanced over, stale remaps, errors from the body, from ->begin and
 * from ->end, and mappings that break the ->begin contract.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "iomap/inode.h"
#include "iomap/iomap.h"
#include "iomap/stats.h"

struct fake {
	uint64_t extent; /* every mapping is this long, aligned to it */
	unsigned int begins, ends;
	int64_t written[64];
	uint64_t end_len[64];
	int begin_err, end_err;
	bool bad_offset, zero_length;
};

static struct fake F;

static int fake_begin(struct inode *inode, uint64_t pos, uint64_t length, unsigned int flags,
		      struct iomap *iomap, struct iomap *srcmap)
{
	(void)inode; (void)length; (void)flags; (void)srcmap;
	F.begins++;
	if (F.begin_err)
		return F.begin_err;
	iomap->offset = pos - pos % F.extent;
	iomap->length = F.zero_length ? 0 : F.extent;
	if (F.bad_offset)
		iomap->offset = pos + 1;
	iomap->type = IOMAP_MAPPED;
	iomap->addr = iomap->offset;
	return 0;
}

static int fake_end(struct inode *inode, uint64_t pos, uint64_t length, int64_t written,
		    unsigned int flags, struct iomap *iomap)
{
	(void)inode; (void)pos; (void)flags; (void)iomap;
	if (F.ends < 64) {
		F.written[F.ends] = written;
		F.end_len[F.ends] = length;
	}
	F.ends++;
	return F.end_err;
}

static const struct iomap_ops fake_ops = { .begin = fake_begin, .end = fake_end };

static void reset(uint64_t extent)
{
	memset(&F, 0, sizeof(F));
	F.extent = extent;
}

/* One mapping call per extent, and ->end sees exactly the bytes done. */
static void test_once_per_extent(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 1 << 20 };
	int ret;

	reset(64 << 10);
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0) {
		t_assert_eq(iomap_length(&iter), 64 << 10);
		iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
	}
	t_assert_eq(ret, 0);
	t_assert_eq(F.begins, 16);
	t_assert_eq(F.ends, 16);
	for (int i = 0; i < 16; i++) {
		t_assert_eq(F.written[i], 64 << 10);
		t_assert_eq(F.end_len[i], 64 << 10);
	}
	t_assert_eq(iter.pos, 1 << 20);
	t_assert_eq(iter.len, 0);
}

/* An unaligned range: the first and last mappings are trimmed for ->end. */
static void test_trimmed(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 1000, .len = 10000 };
	int ret;

	reset(4096);
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0)
		iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
	t_assert_eq(ret, 0);
	t_assert_eq(F.begins, 3); /* [1000,4096) [4096,8192) [8192,11000) */
	t_assert_eq(F.written[0], 3096);
	t_assert_eq(F.written[2], 11000 - 8192);
	t_assert_eq(F.end_len[2], 11000 - 8192);
}

/* A body that does part of a mapping and then nothing ends the walk. */
static void test_partial_then_stop(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 1 << 20 };
	int ret, n = 0;

	reset(1 << 20);
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0) {
		if (n++ == 0)
			iter.status = iomap_iter_advance(&iter, 5000);
	}
	t_assert_eq(ret, 0);
	/* Second begin for the rest, then no progress: stop. */
	t_assert_eq(F.begins, 2);
	t_assert_eq(F.ends, 2);
	t_assert_eq(F.written[0], 5000);
	t_assert_eq(F.written[1], 0);
}

/* A body error ends the walk with that error, ->end still called. */
static void test_body_error(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 1 << 20 };
	int ret;

	reset(4096);
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0) {
		if (iter.pos == 8192)
			iter.status = -ENOSPC;
		else
			iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
	}
	t_assert_eq(ret, -ENOSPC);
	t_assert_eq(F.begins, 3);
	t_assert_eq(F.ends, 3);
	t_assert_eq(F.written[2], 0);
}

/* A stale mapping is remapped even though nothing was done. */
static void test_stale(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 8192 };
	struct iomap_stats st;
	int ret, n = 0;

	reset(8192);
	iomap_reset_stats();
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0) {
		if (n++ == 0)
			iter.iomap.flags |= IOMAP_F_STALE;
		else
			iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
	}
	t_assert_eq(ret, 0);
	t_assert_eq(F.begins, 2);
	t_assert_eq(F.ends, 2);
	iomap_get_stats(&st);
	t_assert_eq(st.stale_remaps, 1);
	t_assert_eq(st.begin_calls, 2);
	t_assert_eq(st.end_calls, 2);
}

/* Errors from ->begin and ->end; ->end's error only when nothing was done. */
static void test_callback_errors(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 8192 };
	int ret;

	reset(4096);
	F.begin_err = -EIO;
	ret = iomap_iter(&iter, &fake_ops);
	t_assert_eq(ret, -EIO);
	t_assert_eq(F.ends, 0);

	reset(4096);
	F.end_err = -EDQUOT;
	iter = (struct iomap_iter){ .inode = &inode, .pos = 0, .len = 8192 };
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0)
		iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
	t_assert_eq(ret, 0); /* progress was made: the error of ->end is dropped */

	reset(4096);
	F.end_err = -EDQUOT;
	iter = (struct iomap_iter){ .inode = &inode, .pos = 0, .len = 8192 };
	while ((ret = iomap_iter(&iter, &fake_ops)) > 0)
		;
	t_assert_eq(ret, -EDQUOT);
}

/* A mapping that does not cover pos is a broken contract: -EIO, no loop. */
static void test_bad_mapping(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 0, .len = 8192 };

	reset(4096);
	F.bad_offset = true;
	t_assert_eq(iomap_iter(&iter, &fake_ops), -EIO);
	t_assert_eq(F.ends, 1); /* still ended, so the filesystem can release it */

	reset(4096);
	F.zero_length = true;
	iter = (struct iomap_iter){ .inode = &inode, .pos = 0, .len = 8192 };
	t_assert_eq(iomap_iter(&iter, &fake_ops), -EIO);

	/* Advancing past the mapping is refused. */
	reset(4096);
	iter = (struct iomap_iter){ .inode = &inode, .pos = 0, .len = 8192 };
	t_assert_eq(iomap_iter(&iter, &fake_ops), 1);
	t_assert_eq(iomap_iter_advance(&iter, 4097), -EIO);
	t_assert_eq(iomap_iter_advance(&iter, 4096), 0);
	iter.status = 0;
	while (iomap_iter(&iter, &fake_ops) > 0)
		iter.status = iomap_iter_advance(&iter, iomap_length(&iter));
}

/* An empty range asks nothing. */
static void test_empty(void)
{
	struct inode inode = { .i_blkbits = 12 };
	struct iomap_iter iter = { .inode = &inode, .pos = 100, .len = 0 };

	reset(4096);
	t_assert_eq(iomap_iter(&iter, &fake_ops), 0);
	t_assert_eq(F.begins, 0);
}

int main(void)
{
	test_once_per_extent();
	test_trimmed();
	test_partial_then_stop();
	test_body_error();
	test_stale();
	test_callback_errors();
	test_bad_mapping();
	test_empty();
	return T_EXIT_PASS;
}
