#!/usr/bin/env bash
# The full test run behind "make check".
#
# Passes (each configures, builds and runs "meson test" in its own build dir):
#   gcc       build-test   CC=gcc,   debugoptimized
#   clang     build-clang  CC=clang, debugoptimized
#   asan      build-asan   CC=$ASAN_CC (clang), -Db_sanitize=address,undefined
#   valgrind  build-test   the suites in $VALGRIND_SUITES under valgrind
#
# Environment:
#   TEST_PASSES        passes to run, in order (default "gcc clang asan valgrind")
#   TEST_NUM_PROCESSES parallel tests per pass (default 2)
#   VALGRIND_SUITES    suites for the valgrind pass (default "bdev pagecache iomap";
#                      empty: the pass runs nothing)
#   ASAN_CC            compiler of the asan pass (default clang)
#   TEST_SUMMARY_FILE  if set, the summary line goes to this file instead of stdout
#                      (.ci/run uses it to print the line after make's own output)
#   MESON_TEST_ARGS    extra arguments for every "meson test"
#
# Results come from <builddir>/meson-logs/testlog.json (testlog-valgrind.json).  A pass whose
# configure or build fails counts as one failure and the run goes on.
# The last line printed is "N passed, N failed, N skipped"; the exit status is
# non-zero if anything failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

TEST_PASSES=${TEST_PASSES:-gcc clang asan valgrind}
TEST_NUM_PROCESSES=${TEST_NUM_PROCESSES:-2}
VALGRIND_SUITES=${VALGRIND_SUITES-bdev pagecache iomap}
ASAN_CC=${ASAN_CC:-clang}
read -r -a EXTRA_TEST_ARGS <<<"${MESON_TEST_ARGS:-}"

total_passed=0
total_failed=0
total_skipped=0
declare -A build_status=()	# build dir -> ok | fail, built once per run
start_all=$SECONDS

log() { printf '%s\n' "$*"; }

# configure_and_build DIR CC [meson options...]
configure_and_build() {
	local dir=$1 cc=$2
	shift 2
	if [ -n "${build_status[$dir]:-}" ]; then
		[ "${build_status[$dir]}" = ok ] && return 0
		log "!!! $dir: build failed earlier in this run"
		return 1
	fi
	build_status[$dir]=fail
	if ! MESON_SETUP_QUIET=1 scripts/meson-setup.sh "$dir" "$cc" "$@"; then
		log "!!! $dir: configure failed (CC=$cc)"
		return 1
	fi
	if ! meson compile -C "$dir"; then
		log "!!! $dir: build failed (CC=$cc)"
		return 1
	fi
	build_status[$dir]=ok
}

# count_results JSONLOG -> "passed failed skipped"
count_results() {
	python3 - "$1" <<'PY'
import json, sys

passed = failed = skipped = 0
try:
    lines = open(sys.argv[1], encoding="utf-8", errors="replace").readlines()
except FileNotFoundError:
    lines = []
for line in lines:
    line = line.strip()
    if not line:
        continue
    try:
        result = json.loads(line).get("result")
    except ValueError:
        failed += 1
        continue
    if result in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif result == "SKIP":
        skipped += 1
    else:   # FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR, anything new
        failed += 1
print(passed, failed, skipped)
PY
}

# run_tests PASS DIR [meson test options...]; the tests' environment is
# whatever the caller exported.  meson names its JSON log testlog.json, or
# testlog-<wrapper>.json with --wrapper: take the one this run wrote.
run_tests() {
	local pass=$1 dir=$2 rc p f s marker json
	shift 2
	marker=$(mktemp)
	meson test -C "$dir" --no-rebuild --num-processes "$TEST_NUM_PROCESSES" \
		--print-errorlogs "${EXTRA_TEST_ARGS[@]}" "$@"
	rc=$?
	json=$(find "$dir/meson-logs" -maxdepth 1 -name 'testlog*.json' -newer "$marker" \
		2>/dev/null | head -n 1)
	rm -f "$marker"
	read -r p f s < <(count_results "${json:-/nonexistent}")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		log "!!! $pass: meson test exited $rc with no failed test recorded"
		f=1
	fi
	pass_result "$pass" "$p" "$f" "$s"
}

pass_result() {
	local pass=$1 p=$2 f=$3 s=$4
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	total_skipped=$((total_skipped + s))
	log "--- pass $pass: $p passed, $f failed, $s skipped ($((SECONDS - pass_start))s)"
}

for pass in $TEST_PASSES; do
	pass_start=$SECONDS
	case $pass in
	gcc)
		log "=== pass gcc: build-test, CC=gcc, debugoptimized"
		if configure_and_build build-test gcc --buildtype=debugoptimized; then
			run_tests gcc build-test
		else
			pass_result gcc 0 1 0
		fi
		;;
	clang)
		log "=== pass clang: build-clang, CC=clang, debugoptimized"
		if configure_and_build build-clang clang --buildtype=debugoptimized; then
			run_tests clang build-clang
		else
			pass_result clang 0 1 0
		fi
		;;
	asan)
		log "=== pass asan: build-asan, CC=$ASAN_CC, address+undefined sanitizers"
		if configure_and_build build-asan "$ASAN_CC" --buildtype=debugoptimized \
			-Db_sanitize=address,undefined -Db_lundef=false; then
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
				run_tests asan build-asan -t 2
		else
			pass_result asan 0 1 0
		fi
		;;
	valgrind)
		log "=== pass valgrind: build-test, suites: ${VALGRIND_SUITES:-(none)}"
		if [ -z "${VALGRIND_SUITES// /}" ]; then
			log "valgrind: no suites selected, nothing to run"
			pass_result valgrind 0 0 0
		elif configure_and_build build-test gcc --buildtype=debugoptimized; then
			suite_args=()
			for s in $VALGRIND_SUITES; do
				suite_args+=(--suite "$s")
			done
			run_tests valgrind build-test \
				--wrapper 'valgrind --error-exitcode=1 --leak-check=full -q' \
				-t 4 "${suite_args[@]}"
		else
			pass_result valgrind 0 1 0
		fi
		;;
	*)
		log "!!! unknown pass '$pass' (known: gcc clang asan valgrind)"
		pass_result "$pass" 0 1 0
		;;
	esac
done

log "=== all passes done in $((SECONDS - start_all))s"
summary="$total_passed passed, $total_failed failed, $total_skipped skipped"
if [ -n "${TEST_SUMMARY_FILE:-}" ]; then
	printf '%s\n' "$summary" >"$TEST_SUMMARY_FILE"
else
	printf '%s\n' "$summary"
fi
[ "$total_failed" -eq 0 ]
