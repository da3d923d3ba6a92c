"""sftp plugin with the real OpenSSH sftp and scp clients against sshgated.

Transfers (sha256 checked) across -B x -R, directory operations, ls -l,
symlinks, chmod, df, resume, recursive trees, scp in SFTP mode, and an
escape matrix asserting that nothing outside the user root is read,
written or named.
"""
import hashlib
import os
import pathlib
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

SFTP_ROUTE = {"match": {"kind": "subsystem", "subsystem": "sftp"}, "plugin": "sftp"}


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_tree(base, n):
    base.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        d = base / ("d%d" % (i % 4)) / ("e%d" % (i % 3))
        d.mkdir(parents=True, exist_ok=True)
        (d / ("f%d.bin" % i)).write_bytes(os.urandom(100 + (i * 37) % 3000))
    (base / "empty").write_bytes(b"")


def tree_sums(base):
    out = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(base))] = sha(p)
    return out


class SftpBase(unittest.TestCase):
    plugin_config = {"root": "sftp/%u"}
    route_config = None  # the sftp route's "config", if any

    def setUp(self):
        sgtest.require_build(self)
        if not (sgtest.PLUGIN_DIR / "sftp.so").exists():
            raise unittest.SkipTest("sftp.so not built")
        route = dict(SFTP_ROUTE)
        if self.route_config is not None:
            route["config"] = self.route_config
        self.gw = sgtest.Gateway(self, plugins=[{"name": "sftp", "config": self.plugin_config}],
                                 routes=[route],
                                 users={"u1": {"key": True}, "u10": {"key": True}}, workers=1)
        self.gw.start()
        self.root = self.gw.tmp / "sftp" / "u1"
        self.local = self.gw.tmp / "local"
        self.local.mkdir()
        # the first login creates the root (create_root, root_mode 0700)
        self.sftp("pwd\n")
        self.assertEqual(os.stat(self.root).st_mode & 0o7777, 0o700)

    def sftp(self, batch, opts=(), ok=True, user="u1", timeout=90):
        r = self.gw.sftp(user, batch, opts=list(opts), timeout=timeout, cwd=str(self.local))
        if ok:
            self.assertEqual(r.returncode, 0, "sftp batch failed:\n%s\n%s\n--- log:\n%s" % (
                batch, r.stderr.decode(errors="replace"), self.gw.log()[-3000:]))
        return r

    def no_host_path(self, r, typed=()):
        text = (r.stdout + r.stderr).decode(errors="replace")
        for t in typed:  # what the test itself typed is echoed by the client
            text = text.replace(t, "")
        self.assertNotIn(str(self.gw.tmp), text, "a host path leaked into the client output")


