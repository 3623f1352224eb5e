#!/usr/bin/env bash
# Persistent names: MNT/by-id/<VPD identifier> and
# MNT/by-path/<address>:<port>-<target>-lun<N> are links to the LUN files; they
# resolve to the right LUN, and after a daemon restart with the CHANNEL lines in
# the other order the same names still reach the same data.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp readlink timeout

IQN_A=iqn.2026-11.org.iscsifs.test:names-a
IQN_B=iqn.2026-11.org.iscsifs.test:names-b
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN_A"
tgt_add_lun 1 1 8
tgt_bind 1
tgt_add_target 2 "$IQN_B"
tgt_add_lun 2 1 12
tgt_bind 2
MNT=$TEST_TMP/mnt

# check_names: every by-id and by-path link leads to a LUN file whose content is
# the backing file of that LUN; prints "name backing" pairs.
check_names() {
	local link file backing n=0
	for link in "$MNT"/by-id/* "$MNT"/by-path/*; do
		[ -L "$link" ] || fail "$link is not a link"
		file=$(readlink -f "$link")
		case "$file" in
		"$MNT/$IQN_A/lun1") backing=$(tgt_lun_file 1 1) ;;
		"$MNT/$IQN_B/lun1") backing=$(tgt_lun_file 2 1) ;;
		*) fail "$link leads to $file" ;;
		esac
		timeout -k 10 60 cmp "$link" "$backing" || fail "$link does not read as its LUN"
		printf '%s %s\n' "${link#"$MNT"/}" "$backing"
		n=$((n + 1))
	done
	[ "$n" -eq 4 ] || fail "$n persistent names, want 4 (by-id and by-path for 2 LUNs)"
}

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN_A")" "$(channel_line 1 "$TGT_PORT" "$IQN_B")"
start_iscsifs "$MNT"
ls -l "$MNT/by-id" "$MNT/by-path"
check_names | sort >"$TEST_TMP/first"
stop_iscsifs_checked

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN_B")" "$(channel_line 1 "$TGT_PORT" "$IQN_A")"
start_iscsifs "$MNT"
check_names | sort >"$TEST_TMP/second"
stop_iscsifs_checked
cmp "$TEST_TMP/first" "$TEST_TMP/second" || {
	diff "$TEST_TMP/first" "$TEST_TMP/second" >&2 || true
	fail "the names changed with the order of the CHANNEL lines"
}
msg "by-id and by-path names are the same after a restart with the channels reordered"
