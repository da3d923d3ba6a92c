"""procstat.py — CPU time and memory of a server's process tree, from /proc.

CPU: the sum of utime+stime+cutime+cstime over every live process of the
tree. A child that exited and was reaped has its time folded into its
parent's cutime/cstime, so exited helpers (sshd's per-connection processes,
sftp-server, the shell plugin's children) are counted once they are reaped.
Memory: the sum of Pss over /proc/<pid>/smaps_rollup.
"""
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid):
    """(ppid, cpu_ticks) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime + cutime + cstime


def _all_ppids():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(int(name))
        if st:
            out[int(name)] = st
    return out


def tree(root_pid):
    """{pid: cpu_ticks} of root_pid and all its live descendants."""
    table = _all_ppids()
    if root_pid not in table:
        return {}
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in out or pid not in table:
            continue
        out[pid] = table[pid][1]
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(root_pid):
    return sum(tree(root_pid).values()) / CLK_TCK


def pss_kib(root_pid):
    total = 0
    for pid in tree(root_pid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def wait_quiet(root_pid, baseline_pids, timeout=20.0):
    """Wait until the tree holds no process outside baseline_pids (every
    per-connection process has exited and been reaped). True when quiet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        extra = set(tree(root_pid)) - set(baseline_pids)
        if not extra:
            return True
        time.sleep(0.05)
    return False
