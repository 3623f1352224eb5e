#!/usr/bin/env bash
# A packet capture of one whole run (SendTargets discovery, login, LUN scan,
# direct and unaligned I/O, idle NOP-Out pings, logout) against tgtd decodes
# with tshark as iSCSI with no malformed packet and no expert error, and holds
# every PDU kind such a run must produce.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd dumpcap tshark cmp dd python3 timeout sync

IQN=iqn.2026-11.org.iscsifs.test:capture
LUN_MIB=16
CAP_PID=
setup_tmpdir
CAP=$TEST_TMP/capture.pcap
CAP_LOG=$TEST_TMP/dumpcap.log
# tshark reads no preferences of whoever runs the test.
export WIRESHARK_CONFIG_DIR=$TEST_TMP/wireshark
mkdir -p "$WIRESHARK_CONFIG_DIR"

[ -e /sys/class/net/lo ] || skip "no loopback interface"

tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 "$LUN_MIB"
tgt_bind 1
BACKING=$TGT_LUN_FILE

# stop_capture: SIGINT to the recorded dumpcap, so it flushes the file and
# prints its statistics; SIGKILL only if it is still there 10 s later.
stop_capture() {
	local pid=$CAP_PID
	[ -n "$pid" ] || return 0
	CAP_PID=
	kill -INT "$pid" 2>/dev/null || true
	if ! wait_for 10 pid_gone "$pid"; then
		echo "stop_capture: dumpcap $pid still running; kill -9" >&2
		kill -9 "$pid" 2>/dev/null || true
		wait_for 5 pid_gone "$pid" || echo "stop_capture: dumpcap $pid survived kill -9" >&2
	fi
	wait "$pid" 2>/dev/null || true
}

capture_running() {
	pid_gone "$CAP_PID" && return 0
	grep -q '^Capturing on' "$CAP_LOG" && [ -s "$CAP" ]
}

# The target's port only: the daemon's traffic and nothing else on lo.
dumpcap -q -P -i lo -B 64 -f "tcp port $TGT_PORT" -w "$CAP" </dev/null 2>"$CAP_LOG" &
CAP_PID=$!
defer stop_capture
show_on_failure "$CAP_LOG"
wait_for 15 capture_running || fail "dumpcap did not start capturing on lo within 15 s"
if pid_gone "$CAP_PID"; then
	cat "$CAP_LOG" >&2
	CAP_PID=
	skip "dumpcap cannot capture on lo here"
fi
msg "dumpcap (pid $CAP_PID) capturing tcp port $TGT_PORT on lo into $CAP"

# No target name: the daemon runs a SendTargets discovery session first. Pings
# after 1 s of idleness put NOP-Out/NOP-In in the capture.
CHANNEL_ATTRS="nopout_timeout=1;nopout_response_timeout=5"
iscsifs_config "$(channel_line 0 "$TGT_PORT")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
timeout -k 10 30 test -f "$LUN" || fail "$LUN does not exist after discovery and LUN scan"

# The expected image gets every write the LUN gets.
cp "$BACKING" "$TEST_TMP/expected.img"
timeout -k 10 30 dd if=/dev/urandom of="$TEST_TMP/data.bin" bs=1M count=4 iflag=fullblock status=none ||
	fail "cannot make the write data"
timeout -k 10 120 dd if="$TEST_TMP/data.bin" of="$LUN" bs=1M seek=3 oflag=direct conv=notrunc,fsync status=none ||
	fail "4 MiB direct write through $LUN failed"
dd if="$TEST_TMP/data.bin" of="$TEST_TMP/expected.img" bs=1M seek=3 conv=notrunc status=none

cat >"$TEST_TMP/small.py" <<'EOF'
import os, random, sys

lun, expected = sys.argv[1], sys.argv[2]
size = os.path.getsize(expected)
rng = random.Random(7)
# Unaligned offsets and lengths, across block and page boundaries, the last byte.
plan = [(1, 3), (511, 2), (4093, 9), (65535, 700), (1048576 + 17, 5000), (size - 1, 1)]
fd = os.open(lun, os.O_RDWR)
efd = os.open(expected, os.O_RDWR)
for off, n in plan:
    buf = rng.randbytes(n)
    for f in (fd, efd):
        if os.pwrite(f, buf, off) != n:
            sys.exit("short write of %d bytes at %d" % (n, off))
