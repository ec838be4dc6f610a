/* SPDX-License-Identifier: MIT */
/*
 * Buffer heads: per-block state for filesystems that still need it (gfs2
 * journaled data tracks dirty data per block, and its journal hangs
 * descriptors off each block).  A separate path from iomap's: a filesystem
 * picks one per inode, and a folio carries either iomap's per-folio state
 * or a ring of buffer heads in folio->private, never both.  iomap pays
 * nothing for this module; a mapping marked IOMAP_F_BUFFER_HEAD is handed
 * to __block_write_begin_int() / block_write_end() / block_commit_write().
 *
 * Model: the kernel's fs/buffer.c (folio era).  The filesystem maps one
 * block per call through a get_block_t, so the mapping work and the I/O
 * are per block: one get_block call per unmapped block, one bio per buffer.
 *
 * Cost: sizeof(struct buffer_head) is 80 bytes on LP64 and each one takes
 * an 80-byte slot of a dedicated slab, so a 4 KiB folio costs 80 bytes at
 * 4 KiB blocks and 640 at 512-byte blocks (the kernel's is 104 bytes: it
 * also has b_assoc_buffers and b_assoc_map for fsync of metadata buffers,
 * which this module leaves out).  bh_get_stats() reports exactly what is
 * live.
 *
 * Locking rules
 *  1. The ring (folio->private, b_this_page, b_folio, b_data, b_size of a
 *     folio's buffers) is created and freed only under the folio lock, and
 *     freed only when no buffer is referenced (b_count), locked or dirty
 *     and the folio is not under writeback.
 *  2. b_blocknr, b_bdev and BH_Mapped/New/Delay/Unwritten change under the
 *     folio lock (get_block runs with it held) or the buffer lock.
 *  3. The buffer lock (BH_Lock) is held across each buffer's I/O: taken by
 *     the submitter, released by the completion, which may run in the
 *     device's completion thread.  Lock order: the folio lock, then the
 *     folio's buffer locks in ring order (writeback holds several at once
 *     between locking and submitting them).
 *  4. b_state is one atomic word: every test is an acquire and every change
 *     a release, so BH_Uptodate publishes the block's data and BH_Mapped
 *     its b_blocknr/b_bdev.
 *  5. A folio's data is read (BH_Async_Read) only while the folio is locked,
 *     and written (BH_Async_Write) only while it is under writeback; the
 *     last completion of each ends the read (folio_end_read) or the
 *     writeback (folio_end_writeback).
 *  6. BH_Dirty set => the folio is dirty or under writeback that has not
 *     looked at that buffer yet.  mark_buffer_dirty() keeps this.
 *
 * Errors are negative errnos; nothing here prints or exits.  Every
 * function may be called from any thread, within the locking rules.
 */
#ifndef IOMAP_BUFFER_HEAD_H
#define IOMAP_BUFFER_HEAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iomap/bio.h"
#include "iomap/folio.h"

struct address_space;
struct bdev;
struct inode;
struct iomap;
struct writeback_control;

/*
 * State bits of b_state (bit numbers, as in the kernel).
 * Uptodate: the buffer's memory holds the block's current data.
 * Dirty: the memory is newer than the disk.
 * Lock: I/O or exclusive use in progress (rule 3).
 * Req: the buffer has been submitted for I/O at least once.
 * Mapped: b_bdev/b_blocknr name the block on disk.
 * New: get_block (or the iomap) just allocated the block: what the write
 *   does not cover must be zeroed.  Cleared when the write commits.
 * Async_Read / Async_Write: part of a folio-wide read or writeback; the
 *   completion accounts for the folio (rule 5).
 * Delay: space reserved, no block yet (delalloc); writeback calls
 *   get_block to allocate.
 * Boundary: the filesystem's hint that the next block is not contiguous.
 * Write_EIO: the last write of this buffer failed.
 * Unwritten: allocated but reads as zeroes; not read from disk.
 * Lock_Waiters: internal, somebody sleeps on BH_Lock.
 * PrivateStart: bits from here up are the filesystem's.
 */
