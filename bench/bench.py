#!/usr/bin/python3
"""bench.py — sshgate vs OpenSSH sshd, side by side on one machine.

Called by bench/run.sh (which builds sshgated, bench/idle_clients and bench/tcpsink first).
Every figure is measured on both servers in the same run, A/B alternated
(the order flips every run), and reported as the median over the runs.
"""
import argparse
import datetime
import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import figures  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
from figures import Failure  # noqa: E402

GIB = 1 << 30
SHORT = {"aes128-gcm@openssh.com": "aes128-gcm", "chacha20-poly1305@openssh.com": "chacha20"}
THROUGHPUT = [  # (task, label, target ratio)
    ("sftp_get", "SFTP get", 1.5), ("sftp_put", "SFTP put", 1.5),
    ("scp_get", "scp get", 1.5), ("scp_put", "scp put", 1.5),
    ("fwd_down", "ssh -L down", 1.2), ("fwd_up", "ssh -L up", 1.2),
]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", "--quick", action="store_true",
                    help="tiny sizes, 1 run each, < 60 s; exit 1 if a figure cannot be measured")
    ap.add_argument("--runs", type=int, help="runs per figure (default 5; smoke 1)")
    ap.add_argument("--fwd-runs", type=int,
                    help="runs of the ssh -L figures (default 15, at least --runs; smoke 1): "
                         "each takes ~2 s and moves +-10-15 %% run to run, so 5 pairs cannot "
                         "tell 0.95 from 1.05")
    ap.add_argument("--size-mib", type=int, help="transfer size (default 1024; smoke 4)")
    ap.add_argument("--idle", default=None,
                    help="idle connection counts, comma separated (default 1000,10000)")
    ap.add_argument("--idle-runs", type=int, default=None,
                    help="runs of the first idle count (default 3; the others 1)")
    ap.add_argument("--ciphers", default=",".join(servers.CIPHERS))
    ap.add_argument("--only", default="", help="comma separated task names to run")
    ap.add_argument("--sshgated", required=True, help="path of the sshgated binary")
    ap.add_argument("--plugin-dir", required=True)
    ap.add_argument("--idle-clients", required=True, help="path of bench/idle_clients")
    ap.add_argument("--tcpsink", required=True, help="path of bench/tcpsink (the -L sink/source)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results directory")
    ap.add_argument("--name", default="latest", help="results file stem")
    ap.add_argument("--tmp", default="/dev/shm", help="tmpfs for files and server state")
    ap.add_argument("--no-sshgate", action="store_true", help="measure sshd only")
    ap.add_argument("--merge", action="store_true",
                    help="replace only the re-measured figures in an existing results file")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work dir (server configs and logs) under --tmp")
    a = ap.parse_args(argv)
    a.runs = a.runs or (1 if a.smoke else 5)
    a.fwd_runs = a.fwd_runs or (1 if a.smoke else max(15, a.runs))
    a.size_mib = a.size_mib or (4 if a.smoke else 1024)
    a.idle = [int(x) for x in (a.idle or ("50,100" if a.smoke else "1000,10000")).split(",") if x]
    a.idle_runs = a.idle_runs or (1 if a.smoke else 3)
    a.ciphers = [c for c in a.ciphers.split(",") if c]
    a.only = set(x for x in a.only.split(",") if x)
    return a


class Ctx:
    pass


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "mem_gib": round(mem / (1 << 20)), "loadavg": " ".join(open("/proc/loadavg").read().split()[:3])}


def tool_versions():
    p = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    ossh = p.stderr.strip().split(",")[0]
    p = subprocess.run(["pkg-config", "--modversion", "libssh"], capture_output=True, text=True)
    libssh = p.stdout.strip() or "?"
    p = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    return ossh, libssh, p.stdout.strip() or "?"


def make_source(ctx):
    """The transfer source: `size` bytes of pseudo-random data on tmpfs."""
    block = os.urandom(8 << 20)
    left = ctx.size
    with open(ctx.src_local, "wb") as f:
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    ctx.src_sha = figures.sha256_file(ctx.src_local)


