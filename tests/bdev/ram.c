/* SPDX-License-Identifier: MIT */
/*
 * Test the RAM block device and the engine-independent bio layer:
 *  - bdev_open_ram() option checks and size rounding;
 *  - a new device reads as zeros;
 *  - write/read round trips, with vectors of several segments cut
 *    differently on the way in and out;
 *  - bio_alloc() limits and bio_add() merging, capacity and overflow;
 *  - every refusal of bio_submit() with its errno (misaligned sector or
 *    length, beyond the end, malformed bios);
 *  - completion runs in the submitting thread, owner fields untouched;
 *  - counters and the size histogram are exact, including the last
 *    bucket, rejected bios counting only as errors, and reset.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define MiB (1024U * 1024U)

/* One synchronous request on a single buffer; returns bi_status. */
static int rw(struct bdev *bd, enum bio_op op, unsigned int flags, uint64_t sector, void *buf,
	      uint32_t len)
{
	struct bio *bio = bio_alloc(bd, 1, op, flags);
	int ret;

	t_assert(bio);
	t_assert(bio_add(bio, buf, len, NULL));
	bio->bi_sector = sector;
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

static void test_open_errors(void)
{
	struct bdev *bd = NULL;

	t_assert_eq(bdev_open_ram(MiB, 256, &bd), -EINVAL);
	t_assert_eq(bdev_open_ram(MiB, 8192, &bd), -EINVAL);
	t_assert_eq(bdev_open_ram(MiB, 3000, &bd), -EINVAL);
	t_assert_eq(bdev_open_ram(MiB, 0, &bd), -EINVAL);
	t_assert_eq(bdev_open_ram(0, 512, &bd), -EINVAL);
	t_assert_eq(bdev_open_ram(4095, 4096, &bd), -EINVAL);
	t_assert(bd == NULL);

	t_assert_eq(bdev_open_ram(MiB + 4095, 4096, &bd), 0);
	t_assert_eq(bdev_nr_bytes(bd), MiB);
	t_assert_eq(bdev_logical_block_size(bd), 4096);
	t_assert(strcmp(bdev_engine_name(bd), "ram") == 0);
	t_assert(!bdev_is_direct(bd));
	bdev_close(bd);
	bdev_close(NULL);
}

static void test_zero_filled(struct bdev *bd)
{
	uint32_t len = 64 * 1024;
	uint8_t *buf = t_malloc(len);

	memset(buf, 0xaa, len);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, buf, len), 0);
	t_assert(t_is_zero(buf, len));
	memset(buf, 0xaa, len);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, (bdev_nr_bytes(bd) - len) >> SECTOR_SHIFT, buf, len), 0);
	t_assert(t_is_zero(buf, len));
	free(buf);
}

/* Write with cuts @wcut, read back with cuts @rcut (segment lengths, 0-terminated). */
static void roundtrip_vec(struct bdev *bd, uint64_t pos, const uint32_t *wcut, const uint32_t *rcut,
			  uint64_t seed)
{
	uint32_t total = 0, off = 0;
	uint8_t *src, *dst;
	struct bio *bio;

	for (const uint32_t *c = wcut; *c; c++)
		total += *c;
	src = t_malloc(total);
	dst = t_calloc(1, total);
	t_fill_pattern(src, total, pos, seed);

	bio = bio_alloc(bd, BIO_MAX_VECS, BIO_OP_WRITE, 0);
	for (const uint32_t *c = wcut; *c; off += *c, c++)
		t_assert(bio_add(bio, src + off, *c, (void *)(uintptr_t)(c - wcut + 1)));
	bio->bi_sector = pos >> SECTOR_SHIFT;
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);

	bio = bio_alloc(bd, BIO_MAX_VECS, BIO_OP_READ, 0);
	off = 0;
	for (const uint32_t *c = rcut; *c; off += *c, c++)
		t_assert(bio_add(bio, dst + off, *c, (void *)(uintptr_t)(c - rcut + 1)));
	t_assert_eq(off, total);
	bio->bi_sector = pos >> SECTOR_SHIFT;
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);

	t_assert_eq(t_check_pattern(dst, total, pos, seed), -1);
	free(src);
	free(dst);
}

