#!/usr/bin/env bash
# Configure a meson build directory for one compiler, sanely:
#
#   scripts/meson-setup.sh BUILDDIR CC [meson options...]
#
#  - BUILDDIR not configured yet:           CC=CC meson setup BUILDDIR opts
#  - configured with the same compiler:     meson setup --reconfigure (applies opts)
#  - configured with another compiler, or
#    reconfigure failed:                    CC=CC meson setup --wipe
#
# meson caches the compiler at first setup and ignores CC afterwards, hence
# the compiler check.  Exit status is meson's.  With MESON_SETUP_QUIET=1,
# meson's own output is shown only when it fails.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILDDIR CC [meson options...]" >&2
	exit 2
fi
dir=$1 cc=$2
shift 2

say() { printf 'meson-setup: %s\n' "$*"; }

# Run meson with CC set, quietly if asked.
m() {
	if [ "${MESON_SETUP_QUIET:-0}" != 1 ]; then
		CC=$cc meson "$@"
		return
	fi
	local out rc
	out=$(mktemp)
	CC=$cc meson "$@" >"$out" 2>&1
	rc=$?
	[ $rc -eq 0 ] || cat "$out"
	rm -f "$out"
	return $rc
}

resolve() {
	local p
	p=$(command -v "$1" 2>/dev/null) || return 1
	readlink -f "$p"
}

# The C compiler an existing build directory was configured with.
configured_cc() {
	awk '/^rule c_COMPILER/ { getline; print $3; exit }' "$dir/build.ninja" 2>/dev/null
}

want=$(resolve "$cc") || { say "compiler '$cc' not found"; exit 1; }

if [ -f "$dir/meson-private/coredata.dat" ]; then
	have=$(configured_cc)
	have_path=
	if [ -n "$have" ]; then
		have_path=$(resolve "$have") || have_path=
	fi
	if [ -n "$have_path" ] && [ "$have_path" = "$want" ]; then
		say "$dir: reconfigure (CC=$cc)"
		m setup --reconfigure "$dir" "$@" && exit 0
		say "$dir: reconfigure failed, wiping"
	else
		say "$dir: configured with '${have:-?}', want CC=$cc: wiping"
	fi
	m setup --wipe "$dir" "$@"
	exit
fi

say "$dir: setup (CC=$cc $*)"
m setup "$dir" "$@"
