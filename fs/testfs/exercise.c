/* SPDX-License-Identifier: MIT */
/*
 * The randomized exerciser, after fsx (xfstests ltp/fsx.c): one file, a
 * model of its bytes and size in memory, and a stream of random operations
 * applied to both.  Every read is compared with the model, SEEK_HOLE /
 * SEEK_DATA and fiemap answers are checked against it, and testfs_check()
 * runs after every operation.
 *
 * Everything derives from the seed (operations, offsets, data, and
 * testfs's own short_extents choices), so a failure at operation K replays
 * by running the same options for K operations.  The last 64 operations
 * are kept in a ring and reported with the first difference.
 *
 * Messages go through opts->log; this file never prints.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iomap/bdev-fault.h"
#include "iomap/bdev.h"
#include "iomap/folio.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "iomap/uio.h"
#include "internal.h"

#define TX_LOG_SIZE 64
#define TX_COMPARE_EVERY 256
#define TX_DEFAULT_MAX_SIZE (256U * 1024)

struct tx_logent {
	uint64_t opno;
	enum testfs_exercise_op op;
	uint64_t pos, len;
	int64_t arg; /* whence, keep_size ... */
	int64_t ret;
};

struct tx {
	const struct testfs_exercise_opts *o;
	struct testfs_exercise_result *res;
	uint64_t rng;
	struct bdev *bdev; /* the filesystem's: the fault device with power_cut */
	struct bdev *lower; /* under the fault device; NULL without power_cut */
	struct pagecache *cache;
	struct testfs *fs;
	struct testfs_file *file;
	struct testfs_handle *handle; /* for fsync */
	unsigned int bs;
	uint64_t max_size;
	uint8_t *model; /* max_size bytes; zero past size */
	/*
	 * power_cut: durable[i] says that byte i (< size) was acknowledged by
	 * fsync or sync and not changed since, so it must survive a power cut.
	 */
	uint8_t *durable;
	uint64_t size;
	uint64_t alloc_end; /* preallocation past EOF may reach this far */
	uint8_t *buf; /* scratch, max_size bytes */
	struct tx_logent log[TX_LOG_SIZE];
	uint64_t opno; /* current operation, from 1 */
	bool final_check; /* the compare after the last operation runs */
	struct tx_logent *cur;
};

static const char *const op_names[TX_NR_OPS] = {
	[TX_WRITE] = "write",   [TX_READ] = "read",     [TX_TRUNCATE] = "truncate",
	[TX_ZERO] = "zero",     [TX_PUNCH] = "punch",   [TX_FALLOC] = "fallocate",
	[TX_SEEK] = "seek",     [TX_FIEMAP] = "fiemap", [TX_DROP] = "drop-cache",
	[TX_MAPBLK] = "map-blocks", [TX_RELOAD] = "reload", [TX_FSYNC] = "fsync",
	[TX_SYNC] = "sync",     [TX_DWRITE] = "direct-write", [TX_DREAD] = "direct-read",
	[TX_POWERCUT] = "power-cut", [TX_COMPARE] = "compare",
};

const char *testfs_exercise_op_name(enum testfs_exercise_op op)
{
	return op < TX_NR_OPS ? op_names[op] : "?";
}

/* ---- messages ---- */

__attribute__((format(printf, 2, 3))) static void tx_say(struct tx *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!t->o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->o->log(t->o->log_arg, line);
}

static void tx_format_ent(const struct tx_logent *e, char *out, size_t n)
{
	const char *extra = "";

	char src[64] = "";

	if (e->op == TX_SEEK)
		extra = e->arg == SEEK_DATA ? " SEEK_DATA" : " SEEK_HOLE";
	else if (e->op == TX_POWERCUT)
		extra = e->arg == BDEV_FAULT_CUT_DROP_ALL ? " drop-all" :
			e->arg == BDEV_FAULT_CUT_RANDOM	  ? " random"
							  : " random+torn";
	else if (e->op == TX_FALLOC)
		extra = e->arg ? " keep-size" : "";
	else if (e->op == TX_WRITE && (uint64_t)e->arg < e->len)
		snprintf(src, sizeof(src), " (source stops after 0x%" PRIx64 ")", (uint64_t)e->arg);
	snprintf(out, n, "#%" PRIu64 " %s 0x%" PRIx64 " +0x%" PRIx64 "%s%s -> %" PRId64, e->opno,
		 testfs_exercise_op_name(e->op), e->pos, e->len, extra, src, e->ret);
}

