"""figures.py — one function per measurement. Each takes (server, ctx, **params)
and returns a dict of named values for one run, or raises Failure with the
reason. ctx carries sizes, paths and the shared source file.
"""
import hashlib
import os
import pty
import select
import statistics
import subprocess
import threading
import time
import termios
import tty

import procstat

GIB = 1 << 30


class Failure(Exception):
    pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


STALL_SECONDS = 20


def _file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def run(argv, timeout, input=None, watch=None):
    """Run a client to completion. watch: a path whose size must keep growing;
    a transfer that makes no progress for STALL_SECONDS fails at once instead
    of waiting for the whole timeout."""
    if watch is None:
        try:
            p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"timeout after {timeout}s: {' '.join(argv[:6])}")
    else:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        box = {}
        t = threading.Thread(target=lambda: box.update(zip(("out", "err"),
                                                           proc.communicate(input))))
        t.start()
        start = last_t = time.monotonic()
        last = _file_size(watch)
        why = None
        while t.is_alive():
            t.join(0.5)
            now, size = time.monotonic(), _file_size(watch)
            if size != last:
                last, last_t = size, now
            elif now - last_t > STALL_SECONDS:
                why = f"stalled: no progress for {STALL_SECONDS}s at {max(size, 0)} bytes"
            if now - start > timeout:
                why = f"timeout after {timeout}s at {max(size, 0)} bytes"
            if why:
                proc.kill()
                t.join()
                raise Failure(f"{why}: {' '.join(argv[:6])}")
        p = subprocess.CompletedProcess(argv, proc.returncode, box.get("out"), box.get("err"))
    if p.returncode != 0:
        err = (p.stderr or b"").decode(errors="replace").strip().splitlines()
        out = (p.stdout or b"").decode(errors="replace").strip().splitlines()
        msg = err[-1] if err else (out[-1] if out else "")
        raise Failure(f"exit {p.returncode}: {msg[:200] or 'no diagnostic on stdout/stderr'}")
    return p


def measured(server, fn):
    """Run fn() between two CPU snapshots of the server's process tree; the
    second after every per-connection process has been reaped."""
    server.quiesce()
    c0 = server.cpu()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    server.quiesce()
    return out, wall, server.cpu() - c0


def _throughput(nbytes, seconds, cpu):
    return {"mib_s": nbytes / (1 << 20) / seconds,
            "cpu_per_gib": cpu / (nbytes / GIB)}


# --- SFTP and scp -------------------------------------------------------------

def sftp_get(server, ctx, cipher):
    local = ctx.local_dir / f"get.{server.name}"
    local.unlink(missing_ok=True)
    batch = f'get "{server.remote(ctx.src_name)}" "{local}"\n'.encode()
    _, wall, cpu = measured(server, lambda: run(
        server.sftp(cipher, "-b", "-"), ctx.timeout, batch, watch=local))
    try:
        if sha256_file(local) != ctx.src_sha:
            raise Failure("sha256 mismatch after get")
    except FileNotFoundError:
        raise Failure("downloaded file missing")
    finally:
        local.unlink(missing_ok=True)
    return _throughput(ctx.size, wall, cpu)


def sftp_put(server, ctx, cipher):
    dest = server.disk("put.bin")
    dest.unlink(missing_ok=True)
    batch = f'put "{ctx.src_local}" "{server.remote("put.bin")}"\n'.encode()
    _, wall, cpu = measured(server, lambda: run(
        server.sftp(cipher, "-b", "-"), ctx.timeout, batch, watch=dest))
    try:
        if sha256_file(dest) != ctx.src_sha:
            raise Failure("sha256 mismatch after put")
    except FileNotFoundError:
        raise Failure("uploaded file missing")
    finally:
        dest.unlink(missing_ok=True)
    return _throughput(ctx.size, wall, cpu)


def scp_get(server, ctx, cipher):
    local = ctx.local_dir / f"scpget.{server.name}"
    local.unlink(missing_ok=True)
    argv = server.scp(cipher) + [f"bench:{server.remote(ctx.src_name)}", str(local)]
    _, wall, cpu = measured(server, lambda: run(argv, ctx.timeout, watch=local))
    try:
        if sha256_file(local) != ctx.src_sha:
            raise Failure("sha256 mismatch after scp get")
    except FileNotFoundError:
        raise Failure("downloaded file missing")
    finally:
        local.unlink(missing_ok=True)
    return _throughput(ctx.size, wall, cpu)


