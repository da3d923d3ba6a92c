"""rawssh — raw SSH clients for the adversarial integration tests.

Plain sockets before the key exchange (crafted banners and binary packets),
paramiko (Debian's python3-paramiko) after it: Transport.start_client() does
the kex, then arbitrary messages go out with transport._send_message(), and
crafted encrypted packet headers with send_raw_block().

    probe = Probe(gw)             # worker pids, RSS and fd counts (baseline)
    ...                           # abuse
    probe.check(self)             # same pids, no "died from signal", fds and RSS back

    s = connect(gw)               # socket; read_banner(s); wait_closed(s)
    t = client(gw, "alice")       # paramiko.Transport, authenticated with alice's key
    t = client(gw, None)          # kex done, not authenticated
    send_raw_block(t, header)     # encrypt header as the first block of a packet
    chan_data(t, ch, data)        # CHANNEL_DATA ignoring the window
    worker_of(gw, t)              # pid of the worker that holds t's connection
    FlipProxy(gw.port, offset)    # TCP proxy that flips one client->server byte
"""
import logging
import os
import re
import socket
import struct
import threading
import time

import paramiko

# paramiko logs refused channels and resets at WARNING/ERROR: expected here
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

def _sanitized():
    import sgtest
    try:
        cache = (sgtest.BUILD / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return False
    return any("SSHGATE_%s:BOOL=ON" % k in cache for k in ("ASAN", "UBSAN"))


# ASan keeps freed memory in its quarantine (up to 256 MiB) and pads every
# allocation: RSS figures say nothing there, so RSS bounds are only checked
# in a normal build (fds, pids and sanitizer reports are checked in both).
SANITIZED = _sanitized()

MSG_USERAUTH_SUCCESS = 52
MSG_GLOBAL_REQUEST = 80
MSG_CHANNEL_OPEN = 90
MSG_CHANNEL_DATA = 94
MSG_CHANNEL_REQUEST = 98


# ---------------------------------------------------------------- worker state
def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def fd_list(pid):
    out = []
    try:
        for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
            try:
                out.append("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
            except OSError:
                pass
    except OSError:
        pass
    return " ".join(out)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _server_states(port):
    """TCP states (hex strings) of the server-side sockets on port."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fl = line.split()
            if int(fl[1].split(":")[1], 16) == port:
                out.append(fl[3])
    return out


def settle(gw, timeout=5.0):
    """Wait until the server has handled every client close (no server-side
    socket in CLOSE_WAIT or LAST_ACK). A connection opened while the worker
    still has to tear down one the client closed can hit the core's fd-reuse
    race (pending_fd_reuse_race.py); the tests here are not about that one."""
    return wait_for(lambda: not any(st in ("08", "09") for st in _server_states(gw.port)),
                    timeout, 0.02)


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Probe:
    """Baseline of the workers; check() asserts nothing crashed and the
    worker's fds and memory came back (fds exactly, after teardown; RSS
    within rss_slack_kb: malloc keeps some freed memory)."""

    def __init__(self, gw, warm=True):
        self.gw = gw
        if warm:  # first connection: libssh/OpenSSL lazy allocations
            gw.ssh("alice", "exit 0")
        settle(gw)
        self.pids = sorted(gw.worker_pids())
        self.fds = {p: fd_count(p) for p in self.pids}
        self.rss = {p: rss_kb(p) for p in self.pids}

    def check(self, test, rss_slack_kb=16 * 1024, timeout=10, pids=None):
        gw = self.gw
        log = gw.log()
        test.assertNotIn("died from signal", log)
        test.assertNotIn("AddressSanitizer", log)
        test.assertNotIn("runtime error:", log)
        test.assertEqual(sorted(gw.worker_pids()), pids or self.pids, "a worker was replaced")
        for p in (pids or self.pids):
            ok = wait_for(lambda: fd_count(p) <= self.fds[p], timeout)
            test.assertTrue(ok, "worker %d: %d fds, baseline %d: %s" % (p, fd_count(p), self.fds[p],
                                                                         fd_list(p)))
            if not SANITIZED:
                test.assertLess(rss_kb(p) - self.rss[p], rss_slack_kb,
                                "worker %d RSS %d kB, baseline %d kB" % (p, rss_kb(p), self.rss[p]))


# ---------------------------------------------------------------- plain sockets
def connect(gw, timeout=10):
    settle(gw)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
    return s


def read_banner(s, timeout=10):
    s.settimeout(timeout)
    buf = b""
    while b"\n" not in buf:
        b = s.recv(256)
        if not b:
            break
        buf += b
    return buf


def wait_closed(s, timeout=10):
    """Read until EOF/reset. Returns (seconds, how): how is "eof", "reset"
    or "timeout" (still open)."""
    s.settimeout(0.2)
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if not s.recv(65536):
                return time.time() - t0, "eof"
        except socket.timeout:
            continue
        except OSError:
            return time.time() - t0, "reset"
    return time.time() - t0, "timeout"


def packet(payload, padding=None, length=None, pad_len=None, block=8):
    """A cleartext binary packet (before NEWKEYS). length / pad_len override
    the header fields without changing what is sent after them."""
    if padding is None:
        n = block - ((5 + len(payload)) % block)
        if n < 4:
            n += block
        padding = b"\0" * n
    if length is None:
        length = 1 + len(payload) + len(padding)
    if pad_len is None:
        pad_len = len(padding)
    return struct.pack(">IB", length, pad_len) + payload + padding


# ---------------------------------------------------------------- paramiko
def client(gw, user="alice", timeout=10, password=None):
    s = connect(gw, timeout)
    t = paramiko.Transport(s)
    t.start_client(timeout=timeout)
    if user is not None:
        if password is not None:
            t.auth_password(user, password)
        else:
            key = paramiko.Ed25519Key.from_private_key_file(str(gw.key(user)))
            t.auth_publickey(user, key)
    return t


def hangup(t):
    """Close a paramiko Transport so that the FIN leaves now: Transport.close()
    alone closes the socket while its reader thread is still in recv(), and
    the kernel sends the FIN only when that recv returns (up to 100 ms
    later), after the next connection of a test may already be there."""
    try:
        cport, sport = t.sock.getsockname()[1], t.sock.getpeername()[1]
        t.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        cport = sport = None
    t.close()
    if cport:  # the server closed its end: it handled the EOF in this iteration
        wait_for(lambda: _server_state(sport, cport) in (None, "09"), 5, 0.01)


def _server_state(sport, cport):
    """TCP state of the server-side socket sport<-cport, None when gone."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fl = line.split()
            if int(fl[1].split(":")[1], 16) == sport and int(fl[2].split(":")[1], 16) == cport:
                return fl[3]
    return None


def msg(*fields):
    """A paramiko.Message: int -> byte (first) / uint32, bytes/str -> string, bool."""
    m = paramiko.Message()
    for i, f in enumerate(fields):
        if i == 0:
            m.add_byte(bytes([f]))
        elif isinstance(f, bool):
            m.add_boolean(f)
        elif isinstance(f, int):
            m.add_int(f)
        else:
            m.add_string(f)
    return m


def send(t, *fields):
    t._send_message(msg(*fields))


def chan_data(t, ch, data):
    send(t, MSG_CHANNEL_DATA, ch.remote_chanid, data)


def send_raw_block(t, header, trailer=b""):
    """Send header (>= 5 bytes: length, padding length, ...) encrypted as the
    first cipher block of a packet, then trailer (raw bytes, e.g. garbage
    where the rest of the packet and its MAC would be)."""
    pk = t.packetizer
    eng = pk._Packetizer__block_engine_out
    bs = pk._Packetizer__block_size_out
    etm = pk._Packetizer__etm_out
    header = header + os.urandom(max(0, bs - len(header)))
    with pk._Packetizer__write_lock:
        if etm:  # length in clear, the rest encrypted
            data = header[:4] + eng.update(header[4:] + os.urandom(bs - (len(header) - 4) % bs))
        else:
            data = eng.update(header[:bs]) + header[bs:]
        t.sock.sendall(data + trailer)


def wait_inactive(t, timeout=10):
    return wait_for(lambda: not t.is_active(), timeout)


# ---------------------------------------------------------------- which worker
def _inodes(pid):
    out = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m:
                out.add(m.group(1))
    except OSError:
        pass
    return out


def _tcp_inode(server_port, client_port):
    """Inode of the server-side socket of the connection from client_port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            lport = int(f[1].split(":")[1], 16)
            rport = int(f[2].split(":")[1], 16)
            if lport == server_port and rport == client_port:
                return f[9]
    return None


def worker_of(gw, t_or_port):
    """pid of the worker holding the connection (a paramiko Transport or
    the client's local port), or None."""
    port = t_or_port if isinstance(t_or_port, int) else t_or_port.sock.getsockname()[1]
    ino = _tcp_inode(gw.port, port)
    if ino is None:
        return None
    for pid in gw.worker_pids():
        if ino in _inodes(pid):
            return pid
    return None


# ---------------------------------------------------------------- proxy
class FlipProxy:
    """Listens on 127.0.0.1:<port>; each accepted connection is relayed to
    target_port; the client->server byte at stream offset `offset` (counted
    per connection) is XORed with `mask` once."""

    def __init__(self, target_port, offset, mask=0x01):
        self.target = target_port
        self.offset = offset
        self.mask = mask
        self.flipped = 0
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def _pump(self, src, dst, flip):
        pos = 0
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if flip and pos <= self.offset < pos + len(b):
                    b = bytearray(b)
                    b[self.offset - pos] ^= self.mask
                    b = bytes(b)
                    self.flipped += 1
                pos += len(b)
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.srv.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