static void tx_replay_cmd(struct tx *t, char *out, size_t n)
{
	const struct testfs_exercise_opts *o = t->o;
	uint64_t ops = t->final_check ? t->opno - 1 : t->opno;
	int len = snprintf(out, n, "iomap-exercise --block-size %u --seed %" PRIu64 " --ops %" PRIu64
			   " --max-size %" PRIu64, o->block_size, o->seed, ops, t->max_size);

#define TX_ADD(...) len += snprintf(out + len, n - (size_t)len, __VA_ARGS__)
	if (o->max_extent)
		TX_ADD(" --extent-size %" PRIu64, o->max_extent);
	if (o->inline_max)
		TX_ADD(" --inline-max %u", o->inline_max);
	if (o->no_delalloc)
		TX_ADD(" --no-delalloc");
	if (o->stale_every)
		TX_ADD(" --stale-every %u", o->stale_every);
	if (o->short_extents)
		TX_ADD(" --short-extents");
	if (o->dev_size)
		TX_ADD(" --dev-size %" PRIu64, o->dev_size);
	if (o->buffer_heads)
		TX_ADD(" --buffer-heads");
	if (o->jdata)
		TX_ADD(" --jdata");
	if (o->power_cut)
		TX_ADD(" --power-cut");
#undef TX_ADD
}

/* Report a failure of the current operation and return -EBADMSG. */
__attribute__((format(printf, 2, 3))) static int tx_fail(struct tx *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tx_say(t, "FAILED at operation %" PRIu64 " (seed %" PRIu64 ", block size %u): %s",
	       t->opno, t->o->seed, t->bs, line);
	tx_say(t, "last operations (oldest first):");
	for (uint64_t n = t->opno > TX_LOG_SIZE ? t->opno - TX_LOG_SIZE + 1 : 1; n <= t->opno; n++) {
		tx_format_ent(&t->log[n % TX_LOG_SIZE], line, sizeof(line));
		tx_say(t, "  %s", line);
	}
	tx_replay_cmd(t, line, sizeof(line));
	tx_say(t, "replay: %s", line);
	return -EBADMSG;
}

/* ---- random choices ---- */

static uint64_t rnd(struct tx *t, uint64_t n)
{
	return n ? testfs_rand_below(&t->rng, n) : 0;
}

/* An offset: uniform, block aligned, near EOF, near the start, near inline_max. */
static uint64_t pick_pos(struct tx *t)
{
	uint64_t bs = t->bs, pos;

	switch (rnd(t, 10)) {
	case 0: case 1: case 2:
		pos = rnd(t, t->max_size);
		break;
	case 3: case 4:
		pos = rnd(t, t->max_size / bs) * bs;
		break;
	case 5: case 6: case 7:
		pos = t->size + rnd(t, 4 * bs);
		pos = pos > 2 * bs ? pos - 2 * bs : 0;
		break;
	case 8:
		pos = rnd(t, 2 * bs);
		break;
	default:
		/* Inside and around the inline area, where stuffed files live. */
		pos = t->o->inline_max ? rnd(t, t->o->inline_max + 64) : rnd(t, t->max_size);
		break;
	}
	return tfs_min(pos, t->max_size - 1);
}

/* A length for @pos: sub-block, a few pages, whole blocks, or large. */
static uint64_t pick_len(struct tx *t, uint64_t pos)
{
	uint64_t bs = t->bs, len, inl = t->o->inline_max;

	if (pos < inl && !rnd(t, 3))
		return tfs_min(1 + rnd(t, inl - pos + 16), t->max_size - pos);
	switch (rnd(t, 10)) {
	case 0: case 1: case 2: case 3: case 4:
		len = 1 + rnd(t, 2 * bs);
		break;
	case 5: case 6: case 7:
		len = 1 + rnd(t, 16 * PAGE_SIZE);
		break;
	case 8:
		len = (1 + rnd(t, 32)) * bs;
		break;
	default:
		len = 1 + rnd(t, t->max_size / 2);
		break;
	}
	return tfs_min(len, t->max_size - pos);
}

/* Random bytes, never zero, so that missed zeroing and lost data both show. */
static void fill_random(struct tx *t, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = testfs_rand(&t->rng);

		for (size_t j = 0; j < 8 && i + j < len; j++)
			p[i + j] = (uint8_t)(x >> (8 * j)) | 1;
	}
}

/* ---- checks ---- */

/* Compare @len bytes read at @pos with the model. */
static int check_bytes(struct tx *t, uint64_t pos, const uint8_t *got, uint64_t len,
		       const char *what)
{
	for (uint64_t i = 0; i < len; i++) {
		if (got[i] != t->model[pos + i])
			return tx_fail(t, "%s: first difference at file offset 0x%" PRIx64
				       ": expected 0x%02x, got 0x%02x (size 0x%" PRIx64 ")",
				       what, pos + i, t->model[pos + i], got[i], t->size);
	}
	return 0;
}

/* Offset of the first non-zero model byte in [from, to), or @to. */
static uint64_t model_nonzero(const struct tx *t, uint64_t from, uint64_t to)
{
	while (from < to && !t->model[from])
		from++;
	return from;
}

static int check_ret(struct tx *t, int64_t got, int64_t want, const char *what)
{
	if (got != want)
		return tx_fail(t, "%s returned %" PRId64 ", expected %" PRId64, what, got, want);
	return 0;
}

