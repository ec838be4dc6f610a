/* SPDX-License-Identifier: MIT */
/*
 * SEEK_HOLE / SEEK_DATA (unwritten extents are data only where the page
 * cache holds data, as in the kernel) and fiemap (flags per extent type,
 * LAST on the final extent, counting mode, a full array).
 */
#include <errno.h>
#include <linux/fiemap.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "toyfs.h"

#define K(x) ((uint64_t)(x) << 10)

static void layout(struct toyfs *fs, unsigned int bs)
{
	toy_init(fs, bs, 4 << 20);
	toy_add(fs, 0, K(64), IOMAP_MAPPED, 0, 0);
	toy_add(fs, K(128), K(64), IOMAP_UNWRITTEN, K(512), 0);
	toy_add(fs, K(192), K(64), IOMAP_DELALLOC, IOMAP_NULL_ADDR, 0);
	i_size_write(&fs->inode, K(256));
}

static void test_seek(unsigned int bs)
{
	struct toyfs fs;
	struct inode *inode = &fs.inode;
	char data[4096];

	layout(&fs, bs);
	t_assert_eq(iomap_seek_data(inode, 0, &toy_iomap_ops), 0);
	t_assert_eq(iomap_seek_hole(inode, 0, &toy_iomap_ops), K(64));
	t_assert_eq(iomap_seek_hole(inode, 100, &toy_iomap_ops), K(64));
	t_assert_eq(iomap_seek_data(inode, K(64), &toy_iomap_ops), K(192));
	t_assert_eq(iomap_seek_hole(inode, K(130), &toy_iomap_ops), K(130));
	t_assert_eq(iomap_seek_hole(inode, K(192), &toy_iomap_ops), K(256));
	t_assert_eq(iomap_seek_data(inode, K(256), &toy_iomap_ops), -ENXIO);
	t_assert_eq(iomap_seek_hole(inode, K(256), &toy_iomap_ops), -ENXIO);
	t_assert_eq(iomap_seek_data(inode, -1, &toy_iomap_ops), -ENXIO);
	t_assert_eq(iomap_seek_hole(inode, K(256) - 1, &toy_iomap_ops), K(256));

	/* Data written over the unwritten extent (not yet converted) is data. */
	memset(data, 1, sizeof(data));
	t_assert_eq(toy_write(&fs, K(160), data, 4096), 4096);
	t_assert_eq(iomap_seek_data(inode, K(64), &toy_iomap_ops), K(160));
	t_assert_eq(iomap_seek_hole(inode, K(160), &toy_iomap_ops), K(164));
	t_assert_eq(iomap_seek_hole(inode, K(128), &toy_iomap_ops), K(128));
	toy_destroy(&fs);
}

static struct fiemap *fiemap_alloc(unsigned int n)
{
	struct fiemap *fi = t_calloc(1, sizeof(*fi) + n * sizeof(struct fiemap_extent));

	fi->fm_extent_count = n;
	return fi;
}

static void test_fiemap(void)
{
	struct toyfs fs;
	struct fiemap *fi = fiemap_alloc(8);

	layout(&fs, 4096);
	t_assert_eq(iomap_fiemap(&fs.inode, fi, 0, UINT64_MAX, &toy_iomap_ops), 0);
	t_assert_eq(fi->fm_mapped_extents, 3);
	t_assert_eq(fi->fm_extents[0].fe_logical, 0);
	t_assert_eq(fi->fm_extents[0].fe_length, K(64));
	t_assert_eq(fi->fm_extents[0].fe_physical, 0);
	t_assert_eq(fi->fm_extents[0].fe_flags, 0);
	t_assert_eq(fi->fm_extents[1].fe_logical, K(128));
	t_assert_eq(fi->fm_extents[1].fe_physical, K(512));
	t_assert_eq(fi->fm_extents[1].fe_flags, FIEMAP_EXTENT_UNWRITTEN);
	t_assert_eq(fi->fm_extents[2].fe_flags,
		    FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_LAST);
	t_assert_eq(fi->fm_extents[2].fe_physical, 0);

	/* Counting only. */
	free(fi);
	fi = fiemap_alloc(0);
	t_assert_eq(iomap_fiemap(&fs.inode, fi, 0, K(256), &toy_iomap_ops), 0);
	t_assert_eq(fi->fm_mapped_extents, 3);

	/* A full array stops the walk; the last stored extent is not LAST. */
	free(fi);
	fi = fiemap_alloc(2);
	t_assert_eq(iomap_fiemap(&fs.inode, fi, 0, K(256), &toy_iomap_ops), 0);
	t_assert_eq(fi->fm_mapped_extents, 2);
	t_assert(!(fi->fm_extents[1].fe_flags & FIEMAP_EXTENT_LAST));

	/* A window: only the extents it touches. */
	free(fi);
	fi = fiemap_alloc(8);
	t_assert_eq(iomap_fiemap(&fs.inode, fi, K(100), K(50), &toy_iomap_ops), 0);
	t_assert_eq(fi->fm_mapped_extents, 1);
	t_assert_eq(fi->fm_extents[0].fe_logical, K(128));

	/* Unsupported flags. */
	fi->fm_flags = FIEMAP_FLAG_XATTR;
	t_assert_eq(iomap_fiemap(&fs.inode, fi, 0, K(256), &toy_iomap_ops), -EBADR);
	t_assert_eq(fi->fm_flags, FIEMAP_FLAG_XATTR);
	toy_destroy(&fs);

	/* INLINE. */
	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 1000, IOMAP_INLINE, IOMAP_NULL_ADDR, 0);
	i_size_write(&fs.inode, 1000);
	fi->fm_flags = 0;
	t_assert_eq(iomap_fiemap(&fs.inode, fi, 0, 1000, &toy_iomap_ops), 0);
	t_assert_eq(fi->fm_mapped_extents, 1);
	t_assert_eq(fi->fm_extents[0].fe_flags, FIEMAP_EXTENT_DATA_INLINE |
						FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_LAST);
	toy_destroy(&fs);
	free(fi);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++)
		test_seek(sizes[i]);
	test_fiemap();
	return T_EXIT_PASS;
}