os.fsync(fd)
os.close(fd)
os.close(efd)
print("%d unaligned writes done" % len(plan))
EOF
timeout -k 10 60 python3 "$TEST_TMP/small.py" "$LUN" "$TEST_TMP/expected.img" ||
	fail "unaligned writes through $LUN failed"
timeout -k 10 60 sync || fail "sync did not finish"
drop_caches

timeout -k 10 120 cmp "$LUN" "$BACKING" ||
	fail "reading $LUN back does not return the target's backing file"
timeout -k 10 60 cmp "$BACKING" "$TEST_TMP/expected.img" ||
	fail "the target's backing file does not hold what was written"
msg "4 MiB direct write, unaligned writes and a full read back all match"

msg "idle for 3 s (NOP-Out pings every second)"
sleep 3
stop_iscsifs_checked

# The last packets can sit in the kernel's capture buffer for a while, and
# dumpcap stops at once on SIGINT: wait until the file holds the close of
# every connection (a FIN each way per SYN) before stopping it.
closes_captured() {
	local syn fin
	syn=$(timeout -k 5 30 tshark -n -r "$CAP" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
		-T fields -e frame.number 2>/dev/null | wc -l) || true
	fin=$(timeout -k 5 30 tshark -n -r "$CAP" -Y 'tcp.flags.fin == 1' \
		-T fields -e frame.number 2>/dev/null | wc -l) || true
	[ "$syn" -gt 0 ] && [ "$fin" -ge $((2 * syn)) ]
}
wait_for 10 closes_captured || msg "the capture file still lacks some connection closes after 10 s"
stop_capture
cat "$CAP_LOG"
# "Packets received/dropped on interface 'Loopback: lo': R/D (...)" (a colon
# in the name too): a capture that lost packets cannot be judged.
dropped=$(sed -n "s/^Packets received\/dropped on interface .*: [0-9]*\/\([0-9]*\) (.*/\1/p" "$CAP_LOG")
[ -n "$dropped" ] || hard_error "dumpcap printed no packet statistics"
[ "$dropped" -eq 0 ] || hard_error "dumpcap dropped $dropped packets; the capture cannot be judged"

# Decode the test's port as iSCSI. The bogus-PDU filter is for finding PDU
# starts in captures that begin mid-stream; this one starts at the SYN and
# TCP reassembly tracks every PDU boundary, so no data segment length up to
# the protocol's 2^24-1 may make the dissector skip a PDU. Digests need no
# setting: the dissector detects them itself (and none are negotiated here).
TSHARK_ERR=$TEST_TMP/tshark.err
show_on_failure "$TSHARK_ERR"
tshark_cap() {
	timeout -k 10 120 tshark -n -r "$CAP" \
		-d "tcp.port==$TGT_PORT,iscsi" \
		-o "iscsi.target_ports:$TGT_PORT" \
		-o "iscsi.desegment_iscsi_messages:TRUE" \
		-o "tcp.desegment_tcp_streams:TRUE" \
		-o "iscsi.bogus_pdu_max_data_len:16777215" \
		"$@" 2>>"$TSHARK_ERR"
}

tshark_cap -T fields -e iscsi.opcode >"$TEST_TMP/opcodes.txt" || fail "tshark could not read $CAP"
frames=$(tshark_cap -T fields -e frame.number | wc -l)
msg "capture: $frames frames, $(tr ',' '\n' <"$TEST_TMP/opcodes.txt" | grep -c . || true) iSCSI PDUs"

# show_frames FRAME...: the first few of these frames in full, for the log.
show_frames() {
	local list
	[ "$#" -gt 0 ] || return 0
	list=$(printf '%s\n' "${@:1:5}" | paste -sd, -)
	printf '\n===== frames %s in full =====\n' "$list" >&2
	tshark_cap -Y "frame.number in {$list}" -V -x >&2 || true
}

status=0

