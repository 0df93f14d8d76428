#!/usr/bin/python3
"""Simulation of scale-out fan-out, calibrated by bench/scale/run.sh results.

usage: bench/scale/simulate.py RESULT.json [RESULT.json ...] --calibrate RESULT.json
           [--n 1000000] [--rate 10000] [--out-dir docs/img]

RESULT.json are the JSON lines bench/scale/run.sh printed (one per file).
The run given with --calibrate sets the model's measured inputs:

  walk      the publisher's time per range while splitting: publish_return_ms / ranges
            (the keys of one range read from DynamoDB Local, and the sends to SQS)
  read      a worker's time to read one range: range_read_ms
  cpu       worker CPU per delivered post: worker_cpu_us_per_post (the DynamoDB
            read, GraphQL, the signed @connections post, the throttle and the split log)
  rate      the throttle: R posts/s shared by every worker

The model, stepped every 10 ms: the publisher walks the keys (shards walked in
parallel), sends ranges ten at a time once the threshold is passed; K workers
take ranges in order, read each (read), then post its subscriptions, each at
most at its own speed, together at most R per second (the shared budget,
shared equally among the workers posting). A worker's speed is its CPU share
divided by cpu: on Lambda, memory / 1,769 MB of a vCPU; on this machine,
fitted to the calibration run (two cores shared by the workers, the sink and
DynamoDB Local).

It checks the model against every run given (measured and simulated time, in
a table on stdout), then simulates delivering --n subscriptions against the
worker count, and draws two charts (matplotlib; Debian: python3-matplotlib):
scale-out-bench.png (the runs, measured and modelled) and
scale-out-simulation.png (delivery time of --n against K).
"""
import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DT = 0.01