/* The model's bytes [from, to) changed: whatever was durable there is not now. */
static void tx_changed(struct tx *t, uint64_t from, uint64_t to)
{
	to = tfs_min(to, t->max_size);
	if (t->durable && from < to)
		memset(t->durable + from, 0, to - from);
}

/* The size changed: bytes past it are no file data, durable or not. */
static void tx_resize(struct tx *t, uint64_t size)
{
	tx_changed(t, tfs_min(size, t->size), t->max_size);
	t->size = size;
}

/* fsync or sync acknowledged [from, to): those bytes are durable as they are. */
static void tx_durable(struct tx *t, uint64_t from, uint64_t to)
{
	to = tfs_min(to, t->size);
	if (t->durable && from < to)
		memset(t->durable + from, 1, to - from);
}

/* ENOSPC is an accepted answer only on a deliberately small device. */
static bool tx_enospc_ok(struct tx *t, int64_t ret)
{
	if (ret != -ENOSPC || !t->o->dev_size)
		return false;
	t->res->enospc++;
	return true;
}

/* ---- operations ---- */

/* A write source that "faults" after @limit bytes, as a user buffer may. */
struct tx_src {
	size_t limit, total;
};

static size_t tx_src_readable(const struct io_iter *iter, size_t want, void *arg)
{
	const struct tx_src *src = arg;
	size_t done = src->total - iter->count;

	return done >= src->limit ? 0 : tfs_min(want, src->limit - done);
}

/*
 * Write from t->buf; one write in five from a source that stops short, so
 * that ->end has reservations to give back.  Returns what testfs_write_iter
 * returned; *limit is what the source could give.
 */
static ssize_t tx_do_write(struct tx *t, uint64_t pos, uint64_t len, uint64_t *limit)
{
	struct iovec iov = { .iov_base = t->buf, .iov_len = len };
	struct tx_src src = { .limit = len, .total = len };
	struct io_iter from;

	io_iter_init(&from, &iov, 1, len);
	/*
	 * Not with stale_every 2: iomap retries a short copy with a second
	 * ->iomap_valid call, which would always be the stale one, and the
	 * remap forgets the retry: the write would never progress.
	 */
	if (!rnd(t, 5) && t->o->stale_every != 2) {
		src.limit = rnd(t, len);
		from.readable = tx_src_readable;
		from.readable_arg = &src;
	}
	*limit = src.limit;
	return testfs_write_iter(t->file, pos, &from);
}

static int op_write(struct tx *t)
{
	uint64_t pos = pick_pos(t), len = pick_len(t, pos), limit;
	ssize_t ret;

	fill_random(t, t->buf, len);
	t->cur->pos = pos;
	t->cur->len = len;
	ret = tx_do_write(t, pos, len, &limit);
	t->cur->ret = ret;
	t->cur->arg = (int64_t)limit;
	if (tx_enospc_ok(t, ret) || (ret == -EFAULT && limit < len))
		return 0;
	if (ret < 0 || (uint64_t)ret > limit || ((uint64_t)ret < limit && !t->o->dev_size))
		return check_ret(t, ret, (int64_t)limit, "write");
	if ((uint64_t)ret < limit)
		t->res->enospc++;
	memcpy(t->model + pos, t->buf, (size_t)ret);
	tx_changed(t, pos, pos + (uint64_t)ret);
	tx_resize(t, tfs_max(t->size, pos + (uint64_t)ret));
	return 0;
}

static int read_and_check(struct tx *t, uint64_t pos, uint64_t len, const char *what)
{
	uint64_t want = pos < t->size ? tfs_min(len, t->size - pos) : 0;
	ssize_t ret = testfs_read(t->file, pos, t->buf, len);

	t->cur->ret = ret;
	if (ret != (ssize_t)want)
		return check_ret(t, ret, (int64_t)want, what);
	return check_bytes(t, pos, t->buf, want, what);
}

static int op_read(struct tx *t)
{
	uint64_t pos = pick_pos(t), len = pick_len(t, pos);

	t->cur->pos = pos;
	t->cur->len = len;
	return read_and_check(t, pos, len, "read");
}

static int op_compare(struct tx *t)
{
	t->cur->len = t->size;
	return read_and_check(t, 0, t->max_size, "full compare");
}

/*
 * Shrink half of the time, otherwise any size; now and then to zero or to
 * a small size, so that inline files come back (truncate to 0 restuffs).
 */
static uint64_t pick_size(struct tx *t)
{
	uint64_t small = t->o->inline_max ? t->o->inline_max + 1 : 2 * t->bs;

	switch (rnd(t, 8)) {
	case 0:
		return 0;
	case 1:
		return rnd(t, small + 1);
	case 2: case 3: case 4:
		return rnd(t, t->size + 1);
	default:
		return rnd(t, t->max_size + 1);
	}
}

