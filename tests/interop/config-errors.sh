#!/bin/bash
# iscsifs --check: the shipped example configuration passes; a broken file of each kind is
# refused with status 1 and "file:line: reason" on stderr; a world-readable initiator_auth is
# refused with a hint to chmod 600 it. --check mounts nothing.
set -eu

name=config-errors
fail() { printf '%s: FAIL: %s\n' "$name" "$*" >&2; exit 1; }

: "${ISCSIFS:?ISCSIFS must name the built iscsifs daemon}"
: "${CONFDIR:?CONFDIR must name the source conf/ directory}"
# The daemon is built by 'make check': its absence is a failure, not a reason to skip.
[ -x "$ISCSIFS" ] || fail "daemon '$ISCSIFS' is missing or not executable: build it first"
[ -d "$CONFDIR" ] || fail "no conf/ directory at '$CONFDIR'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mnt=$tmp/mnt
mkdir "$mnt"

# A fresh copy of the examples in directory $1.
examples() {
	mkdir "$1"
	cp "$CONFDIR/iscsifs.conf" "$CONFDIR/initiator" "$CONFDIR/initiator_auth" \
		"$CONFDIR/iscsi_device_maps" "$CONFDIR/initiatorname.iscsi" "$1/"
	chmod 600 "$1/initiator_auth"
}

# Run --check on the files in directory $1; stderr in $tmp/err. Sets rc.
check() {
	local d=$1
	rc=0
	timeout 60 "$ISCSIFS" --check --config="$d/iscsifs.conf" --initiator="$d/initiator" \
		--auth="$d/initiator_auth" --maps="$d/iscsi_device_maps" \
		--initiatorname="$d/initiatorname.iscsi" "$mnt" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -ne 124 ] || fail "--check on $d did not finish within 60 s"
	if mountpoint -q "$mnt"; then
		umount "$mnt" || true
		fail "--check mounted $mnt"
	fi
}

# Number the line about to be appended to file $1.
next_line() {
	echo $(($(wc -l <"$1") + 1))
}

# expect_error DIR FILE LINE [TEXT]: --check fails, naming FILE:LINE (and TEXT) on stderr.
expect_error() {
	local d=$1 file=$2 line=$3 text=${4:-}
	check "$d"
	[ "$rc" -eq 1 ] || fail "--check with a broken $(basename "$file") exited $rc, not 1;" \
		"stderr: $(cat "$tmp/err")"
	grep -qF "$file:$line:" "$tmp/err" ||
		fail "stderr does not name $file:$line: $(cat "$tmp/err")"
	[ -z "$text" ] || grep -qF "$text" "$tmp/err" ||
		fail "stderr does not say '$text': $(cat "$tmp/err")"
}

# The examples as shipped pass.
examples "$tmp/good"
check "$tmp/good"
[ "$rc" -eq 0 ] || fail "--check on the shipped examples exited $rc: $(cat "$tmp/err")"

# initiatorname.iscsi: a name with a character RFC 3722 prohibits (any case is fine).
d=$tmp/name
examples "$d"
printf '# broken\nInitiatorName=IQN.2005-03.com.Example:host/1\n' >"$d/initiatorname.iscsi"
expect_error "$d" "$d/initiatorname.iscsi" 2

# initiator: an ambiguous line (an address, then a word that is no port).
d=$tmp/ambiguous
examples "$d"
n=$(next_line "$d/initiator")
echo 'CHANNEL="2 1 192.168.0.9 eth0 3260 0"' >>"$d/initiator"
expect_error "$d" "$d/initiator" "$n" ambiguous

# initiator: an address with an octet over 255.
d=$tmp/addr
examples "$d"
n=$(next_line "$d/initiator")
echo 'CHANNEL="2 1 eth0 300.1.1.1 3260 0"' >>"$d/initiator"
expect_error "$d" "$d/initiator" "$n" 300

# initiator: an unknown iSCSI key.
d=$tmp/key
examples "$d"
n=$(next_line "$d/initiator")
echo 'CHANNEL="3 1 192.168.0.3 3260 0 NoSuchKey=Yes nopout_timeout=5"' >>"$d/initiator"
expect_error "$d" "$d/initiator" "$n" NoSuchKey

# initiator_auth: a channel no CHANNEL line defines; the secret stays out of the message.
d=$tmp/auth
examples "$d"
n=$(next_line "$d/initiator_auth")
echo 'AUTH="7 0 user7 Very-Secret-7"' >>"$d/initiator_auth"
expect_error "$d" "$d/initiator_auth" "$n" "channel 7"
! grep -qF Very-Secret-7 "$tmp/err" || fail "a secret was printed: $(cat "$tmp/err")"

# iscsi_device_maps: a mount name that climbs out of its directory.
d=$tmp/maps
examples "$d"
n=$(next_line "$d/iscsi_device_maps")
echo 'DEVICE="0 3 1 ../escape"' >>"$d/iscsi_device_maps"
expect_error "$d" "$d/iscsi_device_maps" "$n"

# iscsifs.conf: a misspelt setting.
d=$tmp/settings
examples "$d"
printf 'daemon = {\n\tlog_levle = "debug";\n};\n' >"$d/iscsifs.conf"
expect_error "$d" "$d/iscsifs.conf" 2 log_levle

# iscsifs.conf: a value out of range.
d=$tmp/range
examples "$d"
printf '# queue\nchannel_defaults = {\n\tqueue_depth = 0;\n};\n' >"$d/iscsifs.conf"
expect_error "$d" "$d/iscsifs.conf" 3 queue_depth

# initiator_auth readable by others: refused, with the fix in the message.
d=$tmp/mode
examples "$d"
chmod 644 "$d/initiator_auth"
check "$d"
[ "$rc" -eq 1 ] || fail "--check with a mode 644 initiator_auth exited $rc, not 1"
grep -qF "chmod 600" "$tmp/err" || fail "no 'chmod 600' hint: $(cat "$tmp/err")"
grep -qF "$d/initiator_auth" "$tmp/err" || fail "the auth file is not named: $(cat "$tmp/err")"
! grep -qF somepass "$tmp/err" || fail "a secret was printed: $(cat "$tmp/err")"

echo "$name: PASS"
