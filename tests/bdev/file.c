/* SPDX-License-Identifier: MIT */
/*
 * Test block devices backed by a temporary regular file, for every
 * combination of engine (io_uring, or sync forced by BDEV_O_NO_URING),
 * BDEV_O_DIRECT or not, and logical block size 512 or 4096:
 *  - BDEV_O_CREATE grows the file, the size is rounded down to the block
 *    size, a later smaller BDEV_O_CREATE does not shrink it;
 *  - the engine in use is the one asked for (io_uring may fall back to
 *    sync when the kernel refuses it; that is reported, not failed);
 *  - round trips with aligned vectors, with misaligned memory and odd
 *    segment lengths (bounced when direct), checked through the device and
 *    through an independent fd on the file;
 *  - FUA and preflush writes, flush bios, bdev_flush, exact counters;
 *  - misaligned and out-of-range requests;
 *  - a file shrunk behind the device's back: short read, then -EIO;
 *  - data persists across close and reopen; BDEV_O_RDONLY reads, and
 *    refuses writes with -EROFS.
 * Also the open errors: bad block sizes and options (-EINVAL), a missing
 * file (-ENOENT), things that are not files (-ENOTBLK, -EISDIR).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define KiB 1024U
#define MiB (1024U * KiB)
#define DEV_SIZE (MiB + 1000)

static char tmpdir[256];

static const char *tpath(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void remove_tmp(void)
{
	static const char *const names[] = { "dev", "small", "empty", "bad" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tpath(names[i]));
	rmdir(tmpdir);
}

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/bdev-file-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		t_fail("mkdtemp %s: %s", tmpdir, strerror(errno));
	atexit(remove_tmp);
}

struct cfg {
	unsigned int flags;
	unsigned int lbs;
};

static struct bdev *open_dev(const struct cfg *cfg, unsigned int extra, uint64_t size)
{
	struct bdev_open_opts opts = {
		.flags = cfg->flags | extra,
		.logical_block_size = cfg->lbs,
		.size = size,
	};
	struct bdev *bd;
	int err = bdev_open(tpath("dev"), &opts, &bd);

	if (err)
		t_fail("bdev_open flags %#x lbs %u: %s", opts.flags, cfg->lbs, strerror(-err));
	return bd;
}

/* One synchronous request from one buffer; returns bi_status. */
static int rw(struct bdev *bd, enum bio_op op, unsigned int flags, uint64_t pos, void *buf,
	      uint32_t len)
{
	struct bio *bio = bio_alloc(bd, 1, op, flags);
	int ret;

	t_assert(bio_add(bio, buf, len, NULL));
	bio->bi_sector = pos >> SECTOR_SHIFT;
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

/* The file's bytes at @pos, read past the device through another fd. */
static void check_file(uint64_t pos, uint32_t len, uint64_t seed)
{
	uint8_t *buf = t_malloc(len);
	int fd = open(tpath("dev"), O_RDONLY);

	t_assert(fd >= 0);
	t_assert_eq(pread(fd, buf, len, (off_t)pos), len);
	t_assert_eq(t_check_pattern(buf, len, pos, seed), -1);
	close(fd);
	free(buf);
}

static void check_engine(struct bdev *bd, const struct cfg *cfg)
{
	static bool told;
	const char *name = bdev_engine_name(bd);

	if (cfg->flags & BDEV_O_NO_URING) {
		t_assert(strcmp(name, "sync") == 0);
	} else if (strcmp(name, "io_uring") != 0) {
		t_assert(strcmp(name, "sync") == 0);
		if (!told)
			printf("io_uring refused by the kernel: fallback to sync tested\n");
		told = true;
	}
	if (!(cfg->flags & BDEV_O_DIRECT))
		t_assert(!bdev_is_direct(bd));
}

static void test_create(const struct cfg *cfg)
{
	struct bdev *bd = open_dev(cfg, BDEV_O_CREATE, DEV_SIZE);
	uint8_t *buf = t_malloc(64 * KiB);
	struct stat st;

	check_engine(bd, cfg);
	t_assert_eq(bdev_nr_bytes(bd), DEV_SIZE / cfg->lbs * cfg->lbs);
	t_assert_eq(bdev_logical_block_size(bd), cfg->lbs);
	t_assert_eq(stat(tpath("dev"), &st), 0);
	t_assert_eq(st.st_size, DEV_SIZE);
	memset(buf, 0xee, 64 * KiB);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, buf, 64 * KiB), 0);
	t_assert(t_is_zero(buf, 64 * KiB));
	bdev_close(bd);
	free(buf);

	/* A smaller size with BDEV_O_CREATE leaves the file alone. */
	bd = open_dev(cfg, BDEV_O_CREATE, 4096);
	t_assert_eq(bdev_nr_bytes(bd), DEV_SIZE / cfg->lbs * cfg->lbs);
	bdev_close(bd);
}