static int op_truncate(struct tx *t)
{
	uint64_t size = pick_size(t);
	int ret;

	t->cur->pos = size;
	ret = testfs_truncate(t->file, size);
	t->cur->ret = ret;
	if (tx_enospc_ok(t, ret))
		return 0;
	if (ret)
		return check_ret(t, ret, 0, "truncate");
	if (size < t->size)
		memset(t->model + size, 0, t->size - size);
	/* Shrinking frees preallocation past EOF too; growing keeps it. */
	t->alloc_end = size > t->size ? tfs_max(t->alloc_end, size) : size;
	tx_resize(t, size);
	return 0;
}

static int op_zero_or_punch(struct tx *t, bool punch)
{
	uint64_t pos = pick_pos(t), len = pick_len(t, pos);
	int ret;

	t->cur->pos = pos;
	t->cur->len = len;
	ret = punch ? testfs_punch_hole(t->file, pos, len) : testfs_zero_range(t->file, pos, len);
	t->cur->ret = ret;
	if (ret)
		return check_ret(t, ret, 0, punch ? "punch hole" : "zero range");
	if (pos < t->size)
		memset(t->model + pos, 0, tfs_min(pos + len, t->size) - pos);
	tx_changed(t, pos, pos + len);
	return 0;
}

static int op_falloc(struct tx *t)
{
	uint64_t pos = pick_pos(t), len = pick_len(t, pos);
	bool keep = rnd(t, 2);
	int ret;

	t->cur->pos = pos;
	t->cur->len = len;
	t->cur->arg = keep;
	ret = testfs_fallocate(t->file, pos, len, keep);
	t->cur->ret = ret;
	if (tx_enospc_ok(t, ret))
		return 0;
	if (ret)
		return check_ret(t, ret, 0, "fallocate");
	if (!keep)
		tx_resize(t, tfs_max(t->size, pos + len));
	t->alloc_end = tfs_max(t->alloc_end, pos + len);
	return 0;
}

static int check_seek_data(struct tx *t, uint64_t pos, int64_t ret)
{
	uint64_t end;

	if (ret == -ENXIO)
		end = t->size;
	else if (ret < (int64_t)pos || ret >= (int64_t)t->size)
		return tx_fail(t, "SEEK_DATA from 0x%" PRIx64 " returned %" PRId64
			       " outside [pos, size 0x%" PRIx64 ")", pos, ret, t->size);
	else
		end = (uint64_t)ret;
	if (model_nonzero(t, pos, end) < end)
		return tx_fail(t, "SEEK_DATA from 0x%" PRIx64 " returned %" PRId64
			       " but offset 0x%" PRIx64 " holds data", pos, ret,
			       model_nonzero(t, pos, end));
	return 0;
}

static int check_seek_hole(struct tx *t, uint64_t pos, int64_t ret)
{
	uint8_t byte = 0xff;

	if (ret < (int64_t)pos || ret > (int64_t)t->size)
		return tx_fail(t, "SEEK_HOLE from 0x%" PRIx64 " returned %" PRId64
			       " outside [pos, size 0x%" PRIx64 "]", pos, ret, t->size);
	if (ret == (int64_t)t->size)
		return 0;
	if (t->model[ret])
		return tx_fail(t, "SEEK_HOLE from 0x%" PRIx64 " returned %" PRId64
			       " but the model holds 0x%02x there", pos, ret, t->model[ret]);
	if (testfs_read(t->file, (uint64_t)ret, &byte, 1) != 1 || byte)
		return tx_fail(t, "SEEK_HOLE returned %" PRId64 " but reading there gives 0x%02x",
			       ret, byte);
	return 0;
}

static int op_seek(struct tx *t)
{
	uint64_t pos = pick_pos(t);
	int whence = rnd(t, 2) ? SEEK_DATA : SEEK_HOLE;
	int64_t ret = testfs_seek(t->file, (int64_t)pos, whence);

	t->cur->pos = pos;
	t->cur->arg = whence;
	t->cur->ret = ret;
	if (testfs_seek(t->file, 0, SEEK_END) != (int64_t)t->size)
		return tx_fail(t, "SEEK_END returned %" PRId64 ", size is 0x%" PRIx64,
			       testfs_seek(t->file, 0, SEEK_END), t->size);
	if (pos >= t->size)
		return check_ret(t, ret, -ENXIO, "seek past EOF");
	if (ret < 0 && ret != -ENXIO)
		return tx_fail(t, "seek failed with %" PRId64, ret);
	if (whence == SEEK_DATA)
		return check_seek_data(t, pos, ret);
	if (ret == -ENXIO)
		return tx_fail(t, "SEEK_HOLE inside the file returned -ENXIO");
	return check_seek_hole(t, pos, ret);
}

static struct fiemap *fiemap_alloc(uint32_t count)
{
	struct fiemap *fi = calloc(1, sizeof(*fi) + count * sizeof(struct fiemap_extent));

	if (fi)
		fi->fm_extent_count = count;
	return fi;
}

