"""tcpsink.py — the far end and the near end of the `ssh -L` throughput figure.

  tcpsink.py serve PORT          listen on 127.0.0.1:PORT; per connection read a
                                 9-byte command: b"D" + size (u64 BE) -> send that
                                 many pattern bytes, then close; b"U" + size ->
                                 read until EOF, reply count (u64) + crc32 (u32).
  tcpsink.py down PORT SIZE      connect, ask for SIZE bytes, read to EOF
  tcpsink.py up PORT SIZE        connect, send SIZE bytes, half-close, read reply
The client modes print one JSON line: {"bytes", "seconds", "ok", "error"} where
seconds spans the data transfer (command sent .. last byte acknowledged) and ok
means byte count and crc32 matched the pattern.
"""
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib

BLOCK = 1 << 20


def pattern():
    rnd = random.Random(20261123)
    return rnd.randbytes(BLOCK)


def expected_crc(size, block):
    crc, left = 0, size
    while left > 0:
        n = min(left, len(block))
        crc = zlib.crc32(block[:n] if n < len(block) else block, crc)
        left -= n
    return crc


def send_pattern(sock, size, block):
    mv = memoryview(block)
    left = size
    while left > 0:
        n = min(left, len(block))
        sock.sendall(mv[:n])
        left -= n


def recv_all(sock):
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    count, crc = 0, 0
    while True:
        n = sock.recv_into(buf)
        if n == 0:
            return count, crc
        crc = zlib.crc32(mv[:n], crc)
        count += n


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("short read")
        data += chunk
    return data


def handle(conn, block):
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        cmd = recv_exact(conn, 9)
        size = struct.unpack(">Q", cmd[1:])[0]
        if cmd[:1] == b"D":
            send_pattern(conn, size, block)
        elif cmd[:1] == b"U":
            count, crc = recv_all(conn)
            conn.sendall(struct.pack(">QI", count, crc))
    except (OSError, EOFError):
        pass
    finally:
        conn.close()


def serve(port):
    block = pattern()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print("listening", flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, block), daemon=True).start()


def client(mode, port, size):
    block = pattern()
    want = expected_crc(size, block)
    res = {"bytes": 0, "seconds": None, "ok": False, "error": ""}
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)   # stall = failure
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        t0 = time.perf_counter()
        if mode == "down":
            s.sendall(b"D" + struct.pack(">Q", size))
            count, crc = recv_all(s)
        else:
            s.sendall(b"U" + struct.pack(">Q", size))
            send_pattern(s, size, block)
            s.shutdown(socket.SHUT_WR)
            count, crc = struct.unpack(">QI", recv_exact(s, 12))
        res["seconds"] = time.perf_counter() - t0
        res["bytes"] = count
        res["ok"] = count == size and crc == want
        if not res["ok"]:
            res["error"] = f"got {count} bytes crc {crc:#x}, want {size} crc {want:#x}"
        s.close()
    except (OSError, EOFError) as e:
        res["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(res), flush=True)
    return 0 if res["ok"] else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        serve(int(argv[2]))
        return 0
    if len(argv) == 4 and argv[1] in ("down", "up"):
        return client(argv[1], int(argv[2]), int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
