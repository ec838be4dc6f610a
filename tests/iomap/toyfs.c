/* SPDX-License-Identifier: MIT */
#include "toyfs.h"

#include <errno.h>
#include <string.h>

#include "helpers.h"

static struct toyfs *toy_of(struct inode *inode)
{
	return (struct toyfs *)((char *)inode - __builtin_offsetof(struct toyfs, inode));
}

static struct toy_extent *toy_find(struct toyfs *fs, uint64_t pos, uint64_t *next_start)
{
	*next_start = UINT64_MAX;
	for (unsigned int i = 0; i < fs->nr_ext; i++) {
		struct toy_extent *e = &fs->ext[i];

		if (e->offset <= pos && pos < e->offset + e->length)
			return e;
		if (e->offset > pos && e->offset < *next_start)
			*next_start = e->offset;
	}
	return NULL;
}

static int toy_get_folio(struct iomap_iter *iter, uint64_t pos, size_t len,
			 struct folio **foliop)
{
	struct toyfs *fs = toy_of(iter->inode);
	int ret = iomap_get_folio(iter, pos, len, foliop);

	fs->get_folios++;
	if (!ret) {
		t_assert(folio_test_locked(*foliop));
		t_assert(!fs->cur_folio);
		fs->cur_folio = *foliop;
	}
	return ret;
}

static void toy_put_folio(struct inode *inode, uint64_t pos, size_t copied, struct folio *folio)
{
	struct toyfs *fs = toy_of(inode);
	int refs = atomic_load(&folio->refcount);

	t_assert(fs->cur_folio == folio);
	t_assert(folio_test_locked(folio));
	t_assert(pos >= folio_pos(folio) && pos + copied <= folio_pos(folio) + folio_size(folio));
	fs->cur_folio = NULL;
	fs->put_folios++;
	fs->put_copied_total += copied;
	if (!fs->min_put_refcount || refs < fs->min_put_refcount)
		fs->min_put_refcount = refs;
	folio_unlock(folio);
	folio_put(folio);
}

static bool toy_iomap_valid(struct inode *inode, const struct iomap *iomap)
{
	struct toyfs *fs = toy_of(inode);

	(void)iomap;
	fs->valid_calls++;
	if (fs->stale_every && fs->valid_calls % fs->stale_every == 0)
		return false;
	return fs->valid_calls != fs->stale_at;
}

static const struct iomap_folio_ops toy_folio_ops = {
	.get_folio = toy_get_folio,
	.put_folio = toy_put_folio,
	.iomap_valid = toy_iomap_valid,
};

static int toy_begin(struct inode *inode, uint64_t pos, uint64_t length, unsigned int flags,
		     struct iomap *iomap, struct iomap *srcmap)
{
	struct toyfs *fs = toy_of(inode);
	uint64_t next, bs = i_blocksize(inode);
	struct toy_extent *e;

	(void)srcmap;
	fs->begins++;
	if (fs->fail_begin_at && fs->begins == (unsigned int)fs->fail_begin_at)
		return -EIO;
	e = toy_find(fs, pos, &next);
	if (!e && (flags & IOMAP_WRITE)) {
		uint64_t start = pos & ~(bs - 1);
		uint64_t end = (pos + length + bs - 1) & ~(bs - 1);

		if (end > next)
			end = next;
		if (fs->max_alloc && end - start > fs->max_alloc)
			end = start + fs->max_alloc;
		t_assert(fs->nr_ext < TOY_MAX_EXTENTS);
		e = &fs->ext[fs->nr_ext++];
		*e = (struct toy_extent){ start, end - start, fs->next_addr, IOMAP_MAPPED,
					  IOMAP_F_NEW };
		fs->next_addr += end - start;
		t_assert(fs->next_addr <= fs->dev_size);
		*iomap = (struct iomap){ .offset = start, .length = end - start, .addr = e->addr,
					 .type = IOMAP_MAPPED, .flags = IOMAP_F_NEW,
					 .bdev = fs->bdev };
		e->flags = 0;
	} else if (!e) {
		*iomap = (struct iomap){ .offset = pos,
					 .length = next == UINT64_MAX ? length : next - pos,
					 .addr = IOMAP_NULL_ADDR, .type = IOMAP_HOLE };
	} else {
		*iomap = (struct iomap){ .offset = e->offset, .length = e->length,
					 .addr = e->addr, .type = e->type, .flags = e->flags,
					 .bdev = fs->bdev };
		if (e->type == IOMAP_INLINE)
			iomap->inline_data = fs->inline_buf;
	}
	if (fs->use_folio_ops)
		iomap->folio_ops = &toy_folio_ops;
	return 0;
}