enum bh_state_bits {
	BH_Uptodate = 0,
	BH_Dirty = 1,
	BH_Lock = 2,
	BH_Req = 3,
	BH_Mapped = 4,
	BH_New = 5,
	BH_Async_Read = 6,
	BH_Async_Write = 7,
	BH_Delay = 8,
	BH_Boundary = 9,
	BH_Write_EIO = 10,
	BH_Unwritten = 11,
	BH_Lock_Waiters = 12,
	BH_PrivateStart = 16,
};

struct buffer_head;

/*
 * I/O completion of one buffer, called once per submit_bh() with the
 * buffer still locked; @uptodate is false on any error.  May run in the
 * device's completion thread or inside submit_bh(); must not sleep for long.
 * It owns the buffer lock and normally releases it.
 */
typedef void bh_end_io_t(struct buffer_head *bh, bool uptodate);

struct buffer_head {
	_Atomic uint32_t b_state; /* 1U << BH_* (rule 4) */
	_Atomic int32_t b_count; /* users besides the folio; pins the ring */
	struct buffer_head *b_this_page; /* next buffer of the folio (a ring) */
	struct folio *b_folio; /* the folio holding b_data */
	uint64_t b_blocknr; /* disk block, in units of b_size (rule 2) */
	size_t b_size; /* bytes: the block size for a folio's buffers */
	char *b_data; /* b_size bytes inside b_folio */
	struct bdev *b_bdev;
	bh_end_io_t *b_end_io; /* set by whoever submits */
	void *b_private; /* the filesystem's (gfs2: journal descriptor) */
	/*
	 * Folio-wide I/O accounting, used in the folio's first buffer only
	 * (rule 5): buffers of the folio under async read or write, plus a
	 * bias of 1 while the submitter walks the folio.  Whoever takes a
	 * count to zero ends the folio's read or writeback.
	 */
	_Atomic uint32_t b_reads_pending;
	_Atomic uint32_t b_writes_pending;
};

/*
 * Map one logical block of @inode, @iblock in units of the block size.
 * Called with the folio that holds @bh_result locked (reads, writes,
 * writeback), once per block that is not yet mapped; may sleep and take
 * the filesystem's mapping lock.  bh_result->b_size is the size wanted
 * (one block for a folio's buffers) and must not change for a folio's
 * buffers.  On success, either set BH_Mapped with b_bdev/b_blocknr
 * (map_bh()), or leave the buffer unmapped for a hole (only when !@create).
 * With @create, allocate a block, or reserve one (BH_Delay, mapped), and
 * set BH_New if it is fresh, so the write zeroes what it does not cover.
 * Writeback calls it with @create for dirty Delay or Unwritten buffers too:
 * then it must map a real block that the data may be written to (allocate
 * or convert).  Returns 0 or a negative errno.
 */
typedef int (*get_block_t)(struct inode *inode, uint64_t iblock, struct buffer_head *bh_result,
			   int create);

/*
 * Buffer state accessors: buffer_x() tests, set_buffer_x()/clear_buffer_x()
 * change, test_set_buffer_x()/test_clear_buffer_x() change and return the
 * old value.  Atomic; any thread; see rule 4 for ordering.
 */
#define BH_BIT(bit) (1U << (bit))