# (a) every kind of PDU this run must produce. R2T and Data-Out are certain:
# tgtd answers InitialR2T=Yes, so only immediate data (at most its 8 KiB
# MaxRecvDataSegmentLength) goes unsolicited, and a 1 MiB write needs more.
declare -A want=(
	[0x03]="Login Command" [0x23]="Login Response"
	[0x04]="Text Command" [0x24]="Text Response"
	[0x01]="SCSI Command" [0x25]="SCSI Data In" [0x21]="SCSI Response"
	[0x31]="Ready To Transfer" [0x05]="SCSI Data Out"
	[0x00]="NOP Out" [0x20]="NOP In"
	[0x06]="Logout Command" [0x26]="Logout Response"
)
declare -A seen=()
while read -r op; do
	[ -n "$op" ] || continue
	seen[$op]=$((${seen[$op]:-0} + 1))
done < <(tr ',' '\n' <"$TEST_TMP/opcodes.txt")
for op in 0x03 0x23 0x04 0x24 0x01 0x25 0x21 0x31 0x05 0x00 0x20 0x06 0x26; do
	n=${seen[$op]:-0}
	if [ "$n" -eq 0 ]; then
		echo "$TEST_NAME: no ${want[$op]} PDU (opcode $op) in the capture" >&2
		status=1
	else
		msg "  ${want[$op]} ($op): $n"
	fi
done
for op in "${!seen[@]}"; do
	[ -n "${want[$op]:-}" ] || msg "  other opcode $op: ${seen[$op]}"
done
# Two sessions, the discovery one and the normal one: each reaches full
# feature phase and each logs out.
for f in 'iscsi.opcode == 0x03 && iscsi.login.T == 1 && iscsi.login.nsg == 3' \
	'iscsi.opcode == 0x23 && iscsi.login.status == 0 && iscsi.login.nsg == 3' \
	'iscsi.opcode == 0x26 && iscsi.logout.response == 0'; do
	n=$(tshark_cap -Y "$f" -T fields -e frame.number | wc -l)
	if [ "$n" -ne 2 ]; then
		echo "$TEST_NAME: $n frames with $f, want one per session (2)" >&2
		status=1
	fi
done
tshark_cap -Y 'iscsi.opcode == 0x24' -T fields -e iscsi.keyvalue | grep -qF "TargetName=$IQN" || {
	echo "$TEST_NAME: no Text Response lists TargetName=$IQN" >&2
	status=1
}

# Every TCP payload byte belongs to a PDU the dissector decoded: a stretch it
# skipped (lost PDU boundaries, or a header its bogus-PDU filter rejected,
# such as a NOP-Out with Target Transfer Tag 0) shows up here and nowhere
# else. A PDU is 48 + 4 * TotalAHSLength + DataSegmentLength bytes, padded
# to 4, plus 4 per digest.
retrans=$(tshark_cap -Y 'tcp.analysis.retransmission || tcp.analysis.out_of_order' \
	-T fields -e frame.number | wc -l)
if [ "$retrans" -ne 0 ]; then
	msg "$retrans retransmitted or out-of-order segments: byte accounting skipped"
else
	read -r tcp_bytes pdu_bytes < <(tshark_cap -T fields -E occurrence=a -E aggregator=, \
		-e tcp.len -e iscsi.totalahslength -e iscsi.datasegmentlength \
		-e iscsi.headerdigest32 -e iscsi.datadigest32 |
		awk -F '\t' '{
			tcp += $1
			n = split($2, ahs, ","); split($3, dsl, ",")
			for (i = 1; i <= n; i++) {
				l = 48 + 4 * ahs[i] + dsl[i]
				pdu += l + (4 - l % 4) % 4
			}
			if ($4 != "") pdu += 4 * split($4, x, ",")
			if ($5 != "") pdu += 4 * split($5, x, ",")
		} END { printf "%d %d\n", tcp, pdu }')
	if [ "$tcp_bytes" -ne "$pdu_bytes" ]; then
		echo "$TEST_NAME: $tcp_bytes bytes of TCP payload but $pdu_bytes bytes in decoded iSCSI PDUs" >&2
		status=1
	else
		msg "all $tcp_bytes bytes of TCP payload are in decoded iSCSI PDUs"
	fi
fi

