"""Restrictions carried by authorized_keys options, enforced through the real
OpenSSH client: restrict (no pty, no -L/-D/-R), restrict,pty, no-pty,
no-port-forwarding, permitopen=, permitlisten= and command= (a forced
command, SSH_ORIGINAL_COMMAND, "internal-sftp"). The routes permit what an
unrestricted key may do (loopback forwarding, exec with a pty), so whatever
is refused here is refused by the key's options alone. Keys come from the
users file (checked on the loop) and from an authorized_keys_dir file
(checked on the work pool): both paths hand the restrictions to the host."""
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402
from test_tunnel import Server, echo_handler, round_trip  # noqa: E402

sgtest.require_build(None)

LOOPBACK_OPEN = ["127.0.0.1:*", "[::1]:*", "localhost:*"]
LOOPBACK_LISTEN = ["127.0.0.1:1024-65535", "localhost:1024-65535"]


class KeyRestrictionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Server(echo_handler)
        cls.other = Server(echo_handler)
        cls.listen_port = sgtest.free_port()
        tunnel_cfg = {"permit_open": LOOPBACK_OPEN, "permit_listen": LOOPBACK_LISTEN}
        routes = [
            {"name": "fwd", "match": {"kind": "direct-tcpip"}, "plugin": "tunnel",
             "config": tunnel_cfg},
            {"name": "rfwd", "match": {"kind": "tcpip-forward"}, "plugin": "tunnel",
             "config": tunnel_cfg},
            {"name": "exec", "match": {"kind": "exec"}, "plugin": "shell"},
            {"name": "sftp", "match": {"kind": "subsystem", "subsystem": "sftp"},
             "plugin": "sftp"},
        ]
        options = {
            "plain": "",
            "restricted": "restrict",
            "ptyonly": "restrict,pty",
            "nopty": "no-pty",
            "nofwd": "no-port-forwarding",
            "permit": 'permitopen="127.0.0.1:%d",permitlisten="localhost:%d"'
                      % (cls.echo.port, cls.listen_port),
            "forced": 'command="echo \\"forced:${SSH_ORIGINAL_COMMAND-unset}\\""',
            "sftponly": 'restrict,command="internal-sftp"',
        }
        gw = sgtest.Gateway(None, plugins=[
            {"name": "auth-file", "config": {"users_file": "users.json",
                                             "authorized_keys_dir": "keys"}},
            {"name": "tunnel", "config": {}},
            {"name": "shell", "config": {}},
            {"name": "sftp", "config": {"root": "sftp/%u"}}], routes=routes, workers=1)
        cls.gw = gw
        users = {}
        for user, opts in options.items():
            kp = sgtest.keygen(gw.tmp / ("id_" + user))
            gw._keys[user] = kp
            pub = kp.with_suffix(".pub").read_text().strip()
            users[user] = {"keys": [(opts + " " + pub).strip()]}
        # one more user whose restricted key is in an authorized_keys file
        keys = gw.tmp / "keys"
        keys.mkdir()
        kp = sgtest.keygen(gw.tmp / "id_filed")
        gw._keys["filed"] = kp
        (keys / "filed").write_text("restrict,pty " + kp.with_suffix(".pub").read_text())
        (keys / "filed").chmod(0o600)
        gw.users = users
        gw.start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.echo.close()
        cls.other.close()
        if os.environ.get("SGTEST_KEEP") != "1":
            shutil.rmtree(cls.gw.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    def tty(self, user):
        """ssh -tt USER tty: (stdout, stderr, exit code)."""
        r = self.gw.ssh(user, "tty", opts=["-tt"])
        return r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), r.returncode

    def assertPty(self, user, allowed):
        out, err, rc = self.tty(user)
        if allowed:
            self.assertRegex(out, r"/dev/pts/\d+", err)
            self.assertEqual(rc, 0)
        else:  # ssh -tt treats a refused pty as fatal for the session
            self.assertNotIn("/dev/pts", out)
            self.assertIn("PTY allocation request failed", err)
            self.assertNotEqual(rc, 0)

    def stdio_forward(self, user, host, port, data=b"restricted?\n"):
        argv = self.gw.ssh_cmd(user, opts=["-o", "LogLevel=INFO", "-W", "%s:%d" % (host, port)])
        return subprocess.run(argv, input=data, capture_output=True, timeout=20)

    def assertForward(self, user, host, port, allowed):
        r = self.stdio_forward(user, host, port)
        if allowed:
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"restricted?\n")
        else:
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"open failed", r.stderr)

    def remote_forward(self, user, spec):
        """ssh -N -R spec with ExitOnForwardFailure: (listening?, proc)."""
        argv = self.gw.ssh_cmd(user, opts=["-N", "-o", "ExitOnForwardFailure=yes",
                                           "-o", "LogLevel=ERROR", "-R", spec])
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        self.addCleanup(self._stop, p)
        port = int(spec.split(":")[-3])
        end = time.time() + 15
        while time.time() < end:
            if p.poll() is not None:
                return False, p
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True, p
            except OSError:
                time.sleep(0.05)
        return False, p

    @staticmethod
    def _stop(p):
        if p.poll() is None:
            p.terminate()
            p.wait(5)
        p.stderr.close()

    # ------------------------------------------------------------ tests
    def test_unrestricted_key_may_do_everything(self):
        self.assertPty("plain", True)
        self.assertForward("plain", "127.0.0.1", self.echo.port, True)
        self.assertForward("plain", "127.0.0.1", self.other.port, True)

    def test_restrict_refuses_pty_and_forwarding_but_not_commands(self):
        r = self.gw.ssh("restricted", "echo hello")
        self.assertEqual((r.returncode, r.stdout), (0, b"hello\n"), r.stderr)
        self.assertPty("restricted", False)
        self.assertForward("restricted", "127.0.0.1", self.echo.port, False)
        ok, p = self.remote_forward("restricted", "127.0.0.1:%d:127.0.0.1:%d"
                                    % (sgtest.free_port(), self.echo.port))
        self.assertFalse(ok)
        self.assertEqual(p.wait(10), 255)
        self.assertIn(b"remote port forwarding failed", p.stderr.read())
        log = self.gw.log()
        self.assertIn("pty-req refused: not permitted by the credential (no-pty)", log)
        self.assertIn("refused: not permitted by the credential (no port forwarding)", log)

    def test_restrict_then_pty_allows_only_the_pty(self):
        self.assertPty("ptyonly", True)
        self.assertForward("ptyonly", "127.0.0.1", self.echo.port, False)

    def test_no_pty_and_no_port_forwarding_alone(self):
        self.assertPty("nopty", False)
        self.assertForward("nopty", "127.0.0.1", self.echo.port, True)
        self.assertPty("nofwd", True)
        self.assertForward("nofwd", "127.0.0.1", self.echo.port, False)

    def test_permitopen_is_literal_host_and_port(self):
        self.assertForward("permit", "127.0.0.1", self.echo.port, True)
        self.assertForward("permit", "127.0.0.1", self.other.port, False)
        # the same address by another name is not the permitted destination
        self.assertForward("permit", "localhost", self.echo.port, False)
        # -L too (and a pty: permit* options restrict nothing else)
        lp = sgtest.free_port()
        argv = self.gw.ssh_cmd("permit", opts=["-N", "-o", "ExitOnForwardFailure=yes",
                                               "-L", "127.0.0.1:%d:127.0.0.1:%d"
                                               % (lp, self.echo.port)])
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self._stop, p)
        sgtest.wait_port(lp)
        with socket.create_connection(("127.0.0.1", lp), timeout=10) as s:
            data = os.urandom(256 * 1024)
            self.assertEqual(round_trip(s, data), data)
        self.assertPty("permit", True)
        self.assertIn("refused: not permitted by the credential (permitopen)", self.gw.log())

    def test_permitlisten(self):
        bad_port = sgtest.free_port()
        ok, _ = self.remote_forward("permit", "localhost:%d:127.0.0.1:%d"
                                    % (bad_port, self.echo.port))
        self.assertFalse(ok)
        # "localhost" is what was permitted, not 127.0.0.1 (as in OpenSSH)
        ok, _ = self.remote_forward("permit", "127.0.0.1:%d:127.0.0.1:%d"
                                    % (self.listen_port, self.echo.port))
        self.assertFalse(ok)
        ok, p = self.remote_forward("permit", "localhost:%d:127.0.0.1:%d"
                                    % (self.listen_port, self.echo.port))
        self.assertTrue(ok, "permitted -R did not listen")
        with socket.create_connection(("127.0.0.1", self.listen_port), timeout=10) as s:
            self.assertEqual(round_trip(s, b"through -R\n"), b"through -R\n")
        self._stop(p)
        self.assertIn("refused: not permitted by the credential (permitlisten)", self.gw.log())

    def test_forced_command(self):
        r = self.gw.ssh("forced", "rm", "-rf", "/tmp/x;", "id")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"forced:rm -rf /tmp/x; id\n")
        # a shell request runs it too, without SSH_ORIGINAL_COMMAND
        r = self.gw.ssh("forced", opts=["-T"])
        self.assertEqual(r.stdout, b"forced:unset\n", r.stderr)
        # and so does a subsystem request
        r = self.gw.sftp("forced", "ls\n")
        self.assertNotEqual(r.returncode, 0)
        # command= alone restricts nothing else (as in OpenSSH)
        self.assertForward("forced", "127.0.0.1", self.echo.port, True)
        self.assertIn("replaced by the credential's forced command", self.gw.log())

    def test_forced_internal_sftp(self):
        root = self.gw.tmp / "sftp" / "sftponly"
        r = self.gw.sftp("sftponly", "mkdir d\nls\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue((root / "d").is_dir())
        # an exec request gets the SFTP server too, not a command
        r = self.gw.ssh("sftponly", "id; echo ran")
        self.assertNotIn(b"ran", r.stdout)
        self.assertNotIn(b"uid=", r.stdout)
        self.assertForward("sftponly", "127.0.0.1", self.echo.port, False)

    def test_restrictions_from_an_authorized_keys_file(self):
        self.assertPty("filed", True)
        self.assertForward("filed", "127.0.0.1", self.echo.port, False)


if __name__ == "__main__":
    unittest.main()