/* Extents sorted, disjoint, within the file and device; data never in a gap. */
static int check_extents(struct tx *t, const struct fiemap *fi)
{
	uint64_t limit = tfs_max(t->size, t->alloc_end), prev_end = 0, gap_end;
	uint64_t dev = bdev_nr_bytes(t->bdev);

	limit = (limit + t->bs - 1) / t->bs * t->bs;
	for (uint32_t i = 0; i < fi->fm_mapped_extents; i++) {
		const struct fiemap_extent *e = &fi->fm_extents[i];
		uint64_t end = e->fe_logical + e->fe_length;

		if (!e->fe_length || e->fe_logical < prev_end || end > limit)
			return tx_fail(t, "fiemap extent %u [0x%llx, +0x%llx) overlaps, is empty "
				       "or passes 0x%" PRIx64, i, (unsigned long long)e->fe_logical,
				       (unsigned long long)e->fe_length, limit);
		if ((e->fe_flags & FIEMAP_EXTENT_LAST) && i + 1 != fi->fm_mapped_extents)
			return tx_fail(t, "fiemap extent %u is flagged LAST but is not", i);
		if (!(e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DATA_INLINE)) &&
		    e->fe_physical + e->fe_length > dev)
			return tx_fail(t, "fiemap extent %u lies past the device", i);
		gap_end = tfs_min(e->fe_logical, t->size);
		if (prev_end < gap_end && model_nonzero(t, prev_end, gap_end) < gap_end)
			return tx_fail(t, "fiemap shows a hole at 0x%" PRIx64 " that holds data",
				       model_nonzero(t, prev_end, gap_end));
		prev_end = end;
	}
	if (prev_end < t->size && model_nonzero(t, prev_end, t->size) < t->size)
		return tx_fail(t, "fiemap ends at 0x%" PRIx64 " before data at 0x%" PRIx64,
			       prev_end, model_nonzero(t, prev_end, t->size));
	return 0;
}

static int op_fiemap(struct tx *t)
{
	struct fiemap *fi = fiemap_alloc(0);
	uint32_t count;
	int ret;

	if (!fi)
		return -ENOMEM;
	ret = testfs_fiemap(t->file, fi, 0, UINT64_MAX);
	count = fi->fm_mapped_extents;
	free(fi);
	if (ret)
		return check_ret(t, ret, 0, "fiemap (count)");
	/* short_extents cuts mappings at random: each call counts differently. */
	if (t->o->short_extents)
		count = (uint32_t)((tfs_max(t->size, t->alloc_end) + t->bs - 1) / t->bs + 1);
	fi = fiemap_alloc(count + 1);
	if (!fi)
		return -ENOMEM;
	ret = testfs_fiemap(t->file, fi, 0, UINT64_MAX);
	t->cur->ret = ret ? (int64_t)ret : (int64_t)fi->fm_mapped_extents;
	if (ret)
		ret = check_ret(t, ret, 0, "fiemap");
	else if (fi->fm_mapped_extents != count && !t->o->short_extents)
		ret = tx_fail(t, "fiemap counted %u extents, then mapped %u", count,
			      fi->fm_mapped_extents);
	else
		ret = check_extents(t, fi);
	free(fi);
	return ret;
}

/*
 * What a remount after writeback would leave: the file's bytes on disk,
 * nothing cached.  Zero blocks become holes.  Never short of space, even on
 * a small device: the file needs no more blocks than it just freed.
 */
static int op_reload(struct tx *t)
{
	int ret;

	memcpy(t->buf, t->model, t->size);
	t->cur->len = t->size;
	ret = testfs_truncate(t->file, 0);
	if (!ret)
		ret = testfs_file_load(t->file, t->buf, t->size);
	t->cur->ret = ret;
	if (ret)
		return check_ret(t, ret, 0, "truncate to 0 and load");
	t->alloc_end = t->size;
	tx_changed(t, 0, t->max_size);
	return 0;
}

static int op_drop(struct tx *t)
{
	t->cur->ret = (int64_t)testfs_drop_cache(t->file);
	return 0;
}

/* What writeback will do: turn the extent at a random offset into real blocks. */
static int op_mapblk(struct tx *t)
{
	uint64_t pos = t->size ? rnd(t, t->size) : 0;
	struct iomap map;
	int ret;

	t->cur->pos = pos;
	ret = testfs_map_blocks(t->file, pos, t->max_size, &map);
	t->cur->ret = ret;
	if (ret == -EIO && t->o->inline_max && t->size <= t->o->inline_max)
		return 0; /* an inline file has no blocks to map */
	if (ret)
		return check_ret(t, ret, 0, "map_blocks");
	t->cur->len = map.length;
	if (map.offset > pos || map.offset + map.length <= pos || map.type == IOMAP_DELALLOC ||
	    map.type == IOMAP_INLINE)
		return tx_fail(t, "map_blocks at 0x%" PRIx64 " gave type %u [0x%" PRIx64
			       ", +0x%" PRIx64 ")", pos, map.type, map.offset, map.length);
	return 0;
}

