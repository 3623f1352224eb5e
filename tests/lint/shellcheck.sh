#!/bin/bash
# Every shell script of the project must pass shellcheck -x: the scripts under scripts/
# (found by their #! line, so new ones are included), every tests/**/*.sh, tests/run-suite
# and .ci/run. The source tree is found from TESTLIB (<srcdir>/tests/lib), which the
# harness exports; the test may run from any directory.
set -u

name=shellcheck
fail() { printf '%s: FAIL: %s\n' "$name" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$name" "$*" >&2; exit 77; }

if [ -n "${TESTLIB:-}" ]; then
	srcdir=$(cd "$TESTLIB/../.." && pwd) || fail "TESTLIB='$TESTLIB' does not lead to the source tree"
else
	srcdir=$(cd "$(dirname "$0")/../.." && pwd) || fail "cannot find the source tree"
fi
[ -d "$srcdir/tests" ] || fail "no tests/ directory in $srcdir"

command -v shellcheck >/dev/null 2>&1 || skip "shellcheck is not installed (Debian package shellcheck)"

# A file is a shell script when its first line runs sh, bash, dash or ksh.
has_shell_shebang() {
	local first
	IFS= read -r first <"$1" 2>/dev/null || [ -n "${first:-}" ] || return 1
	[[ $first =~ ^#![[:space:]]*[^[:space:]]*/(env[[:space:]]+)?(sh|bash|dash|ksh)([[:space:]]|$) ]]
}

cd "$srcdir" || fail "cannot enter $srcdir"

scripts=()
for f in tests/run-suite .ci/run; do
	[ -f "$f" ] || fail "$f is missing"
	scripts+=("$f")
done
while IFS= read -r -d '' f; do
	f=${f#./}
	case $f in tests/run-suite | .ci/run) continue ;; esac
	if [[ $f == tests/*.sh ]] || has_shell_shebang "$f"; then
		scripts+=("$f")
	fi
done < <(find ./scripts ./tests ./.ci ./bench ./debian -type f -print0 2>/dev/null | sort -z)

[ "${#scripts[@]}" -gt 0 ] || fail "no shell scripts found in $srcdir"

rc=0
shellcheck -x -- "${scripts[@]}" >&2 || rc=$?
if [ "$rc" -ne 0 ]; then
	printf '%s: checked:' "$name" >&2
	printf ' %s' "${scripts[@]}" >&2
	printf '\n' >&2
	fail "shellcheck -x found problems (status $rc, see above)"
fi
printf '%s: %d shell scripts pass shellcheck -x:' "$name" "${#scripts[@]}"
printf ' %s' "${scripts[@]}"
printf '\n'
exit 0
