"""The conformance tests' harness: a temporary directory, scripted targets (iscsi_target.py),
the iscsifs daemon started with a configuration that points at them and mounted with FUSE,
I/O on its LUN files, and a verdict with automake's exit codes (0 pass, 1 fail, 77 skip,
99 hard error). A test is one function of a Test:

    import conformance as c

    def main(t):
        tgt = t.target(answers={"MaxRecvDataSegmentLength": "4096"})
        d = t.daemon(tgt)
        d.start()
        d.write(0, bytes(65536))
        t.check(all(p.dsl <= 4096 for p in tgt.received(c.OP_DATA_OUT)), "...")

    c.run(main)

At the end every target's list of violations must be empty (t.allow_violations() for a test
that expects some), every daemon is stopped and must have exited with status 0 (a sanitizer
report makes it non-zero), and on failure the daemon's log, the target's log and the last PDUs
of the trace are printed.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from iscsi_target import *   # noqa: F401,F403 (the tests use its names through this module)
from iscsi_target import Target, OPCODE_NAMES, initial_content

PASS, FAIL, SKIP, HARD_ERROR = 0, 1, 77, 99
INITIATOR_IQN = "iqn.2026-11.org.iscsifs.test:initiator"
TEST_TIMEOUT = 120          # seconds a whole test may take
DEFAULT_ATTRS = "nopout_timeout=0;login_timeout=5"
# A test that makes the initiator log in again negotiates DefaultTime2Wait down to nothing
# (the initiator then waits 1 s): the key on the CHANNEL line and the target's preference.
QUICK = ";DefaultTime2Wait=0"
QUICK_PREFS = {"DefaultTime2Wait": "0"}


class Failed(Exception):
    pass


class Skipped(Exception):
    pass


def is_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Channel:
    """One CHANNEL line of the daemon's configuration, for a target on 127.0.0.1."""

    def __init__(self, target, keys="AuthMethod=None", attrs=DEFAULT_ATTRS, conns=1, ident=0,
                 iqn=True, port=None):
        self.target = target
        self.keys = keys
        self.attrs = attrs
        self.conns = conns
        self.ident = ident
        self.iqn = target.iqn if iqn is True else iqn
        self.port = port or target.port

    def line(self):
        s = "%d %d 127.0.0.1 %d 0 %s %s" % (self.ident, self.conns, self.port, self.keys,
                                           self.attrs)
        if self.iqn:
            s += " " + self.iqn
        return s


