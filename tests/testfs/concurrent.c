/* SPDX-License-Identifier: MIT */
/*
 * Description: testfs under concurrency.  One thread changes the file
 * (writes, punches, zeroes, truncates, fallocates), one plays writeback and
 * converts delayed allocations under it with testfs_map_blocks() (which is
 * what makes mappings go stale between ->begin and the folio lock, the
 * reason for ->iomap_valid), one reads, one drops the cache, seeks and
 * runs fiemap.  Every write stores the same bytes for a given offset, so a
 * concurrent read must see, at every offset, either zero or that byte; at
 * the end the file must match the writer's model exactly.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "t-testfs.h"

#define FILE_MAX (512U * 1024)
#define WRITER_OPS 3000
#define SEED 77

struct shared {
	struct t_fs t;
	struct testfs_file *f;
	uint64_t bs;
	uint8_t *model; /* the writer's alone */
	_Atomic bool done;
	_Atomic int failed;
};

static uint8_t expect(uint64_t off)
{
	uint8_t b;

	t_fill_pattern(&b, 1, off, SEED);
	return b;
}

static void writer_op(struct shared *s, struct t_rng *rng, uint8_t *buf)
{
	uint64_t pos = t_rng_below(rng, FILE_MAX), len = 1 + t_rng_below(rng, 8 * s->bs);
	uint64_t size = testfs_size(s->f);

	len = pos + len > FILE_MAX ? FILE_MAX - pos : len;
	switch (t_rng_below(rng, 10)) {
	case 0:
		t_assert_eq(testfs_punch_hole(s->f, pos, len), 0);
		memset(s->model + pos, 0, pos < size ? (pos + len < size ? len : size - pos) : 0);
		break;
	case 1:
		t_assert_eq(testfs_zero_range(s->f, pos, len), 0);
		memset(s->model + pos, 0, pos < size ? (pos + len < size ? len : size - pos) : 0);
		break;
	case 2:
		t_assert_eq(testfs_truncate(s->f, pos), 0);
		if (pos < size)
			memset(s->model + pos, 0, size - pos);
		break;
	case 3:
		t_assert_eq(testfs_fallocate(s->f, pos, len, t_rng_below(rng, 2)), 0);
		break;
	default:
		t_fill_pattern(buf, len, pos, SEED);
		t_assert_eq(testfs_write(s->f, pos, buf, len), (long long)len);
		memcpy(s->model + pos, buf, len);
		break;
	}
}

static void *writer(void *arg)
{
	struct shared *s = arg;
	uint8_t *buf = t_malloc(8 * s->bs);
	struct t_rng rng;

	t_rng_seed(&rng, 1);
	for (int i = 0; i < WRITER_OPS && !s->failed; i++)
		writer_op(s, &rng, buf);
	free(buf);
	s->done = true;
	return NULL;
}

static void *converter(void *arg)
{
	struct shared *s = arg;
	struct t_rng rng;
	struct iomap map;

	t_rng_seed(&rng, 2);
	while (!s->done)
		t_assert_eq(testfs_map_blocks(s->f, t_rng_below(&rng, FILE_MAX), s->bs, &map), 0);
	return NULL;
}

static void *reader(void *arg)
{
	struct shared *s = arg;
	uint8_t *buf = t_malloc(64 * 1024);
	struct t_rng rng;

	t_rng_seed(&rng, 3);
	while (!s->done) {
		uint64_t pos = t_rng_below(&rng, FILE_MAX);
		ssize_t n = testfs_read(s->f, pos, buf, 1 + t_rng_below(&rng, 64 * 1024));

		t_assert(n >= 0);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] && buf[i] != expect(pos + (uint64_t)i)) {
				s->failed = 1;
				t_fail("offset %llu reads 0x%02x: neither 0 nor 0x%02x",
				       (unsigned long long)(pos + (uint64_t)i), buf[i],
				       expect(pos + (uint64_t)i));
			}
		}
	}
	free(buf);
	return NULL;
}

static void *prodder(void *arg)
{
	struct shared *s = arg;
	struct t_rng rng;

	t_rng_seed(&rng, 4);
	while (!s->done) {
		int64_t pos = (int64_t)t_rng_below(&rng, FILE_MAX);
		int64_t r = testfs_seek(s->f, pos, t_rng_below(&rng, 2) ? SEEK_DATA : SEEK_HOLE);
		struct fiemap *fi;

		t_assert(r >= pos || r == -ENXIO);
		testfs_drop_cache(s->f);
		fi = t_fiemap(s->f, 1024);
		free(fi);
	}
	return NULL;
}

static void run(uint64_t bs, bool delalloc)
{
	struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = delalloc,
				 .max_extent = 16 * bs };
	void *(*fns[])(void *) = { writer, converter, reader, prodder };
	pthread_t th[4];
	struct shared s = { .bs = bs };

	t_fs_setup(&s.t, 4 * FILE_MAX, &o);
	s.f = t_file(&s.t);
	s.model = t_calloc(1, FILE_MAX);
	for (int i = 0; i < 4; i++)
		t_assert_eq(pthread_create(&th[i], NULL, fns[i], &s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (testfs_size(s.f)) {
		uint8_t *buf = t_malloc(testfs_size(s.f));

		t_assert_eq(testfs_read(s.f, 0, buf, testfs_size(s.f)), (long long)testfs_size(s.f));
		for (uint64_t i = 0; i < testfs_size(s.f); i++)
			if (buf[i] != s.model[i])
				t_fail("bs %llu: offset %llu is 0x%02x, expected 0x%02x",
				       (unsigned long long)bs, (unsigned long long)i, buf[i],
				       s.model[i]);
		free(buf);
	}
	t_fsck(&s.t);
	free(s.model);
	t_fs_teardown(&s.t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		run(t_block_sizes[i], true);
		run(t_block_sizes[i], false);
	}
	return T_EXIT_PASS;
}
