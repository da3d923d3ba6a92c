"""Integration tests of authentication (auth chain + the auth-file plugin) with
the real OpenSSH client and sshpass: publickey, password (sha512crypt from the
harness, yescrypt from a passwd_file), keyboard-interactive, MFA
publickey+password, wrong key / password rejected, disconnect after
max_auth_attempts, login grace deadline, authorized_keys_dir with from=,
and reload of the users file.

Sessions go to the echo test plugin (tests/plugins/echo.c): exec "info" prints
the user, the auth method and the groups set by auth-file."""
import ctypes
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

sgtest.require_build(None)

ECHO_ROUTES = [{"name": "exec", "match": {"kind": "exec"}, "plugin": "echo"}]
ECHO_PLUGIN = {"name": "echo", "config": {}}


def yescrypt_hash(password):
    """A $y$ hash made by libxcrypt itself (crypt_gensalt + crypt)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$y$", 0, None, 0)
    h = lib.crypt(password.encode(), salt)
    assert h and h.startswith(b"$y$"), h
    return h.decode()


class AuthTest(unittest.TestCase):
    def gateway(self, users, config=None, auth_config=None, start=True):
        plugins = [ECHO_PLUGIN]
        if auth_config is not None:
            plugins = [{"name": "auth-file", "config": auth_config}, ECHO_PLUGIN]
        gw = sgtest.Gateway(self, plugins=plugins, routes=ECHO_ROUTES, users=users,
                            config=config or {})
        if start:
            gw.start()
        return gw

    def pw_ssh(self, gw, user, password, method="password", cmd="info", opts=()):
        o = ["-o", "PreferredAuthentications=%s" % method] + list(opts)
        return subprocess.run(gw.ssh_cmd(user, password=password, opts=o) + [cmd],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)

    def assertLoggedIn(self, r, user, method=None):
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 0, "ssh failed: %r %r" % (r.stderr, out))
        self.assertIn(user, out)
        if method:
            self.assertIn(method, out)
        return out

    def assertRefused(self, r):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"Permission denied", r.stderr)

    # ------------------------------------------------------------ publickey
    def test_publickey(self):
        gw = self.gateway({"alice": {"key": True, "groups": ["admins", "ops"]}})
        r = gw.ssh("alice", "info")
        out = self.assertLoggedIn(r, "alice", "publickey")
        self.assertIn("admins", out)
        self.assertIn("ops", out)
        # a key that is not authorized
        other = sgtest.keygen(gw.tmp / "other_key")
        r = subprocess.run(["ssh"] + self.key_opts(gw, [other]) + ["alice@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)
        # an unknown user with a valid key of someone else
        r = subprocess.run(["ssh"] + self.key_opts(gw, [gw.key("alice")]) + ["mallory@127.0.0.1",
                                                                              "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)

    def key_opts(self, gw, keys, verbose=False):
        o = ["-F", str(gw.ssh_config), "-p", str(gw.port), "-o", "BatchMode=yes",
             "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
             "-o", "PreferredAuthentications=publickey"]
        for k in keys:
            o += ["-i", str(k)]
        if verbose:
            o += ["-v", "-o", "LogLevel=VERBOSE"]
        return o

    # ------------------------------------------------------------ passwords
    def test_password(self):
        gw = self.gateway({"bob": {"password": "pw-bob", "groups": ["staff"]},
                           "nopw": {"key": True}})
        r = self.pw_ssh(gw, "bob", "pw-bob")
        out = self.assertLoggedIn(r, "bob", "password")
        self.assertIn("staff", out)
        self.assertRefused(self.pw_ssh(gw, "bob", "pw-wrong"))
        self.assertRefused(self.pw_ssh(gw, "bob", ""))
        self.assertRefused(self.pw_ssh(gw, "nobody", "pw-bob"))
        self.assertRefused(self.pw_ssh(gw, "nopw", "pw-bob"))

    def test_keyboard_interactive(self):
        gw = self.gateway({"kim": {"password": "pw-kim"}})
        r = self.pw_ssh(gw, "kim", "pw-kim", method="keyboard-interactive",
                        opts=["-o", "KbdInteractiveAuthentication=yes"])
        self.assertLoggedIn(r, "kim", "keyboard-interactive")
        r = self.pw_ssh(gw, "kim", "pw-nope", method="keyboard-interactive",
                        opts=["-o", "KbdInteractiveAuthentication=yes"])
        self.assertRefused(r)

    def test_passwd_file_yescrypt(self):
        gw = sgtest.Gateway(self, plugins=[], routes=ECHO_ROUTES, users={})
        (gw.tmp / "passwd").write_text("# test users\n\nyuki:%s:dev,ops\nlocked:!%s\n"
                                       % (yescrypt_hash("pw-yuki"), yescrypt_hash("pw-yuki")))
        gw.plugins = [{"name": "auth-file",
                       "config": {"users_file": "users.json", "passwd_file": "passwd"}},
                      ECHO_PLUGIN]
        gw.start()
        out = self.assertLoggedIn(self.pw_ssh(gw, "yuki", "pw-yuki"), "yuki", "password")
        self.assertIn("dev", out)
        self.assertRefused(self.pw_ssh(gw, "yuki", "pw-yukI"))
        self.assertRefused(self.pw_ssh(gw, "locked", "pw-yuki"))

    # ------------------------------------------------------------ MFA
    def test_mfa_publickey_and_password(self):
        gw = self.gateway({"carol": {"key": True, "password": "pw-carol"}},
                          config={"auth": {"required": [["publickey", "password"]]}})
        # key alone: partial success only, then no password → refused
        r = subprocess.run(["ssh"] + self.key_opts(gw, [gw.key("carol")]) + ["carol@127.0.0.1",
                                                                              "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)
        # password alone: refused
        self.assertRefused(self.pw_ssh(gw, "carol", "pw-carol"))
        # key then password: in
        argv = ["sshpass", "-p", "pw-carol", "ssh", "-F", str(gw.ssh_config), "-p", str(gw.port),
                "-i", str(gw.key("carol")), "-o", "PreferredAuthentications=publickey,password",
                "-o", "NumberOfPasswordPrompts=1", "-v", "carol@127.0.0.1", "info"]
        r = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertLoggedIn(r, "carol")
        self.assertIn(b"partial", r.stderr.lower())
        # key then a wrong password: refused
        argv[2] = "pw-wrong"
        r = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)

    # ------------------------------------------------------------ limits
    def test_max_auth_attempts(self):
        gw = self.gateway({"dan": {"key": True, "password": "pw-dan"}},
                          config={"limits": {"max_auth_attempts": 2}})
        keys = [sgtest.keygen(gw.tmp / ("wrong%d" % i)) for i in range(3)]
        r = subprocess.run(["ssh"] + self.key_opts(gw, keys, verbose=True)
                           + ["dan@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 255, err)
        self.assertIn("Offering public key: %s" % keys[1], err)
        # the server cut the connection after the 2nd failure: the 3rd key may
        # have been sent, but it was never answered (1 reply to "none" + 2)
        self.assertLessEqual(err.count("Authentications that can continue"), 3, err)
        self.assertRegex(err, r"Too many authentication failures|Connection (closed|reset)")
        self.assertIn("too many authentication failures for dan", gw.log())
        # passwords: the client would try 3 (askpass answers every prompt;
        # sshpass gives up at the 2nd prompt), the server cuts off after 2
        askpass = gw.tmp / "askpass.sh"
        askpass.write_text("#!/bin/sh\necho pw-wrong\n")
        askpass.chmod(0o700)
        env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=":0")
        argv = ["ssh", "-F", str(gw.ssh_config), "-p", str(gw.port), "-v",
                "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                "-o", "NumberOfPasswordPrompts=3", "dan@127.0.0.1", "info"]
        r = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
                           env=env)
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 255, err)
        self.assertLessEqual(err.count("Authentications that can continue"), 3, err)
        log = gw.log()
        self.assertEqual(log.count("too many authentication failures for dan"), 2, log)
        self.assertEqual(log.count("user dan method password"), 2, log)
        # the right key still works on a new connection
        self.assertLoggedIn(gw.ssh("dan", "info"), "dan")

    def test_login_grace_time(self):
        gw = self.gateway({"erin": {"key": True}}, config={"limits": {"login_grace_time": 2}})
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(b"SSH-2.0-OpenSSH_9.2 grace-test\r\n")
            s.settimeout(10)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        elapsed = time.monotonic() - t0
        self.assertTrue(data.startswith(b"SSH-2.0-"), data[:64])
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 3.5, "connection closed after %.1fs" % elapsed)
        # a normal login is unaffected
        self.assertLoggedIn(gw.ssh("erin", "info"), "erin")

    # ------------------------------------------------------------ authorized_keys files
    def test_authorized_keys_dir_from(self):
        gw = self.gateway({}, auth_config={"users_file": "users.json",
                                           "authorized_keys_dir": "keys",
                                           "authorized_keys_file": "home/%u/.ssh/authorized_keys"},
                          start=False)
        keys = gw.tmp / "keys"
        keys.mkdir()
        far = sgtest.keygen(gw.tmp / "far_key")
        near = sgtest.keygen(gw.tmp / "near_key")
        farpub = far.with_suffix(".pub").read_text().strip()
        nearpub = near.with_suffix(".pub").read_text().strip()
        (keys / "faraway").write_text('# lan only\nfrom="10.0.0.0/8" %s\n' % farpub)
        (keys / "nearby").write_text(
            'tunnel="0" %s\n'                               # unsupported option: skipped
            'restrict,from="127.0.0.0/8,::1",no-pty %s local\n' % (nearpub, nearpub))
        (keys / "nearby").chmod(0o600)
        hal = sgtest.keygen(gw.tmp / "hal_key")
        (gw.tmp / "home" / "hal" / ".ssh").mkdir(parents=True)
        (gw.tmp / "home" / "hal" / ".ssh" / "authorized_keys").write_text(
            hal.with_suffix(".pub").read_text())
        gw.start()
        r = subprocess.run(["ssh"] + self.key_opts(gw, [hal]) + ["hal@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertLoggedIn(r, "hal", "publickey")
        r = subprocess.run(["ssh"] + self.key_opts(gw, [near]) + ["hal@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)
        r = subprocess.run(["ssh"] + self.key_opts(gw, [far]) + ["faraway@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertRefused(r)
        r = subprocess.run(["ssh"] + self.key_opts(gw, [near]) + ["nearby@127.0.0.1", "info"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertLoggedIn(r, "nearby", "publickey")
        log = gw.log()
        self.assertIn("from=", log)
        self.assertIn("unsupported option", log)

    def test_reload_users_file(self):
        gw = self.gateway({"fay": {"password": "pw-fay"}})
        self.assertRefused(self.pw_ssh(gw, "gus", "pw-gus"))
        users = json.loads((gw.tmp / "users.json").read_text())
        users["users"]["gus"] = {"password": sgtest.crypt_hash("pw-gus")}
        tmp = gw.tmp / "users.json.new"
        tmp.write_text(json.dumps(users))
        os.replace(tmp, gw.tmp / "users.json")
        time.sleep(1.2)  # auth-file checks the file at most once a second
        self.assertLoggedIn(self.pw_ssh(gw, "gus", "pw-gus"), "gus")
        self.assertLoggedIn(self.pw_ssh(gw, "fay", "pw-fay"), "fay")


if __name__ == "__main__":
    unittest.main()
