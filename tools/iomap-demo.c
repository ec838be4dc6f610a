/* SPDX-License-Identifier: MIT */
/*
 * iomap-demo: write one file through testfs and iomap, read it back,
 * verify every byte and print what it cost: ->begin / ->end calls,
 * per-folio state, writeback, bios and bytes on the device.
 *
 *   iomap-demo [--block-size N] [--extent-size SIZE] [--write-size SIZE]
 *              [--io-size SIZE] [--image PATH] [--delalloc|--no-delalloc]
 *              [--fsync] [--cache-budget SIZE] [--direct] [--buffer-heads]
 *              [--jdata] [--json]
 *
 * With --fsync the file is written back and waited for before anything is
 * reported, then dropped from the cache, so the read phase reads the
 * device through real read bios.  With --direct both phases go through
 * direct I/O (testfs_direct_write / testfs_direct_read).  With
 * --buffer-heads the file's page cache goes through buffer heads; with
 * --jdata writes also go through a journal, one transaction per folio.
 *
 * Exit status: 0 ok, 1 I/O error or data mismatch, 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iomap/bdev.h"
#include "iomap/buffer_head.h"
#include "iomap/inode.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "iomap/stats.h"
#include "opt.h"
#include "testfs.h"

struct demo_opts {
	unsigned int block_size;
	uint64_t extent_size;
	uint64_t write_size;
	uint64_t io_size;
	const char *image;
	uint64_t cache_budget;
	bool delalloc;
	bool fsync;
	bool direct;
	bool buffer_heads;
	bool jdata;
	bool json;
};

struct demo {
	struct demo_opts o;
	struct bdev *bdev;
	struct pagecache *cache;
	struct testfs *fs;
	struct testfs_file *file;
	struct testfs_handle *handle;
	uint8_t *buf;
	uint8_t *period; /* one period of the pattern (see pattern()) */
	struct iomap_stats wr, rd; /* after the write (and fsync) phase, after the read phase */
	struct bdev_stats dev;
	struct testfs_stats fs_stats;
	struct pagecache_stats pc;
	struct bh_stats bh;
	uint64_t folios;
	uint64_t write_ns, fsync_ns, read_ns;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: iomap-demo [options]\n"
		"  --block-size N      filesystem block size, 512..4096 (default 4096)\n"
		"  --extent-size SIZE  largest extent testfs hands out (default 0 = unlimited)\n"
		"  --write-size SIZE   file size to write (default 1M)\n"
		"  --io-size SIZE      bytes per write and read call (default: the write size,\n"
		"                      at most 1G)\n"
		"  --image PATH        use a file as the device (created, sized to fit)\n"
		"                      (default: a RAM device)\n"
		"  --delalloc          delayed allocation (default)\n"
		"  --no-delalloc       allocate blocks at write time\n"
		"  --fsync             write back and wait before reporting, then drop the\n"
		"                      cache so the read phase reads the device\n"
		"  --cache-budget SIZE page cache budget (default 0 = unlimited)\n"
		"  --direct            write and read with direct I/O (sizes: multiples of 512)\n"
		"  --buffer-heads      page cache through buffer heads (per-block get_block)\n"
		"  --jdata             journaled data: a transaction per folio, then in place\n"
		"  --json              print one JSON object instead of a table\n"
		"  --help              this text\n"
		"SIZE takes K, M, G suffixes (binary).\n");
}

/* ---- arguments ---- */

enum {
	O_BS = 256, O_EXT, O_WSIZE, O_IOSIZE, O_IMAGE, O_DA, O_NODA, O_JSON, O_FSYNC, O_BUDGET,
	O_DIRECT, O_BH, O_JDATA,
};