def plan(a, smoke):
    """[(task_key, fn, kwargs, runs)] in the order they run."""
    tasks = []
    for c in a.ciphers:
        for name, _, _ in THROUGHPUT:
            runs = a.fwd_runs if name.startswith("fwd_") else a.runs
            tasks.append((f"{name}/{SHORT.get(c, c)}", getattr(figures, name), {"cipher": c}, runs))
    c0 = a.ciphers[0]
    tasks.append(("true_rtt", figures.true_rtt, {"cipher": c0}, a.runs))
    for par in ((16, 64) if not smoke else (4, 8)):
        tasks.append((f"cps{par}", figures.conn_rate, {"cipher": c0, "parallel": par}, a.runs))
    tasks.append(("keystroke", figures.keystroke, {"cipher": c0}, a.runs))
    for i, n in enumerate(a.idle):
        tasks.append((f"idle{n}", figures.idle_conns, {"cipher": c0, "count": n},
                      a.idle_runs if i == 0 else 1))
    if a.only:
        tasks = [t for t in tasks if t[0] in a.only or t[0].split("/")[0] in a.only]
    return tasks


def figure_rows(a, smoke, cps_levels):
    """(label, unit, better, task, value key, target) for every reported figure."""
    rows = []
    for c in a.ciphers:
        s = SHORT.get(c, c)
        for name, label, tgt in THROUGHPUT:
            rows.append((f"{label} {s}", "MiB/s", "higher", f"{name}/{s}", "mib_s",
                         ("ratio", ">=", tgt)))
    for c in a.ciphers:
        s = SHORT.get(c, c)
        for name, label, _ in THROUGHPUT:
            rows.append((f"{label} {s} server CPU", "s/GiB", "lower", f"{name}/{s}",
                         "cpu_per_gib", None))
    rows += [
        ("ssh true round trip", "ms", "lower", "true_rtt", "rtt_ms", ("ratio", "<=", 0.5)),
        ("server CPU per connection", "ms", "lower", "true_rtt", "cpu_ms_per_conn",
         ("ratio", "<=", 0.2)),
    ]
    for par in cps_levels:
        rows.append((f"connections/s, {par} parallel", "conn/s", "higher", f"cps{par}", "cps",
                     ("ratio", ">=", 2.0)))
        rows.append((f"server CPU per connection, {par} parallel", "ms", "lower", f"cps{par}",
                     "cpu_ms_per_conn", None))
    rows += [
        ("keystroke echo median", "ms", "lower", "keystroke", "p50_ms", ("ratio", "<=", 1.0)),
        ("keystroke echo p99", "ms", "lower", "keystroke", "p99_ms", ("ratio", "<=", 1.0)),
    ]
    for n in a.idle:
        rows.append((f"PSS per idle connection @{n}", "KiB", "lower", f"idle{n}",
                     "pss_kib_per_conn", ("abs", "<=", 64)))
        rows.append((f"time to open {n} connections", "s", "lower", f"idle{n}", "open_s", None))
        rows.append((f"server CPU per connection @{n}", "ms", "lower", f"idle{n}",
                     "cpu_ms_per_conn", None))
    return rows


def merge_results(prev_path, rows, meta, raw):
    """Old results with the figures measured now replacing theirs."""
    import json
    with open(prev_path) as f:
        prev = json.load(f)
    new_tasks = set(raw)
    by_label = {r["label"]: r for r in rows}
    merged = []
    for r in prev["figures"]:
        merged.append(by_label.pop(r["label"]) if r["task"] in new_tasks else r)
    merged += by_label.values()
    pmeta = prev["meta"]
    pmeta.setdefault("merged", []).append(
        {"date": meta["date"], "tasks": sorted(new_tasks), "commit": meta["commit"],
         "loadavg": meta["machine"]["loadavg"]})
    praw = prev.get("runs", {})
    praw.update(raw)
    return merged, pmeta, praw


