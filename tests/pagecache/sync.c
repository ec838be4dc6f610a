/* SPDX-License-Identifier: MIT */
/*
 * pagecache_sync(): with and without a budget, every dirty mapping is
 * written back and its writeback waited for, through a slow asynchronous
 * device; an error from ->writepages is returned while I/O errors recorded
 * at completion stay for fsync; and syncing in a loop while other threads
 * create, dirty and destroy inodes is safe.
 *
 * Usage: pagecache-sync [seed]
 */
#include <errno.h>
#include <unistd.h>

#include "helpers.h"
#include "mem-helpers.h"

#define MIB (1ULL << 20)
#define FILES 8
#define PAGES 200

static void test_sync_all(uint64_t seed, uint64_t budget)
{
	struct pagecache_opts opts = {
		.budget_bytes = budget,
		.dirty_expire_ms = 600000, /* the flusher stays out of the way */
	};
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct t_wbdev *dev = t_wbdev_start(20);
	struct pagecache_stats st;
	struct t_file f[FILES];
	uint64_t folios = atomic_load(&t_wb_folios);

	atomic_store(&t_wbdev, dev);
	for (int i = 0; i < FILES; i++) {
		t_file_init(&f[i], cache, &t_wb_aops, 64 * MIB, seed + (uint64_t)i);
		for (uint64_t p = 0; p < PAGES; p++)
			t_assert_eq(t_dirty_page(&f[i], p * 3), 0);
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_mappings, FILES);
	t_assert_eq(st.dirty_bytes, FILES * PAGES * PAGE_SIZE);
	t_assert_eq(pagecache_sync(cache), 0);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 0);
	t_assert_eq(st.writeback_bytes, 0);
	t_assert_eq(st.dirty_mappings, 0);
	t_assert_eq(atomic_load(&t_wb_folios) - folios, FILES * PAGES);
	/* Nothing dirty: nothing to do. */
	t_assert_eq(pagecache_sync(cache), 0);
	for (int i = 0; i < FILES; i++) {
		t_assert_eq(filemap_check_errors(f[i].inode.i_mapping), 0);
		inode_destroy(&f[i].inode);
	}
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

static void test_errors(uint64_t seed)
{
	struct pagecache *cache = t_cache_create();
	struct t_file f;
	errseq_t since;

	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	since = filemap_sample_wb_err(f.inode.i_mapping);
	for (uint64_t p = 0; p < 16; p++)
		t_assert_eq(t_dirty_page(&f, p), 0);
	atomic_store(&t_wb_error, -ENOSPC);
	t_assert_eq(pagecache_sync(cache), -ENOSPC);
	atomic_store(&t_wb_error, 0);
	/* An error recorded by the filesystem is left for the file's own fsync. */
	t_assert_eq(t_dirty_page(&f, 0), 0);
	mapping_set_error(f.inode.i_mapping, -EIO);
	t_assert_eq(pagecache_sync(cache), 0);
	t_assert_eq(file_check_and_advance_wb_err(f.inode.i_mapping, &since), -EIO);
	t_assert_eq(filemap_check_errors(f.inode.i_mapping), -EIO);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

#define CHURNERS 3
#define CHURN_LOOPS 150

struct churn {
	struct pagecache *cache;
	uint64_t seed;
	_Atomic bool *stop;
};

static void *churner(void *arg)
{
	struct churn *c = arg;

	for (int loop = 0; loop < CHURN_LOOPS; loop++) {
		struct t_file *f = t_malloc(sizeof(*f));

		t_file_init(f, c->cache, &t_wb_aops, 64 * MIB, c->seed + (uint64_t)loop);
		for (uint64_t p = 0; p < 32; p++)
			t_assert_eq(t_dirty_page(f, p), 0);
		if (loop % 3 == 0)
			t_assert_eq(filemap_write_and_wait_range(f->inode.i_mapping, 0, UINT64_MAX),
				    0);
		inode_destroy(&f->inode);
		free(f);
	}
	return NULL;
}

static void *syncer(void *arg)
{
	struct churn *c = arg;
	unsigned int syncs = 0;

	while (!atomic_load(c->stop) || syncs == 0) {
		t_assert_eq(pagecache_sync(c->cache), 0);
		syncs++;
	}
	return NULL;
}

/* Syncs pin mappings that churners destroy meanwhile: destroy waits, nothing is used after free. */
static void test_sync_vs_destroy(uint64_t seed)
{
	struct pagecache_opts opts = { .budget_bytes = 8 * MIB };
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct t_wbdev *dev = t_wbdev_start(0);
	_Atomic bool stop = false;
	struct churn c[CHURNERS + 1];
	pthread_t th[CHURNERS + 1];

	atomic_store(&t_wbdev, dev);
	atomic_store(&t_wb_delay_us, 10);
	for (int i = 0; i <= CHURNERS; i++) {
		c[i] = (struct churn){ .cache = cache,
				       .seed = seed * 7 + (uint64_t)i,
				       .stop = &stop };
		pthread_create(&th[i], NULL, i < CHURNERS ? churner : syncer, &c[i]);
	}
	for (int i = 0; i < CHURNERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, true);
	pthread_join(th[CHURNERS], NULL);
	atomic_store(&t_wb_delay_us, 0);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5c;

	test_sync_all(seed, 0);
	test_sync_all(seed, 64 * MIB);
	test_errors(seed);
	test_sync_vs_destroy(seed);
	return T_EXIT_PASS;
}
