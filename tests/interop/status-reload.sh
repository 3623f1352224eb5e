#!/usr/bin/env bash
# initiator-ctl status --json is valid JSON with the documented fields (the
# LUN's counters right after known I/O), and
# initiator-ctl reload applies a changed CHANNEL file without disturbing what
# did not change: a second target's channel added to the file comes up (its LUN
# file appears) and, once removed again, goes, while a verified write workload
# on channel 0 runs on without a single error and channel 0 keeps its session
# (same TSIH) throughout.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp python3 sed timeout
require_isctl

IQN0=iqn.2026-11.org.iscsifs.test:reload0
IQN1=iqn.2026-11.org.iscsifs.test:reload1
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN0"
tgt_add_lun 1 1 32
tgt_bind 1
tgt_add_target 2 "$IQN1"
tgt_add_lun 2 1 16
tgt_bind 2
BACKING0=$(tgt_lun_file 1 1)

ROOT=$TEST_TMP/root
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN0")"
# A map that nobody mounts: status must show it, not mounted.
printf 'DEVICE="0 1 1 disk1a"\n' >"$ISCSIFS_ETC/iscsi_device_maps"
printf 'daemon: {\n\tmount_root = "%s";\n};\n' "$ROOT" >"$ISCSIFS_ETC/iscsifs.conf"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

# Known I/O first, for the LUN's counters: 3 direct reads of 4 KiB, 2 direct
# writes of 8 KiB (of the bytes already there).
python3 - "$MNT/$IQN0/lun1" <<'EOF' || fail "the reads and writes for the LUN's counters failed"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 8192)
for i in range(3):
    assert os.preadv(fd, [memoryview(buf)[:4096]], i * 4096) == 4096
for i in range(2):
    assert os.pwritev(fd, [buf], (1 << 20) + i * 8192) == 8192
os.close(fd)
EOF

# The JSON parses, and has the fields initiator-ctl(8) documents.
ctl status --json >"$TEST_TMP/status.json" || fail "initiator-ctl status --json failed"
python3 -m json.tool "$TEST_TMP/status.json" >"$TEST_TMP/status.pretty" ||
	fail "initiator-ctl status --json is not JSON: $(head -c 2000 "$TEST_TMP/status.json")"
show_on_failure "$TEST_TMP/status.pretty"
python3 - "$TEST_TMP/status.json" "$IQN0" "$TGT_PORT" "$MNT" "$ROOT" <<'EOF' || fail "initiator-ctl status --json lacks documented fields or values (see above)"
import json, re, sys

path, iqn, port, mnt, root = sys.argv[1:]
doc = json.load(open(path))
bad = []

def check(cond, what):
    if not cond:
        bad.append(what)

chs = doc.get("channels")
check(isinstance(chs, list) and len(chs) == 1, "channels: a list of one channel")
ch = chs[0] if chs else {}
check(ch.get("id") == 0, "channels[0].id == 0")
check(ch.get("state") == "running", "channels[0].state == running")
check(ch.get("target") == iqn, "channels[0].target == %s" % iqn)
check("reason" in ch and ch["reason"] is None, "channels[0].reason is null")
sess = ch.get("session") or {}
check(isinstance(sess.get("isid"), str) and re.fullmatch(r"[0-9a-fA-F]{12}", sess.get("isid", "")),
      "session.isid: 12 hex digits")
check(isinstance(sess.get("tsih"), int) and sess.get("tsih", 0) > 0, "session.tsih: a positive number")
conns = ch.get("connections") or []
check(len(conns) == 1, "one connection")
c = conns[0] if conns else {}
check(c.get("cid") == 0, "connections[0].cid == 0")
check(c.get("portal") == "127.0.0.1:%s" % port, "connections[0].portal == 127.0.0.1:%s" % port)
check(c.get("netdev") == "", "connections[0].netdev is empty")
check(c.get("state") == "logged in", "connections[0].state == logged in")
for k in ("commands", "bytes_sent", "bytes_received"):
    check(isinstance(c.get(k), int) and c.get(k) >= 0, "connections[0].%s: a number" % k)
check(c.get("bytes_sent", 0) > 0 and c.get("bytes_received", 0) > 0, "bytes were sent and received")
params = c.get("params")
check(isinstance(params, dict) and isinstance(params.get("MaxRecvDataSegmentLength"), int),
      "connections[0].params has MaxRecvDataSegmentLength")
