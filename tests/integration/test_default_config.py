"""The shipped default: sshgated with no -f runs the embedded conf/sshgate.json
unprivileged on 127.0.0.1:2222 — host keys generated (mode 0600), SFTP,
exec and loopback-only forwarding work with a demo key, no password login."""
import os
import pathlib
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

import sgtest

PORT = 2222


class DefaultConfig(unittest.TestCase):
    def setUp(self):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.5):
                self.skipTest("port 2222 is busy on this machine")
        except OSError:
            pass
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="sg-default-"))
        st = self.dir / "state"
        (st / "authorized_keys").mkdir(parents=True)
        (st / "sftp" / "demo").mkdir(parents=True)
        os.chmod(st, 0o700)
        sgtest.keygen(st / "demo_id_ed25519")
        shutil.copy(st / "demo_id_ed25519.pub", st / "authorized_keys" / "demo")
        os.chmod(st / "authorized_keys" / "demo", 0o600)
        (st / "users.json").write_text('{"users": {}}\n')
        self.log = open(self.dir / "sshgated.log", "wb")
        self.proc = subprocess.Popen([str(sgtest.SSHGATED), "-D"], cwd=str(self.dir),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.cleanup)
        self.assertTrue(sgtest.wait_port(PORT, 30), self.logtext())
        self.key = str(st / "demo_id_ed25519")
        self.base = ["-p", str(PORT), "-i", self.key, "-o", "StrictHostKeyChecking=no",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                     "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"]

    def cleanup(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logtext(self):
        return (self.dir / "sshgated.log").read_text(errors="replace")

    def test_default_run(self):
        if os.geteuid() == 0:  # the operator is told what root means here
            self.assertIn("running as root (no \"user\" in the config)", self.logtext())
        for name in ("ssh_host_ed25519_key", "ssh_host_ecdsa_key", "ssh_host_rsa_key"):
            p = self.dir / "state" / name
            self.assertTrue(p.exists(), name)
            self.assertEqual(stat.S_IMODE(p.stat().st_mode), 0o600)
        out = subprocess.run(["ssh-keygen", "-l", "-f", str(self.dir / "state" / "ssh_host_rsa_key.pub")],
                             capture_output=True, text=True)
        self.assertTrue(out.stdout.startswith("3072 "), out.stdout)
        # exec through the shell plugin, in the user's sftp root
        r = subprocess.run(["ssh"] + self.base + ["demo@127.0.0.1", "echo hi; pwd"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr + self.logtext().encode())
        self.assertTrue(r.stdout.startswith(b"hi\n"))
        # sftp into state/sftp/demo
        (self.dir / "up.txt").write_text("payload\n")
        r = subprocess.run(["sftp", "-b", "-", "-P", str(PORT), "-i", self.key, "-o",
                            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "BatchMode=yes", "demo@127.0.0.1"],
                           input=b"put up.txt\nls\n", capture_output=True, timeout=30,
                           cwd=str(self.dir))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.dir / "state" / "sftp" / "demo" / "up.txt").read_text(), "payload\n")
        # no password login is possible: nobody has a password
        r = subprocess.run(["sshpass", "-p", "demo", "ssh", "-p", str(PORT), "-o",
                            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "PubkeyAuthentication=no", "demo@127.0.0.1", "true"],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        # only loopback is listening
        for line in open("/proc/net/tcp"):
            parts = line.split()
            if parts[1].endswith(":%04X" % PORT) and parts[3] == "0A":
                self.assertEqual(parts[1].split(":")[0], "0100007F")

    def test_check_mode_prints_effective_config(self):
        r = subprocess.run([str(sgtest.SSHGATED), "-t"], capture_output=True, text=True,
                           cwd=str(self.dir), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"max_connections"', r.stdout)
        self.assertNotIn("password\": \"$", r.stdout)


if __name__ == "__main__":
    sgtest.require_build(None)
    unittest.main()
