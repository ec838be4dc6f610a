/* SPDX-License-Identifier: MIT */
/*
 * The buffer lock and I/O of single buffers.
 *
 * The buffer lock is the BH_Lock bit of b_state, slept on with a Linux
 * futex on that 32-bit word, the way the page cache sleeps on a folio's
 * flags: a sleeper sets BH_Lock_Waiters, and FUTEX_WAIT sleeps only if the
 * word still holds the value the sleeper saw, so no unlock between the
 * check and the sleep is missed.  unlock_buffer() clears BH_Lock and
 * BH_Lock_Waiters in one atomic step and wakes every sleeper if there was
 * one; those that lose the race for the lock set the bit again.  Other bits
 * changing under a sleeper only cost it a spurious wake-up.  Every
 * happens-before edge comes from the atomics on b_state (acquire on taking
 * the lock, release on dropping it), which is also what ThreadSanitizer
 * sees.
 *
 * I/O: one bio per buffer, as the kernel's submit_bh() does before block
 * plugging merges anything.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bh/internal.h"

_Static_assert(sizeof(((struct buffer_head *)0)->b_state) == sizeof(uint32_t), "futex word size");

#define BH_LOCK_BITS (BH_BIT(BH_Lock) | BH_BIT(BH_Lock_Waiters))

static uint32_t *state_word(struct buffer_head *bh)
{
	return (uint32_t *)&bh->b_state;
}

/*
 * Sleep once while @bit is set in *seen (the word's value just loaded):
 * announce the sleeper, sleep unless the word changed, reload *seen.
 * Acquire on every load: a waiter that finds the bit clear sees what the
 * clearer published before its release.
 */