static const struct option long_opts[] = {
	{ "block-size", required_argument, NULL, O_BS },
	{ "extent-size", required_argument, NULL, O_EXT },
	{ "write-size", required_argument, NULL, O_WSIZE },
	{ "io-size", required_argument, NULL, O_IOSIZE },
	{ "image", required_argument, NULL, O_IMAGE },
	{ "delalloc", no_argument, NULL, O_DA },
	{ "no-delalloc", no_argument, NULL, O_NODA },
	{ "json", no_argument, NULL, O_JSON },
	{ "fsync", no_argument, NULL, O_FSYNC },
	{ "cache-budget", required_argument, NULL, O_BUDGET },
	{ "direct", no_argument, NULL, O_DIRECT },
	{ "buffer-heads", no_argument, NULL, O_BH },
	{ "jdata", no_argument, NULL, O_JDATA },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static bool set_opt(struct demo_opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case O_BS:
		if (!opt_parse_u64(arg, &v) || v > 4096)
			return false;
		o->block_size = (unsigned int)v;
		return true;
	case O_EXT:
		return opt_parse_size(arg, &o->extent_size);
	case O_WSIZE:
		return opt_parse_size(arg, &o->write_size);
	case O_IOSIZE:
		return opt_parse_size(arg, &o->io_size);
	case O_IMAGE:
		o->image = arg;
		return *arg != '\0';
	case O_DA:
	case O_NODA:
		o->delalloc = c == O_DA;
		return true;
	case O_JSON:
		o->json = true;
		return true;
	case O_FSYNC:
		o->fsync = true;
		return true;
	case O_BUDGET:
		return opt_parse_size(arg, &o->cache_budget);
	case O_DIRECT:
		o->direct = true;
		return true;
	case O_BH:
		o->buffer_heads = true;
		return true;
	case O_JDATA:
		o->jdata = true;
		return true;
	}
	return false;
}

static const char *check_opts(struct demo_opts *o)
{
	unsigned int bs = o->block_size;

	if (bs < 512 || (bs & (bs - 1)))
		return "--block-size must be a power of two from 512 to 4096";
	if (o->extent_size % bs)
		return "--extent-size must be a multiple of the block size";
	if (!o->write_size || o->write_size > TESTFS_MAX_FILE_SIZE / 2)
		return "--write-size must be more than 0 and at most 32T";
	if (!o->io_size)
		o->io_size = o->write_size < (1ULL << 30) ? o->write_size : 1ULL << 30;
	if (o->io_size > o->write_size || o->io_size > (1ULL << 30))
		return "--io-size must be at most the write size and at most 1G";
	if (o->direct && (o->io_size % 512 || o->write_size % 512))
		return "--direct needs --io-size and --write-size in multiples of 512";
	return NULL;
}

static bool set_opt_any(void *o, int c, const char *arg)
{
	return set_opt(o, c, arg);
}

static const char *check_opts_any(void *o)
{
	return check_opts(o);
}

static int parse_args(int argc, char **argv, struct demo_opts *o)
{
	static const struct opt_parser parser = {
		.prog = "iomap-demo",
		.long_opts = long_opts,
		.first_val = O_BS,
		.usage = usage,
		.set = set_opt_any,
		.check = check_opts_any,
	};

	return opt_parse_args(&parser, argc, argv, o);
}

/* ---- setup ---- */

static int fail(const char *what, int err)
{
	fprintf(stderr, "iomap-demo: %s: %s\n", what, strerror(-err));
	return -1;
}

static int open_device(struct demo *d)
{
	uint64_t size = d->o.write_size + d->o.write_size / 4 + (64ULL << 20);
	struct bdev_open_opts bo = { .flags = BDEV_O_CREATE, .size = size };
	int ret;

	if (d->o.image)
		ret = bdev_open(d->o.image, &bo, &d->bdev);
	else
		ret = bdev_open_ram(size, 512, &d->bdev);
	if (ret)
		return fail(d->o.image ? d->o.image : "RAM device", ret);
	if (bdev_nr_bytes(d->bdev) < size)
		return fail("device smaller than needed", -ENOSPC);
	return 0;
}

/* The pattern repeats every PERIOD bytes (see pattern()). */
#define PERIOD (512U * 256)

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 131 + off * 7 + 1);
}