class Daemon:
    """iscsifs in the foreground, its log in the test's directory."""

    def __init__(self, test, channels, auth=None, name="d", args=()):
        self.t = test
        self.args = list(args)
        self.channels = channels
        self.name = name
        self.etc = os.path.join(test.tmp, "etc-" + name)
        self.mnt = os.path.join(test.tmp, "mnt-" + name)
        self.log_path = os.path.join(test.tmp, "iscsifs-%s.log" % name)
        self.proc = None
        self.status = None
        self.fds = {}
        self.fd_lock = threading.Lock()
        os.makedirs(self.etc, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)
        for f in ("iscsifs.conf", "iscsi_device_maps"):
            open(os.path.join(self.etc, f), "w").close()
        with open(os.path.join(self.etc, "initiatorname.iscsi"), "w") as f:
            f.write("InitiatorName=%s\n" % INITIATOR_IQN)
        with open(os.path.join(self.etc, "initiator"), "w") as f:
            for ch in channels:
                f.write('CHANNEL="%s"\n' % ch.line())
        if auth:
            p = os.path.join(self.etc, "initiator_auth")
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                for line in auth:
                    f.write('AUTH="%s"\n' % line)
        test.show_on_failure(self.log_path)

    def spawn(self):
        cmd = [self.t.iscsifs, "-f", "--log-level=debug",
               "--config=%s/iscsifs.conf" % self.etc, "--initiator=%s/initiator" % self.etc,
               "--auth=%s/initiator_auth" % self.etc,
               "--maps=%s/iscsi_device_maps" % self.etc,
               "--initiatorname=%s/initiatorname.iscsi" % self.etc,
               "--control-socket=%s/control.sock" % self.etc] + self.args + [self.mnt]
        log = open(self.log_path, "w")
        log.write(" ".join(cmd) + "\n")
        log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        self.started = time.monotonic()
        self.t.daemons.append(self)
        return self

    def start(self, timeout=30):
        """Spawn and wait for the mount; fails the test if the daemon exits or times out."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.mnt):
                return self
            if self.proc.poll() is not None:
                self.status = self.proc.returncode
                self.t.fail("the daemon exited with status %d before mounting" % self.status)
            time.sleep(0.05)
        self.t.fail("no mount at %s after %d s" % (self.mnt, timeout))

    def wait_exit(self, timeout):
        """The daemon's exit status once it has exited on its own, or None."""
        try:
            self.status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.status

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def lun_path(self, lun=0, iqn=None):
        iqn = iqn or self.channels[0].iqn or self.channels[0].target.iqn
        return os.path.join(self.mnt, iqn, "lun%d" % lun)

    def _fd(self, lun, iqn):
        key = (lun, iqn)
        with self.fd_lock:
            if key not in self.fds:
                self.fds[key] = os.open(self.lun_path(lun, iqn), os.O_RDWR)
            return self.fds[key]

    def _io(self, fn, timeout):
        box = {}

        def body():
            try:
                box["v"] = fn()
            except OSError as e:
                box["e"] = e
        th = threading.Thread(target=body, daemon=True)
        th.start()
        th.join(timeout)
        if th.is_alive():
            self.t.fail("I/O did not complete within %d s" % timeout)
        if "e" in box:
            raise box["e"]
        return box["v"]

    def read(self, off, n, lun=0, iqn=None, timeout=30):
        """n bytes at off of the LUN file: one FUSE read, one SCSI READ when aligned."""
        fd = self._fd(lun, iqn)
        return self._io(lambda: os.pread(fd, n, off), timeout)

    def write(self, off, data, lun=0, iqn=None, timeout=30):
        fd = self._fd(lun, iqn)
        n = self._io(lambda: os.pwrite(fd, data, off), timeout)
        if n != len(data):
            self.t.fail("short write: %d of %d bytes" % (n, len(data)))

    def check_read(self, off, n, expect, lun=0, what="the LUN", timeout=30):
        got = self.read(off, n, lun, timeout=timeout)
        if got != expect:
            first = next((i for i in range(min(len(got), len(expect)))
                          if got[i] != expect[i]), min(len(got), len(expect)))
            self.t.fail("%s reads other bytes than the target holds (%d bytes at %d; first "
                        "difference at %d)" % (what, n, off, first))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def said(self, pattern):
        return re.search(pattern, self.log()) is not None

    def wait_said(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.said(pattern):
                return True
            time.sleep(0.05)
        return self.said(pattern)

    def close_files(self):
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    def stop(self):
        """Unmount, wait for the daemon to log out and exit; its exit status (137 if it had
        to be killed)."""
        self.close_files()
        if self.proc is None:
            return 0
        if self.proc.poll() is None and is_mounted(self.mnt):
            for cmd in (["umount", self.mnt], ["fusermount3", "-u", self.mnt],
                        ["umount", "-l", self.mnt]):
                if subprocess.call(cmd, stderr=subprocess.DEVNULL, timeout=30) == 0:
                    break
        try:
            self.status = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.status = 137
        if is_mounted(self.mnt):
            subprocess.call(["umount", "-l", self.mnt], stderr=subprocess.DEVNULL)
        if self.status is None:
            self.status = self.proc.returncode
        return self.status

    def stop_checked(self):
        st = self.stop()
        if st != 0:
            self.t.fail("the daemon exited with status %d after umount" % st)


class Capture:
    """dumpcap on the loopback interface for the TCP port of a scripted target, and tshark
    over what it wrote, decoding that port as iSCSI. t.capture(port) starts one."""

    def __init__(self, test, port):
        self.t = test
        self.port = port
        self.path = os.path.join(test.tmp, "capture-%d.pcap" % port)
        self.log_path = os.path.join(test.tmp, "dumpcap-%d.log" % port)
        test.show_on_failure(self.log_path)
        with open(self.log_path, "w") as err:
            self.proc = subprocess.Popen(["dumpcap", "-q", "-P", "-i", "lo", "-B", "64", "-f",
                                          "tcp port %d" % port, "-w", self.path],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        test.captures.append(self)
        self.env = dict(os.environ, WIRESHARK_CONFIG_DIR=os.path.join(test.tmp, "wireshark"))
        os.makedirs(self.env["WIRESHARK_CONFIG_DIR"], exist_ok=True)

        def capturing():
            if self.proc.poll() is not None:
                return True
            with open(self.log_path) as f:
                return "Capturing on" in f.read() and os.path.exists(self.path) and \
                    os.path.getsize(self.path) > 0
        test.wait(capturing, 15, "dumpcap did not start capturing on lo within 15 s")
        if self.proc.poll() is not None:
            with open(self.log_path) as f:
                test.skip("dumpcap cannot capture on lo here: %s" % f.read().strip())

    def stop(self):
        """SIGINT, so that dumpcap writes out what it has; kill after 10 s. It is given a
        moment first to take the last packets (a logout just before) from the kernel."""
        if self.proc.poll() is None:
            time.sleep(0.5)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tshark(self, *args):
        cmd = ["tshark", "-n", "-r", self.path, "-d", "tcp.port==%d,iscsi" % self.port,
               "-o", "iscsi.target_ports:%d" % self.port,
               "-o", "iscsi.desegment_iscsi_messages:TRUE",
               "-o", "tcp.desegment_tcp_streams:TRUE",
               "-o", "iscsi.bogus_pdu_max_data_len:16777215"] + list(args)
        return subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120, text=True).stdout

    def fields(self, *names):
        """{name: every value tshark gives that field, over the whole capture}, from one
        pass; "frame.number" among the names counts the frames."""
        out = {name: [] for name in names}
        args = ["-T", "fields", "-E", "occurrence=a", "-E", "separator=/t"]
        for name in names:
            args += ["-e", name]
        for line in self.tshark(*args).splitlines():
            for name, column in zip(names, line.split("\t")):
                out[name] += [v for v in column.split(",") if v]
        return out

    def check_decodes(self):
        """Fails the test on a frame tshark calls malformed, or whose bytes it does not take
        for iSCSI at all (its dissector passes over a PDU whose header breaks a rule it
        checks, such as a reserved field not zero), showing the first ones."""
        frames = self.tshark("-2", "-Y", "_ws.malformed || (tcp.len > 0 && !iscsi && "
                             "!tcp.reassembled_in)", "-T", "fields", "-e", "frame.number").split()
        if frames:
            self.t.msg(self.tshark("-Y", "frame.number in {%s}" % " ".join(frames[:10]),
                                   "-V", "-x")[-6000:])
        self.t.check(not frames, "%d frames malformed or not decoded as iSCSI: %s" %
                     (len(frames), " ".join(frames[:20])))


def require_capture(t):
    """Skips the test where dumpcap, tshark or the loopback interface are missing."""
    for tool in ("dumpcap", "tshark"):
        if not shutil.which(tool):
            t.skip("%s is not installed" % tool)
    if not os.path.exists("/sys/class/net/lo"):
        t.skip("no loopback interface")


class Test:
    def __init__(self, name):
        self.name = name
        base = os.environ.get("TMPDIR", "/tmp")
        self.tmp = tempfile.mkdtemp(prefix="iscsifs-%s." % name, dir=base)
        self.failure_logs = []
        self.targets = []
        self.daemons = []
        self.captures = []
        self.violations_allowed = False
        self.iscsifs = os.environ.get("ISCSIFS") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "iscsifs")
        self.target_log_path = os.path.join(self.tmp, "target.log")
        self.target_log = open(self.target_log_path, "w")
        self.show_on_failure(self.target_log_path)

    # --- verdicts -----------------------------------------------------------------------
    def msg(self, text):
        print("%s: %s" % (self.name, text), flush=True)

    def fail(self, text):
        raise Failed(text)

    def skip(self, text):
        raise Skipped(text)

    def check(self, cond, text):
        if not cond:
            raise Failed(text)

    def allow_violations(self):
        """The test provokes initiator behaviour that the target counts as violations."""
        self.violations_allowed = True

    def show_on_failure(self, path):
        self.failure_logs.append(path)

    # --- parts ----------------------------------------------------------------------------
    def target(self, cls=Target, **kw):
        kw.setdefault("log", self.target_log)
        tgt = cls(**kw)
        self.targets.append(tgt)
        return tgt

    def daemon(self, *targets, keys="AuthMethod=None", attrs=DEFAULT_ATTRS, conns=1,
               auth=None, iqn=True, name=None, channels=None, args=()):
        """A daemon with one channel per target (ids 0, 1, ...), not started yet; args go
        on its command line."""
        if channels is None:
            channels = [Channel(tg, keys=keys, attrs=attrs, conns=conns, ident=i, iqn=iqn)
                        for i, tg in enumerate(targets)]
        return Daemon(self, channels, auth=auth, name=name or "d%d" % (len(self.daemons) + 1),
                      args=args)

    def capture(self, port):
        """A Capture of the traffic to and from port, running until its stop()."""
        return Capture(self, port)

    def expect(self, off, n, lun=0):
        """The initial bytes of a scripted target's LUN."""
        return bytes(initial_content(4 << 20, lun)[off:off + n])

    def parallel(self, fns, timeout=60):
        """Run the functions in threads at once; the first exception is raised here."""
        errors = []

        def wrap(fn):
            try:
                fn()
            except BaseException as e:   # noqa: B902 (reported below)
                errors.append(e)
        ths = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in fns]
        for th in ths:
            th.start()
        deadline = time.monotonic() + timeout
        for th in ths:
            th.join(max(0.1, deadline - time.monotonic()))
            if th.is_alive():
                self.fail("parallel I/O did not complete within %d s" % timeout)
        if errors:
            raise errors[0]

    def wait(self, what, timeout=10.0, text=None):
        """Poll what() every 20 ms until true; fails with text when given and it never is."""
        deadline = time.monotonic() + timeout
        while True:
            v = what()
            if v:
                return v
            if time.monotonic() > deadline:
                if text:
                    self.fail(text)
                return v
            time.sleep(0.02)

    # --- end ----------------------------------------------------------------------------
    def finish(self):
        for d in self.daemons:
            if d.status is None and d.proc is not None:
                st = d.stop()
                if st != 0:
                    self.fail("the daemon exited with status %d after umount" % st)
            if re.search(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                         r"runtime error:", d.log()):
                self.fail("sanitizer report in the daemon's log")
        if not self.violations_allowed:
            for tgt in self.targets:
                if tgt.violations:
                    self.fail("the initiator broke the protocol: " +
                              "; ".join(tgt.violations[:5]))

    def cleanup(self, failed):
        for cap in self.captures:
            cap.stop()
        for d in self.daemons:
            try:
                d.stop()
            except Exception:   # noqa: B902 (cleanup goes on)
                traceback.print_exc()
        for tgt in self.targets:
            tgt.stop()
        self.target_log.close()
        if failed:
            for path in self.failure_logs:
                if not os.path.exists(path):
                    continue
                with open(path, errors="replace") as f:
                    lines = f.readlines()
                sys.stderr.write("\n===== %s =====\n" % path)
                sys.stderr.writelines(lines[-300:])
            for tgt in self.targets:
                sys.stderr.write("\n===== last PDUs of the target on port %d =====\n" % tgt.port)
                for p in tgt.trace[-60:]:
                    sys.stderr.write("  %s conn %d %s itt 0x%08x dsl %d\n" % (
                        "->" if p.sent else "<-", p.conn, p.name, p.itt, p.dsl))
        mounted = any(is_mounted(d.mnt) for d in self.daemons)
        if mounted:
            sys.stderr.write("%s: something is still mounted under %s; not removing it\n" %
                             (self.name, self.tmp))
        elif os.environ.get("KEEP_TMP") == "1":
            sys.stderr.write("%s: kept %s\n" % (self.name, self.tmp))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def pattern(n, seed=1):
    """n bytes of deterministic pseudo-random data to write."""
    import random
    return random.Random(seed).randbytes(n)


