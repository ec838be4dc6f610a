/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "opt.h"

#include <ctype.h>
#include <string.h>

bool opt_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static int suffix_shift(const char *s)
{
	static const char units[] = "KMGT";
	const char *u;

	if (!*s)
		return 0;
	u = strchr(units, toupper((unsigned char)*s));
	if (!u)
		return -1;
	s++;
	if (*s == 'i' && s[1] == 'B')
		s += 2;
	else if (*s == 'B')
		s++;
	return *s ? -1 : 10 * (int)(u - units + 1);
}

bool opt_parse_size(const char *s, uint64_t *out)
{
	char digits[32];
	size_t n = strspn(s, "0123456789");
	uint64_t v;
	int shift;

	if (!n || n >= sizeof(digits))
		return false;
	memcpy(digits, s, n);
	digits[n] = '\0';
	shift = suffix_shift(s + n);
	if (shift < 0 || !opt_parse_u64(digits, &v))
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

int opt_parse_args(const struct opt_parser *p, int argc, char **argv, void *opts)
{
	const char *err;
	int c;

	opterr = 0; /* one message of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "h", p->long_opts, NULL)) != -1) {
		if (c == 'h') {
			p->usage(stdout);
			exit(0);
		}
		if (c == '?') {
			fprintf(stderr, "%s: unknown option or missing value in '%s' (see --help)\n",
				p->prog, argv[optind - 1]);
			return -1;
		}
		if (!p->set(opts, c, optarg)) {
			fprintf(stderr, "%s: bad value '%s' for --%s (see --help)\n", p->prog, optarg,
				p->long_opts[c - p->first_val].name);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", p->prog, argv[optind]);
		return -1;
	}
	err = p->check(opts);
	if (err) {
		fprintf(stderr, "%s: %s\n", p->prog, err);
		return -1;
	}
	return 0;
}