# Known false positive, stated rather than hidden: tshark's SCSI dissector
# walks the mode pages of a MODE SENSE(6) response up to the Mode Data Length
# and throws on a page header that runs past the data, even when the data
# stops there because the CDB's allocation length cut it (SPC-4 4.2.5.6: the
# device server returns min(allocation length, available) bytes; not an
# error). Such a frame is excused only when all of this holds: the malformed
# layer is SCSI; the frame's only PDU is a final Data-In with status GOOD,
# no residual, and nothing after its data segment; its command is MODE
# SENSE(6) whose allocation length equals the data segment length, and that
# is less than the Mode Data Length + 1. CAPTURE_CLEAN_STRICT=1 counts it.
cat >"$TEST_TMP/excuse.py" <<'EOF'
import sys
import xml.etree.ElementTree as ET

def protos(pkt):
    # tshark wraps loose items (a PDU's flags, say) in a fake-field-wrapper.
    return [p for p in pkt if p.tag == "proto" and p.get("name") != "fake-field-wrapper"]

def fields(proto):
    return {f.get("name"): f.get("show") for f in proto.iter("field")}

def explain(frame, pkts):
    pkt = pkts[frame]
    ps = protos(pkt)
    names = [p.get("name") for p in ps]
    mal = [p for p in ps if p.get("name") == "_ws.malformed"]
    if not mal or mal[0].get("showname") != "[Malformed Packet: SCSI]":
        return None, "the malformed layer is not SCSI"
    if names.count("iscsi") != 1 or names.count("scsi") != 1:
        return None, "not exactly one iSCSI PDU with a SCSI payload in the frame"
    i = names.index("iscsi")
    if names[i + 1:] != ["scsi", "_ws.malformed"]:
        return None, "layers after the iSCSI PDU are %s" % names[i + 1:]
    tcp, pdu, scsi = fields(ps[names.index("tcp")]), fields(ps[i]), fields(ps[i + 1])
    dsl = int(pdu.get("iscsi.datasegmentlength", "-1"))
    if pdu.get("iscsi.opcode") != "0x25" or pdu.get("iscsi.scsidata.F") != "1" \
            or pdu.get("iscsi.scsidata.S") != "1" or pdu.get("iscsi.scsiresponse.status") != "0x00" \
            or pdu.get("iscsi.scsidata.readresidualcount") != "0":
        return None, "not a final Data-In with status GOOD and no residual"
    if int(tcp.get("tcp.len", "-1")) != 48 + dsl + (-dsl % 4):
        return None, "the TCP segment holds more than this one PDU"
    ops = [v for k, v in scsi.items() if k.endswith(".opcode")]
    if ops != ["0x1a"]:
        return None, "the SCSI command is %s, not MODE SENSE(6)" % ops
    mdl = int(scsi.get("scsi.cdb.mode.mode_data_length", "-1"))
    req = pdu.get("iscsi.request_frame")
    if req is None or int(req) not in pkts:
        return None, "the command frame is unknown"
    alloc = None
    rps = protos(pkts[int(req)])
    for j, p in enumerate(rps):
        f = fields(p)
        if p.get("name") == "iscsi" and f.get("iscsi.opcode") == "0x01" \
                and f.get("iscsi.initiatortasktag") == pdu.get("iscsi.initiatortasktag") \
                and j + 1 < len(rps) and rps[j + 1].get("name") == "scsi":
            alloc = int(fields(rps[j + 1]).get("scsi.cdb.alloclen", "-1"))
    if alloc is None:
        return None, "no MODE SENSE(6) command with this task tag in frame %s" % req
    if dsl != alloc or not dsl < mdl + 1:
        return None, "%d data bytes, allocation length %d, Mode Data Length %d: not a cut response" \
            % (dsl, alloc, mdl)
    return ("MODE SENSE(6) response (command in frame %s) cut at the allocation length: "
            "%d of %d bytes; tshark's SCSI dissector reads a mode page header past the data"
            % (req, dsl, mdl + 1)), None

