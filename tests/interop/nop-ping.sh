#!/usr/bin/env bash
# Liveness: with nopout_timeout=1 and nopout_response_timeout=2 an idle session
# pings the target and stays up while it answers; when the target stops
# answering (tgtd stopped with SIGSTOP), the daemon drops the connection and
# logs why within about nopout_timeout + nopout_response_timeout.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd grep timeout

IQN=iqn.2026-11.org.iscsifs.test:nop
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1

CHANNEL_ATTRS="nopout_timeout=1;nopout_response_timeout=2"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
ISCSIFS_LOG_LEVEL=debug start_iscsifs "$MNT"

# Several ping intervals while the target answers: the session stays up.
sleep 4
! grep -q "connection to .* lost" "$ISCSIFS_LOG" || fail "the session dropped while the target answered its pings"
timeout -k 10 30 cmp -n 4096 "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" || fail "read after idle pings failed"

kill -STOP "$TGT_PID"
defer kill -CONT "$TGT_PID"
stopped=$(date +%s)
lost() { grep -q "no answer to a NOP-Out ping within 2 s" "$ISCSIFS_LOG"; }
wait_for 15 lost || fail "no connection loss logged 15 s after the target stopped answering"
msg "loss logged $(($(date +%s) - stopped)) s after the target stopped"
kill -CONT "$TGT_PID"

stop_iscsifs_checked
