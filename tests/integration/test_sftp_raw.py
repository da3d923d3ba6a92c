"""sftp plugin against a raw SFTP client: crafted packets written to
`ssh -s ... sftp` (the OpenSSH client as transport).

Malformed input (length 0 / 2^32-1 / over the limit, truncated fields, bad
handles, NUL in names, requests before INIT) gets a status or the channel
is closed; the worker never crashes (same pid afterwards) and another
session still works. 2000 pipelined READs that are never read keep the
worker's RSS bounded.
"""
import os
import select
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

SFTP_ROUTE = {"match": {"kind": "subsystem", "subsystem": "sftp"}, "plugin": "sftp"}

INIT, VERSION, OPEN, CLOSE, READ, WRITE = 1, 2, 3, 4, 5, 6
LSTAT, FSTAT, SETSTAT, OPENDIR, READDIR, REMOVE = 7, 8, 9, 11, 12, 13
REALPATH, STAT, RENAME, READLINK, SYMLINK = 16, 17, 18, 19, 20
STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED, EXTENDED_REPLY = 101, 102, 103, 104, 105, 200, 201
FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERM, FX_FAILURE, FX_BAD_MESSAGE, FX_UNSUPPORTED = \
    0, 1, 2, 3, 4, 5, 8
PF_READ, PF_WRITE, PF_CREAT, PF_TRUNC = 1, 2, 8, 0x10


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def frame(body):
    return struct.pack(">I", len(body)) + body


class Raw:
    def __init__(self, gw, user):
        argv = ["ssh"] + gw.ssh_opts(user) + ["-s", "%s@127.0.0.1" % user, "sftp"]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.next_id = 1

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def req(self, ptype, body):
        rid = self.next_id
        self.next_id += 1
        self.send(frame(bytes([ptype]) + struct.pack(">I", rid) + body))
        return rid

    def _fill(self, n, timeout):
        end = time.time() + timeout
        fd = self.p.stdout.fileno()
        while len(self.buf) < n:
            left = end - time.time()
            if left <= 0:
                raise TimeoutError("no reply")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv(self, timeout=15):
        """(type, id, rest) or None when the channel ended."""
        if not self._fill(4, timeout):
            return None
        n = struct.unpack(">I", self.buf[:4])[0]
        if not self._fill(4 + n, timeout):
            return None
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        if body[0] == VERSION:
            return VERSION, None, body[1:]
        return body[0], struct.unpack(">I", body[1:5])[0], body[5:]

    def init(self):
        self.send(frame(bytes([INIT]) + struct.pack(">I", 3)))
        t, _, rest = self.recv()
        assert t == VERSION, t
        return rest

    def status(self, rid, timeout=15):
        t, got, rest = self.recv(timeout)
        assert got == rid, (got, rid)
        assert t == STATUS, "expected STATUS, got %d" % t
        code = struct.unpack(">I", rest[:4])[0]
        mlen = struct.unpack(">I", rest[4:8])[0]
        return code, rest[8:8 + mlen].decode(errors="replace")

    def open(self, path, pflags):
        rid = self.req(OPEN, s(path) + struct.pack(">II", pflags, 0))
        t, got, rest = self.recv()
        assert got == rid and t == HANDLE, (t, rest)
        return rest[4:4 + struct.unpack(">I", rest[:4])[0]]

    def ended(self, timeout=15):
        """True when the server closed the channel (stdout EOF)."""
        try:
            while True:
                if self.recv(timeout) is None:
                    return True
        except TimeoutError:
            return False

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