/* Aligned vectors of page-aligned segments, random places and shapes. */
static void test_aligned(struct bdev *bd, uint64_t seed)
{
	uint32_t lbs = bdev_logical_block_size(bd);
	uint64_t nr_blocks = bdev_nr_bytes(bd) / lbs;
	struct t_rng rng;

	t_rng_seed(&rng, seed);
	for (int i = 0; i < 40; i++) {
		unsigned int nseg = 1 + (unsigned int)t_rng_below(&rng, 8);
		uint32_t seglen = lbs * (1 + (uint32_t)t_rng_below(&rng, 4));
		uint32_t len = nseg * seglen;
		uint64_t pos = t_rng_below(&rng, nr_blocks - len / lbs + 1) * lbs;
		uint8_t *src = t_aligned_alloc(4096, len), *dst = t_aligned_alloc(4096, len);
		struct bio *w = bio_alloc(bd, nseg, BIO_OP_WRITE, 0);
		struct bio *r = bio_alloc(bd, nseg, BIO_OP_READ, 0);

		t_fill_pattern(src, len, pos, seed + (uint64_t)i);
		memset(dst, 0, len);
		/* Distinct owners, so that no segments merge. */
		for (unsigned int s = 0; s < nseg; s++) {
			t_assert(bio_add(w, src + s * seglen, seglen, (void *)(uintptr_t)(s + 1)));
			t_assert(bio_add(r, dst + s * seglen, seglen, (void *)(uintptr_t)(s + 1)));
		}
		w->bi_sector = r->bi_sector = pos >> SECTOR_SHIFT;
		t_assert_eq(bio_submit_wait(w), 0);
		t_assert_eq(bio_submit_wait(r), 0);
		t_assert_eq(t_check_pattern(dst, len, pos, seed + (uint64_t)i), -1);
		check_file(pos, len, seed + (uint64_t)i);
		bio_put(w);
		bio_put(r);
		free(src);
		free(dst);
	}
}

/* Memory O_DIRECT refuses: odd addresses and lengths.  Bounced when direct. */
static void test_misaligned_memory(struct bdev *bd, uint64_t seed)
{
	uint32_t lbs = bdev_logical_block_size(bd), len = 3 * lbs;
	uint64_t pos = 5 * (uint64_t)lbs;
	uint8_t *src = t_malloc(len + 64), *dst = t_malloc(len + 64);
	struct bio *w = bio_alloc(bd, 3, BIO_OP_WRITE, 0);
	struct bio *r = bio_alloc(bd, 4, BIO_OP_READ, 0);

	t_fill_pattern(src + 1, len, pos, seed);
	memset(dst, 0, len + 64);
	t_assert(bio_add(w, src + 1, 100, (void *)1));
	t_assert(bio_add(w, src + 101, lbs, (void *)2));
	t_assert(bio_add(w, src + 101 + lbs, len - lbs - 100, (void *)3));
	t_assert(bio_add(r, dst + 24, lbs - 7, (void *)1));
	t_assert(bio_add(r, dst + 24 + lbs - 7, 7, (void *)2));
	t_assert(bio_add(r, dst + 24 + lbs, 2 * lbs, (void *)3));
	w->bi_sector = r->bi_sector = pos >> SECTOR_SHIFT;
	t_assert_eq(bio_submit_wait(w), 0);
	t_assert_eq(bio_submit_wait(r), 0);
	t_assert_eq(t_check_pattern(dst + 24, len, pos, seed), -1);
	check_file(pos, len, seed);
	bio_put(w);
	bio_put(r);
	free(src);
	free(dst);
}

