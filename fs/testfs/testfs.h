/* SPDX-License-Identifier: MIT */
/*
 * testfs: a small filesystem built only on libiomap's public API.
 *
 * It exists for two reasons: the tests need a filesystem to drive the page
 * cache and iomap the way a real one does, and it is the worked example of
 * how to write a filesystem on libiomap.  It imitates XFS and gfs2 where
 * they use iomap:
 *
 *  - metadata lives in memory: per file a sorted extent map, per filesystem
 *    a block bitmap.  Nothing is persistent across testfs_destroy().
 *  - file data lives in the page cache and on a struct bdev.  Reads and
 *    writes go through iomap (iomap_file_buffered_write, filemap_read,
 *    iomap_read_folio ...); testfs only answers ->begin / ->end with one
 *    extent at a time.
 *  - writes into holes either reserve space (DELALLOC, as XFS does until
 *    writeback) or allocate blocks at once (UNWRITTEN | IOMAP_F_NEW).
 *    Either way blocks stay UNWRITTEN until their data is on disk and
 *    durable, so nothing a block held before ever shows through.
 *  - small files keep their data inline in the inode (gfs2 "stuffed" files)
 *    and are unstuffed into one block when they grow.
 *  - writeback is iomap_writepages(): delayed allocations become UNWRITTEN
 *    blocks when writeback maps them and MAPPED once their data is on disk
 *    (->ioend_done, on a per-filesystem workqueue).  fsync goes through
 *    handles (testfs_open) that report writeback errors as the kernel's
 *    struct file does (errseq).
 *  - direct I/O is iomap_dio_rw() over the same mappings.
 *  - optional modes (testfs_opts): the page cache through buffer heads,
 *    and journaled data with a transaction per folio (gfs2 jdata).
 *
 * Durability: only file data is written to the device.  Metadata (extent
 * maps, sizes, inline data) lives in memory and survives everything but
 * testfs_destroy(); fsync therefore writes data and flushes the device
 * cache, and datasync changes nothing.
 *
 * Locking hierarchy (outermost first), as in the kernel's iomap design:
 *   1. inode->i_rwsem: exclusive for write, truncate, punch, zero and
 *      fallocate; shared for read, seek and fiemap.
 *   2. inode->invalidate_lock: exclusive where folios are removed over
 *      blocks that change (truncate, punch, zero, fallocate); shared by read.
 *   3. folio locks (iomap's and the page cache's business).
 *   4. the file's mapping lock (internal): taken inside ->begin, ->end,
 *      get_block and the writeback ops, and around extent-map changes
 *      made directly (truncate, punch, fallocate, load); never held while
 *      iomap works on folios.
 *   5. the block allocator lock (internal).
 * Writeback (the page cache's flusher, fsync, sync, throttled writers)
 * takes a per-file writeback mutex (before any folio lock), folio locks
 * and the mapping lock, never i_rwsem or the invalidate_lock, so it may
 * run at any time, also from inside an operation that holds them.  The
 * jdata journal's locks are taken with no folio lock held.
 * Every testfs_* file operation takes the locks it needs itself; callers
 * hold none.
 *
 * Errors: every function returns 0, a byte count or an offset (never
 * negative), or a negative errno.  The library never prints.
 */
#ifndef TESTFS_H
#define TESTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bdev;
struct fiemap;
struct inode;
struct iomap;
struct io_iter;
struct pagecache;
struct testfs;
struct testfs_file;

/* Largest file size testfs accepts (64 TiB): keeps offset arithmetic far from overflow. */
#define TESTFS_MAX_FILE_SIZE (1ULL << 46)