static void state_wait_once(struct buffer_head *bh, uint32_t *seen)
{
	uint32_t v = *seen;

	if (!(v & BH_BIT(BH_Lock_Waiters))) {
		if (!atomic_compare_exchange_strong_explicit(
			    &bh->b_state, &v, v | BH_BIT(BH_Lock_Waiters), memory_order_acquire,
			    memory_order_acquire)) {
			*seen = v;
			return;
		}
		v |= BH_BIT(BH_Lock_Waiters);
	}
	syscall(SYS_futex, state_word(bh), FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
	*seen = atomic_load_explicit(&bh->b_state, memory_order_acquire);
}

/* Acquire: the previous holder's writes under the lock are visible. */
bool trylock_buffer(struct buffer_head *bh)
{
	return !(atomic_fetch_or_explicit(&bh->b_state, BH_BIT(BH_Lock), memory_order_acquire) &
		 BH_BIT(BH_Lock));
}

void lock_buffer(struct buffer_head *bh)
{
	uint32_t v;

	while (!trylock_buffer(bh)) {
		v = atomic_load_explicit(&bh->b_state, memory_order_acquire);
		if (v & BH_BIT(BH_Lock))
			state_wait_once(bh, &v);
	}
}

/* Release: everything done under the lock (the I/O's data) is published. */
void unlock_buffer(struct buffer_head *bh)
{
	uint32_t old = atomic_fetch_and_explicit(&bh->b_state, ~BH_LOCK_BITS, memory_order_release);

	if (old & BH_BIT(BH_Lock_Waiters))
		syscall(SYS_futex, state_word(bh), FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void wait_on_buffer(struct buffer_head *bh)
{
	uint32_t v = atomic_load_explicit(&bh->b_state, memory_order_acquire);

	while (v & BH_BIT(BH_Lock))
		state_wait_once(bh, &v);
}

/* ---- submit_bh ------------------------------------------------------- */

/* The default completion for a buffer submitted without b_end_io. */
static void end_buffer_notouch(struct buffer_head *bh, bool uptodate)
{
	if (uptodate)
		set_buffer_uptodate(bh);
	else
		clear_buffer_uptodate(bh);
	unlock_buffer(bh);
}

static void bh_complete(struct buffer_head *bh, bool uptodate)
{
	if (bh->b_end_io)
		bh->b_end_io(bh, uptodate);
	else
		end_buffer_notouch(bh, uptodate);
}

/* The bio is done with before the handler runs: the handler may free the ring. */
static void end_bio_bh(struct bio *bio)
{
	struct buffer_head *bh = bio->bi_private;
	bool uptodate = bio->bi_status == 0;

	bio_put(bio);
	bh_complete(bh, uptodate);
}

static bool bh_submittable(enum bio_op op, const struct buffer_head *bh)
{
	if (op != BIO_OP_READ && op != BIO_OP_WRITE)
		return false;
	if (!bh->b_size || bh->b_size % SECTOR_SIZE || bh->b_size > UINT32_MAX)
		return false;
	return buffer_mapped(bh) && !buffer_delay(bh) && !buffer_unwritten(bh);
}

void submit_bh(enum bio_op op, struct buffer_head *bh)
{
	struct bio *bio;

	if (!bh_submittable(op, bh))
		goto fail;
	/* Only a rewrite clears the error of an earlier failed write. */
	if (test_set_buffer_req(bh) && op == BIO_OP_WRITE)
		clear_buffer_write_io_error(bh);
	bio = bio_alloc(bh->b_bdev, 1, op, 0);
	if (!bio)
		goto fail;
	bio->bi_sector = bh->b_blocknr * (bh->b_size >> SECTOR_SHIFT);
	bio->bi_end_io = end_bio_bh;
	bio->bi_private = bh;
	if (!bio_add(bio, bh->b_data, (uint32_t)bh->b_size, bh->b_folio)) {
		bio_put(bio);
		goto fail;
	}
	buf_count(bios_submitted, 1);
	if (op == BIO_OP_WRITE)
		buf_count(bios_written, 1);
	bio_submit(bio);
	return;
fail:
	bh_complete(bh, false);
}

/*
 * A failed write: the block on disk is not what the buffer holds.  The
 * folio's ->mapping is stable while the caller's duty keeps the folio in
 * its mapping (writeback, or the folio lock).
 */
void buf_write_io_error(struct buffer_head *bh)
{
	struct address_space *mapping = bh->b_folio->mapping;

	set_buffer_write_io_error(bh);
	if (mapping)
		mapping_set_error(mapping, -EIO);
}

void end_buffer_read_sync(struct buffer_head *bh, bool uptodate)
{
	end_buffer_notouch(bh, uptodate);
	put_bh(bh);
}

void end_buffer_write_sync(struct buffer_head *bh, bool uptodate)
{
	if (uptodate) {
		set_buffer_uptodate(bh);
	} else {
		buf_write_io_error(bh);
		clear_buffer_uptodate(bh);
	}
	unlock_buffer(bh);
	put_bh(bh);
}

/* Buffer locked: read it unless it became uptodate meanwhile (then unlock). */
static void bh_read_locked(struct buffer_head *bh)
{
	if (buffer_uptodate(bh)) {
		unlock_buffer(bh);
		return;
	}
	get_bh(bh);
	bh->b_end_io = end_buffer_read_sync;
	submit_bh(BIO_OP_READ, bh);
}

void bh_read_nowait(struct buffer_head *bh)
{
	lock_buffer(bh);
	bh_read_locked(bh);
}

int bh_read(struct buffer_head *bh)
{
	if (buffer_uptodate(bh))
		return 1;
	lock_buffer(bh);
	if (buffer_uptodate(bh)) {
		unlock_buffer(bh);
		return 1;
	}
	bh_read_locked(bh);
	wait_on_buffer(bh);
	return buffer_uptodate(bh) ? 0 : -EIO;
}

void mark_buffer_dirty(struct buffer_head *bh)
{
	/* Cheap test first: rewriting a dirty buffer is the common case. */
	if (buffer_dirty(bh))
		return;
	if (!test_set_buffer_dirty(bh))
		folio_mark_dirty(bh->b_folio);
}
