#!/bin/bash
# Every manual page in man/ must render with man -l at 80 columns, with output and
# without a word on stderr, and must pass mandoc -Tlint at warning level silently.
# The source tree is found from TESTLIB (<srcdir>/tests/lib), which the harness exports.
set -u

name=manpages
fail() { printf '%s: FAIL: %s\n' "$name" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$name" "$*" >&2; exit 77; }

if [ -n "${TESTLIB:-}" ]; then
	srcdir=$(cd "$TESTLIB/../.." && pwd) || fail "TESTLIB='$TESTLIB' does not lead to the source tree"
else
	srcdir=$(cd "$(dirname "$0")/../.." && pwd) || fail "cannot find the source tree"
fi
[ -d "$srcdir/man" ] || fail "no man/ directory in $srcdir"

command -v mandoc >/dev/null 2>&1 || skip "mandoc is not installed (Debian package mandoc)"
command -v man >/dev/null 2>&1 || skip "man is not installed (Debian package man-db)"

tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

pages=()
for f in "$srcdir"/man/*.[0-9]; do
	[ -f "$f" ] && pages+=("$f")
done
[ "${#pages[@]}" -gt 0 ] || fail "no manual pages (man/*.[0-9]) in $srcdir"

bad=0
for f in "${pages[@]}"; do
	page=man/${f##*/}

	# man -l: a fixed width, no pager, a locale that always exists, and no
	# seccomp sandbox (it fails in some containers and says so on stderr).
	rc=0
	LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat MAN_DISABLE_SECCOMP=1 \
		man -l "$f" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s: man -l exited with status %d\n' "$page" "$rc" >&2
		bad=1
	fi
	if [ ! -s "$tmp/out" ]; then
		printf '%s: man -l rendered nothing\n' "$page" >&2
		bad=1
	fi
	if [ -s "$tmp/err" ]; then
		printf '%s: man -l wrote to stderr:\n' "$page" >&2
		sed 's/^/    /' "$tmp/err" >&2
		bad=1
	fi

	rc=0
	mandoc -Tlint -W warning "$f" >"$tmp/lint" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$tmp/lint" ]; then
		printf '%s: mandoc -Tlint -W warning (status %d):\n' "$page" "$rc" >&2
		sed 's/^/    /' "$tmp/lint" >&2
		bad=1
	fi
done

[ "$bad" -eq 0 ] || fail "manual pages with problems (see above)"
printf '%s: %d manual pages render cleanly and pass mandoc -Tlint\n' "$name" "${#pages[@]}"
exit 0
