#!/bin/bash
# The test suite's fuzzing step: every libFuzzer harness of tests/fuzz under ASan and UBSan for a
# short bounded time (15 s each by default, about 80 s in all with the build), on a copy of the
# seed corpus. Passes when none finds anything; skips when clang or libFuzzer is missing.
# FUZZ_SMOKE_SECONDS changes the time per harness; tests/fuzz/run.sh runs them longer.
set -eu

: "${TESTLIB:?TESTLIB must name the source tests/lib directory}"
run=$TESTLIB/../fuzz/run.sh
if [ ! -f "$run" ]; then
	echo "fuzz-smoke: FAIL: no $run" >&2
	exit 1
fi
# Never the caller's build directory: the smoke run builds and cleans up its own under /tmp.
unset FUZZ_BUILDDIR
exec bash "$run" "${FUZZ_SMOKE_SECONDS:-15}"
