#!/bin/bash
# iscsi-iname: prints a valid iSCSI name, a different one each run; -f FILE creates FILE once
# (mode 0644, InitiatorName=...) and afterwards leaves it byte for byte as it is.
set -eu

name=iscsi-iname
fail() { printf '%s: FAIL: %s\n' "$name" "$*" >&2; exit 1; }

: "${ISCSI_INAME:?ISCSI_INAME must name the built iscsi-iname}"
[ -x "$ISCSI_INAME" ] || fail "'$ISCSI_INAME' is missing or not executable: build it first"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# RFC 7143 iqn. form, lower case: iqn.yyyy-mm.reversed.domain[:unique]
iqn_re='^iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9-]+(\.[a-z0-9-]+)*(:[a-z0-9.:-]+)?$'

is_iqn() {
	[[ $1 =~ $iqn_re ]] && [ "${#1}" -le 223 ]
}

# A plain run prints one fresh name under the default prefix.
a=$("$ISCSI_INAME") || fail "a plain run exited with status $?"
is_iqn "$a" || fail "not a valid iqn. name: '$a'"
[[ $a == iqn.2026-11.org.iscsifs:* ]] || fail "'$a' does not use the default prefix"
b=$("$ISCSI_INAME")
is_iqn "$b" || fail "not a valid iqn. name: '$b'"
[ "$a" != "$b" ] || fail "two runs printed the same name $a"

# -p PREFIX
c=$("$ISCSI_INAME" -p iqn.2001-04.com.example)
is_iqn "$c" || fail "-p: not a valid iqn. name: '$c'"
[[ $c == iqn.2001-04.com.example:* ]] || fail "-p: '$c' does not start with the prefix"

# -f on a new file writes it, world-readable even under a strict umask, and prints the name.
f=$tmp/initiatorname.iscsi
n=$(umask 077 && "$ISCSI_INAME" -f "$f") || fail "-f on a new file exited with status $?"
[ -f "$f" ] || fail "-f did not create $f"
is_iqn "$n" || fail "-f printed '$n', not a valid iqn. name"
mode=$(stat -c %a "$f")
[ "$mode" = 644 ] || fail "$f has mode $mode, not 644"
grep -qx "InitiatorName=$n" "$f" || fail "$f has no line InitiatorName=$n"
[ "$(grep -c '^InitiatorName=' "$f")" -eq 1 ] || fail "$f has more than one InitiatorName line"

# -f on an existing file leaves it alone and prints the name it holds.
cp -p "$f" "$tmp/before"
n2=$("$ISCSI_INAME" -f "$f") || fail "-f on an existing file exited with status $?"
[ "$n2" = "$n" ] || fail "-f on an existing file printed '$n2', not its name '$n'"
cmp -s "$f" "$tmp/before" || fail "-f changed an existing file"

# ... also a file written by hand or by another initiator, whatever its mode.
g=$tmp/other.iscsi
printf '# by hand\nInitiatorName=iqn.1993-08.org.debian:01:0123456789ab\n' >"$g"
chmod 600 "$g"
cp -p "$g" "$tmp/other.before"
n3=$("$ISCSI_INAME" -f "$g")
[ "$n3" = iqn.1993-08.org.debian:01:0123456789ab ] || fail "-f printed '$n3' for $g"
cmp -s "$g" "$tmp/other.before" || fail "-f changed $g"
[ "$(stat -c %a "$g")" = 600 ] || fail "-f changed the mode of $g"

# -n with -f writes nothing.
n4=$("$ISCSI_INAME" -n -f "$tmp/dry")
is_iqn "$n4" || fail "-n -f printed '$n4'"
[ ! -e "$tmp/dry" ] || fail "-n -f created a file"

# Errors: a message on stderr and status 1.
expect_error() {
	local rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "'$*' exited with status $rc, not 1"
	[ -s "$tmp/err" ] || fail "'$*' printed no error message"
	[ ! -s "$tmp/out" ] || fail "'$*' printed on stdout: $(cat "$tmp/out")"
}
expect_error "$ISCSI_INAME" -p IQN.2001-04.com.example
expect_error "$ISCSI_INAME" -p eui.0123456789abcdef
expect_error "$ISCSI_INAME" -f "$tmp/no/such/dir/initiatorname.iscsi"
expect_error "$ISCSI_INAME" -x
printf 'InitiatorName=not-a-name\n' >"$tmp/broken"
expect_error "$ISCSI_INAME" -f "$tmp/broken"
grep -q "$tmp/broken:1:" "$tmp/err" || fail "no file:line in: $(cat "$tmp/err")"

# -h prints the usage and succeeds.
"$ISCSI_INAME" -h | grep -q '^Usage:' || fail "-h printed no usage"

echo "$name: PASS"