luns = ch.get("luns") or []
check(len(luns) == 1, "one LUN (tgtd's controller at LUN 0 is left out)")
l = luns[0] if luns else {}
check(l.get("lun") == 1, "luns[0].lun == 1")
check(l.get("file") == "%s/%s/lun1" % (mnt, iqn), "luns[0].file")
check(l.get("size") == 32 << 20, "luns[0].size == 32 MiB")
check(l.get("block_size") == 512, "luns[0].block_size == 512")
check(l.get("vendor") == "IET", "luns[0].vendor == IET (tgtd)")
check(l.get("product") == "VIRTUAL-DISK", "luns[0].product == VIRTUAL-DISK (tgtd)")
check(isinstance(l.get("id"), str), "luns[0].id: a string")
check((l.get("reads"), l.get("read_bytes"), l.get("writes"), l.get("write_bytes")) ==
      (3, 12288, 2, 16384), "luns[0] counted 3 reads of 12288 bytes and 2 writes of 16384, not "
      "%s" % [l.get(k) for k in ("reads", "read_bytes", "writes", "write_bytes")])
check(l.get("scsi_errors") == 0, "luns[0].scsi_errors == 0")
check(l.get("maps") == [{"partition": 1, "name": "disk1a", "mountpoint": "%s/%s/disk1a" % (root, iqn),
                         "mounted": False}], "luns[0].maps: disk1a, not mounted")
for b in bad:
    print("status --json: want " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
ctl status >"$TEST_TMP/status.txt" || fail "initiator-ctl status failed"
grep -q "^channel 0: running" "$TEST_TMP/status.txt" || fail "initiator-ctl status does not show channel 0 running"
grep -q "^    I/O: 3 reads, 12288 bytes; 2 writes, 16384 bytes$" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status does not show the LUN's I/O counts"
msg "status --json parses and has the documented fields"

tsih() {
	ctl status 0 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["session"]["tsih"])'
}
TSIH=$(tsih)

# A verified write workload on channel 0 across the reloads.
start_workload "$MNT/$IQN0/lun1" 16 2

lun_exists() { [ -e "$1" ]; }
lun_absent() { [ ! -e "$1" ]; }

# Reload with nothing changed: nothing happens.
ctl reload || fail "initiator-ctl reload with an unchanged configuration failed"
[ "$(tsih)" = "$TSIH" ] || fail "channel 0's TSIH changed on a reload that changed nothing"

# Reload with a second channel: it starts; channel 0 is left alone.
channel_line 1 "$TGT_PORT" "$IQN1" | sed 's/.*/CHANNEL="&"/' >>"$ISCSIFS_ETC/initiator"
ctl reload || fail "initiator-ctl reload with a new channel 1 failed"
wait_for 30 lun_exists "$MNT/$IQN1/lun1" || fail "channel 1's LUN file did not appear after the reload"
ctl list >"$TEST_TMP/list"
grep -qx "1 running $IQN1" "$TEST_TMP/list" || fail "initiator-ctl list after the reload: $(cat "$TEST_TMP/list")"
timeout -k 10 60 cmp "$MNT/$IQN1/lun1" "$(tgt_lun_file 2 1)" || fail "channel 1's LUN does not read as its backing file"
[ "$(tsih)" = "$TSIH" ] || fail "channel 0's TSIH changed when channel 1 was added"
msg "reload: channel 1 is up; channel 0 kept TSIH $TSIH"

# Reload without it: it stops and its files go; channel 0 is still left alone.
sed -i '/^CHANNEL="1 /d' "$ISCSIFS_ETC/initiator"
ctl reload || fail "initiator-ctl reload without channel 1 failed"
wait_for 30 lun_absent "$MNT/$IQN1/lun1" || fail "channel 1's LUN file is still there after it was removed"
ctl list >"$TEST_TMP/list"
! grep -q '^1 ' "$TEST_TMP/list" || fail "channel 1 is still listed after it was removed: $(cat "$TEST_TMP/list")"
[ "$(tsih)" = "$TSIH" ] || fail "channel 0's TSIH changed when channel 1 was removed"
msg "reload: channel 1 is gone; channel 0 kept TSIH $TSIH"

# The workload stops on its own after 150 passes: make sure it spanned the reloads.
pid_gone "$WORKLOAD_PID" && fail "the workload ended before the reloads were done; nothing was measured"

wait_more_passes 2
finish_workload
[ "$(tsih)" = "$TSIH" ] || fail "channel 0's TSIH changed during the test"
stop_iscsifs_checked
timeout -k 10 60 cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING0" ||
	fail "channel 0's backing file lacks acknowledged writes"
msg "the workload on channel 0 ran through both reloads without an error"
