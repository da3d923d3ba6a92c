"""Integration tests of the tunnel plugin with the real OpenSSH client:
ssh -L (5 MiB checksum round trip to a local echo server, by address and by
name), ssh -D (SOCKS5 client written here), ssh -R (traffic through the
remote listener, port 0 allocation, cancel through a control socket, no
take-over or cancel by another connection, listener closed at disconnect),
denied destinations and listens, caps, idle timeout, and memory staying
bounded with a slow reader on either end."""
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

sgtest.require_build(None)

MiB = 1024 * 1024


# ---------------------------------------------------------------- local servers
class Server:
    """A TCP server on 127.0.0.1 running `handler(conn)` per connection."""

    def __init__(self, handler, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


def echo_handler(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def sink_handler(c):
    """Accepts and never reads (a slow reader at the destination)."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(30)


def source_handler(c):
    """Sends as fast as the peer takes it."""
    chunk = b"x" * 65536
    end = time.time() + 30
    while time.time() < end:
        c.sendall(chunk)


def round_trip(sock, data, timeout=60):
    """Send data (then EOF) while reading the echo; returns what came back."""
    sock.settimeout(timeout)
    err = []

    def writer():
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = bytearray()
    while True:
        b = sock.recv(262144)
        if not b:
            break
        got += b
    t.join(5)
    if err:
        raise err[0]
    return bytes(got)


def sanitized():
    """True when sshgated was built with AddressSanitizer."""
    r = subprocess.run(["ldd", str(sgtest.SSHGATED)], capture_output=True, text=True)
    return "libasan" in r.stdout


def sha(b):
    return hashlib.sha256(b).hexdigest()


def wait_closed(port, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


def socks5_connect(proxy_port, host, port, timeout=20):
    """Minimal SOCKS5 CONNECT (no auth); host may be an IPv4 address or a name."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise RuntimeError("SOCKS5: no acceptable auth method")
    try:
        addr = b"\x01" + socket.inet_aton(host) if re.fullmatch(r"[\d.]+", host) else None
    except OSError:
        addr = None
    if addr is None:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", port))
    head = b""
    while len(head) < 4:
        b = s.recv(4 - len(head))
        if not b:
            raise RuntimeError("SOCKS5: closed during reply")
        head += b
    if head[1] != 0:
        s.close()
        raise RuntimeError("SOCKS5: reply code %d" % head[1])
    rest = {1: 4 + 2, 4: 16 + 2}.get(head[3])
    if rest is None:
        rest = s.recv(1)[0] + 2
    while rest > 0:
        rest -= len(s.recv(rest))
    return s


# ---------------------------------------------------------------- the gateway
LOOPBACK_OPEN = ["127.0.0.1:*", "[::1]:*", "localhost:*"]
LOOPBACK_LISTEN = ["127.0.0.1:1024-65535", "[::1]:1024-65535", "localhost:1024-65535"]


def route(kind, user, cfg):
    return {"name": "%s-%s" % (kind, user), "match": {"kind": kind, "user": user},
            "plugin": "tunnel", "config": cfg}


class TunnelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Server(echo_handler)
        routes = [
            # alice: loopback permitted (the shipped default)
            route("direct-tcpip", "alice", {"permit_open": LOOPBACK_OPEN}),
            route("tcpip-forward", "alice", {"permit_listen": LOOPBACK_LISTEN}),
            # bob: anything but loopback / link-local / own ports; listen on 127.0.0.1 only
            route("direct-tcpip", "bob", {"permit_open": ["*:*"]}),
            route("tcpip-forward", "bob", {"permit_listen": ["127.0.0.1:1024-65535"]}),
            # carol: tight caps and an idle timeout
            route("direct-tcpip", "carol", {"permit_open": ["127.0.0.1:*"], "max_forwards": 2,
                                            "idle_timeout": 1, "connect_timeout_ms": 1500}),
            route("tcpip-forward", "carol", {"permit_listen": ["127.0.0.1:*"],
                                             "max_listeners": 1}),
            {"name": "exec", "match": {"kind": "exec"}, "plugin": "shell"},
        ]
        cls.gw = sgtest.Gateway(None, plugins=[{"name": "tunnel", "config": {}},
                                               {"name": "shell", "config": {}}],
                                routes=routes,
                                users={"alice": {"key": True}, "bob": {"key": True},
                                       "carol": {"key": True}},
                                workers=1)
        cls.gw.start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.echo.close()
        if os.environ.get("SGTEST_KEEP") != "1":
            shutil.rmtree(cls.gw.tmp, ignore_errors=True)
        else:
            print("sgtest: kept %s" % cls.gw.tmp)

    def setUp(self):
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p.errf.close()

    # ------------------------------------------------------------ helpers
    def ssh_bg(self, user, *opts, loglevel="ERROR"):
        """ssh -N with options in the background; stderr to a file."""
        errf = open(self.gw.tmp / ("ssh-%d.err" % (len(self.procs) + time.time_ns())), "w+b")
        argv = self.gw.ssh_cmd(user, opts=["-N", "-o", "LogLevel=" + loglevel] + list(opts))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf)
        p.errf = errf
        self.procs.append(p)
        return p

    def stderr_of(self, p):
        p.errf.flush()
        p.errf.seek(0)
        return p.errf.read().decode(errors="replace")

    def stdio_forward(self, user, target, data=b"", timeout=20, loglevel="INFO"):
        """ssh -W target: returns CompletedProcess (open failures -> exit 255).
        No retry: a connection accepted while the previous one is torn down
        once stalled before key exchange (the fd-reuse race that
        test_adversarial's test_accept_right_after_a_client_close covers);
        a stall here is a failure."""
        argv = self.gw.ssh_cmd(user, opts=["-o", "LogLevel=" + loglevel, "-W", target])
        return subprocess.run(argv, input=data, capture_output=True, timeout=timeout)

    def local_forward(self, user, target_host, target_port):
        lp = sgtest.free_port()
        p = self.ssh_bg(user, "-o", "ExitOnForwardFailure=yes",
                        "-L", "127.0.0.1:%d:%s:%d" % (lp, target_host, target_port))
        self.assertTrue(self.wait_listen(lp, p), "ssh -L never listened: " + self.stderr_of(p))
        return lp, p

    def wait_listen(self, port, proc, timeout=20):
        """Wait until something listens on 127.0.0.1:port (without connecting)."""
        end = time.time() + timeout
        hexport = ":%04X " % port
        while time.time() < end:
            if proc is not None and proc.poll() is not None:
                return False
            for f in ("/proc/net/tcp", "/proc/net/tcp6"):
                try:
                    with open(f) as fh:
                        lines = fh.readlines()[1:]
                    for line in lines:
                        parts = line.split()
                        if parts[1].endswith(hexport.strip()) and parts[3] == "0A":
                            return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def worker_rss_kb(self):
        pids = self.gw.worker_pids()
        self.assertEqual(len(pids), 1, "expected one worker")
        with open("/proc/%d/status" % pids[0]) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # ------------------------------------------------------------ -L
    def test_local_forward_5mib_sha256(self):
        lp, _ = self.local_forward("alice", "127.0.0.1", self.echo.port)
        data = os.urandom(5 * MiB)
        with socket.create_connection(("127.0.0.1", lp), timeout=30) as s:
            got = round_trip(s, data)
        self.assertEqual(len(got), len(data))
        self.assertEqual(sha(got), sha(data))

    def test_local_forward_by_name_falls_back_to_listening_address(self):
        # "localhost" may resolve to ::1 first; the echo server only listens on
        # 127.0.0.1: the next permitted address is tried.
        lp, _ = self.local_forward("alice", "localhost", self.echo.port)
        data = os.urandom(256 * 1024)
        with socket.create_connection(("127.0.0.1", lp), timeout=30) as s:
            self.assertEqual(sha(round_trip(s, data)), sha(data))

    def test_local_forward_half_close_and_parallel(self):
        lp, _ = self.local_forward("alice", "127.0.0.1", self.echo.port)
        results = {}

        def one(i):
            d = os.urandom(300 * 1024 + i)
            with socket.create_connection(("127.0.0.1", lp), timeout=30) as s:
                results[i] = sha(round_trip(s, d)) == sha(d)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(results, {i: True for i in range(8)})

    def test_stdio_forward_and_connect_failure(self):
        r = self.stdio_forward("alice", "127.0.0.1:%d" % self.echo.port, data=b"hello\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello\n")
        closed = sgtest.free_port()
        r = self.stdio_forward("alice", "127.0.0.1:%d" % closed, loglevel="DEBUG1")
        self.assertEqual(r.returncode, 255)
        # the plugin answers "connect failed" (reason 2); libssh 0.10.6 sends
        # every open failure as "administratively prohibited", so the reason
        # comes first as an SSH_MSG_DEBUG, shown by ssh -v
        self.assertIn(b"open failed", r.stderr)
        self.assertIn(b"Remote: channel open refused: connect failed", r.stderr)
        self.assertRegex(self.gw.log(), r"127\.0\.0\.1:%d refused: connect failed" % closed)
        # a policy refusal is what the failure itself says: no extra message
        r = self.stdio_forward("alice", "169.254.169.254:80", loglevel="DEBUG1")
        self.assertEqual(r.returncode, 255)
        self.assertIn(b"administratively prohibited", r.stderr)
        self.assertNotIn(b"Remote: channel open refused", r.stderr)

    def test_ipv6_destination_and_mapped_form(self):
        try:
            echo6 = Server(echo_handler, host="::1")
        except OSError:
            self.skipTest("no IPv6 loopback")
        try:
            r = self.stdio_forward("alice", "[::1]:%d" % echo6.port, data=b"six\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"six\n")
            # the mapped form is checked (and connected) as 127.0.0.1
            r = self.stdio_forward("alice", "[::ffff:127.0.0.1]:%d" % self.echo.port,
                                   data=b"four\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"four\n")
        finally:
            echo6.close()

    def test_connect_timeout_and_unresolvable(self):
        # a listener whose accept queue is full drops SYNs: the connect hangs
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fport = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):
                c = socket.socket()
                c.setblocking(False)
                try:
                    c.connect(("127.0.0.1", fport))
                except BlockingIOError:
                    pass
                fillers.append(c)
            time.sleep(0.2)
            t0 = time.time()
            r = self.stdio_forward("carol", "127.0.0.1:%d" % fport)  # carol: 1.5 s
            self.assertEqual(r.returncode, 255, r.stderr)
            self.assertIn(b"open failed", r.stderr)
            self.assertLess(time.time() - t0, 8)
            self.assertRegex(self.gw.log(), r"127\.0\.0\.1:%d refused: connect failed: "
                             r"Connection timed out" % fport)
        finally:
            for c in fillers:
                c.close()
            full.close()
        r = self.stdio_forward("bob", "no-such-host.invalid:80")
        self.assertEqual(r.returncode, 255, r.stderr)
        self.assertRegex(self.gw.log(), r"no-such-host\.invalid:80 refused: "
                         r"(cannot resolve|connect failed)")

    # ------------------------------------------------------------ -D
    def test_dynamic_socks5(self):
        sp = sgtest.free_port()
        p = self.ssh_bg("alice", "-o", "ExitOnForwardFailure=yes", "-D", "127.0.0.1:%d" % sp)
        self.assertTrue(self.wait_listen(sp, p), "ssh -D never listened: " + self.stderr_of(p))
        data = os.urandom(2 * MiB)
        with socks5_connect(sp, "127.0.0.1", self.echo.port) as s:
            self.assertEqual(sha(round_trip(s, data)), sha(data))
        with socks5_connect(sp, "localhost", self.echo.port) as s:
            self.assertEqual(sha(round_trip(s, data[:100000])), sha(data[:100000]))
        # a denied destination through SOCKS: the proxy reports a failure
        with self.assertRaises((RuntimeError, OSError)):
            socks5_connect(sp, "169.254.169.254", 80).close()

    # ------------------------------------------------------------ -R
    def test_remote_forward_traffic_and_close_on_disconnect(self):
        rp = sgtest.free_port()
        p = self.ssh_bg("alice", "-o", "ExitOnForwardFailure=yes",
                        "-R", "127.0.0.1:%d:127.0.0.1:%d" % (rp, self.echo.port))
        self.assertTrue(self.wait_listen(rp, p), "no -R listener: " + self.stderr_of(p))
        data = b"".join(struct.pack(">I", i) for i in range(2 * MiB // 4))
        with socket.create_connection(("127.0.0.1", rp), timeout=30) as s:
            got = bytes(round_trip(s, data))
            if got != data:
                i = next((k for k in range(min(len(got), len(data))) if got[k] != data[k]), None)
                print("DIAG len", len(got), len(data), "first diff", i, file=sys.stderr)
                if i is not None:
                    j = i - i % 4
                    print("DIAG got", [struct.unpack(">I", got[k:k+4])[0] for k in range(j, j + 40, 4)], file=sys.stderr)
                    print("DIAG want", [struct.unpack(">I", data[k:k+4])[0] for k in range(j, j + 40, 4)], file=sys.stderr)
            self.assertEqual(sha(got), sha(data))
        p.terminate()
        p.wait(5)
        self.assertTrue(wait_closed(rp), "listener still open after the client left")

    def test_remote_forward_port0(self):
        p = self.ssh_bg("alice", "-o", "ExitOnForwardFailure=yes",
                        "-R", "0:127.0.0.1:%d" % self.echo.port, loglevel="INFO")
        port = None
        end = time.time() + 20
        while time.time() < end and port is None:
            m = re.search(r"Allocated port (\d+) for remote forward", self.stderr_of(p))
            if m:
                port = int(m.group(1))
            elif p.poll() is not None:
                break
            time.sleep(0.05)
        self.assertIsNotNone(port, "no allocated port: " + self.stderr_of(p))
        self.assertGreaterEqual(port, 1024)
        data = os.urandom(512 * 1024)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            self.assertEqual(sha(round_trip(s, data)), sha(data))
        # "localhost" (OpenSSH's default listen address) binds ::1 too
        with socket.create_connection(("::1", port), timeout=30) as s:
            self.assertEqual(round_trip(s, b"via v6\n"), b"via v6\n")

    def test_remote_forward_cancel_and_no_takeover(self):
        ctl = str(self.gw.tmp / "ctl-alice")
        master = self.ssh_bg("alice", "-o", "ControlMaster=yes", "-o", "ControlPath=" + ctl)
        end = time.time() + 20
        while time.time() < end and not os.path.exists(ctl):
            time.sleep(0.05)
        self.assertTrue(os.path.exists(ctl), self.stderr_of(master))
        rp = sgtest.free_port()
        spec = "127.0.0.1:%d:127.0.0.1:%d" % (rp, self.echo.port)
        mux = self.gw.ssh_cmd("alice", opts=["-o", "ControlPath=" + ctl])
        r = subprocess.run(mux[:-1] + ["-O", "forward", "-R", spec, mux[-1]],
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.wait_listen(rp, None, 10))

        # bob cannot take the port over (bind in use) ...
        r = subprocess.run(self.gw.ssh_cmd("bob", opts=["-o", "ExitOnForwardFailure=yes", "-R",
                                                        spec, "-N"]),
                           capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 255)
        self.assertIn(b"remote port forwarding failed", r.stderr)
        # ... nor cancel it: bob's own master holds a (failed) forward of the
        # same spec and sends cancel-tcpip-forward for it
        bctl = str(self.gw.tmp / "ctl-bob")
        bmaster = self.ssh_bg("bob", "-o", "ControlMaster=yes", "-o", "ControlPath=" + bctl,
                              "-R", spec)
        end = time.time() + 20
        while time.time() < end and not os.path.exists(bctl):
            time.sleep(0.05)
        self.assertTrue(os.path.exists(bctl), self.stderr_of(bmaster))
        bmux = self.gw.ssh_cmd("bob", opts=["-o", "ControlPath=" + bctl])
        subprocess.run(bmux[:-1] + ["-O", "cancel", "-R", spec, bmux[-1]],
                       capture_output=True, timeout=20)
        end = time.time() + 5
        while time.time() < end and "no such forward on this connection" not in self.gw.log():
            time.sleep(0.05)
        self.assertRegex(self.gw.log(), r"cancel-tcpip-forward 127\.0\.0\.1:%d.*no such forward" % rp)
        with socket.create_connection(("127.0.0.1", rp), timeout=10) as s:
            self.assertEqual(round_trip(s, b"still alice\n"), b"still alice\n")

        # alice cancels her own forward: the listener goes away
        r = subprocess.run(mux[:-1] + ["-O", "cancel", "-R", spec, mux[-1]],
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_closed(rp), "listener still open after cancel")
        self.assertRegex(self.gw.log(), r"remote forward 127\.0\.0\.1:%d closed" % rp)

    # ------------------------------------------------------------ policy
    def test_denied_destinations(self):
        ep = self.echo.port
        cases = [
            ("bob", "127.0.0.1:%d" % ep),           # loopback not permitted explicitly
            ("bob", "0177.0.0.1:%d" % ep),          # non-canonical numeric
            ("bob", "2130706433:%d" % ep),
            ("bob", "127.1:%d" % ep),
            ("bob", "[::ffff:127.0.0.1]:%d" % ep),  # mapped v6 -> 127.0.0.1
            ("bob", "[::1]:%d" % ep),
            ("bob", "169.254.169.254:80"),          # link-local (cloud metadata)
            ("bob", "localhost:%d" % ep),           # a name resolving to a denied address
            ("bob", "127.0.0.1:%d" % self.gw.port),
            ("alice", "0177.0.0.1:%d" % ep),        # refused even where 127.0.0.1 is allowed
            ("alice", "127.0.0.1:%d" % self.gw.port),  # the gateway's own port
            ("alice", "10.1.2.3:80"),               # no pattern
        ]
        before = self.echo.accepted
        for user, target in cases:
            with self.subTest(user=user, target=target):
                r = self.stdio_forward(user, target, data=b"x")
                self.assertEqual(r.returncode, 255, r.stderr)
                self.assertIn(b"administratively prohibited", r.stderr)
        self.assertEqual(self.echo.accepted, before, "a denied destination was connected")

    def test_denied_listen(self):
        rp = sgtest.free_port()
        ep = self.echo.port
        cases = [
            ("alice", "127.0.0.1:80:127.0.0.1:%d" % ep),     # privileged
            ("alice", "0.0.0.0:%d:127.0.0.1:%d" % (rp, ep)),  # wildcard
            ("alice", "*:%d:127.0.0.1:%d" % (rp, ep)),
            ("alice", "[::]:%d:127.0.0.1:%d" % (rp, ep)),
            ("alice", "10.9.9.9:%d:127.0.0.1:%d" % (rp, ep)),  # not listed
            ("bob", "[::1]:%d:127.0.0.1:%d" % (rp, ep)),       # bob: 127.0.0.1 only
        ]
        for user, spec in cases:
            with self.subTest(user=user, spec=spec):
                r = subprocess.run(self.gw.ssh_cmd(user, opts=["-o", "ExitOnForwardFailure=yes",
                                                               "-R", spec, "-N"]),
                                   capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 255, r.stderr)
                self.assertIn(b"remote port forwarding failed", r.stderr)
        # "localhost" for bob binds only the permitted 127.0.0.1
        p = self.ssh_bg("bob", "-o", "ExitOnForwardFailure=yes",
                        "-R", "localhost:%d:127.0.0.1:%d" % (rp, self.echo.port))
        self.assertTrue(self.wait_listen(rp, p), self.stderr_of(p))
        with socket.create_connection(("127.0.0.1", rp), timeout=10) as s:
            self.assertEqual(round_trip(s, b"bob\n"), b"bob\n")
        with self.assertRaises(OSError):
            socket.create_connection(("::1", rp), timeout=2).close()

    def test_caps_and_idle_timeout(self):
        lp, p = self.local_forward("carol", "127.0.0.1", self.echo.port)
        s1 = socket.create_connection(("127.0.0.1", lp), timeout=10)
        s2 = socket.create_connection(("127.0.0.1", lp), timeout=10)
        s1.sendall(b"a")
        s2.sendall(b"b")
        self.assertEqual(s1.recv(1), b"a")
        self.assertEqual(s2.recv(1), b"b")
        # max_forwards 2: the third channel is refused (ssh closes the socket)
        s3 = socket.create_connection(("127.0.0.1", lp), timeout=10)
        try:
            s3.sendall(b"c")
            self.assertEqual(s3.recv(1), b"")
        except ConnectionResetError:
            pass
        s3.close()
        self.assertIn("max_forwards (2) reached", self.gw.log())
        # idle_timeout 1 s: both close without traffic
        s1.settimeout(6)
        s2.settimeout(6)
        t0 = time.time()
        self.assertEqual(s1.recv(1), b"")
        self.assertEqual(s2.recv(1), b"")
        self.assertLess(time.time() - t0, 5)
        s1.close()
        s2.close()
        # capacity is back once the client confirmed the closes
        end = time.time() + 5
        while time.time() < end:
            try:
                with socket.create_connection(("127.0.0.1", lp), timeout=10) as s:
                    if round_trip(s, b"again") == b"again":
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            self.fail("forwarding did not recover after the idle closes")
        # max_listeners 1
        r1, r2 = sgtest.free_port(), sgtest.free_port()
        q = self.ssh_bg("carol", "-o", "ExitOnForwardFailure=yes",
                        "-R", "127.0.0.1:%d:127.0.0.1:%d" % (r1, self.echo.port),
                        "-R", "127.0.0.1:%d:127.0.0.1:%d" % (r2, self.echo.port))
        q.wait(20)
        self.assertEqual(q.returncode, 255)
        self.assertIn("remote port forwarding failed", self.stderr_of(q))

    def test_abrupt_closes_under_load(self):
        """Many connections through -L and -R, closed at random points (RST,
        half-close, mid-transfer), then the tunnels still work."""
        import random
        rnd = random.Random(5)
        lp, _ = self.local_forward("alice", "127.0.0.1", self.echo.port)
        rp = sgtest.free_port()
        p = self.ssh_bg("alice", "-o", "ExitOnForwardFailure=yes",
                        "-R", "127.0.0.1:%d:127.0.0.1:%d" % (rp, self.echo.port))
        self.assertTrue(self.wait_listen(rp, p), self.stderr_of(p))
        workers = self.gw.worker_pids()

        def one(i):
            port = lp if i % 2 else rp
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(os.urandom(rnd.randint(1, 300000)))
                how = i % 3
                if how == 0:    # reset without reading
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif how == 1:  # half-close, read a little
                    s.shutdown(socket.SHUT_WR)
                    s.recv(1000)
                else:           # read some then drop
                    s.recv(rnd.randint(1, 50000))
                s.close()
            except OSError:
                pass
        ts = [threading.Thread(target=one, args=(i,)) for i in range(48)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(self.gw.worker_pids(), workers, "worker restarted")
        for port in (lp, rp):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                d = os.urandom(100000)
                self.assertEqual(sha(round_trip(s, d)), sha(d))

    # ------------------------------------------------------------ memory
    def test_slow_reader_memory_bounded(self):
        sink = Server(sink_handler)
        source = Server(source_handler)
        try:
            lp_sink, _ = self.local_forward("alice", "127.0.0.1", sink.port)
            lp_src, _ = self.local_forward("alice", "127.0.0.1", source.port)
            # warm up, then baseline
            with socket.create_connection(("127.0.0.1", lp_src), timeout=10) as s:
                s.recv(65536)
            time.sleep(0.3)
            base = self.worker_rss_kb()

            # 1) destination never reads: push as much as the tunnel takes
            up = socket.create_connection(("127.0.0.1", lp_sink), timeout=10)
            up.setblocking(False)
            pushed = 0
            chunk = b"y" * 65536
            end = time.time() + 4
            while time.time() < end:
                try:
                    pushed += up.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
            # 2) our side never reads what the source sends
            down = socket.create_connection(("127.0.0.1", lp_src), timeout=10)
            down.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            time.sleep(3)
            peak = self.worker_rss_kb()
            growth = peak - base
            sys.stderr.write("slow readers: pushed %d KiB upstream, worker RSS %d -> %d KiB\n"
                             % (pushed // 1024, base, peak))
            self.assertLess(pushed, 64 * MiB, "nothing stopped the upstream writer")

            # 3) and 4) the same through -R: the client-side end never reads /
            # the connecting side never reads what the client-side source sends
            r_sink, r_src = sgtest.free_port(), sgtest.free_port()
            q = self.ssh_bg("alice", "-o", "ExitOnForwardFailure=yes",
                            "-R", "127.0.0.1:%d:127.0.0.1:%d" % (r_sink, sink.port),
                            "-R", "127.0.0.1:%d:127.0.0.1:%d" % (r_src, source.port))
            self.assertTrue(self.wait_listen(r_src, q), self.stderr_of(q))
            rup = socket.create_connection(("127.0.0.1", r_sink), timeout=10)
            rup.setblocking(False)
            rpushed = 0
            end = time.time() + 3
            while time.time() < end:
                try:
                    rpushed += rup.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
            rdown = socket.create_connection(("127.0.0.1", r_src), timeout=10)
            rdown.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            time.sleep(3)
            rpeak = self.worker_rss_kb()
            sys.stderr.write("slow readers -R: pushed %d KiB, worker RSS %d -> %d KiB\n"
                             % (rpushed // 1024, base, rpeak))
            self.assertLess(rpushed, 64 * MiB, "nothing stopped the -R writer")
            if not sanitized():
                self.assertLess(rpeak - base, 32 * 1024, "worker RSS grew by %d KiB"
                                % (rpeak - base))
            rup.close()
            rdown.close()
            if not sanitized():  # ASan's quarantine and shadow memory inflate RSS
                self.assertLess(growth, 24 * 1024, "worker RSS grew by %d KiB" % growth)
            up.close()
            down.close()
        finally:
            sink.close()
            source.close()


if __name__ == "__main__":
    unittest.main()