static void test_roundtrips(struct bdev *bd)
{
	static const uint32_t w1[] = { 4096, 0 }, r1[] = { 4096, 0 };
	static const uint32_t w2[] = { 512, 1536, 2048, 4096, 0 };
	static const uint32_t r2[] = { 1024, 1024, 1024, 1024, 100, 3996, 0 };
	static const uint32_t w3[] = { 1, 511, 7, 7673, 0 };
	static const uint32_t r3[] = { 4096, 4096, 0 };
	struct t_rng rng;

	roundtrip_vec(bd, 0, w1, r1, 1);
	roundtrip_vec(bd, 8192, w2, r2, 2);
	roundtrip_vec(bd, bdev_nr_bytes(bd) - 8192, w3, r3, 3);

	t_rng_seed(&rng, 42);
	for (int i = 0; i < 200; i++) {
		uint32_t nblk = 1 + (uint32_t)t_rng_below(&rng, 64);
		uint64_t blk = t_rng_below(&rng, bdev_nr_bytes(bd) / 4096 - nblk);
		uint32_t len = nblk * 4096;
		uint8_t *buf = t_malloc(len), *back = t_malloc(len);

		t_fill_pattern(buf, len, blk * 4096, (uint64_t)i + 100);
		t_assert_eq(rw(bd, BIO_OP_WRITE, 0, blk * 8, buf, len), 0);
		t_assert_eq(rw(bd, BIO_OP_READ, 0, blk * 8, back, len), 0);
		t_assert_eq(t_check_pattern(back, len, blk * 4096, (uint64_t)i + 100), -1);
		free(buf);
		free(back);
	}
}

static void test_bio_building(struct bdev *bd)
{
	static char mem[8192];
	struct bio *bio;

	t_assert(bio_alloc(bd, 0, BIO_OP_READ, 0) == NULL);
	t_assert(bio_alloc(bd, 0, BIO_OP_WRITE, 0) == NULL);
	t_assert(bio_alloc(bd, BIO_MAX_VECS + 1, BIO_OP_READ, 0) == NULL);
	bio = bio_alloc(bd, 0, BIO_OP_FLUSH, 0);
	t_assert(bio && bio->bi_vcnt == 0 && bio->bi_size == 0 && bio->bi_status == 0);
	bio_put(bio);

	bio = bio_alloc(bd, 2, BIO_OP_WRITE, 0);
	t_assert(bio->bi_max_vecs == 2 && bio->bi_end_io == NULL);
	/* Contiguous, same owner: merged. */
	t_assert(bio_add(bio, mem, 512, mem));
	t_assert(bio_add(bio, mem + 512, 512, mem));
	t_assert_eq(bio->bi_vcnt, 1);
	t_assert_eq(bio->bi_iov[0].iov_len, 1024);
	/* Contiguous, other owner: a new segment. */
	t_assert(bio_add(bio, mem + 1024, 512, mem + 1));
	t_assert_eq(bio->bi_vcnt, 2);
	t_assert(bio->bi_owner[1] == mem + 1);
	/* Full: refused, bio unchanged; merging still works. */
	t_assert(!bio_add(bio, mem + 4096, 512, mem + 1));
	t_assert_eq(bio->bi_vcnt, 2);
	t_assert_eq(bio->bi_size, 1536);
	t_assert(bio_add(bio, mem + 1536, 512, mem + 1));
	t_assert_eq(bio->bi_size, 2048);
	t_assert(bio_add(bio, mem, 0, NULL));
	t_assert_eq(bio->bi_size, 2048);
	bio_put(bio);

	/* bi_size overflow: never submitted, so the lengths need no memory. */
	bio = bio_alloc(bd, 4, BIO_OP_WRITE, 0);
	t_assert(bio_add(bio, (void *)0x100000, 0x80000000U, NULL));
	t_assert(bio_add(bio, (void *)0x200000, 0x7fffffffU, (void *)1));
	t_assert(!bio_add(bio, (void *)0x300000, 1, (void *)2));
	t_assert_eq(bio->bi_vcnt, 2);
	t_assert_eq(bio->bi_size, 0xffffffffU);
	bio_put(bio);
}

/* Submit @bio and check that it fails with @err. */
static void expect_status(struct bio *bio, int err)
{
	t_assert_eq(bio_submit_wait(bio), err);
	t_assert_eq(bio->bi_status, err);
}

