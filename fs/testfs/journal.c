/* SPDX-License-Identifier: MIT */
/*
 * Journaled data (testfs_opts.jdata), after gfs2: data is written to a
 * journal before it is written in place.
 *
 * The journal is a ring of blocks at the start of the device, taken from
 * the allocator when the filesystem is created.  A write goes through
 * iomap with IOMAP_F_BUFFER_HEAD (so folios carry buffer heads, which is
 * what a journal hangs its per-block state on) and folio hooks that wrap
 * each folio in its own small transaction, as gfs2_iomap_get_folio /
 * gfs2_iomap_put_folio do:
 *
 *   ->get_folio  reserves journal space for the blocks this folio's part
 *                of the write touches (plus a descriptor block), then gets
 *                the folio;
 *   ->put_folio  copies the written buffers into the transaction while
 *                the folio is still locked, unlocks it, and commits: one
 *                descriptor block naming the blocks' in-place addresses,
 *                then the blocks, written to the ring with FUA.  The
 *                buffers were marked dirty by the write, so writeback
 *                later writes them in place (block_writepages through
 *                testfs_get_block, as in buffer-head mode).
 *
 * No transaction is ever held across the per-folio loop: a write may wait
 * for memory or writeback in between (balance_dirty_pages runs after the
 * commit), and a transaction held there could wait for space only that
 * writeback would free: the gfs2 deadlock fixed by d0a22a4b03b8.
 * get_folio refuses (-EIO, counted in trans_nested) to open a transaction
 * while the file has one open, and trans_max_open counts how many were
 * ever open at once.  Metadata is not journaled (it lives in memory) and
 * nothing replays the journal: it shows the structure and the I/O a
 * journaled write costs.
 *
 * Locking: a file's transaction belongs to the writer holding its i_rwsem
 * exclusive.  journal->lock protects the reservation count; commit_lock
 * serialises commits, so a ring position is never rewritten while an
 * earlier commit to it is in flight, and is held across the commit's I/O
 * (nothing that I/O's completion needs).  Neither is taken with a folio
 * lock or map_lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iomap/bio.h"
#include "iomap/buffer_head.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "internal.h"

#define JOURNAL_MAX_BLOCKS 256U
#define JOURNAL_MAGIC 0x7466736a726e6c31ULL /* "tfsjrnl1" */

/* The first block of a commit. */
struct journal_desc {
	uint64_t magic;
	uint64_t seq;
	uint32_t nr; /* data blocks that follow */
	uint32_t blkbits;
	uint64_t blocknr[]; /* their in-place addresses, in filesystem blocks */
};

/* Blocks of one folio's transaction at most: its data blocks and the descriptor. */
static unsigned int trans_max_blocks(const struct testfs *fs)
{
	return (unsigned int)(PAGE_SIZE >> fs->blkbits) + 1;
}

int testfs_journal_init(struct testfs *fs)
{
	struct testfs_journal *j = &fs->journal;
	uint64_t n = tfs_min((uint64_t)JOURNAL_MAX_BLOCKS, fs->alloc.nr_blocks / 4);

	if (!fs->opts.jdata)
		return 0;
	if (n < trans_max_blocks(fs))
		return -EINVAL;
	if (testfs_alloc_reserve(&fs->alloc, n, false) < 0)
		return -ENOSPC;
	/* A fresh allocator: the claim is the whole run from block 0. */
	if (testfs_alloc_claim(&fs->alloc, 0, n, &j->start) != n)
		return -ENOSPC;
	j->nr_blocks = n;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->room, NULL);
	pthread_mutex_init(&j->commit_lock, NULL);
	return 0;
}

void testfs_journal_destroy(struct testfs *fs)
{
	struct testfs_journal *j = &fs->journal;

	if (!j->nr_blocks)
		return;
	pthread_mutex_destroy(&j->commit_lock);
	pthread_cond_destroy(&j->room);
	pthread_mutex_destroy(&j->lock);
	testfs_alloc_free(&fs->alloc, j->start, j->nr_blocks);
	j->nr_blocks = 0;
}

/* ---- transactions ---- */

/* Wait for @n blocks of journal space; no folio lock is held. */
static void journal_reserve(struct testfs_journal *j, uint64_t n)
{
	pthread_mutex_lock(&j->lock);
	while (j->reserved + n > j->nr_blocks)
		pthread_cond_wait(&j->room, &j->lock);
	j->reserved += n;
	pthread_mutex_unlock(&j->lock);
}

static void journal_unreserve(struct testfs_journal *j, uint64_t n)
{
	pthread_mutex_lock(&j->lock);
	j->reserved -= n;
	pthread_cond_broadcast(&j->room);
	pthread_mutex_unlock(&j->lock);
}

static void count_open(struct testfs *fs)
{
	uint64_t open = atomic_fetch_add(&fs->trans_open, 1) + 1;
	uint64_t max = atomic_load(&fs->counters.trans_max_open);

	while (open > max && !atomic_compare_exchange_weak(&fs->counters.trans_max_open, &max, open))
		;
}

/*
 * Open the file's transaction for the write of [pos, pos + len), which
 * lies in one folio.  Caller holds i_rwsem exclusive and no folio lock.
 */
static int trans_begin(struct testfs_file *f, uint64_t pos, size_t len)
{
	struct testfs *fs = f->fs;
	uint64_t bmask = testfs_bsize(fs) - 1;
	uint64_t blocks = ((pos & bmask) + len + bmask) >> fs->blkbits;

	if (f->trans.open) {
		/* Can't happen: each folio's transaction ends in its ->put_folio. */
		testfs_count(fs, trans_nested, 1);
		return -EIO;
	}
	blocks = tfs_min(blocks + 1, (uint64_t)trans_max_blocks(fs));
	journal_reserve(&fs->journal, blocks);
	f->trans.open = true;
	f->trans.reserved = blocks;
	f->trans.nr = 0;
	count_open(fs);
	testfs_count(fs, trans_begun, 1);
	return 0;
}

