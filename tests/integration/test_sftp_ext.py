"""sftp plugin: the OpenSSH extensions copy-data, home-directory and
users-groups-by-id@openssh.com.

Through the real OpenSSH sftp client: `cp` (server-side copy; sha256 checked
for empty, small and multi-slice files), `cp` refused on a read-only route
and with "deny": ["copy"], `cp` of a missing file, and `ls -l`, whose owner
and group columns the client now fills from users-groups-by-id (compared
with OpenSSH's own sftp-server on the same directory).

Raw packets (the Raw client of test_sftp_raw.py) for what the client never
sends: ranges (length 0 = to the end, past the end, offsets past the end,
an O_APPEND target), bad/stale/directory handles, the same file on both
sides, handles without the needed access, truncated requests, a copy
across file systems that runs out of space; replies stay
in request order while a copy runs, other sessions on the worker are served
in the middle of a 256 MiB copy, EOF right behind a copy, a client vanishing
mid-copy; home-directory
for the own and other users; users-groups-by-id names only ids the session
was shown, with its bounds.
"""
import os
import re
import select
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402
from test_sftp_raw import (ATTRS, CLOSE, EXTENDED, EXTENDED_REPLY, FX_BAD_MESSAGE,  # noqa: E402
                           FX_FAILURE, FX_NO_SUCH_FILE, FX_OK, FX_PERM, HANDLE, LSTAT, NAME,
                           OPENDIR, PF_CREAT, PF_READ, PF_TRUNC, PF_WRITE, READDIR, REALPATH,
                           STAT, Raw, s)

from test_sftp import SftpBase, sha  # noqa: E402

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
PF_APPEND = 4
MIB = 1024 * 1024


def copy_body(rh, roff, length, wh, woff):
    return s("copy-data") + s(rh) + struct.pack(">QQ", roff, length) + s(wh) + struct.pack(">Q", woff)


def ugid_body(uids, gids):
    return (s("users-groups-by-id@openssh.com") + s(b"".join(struct.pack(">I", u) for u in uids))
            + s(b"".join(struct.pack(">I", g) for g in gids)))


def strings(b):
    """The strings packed in b."""
    out = []
    while b:
        n = struct.unpack(">I", b[:4])[0]
        out.append(b[4:4 + n].decode())
        b = b[4 + n:]
    return out


class Base(SftpBase):
    def setUp(self):
        super().setUp()  # gateway with the sftp route, root created
        self.raws = []
        self.addCleanup(self.close_raws)
        self.workers = self.gw.worker_pids()

    def close_raws(self):
        for r in self.raws:
            r.close()

    def raw(self):
        r = Raw(self.gw, "u1")
        self.raws.append(r)
        r.init()
        return r

    def assert_alive(self):
        self.assertIsNone(self.gw.proc.poll(), "sshgated exited")
        self.assertEqual(self.gw.worker_pids(), self.workers, "a worker died and was replaced")
        self.assertNotIn("died from signal", self.gw.log())
        r = self.raw()
        rid = r.req(REALPATH, s("."))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (NAME, rid))

    def audit(self, op):
        return [line for line in self.gw.log().splitlines() if "op=%s " % op in line]


