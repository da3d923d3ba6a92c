"""Admission and session limits of the core, with real OpenSSH clients:
max_connections, max_startups, per-source cap and penalty, allowed/blocked
clients, IPv6, idle timeout, keepalive, rekey."""
import hashlib
import os
import signal
import socket
import subprocess
import time
import unittest

import sgtest

ROUTES = [{"match": {"kind": "exec"}, "plugin": "echo"}]
USERS = {"alice": {"password": "pw-alice", "key": True}}


def gateway(test, config=None, **kw):
    return sgtest.Gateway(test, plugins=[{"name": "echo"}], routes=ROUTES, users=USERS,
                          config=config or {}, **kw)


def hold(gw, cmd="sleep 600000"):
    """An authenticated session kept open; returns the ssh process once it runs."""
    p = subprocess.Popen(gw.ssh_cmd("alice") + [cmd], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def kill_all(procs):
    for p in procs:
        p.kill()
        p.wait()


class Admission(unittest.TestCase):
    def test_max_connections_across_workers(self):
        gw = gateway(self, {"limits": {"max_connections": 3}}, workers=2).start()
        procs = [hold(gw) for _ in range(3)]
        self.addCleanup(kill_all, procs)
        self.assertTrue(wait_for(lambda: gw.log().count("routed to echo") >= 3))
        r = gw.ssh("alice", "exit 0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("max_connections reached", gw.log())
        # the logged-in sessions keep working
        procs[0].stdin.close()
        procs[0].kill()
        procs[0].wait()
        self.assertTrue(wait_for(lambda: gw.ssh("alice", "exit 5").returncode == 5))

    def test_max_startups_refuses_unauthenticated_flood(self):
        gw = gateway(self, {"limits": {"max_startups": "2:100:2", "login_grace_time": 30}}).start()
        live = hold(gw, "cat")
        self.addCleanup(kill_all, [live])
        live.stdin.write(b"ping\n")
        live.stdin.flush()
        self.assertEqual(live.stdout.readline(), b"ping\n")
        socks = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.sendall(b"SSH-2.0-flood\r\n")
            socks.append(s)
        time.sleep(0.5)
        extra = socket.create_connection(("127.0.0.1", gw.port))
        extra.settimeout(5)
        self.assertEqual(extra.recv(100), b"")  # closed without a banner
        self.assertIn("max_startups reached", gw.log())
        # the logged-in session is not affected
        live.stdin.write(b"pong\n")
        live.stdin.flush()
        self.assertEqual(live.stdout.readline(), b"pong\n")
        for s in socks:
            s.close()
        self.assertTrue(wait_for(lambda: gw.ssh("alice", "exit 6").returncode == 6))

    def test_per_source_cap(self):
        gw = gateway(self, {"limits": {"per_source_max": 2}}).start()
        procs = [hold(gw) for _ in range(2)]
        self.addCleanup(kill_all, procs)
        self.assertTrue(wait_for(lambda: gw.log().count("routed to echo") >= 2))
        self.assertNotEqual(gw.ssh("alice", "exit 0").returncode, 0)
        self.assertIn("per_source_max reached", gw.log())

    def test_penalty_after_repeated_failures(self):
        gw = gateway(self, {"limits": {"per_source_penalty": 2, "per_source_penalty_failures": 3,
                                       "max_auth_attempts": 1}}).start()
        for _ in range(3):
            gw.ssh("alice", "exit 0", password="wrong")
        r = gw.ssh("alice", "exit 0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("penalised", gw.log())
        time.sleep(2.5)
        self.assertEqual(gw.ssh("alice", "exit 0").returncode, 0)

    def test_blocked_and_allowed_clients(self):
        gw = gateway(self, {"blocked_clients": ["127.0.0.0/8"]}).start()
        self.assertNotEqual(gw.ssh("alice", "exit 0").returncode, 0)
        self.assertIn("not in allowed_clients or in blocked_clients", gw.log())
        gw.stop()
        gw2 = gateway(self, {"allowed_clients": ["10.*", "192.168.0.0/16"]}).start()
        self.assertNotEqual(gw2.ssh("alice", "exit 0").returncode, 0)
        gw2.stop()
        gw3 = gateway(self, {"allowed_clients": ["127.0.0.1"]}).start()
        self.assertEqual(gw3.ssh("alice", "exit 0").returncode, 0)

    def test_client_version_pattern(self):
        gw = gateway(self, {"client_version_pattern": "SSH-2.0-PuTTY*"}).start()
        self.assertNotEqual(gw.ssh("alice", "exit 0").returncode, 0)
        self.assertIn("does not match client_version_pattern", gw.log())
        gw.stop()
        gw2 = gateway(self, {"client_version_pattern": "SSH-2.0-OpenSSH_*"}).start()
        self.assertEqual(gw2.ssh("alice", "exit 0").returncode, 0)

    def test_ipv6_listener(self):
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no ::1 here")
        gw = gateway(self)
        port6 = sgtest.free_port()
        gw.extra["listen"] = [{"address": "127.0.0.1", "port": gw.port},
                              {"address": "::1", "port": port6}]
        gw.start()
        argv = gw.ssh_cmd("alice")
        argv[-1] = "alice@::1"
        argv[argv.index("-p") + 1] = str(port6)
        r = subprocess.run(argv + ["info"], capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)


class Session(unittest.TestCase):
    def test_idle_timeout(self):
        gw = gateway(self, {"limits": {"idle_timeout": 2}}).start()
        p = hold(gw)
        t0 = time.time()
        p.wait(15)
        self.assertLess(time.time() - t0, 8)
        self.assertIn("idle timeout", gw.log())

    def test_keepalive_drops_a_silent_peer(self):
        gw = gateway(self, {"keepalive": {"interval": 1, "count_max": 2}}).start()
        p = hold(gw)
        self.addCleanup(kill_all, [p])
        self.assertTrue(wait_for(lambda: "routed to echo" in gw.log()))
        os.kill(p.pid, signal.SIGSTOP)  # the client stops answering
        self.assertTrue(wait_for(lambda: "keepalive timeout" in gw.log(), 10))
        os.kill(p.pid, signal.SIGCONT)
        # an answering client is kept alive past count_max * interval
        q = hold(gw, "cat")
        self.addCleanup(kill_all, [q])
        time.sleep(4)
        q.stdin.write(b"alive\n")
        q.stdin.flush()
        self.assertEqual(q.stdout.readline(), b"alive\n")

    def test_rekey_by_volume_and_time(self):
        gw = gateway(self, {"rekey": {"bytes": 1048576, "seconds": 1}}).start()
        data = os.urandom(8 * 1024 * 1024)
        r = gw.ssh("alice", "cat", input=data, opts=["-v"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        self.assertEqual(hashlib.sha256(r.stdout).digest(), hashlib.sha256(data).digest())
        self.assertGreaterEqual(r.stderr.count(b"SSH2_MSG_KEXINIT received"), 2)

    def test_compression_zlib(self):
        gw = gateway(self).start()
        data = b"compressible " * 100000
        r = gw.ssh("alice", "cat", input=data, opts=["-C", "-v"])
        self.assertEqual(r.stdout, data)
        self.assertIn(b"zlib@openssh.com", r.stderr)


if __name__ == "__main__":
    sgtest.require_build(None)
    unittest.main()
