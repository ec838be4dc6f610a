/* SPDX-License-Identifier: MIT */
/*
 * testfs_check(): a small fsck over the in-memory metadata.  It rebuilds
 * the block bitmap from every file's extents and compares it with the
 * allocator's, and checks the invariants listed in extent.c and
 * internal.h.  Locks: files_lock, then each file's map_lock in turn, then
 * the allocator lock; so it must not run while an operation is between two
 * of its steps (a reservation not yet in an extent would look leaked).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct chk {
	struct testfs *fs;
	uint64_t *seen; /* blocks found in extents */
	uint64_t allocated, delalloc;
	char *msg;
	size_t msglen;
};

__attribute__((format(printf, 2, 3))) static int chk_fail(struct chk *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->msglen) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->msglen, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static int chk_blocks(struct chk *c, const struct testfs_file *f, const struct testfs_extent *e)
{
	const struct testfs_alloc *a = &c->fs->alloc;

	if (e->pblk == TESTFS_NO_BLOCK || e->pblk > a->nr_blocks || e->len > a->nr_blocks - e->pblk)
		return chk_fail(c, "ino %" PRIu64 ": extent at block %" PRIu64
				" has bad disk block %" PRIu64, f->inode.i_ino, e->lblk, e->pblk);
	for (uint64_t b = e->pblk; b < e->pblk + e->len; b++) {
		uint64_t bit = 1ULL << (b % 64);

		if (c->seen[b / 64] & bit)
			return chk_fail(c, "disk block %" PRIu64 " is used twice (ino %" PRIu64 ")",
					b, f->inode.i_ino);
		c->seen[b / 64] |= bit;
	}
	c->allocated += e->len;
	return 0;
}

/* @eof_blk: first block wholly past EOF; no data extent may reach it. */
static int chk_extent(struct chk *c, const struct testfs_file *f, size_t i, uint64_t eof_blk)
{
	const struct testfs_extent *e = &f->map.ext[i];

	if (!e->len || e->len > f->map.max_len)
		return chk_fail(c, "ino %" PRIu64 ": extent at block %" PRIu64
				" has length %" PRIu64, f->inode.i_ino, e->lblk, e->len);
	if (i > 0 && testfs_ext_end(&f->map.ext[i - 1]) > e->lblk)
		return chk_fail(c, "ino %" PRIu64 ": extents overlap at block %" PRIu64,
				f->inode.i_ino, e->lblk);
	if (e->state != TESTFS_EXT_UNWRITTEN && testfs_ext_end(e) > eof_blk)
		return chk_fail(c, "ino %" PRIu64 ": %s extent [%" PRIu64 ", +%" PRIu64
				") reaches past EOF block %" PRIu64, f->inode.i_ino,
				e->state == TESTFS_EXT_DELALLOC ? "delalloc" : "mapped", e->lblk,
				e->len, eof_blk);
	if (e->state != TESTFS_EXT_DELALLOC)
		return chk_blocks(c, f, e);
	if (e->pblk != TESTFS_NO_BLOCK)
		return chk_fail(c, "ino %" PRIu64 ": delalloc extent with a disk block",
				f->inode.i_ino);
	c->delalloc += e->len;
	return 0;
}

static int chk_inline(struct chk *c, const struct testfs_file *f, uint64_t size)
{
	if (f->map.nr || size > c->fs->opts.inline_max)
		return chk_fail(c, "ino %" PRIu64 ": inline file with %zu extents, size %" PRIu64,
				f->inode.i_ino, f->map.nr, size);
	for (uint64_t i = size; i < c->fs->opts.inline_max; i++)
		if (f->inl->data[i])
			return chk_fail(c, "ino %" PRIu64 ": inline byte %" PRIu64
					" past EOF is not zero", f->inode.i_ino, i);
	return 0;
}

static int chk_file(struct chk *c, struct testfs_file *f)
{
	uint64_t size = i_size_read(&f->inode);
	uint64_t eof_blk = testfs_round_up(c->fs, size) >> c->fs->blkbits;
	int ret = 0;

	pthread_mutex_lock(&f->map_lock);
	if (f->inl)
		ret = chk_inline(c, f, size);
	for (size_t i = 0; !ret && i < f->map.nr; i++)
		ret = chk_extent(c, f, i, eof_blk);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

static int chk_alloc(struct chk *c)
{
	struct testfs_alloc *a = &c->fs->alloc;
	int ret = 0;

	pthread_mutex_lock(&a->lock);
	if (a->allocated != c->allocated || a->reserved != c->delalloc)
		ret = chk_fail(c, "allocator counts %" PRIu64 " allocated, %" PRIu64
			       " reserved; extents hold %" PRIu64 " and %" PRIu64, a->allocated,
			       a->reserved, c->allocated, c->delalloc);
	else if (a->allocated + a->reserved > a->nr_blocks)
		ret = chk_fail(c, "more blocks used than the device has");
	for (uint64_t w = 0; !ret && w < (a->nr_blocks + 63) / 64; w++)
		if (a->bitmap[w] != c->seen[w])
			ret = chk_fail(c, "bitmap differs from the extents near block %" PRIu64,
				       w * 64 + (uint64_t)__builtin_ctzll(a->bitmap[w] ^ c->seen[w]));
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int testfs_check(struct testfs *fs, char *msg, size_t msglen)
{
	struct chk c = { .fs = fs, .msg = msg, .msglen = msglen };
	int ret = 0;

	c.seen = calloc((fs->alloc.nr_blocks + 63) / 64, sizeof(uint64_t));
	if (!c.seen)
		return -ENOMEM;
	/* The journal ring is allocated too, by nobody's extent. */
	for (uint64_t b = fs->journal.start; b < fs->journal.start + fs->journal.nr_blocks; b++)
		c.seen[b / 64] |= 1ULL << (b % 64);
	c.allocated = fs->journal.nr_blocks;
	pthread_mutex_lock(&fs->files_lock);
	for (struct testfs_file *f = fs->files; !ret && f; f = f->next)
		ret = chk_file(&c, f);
	pthread_mutex_unlock(&fs->files_lock);
	if (!ret)
		ret = chk_alloc(&c);
	free(c.seen);
	if (!ret && msg && msglen)
		msg[0] = '\0';
	return ret;
}
