"""OpenSSH user certificates in auth-file, through the real OpenSSH client
(certificates made with ssh-keygen -s): trust through a cert-authority line
(users_file and authorized_keys_dir, with and without principals=) and
through trusted_user_ca_keys; refusals for a wrong principal, an expired or
not yet valid certificate, an untrusted CA, an ssh-rsa (SHA-1) CA signature,
the CA key offered as a plain key, source-address; the certificate's
restrictions (no-pty, no-port-forwarding, force-command) and the CA line's
(restrict, from=) enforced; Ed25519, ECDSA and RSA CAs.

The OpenSSH client verifies a certificate's CA signature when it loads it and
never offers a host certificate for user auth, so the altered-signature and
host-certificate cases are sent with paramiko (which does neither check).

Each OpenSSH attempt offers only the certificate (PubkeyAcceptedAlgorithms
names the certificate algorithm), so a refusal cannot be hidden by the client
falling back to the plain key."""
import base64
import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402
from test_tunnel import Server, echo_handler  # noqa: E402

sgtest.require_build(None)

import paramiko  # noqa: E402

CERT_ALGS = {
    "ed25519": "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa": "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa": "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com",
}


def keygen(path, kind, bits=None):
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path), "-C", "certtest"]
    if bits:
        args[4:4] = ["-b", str(bits)]
    subprocess.run(args, check=True)
    return path


def pub(path):
    return path.with_suffix(".pub").read_text().strip()


class UserCertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Server(echo_handler)
        routes = [
            {"name": "fwd", "match": {"kind": "direct-tcpip"}, "plugin": "tunnel",
             "config": {"permit_open": ["127.0.0.1:*"]}},
            {"name": "exec", "match": {"kind": "exec"}, "plugin": "shell"},
        ]
        gw = sgtest.Gateway(None, plugins=[
            {"name": "auth-file", "config": {"users_file": "users.json",
                                             "authorized_keys_dir": "keys",
                                             "trusted_user_ca_keys": "trusted_ca.pub"}},
            {"name": "tunnel", "config": {}},
            {"name": "shell", "config": {}}], routes=routes, workers=1)
        # no algorithms.pubkey_auth: the defaults include the certificate types
        cls.gw = gw
        t = gw.tmp
        cls.ca = {
            "ed": keygen(t / "ca_ed", "ed25519"),
            "ecdsa": keygen(t / "ca_ecdsa", "ecdsa", 384),
            "rsa": keygen(t / "ca_rsa", "rsa", 2048),
            "file": keygen(t / "ca_file", "ed25519"),
            "other": keygen(t / "ca_other", "ed25519"),
        }
        cls.ukey = {
            "ed25519": keygen(t / "user_ed", "ed25519"),
            "ecdsa": keygen(t / "user_ecdsa", "ecdsa", 256),
            "rsa": keygen(t / "user_rsa", "rsa", 2048),
        }
        ca_line = lambda name, opts="cert-authority": "%s %s" % (opts, pub(cls.ca[name]))
        gw.users = {
            "alice": {"keys": [ca_line("ed"), ca_line("ecdsa"), ca_line("rsa")]},
            "dave": {"keys": []},  # known, no keys: only trusted_user_ca_keys can let him in
            "gina": {"keys": [ca_line("ed", "cert-authority,restrict")]},
            "henry": {"keys": [ca_line("ed", 'from="10.0.0.0/8",cert-authority')]},
            "plain": {"keys": [pub(cls.ukey["ed25519"])]},
        }
        keys = t / "keys"
        keys.mkdir()
        (keys / "carol").write_text(ca_line("ed", 'cert-authority,principals="ops,admins"') + "\n")
        (keys / "carol").chmod(0o600)
        (t / "trusted_ca.pub").write_text("# trusted_user_ca_keys\n" + pub(cls.ca["file"]) + "\n")
        (t / "trusted_ca.pub").chmod(0o600)
        gw.start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.echo.close()
        if os.environ.get("SGTEST_KEEP") != "1":
            shutil.rmtree(cls.gw.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    _n = 0

    def cert(self, ca="ed", key="ed25519", principals="alice", extra=()):
        """Sign a copy of user key `key` with CA `ca`; returns the private key
        path (its -cert.pub next to it)."""
        UserCertTest._n += 1
        src = self.ukey[key]
        dst = self.gw.tmp / ("c%d_%s" % (self._n, key))
        shutil.copy(src, dst)
        shutil.copy(src.with_suffix(".pub"), dst.with_suffix(".pub"))
        dst.chmod(0o600)
        args = ["ssh-keygen", "-q", "-s", str(self.ca[ca]), "-I", "id-%d" % self._n]
        if principals is not None:
            args += ["-n", principals]
        subprocess.run(args + list(extra) + [str(dst.with_suffix(".pub"))], check=True,
                       capture_output=True)
        return dst

    def ssh_argv(self, user, keyfile, opts=()):
        kind = keyfile.name.split("_", 1)[1]
        return ["ssh", "-F", str(self.gw.ssh_config), "-p", str(self.gw.port),
                "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
                "-o", "KbdInteractiveAuthentication=no",
                "-o", "PubkeyAcceptedAlgorithms=" + CERT_ALGS[kind],
                "-i", str(keyfile),
                *opts, "%s@127.0.0.1" % user]

    def ssh(self, user, keyfile, *cmd, opts=()):
        return subprocess.run(self.ssh_argv(user, keyfile, opts) + list(cmd), input=b"",
                              capture_output=True, timeout=30)

    def log_mark(self):
        return len(self.gw.log())

    def assertLogged(self, text, mark):
        """text was logged after `mark` (so by this test's last attempt)."""
        self.assertIn(text, self.gw.log()[mark:])

    def assertLogin(self, user, keyfile):
        r = self.ssh(user, keyfile, "echo", "in-as-" + user)
        self.assertEqual((r.returncode, r.stdout), (0, ("in-as-%s\n" % user).encode()), r.stderr)

    def assertRefused(self, user, keyfile, log_reason):
        mark = self.log_mark()
        r = self.ssh(user, keyfile, "echo", "in")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"Permission denied", r.stderr)
        self.assertNotIn(b"in\n", r.stdout)
        self.assertLogged(log_reason, mark)

    def paramiko_auth(self, user, keyfile, cert_path):
        """Offer `cert_path` (not checked by paramiko) with keyfile's key."""
        key = paramiko.Ed25519Key.from_private_key_file(str(keyfile))
        key.load_certificate(str(cert_path))
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        t = paramiko.Transport(s)
        try:
            t.start_client(timeout=10)
            try:
                t.auth_publickey(user, key)
                return True
            except paramiko.AuthenticationException:
                return False
        finally:
            t.close()

    # ------------------------------------------------------------ trust
    def test_ed25519_ecdsa_rsa_cas(self):
        mark = self.log_mark()
        self.assertLogin("alice", self.cert("ed", "ed25519"))
        self.assertLogin("alice", self.cert("ecdsa", "ecdsa"))  # nistp384 CA, nistp256 user key
        self.assertLogin("alice", self.cert("rsa", "rsa"))      # rsa-sha2-512 CA signature
        self.assertLogged("certificate for alice: accepted (users_file)", mark)
        # which certificate it was: key id, serial and CA, as OpenSSH logs them
        self.assertLogged('certificate accepted for alice: ID "id-%d" (serial 0), CA ssh-rsa SHA256:'
                          % UserCertTest._n, mark)

    def test_wrong_principal(self):
        self.assertRefused("alice", self.cert(principals="bob,root"),
                           "is not a principal of the certificate")

    def test_principals_option_on_the_ca_line(self):
        self.assertLogin("carol", self.cert(principals="admins"))
        # principals= replaces the user name: "carol" itself is not enough
        self.assertRefused("carol", self.cert(principals="carol"),
                           'no principal of the certificate is in principals="ops,admins"')

    def test_trusted_user_ca_keys(self):
        mark = self.log_mark()
        self.assertLogin("dave", self.cert("file", principals="dave"))
        self.assertLogged("certificate for dave: accepted, CA key in trusted_ca.pub", mark)
        # the file's CA does not vouch for a principal that is not the user
        self.assertRefused("dave", self.cert("file", principals="alice"),
                           "is not a principal of the certificate")
        # nor for a user auth-file does not know
        mark = self.log_mark()
        r = self.ssh("eve", self.cert("file", principals="eve"), "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertLogged("certificate probe for eve: unknown user", mark)

    def test_validity_window(self):
        self.assertRefused("alice", self.cert(extra=["-V", "20200101:20200102"]),
                           "certificate expired")
        self.assertRefused("alice", self.cert(extra=["-V", "+1d:+2d"]),
                           "certificate not valid yet")

    def test_untrusted_ca(self):
        self.assertRefused("alice", self.cert("other"), "no trusted CA key vouches for it")

    def test_sha1_ca_signature_refused(self):
        self.assertRefused("alice", self.cert("rsa", "rsa", extra=["-t", "ssh-rsa"]),
                           "ssh-rsa (SHA-1)")

    def test_host_certificate_refused(self):
        cert = self.cert(extra=["-h"])
        mark = self.log_mark()
        self.assertFalse(self.paramiko_auth("alice", cert, "%s-cert.pub" % cert))
        self.assertLogged("certificate for alice refused: not a user certificate (type 2: host)",
                          mark)

    def test_altered_ca_signature(self):
        cert = self.cert()
        path = "%s-cert.pub" % cert
        self.assertTrue(self.paramiko_auth("alice", cert, path))  # the unaltered one works
        kind, b64 = open(path).read().split()[:2]
        blob = bytearray(base64.b64decode(b64))
        blob[-7] ^= 0x40  # inside the Ed25519 signature bytes
        bad = self.gw.tmp / "altered-cert.pub"
        bad.write_text("%s %s\n" % (kind, base64.b64encode(bytes(blob)).decode()))
        mark = self.log_mark()
        self.assertFalse(self.paramiko_auth("alice", cert, bad))
        self.assertLogged("certificate for alice refused: CA signature (ssh-ed25519) does not "
                          "verify", mark)

    def test_ca_key_is_no_login_key(self):
        argv = ["ssh", "-F", str(self.gw.ssh_config), "-p", str(self.gw.port),
                "-o", "BatchMode=yes", "-i", str(self.ca["ed"]), "alice@127.0.0.1", "true"]
        mark = self.log_mark()
        r = subprocess.run(argv, input=b"", capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertLogged("a cert-authority key only signs certificates", mark)

    def test_certificate_of_a_plain_key_needs_a_trusted_ca(self):
        # "plain" may log in with the bare key; a certificate of that same key
        # from an untrusted CA is judged as a certificate, not as the key
        self.assertRefused("plain", self.cert("other", principals="plain"),
                           "certificate for plain refused: no trusted CA key vouches for it")

    # ------------------------------------------------------------ restrictions
    def assertPty(self, user, keyfile, allowed):
        r = self.ssh(user, keyfile, "tty", opts=["-tt"])
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if allowed:
            self.assertRegex(out, r"/dev/pts/\d+", err)
        else:
            self.assertNotIn("/dev/pts", out)
            self.assertIn("PTY allocation request failed", err)

    def assertForward(self, user, keyfile, allowed):
        argv = self.ssh_argv(user, keyfile, ["-o", "LogLevel=INFO",
                                             "-W", "127.0.0.1:%d" % self.echo.port])
        r = subprocess.run(argv, input=b"through\n", capture_output=True, timeout=30)
        if allowed:
            self.assertEqual((r.returncode, r.stdout), (0, b"through\n"), r.stderr)
        else:
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"open failed", r.stderr)

    def test_extensions_grant_pty_and_forwarding(self):
        cert = self.cert()  # ssh-keygen's default extensions: permit-pty, -port-forwarding, ...
        self.assertPty("alice", cert, True)
        self.assertForward("alice", cert, True)

    def test_no_pty(self):
        cert = self.cert(extra=["-O", "no-pty"])
        self.assertPty("alice", cert, False)
        self.assertForward("alice", cert, True)

    def test_no_port_forwarding(self):
        cert = self.cert(extra=["-O", "no-port-forwarding"])
        mark = self.log_mark()
        self.assertForward("alice", cert, False)
        lp = sgtest.free_port()
        r = self.ssh("alice", cert, "true", opts=["-o", "ExitOnForwardFailure=yes",
                                                  "-L", "127.0.0.1:%d:127.0.0.1:%d"
                                                  % (lp, self.echo.port)])
        self.assertEqual(r.returncode, 0, r.stderr)  # -L listens locally; its channel is refused
        self.assertPty("alice", cert, True)
        self.assertLogged("refused: not permitted by the credential (no port forwarding)", mark)

    def test_force_command(self):
        cert = self.cert(extra=["-O", 'force-command=echo "forced:${SSH_ORIGINAL_COMMAND-unset}"'])
        r = self.ssh("alice", cert, "rm", "-rf", "/tmp/x;", "id")
        self.assertEqual((r.returncode, r.stdout), (0, b"forced:rm -rf /tmp/x; id\n"), r.stderr)

    def test_source_address(self):
        self.assertLogin("alice", self.cert(extra=["-O", "source-address=10.0.0.0/8,127.0.0.1/32"]))
        self.assertRefused("alice", self.cert(extra=["-O", "source-address=10.0.0.0/8"]),
                           "127.0.0.1 is not in source-address \"10.0.0.0/8\"")

    def test_ca_line_options_apply_too(self):
        cert = self.cert(principals="gina")  # permit-pty and port forwarding in the cert
        self.assertLogin("gina", cert)
        self.assertPty("gina", cert, False)  # but the line says restrict
        self.assertForward("gina", cert, False)
        self.assertRefused("henry", self.cert(principals="henry"),
                           'not allowed by from="10.0.0.0/8"')


if __name__ == "__main__":
    unittest.main()