class TestSftpTransfers(SftpBase):
    def test_put_get_matrix(self):
        big = self.local / "big.bin"
        big.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
        small = self.local / "small.bin"
        small.write_bytes(os.urandom(96 * 1024 + 7))
        want_big, want_small = sha(big), sha(small)
        for b in (5, 1000, 32000, 64000):
            # 5-byte requests over 3 MiB would be 600k round trips: use a
            # smaller file for that one block size
            src, want = (small, want_small) if b == 5 else (big, want_big)
            for r in (1, 2, 10, 64):
                name = "m_%d_%d.bin" % (b, r)
                self.sftp("put %s %s\nget %s back_%s\n" % (src.name, name, name, name),
                          opts=["-B", str(b), "-R", str(r)])
                self.assertEqual(sha(self.root / name), want, "upload -B %d -R %d" % (b, r))
                self.assertEqual(sha(self.local / ("back_" + name)), want,
                                 "download -B %d -R %d" % (b, r))

    def test_resume(self):
        full = self.local / "full.bin"
        full.write_bytes(os.urandom(4000000))
        part = os.urandom(1500000)  # different bytes: a resume must keep them
        (self.root / "r.bin").write_bytes(part)
        self.sftp("reput full.bin r.bin\n")
        self.assertEqual((self.root / "r.bin").read_bytes(), part + full.read_bytes()[1500000:])
        remote = os.urandom(4000000)
        (self.root / "g.bin").write_bytes(remote)
        loc = os.urandom(1000000)
        (self.local / "g.bin").write_bytes(loc)
        self.sftp("reget g.bin g.bin\n")
        self.assertEqual((self.local / "g.bin").read_bytes(), loc + remote[1000000:])

    def test_tree(self):
        make_tree(self.local / "src", 60)
        self.sftp("put -r src tree\nget -r tree back\n")
        self.assertEqual(tree_sums(self.local / "src"), tree_sums(self.root / "tree"))
        self.assertEqual(tree_sums(self.local / "src"), tree_sums(self.local / "back"))

    def test_scp(self):
        up = self.local / "up.bin"
        up.write_bytes(os.urandom(3 * 1024 * 1024))
        r = self.gw.scp("u1", ["up.bin", "gw:up.bin"], opts=["-v"], cwd=str(self.local))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
        self.assertIn(b"subsystem: sftp", r.stderr, "scp did not use SFTP")
        self.assertEqual(sha(self.root / "up.bin"), sha(up))
        r = self.gw.scp("u1", ["gw:/up.bin", "down.bin"], cwd=str(self.local))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(sha(self.local / "down.bin"), sha(up))
        make_tree(self.local / "t", 20)
        r = self.gw.scp("u1", ["-r", "t", "gw:t"], cwd=str(self.local))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(tree_sums(self.local / "t"), tree_sums(self.root / "t"))
        r = self.gw.scp("u1", ["-r", "gw:t", "t2"], cwd=str(self.local))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(tree_sums(self.local / "t"), tree_sums(self.local / "t2"))