def simulate(n, k, rate, size, threshold, walk, read, worker_rate, shards=1, machine_rate=None):
    """Seconds from the publish to the last post. machine_rate, when set,
    bounds the posts/s of all workers together (the cores they share)."""
    ranges = math.ceil(n / size)
    first = min(ranges, threshold // size + 1)  # ranges walked before the first send
    avail = []
    for i in range(ranges):
        walked = math.ceil((i + 1) / shards) * walk
        batch = max(first, math.ceil((i + 1) / 10) * 10)
        sent = max(walked, math.ceil(min(batch, ranges) / shards) * walk)
        avail.append(sent)
    sizes = [min(size, n - i * size) for i in range(ranges)]
    t, nxt, delivered = 0.0, 0, 0.0
    workers = [{"until": 0.0, "left": 0.0} for _ in range(k)]
    while nxt < ranges or any(w["left"] > 1e-9 or w["until"] > t for w in workers):
        for w in workers:
            if w["left"] <= 0 and w["until"] <= t and nxt < ranges and avail[nxt] <= t:
                w["until"], w["left"] = t + read, sizes[nxt]
                nxt += 1
        posting = [w for w in workers if w["left"] > 0 and w["until"] <= t]
        budget = min(rate, machine_rate or rate) * DT
        want = sorted(posting, key=lambda w: min(w["left"], worker_rate * DT))
        for i, w in enumerate(want):
            share = budget / (len(want) - i)
            got = min(w["left"], worker_rate * DT, share)
            w["left"] -= got
            budget -= got
            delivered += got
        t += DT
        if t > 36000:
            raise RuntimeError("the simulation does not end")
    return t


def calibration(run):
    walk = run["publish_return_ms"] / 1000 / run["ranges"]
    read = run["range_read_ms"] / 1000
    size = math.ceil(run["n"] / run["ranges"])
    # The workers' posting speed on this machine, fitted: each worker spent
    # K * (time after the first post) / ranges per range, read included.
    active = run["sink_wall_ms"] / 1000 - run["first_post_ms"] / 1000
    per_range = run["workers"] * active / run["ranges"] - read
    return {"walk": walk, "read": read, "size": size, "cpu": run["worker_cpu_us_per_post"] * 1e-6, "workers": run["workers"],
            "local_worker_rate": size / max(per_range, 1e-3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--calibrate", required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--out-dir", default="docs/img")
    a = ap.parse_args()
    runs = [json.load(open(p)) for p in a.results]
    cal = calibration(json.load(open(a.calibrate)))
    print("calibration:", json.dumps({k: round(v, 6) for k, v in cal.items()}))

    print("| run | measured s | modelled s | posts/s | share of R | lost | dup | 429 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for r in runs:
        threshold = min(20000, r["n"] // 2)
        wr = cal["local_worker_rate"]
        # Two cores for every process: the workers' posts/s together are
        # bounded by what the calibration run's workers reached, scaled by
        # this run's CPU per post.
        machine = cal["local_worker_rate"] * cal["workers"] * cal["cpu"] / (r["worker_cpu_us_per_post"] * 1e-6)
        m = simulate(r["n"], r["workers"], r["rate"], cal["size"], threshold, r["publish_return_ms"] / 1000 / r["ranges"],
                     r["range_read_ms"] / 1000, wr, machine_rate=machine)
        label = f"N={r['n']:,} K={r['workers']} R={r['rate']:,}"
        rows.append((label, r, m))
        print(f"| {label} | {r['sink_wall_ms'] / 1000:.1f} | {m:.1f} | {r['posts_per_s']:,} | {r['share_of_rate']:.0%} | "
              f"{r['lost']} | {r['duplicated']} | {r['throttled_429']} |")

    ks = [1, 2, 4, 8, 16, 32, 64]
    curves = {
        "Lambda 512 MB (0.29 vCPU), 1 shard": (512 / 1769 / cal["cpu"], 1),
        "Lambda 512 MB (0.29 vCPU), 4 shards": (512 / 1769 / cal["cpu"], 4),
        "Lambda 1,769 MB (1 vCPU), 4 shards": (1 / cal["cpu"], 4),
    }
    sim = {}
    for name, (wr, shards) in curves.items():
        sim[name] = [simulate(a.n, k, a.rate, cal["size"], 20000, cal["walk"], cal["read"], wr, shards) for k in ks]
        print(json.dumps({"curve": name, "worker_posts_per_s": round(wr), "n": a.n, "rate": a.rate,
                          "seconds_by_workers": dict(zip(ks, [round(s, 1) for s in sim[name]]))}))

    os.makedirs(a.out_dir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    labels = [lab for lab, _, _ in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["sink_wall_ms"] / 1000 for _, r, _ in rows], 0.4, label="measured (sink's last answer)")
    ax.bar([i + 0.2 for i in x], [m for _, _, m in rows], 0.4, label="model, calibrated")
    for i, (_, r, _) in enumerate(rows):
        ax.annotate(f"{r['posts_per_s']:,}/s = {r['share_of_rate']:.0%} of R\nlost {r['lost']}, dup {r['duplicated']}, 429 {r['throttled_429']}",
                    (i, r["sink_wall_ms"] / 1000), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("seconds, publish to last post")
    ax.set_title("Scale-out bench: K worker processes, DynamoDB Local, local SQS, throttled sink")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_ylim(0, max(r["sink_wall_ms"] / 1000 for _, r, _ in rows) * 1.35)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "scale-out-bench.png"), dpi=110)

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for name, secs in sim.items():
        ax.plot(ks, secs, marker="o", label=name)
    ax.axhline(a.n / a.rate, color="grey", linestyle="--", label=f"N / R = {a.n / a.rate:.0f} s")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("workers (event source mapping maximum concurrency)")
    ax.set_ylabel("seconds to deliver")
    ax.set_title(f"Simulated: one event to {a.n:,} subscribers, throttle {a.rate:,} posts/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "scale-out-simulation.png"), dpi=110)


if __name__ == "__main__":
    main()