struct testfs_opts {
	unsigned int block_size; /* 512..4096, a power of two, >= the device's logical block */
	uint64_t max_extent; /* largest extent handed out, bytes, a multiple of block_size;
				0 = unlimited */
	bool delalloc; /* writes into holes reserve DELALLOC until writeback;
			  else allocate at write time (UNWRITTEN | IOMAP_F_NEW,
			  MAPPED once the data is on disk) */
	unsigned int inline_max; /* files up to this size keep their data in the inode;
				    0 = off; must be < block_size */
	bool short_extents; /* test switch: hand out extents shorter than asked, at random */
	unsigned int stale_every; /* test switch: every Nth ->iomap_valid says "stale";
				     0 = off, 1 is refused (no write could progress);
				     2 livelocks a write whose source stops short, as
				     iomap's retry of a short copy meets the stale call */
	uint64_t seed; /* for short_extents */
	/*
	 * Buffer-head mode: the page cache goes through buffer heads
	 * (block_read_full_folio, block_write_begin + generic_write_end with a
	 * per-block get_block, block_writepages, try_to_free_buffers ...), as
	 * a filesystem from before iomap.  Blocks are allocated at write time
	 * (delalloc is ignored); inline_max must be 0.
	 */
	bool buffer_heads;
	/*
	 * Journaled data (gfs2 jdata): buffer-head page cache as above, but
	 * writes go through iomap with IOMAP_F_BUFFER_HEAD and folio hooks
	 * that put each folio's part of a write in its own transaction,
	 * committed (with FUA) to a journal ring at the start of the device
	 * before writeback writes the blocks in place.  The journal takes up
	 * to 256 blocks (at most a quarter of the device).  inline_max must
	 * be 0; delalloc is ignored.
	 */
	bool jdata;
};

/*
 * Create a filesystem over the whole of @bdev (bdev_nr_bytes() / block_size
 * blocks), caching file data in @cache.  Both must outlive the filesystem.
 * Returns 0 and stores the filesystem in @out, -EINVAL for bad options (or a
 * device smaller than one block, or with a logical block larger than
 * block_size), -ENOMEM.
 */
int testfs_create(struct bdev *bdev, struct pagecache *cache, const struct testfs_opts *opts,
		  struct testfs **out);

/*
 * Destroy the filesystem, and with it every file still open (their dirty
 * data is discarded).  No other thread may use it.  NULL is ignored.
 */
void testfs_destroy(struct testfs *fs);

/*
 * Files have no names: a file is created empty and lives until
 * testfs_file_destroy().  Returns 0 and the file in @out, or -ENOMEM.
 */
int testfs_file_create(struct testfs *fs, struct testfs_file **out);

/*
 * Free the file's blocks, discard its cached data (dirty or not) and free
 * it.  No other thread may use the file.  NULL is ignored.
 */
void testfs_file_destroy(struct testfs_file *file);

/* The VFS inode embedded in the file: what the page cache and iomap see. */
struct inode *testfs_inode(struct testfs_file *file);

/* The file of an inode created by testfs. */
struct testfs_file *testfs_file(struct inode *inode);

/* i_size, read without locks. */
uint64_t testfs_size(struct testfs_file *file);

/*
 * Buffered write of @len bytes of @buf at @pos (through
 * iomap_file_buffered_write).  Grows the file as needed.  Returns the bytes
 * written, which is less than @len when space ran out part way; or
 * -ENOSPC when nothing could be written, -EFBIG past TESTFS_MAX_FILE_SIZE,
 * another negative errno.
 */
ssize_t testfs_write(struct testfs_file *file, uint64_t pos, const void *buf, size_t len);

/*
 * As testfs_write(), from an io_iter (the kernel's ->write_iter): the
 * source may stop short (io_iter ->readable), which makes the write short
 * and lets ->end give back what it had allocated for the rest.  @from is
 * advanced by the bytes written.
 */
ssize_t testfs_write_iter(struct testfs_file *file, uint64_t pos, struct io_iter *from);

/*
 * Buffered read of up to @len bytes at @pos (through filemap_read).
 * Returns the bytes read (short at EOF, 0 at or past it) or a negative
 * errno (-EIO when a block could not be read).
 */
ssize_t testfs_read(struct testfs_file *file, uint64_t pos, void *buf, size_t len);

/*
 * Direct I/O (through iomap_dio_rw): data moves between @buf and the device
 * without the page cache, after iomap has written back (and for writes
 * dropped) the cached folios over the range.  @pos, @len and @buf must be
 * multiples of 512 and of the device's logical block size (-EINVAL); the
 * filesystem block may be larger, iomap zeroes around partial blocks.
 *
 * testfs_direct_write: holes get real blocks (UNWRITTEN until the data is
 * on disk); every block the range lacks is reserved first, so -ENOSPC
 * comes before any data is written.  A stuffed file takes the write
 * inline while it fits in inline_max and is unstuffed otherwise.  The file
 * grows to pos + len when the write completes.  Falls back to a buffered
 * write, written back before returning, if cached folios cannot be
 * dropped.  Returns @len, or a negative errno (-EIO, -ENOSPC, -EFBIG,
 * -EINVAL, -ENOMEM); after an I/O error the range may hold old data or
 * zeroes, and the size is unchanged.
 *
 * testfs_direct_read: returns the bytes read, short at EOF (0 at or past
 * it), or a negative errno.  Holes and UNWRITTEN blocks read as zeroes.
 *
 * Both take i_rwsem (exclusive to write, shared to read).
 */