static int setup(struct demo *d)
{
	struct testfs_opts fo = { .block_size = d->o.block_size, .max_extent = d->o.extent_size,
				  .delalloc = d->o.delalloc, .buffer_heads = d->o.buffer_heads,
				  .jdata = d->o.jdata };
	struct pagecache_opts po = { .budget_bytes = d->o.cache_budget };
	int ret;

	if (open_device(d))
		return -1;
	ret = pagecache_create(&po, &d->cache);
	if (ret)
		return fail("pagecache_create", ret);
	ret = testfs_create(d->bdev, d->cache, &fo, &d->fs);
	if (ret)
		return fail("testfs_create", ret);
	ret = testfs_file_create(d->fs, &d->file);
	if (ret)
		return fail("testfs_file_create", ret);
	ret = testfs_open(d->file, &d->handle);
	if (ret)
		return fail("testfs_open", ret);
	/* Aligned for --direct, and harmless otherwise. */
	d->buf = aligned_alloc(4096, (d->o.io_size + 4095) & ~4095ULL);
	d->period = malloc(2 * PERIOD);
	if (!d->buf || !d->period)
		return fail("malloc", -ENOMEM);
	for (uint64_t i = 0; i < 2 * PERIOD; i++)
		d->period[i] = pattern(i);
	return 0;
}

static void teardown(struct demo *d)
{
	testfs_close(d->handle);
	testfs_destroy(d->fs);
	pagecache_destroy(d->cache);
	bdev_close(d->bdev);
	free(d->buf);
	free(d->period);
}

/* ---- workload ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Bytes of the call at @pos. */
static size_t io_bytes(const struct demo *d, uint64_t pos)
{
	return (size_t)(d->o.write_size - pos < d->o.io_size ? d->o.write_size - pos
							     : d->o.io_size);
}

/* The pattern of [pos, pos + n) into @buf, a period at a time. */
static void fill(const struct demo *d, uint8_t *buf, uint64_t pos, size_t n)
{
	for (size_t done = 0; done < n;) {
		size_t off = (size_t)((pos + done) % PERIOD), k = PERIOD - off;

		k = k < n - done ? k : n - done;
		memcpy(buf + done, d->period + off, k);
		done += k;
	}
}

static int write_phase(struct demo *d)
{
	uint64_t t0 = now_ns();

	for (uint64_t pos = 0; pos < d->o.write_size; pos += d->o.io_size) {
		size_t n = io_bytes(d, pos);
		ssize_t ret;

		fill(d, d->buf, pos, n);
		if (d->o.direct)
			ret = testfs_direct_write(d->file, pos, d->buf, n);
		else
			ret = testfs_write(d->file, pos, d->buf, n);
		if (ret != (ssize_t)n) {
			fprintf(stderr, "iomap-demo: write at %" PRIu64 ": %s\n", pos,
				ret < 0 ? strerror((int)-ret) : "short write");
			return -1;
		}
	}
	d->write_ns = now_ns() - t0;
	return 0;
}

/* Write back, wait, flush; then drop the cache so reads go to the device. */
static int fsync_phase(struct demo *d)
{
	uint64_t t0 = now_ns();
	int ret = testfs_fsync(d->handle, false, 0, UINT64_MAX);

	d->fsync_ns = now_ns() - t0;
	if (ret) {
		fprintf(stderr, "iomap-demo: fsync: %s\n", strerror(-ret));
		return -1;
	}
	testfs_drop_cache(d->file);
	return 0;
}

static int verify(const struct demo *d, uint64_t pos, size_t n)
{
	for (size_t done = 0; done < n;) {
		size_t off = (size_t)((pos + done) % PERIOD), k = PERIOD - off;

		k = k < n - done ? k : n - done;
		if (memcmp(d->buf + done, d->period + off, k))
			break;
		done += k;
		if (done == n)
			return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (d->buf[i] != pattern(pos + i)) {
			fprintf(stderr, "iomap-demo: mismatch at offset %" PRIu64
				": expected 0x%02x, got 0x%02x\n", pos + i, pattern(pos + i),
				d->buf[i]);
			return -1;
		}
	}
	return 0;
}