#define BUFFER_FNS(bit, name)                                                                     \
	static inline bool buffer_##name(const struct buffer_head *bh)                            \
	{                                                                                         \
		return atomic_load_explicit(&((struct buffer_head *)bh)->b_state,                 \
					    memory_order_acquire) &                               \
		       BH_BIT(BH_##bit);                                                          \
	}                                                                                         \
	static inline void set_buffer_##name(struct buffer_head *bh)                              \
	{                                                                                         \
		atomic_fetch_or_explicit(&bh->b_state, BH_BIT(BH_##bit), memory_order_acq_rel);   \
	}                                                                                         \
	static inline void clear_buffer_##name(struct buffer_head *bh)                            \
	{                                                                                         \
		atomic_fetch_and_explicit(&bh->b_state, ~BH_BIT(BH_##bit), memory_order_acq_rel); \
	}

#define TAS_BUFFER_FNS(bit, name)                                                 \
	static inline bool test_set_buffer_##name(struct buffer_head *bh)         \
	{                                                                         \
		return atomic_fetch_or_explicit(&bh->b_state, BH_BIT(BH_##bit),   \
						memory_order_acq_rel) &           \
		       BH_BIT(BH_##bit);                                          \
	}                                                                         \
	static inline bool test_clear_buffer_##name(struct buffer_head *bh)       \
	{                                                                         \
		return atomic_fetch_and_explicit(&bh->b_state, ~BH_BIT(BH_##bit), \
						 memory_order_acq_rel) &          \
		       BH_BIT(BH_##bit);                                          \
	}

BUFFER_FNS(Uptodate, uptodate)
BUFFER_FNS(Dirty, dirty)
TAS_BUFFER_FNS(Dirty, dirty)
BUFFER_FNS(Req, req)
TAS_BUFFER_FNS(Req, req)
BUFFER_FNS(Mapped, mapped)
BUFFER_FNS(New, new)
BUFFER_FNS(Async_Read, async_read)
BUFFER_FNS(Async_Write, async_write)
BUFFER_FNS(Delay, delay)
BUFFER_FNS(Boundary, boundary)
BUFFER_FNS(Write_EIO, write_io_error)
BUFFER_FNS(Unwritten, unwritten)

/* BH_Lock has no setter: use lock_buffer()/trylock_buffer(). */
static inline bool buffer_locked(const struct buffer_head *bh)
{
	return atomic_load_explicit(&((struct buffer_head *)bh)->b_state, memory_order_acquire) &
	       BH_BIT(BH_Lock);
}

/*
 * The folio's first buffer (the one at offset 0), or NULL.  Caller holds
 * the folio lock, or otherwise keeps the ring alive (rule 1).
 */
static inline struct buffer_head *folio_buffers(const struct folio *folio)
{
	return (struct buffer_head *)folio->private;
}

/* Offset of the buffer's data in its folio. */
static inline size_t bh_offset(const struct buffer_head *bh)
{
	return (size_t)(bh->b_data - (char *)bh->b_folio->data);
}

/*
 * References.  A referenced buffer keeps its folio's ring from being freed
 * (try_to_free_buffers() fails).  get_bh() needs the ring alive already
 * (folio lock, or another reference); put_bh() from any thread.
 */
static inline void get_bh(struct buffer_head *bh)
{
	atomic_fetch_add_explicit(&bh->b_count, 1, memory_order_relaxed);
}

/* Release: this user's accesses happen before a later free of the ring. */
static inline void put_bh(struct buffer_head *bh)
{
	atomic_fetch_sub_explicit(&bh->b_count, 1, memory_order_release);
}

/*
 * For get_block: the block is @block on @bdev.  Sets b_bdev, b_blocknr and
 * BH_Mapped; the caller holds the folio lock (rule 2).
 */
static inline void map_bh(struct buffer_head *bh, struct bdev *bdev, uint64_t block)
{
	bh->b_bdev = bdev;
	bh->b_blocknr = block;
	set_buffer_mapped(bh);
}

/* ---- buffers of a folio ---------------------------------------------- */

/*
 * Attach a ring of buffers of @blocksize bytes (a power of two, 512 up to
 * the folio size) to a locked folio that has none, each with state
 * @b_state, plus BH_Uptodate / BH_Dirty if the folio is uptodate / dirty.
 * Buffers are unmapped.  Returns 0, -EINVAL (bad block size), -EEXIST (the
 * folio's private word is taken) or -ENOMEM (nothing attached).  The folio
 * owns the buffers; try_to_free_buffers() frees them.
 */
int create_empty_buffers(struct folio *folio, unsigned int blocksize, uint32_t b_state);

/*
 * Free a locked folio's buffers if none is referenced, locked or dirty and
 * the folio is not under writeback (write errors were recorded in the
 * mapping when they happened).  Cancels the folio's DIRTY, since its
 * buffers are clean.  Returns true if the folio has no buffers afterwards.
 * The address_space_ops ->release_folio of a buffer-head filesystem.
 */
bool try_to_free_buffers(struct folio *folio);

/* ---- the buffer lock and single-buffer I/O ---------------------------- */

/* Take the buffer lock, sleeping while another holder has it (rule 3). */
void lock_buffer(struct buffer_head *bh);

/* Take the buffer lock if it is free.  Returns true if taken. */
bool trylock_buffer(struct buffer_head *bh);

/*
 * Release the buffer lock and wake sleepers.  Any thread may release a
 * lock taken by another (I/O completion).  The caller keeps the ring alive
 * until this returns (a reference, the folio lock, or pending folio I/O).
 */
void unlock_buffer(struct buffer_head *bh);

/* Sleep until the buffer is unlocked; does not take the lock. */
void wait_on_buffer(struct buffer_head *bh);

/*
 * Start I/O of one buffer: one bio of b_size bytes at sector
 * b_blocknr * (b_size / 512) of b_bdev, into or from b_data.  @op is
 * BIO_OP_READ or BIO_OP_WRITE.  The buffer must be locked and have
 * b_end_io set; the completion calls b_end_io(bh, uptodate) exactly once,
 * possibly before submit_bh() returns (a NULL b_end_io just records the
 * result in BH_Uptodate and unlocks).  Never fails synchronously: a buffer
 * that is not mapped, or is Delay or Unwritten, a bad @op, and a failed bio
 * allocation all complete with uptodate false.  Sets BH_Req; a rewrite
 * clears BH_Write_EIO of an earlier failed write.
 */
void submit_bh(enum bio_op op, struct buffer_head *bh);

/*
 * Completion handlers for synchronous single-buffer I/O (b_end_io):
 * record the result in BH_Uptodate (a failed write also sets BH_Write_EIO
 * and records -EIO in the folio's mapping), unlock the buffer and drop a
 * reference that the submitter took with get_bh().
 */
void end_buffer_read_sync(struct buffer_head *bh, bool uptodate);
void end_buffer_write_sync(struct buffer_head *bh, bool uptodate);

/*
 * Start reading a buffer that is not uptodate: takes the buffer lock
 * (sleeping), then submits with end_buffer_read_sync, unless the buffer
 * became uptodate meanwhile.  The caller waits with wait_on_buffer() and
 * tests buffer_uptodate().  The caller keeps the ring alive (rule 1).
 */
void bh_read_nowait(struct buffer_head *bh);

/*
 * Read a buffer and wait.  Returns 1 if it was already uptodate, 0 when
 * the read succeeded, -EIO when it failed.  Sleeps; the buffer is unlocked
 * on return.  Same caller duties as bh_read_nowait().
 */
int bh_read(struct buffer_head *bh);

/*
 * Set BH_Dirty; if it was clear, dirty the folio too (rule 6).  Caller
 * holds the folio lock (the page cache's folio_mark_dirty() needs it, which
 * the kernel's version does not).
 */
void mark_buffer_dirty(struct buffer_head *bh);

/* ---- address_space operations ----------------------------------------- */

/*
 * ->read_folio through buffers.  The folio is locked and not uptodate.
 * Creates buffers if needed; calls @get_block once for each buffer that is
 * not uptodate, not mapped and below EOF; zeroes unmapped blocks (holes,
 * and everything past EOF) and marks them uptodate; reads each mapped block
 * that is not uptodate with its own bio (BH_Async_Read).  The folio becomes
 * uptodate if every buffer is, and is unlocked when the last read ends
 * (folio_end_read), possibly after return and in another thread; the
 * caller must not touch it after return without a reference.  Returns 0,
 * or the first get_block error or -ENOMEM (the folio is unlocked in every
 * case, not uptodate on error).
 */
int block_read_full_folio(struct folio *folio, get_block_t get_block);

/*
 * ->is_partially_uptodate: are all buffers overlapping
 * [from, from + count) of the locked folio uptodate?  False when the
 * folio has no buffers or the range spans every block (then read_folio
 * is the way to validate it).
 */
bool block_is_partially_uptodate(struct folio *folio, size_t from, size_t count);

/*
 * ->invalidate_folio: bytes [offset, offset + length) of the locked folio
 * no longer hold file data.  Buffers wholly inside lose Dirty, Mapped,
 * Req, New, Delay and Unwritten (each under its buffer lock, so I/O in
 * flight on it ends first); when the whole folio is invalidated the
 * buffers are freed (try_to_free_buffers).  Buffers referenced by someone
 * stay attached: callers must not hold references across truncation.  A
 * filesystem with state in b_private frees it before calling this.
 */
void block_invalidate_folio(struct folio *folio, size_t offset, size_t length);

/*
 * Dirty the whole locked folio: mark every buffer dirty (if it has
 * buffers) and the folio.  Returns true if the folio was clean before.
 */
bool block_dirty_folio(struct folio *folio);

/* ---- buffered writes --------------------------------------------------- */

/*
 * Prepare bytes [pos, pos + len) of @folio (locked, in its mapping) for a
 * copy.  Each buffer they overlap that is not mapped is mapped with
 * @get_block(create = 1), once per block, or, when @iomap is not NULL,
 * from that mapping without calling get_block (the kernel's iomap_to_bh):
 *   HOLE       stays unmapped; New if not uptodate or at/past EOF
 *              (writeback asks get_block for a block later);
 *   DELALLOC   Mapped, Delay, Uptodate; New as for HOLE;
 *   UNWRITTEN  Mapped, Unwritten, always New (never read from disk);
 *   MAPPED     Mapped at addr + (block offset - offset); New with
 *              IOMAP_F_NEW or at/past EOF;
 *   other      -EIO, as is a block outside [offset, offset + length).
 * The parts of New blocks outside the write are zeroed; partial blocks
 * that are neither uptodate, New, Delay nor Unwritten are read (at most
 * two reads, waited for).  Buffers outside the range are marked uptodate
 * if the folio is.  Returns 0; -EINVAL if [pos, pos + len) leaves the
 * folio or both @get_block and @iomap are NULL; -ENOMEM; or the mapping or
 * read error, after zeroing and dirtying what it made New (so no stale
 * memory is ever exposed).  The folio stays locked.
 */
int __block_write_begin_int(struct folio *folio, uint64_t pos, size_t len, get_block_t get_block,
			    const struct iomap *iomap);

/*
 * Find or create the folio at @pos (locked, referenced, writeback waited
 * for) and prepare [pos, pos + len) with __block_write_begin_int().
 * [pos, pos + len) must lie in one page.  Returns 0 with the folio in
 * *foliop (the caller copies, then calls block_write_end() or
 * generic_write_end(), and owns the lock and reference until then), or a
 * negative errno with *foliop NULL and nothing held.  Like the kernel's, it
 * leaves blocks allocated past EOF by a failed call for the caller to
 * trim.  The caller holds i_rwsem exclusive.
 */
int block_write_begin(struct address_space *mapping, uint64_t pos, size_t len,
		      struct folio **foliop, get_block_t get_block);

/*
 * Mark the buffers overlapping folio bytes [from, to) uptodate and dirty
 * (and the folio dirty), clear New on all buffers, and mark the folio
 * uptodate if every buffer now is.  Folio locked.  What iomap's
 * page_mkwrite calls after __block_write_begin_int().
 */
void block_commit_write(struct folio *folio, size_t from, size_t to);

/*
 * End the copy of @copied of @len bytes at @pos into the locked @folio
 * prepared by __block_write_begin_int().  A short copy into a folio that
 * is not uptodate counts as 0 bytes (its partial blocks would hold a mix a
 * later read could not tell from the disk); New buffers past the copy are
 * zeroed.  Commits with block_commit_write().  Returns the bytes that
 * count as written (not an errno: this cannot fail).  The folio stays
 * locked and referenced.
 */
size_t block_write_end(uint64_t pos, size_t len, size_t copied, struct folio *folio);

/*
 * block_write_end(), then grow i_size to pos + written, if anything was
 * written, while the folio is still locked (so writeback never zeroes the new data as past EOF), then
 * unlock and put the folio.  Returns the bytes written.  The caller holds
 * i_rwsem exclusive.  (The kernel also marks the inode dirty here; this
 * library has no inode dirtying: the filesystem does it on a size change.)
 */
size_t generic_write_end(struct address_space *mapping, uint64_t pos, size_t len, size_t copied,
			 struct folio *folio);

/*
 * Zero the file from @from to the end of its block, in the page cache,
 * before a truncate to @from: get_block(create = 0) for the block if it is
 * not mapped; a hole needs nothing; a mapped block is read if not uptodate,
 * then the tail is zeroed and the buffer dirtied.  Nothing to do when
 * @from is block aligned.  Takes the folio lock (waiting for writeback);
 * the caller holds i_rwsem and invalidate_lock exclusive.  Returns 0 or a
 * negative errno.
 */
int block_truncate_page(struct address_space *mapping, uint64_t from, get_block_t get_block);

/* ---- writeback --------------------------------------------------------- */

/*
 * Write back one folio that writeback_iter() handed out: locked, DIRTY
 * already cleared.  A folio wholly past EOF is skipped, its buffers cleaned;
 * the part of a folio past EOF is zeroed and the buffers wholly past it
 * cleaned.  Dirty buffers that are unmapped, Delay or Unwritten get
 * @get_block(create = 1) (allocate, or convert: Delay and Unwritten are
 * cleared after it); then each dirty mapped
 * buffer is written with its own bio (BH_Async_Write), clean buffers are
 * not written.  Under WB_SYNC_NONE a buffer locked by someone else is
 * skipped and the folio redirtied.  Starts writeback on the folio, unlocks
 * it, and writeback ends when the last write completes.  A get_block error
 * still writes the buffers already mapped (no stale data is exposed), drops
 * the rest, and is recorded with mapping_set_error(); a write error sets
 * BH_Write_EIO, clears BH_Uptodate and records -EIO likewise.  Returns 0 or
 * the get_block error (-ENOMEM with the folio redirtied if buffers could not
 * be created).  The folio is unlocked in every case.
 */
int block_write_full_folio(struct folio *folio, struct writeback_control *wbc,
			   get_block_t get_block);

/*
 * ->writepages through buffers: block_write_full_folio() for each folio
 * writeback_iter() selects.  Returns 0 or the first error; later folios are
 * still written.  Errors of I/O completing after return reach the mapping
 * (filemap_fdatawait_range, file_check_and_advance_wb_err).
 */
int block_writepages(struct address_space *mapping, struct writeback_control *wbc,
		     get_block_t get_block);

/* ---- counters ---------------------------------------------------------- */

/*
 * Process-wide counters, relaxed atomics: exact when no buffer-head work is
 * in flight, a snapshot otherwise.
 */
struct bh_stats {
	uint64_t get_block_calls; /* get_block calls made by this module */
	uint64_t bh_live; /* buffer heads allocated now */
	uint64_t bh_peak; /* largest bh_live since start or reset */
	uint64_t bytes_live; /* bh_live * slot_size */
	uint64_t bytes_peak; /* largest bytes_live since start or reset */
	uint64_t bios_submitted; /* bios from submit_bh, reads and writes */
	uint64_t bios_written; /* ... of which writes */
	uint64_t slot_size; /* bytes one buffer head costs in its slab */
};

/* Fill @stats with a snapshot of the counters.  Any thread. */
void bh_get_stats(struct bh_stats *stats);

/* Zero the event counters and set the peaks to the live values. */
void bh_reset_stats(void);

#endif /* IOMAP_BUFFER_HEAD_H */