ssize_t testfs_direct_write(struct testfs_file *file, uint64_t pos, const void *buf, size_t len);
ssize_t testfs_direct_read(struct testfs_file *file, uint64_t pos, void *buf, size_t len);

/*
 * Set the file size.  Shrinking zeroes the tail of the new EOF block,
 * drops the cache past it and frees every block past it (preallocated ones
 * too).  Growing adds a hole, after zeroing the rest of the old EOF block
 * again (so does a write past EOF: whatever a lost write left there must
 * not show).  Truncating to 0 makes a file inline again when inline_max is
 * set.  Returns 0, -EFBIG, -ENOSPC (growing an inline file past inline_max
 * needs a block), -EIO.
 */
int testfs_truncate(struct testfs_file *file, uint64_t size);

/*
 * Make [pos, pos + len) read as zeroes, keeping its blocks allocated (holes
 * stay holes).  Limited to the file size; does not change it.  The range
 * is written back first (iomap zeroes cached data over UNWRITTEN blocks in
 * place without dirtying it, which writeback in flight would undo).
 */
int testfs_zero_range(struct testfs_file *file, uint64_t pos, uint64_t len);

/*
 * Free the blocks wholly inside [pos, pos + len) and zero the partial
 * blocks at both ends; the range then reads as zeroes.  The size does not
 * change.  Returns 0, -EFBIG, -EIO.
 */
int testfs_punch_hole(struct testfs_file *file, uint64_t pos, uint64_t len);

/*
 * Allocate UNWRITTEN blocks under every hole of the blocks touching
 * [pos, pos + len); an inline file is unstuffed first (as gfs2 does).
 * All or nothing: -ENOSPC leaves the file unchanged.
 * Without @keep_size the file grows to pos + len if it is smaller.
 * Returns 0, -EINVAL (len 0), -EFBIG, -ENOSPC, -ENOMEM.
 */
int testfs_fallocate(struct testfs_file *file, uint64_t pos, uint64_t len, bool keep_size);

/*
 * lseek() without a file position: SEEK_SET returns @pos, SEEK_END
 * size + @pos, SEEK_DATA / SEEK_HOLE the next data / hole at or after @pos
 * (iomap_seek_data / iomap_seek_hole: -ENXIO at or past EOF, SEEK_DATA
 * also when only holes follow).  Other whence values: -EINVAL.
 */
int64_t testfs_seek(struct testfs_file *file, int64_t pos, int whence);

/*
 * Fill @fi (struct fiemap of <linux/fiemap.h>, fm_extent_count slots after
 * it) with the extents over [start, start + len), through iomap_fiemap.
 * Extents preallocated past EOF are reported.  Returns 0 or a negative errno.
 */
int testfs_fiemap(struct testfs_file *file, struct fiemap *fi, uint64_t start, uint64_t len);

/*
 * Drop the file's clean folios, waiting for writeback and for folio locks
 * (invalidate_inode_pages2_range); dirty ones stay.  After testfs_fsync()
 * or testfs_sync() every folio is clean, so all of them go and the next
 * read comes from the device.  Returns the number of folios dropped
 * (approximate while other threads add folios).
 */
unsigned long testfs_drop_cache(struct testfs_file *file);

/*
 * The writeback mapping, what iomap_writepages' ->map_blocks asks: map the
 * extent at @pos into @iomap, allocating real blocks first if it is
 * DELALLOC (the reservation guarantees the space, so this cannot fail with
 * -ENOSPC).  Allocated blocks are UNWRITTEN until writeback has put their
 * data on disk.  Never returns DELALLOC or INLINE; returns a HOLE where
 * there is nothing.  @len bounds a hole.  Takes only the mapping lock, so
 * it may be called with a folio locked and without i_rwsem.  Returns 0,
 * -EIO for an inline file (it has no blocks), -ENOMEM.
 */
int testfs_map_blocks(struct testfs_file *file, uint64_t pos, uint64_t len,
		      struct iomap *iomap);

/* ---- writeback, fsync ---- */

/* An open file, for fsync's error reporting. */
struct testfs_handle;