static int read_phase(struct demo *d)
{
	uint64_t t0 = now_ns();

	for (uint64_t pos = 0; pos < d->o.write_size; pos += d->o.io_size) {
		size_t n = io_bytes(d, pos);
		ssize_t ret = d->o.direct ? testfs_direct_read(d->file, pos, d->buf, n)
					  : testfs_read(d->file, pos, d->buf, n);

		if (ret != (ssize_t)n) {
			fprintf(stderr, "iomap-demo: read at %" PRIu64 ": %s\n", pos,
				ret < 0 ? strerror((int)-ret) : "short read");
			return -1;
		}
		if (verify(d, pos, n))
			return -1;
	}
	d->read_ns = now_ns() - t0;
	return 0;
}

/* Setup is not counted: counters start after it. */
static int run(struct demo *d)
{
	iomap_reset_stats();
	bh_reset_stats();
	bdev_reset_stats(d->bdev);
	if (write_phase(d))
		return -1;
	iomap_get_stats(&d->wr);
	if (d->o.fsync && fsync_phase(d))
		return -1;
	if (read_phase(d))
		return -1;
	iomap_get_stats(&d->rd);
	bh_get_stats(&d->bh);
	bdev_get_stats(d->bdev, &d->dev);
	testfs_get_stats(d->fs, &d->fs_stats);
	pagecache_get_stats(d->cache, &d->pc);
	d->folios = mapping_nr_folios(testfs_inode(d->file)->i_mapping);
	return 0;
}

/* ---- output ---- */

struct field {
	const char *name;
	uint64_t value;
	const char *section; /* starts a new group in the table */
};

static uint64_t per_folio(const struct demo *d, uint64_t bytes)
{
	return d->folios ? (bytes + d->folios - 1) / d->folios : 0;
}

static uint64_t avg(uint64_t total, uint64_t n)
{
	return n ? total / n : 0;
}

