/* SPDX-License-Identifier: MIT */
/*
 * Concurrency through buffer heads: on one file with 512-byte blocks (8
 * buffers per folio),
 *  - writer threads each own a run of folios and write random ranges into
 *    them, all at once (i_rwsem shared: no write grows i_size), reading
 *    back their own data against a model as they go;
 *  - reader threads read a region written before the start, over and over;
 *  - a flusher thread writes everything back and drops the clean cache, so
 *    writers race writeback of their folios (buffer locks, writeback waits)
 *    and readers re-read through block_read_full_folio, several readers
 *    waiting on the same folio.
 * At the end everything is written back, the cache dropped, and every byte
 * read back.  Run on the RAM device (completions in the submitter) and on
 * a file through io_uring (completions in the device's reaper thread).
 * Meant for ThreadSanitizer as well as the plain and ASan builds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bhfs.h"
#include "helpers.h"
#include "lib/compiler.h"

#define BITS 9
#define NWRITERS 4
#define NREADERS 3
#define PAGES_PER_WRITER 8
#define RO_PAGES 8
#define WRITER_BYTES (PAGES_PER_WRITER * PAGE_SIZE)
#define RO_START ((uint64_t)NWRITERS * WRITER_BYTES)
#define FILE_SIZE (RO_START + RO_PAGES * PAGE_SIZE)
#define DEV_BYTES (8U << 20)
#define ROUNDS 2000
#define RO_SEED 0x7e57

struct shared {
	struct bhfs fs;
	_Atomic int writers_left;
	char model[NWRITERS][WRITER_BYTES];
};

struct writer {
	struct shared *sh;
	unsigned int id;
};

static void writer_round(struct shared *sh, unsigned int id, struct t_rng *rng, int round)
{
	uint64_t base = (uint64_t)id * WRITER_BYTES;
	uint64_t off = t_rng_below(rng, WRITER_BYTES);
	size_t len = 1 + (size_t)t_rng_below(rng, min(WRITER_BYTES - off, (uint64_t)3 * PAGE_SIZE));
	char *buf = t_malloc(len), *check;

	t_fill_pattern(buf, len, base + off, (uint64_t)round * 131 + id);
	t_assert_eq(bhfs_write(&sh->fs, base + off, buf, len), (ssize_t)len);
	memcpy(sh->model[id] + off, buf, len);
	off = t_rng_below(rng, WRITER_BYTES);
	free(buf);
	len = 1 + (size_t)t_rng_below(rng, WRITER_BYTES - off);
	check = t_malloc(len);
	t_assert_eq(bhfs_read(&sh->fs, base + off, check, len), (ssize_t)len);
	if (memcmp(check, sh->model[id] + off, len))
		t_fail("writer %u: read back differs", id);
	free(check);
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct t_rng rng;

	t_rng_seed(&rng, 1000 + w->id);
	for (int round = 0; round < ROUNDS; round++)
		writer_round(w->sh, w->id, &rng, round);
	atomic_fetch_sub(&w->sh->writers_left, 1);
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct shared *sh = arg;
	size_t len = RO_PAGES * PAGE_SIZE;
	char *buf = t_malloc(len);

	while (atomic_load(&sh->writers_left) > 0) {
		memset(buf, 0, len);
		t_assert_eq(bhfs_read(&sh->fs, RO_START, buf, len), (ssize_t)len);
		if (t_check_pattern(buf, len, RO_START, RO_SEED) >= 0)
			t_fail("read-only region differs");
	}
	free(buf);
	return NULL;
}

static void *flusher_thread(void *arg)
{
	struct shared *sh = arg;
	int n = 0;

	while (atomic_load(&sh->writers_left) > 0) {
		t_assert_eq(bhfs_sync(&sh->fs), 0);
		if (n++ % 2)
			bhfs_drop_cache(&sh->fs);
		usleep(200);
	}
	return NULL;
}

static void setup(struct shared *sh)
{
	char *buf = t_malloc(RO_PAGES * PAGE_SIZE);

	sh->fs.shared_writes = false;
	t_fill_pattern(buf, RO_PAGES * PAGE_SIZE, RO_START, RO_SEED);
	/* The writers' region exists as zeroes; the read-only region has data. */
	i_size_write(&sh->fs.inode, RO_START);
	t_assert_eq(bhfs_write(&sh->fs, RO_START, buf, RO_PAGES * PAGE_SIZE), RO_PAGES * PAGE_SIZE);
	t_assert_eq(i_size_read(&sh->fs.inode), FILE_SIZE);
	t_assert_eq(bhfs_sync(&sh->fs), 0);
	bhfs_drop_cache(&sh->fs);
	memset(sh->model, 0, sizeof(sh->model));
	sh->fs.shared_writes = true;
	atomic_store(&sh->writers_left, NWRITERS);
	free(buf);
}

