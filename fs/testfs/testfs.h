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
 *    writeback) or allocate blocks at once (MAPPED | IOMAP_F_NEW).
 *  - small files keep their data inline in the inode (gfs2 "stuffed" files)
 *    and are unstuffed into one block when they grow.
 *
 * testfs does not write back yet: dirty data stays in the page cache.
 * testfs_map_blocks() is the ->map_blocks that iomap_writepages() will
 * call to turn delayed allocations into real blocks; until then
 * testfs_file_load() puts data on disk directly, so that iomap's read path
 * has MAPPED blocks with data behind them.
 *
 * Locking hierarchy (outermost first), as in the kernel's iomap design:
 *   1. inode->i_rwsem: exclusive for write, truncate, punch, zero and
 *      fallocate; shared for read, seek and fiemap.
 *   2. inode->invalidate_lock: exclusive where folios are removed over
 *      blocks that change (truncate, punch, zero, fallocate); shared by read.
 *   3. folio locks (iomap's and the page cache's business).
 *   4. the file's mapping lock (internal): taken inside ->begin, ->end
 *      and testfs_map_blocks(), and around extent-map changes made
 *      directly (truncate, punch, fallocate, load); never held while
 *      iomap works on folios.
 *   5. the block allocator lock (internal).
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
			  else allocate MAPPED | IOMAP_F_NEW at write time */
	unsigned int inline_max; /* files up to this size keep their data in the inode;
				    0 = off; must be < block_size */
	bool short_extents; /* test switch: hand out extents shorter than asked, at random */
	unsigned int stale_every; /* test switch: every Nth ->iomap_valid says "stale";
				     0 = off, 1 is refused (no write could progress);
				     2 livelocks a write whose source stops short, as
				     iomap's retry of a short copy meets the stale call */
	uint64_t seed; /* for short_extents */
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
 * Set the file size.  Shrinking zeroes the tail of the new EOF block,
 * drops the cache past it and frees every block past it (preallocated ones
 * too).  Growing adds a hole.  Truncating to 0 makes a file inline again
 * when inline_max is set.  Returns 0, -EFBIG, -ENOSPC (growing an inline
 * file past inline_max needs a block), -EIO.
 */
int testfs_truncate(struct testfs_file *file, uint64_t size);

/*
 * Make [pos, pos + len) read as zeroes, keeping its blocks allocated (holes
 * stay holes).  Limited to the file size; does not change it.
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
 * Drop the file's clean, unused folios (invalidate_mapping_pages); dirty
 * ones stay.  Returns the number of folios dropped.
 */
unsigned long testfs_drop_cache(struct testfs_file *file);

/*
 * The writeback mapping, for the future iomap_writepages ->map_blocks:
 * map the extent at @pos into @iomap, converting it to real blocks first if
 * it is DELALLOC (the reservation guarantees the space, so this cannot
 * fail with -ENOSPC).  Never returns DELALLOC or INLINE; returns a HOLE
 * where there is nothing.  @len bounds a hole.  Takes only the mapping
 * lock, so it may be called with a folio locked and without i_rwsem.
 * Returns 0, -EIO for an inline file (it has no blocks), -ENOMEM.
 */
int testfs_map_blocks(struct testfs_file *file, uint64_t pos, uint64_t len,
		      struct iomap *iomap);

/*
 * Give an empty file @size bytes of content straight on disk, as if it had
 * been written back and the filesystem mounted again: MAPPED extents for
 * the blocks of @buf that are not all zeroes (zero blocks stay holes),
 * written synchronously through bios, nothing in the page cache.  A file
 * that fits in inline_max is stuffed instead.  Writeback does not exist
 * yet: this is how tests get data on disk for iomap's read path.  Only for
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
 * on disk with testfs_file_load(), so reads hit the device) and full
 * compares, with
 * testfs_check() after every operation.
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