static size_t collect(const struct demo *d, struct field *f)
{
	size_t n = 0;

#define F(sec, key, val) f[n++] = (struct field){ key, (uint64_t)(val), sec }
	F("setup", "block_size", d->o.block_size);
	F(NULL, "extent_size", d->o.extent_size);
	F(NULL, "write_size", d->o.write_size);
	F(NULL, "io_size", d->o.io_size);
	F(NULL, "delalloc", d->o.delalloc);
	F(NULL, "fsync", d->o.fsync);
	F(NULL, "cache_budget", d->o.cache_budget);
	F(NULL, "direct", d->o.direct);
	F(NULL, "buffer_heads", d->o.buffer_heads);
	F(NULL, "jdata", d->o.jdata);
	F("write phase", "iomap_begin_calls", d->wr.begin_calls);
	F(NULL, "iomap_end_calls", d->wr.end_calls);
	F(NULL, "get_folio_calls", d->wr.get_folio_calls);
	F(NULL, "put_folio_calls", d->wr.put_folio_calls);
	F(NULL, "iomap_valid_calls", d->wr.iomap_valid_calls);
	F(NULL, "stale_remaps", d->wr.stale_remaps);
	F(NULL, "rmw_reads", d->wr.rmw_reads);
	F(NULL, "bytes_zeroed", d->wr.bytes_zeroed);
	F(NULL, "write_elapsed_ns", d->write_ns);
	F("writeback", "map_blocks_calls", d->rd.map_blocks_calls);
	F(NULL, "ioends", d->rd.ioends);
	F(NULL, "writeback_folios", d->rd.writeback_folios);
	F(NULL, "writeback_errors", d->rd.writeback_errors);
	F(NULL, "blocks_converted", d->fs_stats.blocks_converted);
	F(NULL, "blocks_written", d->fs_stats.blocks_written);
	F(NULL, "fsync_elapsed_ns", d->fsync_ns);
	F("direct I/O", "dio_requests", d->rd.dio_requests);
	F(NULL, "dio_bios", d->rd.dio_bios);
	F("read phase", "read_iomap_begin_calls", d->rd.begin_calls - d->wr.begin_calls);
	F(NULL, "read_iomap_end_calls", d->rd.end_calls - d->wr.end_calls);
	F(NULL, "read_bios", d->rd.read_bios - d->wr.read_bios);
	F(NULL, "read_elapsed_ns", d->read_ns);
	F("page cache", "folios", d->folios);
	F(NULL, "folios_with_state", d->rd.folios_with_state);
	F(NULL, "folio_state_bytes", d->rd.folio_state_bytes);
	F(NULL, "folio_state_bytes_per_folio", per_folio(d, d->rd.folio_state_bytes));
	F(NULL, "folio_state_peak_bytes", d->rd.folio_state_peak_bytes);
	F(NULL, "cache_peak_bytes", d->pc.peak_bytes);
	F(NULL, "cache_slack_bytes", d->pc.slack_bytes);
	F(NULL, "reclaimed", d->pc.reclaimed);
	F(NULL, "throttle_waits", d->pc.throttle_waits);
	F(NULL, "flusher_written", d->pc.flusher_written);
	F("buffer heads", "get_block_calls", d->bh.get_block_calls);
	F(NULL, "buffer_heads_peak", d->bh.bh_peak);
	F(NULL, "buffer_head_bytes_per_folio", per_folio(d, d->bh.bytes_live));
	F("journal", "trans_begun", d->fs_stats.trans_begun);
	F(NULL, "trans_committed", d->fs_stats.trans_committed);
	F(NULL, "trans_max_open", d->fs_stats.trans_max_open);
	F(NULL, "journal_blocks", d->fs_stats.journal_blocks);
	F("device", "bios_read", d->dev.bios_read);
	F(NULL, "bios_written", d->dev.bios_written);
	F(NULL, "bytes_read", d->dev.bytes_read);
	F(NULL, "bytes_written", d->dev.bytes_written);
	F(NULL, "bio_write_avg_bytes", avg(d->dev.bytes_written, d->dev.bios_written));
	F(NULL, "flushes", d->dev.flushes);
	F(NULL, "fua_writes", d->dev.fua_writes);
	F("filesystem", "extents", d->fs_stats.extents);
	F(NULL, "blocks_allocated", d->fs_stats.blocks_allocated);
	F(NULL, "blocks_delalloc", d->fs_stats.blocks_delalloc);
	F(NULL, "disk_size", testfs_disk_size(d->file));
	F(NULL, "elapsed_ns", d->write_ns + d->fsync_ns + d->read_ns);
#undef F
	return n;
}

static void print_json(const struct demo *d, const struct field *f, size_t n)
{
	printf("{\"engine\": \"%s\"", bdev_engine_name(d->bdev));
	for (size_t i = 0; i < n; i++)
		printf(", \"%s\": %" PRIu64, f[i].name, f[i].value);
	printf("}\n");
}

static void print_table(const struct demo *d, const struct field *f, size_t n)
{
	printf("iomap-demo: %s device, data verified\n", bdev_engine_name(d->bdev));
	for (size_t i = 0; i < n; i++) {
		if (f[i].section)
			printf("%s:\n", f[i].section);
		printf("  %-30s %" PRIu64 "\n", f[i].name, f[i].value);
	}
}

int main(int argc, char **argv)
{
	struct demo d = { .o = { .block_size = 4096, .write_size = 1 << 20, .delalloc = true } };
	struct field fields[64];
	size_t n;
	int ret = 1;

	if (parse_args(argc, argv, &d.o))
		return 2;
	if (!setup(&d) && !run(&d)) {
		n = collect(&d, fields);
		if (d.o.json)
			print_json(&d, fields, n);
		else
			print_table(&d, fields, n);
		ret = 0;
	}
	teardown(&d);
	return ret;
}