class TestSftpRaw(unittest.TestCase):
    def setUp(self):
        sgtest.require_build(self)
        if not (sgtest.PLUGIN_DIR / "sftp.so").exists():
            raise unittest.SkipTest("sftp.so not built")
        self.gw = sgtest.Gateway(self, plugins=[{"name": "sftp",
                                                 "config": {"root": "sftp/%u", "max_handles": 8}}],
                                 routes=[SFTP_ROUTE], users={"u1": {"key": True}}, workers=1,
                                 config={"log": {"level": int(os.environ.get("SFTP_TEST_LOG", "2"))}})
        self.gw.start()
        self.root = self.gw.tmp / "sftp" / "u1"
        self.raws = []
        r = self.raw()  # creates the root
        r.init()
        self.workers = self.gw.worker_pids()

    def tearDown(self):
        for r in self.raws:
            r.close()

    def raw(self):
        r = Raw(self.gw, "u1")
        self.raws.append(r)
        return r

    def assert_alive(self):
        self.assertIsNone(self.gw.proc.poll(), "sshgated exited")
        self.assertEqual(self.gw.worker_pids(), self.workers, "a worker died and was replaced")
        r = self.raw()
        r.init()
        rid = r.req(REALPATH, s("."))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (NAME, rid))
        self.assertIn(b"\x00\x00\x00\x01/", rest[4:9])

    def test_bad_lengths_close_channel(self):
        for bad in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", struct.pack(">I", 256 * 1024 + 1)):
            r = self.raw()
            r.init()
            r.send(bad + b"\x05" * 16)
            self.assertTrue(r.ended(), "channel not closed after length %r" % bad)
        self.assert_alive()

    def test_request_before_init(self):
        r = self.raw()
        r.req(REALPATH, s("."))
        self.assertTrue(r.ended())
        self.assert_alive()

    def test_truncated_fields(self):
        r = self.raw()
        r.init()
        # OPEN whose path claims 100 bytes but carries 3
        rid = r.req(OPEN, struct.pack(">I", 100) + b"abc")
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        # OPEN without pflags/attrs
        rid = r.req(OPEN, s("x"))
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        # READ with a handle but no offset
        rid = r.req(READ, s("12345678"))
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        # attrs with an absurd extended count
        rid = r.req(SETSTAT, s("f") + struct.pack(">II", 0x80000000, 0xffffffff))
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        # unknown type and unknown extension
        rid = r.req(77, b"")
        self.assertEqual(r.status(rid)[0], FX_UNSUPPORTED)
        rid = r.req(EXTENDED, s("nope@example.com"))
        self.assertEqual(r.status(rid)[0], FX_UNSUPPORTED)
        # a packet without even an id ends the session
        r.send(frame(bytes([READ])))
        self.assertTrue(r.ended())
        self.assert_alive()

    def test_bad_handles(self):
        r = self.raw()
        r.init()
        for h in (b"", b"xyz", b"\x00" * 8, b"\xff" * 8, b"A" * 300):
            rid = r.req(READ, s(h) + struct.pack(">QI", 0, 10))
            self.assertEqual(r.status(rid)[0], FX_FAILURE)
            rid = r.req(CLOSE, s(h))
            self.assertIn(r.status(rid)[0], (FX_FAILURE, FX_BAD_MESSAGE))
        (self.root / "f").write_bytes(b"data")
        h = r.open("f", PF_READ)
        rid = r.req(CLOSE, s(h))
        self.assertEqual(r.status(rid)[0], FX_OK)
        # stale handle after close
        rid = r.req(READ, s(h) + struct.pack(">QI", 0, 10))
        self.assertEqual(r.status(rid)[0], FX_FAILURE)
        # a file handle is not a directory handle
        h = r.open("f", PF_READ)
        rid = r.req(READDIR, s(h))
        self.assertEqual(r.status(rid)[0], FX_FAILURE)
        self.assert_alive()

    def test_read_clamped_and_handle_cap(self):
        (self.root / "big").write_bytes(os.urandom(1024 * 1024))
        r = self.raw()
        r.init()
        h = r.open("big", PF_READ)
        rid = r.req(READ, s(h) + struct.pack(">QI", 0, 0xffffffff))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (DATA, rid))
        self.assertEqual(struct.unpack(">I", rest[:4])[0], 261120)
        rid = r.req(READ, s(h) + struct.pack(">QI", 1 << 40, 100))
        self.assertEqual(r.status(rid)[0], FX_EOF)
        rid = r.req(EXTENDED, s("limits@openssh.com"))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (EXTENDED_REPLY, rid))
        self.assertEqual(struct.unpack(">QQQQ", rest[:32]), (262144, 261120, 261120, 8))
        for _ in range(7):
            r.open("big", PF_READ)
        rid = r.req(OPEN, s("big") + struct.pack(">II", PF_READ, 0))
        code, msg = r.status(rid)
        self.assertEqual(code, FX_FAILURE)
        self.assertIn("handles", msg)

    def test_nul_in_names(self):
        r = self.raw()
        r.init()
        for ptype, body in ((OPEN, s(b"a\x00b") + struct.pack(">II", PF_WRITE | PF_CREAT, 0)),
                            (REMOVE, s(b"x\x00")), (STAT, s(b"\x00")),
                            (SYMLINK, s(b"t\x00../../etc") + s(b"l")),
                            (RENAME, s(b"a") + s(b"b\x00c"))):
            rid = r.req(ptype, body)
            self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        self.assertEqual(sorted(os.listdir(self.root)), [])
        self.assert_alive()

    def test_rename_no_overwrite_and_posix_rename(self):
        (self.root / "a").write_bytes(b"A")
        (self.root / "b").write_bytes(b"B")
        r = self.raw()
        r.init()
        rid = r.req(RENAME, s("a") + s("b"))
        self.assertEqual(r.status(rid)[0], FX_FAILURE)
        self.assertEqual((self.root / "b").read_bytes(), b"B")
        rid = r.req(EXTENDED, s("posix-rename@openssh.com") + s("a") + s("b"))
        self.assertEqual(r.status(rid)[0], FX_OK)
        self.assertEqual((self.root / "b").read_bytes(), b"A")
        rid = r.req(RENAME, s("b") + s("c"))
        self.assertEqual(r.status(rid)[0], FX_OK)
        rid = r.req(RENAME, s("/") + s("x"))
        self.assertEqual(r.status(rid)[0], FX_PERM)

    def test_readlink_hides_host_paths(self):
        outside = self.gw.tmp / "outside"
        outside.mkdir()
        os.symlink(str(outside), self.root / "evil")
        os.symlink(str(self.root / "in"), self.root / "abs_in")
        os.symlink("target", self.root / "rel")
        r = self.raw()
        r.init()
        rid = r.req(READLINK, s("evil"))
        code, msg = r.status(rid)
        self.assertEqual(code, FX_PERM)
        self.assertNotIn(str(self.gw.tmp), msg)
        rid = r.req(READLINK, s("abs_in"))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (NAME, rid))
        self.assertIn(s("/in"), rest)
        self.assertNotIn(str(self.gw.tmp).encode(), rest)
        rid = r.req(READLINK, s("rel"))
        t, got, rest = r.recv()
        self.assertIn(s("target"), rest)
        # errors never carry host paths either
        rid = r.req(OPEN, s("evil/x") + struct.pack(">II", PF_READ, 0))
        code, msg = r.status(rid)
        self.assertEqual(code, FX_PERM)
        self.assertNotIn(str(self.gw.tmp), msg)

    def test_pipelined_reads_memory_bounded(self):
        (self.root / "big").write_bytes(os.urandom(8 * 1024 * 1024))
        pid = self.workers[0]
        rss0 = rss_kb(pid)
        r = self.raw()
        r.init()
        h = r.open("big", PF_READ)
        blob = b"".join(frame(bytes([READ]) + struct.pack(">I", 1000 + i) + s(h) +
                              struct.pack(">QI", (i * 261120) % (8 * 1024 * 1024), 261120))
                        for i in range(2000))
        r.send(blob)  # ~70 KB of requests asking for ~500 MB; replies never read
        peak = 0
        for _ in range(20):
            time.sleep(0.15)
            peak = max(peak, rss_kb(pid))
        sys.stderr.write("worker RSS %d KiB before, peak %d KiB with 2000 unread READs\n"
                         % (rss0, peak))
        self.assertLess(peak - rss0, 48 * 1024, "worker RSS grew by %d KiB" % (peak - rss0))
        # the session still works when the client finally reads
        n = 0
        while n < 2000:
            t, got, rest = r.recv(30)
            self.assertEqual(t, DATA)
            n += 1
        r.close()
        self.assert_alive()

    def test_abandoned_pipeline(self):
        (self.root / "big").write_bytes(os.urandom(4 * 1024 * 1024))
        r = self.raw()
        r.init()
        h = r.open("big", PF_READ)
        r.send(b"".join(frame(bytes([READ]) + struct.pack(">I", i) + s(h) +
                              struct.pack(">QI", 0, 261120)) for i in range(500)))
        time.sleep(0.5)
        r.p.kill()  # vanish with replies queued
        r.p.wait()
        time.sleep(0.5)
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
