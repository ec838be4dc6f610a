/* SPDX-License-Identifier: MIT */
/* Command-line helpers shared by the tools. */
#ifndef TOOLS_OPT_H
#define TOOLS_OPT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Parse a size: decimal digits with an optional binary suffix K, M, G or T
 * (either case, optionally followed by "iB" or "B").  Returns false for
 * anything else, or on overflow.
 */
bool opt_parse_size(const char *s, uint64_t *out);

/* Parse a plain unsigned decimal number. */
bool opt_parse_u64(const char *s, uint64_t *out);

/*
 * How a tool parses its command line.  Long options have values from
 * @first_val up, in the order of @long_opts; "-h"/"--help" prints usage and
 * exits 0.
 */
struct opt_parser {
	const char *prog;
	const struct option *long_opts;
	int first_val;
	void (*usage)(FILE *out);
	/* Store option @c's value; false for a bad value. */
	bool (*set)(void *opts, int c, const char *arg);
	/* Check the options together; an error message, or NULL. */
	const char *(*check)(void *opts);
};

/*
 * Parse argv into @opts.  Returns 0, or -1 after one message on stderr
 * (unknown option, bad value, stray argument, or what ->check says).
 */
int opt_parse_args(const struct opt_parser *p, int argc, char **argv, void *opts);

#endif /* TOOLS_OPT_H */