class TestSftpOperations(SftpBase):
    def test_mkdir_rmdir_rm_rename(self):
        (self.local / "a.txt").write_bytes(b"hello")
        self.sftp("mkdir d1\nmkdir d1/sub\nput a.txt d1/a.txt\nrename d1/a.txt d1/b.txt\n"
                  "rename d1/sub d1/sub2\n")
        self.assertTrue((self.root / "d1" / "sub2").is_dir())
        self.assertEqual((self.root / "d1" / "b.txt").read_bytes(), b"hello")
        self.assertFalse((self.root / "d1" / "a.txt").exists())
        # rmdir of a non-empty directory fails and keeps it
        r = self.sftp("rmdir d1\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue((self.root / "d1" / "b.txt").exists())
        # rm of a missing file fails
        r = self.sftp("rm d1/nope\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.sftp("rm d1/b.txt\nrmdir d1/sub2\nrmdir d1\n")
        self.assertFalse((self.root / "d1").exists())
        # posix-rename (OpenSSH uses it for "rename") replaces an existing target
        (self.root / "x").write_bytes(b"x")
        (self.root / "y").write_bytes(b"y")
        self.sftp("rename x y\n")
        self.assertEqual((self.root / "y").read_bytes(), b"x")

    def test_ls_l(self):
        (self.root / "one.bin").write_bytes(os.urandom(1234))
        (self.root / "two.bin").write_bytes(os.urandom(98765))
        os.chmod(self.root / "one.bin", 0o644)
        os.chmod(self.root / "two.bin", 0o640)
        (self.root / "subdir").mkdir()
        r = self.sftp("ls -l\nls -l /\npwd\n")
        out = r.stdout.decode()
        # users-groups-by-id is advertised: the client formats the lines
        # itself ("?" links; the server's long names: TestSftpParamiko)
        self.assertRegex(out, r"(?m)^-rw-r--r--\s+\? .* 1234 .*one\.bin$")
        self.assertRegex(out, r"(?m)^-rw-r-----\s+\? .* 98765 .*two\.bin$")
        self.assertRegex(out, r"(?m)^d.*subdir$")
        self.assertIn("Remote working directory: /\n", out)
        self.no_host_path(r)

    def test_symlink_chmod_df(self):
        (self.root / "target.bin").write_bytes(os.urandom(5000))
        self.sftp("ln -s target.bin link\nget link via.bin\nchmod 640 target.bin\n"
                  "mkdir md\nchmod 700 md\n")
        self.assertTrue((self.root / "link").is_symlink())
        self.assertEqual(os.readlink(self.root / "link"), "target.bin")
        self.assertEqual(sha(self.local / "via.bin"), sha(self.root / "target.bin"))
        self.assertEqual(os.stat(self.root / "target.bin").st_mode & 0o7777, 0o640)
        self.assertEqual(os.stat(self.root / "md").st_mode & 0o7777, 0o700)
        r = self.sftp("df\ndf -h\n")
        self.assertRegex(r.stdout.decode(), r"(?m)^\s*\d+\s+\d+\s+\d+\s+\d+\s+\d+%")
        # an absolute target is root-relative and stored relative to the link
        self.sftp("mkdir sub\nln -s /target.bin sub/abs\nget sub/abs via2.bin\n")
        self.assertEqual(os.readlink(self.root / "sub" / "abs"), "../target.bin")
        self.assertEqual(sha(self.local / "via2.bin"), sha(self.root / "target.bin"))

    def test_audit_events(self):
        (self.local / "f.txt").write_bytes(b"12345")
        self.sftp("put f.txt f.txt\nmkdir dd\nrm f.txt\n")
        log = self.gw.log()
        self.assertIn("u1", log)
        for op in ("upload", "mkdir", "remove"):
            self.assertRegex(log, r"sftp.*%s" % op)


class TestSftpEscape(SftpBase):
    """Escape matrix through the real client: nothing outside the root is
    read, written or named."""

    def setUp(self):
        super().setUp()
        # the neighbour's root, then its secret
        self.sftp("pwd\n", user="u10")
        self.u10 = self.gw.tmp / "sftp" / "u10"
        (self.u10 / "secret").write_bytes(b"u10 secret")
        self.outside = self.gw.tmp / "outside"
        self.outside.mkdir()
        (self.outside / "secret").write_bytes(b"outside secret")
        # admin-placed links pointing out of the root
        os.symlink(str(self.outside), self.root / "evil")
        os.symlink("../../outside", self.root / "evil_rel")
        os.symlink("/etc/passwd", self.root / "passwd")
        os.symlink("../u10", self.root / "sib")
        self.before = self.snapshot()

    def snapshot(self):
        snap = {}
        for base in (self.outside, self.u10):
            for p in base.rglob("*"):
                snap[str(p)] = p.read_bytes() if p.is_file() else None
        return snap

    def assert_nothing_outside(self):
        self.assertEqual(self.snapshot(), self.before, "something outside the root changed")
        for p in self.local.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                self.assertNotIn(b"secret", data, "%s holds data from outside the root" % p)
                self.assertNotIn(b"root:x:0:0", data, "%s holds /etc/passwd" % p)

    def test_reads(self):
        host_abs = str(self.outside / "secret")
        for i, path in enumerate(["../u10/secret", "/../u10/secret", "/..//../outside/secret",
                                  host_abs, str(self.u10 / "secret"), "evil/secret",
                                  "evil_rel/secret", "passwd", "sib/secret", "/etc/passwd"]):
            r = self.sftp("get %s got%d\n" % (path, i), ok=False)
            self.assertNotEqual(r.returncode, 0, "get %s succeeded" % path)
            self.no_host_path(r, typed=[path])
        for path in ["evil", "evil/", "sib", "../u10", "/.."]:
            r = self.sftp("ls -l %s\n" % path, ok=False)
            self.assertNotIn(b"secret", r.stdout, "ls %s listed outside" % path)
            self.no_host_path(r)
        self.assert_nothing_outside()

    def test_writes(self):
        (self.local / "payload").write_bytes(b"payload")
        for path in ["evil/new", "evil_rel/new", "sib/new", "evil/secret", "sib/secret",
                     "passwd"]:
            r = self.sftp("put payload %s\n" % path, ok=False)
            self.assertNotEqual(r.returncode, 0, "put %s succeeded" % path)
        for cmd in ["mkdir evil/x", "rm evil/secret", "rm sib/secret", "rename evil/secret s2",
                    "chmod 777 evil/secret", "chmod 777 passwd", "ln -s x evil/l",
                    "rename sib/secret mine"]:
            r = self.sftp(cmd + "\n", ok=False)
            self.assertNotEqual(r.returncode, 0, "%s succeeded" % cmd)
        # ".." above the root lands inside it
        self.sftp("put payload ../../payload_up\n")
        self.assertEqual((self.root / "payload_up").read_bytes(), b"payload")
        self.assertFalse((self.gw.tmp / "payload_up").exists())
        self.assert_nothing_outside()
        self.assertEqual(open("/etc/passwd", "rb").read(4), b"root")

    def test_symlink_then_read_write(self):
        (self.local / "payload").write_bytes(b"payload")
        # links whose target leaves the root are refused
        for target in ["../u10/secret", "../../outside/secret", "../../../etc/passwd"]:
            r = self.sftp("ln -s %s l_%d\n" % (target, len(target)), ok=False)
            self.assertNotEqual(r.returncode, 0, "ln -s %s accepted" % target)
        # an absolute target means a path inside the root
        self.sftp("ln -s /etc/passwd lp\n")
        self.assertEqual(os.readlink(self.root / "lp"), "etc/passwd")
        r = self.sftp("get lp got\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        # write through it creates the file inside the root
        self.sftp("mkdir etc\nput payload lp\n")
        self.assertEqual((self.root / "etc" / "passwd").read_bytes(), b"payload")
        # readlink of admin links never names the host path
        r = self.sftp("ls -l\n")
        self.no_host_path(r)
        self.assert_nothing_outside()

    def test_realpath_never_leaks(self):
        r = self.sftp("cd /..\npwd\ncd ../../..\npwd\nls\n")
        out = r.stdout.decode()
        self.assertEqual(out.count("Remote working directory: /\n"), 2)
        self.no_host_path(r)


class TestSftpPolicy(SftpBase):
    """Per-route config over the plugin config: read_only, deny, symlinks off,
    and the fallback resolver (no openat2: symlinks never followed)."""
    route_config = {"read_only": True}

    def test_read_only(self):
        (self.root / "f").write_bytes(b"data")
        (self.local / "up").write_bytes(b"up")
        self.sftp("get f got\nls -l\ndf\n")
        self.assertEqual((self.local / "got").read_bytes(), b"data")
        for cmd in ("put up up", "rm f", "mkdir d", "rename f g", "chmod 600 f", "ln -s f l",
                    "put up f"):
            r = self.sftp(cmd + "\n", ok=False)
            self.assertNotEqual(r.returncode, 0, cmd)
            self.assertIn(b"ermission denied", r.stderr, cmd)
        self.assertEqual(sorted(os.listdir(self.root)), ["f"])
        self.assertEqual((self.root / "f").read_bytes(), b"data")
        self.assertIsNotNone(re.search(r"op=open-write.*result=\W?Permission denied", self.gw.log()),
                             "no audit event for the refused upload")


class TestSftpPolicyDeny(TestSftpPolicy):
    plugin_config = {"root": "sftp/%u", "symlinks": "off", "resolve": "walk"}
    route_config = {"deny": ["remove", "rmdir"]}

    def test_read_only(self):
        raise unittest.SkipTest("not this configuration")

    def test_deny_and_symlinks_off(self):
        (self.local / "up").write_bytes(b"up")
        self.sftp("put up f\nmkdir d\nrename f g\n")
        for cmd in ("rm g", "rmdir d", "ln -s g l"):
            r = self.sftp(cmd + "\n", ok=False)
            self.assertNotEqual(r.returncode, 0, cmd)
        self.assertEqual(sorted(os.listdir(self.root)), ["d", "g"])
        # the walk resolver never follows links, even inside the root
        os.symlink("g", self.root / "inner")
        r = self.sftp("get inner x\n", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.sftp("get g x\n")
        self.assertEqual((self.local / "x").read_bytes(), b"up")


class TestSftpParamiko(SftpBase):
    """A second client implementation (paramiko) over the same server."""

    def connect(self):
        try:
            import paramiko
        except ImportError:
            raise unittest.SkipTest("python3-paramiko not installed")
        key = paramiko.Ed25519Key.from_private_key_file(str(self.gw.key("u1")))
        t = paramiko.Transport(("127.0.0.1", self.gw.port))
        t.connect(username="u1", pkey=key)
        self.addCleanup(t.close)
        return paramiko.SFTPClient.from_transport(t)

    def test_paramiko_operations(self):
        sf = self.connect()
        self.assertEqual(sf.normalize("."), "/")
        self.assertEqual(sf.normalize("../../x/.."), "/")
        data = os.urandom(1024 * 1024 + 17)
        with sf.open("p.bin", "wb") as f:
            f.set_pipelined(True)
            f.write(data)
        self.assertEqual((self.root / "p.bin").read_bytes(), data)
        with sf.open("p.bin", "rb") as f:
            f.prefetch()
            self.assertEqual(f.read(), data)
            self.assertEqual(f.stat().st_size, len(data))
        # seek + overwrite in place, append mode
        with sf.open("p.bin", "r+b") as f:
            f.seek(10)
            f.write(b"XYZ")
        with sf.open("p.bin", "ab") as f:
            f.write(b"tail")
        want = data[:10] + b"XYZ" + data[13:] + b"tail"
        self.assertEqual((self.root / "p.bin").read_bytes(), want)
        # exclusive create of an existing file fails
        with self.assertRaises(IOError):
            sf.open("p.bin", "x")
        sf.mkdir("dir", 0o750)
        self.assertEqual(os.stat(self.root / "dir").st_mode & 0o777, 0o750 & ~0o022)
        names = {a.filename: a for a in sf.listdir_attr("/")}
        self.assertIn("p.bin", names)
        self.assertEqual(names["p.bin"].st_size, len(want))
        # the server's ls -l style long name
        self.assertRegex(names["p.bin"].longname,
                         r"^-rw-r--r--\s+1 \S+\s+\S+\s+%d \w{3} [ \d]\d \d\d:\d\d p\.bin$" % len(want))
        # rename never overwrites; posix_rename does
        (self.root / "other").write_bytes(b"other")
        with self.assertRaises(IOError):
            sf.rename("p.bin", "other")
        self.assertEqual((self.root / "other").read_bytes(), b"other")
        sf.posix_rename("p.bin", "other")
        self.assertEqual((self.root / "other").read_bytes(), want)
        # attributes
        sf.chmod("other", 0o600)
        sf.truncate("other", 100)
        sf.utime("other", (1000000000, 1000000000))
        st = os.stat(self.root / "other")
        self.assertEqual((st.st_mode & 0o777, int(st.st_mtime), st.st_size),
                         (0o600, 1000000000, 100))
        with sf.open("other", "r+b") as f:
            f.chmod(0o640)
            f.truncate(10)
        st = os.stat(self.root / "other")
        self.assertEqual((st.st_mode & 0o777, st.st_size), (0o640, 10))
        # links
        sf.symlink("other", "dir/ln")  # paramiko sends (target, link) like OpenSSH
        self.assertEqual(os.readlink(self.root / "dir" / "ln"), "other")
        self.assertEqual(sf.readlink("dir/ln"), "other")
        self.assertTrue(sf.lstat("dir/ln").st_mode & 0o120000 == 0o120000)
        with self.assertRaises(IOError):
            sf.stat("dir/ln")  # dangling inside dir/: other lives at the root
        sf.remove("dir/ln")
        sf.rmdir("dir")
        with self.assertRaises(IOError):
            sf.stat("dir")
        with self.assertRaises(IOError):
            sf.remove("nope")


if __name__ == "__main__":
    unittest.main()