static void trans_end(struct testfs_file *f)
{
	struct testfs *fs = f->fs;

	journal_unreserve(&fs->journal, f->trans.reserved);
	f->trans.open = false;
	atomic_fetch_sub(&fs->trans_open, 1);
}

/*
 * Add the buffers the write covered, [pos, pos + copied), to the
 * transaction: their in-place address and a copy of their data, taken
 * while the folio is locked so that it is stable.  Whole blocks: the write
 * made the partial ones uptodate around it.
 */
static void trans_add_buffers(struct testfs_file *f, struct folio *folio, uint64_t pos,
			      size_t copied)
{
	struct testfs_trans *t = &f->trans;
	struct buffer_head *head = folio_buffers(folio), *bh = head;
	size_t from = (size_t)(pos - folio_pos(folio)), to = from + copied, start = 0;
	size_t bs = testfs_bsize(f->fs);

	if (!head)
		return;
	do {
		if (start + bs > from && start < to && buffer_mapped(bh) &&
		    t->nr + 1 < t->reserved) {
			memcpy(t->data + (size_t)(t->nr + 1) * bs, bh->b_data, bs);
			t->blocknr[t->nr++] = bh->b_blocknr;
		}
		start += bs;
		bh = bh->b_this_page;
	} while (bh != head);
}

/* Write @n blocks of @buf to the ring from slot @slot on, with FUA, and wait. */
static int journal_write(struct testfs *fs, uint64_t slot, const uint8_t *buf, uint64_t n)
{
	struct testfs_journal *j = &fs->journal;

	while (n) {
		uint64_t run = tfs_min(n, j->nr_blocks - slot);
		struct bio *bio = bio_alloc(fs->bdev, 1, BIO_OP_WRITE, BIO_FUA);
		int ret = -EIO;

		if (!bio)
			return -ENOMEM;
		bio->bi_sector = (j->start + slot) << (fs->blkbits - SECTOR_SHIFT);
		if (bio_add(bio, (void *)buf, (uint32_t)(run << fs->blkbits), NULL))
			ret = bio_submit_wait(bio);
		bio_put(bio);
		if (ret)
			return ret;
		buf += run << fs->blkbits;
		n -= run;
		slot = 0;
	}
	return 0;
}

/* Write the descriptor and the blocks to the ring.  Returns 0 or a negative errno. */
static int trans_commit(struct testfs_file *f)
{
	struct testfs *fs = f->fs;
	struct testfs_journal *j = &fs->journal;
	struct testfs_trans *t = &f->trans;
	struct journal_desc *desc = (struct journal_desc *)t->data;
	uint64_t slot;
	int ret;

	if (!t->nr)
		return 0;
	memset(desc, 0, testfs_bsize(fs));
	desc->magic = JOURNAL_MAGIC;
	desc->nr = t->nr;
	desc->blkbits = fs->blkbits;
	memcpy(desc->blocknr, t->blocknr, t->nr * sizeof(t->blocknr[0]));
	pthread_mutex_lock(&j->commit_lock);
	desc->seq = ++j->seq;
	slot = j->head;
	j->head = (j->head + t->nr + 1) % j->nr_blocks;
	ret = journal_write(fs, slot, t->data, t->nr + 1);
	pthread_mutex_unlock(&j->commit_lock);
	if (!ret) {
		testfs_count(fs, trans_committed, 1);
		testfs_count(fs, journal_blocks, t->nr + 1);
	}
	return ret;
}

/* ---- folio hooks ---- */

static int jdata_get_folio(struct iomap_iter *iter, uint64_t pos, size_t len,
			   struct folio **foliop)
{
	struct testfs_file *f = TESTFS_F(iter->inode);
	int ret = trans_begin(f, pos, len);

	if (ret)
		return ret;
	ret = iomap_get_folio(iter, pos, len, foliop);
	if (ret)
		trans_end(f);
	return ret;
}

/*
 * The folio is unlocked before the commit's I/O.  A commit that fails is
 * reported as a writeback error (errseq): the data is still dirty in the
 * cache and goes in place with the next writeback, only not through the
 * journal.
 */
static void jdata_put_folio(struct inode *inode, uint64_t pos, size_t copied,
			    struct folio *folio)
{
	struct testfs_file *f = TESTFS_F(inode);
	int ret;

	if (copied)
		trans_add_buffers(f, folio, pos, copied);
	folio_unlock(folio);
	folio_put(folio);
	ret = trans_commit(f);
	trans_end(f);
	if (ret)
		mapping_set_error(inode->i_mapping, ret);
	if (copied)
		balance_dirty_pages_ratelimited(inode->i_mapping);
}

const struct iomap_folio_ops testfs_jdata_folio_ops = {
	.get_folio = jdata_get_folio,
	.put_folio = jdata_put_folio,
	.iomap_valid = testfs_iomap_valid,
};

/* ---- per-file buffers ---- */

int testfs_trans_init(struct testfs_file *f)
{
	struct testfs *fs = f->fs;
	size_t bytes = (size_t)trans_max_blocks(fs) << fs->blkbits;

	if (!fs->opts.jdata)
		return 0;
	f->trans.data = aligned_alloc(PAGE_SIZE, (bytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	return f->trans.data ? 0 : -ENOMEM;
}

void testfs_trans_free(struct testfs_file *f)
{
	free(f->trans.data);
	f->trans.data = NULL;
}
