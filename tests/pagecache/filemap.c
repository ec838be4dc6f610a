/* SPDX-License-Identifier: MIT */
/*
 * filemap_read: reads spanning many folios through ->readahead, through
 * ->read_folio alone, and through reads that complete asynchronously in
 * another thread; EOF clamping and the readahead window; copying from a
 * partly uptodate folio without I/O; read errors (-EIO, an errno from
 * ->read_folio, short counts); a ->readahead that leaves folios untaken;
 * and i_size shrinking while a read is in flight.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "pc-helpers.h"

#define FILE_SIZE ((1U << 20) + 1234U)

static void read_check(struct t_file *f, uint64_t pos, size_t len, ssize_t expect)
{
	char *buf = t_malloc(len + 1);
	ssize_t ret = filemap_read(&f->inode, pos, buf, len);

	t_assert_eq(ret, expect);
	if (ret > 0)
		t_check_file_data(f, buf, (size_t)ret, pos);
	free(buf);
}

static void read_patterns(struct t_file *f, uint64_t size)
{
	read_check(f, 0, 4096, 4096);
	read_check(f, 100, 10000, 10000);
	read_check(f, 4095, 2, 2);
	read_check(f, 0, size + 5000, (ssize_t)size);
	read_check(f, size - 10, 100, 10);
	read_check(f, size, 10, 0);
	read_check(f, size + 100, 10, 0);
	read_check(f, 12345, 0, 0);
	read_check(f, 300000, 500000, 500000);
}

/* ->readahead does all the reading; the window is 256 KiB, never past EOF. */
static void test_readahead(struct pagecache *cache)
{
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, FILE_SIZE, 11);
	read_check(&f, 0, 4096, 4096);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 64);
	t_assert_eq(atomic_load(&f.readahead_calls), 1);
	read_patterns(&f, FILE_SIZE);
	t_assert_eq(atomic_load(&f.read_folio_calls), 0);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), (FILE_SIZE + PAGE_SIZE - 1) / PAGE_SIZE);
	t_assert_eq(atomic_load(&f.readahead_folios), mapping_nr_folios(f.inode.i_mapping));
	inode_destroy(&f.inode);

	/* A small file: readahead stops at the EOF folio. */
	t_file_init(&f, cache, &t_sync_aops, 5000, 12);
	read_check(&f, 0, 100, 100);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 2);
	read_check(&f, 4000, 5000, 1000);
	inode_destroy(&f.inode);
}

static const struct address_space_ops read_folio_only_aops = {
	.read_folio = t_sync_read_folio,
};

static void test_read_folio_only(struct pagecache *cache)
{
	struct t_file f;

	t_file_init(&f, cache, &read_folio_only_aops, FILE_SIZE, 13);
	read_patterns(&f, FILE_SIZE);
	t_assert_eq(atomic_load(&f.read_folio_calls), mapping_nr_folios(f.inode.i_mapping));
	inode_destroy(&f.inode);
}

/* Reads completed by a worker thread, as a block device completion would. */
#define QUEUE_LEN 256

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct folio *items[QUEUE_LEN];
	unsigned int head, tail; /* under lock */
	bool stop;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void q_push(struct folio *folio)
{
	pthread_mutex_lock(&q.lock);
	while (q.tail - q.head == QUEUE_LEN)
		pthread_cond_wait(&q.cond, &q.lock);
	q.items[q.tail++ % QUEUE_LEN] = folio;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
}

static void *q_worker(void *arg)
{
	unsigned int n = 0;

	for (;;) {
		struct folio *folio;

		pthread_mutex_lock(&q.lock);
		while (q.head == q.tail && !q.stop)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.head == q.tail) {
			pthread_mutex_unlock(&q.lock);
			return arg;
		}
		folio = q.items[q.head++ % QUEUE_LEN];
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
		if (++n % 16 == 0)
			usleep(100);
		t_file_complete_read(t_file_of(folio), folio);
	}
}

static int async_read_folio(struct folio *folio)
{
	atomic_fetch_add(&t_file_of(folio)->read_folio_calls, 1);
	q_push(folio);
	return 0;
}

static void async_readahead(struct readahead_control *rac)
{
	struct folio *folio;

	while ((folio = readahead_folio(rac)))
		q_push(folio);
}

static const struct address_space_ops async_aops = {
	.read_folio = async_read_folio,
	.readahead = async_readahead,
};

struct reader {
	struct t_file *f;
	uint64_t pos;
	size_t len;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;

	read_check(r->f, r->pos, r->len, (ssize_t)r->len);
	return NULL;
}

