"""sftp plugin: the OpenSSH extensions home-directory and
users-groups-by-id@openssh.com.

Through the real OpenSSH sftp client: `ls -l`, whose owner and group
columns the client fills from users-groups-by-id (compared with OpenSSH's
own sftp-server on the same directory).

Raw packets (the Raw client of test_sftp_raw.py) for what the client never
sends: home-directory for the own and other users; users-groups-by-id names
only ids the session was shown, with its bounds.
"""
import os
import re
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402
from test_sftp_raw import (ATTRS, EXTENDED, EXTENDED_REPLY, FX_BAD_MESSAGE,  # noqa: E402
                           FX_FAILURE, FX_NO_SUCH_FILE, LSTAT, NAME, OPENDIR, READDIR, REALPATH,
                           STAT, Raw, s)

SFTP_ROUTE = {"match": {"kind": "subsystem", "subsystem": "sftp"}, "plugin": "sftp"}
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


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


class Base(unittest.TestCase):
    plugin_config = {"root": "sftp/%u"}
    route_config = None

    def setUp(self):
        sgtest.require_build(self)
        if not (sgtest.PLUGIN_DIR / "sftp.so").exists():
            raise unittest.SkipTest("sftp.so not built")
        route = dict(SFTP_ROUTE)
        if self.route_config is not None:
            route["config"] = self.route_config
        self.gw = sgtest.Gateway(self, plugins=[{"name": "sftp", "config": self.plugin_config}],
                                 routes=[route], users={"u1": {"key": True}}, workers=1)
        self.gw.start()
        self.root = self.gw.tmp / "sftp" / "u1"
        self.local = self.gw.tmp / "local"
        self.local.mkdir()
        self.raws = []
        self.addCleanup(self.close_raws)
        self.sftp("pwd\n")  # creates the root
        self.workers = self.gw.worker_pids()

    def close_raws(self):
        for r in self.raws:
            r.close()

    def sftp(self, batch, ok=True, timeout=90):
        r = self.gw.sftp("u1", batch, timeout=timeout, cwd=str(self.local))
        if ok:
            self.assertEqual(r.returncode, 0, "sftp batch failed:\n%s\n%s\n--- log:\n%s" % (
                batch, r.stderr.decode(errors="replace"), self.gw.log()[-3000:]))
        return r

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


def need_root(test):
    if os.getuid() != 0:
        test.skipTest("chown needs root")


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
        for name in ("home-directory", "users-groups-by-id@openssh.com"):
            self.assertIn(s(name) + s("1"), version, name)

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
