#!/usr/bin/env bash
# One target that stops reading its socket must not stop the I/O of another
# channel. Channel 0 is an istgt target, channel 1 a tgtd target, in one daemon.
# istgt is stopped (SIGSTOP) while 128 direct writes of 128 KiB are queued to
# its LUN: their immediate data fills the connection's socket, and the FUSE
# thread writing it has to wait. Reads of channel 1's LUN must still come back,
# with tgtd's bytes, while istgt is stopped. After SIGCONT the writes complete
# and read back (fio's checksums), and istgt's file holds the same bytes.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_cmd istgt fio cmp timeout

setup_tmpdir
istgt_add_lun stalled 0 32
SLOW_IQN=$ISTGT_IQN
SLOW_BACKING=$(istgt_lun_file stalled 0)
istgt_start
IQN=iqn.2026-11.org.iscsifs.test:stalled-other
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)

# No pings on the stopped target's connection, nor command timeouts, for the
# seconds it is stopped: what is tested is the other channel, not recovery.
CHANNEL_ATTRS="nopout_timeout=0,command_timeout=120,queue_depth=128"
iscsifs_config "$(channel_line 0 "$ISTGT_PORT" "$SLOW_IQN")" \
	"$(CHANNEL_ATTRS=nopout_timeout=5 channel_line 1 "$TGT_PORT" "$IQN")"
grep -q 'queue_depth=128' "$ISCSIFS_ETC/initiator" || hard_error "channel 0 has no queue_depth=128"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
SLOW_LUN=$MNT/$SLOW_IQN/lun0
LUN=$MNT/$IQN/lun1
for f in "$SLOW_LUN" "$LUN"; do
	[ -e "$f" ] || fail "no $f"
done

kill -STOP "$ISTGT_PID"
defer "kill -CONT $ISTGT_PID 2>/dev/null; true"
timeout -k 10 180 fio --name=stalled --filename="$(printf '%s' "$SLOW_LUN" | sed 's/:/\\:/g')" \
	--rw=write --bs=128k --iodepth=128 --ioengine=libaio --direct=1 --size=16m \
	--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --output="$TEST_TMP/fio.out" </dev/null \
	>/dev/null 2>&1 &
WRITER=$!
defer "kill $WRITER 2>/dev/null; true"
sleep 2
pid_gone "$WRITER" && fail "the writes to the stopped target ended while it was stopped"

# The other channel, while istgt is stopped and its writes wait.
timeout -k 5 20 dd if="$LUN" of="$TEST_TMP/other" bs=64k count=64 iflag=direct status=none ||
	fail "reads of channel 1 did not come back while channel 0's target was stopped (status $?)"
cmp -s "$TEST_TMP/other" <(head -c $((4 << 20)) "$BACKING") ||
	fail "channel 1 read other bytes than tgtd holds"
pid_gone "$WRITER" && fail "the writes to the stopped target ended while it was stopped"
msg "4 MiB read from channel 1 while channel 0's target was stopped with 128 writes queued"

kill -CONT "$ISTGT_PID"
st=0
wait "$WRITER" || st=$?
[ "$st" -eq 0 ] ||
	fail "the writes to channel 0 failed or did not read back (fio verify) after the target went on (fio status $st): $(tail -5 "$TEST_TMP/fio.out" 2>/dev/null)"
timeout -k 10 60 cmp -n $((16 << 20)) "$SLOW_LUN" "$SLOW_BACKING" ||
	fail "istgt's file does not hold the 16 MiB written while it was stopped"
stop_iscsifs_checked
msg "after SIGCONT the 16 MiB of writes reached istgt intact"
