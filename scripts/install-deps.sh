#!/usr/bin/env bash
# Install the Debian 12 packages libiomap needs to build, test and run.
#
# Idempotent and offline-safe: dpkg-query decides what is missing, and
# apt-get (including "apt-get update") runs only when something is.
# Prints one line per action.  Set IOMAP_SKIP_DEPS=1 to skip entirely.
set -euo pipefail

PACKAGES=(
	build-essential		# C toolchain (gcc, make, libc headers)
	gcc			# first compiler
	clang			# second compiler, used for the clang and sanitizer passes
	libclang-rt-14-dev	# clang's ASan/UBSan runtimes
	clang-format		# make format
	meson			# build system
	ninja-build		# meson's backend
	pkg-config		# meson finds liburing through it
	liburing-dev		# asynchronous block I/O via io_uring
	libfuse3-dev		# FUSE front end (later step)
	fuse3			# fusermount3, /dev/fuse helpers (later step)
	valgrind		# leak/memory checking of a test subset
	python3			# test scripts, test result summary
)

say() { printf 'install-deps: %s\n' "$*"; }

if [ "${IOMAP_SKIP_DEPS:-0}" = 1 ]; then
	say "skipped (IOMAP_SKIP_DEPS=1)"
	exit 0
fi

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	say "all ${#PACKAGES[@]} packages present"
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		say "missing ${missing[*]}; run as root (or install sudo)" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
say "missing: ${missing[*]}"
say "apt-get update"
"${SUDO[@]}" apt-get update -qq
say "apt-get install ${missing[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
	say "still missing after install: ${still[*]}" >&2
	exit 1
fi
say "installed ${#missing[@]} package(s)"
