/* SPDX-License-Identifier: MIT */
/* Command-line helpers shared by the tools. */
#ifndef TOOLS_OPT_H
#define TOOLS_OPT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Parse a size: decimal digits with an optional binary suffix K, M, G or T
 * (either case, optionally followed by "iB" or "B").  Returns false for
 * anything else, or on overflow.
 */
bool opt_parse_size(const char *s, uint64_t *out);

/* Parse a plain unsigned decimal number. */
bool opt_parse_u64(const char *s, uint64_t *out);

#endif /* TOOLS_OPT_H */
