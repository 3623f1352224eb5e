#!/bin/bash
# Builds the libFuzzer harnesses of tests/fuzz with clang under ASan and UBSan, and runs each for
# a bounded time on a copy of its seed corpus (the source tree is never written).
#
#   run.sh [SECONDS [HARNESS...]]      e.g.  run.sh 600   or   run.sh 300 chap config
#
# SECONDS per harness: the argument, else FUZZ_SECONDS, else 20. HARNESS: pdu, keys, chap,
# config, isns, portal (default: all). FUZZ_BUILDDIR: where to build and keep the growing corpora and any
# crash inputs (default: a fresh directory under /tmp, removed afterwards unless something was
# found). FUZZ_CC: the compiler (default clang; not CC, which names the project's compiler).
# Exit status: 0 when every harness ran without a finding, 1 on a finding or a build failure,
# 77 when clang or its libFuzzer runtime is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
all_harnesses=(pdu keys chap config isns portal)

seconds=${FUZZ_SECONDS:-20}
if [ $# -gt 0 ]; then
	seconds=$1
	shift
fi
case $seconds in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS [HARNESS...]]  (SECONDS a whole number, at least 1)" >&2
	exit 2
	;;
esac
if [ $# -gt 0 ]; then
	harnesses=("$@")
else
	harnesses=("${all_harnesses[@]}")
fi

# The project's files each harness links, besides its own.
sources_of() {
	case $1 in
	pdu) echo "src/pdu.c src/scsi.c" ;;
	keys) echo "src/keys.c" ;;
	chap) echo "src/chap.c src/keys.c" ;;
	config) echo "src/config.c src/cfg_lex.c src/cfg_attrs.c src/cfg_initiatorname.c" \
		"src/cfg_initiator.c src/cfg_auth.c src/cfg_maps.c src/cfg_settings.c" \
		"src/keys.c src/log.c src/iname.c src/portal.c" ;;
	isns) echo "src/isns.c" ;;
	portal) echo "src/portal.c src/iname.c" ;;
	*) return 1 ;;
	esac
}

# libFuzzer options of a harness beyond the common ones.
options_of() {
	case $1 in
	config) echo "-max_len=8192" ;; # past the first 4 KiB the file reader allocates
	*) echo ;;
	esac
}

skip() {
	echo "fuzz: SKIP: $*"
	exit 77
}

for h in "${harnesses[@]}"; do
	sources_of "$h" >/dev/null || {
		echo "fuzz: unknown harness '$h' (known: ${all_harnesses[*]})" >&2
		exit 2
	}
done

cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 || skip "no $cc (on Debian: apt-get install clang libclang-rt-dev)"
command -v pkg-config >/dev/null 2>&1 || skip "no pkg-config"
pkg-config --exists libcrypto libconfig libidn || skip "pkg-config knows no libcrypto, libconfig or libidn"

if [ -n "${FUZZ_BUILDDIR:-}" ]; then
	build=$FUZZ_BUILDDIR
	mkdir -p "$build"
	keep=1
else
	build=$(mktemp -d "${TMPDIR:-/tmp}/iscsifs-fuzz.XXXXXX")
	keep=0
fi
trap '[ "$keep" -eq 1 ] || rm -rf "$build"' EXIT

sanitize=("-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined)

# Does this clang link a libFuzzer program? (Debian ships the runtime in libclang-rt-N-dev.)
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	>"$build/probe.c"
if ! "$cc" "${sanitize[@]}" -o "$build/probe" "$build/probe.c" >"$build/probe.log" 2>&1; then
	sed 's/^/  /' "$build/probe.log" | head -n 5
	skip "$cc cannot link with -fsanitize=fuzzer (on Debian: apt-get install libclang-rt-dev)"
fi

read -r -a pkg_cflags <<<"$(pkg-config --cflags libcrypto libconfig libidn)"
read -r -a pkg_libs <<<"$(pkg-config --libs libcrypto libconfig libidn)"
cflags=(-g -O1 "${sanitize[@]}" -D_GNU_SOURCE -pthread -Wall -Wextra -Wshadow -Wformat=2 -I"$top/src" "${pkg_cflags[@]}")

echo "fuzz: $cc, ${seconds} s per harness, in $build"
# Leaks count as findings, except the one libconfig 1.5 (Debian 12) has on a syntax error: its
# parser drops the string token it was given by the lexer (libconfig issue 142, fixed in 1.7.3).
printf '%s\n' 'leak:libconfig_yylex' 'leak:strbuf_append' >"$build/lsan.supp"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$build/lsan.supp"
# UBSan reports carry their stack.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

status=0
for h in "${harnesses[@]}"; do
	name=fuzz_$h
	read -r -a srcs <<<"$(sources_of "$h")"
	paths=()
	for s in "${srcs[@]}"; do
		paths+=("$top/$s")
	done
	if ! "$cc" "${cflags[@]}" -o "$build/$name" "$here/$name.c" "${paths[@]}" \
		"${pkg_libs[@]}" >"$build/$name.build.log" 2>&1; then
		echo "$name: BUILD FAILED"
		sed 's/^/  /' "$build/$name.build.log"
		status=1
		continue
	fi

	corpus=$build/corpus/$h
	artifacts=$build/artifacts/$h
	mkdir -p "$corpus" "$artifacts"
	cp -R "$here/corpus/$h/." "$corpus/"
	chmod -R u+w "$corpus" # a copy from a read-only tree (distcheck) must still grow

	read -r -a opts <<<"$(options_of "$h")"
	rc=0
	(cd "$build" && timeout -k 10 $((seconds + 120)) "./$name" -max_total_time="$seconds" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${opts[@]}" \
		-artifact_prefix="$artifacts/" "$corpus") >"$build/$name.log" 2>&1 || rc=$?

	runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs in \([0-9][0-9]*\) second.*/\1 \2/p' \
		"$build/$name.log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ] && ! grep -q '^==[0-9]*==ERROR' "$build/$name.log"; then
		read -r n secs <<<"$runs"
		[ "$secs" -gt 0 ] || secs=1
		echo "$name: $n runs, no finding ($secs s, $((n / secs)) runs/s)"
		continue
	fi
	status=1
	keep=1
	echo "$name: FINDING (exit status $rc); log: $build/$name.log"
	# The report: from the first sanitizer or libFuzzer error line on, bounded.
	awk '/^==[0-9]+==|^SUMMARY|^INFO: a leak|runtime error|^fuzz_[a-z]+: |ERROR: libFuzzer/ { on = 1 }
		on { print "  " $0; if (++n >= 80) exit }' "$build/$name.log"
	for f in "$artifacts"/*; do
		[ -e "$f" ] || continue
		echo "  input: $f"
		echo "  replay: $build/$name $f"
	done
done

if [ "$status" -eq 0 ]; then
	echo "fuzz: all ${#harnesses[@]} harnesses ran without a finding"
fi
exit "$status"
