/* SPDX-License-Identifier: MIT */
/*
 * iomap-exercise: the randomized exerciser (testfs_exercise(), after fsx)
 * as a command.  Runs N random operations on one testfs file against an
 * in-memory model and stops at the first mismatch, printing the seed, the
 * operation log and a replay command to stderr (exit 1).  Exit 0 after N
 * operations with a one-line summary; exit 2 for bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "testfs.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: iomap-exercise [options]\n"
		"  --block-size N     filesystem block size, 512..4096 (default 4096)\n"
		"  --ops N            operations to run (default 10000)\n"
		"  --seed S           random seed (default 1)\n"
		"  --max-size SIZE    largest file size (default 256K)\n"
		"  --extent-size SIZE largest extent, a multiple of the block size (default unlimited)\n"
		"  --inline-max N     inline (stuffed) files up to N bytes, N < block size (default off)\n"
		"  --no-delalloc      allocate blocks at write time instead of delayed allocation\n"
		"  --stale-every N    every Nth mapping validation fails (N >= 2)\n"
		"  --short-extents    hand out extents shorter than asked, at random\n"
		"  --dev-size SIZE    device size; small values exercise ENOSPC\n"
		"  --buffer-heads     page cache through buffer heads (no inline files)\n"
		"  --jdata            journaled data: a transaction per folio (no inline files)\n"
		"  --power-cut        volatile fault device with power cuts; checks what fsync\n"
		"                     acknowledged survives\n"
		"  --verbose          print every operation\n"
		"  --help             this text\n"
		"SIZE takes K, M, G suffixes (binary).\n");
}

static void to_stderr(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static void verbose_out(void *arg, const char *line)
{
	/* Failure reports start with FAILED and go to stderr; the op trace to stdout. */
	fprintf(strncmp(line, "#", 1) ? stderr : stdout, "%s\n", line);
}

enum {
	O_BS = 256, O_OPS, O_SEED, O_MAX, O_EXT, O_INL, O_NODA, O_STALE, O_SHORT, O_DEV, O_VERB,
	O_BH, O_JDATA, O_POWERCUT,
};

static const struct option long_opts[] = {
	{ "block-size", required_argument, NULL, O_BS },
	{ "ops", required_argument, NULL, O_OPS },
	{ "seed", required_argument, NULL, O_SEED },
	{ "max-size", required_argument, NULL, O_MAX },
	{ "extent-size", required_argument, NULL, O_EXT },
	{ "inline-max", required_argument, NULL, O_INL },
	{ "no-delalloc", no_argument, NULL, O_NODA },
	{ "stale-every", required_argument, NULL, O_STALE },
	{ "short-extents", no_argument, NULL, O_SHORT },
	{ "dev-size", required_argument, NULL, O_DEV },
	{ "verbose", no_argument, NULL, O_VERB },
	{ "buffer-heads", no_argument, NULL, O_BH },
	{ "jdata", no_argument, NULL, O_JDATA },
	{ "power-cut", no_argument, NULL, O_POWERCUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Store one option; false if its argument is bad. */
static bool set_opt(struct testfs_exercise_opts *o, int c, const char *arg)
{
	uint64_t v = 0;

	switch (c) {
	case O_BS:
		return opt_parse_u64(arg, &v) && v <= 4096 && (o->block_size = (unsigned int)v);
	case O_OPS:
		return opt_parse_u64(arg, &o->ops);
	case O_SEED:
		return opt_parse_u64(arg, &o->seed);
	case O_MAX:
		return opt_parse_size(arg, &o->max_size) && o->max_size && o->max_size <= (1ULL << 30);
	case O_EXT:
		return opt_parse_size(arg, &o->max_extent);
	case O_INL:
		return opt_parse_u64(arg, &v) && v < 4096 && ((o->inline_max = (unsigned int)v), 1);
	case O_STALE:
		return opt_parse_u64(arg, &v) && v != 1 && v < (1U << 31) &&
		       ((o->stale_every = (unsigned int)v), 1);
	case O_DEV:
		return opt_parse_size(arg, &o->dev_size) && o->dev_size;
	case O_NODA:
		o->no_delalloc = true;
		return true;
	case O_SHORT:
		o->short_extents = true;
		return true;
	case O_VERB:
		o->verbose = true;
		return true;
	case O_BH:
		o->buffer_heads = true;
		return true;
	case O_JDATA:
		o->jdata = true;
		return true;
	case O_POWERCUT:
		o->power_cut = true;
		return true;
	}
	return false;
}

/* Checks that need several options together; returns a message or NULL. */
static const char *check_opts(const struct testfs_exercise_opts *o)
{
	unsigned int bs = o->block_size;

	if (bs < 512 || (bs & (bs - 1)))
		return "--block-size must be a power of two from 512 to 4096";
	if (o->max_extent % bs)
		return "--extent-size must be a multiple of the block size";
	if (o->inline_max >= bs)
		return "--inline-max must be smaller than the block size";
	if (o->max_size && o->max_size < 2ULL * bs)
		return "--max-size must be at least two blocks";
	if (o->dev_size && o->dev_size < bs)
		return "--dev-size must hold at least one block";
	if ((o->buffer_heads || o->jdata) && o->inline_max)
		return "--buffer-heads and --jdata do not go with --inline-max";
	if ((o->buffer_heads || o->jdata) && o->power_cut)
		return "--power-cut needs the iomap modes (not --buffer-heads or --jdata)";
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

static int parse_args(int argc, char **argv, struct testfs_exercise_opts *o)
{
	static const struct opt_parser parser = {
		.prog = "iomap-exercise",
		.long_opts = long_opts,
		.first_val = O_BS,
		.usage = usage,
		.set = set_opt_any,
		.check = check_opts_any,
	};

	return opt_parse_args(&parser, argc, argv, o);
}

static void print_summary(const struct testfs_exercise_opts *o,
			  const struct testfs_exercise_result *r)
{
	printf("iomap-exercise: %" PRIu64 " ops passed (seed %" PRIu64 ", block size %u):",
	       r->ops_done, o->seed, o->block_size);
	for (int i = 0; i < TX_NR_OPS; i++)
		printf(" %s %" PRIu64, testfs_exercise_op_name(i), r->count[i]);
	printf("; enospc %" PRIu64 ", final size %" PRIu64 ", extents %" PRIu64
	       ", unstuffs %" PRIu64 ", stale %" PRIu64 "\n",
	       r->enospc, r->final_size, r->stats.extents, r->stats.unstuffs,
	       r->stats.stale_injected);
}

int main(int argc, char **argv)
{
	struct testfs_exercise_opts o = { .block_size = 4096, .ops = 10000, .seed = 1 };
	struct testfs_exercise_result r;
	int ret;

	if (parse_args(argc, argv, &o))
		return 2;
	o.log = o.verbose ? verbose_out : to_stderr;
	ret = testfs_exercise(&o, &r);
	if (ret == -EBADMSG)
		return 1;
	if (ret) {
		fprintf(stderr, "iomap-exercise: setup failed: %s\n", strerror(-ret));
		return 1;
	}
	print_summary(&o, &r);
	return 0;
}
