/* SPDX-License-Identifier: MIT */
#include "mem-helpers.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

struct t_wbdev {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct folio **ring; /* queued folios, [head, tail) modulo cap */
	size_t head, tail, cap;
	bool paused, stop;
	unsigned int delay_us;
	_Atomic uint64_t completed;
};

_Atomic(struct t_wbdev *) t_wbdev;
_Atomic uint64_t t_wb_calls, t_wb_folios;
_Atomic int t_wb_busy;
_Atomic unsigned int t_wb_delay_us;
_Atomic int t_wb_error;

uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *dev_main(void *arg)
{
	struct t_wbdev *dev = arg;

	pthread_mutex_lock(&dev->lock);
	for (;;) {
		struct folio *folio;

		while (!dev->stop && (dev->paused || dev->head == dev->tail))
			pthread_cond_wait(&dev->cond, &dev->lock);
		if (dev->head == dev->tail)
			break;
		folio = dev->ring[dev->head++ % dev->cap];
		pthread_mutex_unlock(&dev->lock);
		if (dev->delay_us)
			usleep(dev->delay_us);
		folio_end_writeback(folio);
		atomic_fetch_add(&dev->completed, 1);
		pthread_mutex_lock(&dev->lock);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

struct t_wbdev *t_wbdev_start(unsigned int delay_us)
{
	struct t_wbdev *dev = t_calloc(1, sizeof(*dev));

	dev->cap = 1024;
	dev->ring = t_calloc(dev->cap, sizeof(*dev->ring));
	dev->delay_us = delay_us;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_cond_init(&dev->cond, NULL);
	if (pthread_create(&dev->thread, NULL, dev_main, dev))
		t_fail("pthread_create");
	return dev;
}

/* The folio is under writeback, so it stays in its mapping, alive, until we end it. */
static void dev_queue(struct t_wbdev *dev, struct folio *folio)
{
	pthread_mutex_lock(&dev->lock);
	if (dev->tail - dev->head == dev->cap) {
		struct folio **ring = t_calloc(2 * dev->cap, sizeof(*ring));

		for (size_t i = dev->head; i != dev->tail; i++)
			ring[i - dev->head] = dev->ring[i % dev->cap];
		free(dev->ring);
		dev->ring = ring;
		dev->tail -= dev->head;
		dev->head = 0;
		dev->cap *= 2;
	}
	dev->ring[dev->tail++ % dev->cap] = folio;
	pthread_cond_signal(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
}

void t_wbdev_pause(struct t_wbdev *dev, bool paused)
{
	pthread_mutex_lock(&dev->lock);
	dev->paused = paused;
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
}

void t_wbdev_stop(struct t_wbdev *dev)
{
	struct t_wbdev *expected = dev;

	atomic_compare_exchange_strong(&t_wbdev, &expected, NULL);
	pthread_mutex_lock(&dev->lock);
	dev->stop = true;
	dev->paused = false;
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
	pthread_join(dev->thread, NULL);
	pthread_cond_destroy(&dev->cond);
	pthread_mutex_destroy(&dev->lock);
	free(dev->ring);
	free(dev);
}

uint64_t t_wbdev_completed(struct t_wbdev *dev)
{
	return atomic_load(&dev->completed);
}

int t_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct t_wbdev *dev = atomic_load(&t_wbdev);
	struct folio *folio = NULL;
	unsigned int delay;

	atomic_fetch_add(&t_wb_busy, 1);
	atomic_fetch_add(&t_wb_calls, 1);
	while ((folio = writeback_iter(mapping, wbc, folio))) {
		if (!folio_test_locked(folio) || folio_test_dirty(folio) ||
		    !folio_test_uptodate(folio))
			t_fail("writeback_iter handed out a bad folio");
		folio_start_writeback(folio);
		folio_unlock(folio);
		delay = atomic_load(&t_wb_delay_us);
		if (delay)
			usleep(delay);
		atomic_fetch_add(&t_wb_folios, 1);
		if (dev)
			dev_queue(dev, folio);
		else
			folio_end_writeback(folio);
	}
	atomic_fetch_sub(&t_wb_busy, 1);
	return atomic_load(&t_wb_error);
}

const struct address_space_ops t_wb_aops = {
	.read_folio = t_sync_read_folio,
	.readahead = t_sync_readahead,
	.invalidate_folio = t_record_invalidate,
	.release_folio = t_release,
	.writepages = t_writepages,
};

struct pagecache *t_cache_create_opts(const struct pagecache_opts *opts)
{
	struct pagecache *cache;
	int err = pagecache_create(opts, &cache);

	if (err)
		t_fail("pagecache_create: %d", err);
	return cache;
}

int t_dirty_page(struct t_file *f, uint64_t index)
{
	struct folio *folio;
	int err = filemap_get_folio(f->inode.i_mapping, index, FGP_WRITEBEGIN, &folio);

	if (err)
		return err;
	if (!folio_test_uptodate(folio)) {
		t_file_fill(f, folio);
		folio_mark_uptodate(folio);
	}
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 0;
}

void t_check_peak_within_slack(struct pagecache *cache)
{
	struct pagecache_stats st;

	pagecache_get_stats(cache, &st);
	t_assert(st.budget_bytes != 0);
	t_assert_eq(st.slack_bytes, pagecache_slack(cache));
	if (st.peak_bytes > st.budget_bytes + st.slack_bytes)
		t_fail("peak %llu > budget %llu + slack %llu", (unsigned long long)st.peak_bytes,
		       (unsigned long long)st.budget_bytes, (unsigned long long)st.slack_bytes);
}