def update_readme(table_md):
    """Put the latest full run's table into bench/README.md between markers."""
    path = HERE / "README.md"
    text = path.read_text()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{table_md}\n![ratios](results/latest.png)\n{end}{tail}")


def on_signal(signum, frame):
    print(f"sgbench: stopped by signal {signal.Signals(signum).name}; cleaning up",
          file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)     # unwinds through main's cleanup


def remove_stale_groups():
    """cgroups left by a bench that was killed hard (name ends in its pid)."""
    for base in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for n in names:
            if n.startswith("sgbench-") and not os.path.exists(f"/proc/{n.rsplit('-', 1)[-1]}"):
                try:
                    os.rmdir(f"{base}/{n}")
                except OSError:
                    pass


def main(argv):
    a = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) != signal.SIG_IGN:      # respect nohup
            signal.signal(sig, on_signal)
    remove_stale_groups()
    smoke = a.smoke
    work = pathlib.Path(tempfile.mkdtemp(prefix="sgbench-", dir=a.tmp))
    ctx = Ctx()
    ctx.size = a.size_mib << 20
    ctx.timeout = 15 if smoke else 60 + ctx.size // (20 << 20)   # >= 20 MiB/s or fail
    ctx.conn_timeout = 15 if smoke else 120
    ctx.local_dir = work / "local"
    ctx.local_dir.mkdir()
    ctx.src_name = "src.bin"
    ctx.src_local = ctx.local_dir / "src.bin"
    ctx.rtt_count = 3 if smoke else 10
    ctx.cps_seconds = 2 if smoke else 10
    ctx.keystrokes = 20 if smoke else 200
    ctx.idle_clients = a.idle_clients
    ctx.tcpsink = a.tcpsink
    ctx.idle_threads = 8 if smoke else 32
    ctx.idle_settle = 0.5 if smoke else 3
    cps_levels = (4, 8) if smoke else (16, 64)

    ossh, libssh, commit = tool_versions()
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "openssh": ossh, "libssh": libssh, "commit": commit,
            "mode": "smoke" if smoke else "full", "runs": a.runs, "fwd_runs": a.fwd_runs,
            "size_mib": a.size_mib,
            "idle_counts": a.idle, "ciphers": a.ciphers}
    client_key = servers.keygen(work / "id_ed25519")
    max_conns = max(a.idle) if a.idle else 100
    srv, why_down = {}, {}
    sink = None
    started_at = time.monotonic()
    raw = {}
    try:
        print(f"sgbench: work dir {work}; making a {a.size_mib} MiB source", flush=True)
        make_source(ctx)
        sink_port = servers.free_port()
        sink = subprocess.Popen([ctx.tcpsink, "serve", str(sink_port)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        sink.stdout.readline()
        ctx.sink_port = sink_port

        srv["sshd"] = servers.Sshd(work, client_key, max_conns)
        if not a.no_sshgate:
            srv["sshgate"] = servers.Sshgated(work, client_key, max_conns, a.sshgated,
                                              a.plugin_dir, work / "sftp")
        else:
            why_down["sshgate"] = "not run (--no-sshgate)"
        for name, s in list(srv.items()):
            try:
                s.start()
                shutil.copy(ctx.src_local, s.disk(ctx.src_name))
            except Exception as e:  # a server that cannot start: its column is n/a
                why_down[name] = f"did not start: {e}"
                s.stop()
                del srv[name]
        if "sshd" not in srv:
            print("sgbench: sshd did not start: " + why_down["sshd"], file=sys.stderr)
            return 1

        g = srv["sshd"].group
        meta["cpu_method"] = (f"cgroup {g.kind} per server (precise, includes exited processes)"
                              if g.path else "/proc process tree (undercounts exited sshd "
                              "session processes: no cgroup could be created)")
        tasks = plan(a, smoke)
        estimates = {}
        for key, fn, kw, runs in tasks:
            raw[key] = {name: [] for name in ("sshd", "sshgate")}
            errs = {}
            for i in range(runs):
                order = ["sshd", "sshgate"] if i % 2 == 0 else ["sshgate", "sshd"]
                for name in order:
                    s = srv.get(name)
                    nfail = len(errs.get(name, ()))
                    if s is None or (nfail and smoke) or (nfail >= 2 and not raw[key][name]):
                        continue   # smoke: one failure ends it; full: give up after 2 straight
                    if not s.alive():
                        errs.setdefault(name, []).append("server process died: " + s.log_tail(300))
                        continue
                    extra = {}
                    if fn is figures.idle_conns and name in estimates:
                        extra["estimate"] = estimates[name]
                    t0 = time.monotonic()
                    try:
                        val = fn(s, ctx, **kw, **extra)
                    except Failure as e:
                        errs.setdefault(name, []).append(str(e))
                        print(f"  {key:<22} {name:<8} run {i + 1}/{runs}: FAILED {e}", flush=True)
                        continue
                    except Exception as e:  # a bench bug must not hide the other server
                        errs.setdefault(name, []).append(f"{type(e).__name__}: {e}")
                        print(f"  {key:<22} {name:<8} run {i + 1}/{runs}: ERROR {e!r}", flush=True)
                        continue
                    raw[key][name].append(val)
                    if fn is figures.idle_conns and name not in estimates:
                        estimates[name] = (max(val["pss_kib_per_conn"], 1.0),
                                           val["procs_per_conn"])
                    shown = ", ".join(f"{k}={report.fmt(v)}" for k, v in val.items())
                    print(f"  {key:<22} {name:<8} run {i + 1}/{runs}: {shown} "
                          f"({time.monotonic() - t0:.1f}s)", flush=True)
            raw[key]["errors"] = errs

        rows = []
        for label, unit, better, task, vkey, target in figure_rows(a, smoke, cps_levels):
            if task not in raw:
                continue
            row = {"label": label, "unit": unit, "better": better, "task": task, "key": vkey,
                   "target": target, "why": ""}
            whys = []
            for name in ("sshd", "sshgate"):
                vals = [v[vkey] for v in raw[task][name] if vkey in v]
                row[name] = statistics.median(vals) if vals else None
                row[name + "_runs"] = vals
                fails = raw[task]["errors"].get(name, [])
                if row[name] is None:
                    whys.append(f"{name}: " + (fails[0] if fails else why_down.get(name, "no value")))
                elif fails:
                    whys.append(f"{name}: {len(fails)} of {len(fails) + len(vals)} runs failed "
                                f"(median of the rest): {fails[0]}")
            row["ratio"] = (row["sshgate"] / row["sshd"]
                            if row["sshd"] and row["sshgate"] is not None else None)
            row["paired"] = report.paired_ratios(row["sshd_runs"], row["sshgate_runs"])
            row["why"] = "; ".join(whys)
            rows.append(row)
        report.rows_with_verdict(rows)
        meta["seconds"] = round(time.monotonic() - started_at)
        prev_path = pathlib.Path(a.out) / f"{a.name}.json"
        if a.merge and prev_path.exists():
            rows, meta, raw = merge_results(prev_path, rows, meta, raw)

        print()
        print(report.text_table(rows))
        out = pathlib.Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        report.write_json(out / f"{a.name}.json", rows, meta, raw)
        (out / f"{a.name}.md").write_text(report.markdown(rows, meta))
        if not smoke and out.resolve() == (HERE / "results").resolve() and a.name == "latest":
            update_readme(report.markdown(rows, meta))
        msg = report.chart(out / f"{a.name}.png", rows, meta)
        if msg:
            print("sgbench: " + msg)
        print(f"\nsgbench: results in {out}/{a.name}.{{json,md,png}} ({meta['seconds']} s)")
        missing = [r["label"] for r in rows if r["sshd"] is None or r["sshgate"] is None
                   or r["why"]]
        if smoke and missing:
            print(f"sgbench: smoke FAILED: {len(missing)} figure(s) not measured", file=sys.stderr)
            return 1
        return 0
    finally:
        for s in srv.values():
            s.stop()
        if sink:
            sink.kill()
            sink.wait()
        if a.keep:
            print(f"sgbench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
