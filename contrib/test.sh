#!/bin/sh
# The whole test suite: unit, Lua, integration and short fuzz runs, first in
# a normal build, then in an ASan+UBSan build that fails on any report, then
# the tests that run the daemon's threads in a ThreadSanitizer build (the
# million-timer backlog test takes ten minutes there: left to the others).
# Benchmarks are not part of it (see tests/bench/README.md).
set -eu
cd "$(dirname "$0")/.."
contrib/deps.sh
JOBS=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -LE bench -j"$JOBS"

cmake -S . -B build-asan -DTR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ctest --test-dir build-asan --output-on-failure -LE bench -j"$JOBS"

cmake -S . -B build-tsan -DTR_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-tsan -j"$JOBS"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	ctest --test-dir build-tsan --output-on-failure -j"$JOBS" \
	-R '^(test_|integration_test_(core|crash|durability|spool|triagectl))'