static void test_async(struct pagecache *cache)
{
	struct reader r[3];
	pthread_t worker, th[3];
	struct t_file f;

	pthread_create(&worker, NULL, q_worker, NULL);
	t_file_init(&f, cache, &async_aops, 3 * FILE_SIZE, 14);
	read_patterns(&f, 3 * FILE_SIZE);
	inode_destroy(&f.inode);

	/* Several readers over the same folios while their reads are in flight. */
	t_file_init(&f, cache, &async_aops, 3 * FILE_SIZE, 15);
	for (int i = 0; i < 3; i++) {
		r[i] = (struct reader){ .f = &f,
					.pos = 1000U * (unsigned int)i,
					.len = 2 * FILE_SIZE };
		pthread_create(&th[i], NULL, reader_thread, &r[i]);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	inode_destroy(&f.inode);

	pthread_mutex_lock(&q.lock);
	q.stop = true;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
	pthread_join(worker, NULL);
}

/* folio->private holds a mask of valid 512-byte sectors. */
static bool sectors_valid(struct folio *folio, size_t from, size_t count)
{
	uintptr_t mask = (uintptr_t)folio->private;

	if (!folio_test_locked(folio))
		t_fail("is_partially_uptodate on an unlocked folio");
	for (size_t s = from / 512; s * 512 < from + count && s < 8; s++)
		if (!(mask & (1U << s)))
			return false;
	return true;
}

static int partial_read_folio(struct folio *folio)
{
	folio->private = NULL;
	return t_sync_read_folio(folio);
}

static const struct address_space_ops partial_aops = {
	.read_folio = partial_read_folio,
	.is_partially_uptodate = sectors_valid,
	.invalidate_folio = t_record_invalidate,
};

static void test_partially_uptodate(struct pagecache *cache)
{
	struct folio *folio = folio_alloc(cache, 0);
	struct t_file f;

	t_file_init(&f, cache, &partial_aops, FILE_SIZE, 16);
	folio_lock(folio);
	t_assert_eq(filemap_add_folio(f.inode.i_mapping, folio, 0), 0);
	t_fill_pattern(folio->data, 2048, 0, f.seed);
	memset((char *)folio->data + 2048, 0xee, 2048);
	folio->private = (void *)(uintptr_t)0x0f;
	folio_unlock(folio);
	read_check(&f, 0, 2048, 2048);
	read_check(&f, 100, 1000, 1000);
	t_assert_eq(atomic_load(&f.read_folio_calls), 0);
	t_assert(!folio_test_uptodate(folio));
	read_check(&f, 1000, 3000, 3000);
	t_assert_eq(atomic_load(&f.read_folio_calls), 1);
	t_assert(folio_test_uptodate(folio));
	folio_put(folio);
	inode_destroy(&f.inode);
}

static int error_read_folio(struct folio *folio)
{
	atomic_fetch_add(&t_file_of(folio)->read_folio_calls, 1);
	folio_end_read(folio, false);
	return -ENOSPC;
}

static const struct address_space_ops error_aops = {
	.read_folio = error_read_folio,
};

static void test_errors(struct pagecache *cache)
{
	struct t_file f;

	/* Folio 5 cannot be read: the read before it comes up short, a read of it fails. */
	t_file_init(&f, cache, &t_sync_aops, FILE_SIZE, 17);
	f.fail_index = 5;
	read_check(&f, 100, 10 * PAGE_SIZE, 5 * PAGE_SIZE - 100);
	read_check(&f, 5 * PAGE_SIZE + 10, 100, -EIO);
	t_assert(atomic_load(&f.read_folio_calls) >= 2); /* readahead's failure was retried */
	f.fail_index = T_NO_INDEX;
	read_check(&f, 5 * PAGE_SIZE + 10, 100, 100);
	inode_destroy(&f.inode);

	/* ->read_folio's own errno wins over -EIO. */
	t_file_init(&f, cache, &error_aops, FILE_SIZE, 18);
	read_check(&f, 0, 100, -ENOSPC);
	inode_destroy(&f.inode);
}

/* Takes only the first folio; the page cache must unlock the others. */
static void lazy_readahead(struct readahead_control *rac)
{
	struct folio *folio = readahead_folio(rac);
	uint64_t pos = readahead_pos(rac);
	size_t len = readahead_length(rac);

	if (pos != folio_pos(folio) + PAGE_SIZE)
		t_fail("readahead_pos %llu after folio %llu", (unsigned long long)pos,
		       (unsigned long long)folio->index);
	t_assert(len % PAGE_SIZE == 0);
	t_file_complete_read(t_file_of(folio), folio);
}

static const struct address_space_ops lazy_aops = {
	.read_folio = t_sync_read_folio,
	.readahead = lazy_readahead,
};

static void test_untaken_readahead(struct pagecache *cache)
{
	struct t_file f;

	t_file_init(&f, cache, &lazy_aops, FILE_SIZE, 19);
	read_check(&f, 0, 8 * PAGE_SIZE, 8 * PAGE_SIZE);
	t_assert_eq(atomic_load(&f.read_folio_calls), 7);
	read_patterns(&f, FILE_SIZE);
	inode_destroy(&f.inode);
}

/* i_size drops while folio 3 is being read: the read stops at the new EOF. */
static int shrinking_read_folio(struct folio *folio)
{
	struct t_file *f = t_file_of(folio);

	if (folio->index == 3)
		i_size_write(&f->inode, 3 * PAGE_SIZE + 100);
	return t_sync_read_folio(folio);
}

static const struct address_space_ops shrinking_aops = {
	.read_folio = shrinking_read_folio,
};

static void test_shrink_during_read(struct pagecache *cache)
{
	struct t_file f;

	t_file_init(&f, cache, &shrinking_aops, FILE_SIZE, 20);
	read_check(&f, 0, 10 * PAGE_SIZE, 3 * PAGE_SIZE + 100);
	read_check(&f, 3 * PAGE_SIZE + 100, 10, 0);
	inode_destroy(&f.inode);
}

int main(void)
{
	struct pagecache *cache = t_cache_create();

	test_readahead(cache);
	test_read_folio_only(cache);
	test_async(cache);
	test_partially_uptodate(cache);
	test_errors(cache);
	test_untaken_readahead(cache);
	test_shrink_during_read(cache);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	return T_EXIT_PASS;
}
