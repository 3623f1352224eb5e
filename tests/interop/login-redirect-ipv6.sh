#!/usr/bin/env bash
# Login redirection to IPv6 and to a host name (RFC 7143 11.13.5, TargetAddress as 13.8 writes
# it): a scripted portal on 127.0.0.1 answers "moved temporarily" with
# TargetAddress=[::1]:port,1 where tgtd listens on [::1] only; the login follows it and the LUN
# reads as its backing file. A second one redirects to localhost:port, a host name looked up at
# that login, where tgtd listens on 127.0.0.1 as well.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd cmp grep python3 ss getent timeout

IQN=iqn.2026-11.org.iscsifs.test:redirected-ipv6
setup_tmpdir
TGT_ADDR=::1 tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
REAL="[::1]:$TGT_PORT"

FRONT_PORT=$(free_port) || hard_error "no free TCP port"
fake_start front "$FRONT_PORT" --iqn "$IQN" --redirect "$REAL"
iscsifs_config "$(channel_line 0 "$FRONT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
grep -q "redirecting the login" "$TEST_TMP/fake.front.log" || fail "the front portal redirected nothing"
grep -qF "following it to $REAL" "$ISCSIFS_LOG" || fail "the log does not say the login went to $REAL"
ss -Htn state established "dst $REAL" | grep -q . || fail "no TCP connection to $REAL"
timeout -k 10 60 cmp "$MNT/$IQN/lun1" "$BACKING" || fail "lun1 does not read as its backing file"
msg "the login followed TargetAddress=$REAL,1 and lun1 reads as its backing file"
stop_iscsifs_checked

# A host name: localhost, which /etc/hosts gives as 127.0.0.1.
getent ahostsv4 localhost | grep -q '^127\.0\.0\.1 ' || skip "localhost does not resolve to 127.0.0.1 here"
tgt_add_portal 127.0.0.1
NAMED_PORT=$(free_port) || hard_error "no free TCP port"
fake_start named "$NAMED_PORT" --iqn "$IQN" --redirect "localhost:$TGT_PORT"
iscsifs_config "$(channel_line 0 "$NAMED_PORT" "$IQN")"
start_iscsifs "$MNT"
grep -qF "following it to localhost:$TGT_PORT" "$ISCSIFS_LOG" ||
	fail "the log does not say the login went to localhost:$TGT_PORT"
grep -qF "localhost answered at 127.0.0.1:$TGT_PORT" "$ISCSIFS_LOG" ||
	fail "the log does not say where localhost answered"
timeout -k 10 60 cmp "$MNT/$IQN/lun1" "$BACKING" || fail "lun1 does not read as its backing file"
msg "the login followed TargetAddress=localhost:$TGT_PORT,1"
stop_iscsifs_checked