def expect_login_failure(t, tgt, reason, keys="AuthMethod=None", auth=None, timeout=30):
    """The daemon must refuse to start: it exits non-zero, nothing is mounted, and its log
    gives the reason (a regular expression)."""
    d = t.daemon(tgt, keys=keys, auth=auth)
    d.spawn()
    st = d.wait_exit(timeout)
    t.check(st is not None, "the daemon still runs %d s after a login it must refuse" % timeout)
    t.check(st != 0, "the daemon started although the login must fail")
    t.check(not is_mounted(d.mnt), "mounted although the login must fail")
    t.check(d.said(reason), "the daemon's log does not give the reason (%s)" % reason)
    return d


def _timeout(signum, frame):
    raise Failed("the test took more than %d s" % TEST_TIMEOUT)


def run(fn):
    """Run one test function and exit with its verdict."""
    name = os.path.basename(sys.argv[0])
    if name.endswith(".py"):
        name = name[:-3]
    if os.geteuid() != 0:
        print("%s: SKIP: must run as root (FUSE mounts)" % name, file=sys.stderr)
        sys.exit(SKIP)
    if not os.path.exists("/dev/fuse"):
        print("%s: SKIP: no /dev/fuse (modprobe fuse?)" % name, file=sys.stderr)
        sys.exit(SKIP)
    started = time.monotonic()
    t = Test(name)
    if not os.access(t.iscsifs, os.X_OK):
        print("%s: ERROR: daemon binary '%s' is missing: build first" % (name, t.iscsifs),
              file=sys.stderr)
        sys.exit(HARD_ERROR)
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TEST_TIMEOUT)
    status = PASS
    try:
        fn(t)
        t.finish()
    except Skipped as e:
        print("%s: SKIP: %s" % (name, e), file=sys.stderr)
        status = SKIP
    except Failed as e:
        print("%s: FAIL: %s" % (name, e), file=sys.stderr)
        status = FAIL
    except Exception:   # noqa: B902 (a bug in the test is a hard error)
        traceback.print_exc()
        status = HARD_ERROR
    signal.alarm(0)
    t.cleanup(status not in (PASS, SKIP))
    if status == PASS:
        print("%s: PASS (%.1f s)" % (name, time.monotonic() - started))
    sys.exit(status)