class TestCopyClient(Base):
    def test_cp_sizes(self):
        # 9 MiB + 3 needs three slices of ~4 MiB (continued from the loop)
        for name, size in (("empty", 0), ("one", 1), ("small", 100 * 1024 + 7),
                           ("big", 9 * MIB + 3)):
            (self.root / name).write_bytes(os.urandom(size))
            self.sftp("cp %s %s.copy\n" % (name, name))
            self.assertEqual(sha(self.root / ("%s.copy" % name)), sha(self.root / name), name)
            self.assertEqual((self.root / ("%s.copy" % name)).stat().st_size, size)
            self.assertTrue(any(re.search(r"path=\W?/%s\W? path2=\W?/%s\.copy\W? bytes=%d "
                                          r"result=\W?ok" % (name, name, size), line)
                                for line in self.audit("copy")),
                            "no audit event for the copy of %s:\n%s" % (name, self.audit("copy")))
        # onto a longer file (the client truncates it), into a subdirectory
        (self.root / "d").mkdir()
        (self.root / "long").write_bytes(os.urandom(200000))
        self.sftp("cp small long\ncp big d/big\n")
        self.assertEqual(sha(self.root / "long"), sha(self.root / "small"))
        self.assertEqual(sha(self.root / "d" / "big"), sha(self.root / "big"))

    def test_cp_missing_source(self):
        r = self.sftp("cp nope x\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"No such file", r.stderr)
        self.assertFalse((self.root / "x").exists())
        # a directory is no source either
        (self.root / "dir").mkdir()
        r = self.sftp("cp dir y\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse((self.root / "y").exists())
        self.sftp("pwd\n")
        self.assert_alive()


class TestCopyReadOnly(Base):
    route_config = {"read_only": True}

    def test_cp_refused(self):
        (self.root / "f").write_bytes(b"data")
        (self.root / "g").write_bytes(b"other")
        r = self.sftp("cp f f2\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"ermission denied", r.stderr)
        self.assertEqual(sorted(os.listdir(self.root)), ["f", "g"])
        # no handle open for writing can exist; two read handles are refused
        # by the policy before anything else
        r = self.raw()
        h1, h2 = r.open("f", PF_READ), r.open("g", PF_READ)
        rid = r.req(EXTENDED, copy_body(h1, 0, 0, h2, 0))
        self.assertEqual(r.status(rid)[0], FX_PERM)
        self.assertEqual((self.root / "g").read_bytes(), b"other")
        self.assertTrue(any("Permission denied" in line for line in self.audit("copy")),
                        self.audit("copy"))


class TestCopyDenied(Base):
    route_config = {"deny": ["copy"]}

    def test_cp_denied(self):
        (self.root / "f").write_bytes(b"data")
        r = self.sftp("cp f f2\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"ermission denied", r.stderr)
        # the client created the target before asking for the copy
        self.assertEqual((self.root / "f2").read_bytes(), b"")
        self.assertTrue(any("Permission denied" in line for line in self.audit("copy")),
                        self.audit("copy"))
        # everything else still works
        (self.local / "up").write_bytes(b"up")
        self.sftp("put up up\n")
        self.assertEqual((self.root / "up").read_bytes(), b"up")


def need_root(test):
    if os.getuid() != 0:
        test.skipTest("chown needs root")


class TestCopyCrossDevice(Base):
    def test_cross_device_and_enospc(self):
        # a 1 MiB tmpfs inside the root: copy_file_range refuses to cross
        # file systems (EXDEV), the copy goes through a buffer; and it fills up
        small = self.root / "small"
        small.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "sgtest",
                            str(small)], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (needs root): %s" % r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", str(small)], capture_output=True)
        (self.root / "little").write_bytes(os.urandom(300000))
        (self.root / "big").write_bytes(os.urandom(2 * MIB))
        self.sftp("cp little small/little\n")
        self.assertEqual(sha(small / "little"), sha(self.root / "little"))
        self.assertTrue(any("path2=/small/little bytes=300000 result=ok" in line
                            for line in self.audit("copy")), self.audit("copy"))
        raw = self.raw()
        rh = raw.open("big", PF_READ)
        wh = raw.open("small/big", PF_WRITE | PF_CREAT | PF_TRUNC)
        rid = raw.req(EXTENDED, copy_body(rh, 0, 0, wh, 0))
        code, msg = raw.status(rid)
        self.assertEqual((code, msg), (FX_FAILURE, "No space left on device"))
        got = (small / "big").stat().st_size
        self.assertTrue(0 < got < 2 * MIB, got)
        self.assertEqual((small / "big").read_bytes(), (self.root / "big").read_bytes()[:got])
        self.assertTrue(any(re.search(r"path2=/small/big bytes=%d result=\W?No space" % got, line)
                            for line in self.audit("copy")), self.audit("copy"))
        raw.close()
        self.raws.remove(raw)
        (small / "big").unlink()
        self.assert_alive()


class TestLsNames(Base):
    def test_ls_l_names(self):
        need_root(self)
        (self.root / "mine").write_bytes(b"x" * 1234)
        (self.root / "nobodys").write_bytes(b"y" * 10)
        (self.root / "unknown").write_bytes(b"z")
        os.chown(self.root / "nobodys", 65534, 65534)
        os.chown(self.root / "unknown", 4242, 4243)
        import grp
        import pwd
        owner, group = pwd.getpwuid(65534).pw_name, grp.getgrgid(65534).gr_name
        me, mygroup = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        batch = "ls -l\nls -l nobodys\n"
        out = self.sftp(batch).stdout.decode()
        # the client formats the line itself from the attributes ("?" links)
        # with the names users-groups-by-id gave it
        self.assertRegex(out, r"(?m)^-rw-r--r--\s+\?\s+%s\s+%s\s+10 .*nobodys$" % (owner, group))
        self.assertRegex(out, r"(?m)^-rw-r--r--\s+\?\s+%s\s+%s\s+1234 .*mine$" % (me, mygroup))
        self.assertRegex(out, r"(?m)^-rw-r--r--\s+\?\s+4242\s+4243\s+1 .*unknown$")
        self.assertEqual(len(re.findall(r"(?m)^-.*nobodys$", out)), 2)
        # the same as OpenSSH's sftp-server on that directory
        if not os.access(SFTP_SERVER, os.X_OK):
            self.skipTest("no %s to compare with" % SFTP_SERVER)
        ref = subprocess.run(["sftp", "-D", SFTP_SERVER, "-b", "-"], input=batch.encode(),
                             capture_output=True, timeout=60, cwd=str(self.root))
        self.assertEqual(ref.returncode, 0, ref.stderr)
        self.assertEqual(out, ref.stdout.decode())


class TestExtRaw(Base):
    def ext(self, r, body):
        return r.req(EXTENDED, body)

    def test_version_advertises(self):
        r = Raw(self.gw, "u1")
        self.raws.append(r)
        version = r.init()
        for name in ("copy-data", "home-directory", "users-groups-by-id@openssh.com"):
            self.assertIn(s(name) + s("1"), version, name)

    def test_copy_ranges(self):
        src = os.urandom(300000)
        (self.root / "src").write_bytes(src)
        r = self.raw()
        rh = r.open("src", PF_READ)

        def copy(roff, length, woff, name, pflags=PF_WRITE | PF_CREAT | PF_TRUNC):
            wh = r.open(name, pflags)
            rid = self.ext(r, copy_body(rh, roff, length, wh, woff))
            self.assertEqual(r.status(rid), (FX_OK, "Success"), name)
            return (self.root / name).read_bytes()

        self.assertEqual(copy(0, 0, 0, "all"), src)  # length 0: to the end
        self.assertEqual(copy(1000, 5000, 0, "part"), src[1000:6000])
        self.assertEqual(copy(299000, 5000, 0, "tail"), src[299000:])  # stops at the end
        self.assertEqual(copy(400000, 0, 0, "past"), b"")  # nothing to read
        self.assertEqual(copy(400000, 10, 0, "past10"), b"")
        self.assertEqual(copy(0, 100, 50, "hole"), b"\0" * 50 + src[:100])
        # into the middle of an existing file: nothing else changes
        (self.root / "mid").write_bytes(b"A" * 1000)
        self.assertEqual(copy(10, 20, 500, "mid", PF_WRITE), b"A" * 500 + src[10:30] + b"A" * 480)
        # an O_APPEND target (copied through a buffer: copy_file_range refuses it)
        (self.root / "app").write_bytes(b"head")
        self.assertEqual(copy(0, 0, 0, "app", PF_WRITE | PF_APPEND), b"head" + src)
        # READ/WRITE handles work on both sides
        (self.root / "rw").write_bytes(b"")
        rw = r.open("rw", PF_READ | PF_WRITE)
        rid = self.ext(r, copy_body(rh, 0, 7, rw, 0))
        self.assertEqual(r.status(rid)[0], FX_OK)
        self.assertEqual((self.root / "rw").read_bytes(), src[:7])
        # the bytes count in the handles' transfer events too
        self.assertTrue(any("bytes=300000 " in line for line in self.audit("copy")))

    def test_copy_refusals(self):
        (self.root / "a").write_bytes(b"a" * 1000)
        (self.root / "b").write_bytes(b"b" * 1000)
        os.link(self.root / "b", self.root / "b_link")
        (self.root / "dir").mkdir()
        r = self.raw()
        ra = r.open("a", PF_READ)
        wb = r.open("b", PF_WRITE)
        cases = []
        # (handle 0 of generation 0, "\0" * 8, is ra itself)
        for bad in (b"", b"xyz", b"\0\0\0\0\0\0\0\1", b"\xff" * 8, b"A" * 300):
            cases += [(bad, wb, FX_FAILURE), (ra, bad, FX_FAILURE)]
        rid = r.req(OPENDIR, s("dir"))
        t, got, rest = r.recv()
        self.assertEqual(t, HANDLE)
        dh = rest[4:4 + struct.unpack(">I", rest[:4])[0]]
        cases += [(dh, wb, FX_FAILURE), (ra, dh, FX_FAILURE)]
        rwb = r.open("b", PF_READ | PF_WRITE)
        cases += [(rwb, rwb, FX_FAILURE),  # the same handle
                  (rwb, wb, FX_FAILURE),  # two handles of one file
                  (r.open("b_link", PF_READ), wb, FX_FAILURE),  # a hard link of it
                  (wb, r.open("a", PF_WRITE), FX_PERM),  # read side not readable
                  (ra, r.open("a", PF_READ), FX_PERM)]  # write side not writable
        for i, (rh, wh, want) in enumerate(cases):
            rid = self.ext(r, copy_body(rh, 0, 0, wh, 0))
            code, msg = r.status(rid)
            self.assertEqual(code, want, "case %d: %s" % (i, msg))
        # stale handle
        stale = r.open("a", PF_READ)
        rid = r.req(CLOSE, s(stale))
        self.assertEqual(r.status(rid)[0], FX_OK)
        rid = self.ext(r, copy_body(stale, 0, 0, wb, 0))
        self.assertEqual(r.status(rid)[0], FX_FAILURE)
        # offsets that do not fit off_t
        for roff, woff in ((1 << 63, 0), (0, 1 << 63), ((1 << 64) - 1, 0)):
            rid = self.ext(r, copy_body(ra, roff, 0, wb, woff))
            self.assertEqual(r.status(rid)[0], FX_FAILURE)
        # truncated requests
        full = copy_body(ra, 0, 0, wb, 0)
        for cut in (len(s("copy-data")), len(full) - 1, len(full) - 8, len(full) - 20):
            rid = self.ext(r, full[:cut])
            self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE, "cut at %d" % cut)
        rid = self.ext(r, s("copy-data") + struct.pack(">I", 1000) + b"short")
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        self.assertEqual((self.root / "b").read_bytes(), b"b" * 1000)
        self.assertEqual((self.root / "a").read_bytes(), b"a" * 1000)
        self.assert_alive()

    def big_sparse(self, name, size):
        with open(self.root / name, "wb") as f:
            f.truncate(size)
        self.addCleanup(lambda: [p.unlink() for p in self.root.iterdir() if p.is_file()])

    def test_copy_order_and_other_sessions(self):
        size = 256 * MIB
        self.big_sparse("big", size)
        a, b = self.raw(), self.raw()
        rh = a.open("big", PF_READ)
        wh = a.open("big.copy", PF_WRITE | PF_CREAT | PF_TRUNC)
        dst = self.root / "big.copy"
        # pipelined behind the copy: answered after it, in order
        cid = self.ext(a, copy_body(rh, 0, 0, wh, 0))
        pid = a.req(REALPATH, s("x/.."))
        # meanwhile another session on the same worker is served while the
        # copy is under way: a request sent once the copy had started is
        # answered before it is complete (never so if the copy held the loop)
        served = 0
        start = time.time()
        while time.time() - start < 60:
            before = dst.stat().st_size
            rid = b.req(STAT, s("big"))
            t, got, _ = b.recv(60)
            self.assertEqual((t, got), (ATTRS, rid))
            after = dst.stat().st_size
            if 0 < before and after < size:
                served += 1
            if select.select([a.p.stdout], [], [], 0)[0] or after == size:
                break
        code, msg = a.status(cid, timeout=120)
        self.assertEqual(code, FX_OK, msg)
        t, got, rest = a.recv()
        self.assertEqual((t, got), (NAME, pid))
        self.assertEqual(dst.stat().st_size, size)
        sys.stderr.write("%d requests of another session answered during the copy\n" % served)
        self.assertGreater(served, 0, "the worker served nobody else during a 256 MiB copy")

    def test_copy_then_eof(self):
        # the client's last request, then EOF: the copy still ends and is
        # answered before the channel closes
        self.big_sparse("big", 64 * MIB)
        r = self.raw()
        rh = r.open("big", PF_READ)
        wh = r.open("big.copy", PF_WRITE | PF_CREAT | PF_TRUNC)
        cid = self.ext(r, copy_body(rh, 0, 0, wh, 0))
        r.p.stdin.close()
        self.assertEqual(r.status(cid, timeout=60)[0], FX_OK)
        self.assertTrue(r.ended())
        self.assertEqual((self.root / "big.copy").stat().st_size, 64 * MIB)
        self.assertRegex(self.audit("copy")[0], r"bytes=%d result=\W?ok" % (64 * MIB))

    def test_copy_client_vanishes(self):
        self.big_sparse("big", 256 * MIB)
        r = self.raw()
        rh = r.open("big", PF_READ)
        wh = r.open("big.copy", PF_WRITE | PF_CREAT | PF_TRUNC)
        self.ext(r, copy_body(rh, 0, 0, wh, 0))
        end = time.time() + 30
        while (self.root / "big.copy").stat().st_size == 0 and time.time() < end:
            time.sleep(0.001)
        r.p.kill()
        r.p.wait()
        self.assert_alive()
        # either the copy was cut short, or it had just finished
        end = time.time() + 10
        while not self.audit("copy") and time.time() < end:
            time.sleep(0.05)
        events = self.audit("copy")
        self.assertEqual(len(events), 1, events)
        self.assertRegex(events[0], r"result=\W?(Session ended|ok)")

    def test_home_directory(self):
        r = self.raw()
        for user in ("u1", ""):
            rid = self.ext(r, s("home-directory") + s(user))
            t, got, rest = r.recv()
            self.assertEqual((t, got), (NAME, rid))
            self.assertEqual(struct.unpack(">I", rest[:4])[0], 1)
            self.assertEqual(strings(rest[4:4 + 10]), ["/", "/"])
        # another account, existing on the host or not: never its path
        for user in ("root", "nobody", "u2", "u1x", "u", "u1\0"):
            rid = self.ext(r, s("home-directory") + s(user))
            code, msg = r.status(rid)
            self.assertEqual(code, FX_NO_SUCH_FILE, user)
            self.assertNotIn("/", msg)
        rid = self.ext(r, s("home-directory"))
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)
        rid = self.ext(r, s("home-directory") + struct.pack(">I", 10) + b"u1")
        self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE)

    def ugid(self, r, uids, gids):
        rid = self.ext(r, ugid_body(uids, gids))
        t, got, rest = r.recv()
        self.assertEqual((t, got), (EXTENDED_REPLY, rid), rest)
        n = struct.unpack(">I", rest[:4])[0]
        users, rest = rest[4:4 + n], rest[4 + n:]
        m = struct.unpack(">I", rest[:4])[0]
        self.assertEqual(len(rest), 4 + m)
        return strings(users), strings(rest[4:])

    def test_users_groups_by_id(self):
        need_root(self)
        import grp
        import pwd
        (self.root / "f").write_bytes(b"f")
        os.chown(self.root / "f", 65534, 65534)
        (self.root / "g").write_bytes(b"g")
        os.chown(self.root / "g", 4242, 4243)
        nobody, nogroup = pwd.getpwuid(65534).pw_name, grp.getgrgid(65534).gr_name
        r = self.raw()
        self.assertEqual(self.ugid(r, [], []), ([], []))
        # ids never shown to this session have no name, even existing ones
        self.assertEqual(self.ugid(r, [0, 65534], [0, 65534]), (["", ""], ["", ""]))
        r.req(LSTAT, s("f"))
        self.assertEqual(r.recv()[0], ATTRS)
        r.req(STAT, s("g"))
        self.assertEqual(r.recv()[0], ATTRS)
        self.assertEqual(self.ugid(r, [65534, 0, 4242, 65534], [4243, 65534]),
                         ([nobody, "", "", nobody], ["", nogroup]))
        # a listing shows ids too: the root's owner (the daemon's user)
        r.req(OPENDIR, s("/"))
        t, got, rest = r.recv()
        dh = rest[4:4 + struct.unpack(">I", rest[:4])[0]]
        r.req(READDIR, s(dh))
        self.assertEqual(r.recv()[0], NAME)
        me = pwd.getpwuid(os.getuid()).pw_name
        self.assertEqual(self.ugid(r, [os.getuid()], []), ([me], []))
        # another session has its own set
        r2 = self.raw()
        self.assertEqual(self.ugid(r2, [65534], [65534]), ([""], [""]))

    def test_users_groups_bounds(self):
        r = self.raw()
        self.assertEqual(self.ugid(r, list(range(300)), list(range(212))),
                         ([""] * 300, [""] * 212))
        for uids, gids in ((list(range(513)), []), ([], list(range(513))),
                           (list(range(256)), list(range(257)))):
            rid = self.ext(r, ugid_body(uids, gids))
            code, msg = r.status(rid)
            self.assertEqual(code, FX_FAILURE)
            self.assertIn("512", msg)
        # as many ids as a 256 KiB packet holds
        big = s("users-groups-by-id@openssh.com") + s(b"\0\0\0\1" * 65000) + s(b"")
        rid = self.ext(r, big)
        self.assertEqual(r.status(rid)[0], FX_FAILURE)
        # malformed: not a multiple of 4, truncated, missing the gid list
        name = s("users-groups-by-id@openssh.com")
        for body in (name + s(b"\0\0\0") + s(b""), name + s(b"") + s(b"\0\0\0\0\0"),
                     name + struct.pack(">I", 8) + b"\0\0\0\0", name + s(b"\0\0\0\0"), name):
            rid = self.ext(r, body)
            self.assertEqual(r.status(rid)[0], FX_BAD_MESSAGE, body)
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
