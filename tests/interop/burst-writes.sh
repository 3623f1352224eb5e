#!/usr/bin/env bash
# Writes larger than FirstBurstLength and MaxBurstLength reach the target byte
# for byte under each InitialR2T x ImmediateData combination: immediate data,
# unsolicited Data-Out and R2T-driven Data-Out sequences all take part. The
# negotiated values are read back from the daemon's log, so each combination is
# known to be in force, not just asked for.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:burst
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
MNT=$TEST_TMP/mnt
seed=1
for r2t in Yes No; do
	for imm in Yes No; do
		# InitialR2T is negotiated with OR: the target must say No too.
		tgt_adm --op update --mode target --tid 1 --name InitialR2T --value "$r2t" ||
			fail "tgtadm: cannot set InitialR2T=$r2t"
		CHANNEL_KEYS="AuthMethod=None;InitialR2T=$r2t;ImmediateData=$imm;FirstBurstLength=16384;MaxBurstLength=65536"
		iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
		start_iscsifs "$MNT"
		grep -q "MaxBurstLength 65536, FirstBurstLength 16384, ImmediateData $imm, InitialR2T $r2t" \
			"$ISCSIFS_LOG" || fail "InitialR2T=$r2t ImmediateData=$imm not in force (see the log)"
		LUN=$MNT/$IQN/lun1
		cp "$BACKING" "$TEST_TMP/expected"
		# 3 MiB in 1 MiB commands: each is many bursts; then the seeded mixed writes.
		head -c $((3 << 20)) /dev/urandom >"$TEST_TMP/big"
		timeout -k 10 60 dd if="$TEST_TMP/big" of="$LUN" bs=1M seek=5 oflag=direct conv=notrunc,fsync status=none ||
			fail "dd of 3 MiB failed (InitialR2T=$r2t ImmediateData=$imm)"
		dd if="$TEST_TMP/big" of="$TEST_TMP/expected" bs=1M seek=5 conv=notrunc status=none
		timeout -k 10 120 python3 "$TESTLIB/rwcheck.py" write "$seed" "$LUN" "$TEST_TMP/expected" ||
			fail "writes failed (InitialR2T=$r2t ImmediateData=$imm)"
		stop_iscsifs_checked
		timeout -k 10 60 python3 "$TESTLIB/rwcheck.py" check "$seed" "$TEST_TMP/expected" "$BACKING" ||
			fail "backing file differs (InitialR2T=$r2t ImmediateData=$imm)"
		cmp "$TEST_TMP/expected" "$BACKING" ||
			fail "stray bytes in the backing file (InitialR2T=$r2t ImmediateData=$imm)"
		msg "InitialR2T=$r2t ImmediateData=$imm: byte-exact"
		seed=$((seed + 1))
	done
done