static void test_refusals(struct bdev *bd4k)
{
	uint64_t nr_sectors = bdev_nr_bytes(bd4k) >> SECTOR_SHIFT;
	uint8_t *buf = t_aligned_alloc(4096, 16384);
	struct bio *bio;

	/* Misaligned sector and length for a 4 KiB device. */
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, 1, buf, 4096), -EINVAL);
	t_assert_eq(rw(bd4k, BIO_OP_WRITE, 0, 4, buf, 4096), -EINVAL);
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, 0, buf, 512), -EINVAL);
	t_assert_eq(rw(bd4k, BIO_OP_WRITE, 0, 8, buf, 6144), -EINVAL);
	/* Beyond the end: wholly, straddling, absurdly far. */
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, nr_sectors, buf, 4096), -EIO);
	t_assert_eq(rw(bd4k, BIO_OP_WRITE, 0, nr_sectors - 8, buf, 8192), -EIO);
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, UINT64_MAX - 7, buf, 4096), -EIO);
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, nr_sectors - 8, buf, 4096), 0);
	/* Misalignment is reported before the range. */
	t_assert_eq(rw(bd4k, BIO_OP_READ, 0, nr_sectors + 1, buf, 4096), -EINVAL);
	/* Flags that make no sense on a read; unknown flags. */
	t_assert_eq(rw(bd4k, BIO_OP_READ, BIO_FUA, 0, buf, 4096), -EINVAL);
	t_assert_eq(rw(bd4k, BIO_OP_READ, BIO_PREFLUSH, 0, buf, 4096), -EINVAL);
	t_assert_eq(rw(bd4k, BIO_OP_WRITE, 1U << 7, 0, buf, 4096), -EINVAL);
	t_assert_eq(rw(bd4k, (enum bio_op)7, 0, 0, buf, 4096), -EINVAL);

	/* A read without data, a flush with data, a lying bi_size. */
	bio = bio_alloc(bd4k, 1, BIO_OP_READ, 0);
	expect_status(bio, -EINVAL);
	bio_put(bio);
	bio = bio_alloc(bd4k, 1, BIO_OP_FLUSH, 0);
	t_assert(bio_add(bio, buf, 4096, NULL));
	expect_status(bio, -EINVAL);
	bio_put(bio);
	bio = bio_alloc(bd4k, 1, BIO_OP_WRITE, 0);
	t_assert(bio_add(bio, buf, 4096, NULL));
	bio->bi_size = 8192;
	expect_status(bio, -EINVAL);
	bio_put(bio);
	/* A flush's flags are ignored. */
	bio = bio_alloc(bd4k, 0, BIO_OP_FLUSH, BIO_FUA | BIO_PREFLUSH);
	expect_status(bio, 0);
	bio_put(bio);
	free(buf);
}

struct async_ctx {
	int calls;
	int status;
};

static void async_end_io(struct bio *bio)
{
	struct async_ctx *ctx = bio->bi_private;

	ctx->calls++;
	ctx->status = bio->bi_status;
}

/* The RAM device completes in the caller's thread, before bio_submit returns. */
static void test_async(struct bdev *bd)
{
	struct async_ctx ctx = { 0, 1 };
	uint8_t buf[4096];
	struct bio *bio = bio_alloc(bd, 1, BIO_OP_WRITE, 0);
	struct bio *next_marker = (struct bio *)&ctx;

	memset(buf, 0x5a, sizeof(buf));
	t_assert(bio_add(bio, buf, sizeof(buf), NULL));
	bio->bi_end_io = async_end_io;
	bio->bi_private = &ctx;
	bio->bi_next = next_marker;
	bio_submit(bio);
	t_assert_eq(ctx.calls, 1);
	t_assert_eq(ctx.status, 0);
	t_assert(bio->bi_private == &ctx && bio->bi_next == next_marker);

	/* Errors go through bi_end_io too; a NULL bi_end_io is allowed. */
	bio->bi_sector = 1;
	bio_submit(bio);
	t_assert_eq(ctx.calls, 2);
	t_assert_eq(ctx.status, -EINVAL);
	bio->bi_end_io = NULL;
	bio_submit(bio);
	t_assert_eq(bio->bi_status, -EINVAL);
	bio_put(bio);
}

static void check_hist(const uint64_t *hist, const uint64_t *want)
{
	for (int i = 0; i < BDEV_HIST_BUCKETS; i++)
		if (hist[i] != want[i])
			t_fail("bucket %d: %llu, expected %llu", i, (unsigned long long)hist[i],
			       (unsigned long long)want[i]);
}