/* Write back a random range (or all of it) and wait; the model does not change. */
static int op_fsync(struct tx *t)
{
	uint64_t pos = rnd(t, 2) ? 0 : pick_pos(t);
	uint64_t end = rnd(t, 2) ? UINT64_MAX : pos + pick_len(t, pos) - 1;
	int ret;

	t->cur->pos = pos;
	t->cur->len = end == UINT64_MAX ? 0 : end - pos + 1;
	t->cur->arg = (int64_t)rnd(t, 2);
	ret = testfs_fsync(t->handle, t->cur->arg, pos, end);
	t->cur->ret = ret;
	if (ret)
		return check_ret(t, ret, 0, "fsync");
	tx_durable(t, pos, end == UINT64_MAX ? t->size : end + 1);
	if (testfs_disk_size(t->file) > t->size)
		return tx_fail(t, "on-disk size 0x%" PRIx64 " past the size 0x%" PRIx64,
			       testfs_disk_size(t->file), t->size);
	return 0;
}

/*
 * Write everything back, drop the whole cache and compare: every byte now
 * comes from the device, through writeback's allocations and conversions.
 */
static int op_sync(struct tx *t)
{
	struct testfs_stats st;
	int ret = testfs_sync(t->fs);

	t->cur->ret = ret;
	if (ret)
		return check_ret(t, ret, 0, "sync");
	tx_durable(t, 0, t->size);
	testfs_get_stats(t->fs, &st);
	if (st.blocks_delalloc)
		return tx_fail(t, "%" PRIu64 " delalloc blocks left after sync", st.blocks_delalloc);
	testfs_drop_cache(t->file);
	if (mapping_nr_folios(t->file->inode.i_mapping))
		return tx_fail(t, "%" PRIu64 " folios stayed cached after sync and drop",
			       mapping_nr_folios(t->file->inode.i_mapping));
	return read_and_check(t, 0, t->max_size, "compare after sync");
}

/* Direct I/O granularity: positions, lengths and memory. */
#define TX_DIO_ALIGN 512U

/*
 * A direct I/O range: aligned, at least one unit, within max_size.
 * Returns false when max_size holds no aligned unit at the position.
 */
static bool pick_dio_range(struct tx *t, uint64_t *pos, uint64_t *len)
{
	uint64_t limit = t->max_size & ~(uint64_t)(TX_DIO_ALIGN - 1);

	*pos = pick_pos(t) & ~(uint64_t)(TX_DIO_ALIGN - 1);
	*len = (pick_len(t, *pos) + TX_DIO_ALIGN - 1) & ~(uint64_t)(TX_DIO_ALIGN - 1);
	if (*pos >= limit)
		return false;
	*len = tfs_min(*len, limit - *pos);
	return true;
}

static int op_dwrite(struct tx *t)
{
	uint64_t pos, len;
	ssize_t ret;

	if (!pick_dio_range(t, &pos, &len))
		return 0;
	fill_random(t, t->buf, len);
	t->cur->pos = pos;
	t->cur->len = len;
	ret = testfs_direct_write(t->file, pos, t->buf, len);
	t->cur->ret = ret;
	if (tx_enospc_ok(t, ret))
		return 0;
	if (ret != (ssize_t)len)
		return check_ret(t, ret, (int64_t)len, "direct write");
	memcpy(t->model + pos, t->buf, len);
	tx_changed(t, pos, pos + len);
	tx_resize(t, tfs_max(t->size, pos + len));
	return 0;
}

static int op_dread(struct tx *t)
{
	uint64_t pos, len, want;
	ssize_t ret;

	if (!pick_dio_range(t, &pos, &len))
		return 0;
	want = pos < t->size ? tfs_min(len, t->size - pos) : 0;
	t->cur->pos = pos;
	t->cur->len = len;
	ret = testfs_direct_read(t->file, pos, t->buf, len);
	t->cur->ret = ret;
	if (ret != (ssize_t)want)
		return check_ret(t, ret, (int64_t)want, "direct read");
	return check_bytes(t, pos, t->buf, want, "direct read");
}

/* ---- power cuts ---- */

static unsigned int pick_cut_mode(struct tx *t)
{
	switch (rnd(t, 3)) {
	case 0:
		return BDEV_FAULT_CUT_DROP_ALL;
	case 1:
		return BDEV_FAULT_CUT_RANDOM;
	default:
		return BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN;
	}
}

/*
 * With the cache dropped, every durable byte must read back as the model
 * has it.  Folios that stay (dirty ones) hold bytes written after the
 * acknowledgement, or next to such bytes in the same block; theirs come
 * from memory.
 */