static void verify(struct shared *sh)
{
	char *buf = t_malloc(FILE_SIZE);

	t_assert_eq(bhfs_sync(&sh->fs), 0);
	/*
	 * A completion thread may still hold the temporary folio reference
	 * of folio_end_writeback() for a moment after the waiter woke up;
	 * such a folio looks in use to invalidate_mapping_pages().
	 */
	for (int i = 0; i < 1000 && mapping_nr_folios(sh->fs.inode.i_mapping); i++) {
		bhfs_drop_cache(&sh->fs);
		if (mapping_nr_folios(sh->fs.inode.i_mapping))
			usleep(1000);
	}
	t_assert_eq(mapping_nr_folios(sh->fs.inode.i_mapping), 0);
	t_assert_eq(bhfs_read(&sh->fs, 0, buf, FILE_SIZE), (ssize_t)FILE_SIZE);
	for (unsigned int id = 0; id < NWRITERS; id++)
		if (memcmp(buf + (uint64_t)id * WRITER_BYTES, sh->model[id], WRITER_BYTES))
			t_fail("writer %u's data differs after the cache was dropped", id);
	if (t_check_pattern(buf + RO_START, RO_PAGES * PAGE_SIZE, RO_START, RO_SEED) >= 0)
		t_fail("read-only region differs after the cache was dropped");
	free(buf);
}

static void run(struct shared *sh)
{
	pthread_t wt[NWRITERS], rt[NREADERS], ft;
	struct writer w[NWRITERS];

	setup(sh);
	for (unsigned int i = 0; i < NWRITERS; i++) {
		w[i] = (struct writer){ .sh = sh, .id = i };
		t_assert_eq(pthread_create(&wt[i], NULL, writer_thread, &w[i]), 0);
	}
	for (unsigned int i = 0; i < NREADERS; i++)
		t_assert_eq(pthread_create(&rt[i], NULL, reader_thread, sh), 0);
	t_assert_eq(pthread_create(&ft, NULL, flusher_thread, sh), 0);
	for (unsigned int i = 0; i < NWRITERS; i++)
		pthread_join(wt[i], NULL);
	for (unsigned int i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	pthread_join(ft, NULL);
	verify(sh);
}

int main(void)
{
	struct shared *sh = t_calloc(1, sizeof(*sh));
	char path[] = "/tmp/bh-concurrent-XXXXXX";
	struct bh_stats st;
	int fd;

	bhfs_create(&sh->fs, BITS, DEV_BYTES);
	run(sh);
	bhfs_destroy(&sh->fs);

	fd = mkstemp(path);
	t_assert(fd >= 0);
	close(fd);
	memset(sh, 0, sizeof(*sh));
	bhfs_create_file(&sh->fs, BITS, DEV_BYTES, path);
	run(sh);
	bhfs_destroy(&sh->fs);
	unlink(path);

	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	free(sh);
	return T_EXIT_PASS;
}
