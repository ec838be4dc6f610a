/* SPDX-License-Identifier: MIT */
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