static int check_durable(struct tx *t)
{
	ssize_t ret;

	testfs_drop_cache(t->file);
	ret = testfs_read(t->file, 0, t->buf, t->size);
	if (ret != (ssize_t)t->size)
		return check_ret(t, ret, (int64_t)t->size, "read after power cut");
	for (uint64_t i = 0; i < t->size; i++) {
		if (t->durable[i] && t->buf[i] != t->model[i])
			return tx_fail(t, "power cut lost byte 0x%" PRIx64 " that fsync acknowledged:"
				       " expected 0x%02x, got 0x%02x", i, t->model[i], t->buf[i]);
	}
	return 0;
}

/*
 * What was not durable may read as older data now.  Write everything
 * back, read it from the device and write the model's bytes again where
 * they differ, so that the model stays the truth for what follows.  The
 * blocks exist (they were just read from), so this needs no space.
 */
static int resync_after_cut(struct tx *t)
{
	int ret = testfs_sync(t->fs);

	if (ret)
		return check_ret(t, ret, 0, "sync after power cut");
	testfs_drop_cache(t->file);
	if (testfs_read(t->file, 0, t->buf, t->size) != (ssize_t)t->size)
		return tx_fail(t, "short read after power cut");
	for (uint64_t i = 0, end; i < t->size; i = end) {
		for (end = i; end < t->size && t->buf[end] != t->model[end]; end++)
			;
		if (end > i && testfs_write(t->file, i, t->model + i, end - i) != (ssize_t)(end - i))
			return tx_fail(t, "rewrite of 0x%" PRIx64 " +0x%" PRIx64 " after power cut failed",
				       i, end - i);
		end += end == i;
	}
	return 0;
}

static int op_powercut(struct tx *t)
{
	unsigned int mode = pick_cut_mode(t);
	int ret;

	t->cur->arg = mode;
	t->cur->len = t->size;
	ret = bdev_fault_power_cut(t->bdev, mode, testfs_rand(&t->rng));
	t->cur->ret = ret;
	if (ret)
		return check_ret(t, ret, 0, "power cut");
	ret = check_durable(t);
	return ret ? ret : resync_after_cut(t);
}

/* ---- driver ---- */

/* Cumulative weights: writes and reads dominate, as in fsx. */
static const struct {
	enum testfs_exercise_op op;
	unsigned int weight;
} tx_weights[] = {
	{ TX_WRITE, 24 }, { TX_READ, 18 }, { TX_TRUNCATE, 6 }, { TX_ZERO, 6 },
	{ TX_PUNCH, 6 },  { TX_FALLOC, 6 }, { TX_SEEK, 8 },    { TX_FIEMAP, 5 },
	{ TX_DROP, 5 },   { TX_MAPBLK, 5 }, { TX_RELOAD, 2 },  { TX_FSYNC, 4 },
	{ TX_SYNC, 2 },   { TX_DWRITE, 6 }, { TX_DREAD, 5 },   { TX_POWERCUT, 3 },
	{ TX_COMPARE, 1 },
};

/* Power cuts only with power_cut: without, the stream is as if they did not exist. */
static unsigned int op_weight(const struct tx *t, size_t i)
{
	return tx_weights[i].op == TX_POWERCUT && !t->o->power_cut ? 0 : tx_weights[i].weight;
}

static enum testfs_exercise_op pick_op(struct tx *t)
{
	unsigned int total = 0, r;

	for (size_t i = 0; i < sizeof(tx_weights) / sizeof(tx_weights[0]); i++)
		total += op_weight(t, i);
	r = (unsigned int)rnd(t, total);
	for (size_t i = 0;; i++) {
		if (r < op_weight(t, i))
			return tx_weights[i].op;
		r -= op_weight(t, i);
	}
}

static int run_op(struct tx *t, enum testfs_exercise_op op)
{
	switch (op) {
	case TX_WRITE:
		return op_write(t);
	case TX_READ:
		return op_read(t);
	case TX_TRUNCATE:
		return op_truncate(t);
	case TX_ZERO:
		return op_zero_or_punch(t, false);
	case TX_PUNCH:
		return op_zero_or_punch(t, true);
	case TX_FALLOC:
		return op_falloc(t);
	case TX_SEEK:
		return op_seek(t);
	case TX_FIEMAP:
		return op_fiemap(t);
	case TX_DROP:
		return op_drop(t);
	case TX_MAPBLK:
		return op_mapblk(t);
	case TX_RELOAD:
		return op_reload(t);
	case TX_FSYNC:
		return op_fsync(t);
	case TX_SYNC:
		return op_sync(t);
	case TX_DWRITE:
		return op_dwrite(t);
	case TX_DREAD:
		return op_dread(t);
	case TX_POWERCUT:
		return op_powercut(t);
	default:
		return op_compare(t);
	}
}

/* jdata: one writer, so never more than one transaction open, and none nested. */
static int check_transactions(struct tx *t)
{
	struct testfs_stats st;

	if (!t->o->jdata)
		return 0;
	testfs_get_stats(t->fs, &st);
	if (st.trans_nested || st.trans_max_open > 1)
		return tx_fail(t, "transactions: %" PRIu64 " nested, %" PRIu64 " open at once",
			       st.trans_nested, st.trans_max_open);
	return 0;
}

