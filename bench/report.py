"""report.py — turn the per-figure medians into a text table, Markdown, JSON
and a PNG chart of the ratios (sshgate / sshd)."""
import json


def fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def paired_ratios(sshd_runs, sshgate_runs):
    """Run i of sshgate over run i of sshd (the two ran back to back). Empty
    when a failed run leaves the lists unequal, so no pair is mismatched."""
    if len(sshd_runs) != len(sshgate_runs) or len(sshd_runs) < 2:
        return []
    return [g / d for d, g in zip(sshd_runs, sshgate_runs) if d]


def ahead_text(row):
    """In how many back-to-back pairs sshgate did better: "7/11"; a figure
    whose median ratio rests on 6 of 11 pairs is a tie within the noise."""
    pr = row.get("paired") or []
    if not pr:
        return ""
    better = sum(1 for x in pr if (x > 1 if row["better"] == "higher" else x < 1))
    return f"{better}/{len(pr)}"


def target_text(t):
    if not t:
        return ""
    kind, op, val = t
    unit = "x" if kind == "ratio" else ""
    return f"{op} {val:g}{unit}" if kind == "ratio" else f"sshgate {op} {val:g}"


def verdict(row):
    t = row.get("target")
    if not t:
        return ""
    kind, op, val = t
    x = row["ratio"] if kind == "ratio" else row["sshgate"]
    if x is None:
        return "n/a"
    ok = x >= val if op == ">=" else x <= val
    return "PASS" if ok else "MISS"


def rows_with_verdict(rows):
    for r in rows:
        r["verdict"] = verdict(r)
    return rows


def text_table(rows):
    head = ["figure", "unit", "sshd", "sshgate", "ratio", "ahead", "target", ""]
    body = [[r["label"], r["unit"], fmt(r["sshd"]), fmt(r["sshgate"]), fmt(r["ratio"]),
             ahead_text(r), target_text(r.get("target")), r["verdict"]] for r in rows]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(b, widths)).rstrip())
    notes = [f"  {r['label']}: {r['why']}" for r in rows if r.get("why")]
    if notes:
        lines += ["", "not measured / failed runs:"] + notes
    return "\n".join(lines)


def fwd_runs_text(meta):
    """'ssh -L figures 15; ' when those figures ran more often than the rest."""
    n = meta.get("fwd_runs")
    return f"ssh -L figures {n}; " if n and n != meta.get("runs") else ""


def markdown(rows, meta):
    out = [f"Run {meta['date']} on {meta['machine']['cpu']} "
           f"({meta['machine']['nproc']} cores, kernel {meta['machine']['kernel']}, "
           f"{meta['machine']['mem_gib']} GiB RAM; load average at start "
           f"{meta['machine']['loadavg']}), {meta['openssh']}, libssh {meta['libssh']}, "
           f"sshgate {meta['commit']}. Mode: {meta['mode']}, {meta['runs']} runs "
           f"({fwd_runs_text(meta)}A/B alternated, medians), transfer size {meta['size_mib']} MiB. "
           f"Server CPU: {meta.get('cpu_method', '?')}.",
           ]
    for m in meta.get("merged", []):
        out.append(f"Re-measured {m['date']} (sshgate {m['commit']}, load average "
                   f"{m['loadavg']}): {', '.join(m['tasks'])}.")
    out += ["",
           "| figure | unit | sshd | sshgate | ratio sshgate/sshd | sshgate ahead | target | |",
           "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        out.append(f"| {r['label']} | {r['unit']} | {fmt(r['sshd'])} | {fmt(r['sshgate'])} | "
                   f"{fmt(r['ratio'])} | {ahead_text(r)} | {target_text(r.get('target'))} | "
                   f"{r['verdict']} |")
    notes = [r for r in rows if r.get("why")]
    if notes:
        out += ["", "Not measured, or runs that failed:", ""]
        out += [f"- {r['label']}: {r['why']}" for r in notes]
    return "\n".join(out) + "\n"


def write_json(path, rows, meta, raw):
    with open(path, "w") as f:
        json.dump({"meta": meta, "figures": rows, "runs": raw}, f, indent=1)


def chart(path, rows, meta):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib missing (apt-get install python3-matplotlib): no chart"
    rs = [r for r in rows if r["ratio"] is not None]
    if not rs:
        return "no ratio to draw"
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rs) + 1.6))
    colors = {"PASS": "#2e8b57", "MISS": "#c0392b", "": "#7f8c8d", "n/a": "#7f8c8d"}
    ys = list(range(len(rs)))[::-1]
    ax.barh(ys, [r["ratio"] for r in rs], color=[colors[r["verdict"]] for r in rs])
    for y, r in zip(ys, rs):
        t = r.get("target")
        if t and t[0] == "ratio":
            ax.plot([t[2], t[2]], [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(r["ratio"], y, f" {r['ratio']:.2f}", va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['label']} ({'higher' if r['better'] == 'higher' else 'lower'}"
                        f" is better)" for r in rs], fontsize=7)
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("sshgate / sshd (log scale); black tick = target; green met, red missed")
    ax.set_title(f"sshgate vs OpenSSH sshd — {meta['date']}, {meta['machine']['nproc']} cores",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
