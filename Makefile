# Thin wrapper over meson.  Every target installs missing dependencies first
# (scripts/install-deps.sh: a no-op once they are present).
#
#   make / make build   configure and build in $(BUILDDIR) (release, asserts kept)
#   make run            build, then run $(RUN_JOB)
#   make check          all test passes (scripts/run-tests.sh), "N passed, N failed"
#   make bench          bench/run, once it exists
#   make format         clang-format -i on the C sources
#   make clean          remove every build directory

BUILDDIR  ?= build
BUILDTYPE ?= release
BUILD_CC  ?= gcc

# The main job of "make run".  One variable so that it can become the FUSE
# mount later.
RUN_JOB ?= ./$(BUILDDIR)/tools/iomap-demo && ./$(BUILDDIR)/tools/iomap-demo --json

# Build directories made by this Makefile and scripts/run-tests.sh.
BUILD_DIRS = $(BUILDDIR) build-test build-clang build-asan

# Our C sources (build directories are not among these).
FORMAT_DIRS = include src fs fuse tools tests bench

.DEFAULT_GOAL := build
.PHONY: all build run check bench clean format deps help

deps:
	@scripts/install-deps.sh

all build: deps
	@MESON_SETUP_QUIET=1 scripts/meson-setup.sh $(BUILDDIR) $(BUILD_CC) --buildtype=$(BUILDTYPE)
	meson compile -C $(BUILDDIR)

run: build
	$(RUN_JOB)

check: deps
	@scripts/run-tests.sh

bench: deps
	@if [ -x bench/run ]; then \
		$(MAKE) --no-print-directory build && bench/run; \
	else \
		echo "bench: no bench/run yet; benchmarks come in a later step"; \
	fi

format: deps
	@dirs="$(wildcard $(FORMAT_DIRS))"; \
	files=$$([ -z "$$dirs" ] || find $$dirs -type f -name '*.[ch]' | sort); \
	if [ -z "$$files" ]; then echo "format: no C files"; exit 0; fi; \
	echo "clang-format -i ($$(echo $$files | wc -w) files)"; \
	clang-format -i $$files

clean: deps
	rm -rf $(BUILD_DIRS)

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