/*
 * Open @file: the handle samples the file's writeback error sequence, so
 * its fsync reports errors recorded from now on, and also one recorded
 * before that nobody has reported yet (the kernel's errseq_sample()).
 * The handle must be closed before the file is destroyed.  Returns 0 and
 * the handle in @out, or -ENOMEM.
 */
int testfs_open(struct testfs_file *file, struct testfs_handle **out);

/* Forget the handle; nothing is written back.  NULL is ignored. */
void testfs_close(struct testfs_handle *handle);

struct testfs_file *testfs_handle_file(struct testfs_handle *handle);

/*
 * Write back the file's dirty data in [start, end] (bytes, inclusive;
 * UINT64_MAX for all), wait for it, and flush the device's cache.  Returns
 * 0 when the data is durable, or a negative errno: an error the mapping
 * recorded since this handle last reported one (each error is reported
 * once per handle, to every handle open when it happened, and never
 * turned into success; a handle opened after another one reported it does
 * not see it: xfstests generic/441, 487), an error from mapping the data
 * (-ENOMEM), the flush's error, -EINVAL for start > end.  Errors are
 * reported for the whole file, not just the range.  @datasync is accepted
 * for the kernel's signature; metadata lives in memory, so it changes
 * nothing.  A handle is used by one thread at a time; several handles of
 * one file may fsync concurrently.  Takes no inode lock.
 */
int testfs_fsync(struct testfs_handle *handle, bool datasync, uint64_t start, uint64_t end);

/*
 * Write back every file of the filesystem, wait, flush the device (what
 * syncfs does).  Returns 0, the first error from mapping data for
 * writeback, or the flush's error.  I/O errors are left recorded for each
 * handle's fsync.  File creation and destruction wait while it runs.
 */
int testfs_sync(struct testfs *fs);

/*
 * The on-disk size: how far the file's data is known to be on the device
 * (grown by writeback and direct I/O completions, cut by truncate), at
 * most i_size.
 */
uint64_t testfs_disk_size(struct testfs_file *file);

/*
 * Give an empty file @size bytes of content straight on disk, as if it had
 * been written back and the filesystem mounted again: MAPPED extents for
 * the blocks of @buf that are not all zeroes (zero blocks stay holes),
 * written synchronously through bios, nothing in the page cache.  A file
 * that fits in inline_max is stuffed instead.  A quick way for tests to
 * get data on disk without writeback.  Only for
 * a file of size 0 with no extents and no cached folios (a new file, or
 * one truncated to 0): -EBUSY otherwise.  Returns 0, -EFBIG, -ENOSPC
 * (nothing allocated), -EIO or -ENOMEM (the file is then left empty).
 */
int testfs_file_load(struct testfs_file *file, const void *buf, uint64_t size);

struct testfs_stats {
	uint64_t files;
	uint64_t extents; /* extent map entries of all files */
	uint64_t blocks_total;
	uint64_t blocks_allocated; /* with a disk address */
	uint64_t blocks_delalloc; /* reserved by delayed allocation */
	uint64_t blocks_free; /* neither */
	uint64_t unstuffs; /* inline files moved to a block */
	uint64_t size_changes; /* ->end saw IOMAP_F_SIZE_CHANGED */
	uint64_t blocks_released; /* given back by ->end after short writes */
	uint64_t blocks_converted; /* DELALLOC turned into blocks by map_blocks */
	uint64_t stale_injected; /* ->iomap_valid said stale because of stale_every */
	uint64_t ioends; /* writeback completions seen by ->ioend_done */
	uint64_t ioend_errors; /* ... that carried an I/O error */
	uint64_t blocks_written; /* UNWRITTEN blocks made MAPPED after their data was written */
	uint64_t blocks_discarded; /* DELALLOC given back by ->discard_folio */
	uint64_t fsyncs; /* testfs_fsync calls */
	uint64_t dio_fallbacks; /* direct writes done through the page cache (-ENOTBLK) */
	uint64_t trans_begun; /* jdata: per-folio transactions opened */
	uint64_t trans_committed; /* ... that wrote to the journal */
	uint64_t trans_max_open; /* most transactions open at once (all files) */
	uint64_t trans_nested; /* get_folio found one still open: must stay 0 */
	uint64_t journal_blocks; /* blocks written to the journal, descriptors included */
	uint64_t journal_size; /* blocks of the journal ring (counted in blocks_allocated) */
	uint64_t convert_flushes; /* device flushes before UNWRITTEN became MAPPED */
};