static int toy_end(struct inode *inode, uint64_t pos, uint64_t length, int64_t written,
		   unsigned int flags, struct iomap *iomap)
{
	struct toyfs *fs = toy_of(inode);

	fs->ends++;
	fs->last_written = written;
	fs->last_end_pos = pos;
	fs->last_end_len = length;
	fs->last_end_flags = flags;
	fs->last_end_iomap_flags = iomap->flags;
	if (iomap->flags & IOMAP_F_SIZE_CHANGED)
		fs->size_changed_ends++;
	return 0;
}

const struct iomap_ops toy_iomap_ops = {
	.begin = toy_begin,
	.end = toy_end,
};

static int toy_read_folio(struct folio *folio)
{
	return iomap_read_folio(folio, &toy_iomap_ops);
}

static void toy_readahead(struct readahead_control *rac)
{
	iomap_readahead(rac, &toy_iomap_ops);
}

static int toy_map_blocks(struct iomap_writepage_ctx *wpc, struct inode *inode, uint64_t pos,
			  uint64_t len)
{
	struct toyfs *fs = toy_of(inode);
	uint64_t next;
	struct toy_extent *e = toy_find(fs, pos, &next);

	(void)len;
	fs->map_calls++;
	if (!e) {
		wpc->iomap = (struct iomap){ .offset = pos, .length = next - pos,
					     .addr = IOMAP_NULL_ADDR, .type = IOMAP_HOLE };
		return 0;
	}
	if (e->type == IOMAP_DELALLOC) {
		e->addr = fs->next_addr;
		fs->next_addr += e->length;
		e->type = IOMAP_MAPPED;
	}
	t_assert(e->type == IOMAP_MAPPED || e->type == IOMAP_UNWRITTEN);
	wpc->iomap = (struct iomap){ .offset = e->offset, .length = e->length, .addr = e->addr,
				     .type = e->type, .bdev = fs->bdev };
	return 0;
}

static void toy_ioend_done(struct inode *inode, uint64_t offset, uint64_t size,
			   unsigned int flags, int error)
{
	struct toyfs *fs = toy_of(inode);
	uint64_t end = offset + size;

	fs->ioend_dones++;
	fs->ioend_flags_seen |= flags;
	fs->last_ioend_error = error;
	if (error)
		return;
	if (flags & IOMAP_IOEND_UNWRITTEN) {
		for (unsigned int i = 0; i < fs->nr_ext; i++) {
			struct toy_extent *e = &fs->ext[i];

			/* The toy converts whole extents only: tests write them whole. */
			if (e->type == IOMAP_UNWRITTEN && e->offset >= offset &&
			    e->offset + e->length <= end)
				e->type = IOMAP_MAPPED;
		}
	}
	if (end > i_size_read(inode))
		end = i_size_read(inode);
	if (end > fs->disk_size)
		fs->disk_size = end;
}

static const struct iomap_writeback_ops toy_wb_ops = {
	.map_blocks = toy_map_blocks,
	.ioend_done = toy_ioend_done,
};

static int toy_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct iomap_writepage_ctx wpc = { 0 };

	return iomap_writepages(mapping, wbc, &wpc, &toy_wb_ops);
}

int toy_sync(struct toyfs *fs)
{
	return filemap_write_and_wait_range(fs->inode.i_mapping, 0, UINT64_MAX);
}

static const struct address_space_ops toy_aops = {
	.read_folio = toy_read_folio,
	.readahead = toy_readahead,
	.release_folio = iomap_release_folio,
	.invalidate_folio = iomap_invalidate_folio,
	.is_partially_uptodate = iomap_is_partially_uptodate,
	.writepages = toy_writepages,
};

