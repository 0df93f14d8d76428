#!/usr/bin/python3
"""Chart of a bench-peers run: wall time against N for every peer.

usage: bench/chart/chart.py RESULT.json [RESULT.json ...] -o CHART.png [--title TEXT]

Reads the JSON files the bench-peers harness writes (results/<date>-<label>.json,
or the --out folder's), and draws one panel per (sink latency, socket cap)
condition: for each peer, the median wall time (the sink's answer to the N-th
post - t0) against N, with the min-max of the runs as error bars, both axes
logarithmic. Rows of several files are drawn together (a peer measured in two
files appears twice, labelled with the file's name). Needs matplotlib (Debian:
apt-get install python3-matplotlib; this script runs with /usr/bin/python3).
"""
import argparse
import collections
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        tag = os.path.splitext(os.path.basename(path))[0]
        for r in data["rows"]:
            if r.get("wallMedianMs") is None:
                continue
            rows.append(dict(r, tag=tag))
    # A file's name labels its rows only where two files measured the same
    # peer under the same condition.
    seen = collections.Counter((r["peer"], r["latencyMs"], r["sockets"], r["n"]) for r in rows)
    dup = {k[0] for k, c in seen.items() if c > 1}
    for r in rows:
        if r["peer"] not in dup:
            r["tag"] = ""
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    rows = load(args.results)
    if not rows:
        raise SystemExit("no rows with a wall time")

    labels = sorted({r["peer"] + (f" ({r['tag']})" if r["tag"] else "") for r in rows})
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    conditions = sorted({(r["latencyMs"], r["sockets"]) for r in rows}, key=lambda c: (-c[0], c[1] == 0, c[1]))
    cols = min(2, len(conditions))
    nrows = (len(conditions) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6 * cols, 4.6 * nrows), squeeze=False)
    for ax in axes.flat[len(conditions):]:
        ax.set_visible(False)
    for ax, (lat, sockets) in zip(axes.flat, conditions):
        lines = collections.defaultdict(list)
        for r in rows:
            if (r["latencyMs"], r["sockets"]) == (lat, sockets):
                label = r["peer"] + (f" ({r['tag']})" if r["tag"] else "")
                lines[label].append(r)
        for label, rs in sorted(lines.items()):
            rs.sort(key=lambda r: r["n"])
            ns = [r["n"] for r in rs]
            med = [r["wallMedianMs"] for r in rs]
            lo = [r["wallMedianMs"] - r.get("wallMinMs", r["wallMedianMs"]) for r in rs]
            hi = [r.get("wallMaxMs", r["wallMedianMs"]) - r["wallMedianMs"] for r in rs]
            ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, label=label, color=colors[label])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("subscribers N")
        ax.set_ylabel("wall ms to the N-th answered post")
        ax.set_title(f"sink {lat} ms, sockets {'unbounded' if sockets == 0 else sockets}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