def main():
    pdml, frames = sys.argv[1], [int(f) for f in sys.argv[2:]]
    pkts = {}
    for pkt in ET.parse(pdml).getroot().iter("packet"):
        for p in protos(pkt):
            if p.get("name") == "frame":
                pkts[int(fields(p)["frame.number"])] = pkt
    bad = 0
    for f in frames:
        why, whynot = explain(f, pkts)
        if why:
            print("excused %d %s" % (f, why))
        else:
            print("unexplained %d %s" % (f, whynot))
            bad += 1
    return 1 if bad else 0

sys.exit(main())
EOF

# (b) no malformed packet, and (c) no expert info of severity error (malformed
# packets are among these, and so is anything the iSCSI or SCSI dissectors
# flag as an error).
mapfile -t malformed < <(tshark_cap -Y '_ws.malformed' -T fields -e frame.number)
# One line per error: frame, message. (A frame's expert items come as lists,
# errors and warnings together; 0x00800000 is tshark's PI_ERROR severity.)
tshark_cap -Y '_ws.expert.severity == 0x00800000' -T fields -E occurrence=a -E aggregator='|' \
	-e frame.number -e _ws.expert.severity -e _ws.expert.message |
	awk -F '\t' '{
		n = split($2, sev, "|"); split($3, text, "|")
		for (i = 1; i <= n; i++)
			if (sev[i] == 8388608) printf "%s\t%s\n", $1, text[i]
	}' >"$TEST_TMP/experts.txt"
declare -A excused=()
if [ "${#malformed[@]}" -gt 0 ]; then
	# The malformed frames and the frames of their commands, comma-separated.
	list=$({
		printf '%s\n' "${malformed[@]}"
		tshark_cap -Y '_ws.malformed' -T fields -E occurrence=a -e iscsi.request_frame | tr ',' '\n'
	} | grep . | sort -un | paste -sd, -)
	tshark_cap -Y "frame.number in {$list}" -T pdml >"$TEST_TMP/malformed.pdml"
	python3 "$TEST_TMP/excuse.py" "$TEST_TMP/malformed.pdml" "${malformed[@]}" >"$TEST_TMP/excuse.txt" || true
	while read -r verdict frame why; do
		if [ "$verdict" = excused ] && [ "${CAPTURE_CLEAN_STRICT:-0}" != 1 ]; then
			msg "NOT COUNTED: malformed frame $frame, a known tshark false positive: $why"
			excused[$frame]=1
		else
			echo "$TEST_NAME: malformed frame $frame: $why" >&2
		fi
	done <"$TEST_TMP/excuse.txt"
fi
counted=()
for f in "${malformed[@]}"; do
	[ -n "${excused[$f]:-}" ] || counted+=("$f")
done
if [ "${#counted[@]}" -ne 0 ]; then
	echo "$TEST_NAME: ${#counted[@]} malformed packets: ${counted[*]:0:20}" >&2
	show_frames "${counted[@]}"
	status=1
fi

# An excused frame may carry its one "Malformed Packet" error and nothing else.
errors=()
last=
while IFS=$'\t' read -r frame message; do
	[ -n "$frame" ] || continue
	if [ "${excused[$frame]:-}" = 1 ] && [ "$message" = "Malformed Packet (Exception occurred)" ]; then
		excused[$frame]=used
		continue
	fi
	[ "$last" = "$frame" ] || errors+=("$frame")
	last=$frame
	echo "$TEST_NAME: expert error in frame $frame: $message" >&2
done <"$TEST_TMP/experts.txt"
if [ "${#errors[@]}" -ne 0 ]; then
	echo "$TEST_NAME: ${#errors[@]} frames with expert errors" >&2
	show_frames "${errors[@]}"
	status=1
fi

# Warnings are printed, not judged.
tshark_cap -q -z expert,warn >"$TEST_TMP/expert-warn.txt" || true
if grep -q '^Warns' "$TEST_TMP/expert-warn.txt"; then
	msg "expert warnings (not judged):"
	sed -n '/^Warns/,$p' "$TEST_TMP/expert-warn.txt"
fi

if [ "$status" -ne 0 ]; then
	KEEP_TMP=1
	fail "the capture is not clean (kept in $TEST_TMP)"
fi
msg "capture decodes cleanly: all PDU kinds present, no malformed packet (${#excused[@]} known" \
	"tshark false positive(s) not counted, listed above), no expert error"