/* Durability requests succeed and are counted exactly. */
static void test_flush_and_stats(struct bdev *bd)
{
	uint32_t lbs = bdev_logical_block_size(bd);
	uint8_t *buf = t_aligned_alloc(4096, 8192);
	struct bdev_stats st;
	struct bio *bio;

	bdev_reset_stats(bd);
	t_fill_pattern(buf, 8192, 0, 7);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_FUA, 0, buf, 8192), 0);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_PREFLUSH, 8192, buf, lbs), 0);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_PREFLUSH | BIO_FUA, 16384, buf, 4096), 0);
	bio = bio_alloc(bd, 0, BIO_OP_FLUSH, 0);
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
	t_assert_eq(bdev_flush(bd), 0);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, buf, 8192), 0);
	t_assert_eq(t_check_pattern(buf, 8192, 0, 7), -1);
	/* Refusals. */
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, buf, lbs + 100), -EINVAL);
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, bdev_nr_bytes(bd), buf, lbs), -EIO);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, bdev_nr_bytes(bd) - lbs, buf, 2 * lbs), -EIO);

	bdev_get_stats(bd, &st);
	t_assert_eq(st.bios_written, 3);
	t_assert_eq(st.bytes_written, 8192 + lbs + 4096);
	t_assert_eq(st.bios_read, 1);
	t_assert_eq(st.bytes_read, 8192);
	t_assert_eq(st.flushes, 4);
	t_assert_eq(st.fua_writes, 2);
	t_assert_eq(st.errors, 3);
	t_assert_eq(st.write_hist[4], 1);
	t_assert_eq(st.write_hist[3], lbs == 512 ? 1 : 2);
	t_assert_eq(st.write_hist[0], lbs == 512 ? 1 : 0);
	t_assert_eq(st.read_hist[4], 1);
	free(buf);
}

/*
 * Shrink the file behind the device: a read across the new end comes up
 * short, the rest reads 0 bytes, and the bio fails with -EIO.  With the
 * end inside a block, a direct read cannot even resume.
 */
static void test_shrunk(const struct cfg *cfg, uint64_t cut)
{
	struct bdev *bd = open_dev(cfg, 0, 0);
	uint32_t lbs = cfg->lbs;
	uint64_t pos = (cut & ~(uint64_t)(lbs - 1)) - lbs;
	uint8_t *buf = t_aligned_alloc(4096, 4 * lbs);

	t_assert_eq(truncate(tpath("dev"), (off_t)cut), 0);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, pos, buf, 4 * lbs), -EIO);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, pos + 4 * lbs, buf, lbs), -EIO);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, pos, buf, lbs), 0);
	bdev_close(bd);
	t_assert_eq(truncate(tpath("dev"), DEV_SIZE), 0);
	free(buf);
}

static void test_reopen(const struct cfg *cfg)
{
	uint32_t lbs = cfg->lbs;
	uint8_t *buf = t_aligned_alloc(4096, 4 * lbs);
	struct bdev *bd = open_dev(cfg, 0, 0);
	struct bdev_stats st;

	t_fill_pattern(buf, 4 * lbs, 32 * lbs, 99);
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, 32 * lbs, buf, 4 * lbs), 0);
	bdev_close(bd);

	bd = open_dev(cfg, BDEV_O_RDONLY, 0);
	t_assert_eq(bdev_nr_bytes(bd), DEV_SIZE / lbs * lbs);
	memset(buf, 0, 4 * lbs);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 32 * lbs, buf, 4 * lbs), 0);
	t_assert_eq(t_check_pattern(buf, 4 * lbs, 32 * lbs, 99), -1);
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, 0, buf, lbs), -EROFS);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_FUA, 1, buf, 100), -EROFS);
	t_assert_eq(bdev_flush(bd), 0);
	bdev_get_stats(bd, &st);
	t_assert_eq(st.bios_written, 0);
	t_assert_eq(st.errors, 2);
	bdev_close(bd);
	check_file(32 * lbs, 4 * lbs, 99);
	free(buf);
}

static void run_cfg(const struct cfg *cfg)
{
	struct bdev *bd;

	unlink(tpath("dev"));
	test_create(cfg);
	bd = open_dev(cfg, 0, 0);
	printf("flags %#x lbs %u: engine %s, direct %d\n", cfg->flags, cfg->lbs,
	       bdev_engine_name(bd), bdev_is_direct(bd));
	test_aligned(bd, cfg->flags * 1000 + cfg->lbs);
	test_misaligned_memory(bd, cfg->lbs + 5);
	test_flush_and_stats(bd);
	bdev_close(bd);
	test_reopen(cfg);
	test_shrunk(cfg, MiB / 2);
	test_shrunk(cfg, MiB / 2 + cfg->lbs / 2);
}