void testfs_get_stats(struct testfs *fs, struct testfs_stats *stats);

/*
 * Consistency check (a small fsck): extent maps sorted and within limits,
 * the bitmap exactly the union of all allocated extents, the delalloc count
 * the sum of DELALLOC extents, no DELALLOC or MAPPED block past EOF, inline
 * data zero past EOF.  Call only while no operation runs.  Returns 0, or
 * -EUCLEAN with a description in @msg (may be NULL), or -ENOMEM.
 */
int testfs_check(struct testfs *fs, char *msg, size_t msglen);

/*
 * The randomized exerciser (model: fsx of xfstests), shared by the
 * iomap-exercise tool and the tests.  It creates a RAM device, a page cache
 * and a testfs with the given options, keeps a model of one file's contents
 * and applies the same random operations to model and file: writes, reads,
 * truncates, zero range, punch hole, fallocate, SEEK_HOLE / SEEK_DATA,
 * fiemap, cache drops, writeback mapping, reloads (the file's bytes put
 * on disk with testfs_file_load(), so reads hit the device), fsync, sync
 * followed by a cache drop and a compare of everything read back from the
 * device, direct writes and reads (512-byte aligned, mixed with the
 * buffered ones), and full compares, with testfs_check() after every
 * operation.
 */
struct testfs_exercise_opts {
	unsigned int block_size;
	uint64_t ops; /* operations to run */
	uint64_t seed;
	uint64_t max_size; /* largest file size; 0 = 256 KiB */
	uint64_t max_extent;
	unsigned int inline_max;
	bool no_delalloc;
	unsigned int stale_every;
	bool short_extents;
	bool buffer_heads; /* testfs_opts.buffer_heads (inline_max must be 0) */
	bool jdata; /* testfs_opts.jdata (inline_max must be 0) */
	/*
	 * Run over a fault device (bdev-fault.h) in volatile mode and add
	 * power cuts: the device loses, keeps or tears every write not yet
	 * made durable, the cache is dropped, and every byte that fsync or
	 * sync acknowledged (and nothing changed since) must read back intact.
	 * Metadata lives in memory and survives; data durability is what is
	 * tested.  What was not durable is then written again from the model,
	 * and the run goes on.  Not with buffer_heads or jdata: their
	 * writeback makes blocks MAPPED before the data is on disk.
	 */
	bool power_cut;
	/* Device bytes; 0 = enough that space never runs out.  Smaller values
	 * exercise ENOSPC: short writes and failed fallocates are then expected. */
	uint64_t dev_size;
	bool verbose; /* log every operation */
	/* Where messages go, one line per call without newline; NULL = nowhere. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/* Operation kinds counted in the result. */
enum testfs_exercise_op {
	TX_WRITE,
	TX_READ,
	TX_TRUNCATE,
	TX_ZERO,
	TX_PUNCH,
	TX_FALLOC,
	TX_SEEK,
	TX_FIEMAP,
	TX_DROP,
	TX_MAPBLK,
	TX_RELOAD, /* truncate to 0 and testfs_file_load() the same bytes */
	TX_FSYNC, /* testfs_fsync of a random range */
	TX_SYNC, /* testfs_sync, drop the cache, compare everything from the device */
	TX_DWRITE, /* testfs_direct_write, 512-byte aligned */
	TX_DREAD, /* testfs_direct_read, 512-byte aligned */
	TX_POWERCUT, /* power_cut only: cut power, check what fsync acknowledged */
	TX_COMPARE,
	TX_NR_OPS,
};

struct testfs_exercise_result {
	uint64_t ops_done; /* operations that ran and checked out */
	uint64_t count[TX_NR_OPS];
	uint64_t enospc; /* operations that ran out of space (dev_size set) */
	uint64_t final_size;
	struct testfs_stats stats; /* at the end */
};

/*
 * Run the exerciser.  Returns 0 when every operation matched the model;
 * -EBADMSG at the first mismatch or failed check (after logging the seed,
 * the operation number, the last 64 operations, the first differing offset
 * and a replay command); another negative errno if the setup failed.
 * @result may be NULL.
 */
int testfs_exercise(const struct testfs_exercise_opts *opts,
		    struct testfs_exercise_result *result);

/* Name of an operation kind ("write", "read", ...). */
const char *testfs_exercise_op_name(enum testfs_exercise_op op);

#endif /* TESTFS_H */