/* A request at sector 0 that must succeed and land in @bucket of @hist. */
static void counted_rw(struct bdev *bd, enum bio_op op, unsigned int flags, void *buf, uint32_t len,
		       uint64_t *hist, int bucket)
{
	t_assert_eq(rw(bd, op, flags, 0, buf, len), 0);
	hist[bucket]++;
}

/* Every counter, after a known sequence of requests. */
static void test_stats(void)
{
	uint64_t rh[BDEV_HIST_BUCKETS] = { 0 }, wh[BDEV_HIST_BUCKETS] = { 0 };
	struct bdev_stats st;
	struct bdev *bd;
	uint8_t *buf = t_malloc(24 * MiB);
	struct bio *bio;

	t_assert_eq(bdev_open_ram(32 * MiB, 512, &bd), 0);
	bdev_get_stats(bd, &st);
	t_assert(t_is_zero(&st, sizeof(st)));

	/* Reads of every interesting size, with the bucket each lands in. */
	counted_rw(bd, BIO_OP_READ, 0, buf, 512, rh, 0);
	counted_rw(bd, BIO_OP_READ, 0, buf, 1536, rh, 1);
	counted_rw(bd, BIO_OP_READ, 0, buf, 4096, rh, 3);
	counted_rw(bd, BIO_OP_READ, 0, buf, 8192 - 512, rh, 3);
	counted_rw(bd, BIO_OP_READ, 0, buf, MiB, rh, 11);
	counted_rw(bd, BIO_OP_READ, 0, buf, 16 * MiB - 512, rh, 14);
	counted_rw(bd, BIO_OP_READ, 0, buf, 16 * MiB, rh, 15);
	counted_rw(bd, BIO_OP_READ, 0, buf, 24 * MiB, rh, 15);
	/* Writes, plain, FUA, preflush, both. */
	counted_rw(bd, BIO_OP_WRITE, 0, buf, 2048, wh, 2);
	counted_rw(bd, BIO_OP_WRITE, BIO_FUA, buf, 65536, wh, 7);
	counted_rw(bd, BIO_OP_WRITE, BIO_PREFLUSH, buf, 512, wh, 0);
	counted_rw(bd, BIO_OP_WRITE, BIO_FUA | BIO_PREFLUSH, buf, 131072, wh, 8);
	/* Flushes: a bio and an explicit one. */
	bio = bio_alloc(bd, 0, BIO_OP_FLUSH, 0);
	t_assert_eq(bio_submit_wait(bio), 0);
	bio_put(bio);
	t_assert_eq(bdev_flush(bd), 0);
	/* Refusals: errors only. */
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 1, buf, 1000), -EINVAL);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_FUA, 64 * 2048, buf, 512), -EIO);

	bdev_get_stats(bd, &st);
	t_assert_eq(st.bios_read, 8);
	t_assert_eq(st.bytes_read,
		    512 + 1536 + 4096 + 7680 + MiB + 16 * MiB - 512 + 16 * MiB + 24 * MiB);
	t_assert_eq(st.bios_written, 4);
	t_assert_eq(st.bytes_written, 2048 + 65536 + 512 + 131072);
	t_assert_eq(st.flushes, 4);
	t_assert_eq(st.fua_writes, 2);
	t_assert_eq(st.errors, 2);
	check_hist(st.read_hist, rh);
	check_hist(st.write_hist, wh);

	bdev_reset_stats(bd);
	bdev_get_stats(bd, &st);
	t_assert(t_is_zero(&st, sizeof(st)));
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, 0, buf, 4096), 0);
	bdev_get_stats(bd, &st);
	t_assert_eq(st.bios_written, 1);
	t_assert_eq(st.write_hist[3], 1);
	bdev_close(bd);
	free(buf);
}

int main(void)
{
	struct bdev *bd512, *bd4k;

	test_open_errors();
	t_assert_eq(bdev_open_ram(4 * MiB, 512, &bd512), 0);
	t_assert_eq(bdev_open_ram(4 * MiB, 4096, &bd4k), 0);
	test_zero_filled(bd512);
	test_roundtrips(bd512);
	test_roundtrips(bd4k);
	test_bio_building(bd512);
	test_refusals(bd4k);
	test_async(bd4k);
	bdev_close(bd512);
	bdev_close(bd4k);
	test_stats();
	return T_EXIT_PASS;
}