static int open_err(const char *path, unsigned int flags, unsigned int lbs, uint64_t size,
		    unsigned int qd)
{
	struct bdev_open_opts opts = {
		.flags = flags, .logical_block_size = lbs, .size = size, .queue_depth = qd
	};
	struct bdev *bd = NULL;
	int err = bdev_open(path, &opts, &bd);

	if (!err)
		bdev_close(bd);
	return err;
}

static void test_open_errors(void)
{
	struct bdev *bd;
	char bad[512];
	int fd;

	snprintf(bad, sizeof(bad), "%s", tpath("bad"));
	t_assert_eq(open_err(bad, BDEV_O_CREATE, 256, MiB, 0), -EINVAL);
	t_assert_eq(open_err(bad, BDEV_O_CREATE, 8192, MiB, 0), -EINVAL);
	t_assert_eq(open_err(bad, BDEV_O_CREATE, 3000, MiB, 0), -EINVAL);
	t_assert_eq(open_err(bad, BDEV_O_CREATE, 512, MiB, 40000), -EINVAL);
	t_assert_eq(open_err(bad, BDEV_O_CREATE | (1U << 20), 512, MiB, 0), -EINVAL);
	t_assert_eq(open_err(bad, BDEV_O_CREATE | BDEV_O_RDONLY, 512, 0, 0), -EINVAL);
	t_assert_eq(open_err(bad, 0, 512, MiB, 0), -EINVAL);
	/* Options are checked before anything is created. */
	t_assert(access(bad, F_OK) < 0 && errno == ENOENT);
	t_assert_eq(open_err(bad, 0, 512, 0, 0), -ENOENT);
	t_assert_eq(open_err(bad, BDEV_O_RDONLY | BDEV_O_DIRECT, 4096, 0, 0), -ENOENT);
	t_assert_eq(open_err(tpath("none/dev"), BDEV_O_CREATE, 512, MiB, 0), -ENOENT);
	t_assert_eq(open_err(tmpdir, 0, 512, 0, 0), -EISDIR);
	t_assert_eq(open_err(tmpdir, BDEV_O_RDONLY, 512, 0, 0), -ENOTBLK);
	if (access("/dev/null", R_OK | W_OK) == 0)
		t_assert_eq(open_err("/dev/null", 0, 512, 0, 0), -ENOTBLK);
	/* The largest queue depth is fine; so is an empty file. */
	t_assert_eq(open_err(bad, BDEV_O_CREATE, 512, MiB, 32768), 0);
	fd = open(tpath("empty"), O_CREAT | O_WRONLY, 0644);
	t_assert(fd >= 0);
	close(fd);
	t_assert_eq(open_err(tpath("empty"), 0, 4096, 0, 1), 0);
	/* NULL options: every default. */
	t_assert_eq(bdev_open(tpath("empty"), NULL, &bd), 0);
	t_assert_eq(bdev_logical_block_size(bd), 512);
	t_assert_eq(bdev_nr_bytes(bd), 0);
	bdev_close(bd);
}

/* A file smaller than one block is a device of no blocks: all I/O -EIO. */
static void test_tiny(void)
{
	struct bdev_open_opts opts = { .flags = BDEV_O_CREATE,
				       .logical_block_size = 4096,
				       .size = 4095 };
	uint8_t buf[4096];
	struct bdev *bd;

	t_assert_eq(bdev_open(tpath("small"), &opts, &bd), 0);
	t_assert_eq(bdev_nr_bytes(bd), 0);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, buf, 4096), -EIO);
	bdev_close(bd);
}

int main(void)
{
	static const unsigned int engines[] = { 0, BDEV_O_NO_URING };
	static const unsigned int direct[] = { 0, BDEV_O_DIRECT };
	static const unsigned int sizes[] = { 512, 4096 };

	make_tmpdir();
	test_open_errors();
	test_tiny();
	for (int e = 0; e < 2; e++)
		for (int d = 0; d < 2; d++)
			for (int s = 0; s < 2; s++)
				run_cfg(&(struct cfg){ engines[e] | direct[d], sizes[s] });
	return T_EXIT_PASS;
}