def scp_put(server, ctx, cipher):
    dest = server.disk("scpput.bin")
    dest.unlink(missing_ok=True)
    argv = server.scp(cipher) + [str(ctx.src_local), f"bench:{server.remote('scpput.bin')}"]
    _, wall, cpu = measured(server, lambda: run(argv, ctx.timeout, watch=dest))
    try:
        if sha256_file(dest) != ctx.src_sha:
            raise Failure("sha256 mismatch after scp put")
    except FileNotFoundError:
        raise Failure("uploaded file missing")
    finally:
        dest.unlink(missing_ok=True)
    return _throughput(ctx.size, wall, cpu)


# --- ssh -L -------------------------------------------------------------------

def _listening(port):
    want = f":{port:04X} "
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and (parts[1] + " ").endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def _forward(server, ctx, cipher, direction):
    from servers import free_port
    lport = free_port()
    state = {}

    def go():
        ssh = subprocess.Popen(server.ssh(cipher, "-N", "-o", "ExitOnForwardFailure=yes",
                                          "-L", f"127.0.0.1:{lport}:127.0.0.1:{ctx.sink_port}"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not _listening(lport):
                if ssh.poll() is not None:
                    raise Failure("ssh -L exited: " + ssh.stderr.read().decode(errors="replace")[-200:])
                if time.monotonic() > deadline:
                    raise Failure("ssh -L did not listen within 30s")
                time.sleep(0.02)
            p = subprocess.run([ctx.tcpsink, direction, str(lport), str(ctx.size)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=ctx.timeout)
            import json
            try:
                res = json.loads(p.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise Failure("tcpsink client: " + p.stderr.decode(errors="replace")[-200:])
            if not res["ok"]:
                raise Failure(f"-L {direction}: {res['error']}")
            state["seconds"] = res["seconds"]
        finally:
            ssh.terminate()
            try:
                ssh.wait(10)
            except subprocess.TimeoutExpired:
                ssh.kill()
                ssh.wait()

    _, _, cpu = measured(server, go)
    return _throughput(ctx.size, state["seconds"], cpu)


def fwd_down(server, ctx, cipher):
    return _forward(server, ctx, cipher, "down")


def fwd_up(server, ctx, cipher):
    return _forward(server, ctx, cipher, "up")


# --- connections --------------------------------------------------------------

def true_rtt(server, ctx, cipher):
    """K sequential `ssh host true`: median wall time, server CPU per connection."""
    times = []

    def go():
        for _ in range(ctx.rtt_count):
            t0 = time.perf_counter()
            run(server.ssh(cipher, "-T", cmd=["true"]), ctx.conn_timeout)
            times.append(time.perf_counter() - t0)

    _, _, cpu = measured(server, go)
    return {"rtt_ms": statistics.median(times) * 1000,
            "cpu_ms_per_conn": cpu / len(times) * 1000}


def conn_rate(server, ctx, cipher, parallel):
    """`parallel` loops of `ssh host true` for ctx.cps_seconds: connections/s."""
    done, errors, lock = [0], [], threading.Lock()
    stop_at = [0.0]

    def loop():
        while time.perf_counter() < stop_at[0]:
            try:
                run(server.ssh(cipher, "-T", cmd=["true"]), ctx.conn_timeout)
                with lock:
                    done[0] += 1
            except Failure as e:
                with lock:
                    errors.append(str(e))

    def go():
        stop_at[0] = time.perf_counter() + ctx.cps_seconds
        threads = [threading.Thread(target=loop) for _ in range(parallel)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    elapsed, _, cpu = measured(server, go)
    if errors:
        raise Failure(f"{len(errors)} of {done[0] + len(errors)} connections failed: {errors[0]}")
    if done[0] == 0:
        raise Failure("no connection completed")
    return {"cps": done[0] / elapsed, "cpu_ms_per_conn": cpu / done[0] * 1000}


# --- keystroke echo latency ---------------------------------------------------

def _read_until(fd, want, timeout):
    """Read from fd until the byte string `want` has been seen; returns the
    time it was seen."""
    buf = b""
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise Failure(f"no echo of {want!r} within {timeout}s (got {buf[-60:]!r})")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            raise Failure(f"pty closed waiting for {want!r} (got {buf[-60:]!r})")
        if not chunk:
            raise Failure("pty EOF")
        buf += chunk
        if want in buf:
            return time.perf_counter()


def _drain(fd, quiet=0.05):
    while True:
        r, _, _ = select.select([fd], [], [], quiet)
        if not r:
            return
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def keystroke(server, ctx, cipher):
    """`ssh -tt host cat` on a local pty; per keystroke the time from writing
    one byte to seeing the remote pty's echo."""
    argv = server.ssh(cipher, "-tt", cmd=["cat"])
    pid, fd = pty.fork()
    if pid == 0:
        try:
            tty.setraw(0)          # no local echo, ever: only the remote echoes
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    lat = []
    try:
        deadline = time.monotonic() + 10   # the child turns local echo off first
        while termios.tcgetattr(fd)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise Failure("local pty never left echo mode")
            time.sleep(0.005)
        os.write(fd, b"w")
        _read_until(fd, b"w", 30)
        _drain(fd)
        letters = b"abcdefghijklmnopqrstuvwxyz"
        for i in range(ctx.keystrokes):
            ch = letters[i % 26:i % 26 + 1]
            t0 = time.perf_counter()
            os.write(fd, ch)
            t1 = _read_until(fd, ch, 10)
            lat.append(t1 - t0)
            if i % 50 == 49:           # end the line: cat prints it back
                os.write(fd, b"\r")
                _drain(fd, 0.1)
        os.write(fd, b"\r\x04")
        _drain(fd, 0.2)
    finally:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    return {"p50_ms": statistics.median(lat) * 1000, "p99_ms": p99 * 1000}


# --- idle connections: memory and time to open --------------------------------

def _pids_headroom():
    try:
        mx = open("/sys/fs/cgroup/pids/pids.max").read().strip()
        cur = int(open("/sys/fs/cgroup/pids/pids.current").read())
        return None if mx == "max" else int(mx) - cur
    except OSError:
        return None


def _mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def idle_conns(server, ctx, cipher, count, estimate=None):
    """Open `count` authenticated idle connections with bench/idle_clients.
    estimate: (pss_kib_per_conn, procs_per_conn) from a smaller run, used to
    refuse a run that would exhaust this machine's memory or pid limit."""
    if estimate:
        kib, procs = estimate
        need_kib = kib * count
        if need_kib > 0.6 * _mem_available_kib():
            raise Failure(f"would need ~{need_kib / (1 << 20):.1f} GiB "
                          f"({kib:.0f} KiB x {count}); MemAvailable "
                          f"{_mem_available_kib() / (1 << 20):.1f} GiB")
        room = _pids_headroom()
        if room is not None and procs * count > room - 2000:
            raise Failure(f"would need ~{procs * count:.0f} processes "
                          f"({procs:.1f} per connection); pids cgroup headroom {room}")
    server.quiesce()
    server.restart()
    time.sleep(ctx.idle_settle)
    pss0 = server.pss_kib()
    nproc0 = len(server.pids())
    c0 = server.cpu()
    p = subprocess.Popen([ctx.idle_clients, "-p", str(server.port), "-u", server.user,
                          "-k", str(server.client_key), "-n", str(count),
                          "-t", str(ctx.idle_threads), "-c", cipher],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode().split()
        if len(line) != 4 or line[0] != "READY":
            raise Failure("idle_clients: " + p.stderr.read().decode(errors="replace")[-300:])
        ok, failed, secs = int(line[1]), int(line[2]), float(line[3])
        if failed:
            p.stdin.close()
            p.wait(120)
            raise Failure(f"{failed} of {count} connections failed: "
                          + p.stderr.read().decode(errors="replace")[-300:])
        time.sleep(ctx.idle_settle)
        pss1 = server.pss_kib()
        nproc1 = len(server.pids())
        cpu = server.cpu() - c0
        p.stdin.close()
        held = p.stdout.readline().decode().split()
        p.wait(300)
        if len(held) != 3 or held[0] != "HELD" or int(held[2]) != 0:
            raise Failure(f"connections dropped while idle: {' '.join(held)}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    server.quiesce(120)
    return {"pss_kib_per_conn": (pss1 - pss0) / ok, "open_s": secs,
            "cpu_ms_per_conn": cpu / ok * 1000, "procs_per_conn": (nproc1 - nproc0) / ok,
            "pss_total_mib": pss1 / 1024}

