/* SPDX-License-Identifier: MIT */
/*
 * Description: the randomized exerciser (testfs_exercise(), after fsx) in
 * process, at block sizes 512 to 4096: fixed seeds with the default
 * options, and variants with inline files (in large and in small files),
 * no delayed allocation, stale mappings (stale_every), short extents, a
 * small max_extent, a device small enough to run out of space,
 * buffer-head mode, journaled data, and power cuts on a volatile device
 * (every byte fsync acknowledged must survive them).  A failure prints the operation log and
 * the iomap-exercise command that replays it.
 *
 * T_EXERCISE_OPS in the environment changes the operations per run
 * (default 12000).
 */
#include "t-testfs.h"

static void log_line(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

struct variant {
	const char *name;
	void (*set)(struct testfs_exercise_opts *o);
};

static void v_plain(struct testfs_exercise_opts *o)
{
}

static void v_inline(struct testfs_exercise_opts *o)
{
	o->inline_max = o->block_size / 2 + 13;
}

/* A small file is often inline: unstuffing and restuffing all the time. */
static void v_inline_small(struct testfs_exercise_opts *o)
{
	o->inline_max = o->block_size - 1;
	o->max_size = 4ULL * o->block_size;
}

static void v_nodelalloc_stale(struct testfs_exercise_opts *o)
{
	o->no_delalloc = true;
	o->stale_every = 3;
}

static void v_stale_short(struct testfs_exercise_opts *o)
{
	o->stale_every = 5;
	o->short_extents = true;
	o->max_extent = 4ULL * o->block_size;
}

static void v_enospc(struct testfs_exercise_opts *o)
{
	o->dev_size = 96 * 1024;
	o->inline_max = 100;
}

static void v_buffer_heads(struct testfs_exercise_opts *o)
{
	o->buffer_heads = true;
	o->stale_every = 7;
}

static void v_buffer_heads_enospc(struct testfs_exercise_opts *o)
{
	o->buffer_heads = true;
	o->dev_size = 96 * 1024;
}

static void v_jdata(struct testfs_exercise_opts *o)
{
	o->jdata = true;
	o->stale_every = 6;
	o->dev_size = 128 * 1024;
}

static void v_power_cut(struct testfs_exercise_opts *o)
{
	o->power_cut = true;
}

static void v_power_cut_mixed(struct testfs_exercise_opts *o)
{
	o->power_cut = true;
	o->no_delalloc = true;
	o->inline_max = o->block_size / 2;
	o->stale_every = 4;
}

static const struct variant variants[] = {
	{ "plain", v_plain },
	{ "inline", v_inline },
	{ "inline-small", v_inline_small },
	{ "no-delalloc+stale", v_nodelalloc_stale },
	{ "stale+short-extents", v_stale_short },
	{ "enospc", v_enospc },
	{ "buffer-heads", v_buffer_heads },
	{ "buffer-heads+enospc", v_buffer_heads_enospc },
	{ "jdata+stale+enospc", v_jdata },
	{ "power-cut", v_power_cut },
	{ "power-cut+nodelalloc", v_power_cut_mixed },
};

static uint64_t ops_from_env(void)
{
	const char *s = getenv("T_EXERCISE_OPS");

	return s && *s ? strtoull(s, NULL, 10) : 12000;
}

int main(void)
{
	uint64_t ops = ops_from_env();
	int failed = 0;

	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
			struct testfs_exercise_opts o = {
				.block_size = t_block_sizes[i],
				.ops = ops,
				.seed = 1000 + 10 * i + v,
				.log = log_line,
			};
			struct testfs_exercise_result r;
			int ret;

			variants[v].set(&o);
			ret = testfs_exercise(&o, &r);
			printf("bs %u %-20s seed %llu: %s (%llu ops, %llu enospc)\n", o.block_size,
			       variants[v].name, (unsigned long long)o.seed,
			       ret ? "FAILED" : "ok", (unsigned long long)r.ops_done,
			       (unsigned long long)r.enospc);
			if (ret)
				failed = 1;
		}
	}
	return failed ? T_EXIT_FAIL : T_EXIT_PASS;
}