static int tx_step(struct tx *t, enum testfs_exercise_op op)
{
	char msg[256], line[256];
	int ret;

	t->opno++;
	t->cur = &t->log[t->opno % TX_LOG_SIZE];
	*t->cur = (struct tx_logent){ .opno = t->opno, .op = op };
	ret = run_op(t, op);
	if (t->o->verbose) {
		tx_format_ent(t->cur, line, sizeof(line));
		tx_say(t, "%s", line);
	}
	if (ret)
		return ret;
	ret = testfs_check(t->fs, msg, sizeof(msg));
	if (ret == -EUCLEAN)
		return tx_fail(t, "testfs_check: %s", msg);
	if (ret)
		return ret;
	ret = check_transactions(t);
	if (ret)
		return ret;
	if (!t->final_check) {
		t->res->count[op]++;
		t->res->ops_done++;
	}
	return 0;
}

/* A RAM device; with power_cut, a fault device in volatile mode on top of it. */
static int tx_open_device(struct tx *t, uint64_t size)
{
	int ret;

	if (!t->o->power_cut)
		return bdev_open_ram(size, 512, &t->bdev);
	ret = bdev_open_ram(size, 512, &t->lower);
	if (!ret)
		ret = bdev_fault_create(t->lower, &t->bdev);
	if (!ret)
		ret = bdev_fault_set_volatile(t->bdev, true);
	return ret;
}

static int tx_setup(struct tx *t)
{
	const struct testfs_exercise_opts *o = t->o;
	struct testfs_opts fo = {
		.block_size = o->block_size, .max_extent = o->max_extent,
		.delalloc = !o->no_delalloc, .inline_max = o->inline_max,
		.short_extents = o->short_extents, .stale_every = o->stale_every, .seed = o->seed,
		.buffer_heads = o->buffer_heads, .jdata = o->jdata,
	};
	uint64_t dev = o->dev_size ? o->dev_size : 2 * t->max_size + (1U << 20);
	int ret;

	if (o->block_size < 512 || o->block_size > 4096 || t->max_size < 2ULL * o->block_size)
		return -EINVAL;
	/* Buffer-head writeback allocates MAPPED before the data is durable. */
	if (o->power_cut && (o->buffer_heads || o->jdata))
		return -EINVAL;
	t->model = calloc(1, t->max_size);
	if (o->power_cut && !(t->durable = calloc(1, t->max_size)))
		return -ENOMEM;
	/* Aligned for direct I/O. */
	t->buf = aligned_alloc(PAGE_SIZE, (t->max_size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	if (!t->model || !t->buf)
		return -ENOMEM;
	ret = tx_open_device(t, dev);
	if (!ret)
		ret = pagecache_create(&(struct pagecache_opts){ 0 }, &t->cache);
	if (!ret)
		ret = testfs_create(t->bdev, t->cache, &fo, &t->fs);
	if (!ret)
		ret = testfs_file_create(t->fs, &t->file);
	if (!ret)
		ret = testfs_open(t->file, &t->handle);
	return ret;
}

static void tx_teardown(struct tx *t)
{
	testfs_close(t->handle);
	testfs_destroy(t->fs);
	pagecache_destroy(t->cache);
	bdev_close(t->bdev);
	bdev_close(t->lower);
	free(t->durable);
	free(t->model);
	free(t->buf);
}

/*
 * The operations, then one more full compare.  That last one is extra, not
 * operation N, so that running K < N operations replays the same stream.
 */
static int tx_run(struct tx *t)
{
	int ret = 0;

	while (!ret && t->opno < t->o->ops) {
		enum testfs_exercise_op op = pick_op(t);

		if ((t->opno + 1) % TX_COMPARE_EVERY == 0)
			op = TX_COMPARE;
		ret = tx_step(t, op);
	}
	if (!ret) {
		t->final_check = true;
		ret = tx_step(t, TX_COMPARE);
	}
	return ret;
}

int testfs_exercise(const struct testfs_exercise_opts *opts,
		    struct testfs_exercise_result *result)
{
	struct testfs_exercise_result local;
	struct tx t = { .o = opts, .res = result ? result : &local };
	int ret;

	memset(t.res, 0, sizeof(*t.res));
	t.max_size = opts->max_size ? opts->max_size : TX_DEFAULT_MAX_SIZE;
	t.bs = opts->block_size;
	t.rng = (opts->seed * 0x9e3779b97f4a7c15ULL) ^ 0x5851f42d4c957f2dULL;
	if (!t.rng)
		t.rng = 1;
	ret = tx_setup(&t);
	if (!ret)
		ret = tx_run(&t);
	if (t.fs)
		testfs_get_stats(t.fs, &t.res->stats);
	t.res->final_size = t.size;
	tx_teardown(&t);
	return ret;
}