struct toyfs *toy_of_inode(struct inode *inode)
{
	return toy_of(inode);
}

void toy_init(struct toyfs *fs, unsigned int bs, uint64_t dev_size)
{
	toy_init_aops(fs, bs, dev_size, &toy_aops);
}

void toy_init_aops(struct toyfs *fs, unsigned int bs, uint64_t dev_size,
		   const struct address_space_ops *aops)
{
	struct pagecache_opts opts = { 0 };

	memset(fs, 0, sizeof(*fs));
	fs->dev_size = dev_size;
	t_assert_eq(bdev_open_ram(dev_size, 512, &fs->bdev), 0);
	t_assert_eq(pagecache_create(&opts, &fs->cache), 0);
	t_assert_eq(inode_init(&fs->inode, fs->cache, (unsigned int)__builtin_ctz(bs), aops), 0);
}

void toy_destroy(struct toyfs *fs)
{
	inode_destroy(&fs->inode);
	pagecache_destroy(fs->cache);
	bdev_close(fs->bdev);
}

void toy_add(struct toyfs *fs, uint64_t off, uint64_t len, uint16_t type, uint64_t addr,
	     uint16_t flags)
{
	t_assert(fs->nr_ext < TOY_MAX_EXTENTS);
	fs->ext[fs->nr_ext++] = (struct toy_extent){ off, len, addr, type, flags };
	if (addr != IOMAP_NULL_ADDR && addr + len > fs->next_addr)
		fs->next_addr = addr + len;
}

static void toy_dev_io(struct toyfs *fs, enum bio_op op, uint64_t addr, void *buf, size_t len)
{
	struct bio *bio = bio_alloc(fs->bdev, 1, op, 0);

	t_assert(bio);
	bio->bi_sector = addr >> SECTOR_SHIFT;
	t_assert(bio_add(bio, buf, (uint32_t)len, NULL));
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
}

void toy_dev_write(struct toyfs *fs, uint64_t addr, const void *buf, size_t len)
{
	toy_dev_io(fs, BIO_OP_WRITE, addr, (void *)buf, len);
}

void toy_dev_read(struct toyfs *fs, uint64_t addr, void *buf, size_t len)
{
	toy_dev_io(fs, BIO_OP_READ, addr, buf, len);
}

int64_t toy_write(struct toyfs *fs, uint64_t pos, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	struct io_iter from;

	io_iter_init(&from, &iov, 1, len);
	return iomap_file_buffered_write(&fs->inode, pos, &from, &toy_iomap_ops, NULL);
}

int64_t toy_read(struct toyfs *fs, uint64_t pos, void *buf, size_t len)
{
	return filemap_read(&fs->inode, pos, buf, len);
}

static int toy_dio_end_io(struct inode *inode, uint64_t pos, int64_t size, int error,
			  unsigned int flags)
{
	struct toyfs *fs = toy_of(inode);

	fs->dio_end_ios++;
	fs->dio_end_flags |= flags;
	if (error || !size)
		return 0;
	if (flags & IOMAP_DIO_UNWRITTEN) {
		for (unsigned int i = 0; i < fs->nr_ext; i++) {
			struct toy_extent *e = &fs->ext[i];

			if (e->type == IOMAP_UNWRITTEN && e->offset < pos + (uint64_t)size &&
			    pos < e->offset + e->length)
				e->type = IOMAP_MAPPED; /* the toy converts whole extents */
		}
	}
	if (pos + (uint64_t)size > i_size_read(inode))
		i_size_write(inode, pos + (uint64_t)size);
	return 0;
}

const struct iomap_dio_ops toy_dio_ops = {
	.end_io = toy_dio_end_io,
};

int64_t toy_dio(struct toyfs *fs, bool write, uint64_t pos, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct io_iter mem;
	struct iomap_dio_req req = {
		.inode = &fs->inode,
		.pos = pos,
		.iter = &mem,
		.flags = write ? IOMAP_DIO_WRITE : 0,
	};

	io_iter_init(&mem, &iov, 1, len);
	return iomap_dio_rw(&req, &toy_iomap_ops, &toy_dio_ops);
}
