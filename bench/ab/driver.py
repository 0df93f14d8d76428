#!/usr/bin/env python3
"""Time repeated publishes of one adapter against a running sink.

usage: driver.py LABEL LATENCY_MS SOCKETS RUNS [NAME=VALUE...]

Starts the adapter (ADAPTER, default bench/peer/.bin/adapter) in the publish
phase with the environment of run.sh plus NAME=VALUE pairs, then for 1
warm-up and RUNS measured runs: resets the sink (latency, marker), resets the
adapter's peak RSS, sends a publish command and reads the sink's counters.
Measures as bench-peers' run.mjs does: wall = the sink's answer to the N-th
post - t0; CPU = utime+stime of the adapter from /proc. Prints one line per
run and a SUMMARY line (median, min-max).
"""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
label, latency, sockets, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
extra = dict(a.split("=", 1) for a in sys.argv[5:])
control = os.environ["SINK_CONTROL"]


def call(path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(control + path, data=data, method="POST" if data else "GET")
    return json.load(urllib.request.urlopen(req))


adapter = os.environ.get("ADAPTER", os.path.join(here, "..", "peer", ".bin", "adapter"))
env = dict(os.environ, BENCH_PHASE="publish", BENCH_MAX_SOCKETS=str(sockets), **extra)
p = subprocess.Popen([adapter], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
pid = json.loads(p.stdout.readline())["pid"]


def cpu_ms():
    f = open(f"/proc/{pid}/stat").read()
    rest = f[f.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) * 10


def hwm_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024


rows = []
for r in range(-1, runs):
    marker = f"m{label}{r}{time.time_ns()}"
    call("/__reset", {"latencyMs": latency, "marker": marker, "scope": "ab"})
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    c0 = cpu_ms()
    p.stdin.write(json.dumps({"cmd": "publish", "run": f"{label}-{r}", "marker": marker}) + "\n")
    p.stdin.flush()
    pub = json.loads(p.stdout.readline())
    st = call("/__stats")
    row = dict(wall=st["lastDeliveredAt"] - pub["t0"], first=st["firstDeliveredAt"] - pub["t0"],
               cpu=cpu_ms() - c0, n=st["delivered"], unique=st["uniqueIds"], dup=st["duplicates"],
               marked=st["markerHits"], inflight=st["maxInFlight"], newconn=st["newConnections"],
               rss=hwm_mb(), error=pub["error"])
    if r >= 0:
        rows.append(row)
    print(label, "warm-up" if r < 0 else f"run {r + 1}",
          {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
p.stdin.write('{"cmd":"exit"}\n')
p.stdin.flush()
p.stdout.readline()
p.wait()


def med(k):
    return statistics.median(x[k] for x in rows)


n = rows[0]["n"]
ok = all(x["n"] == x["unique"] == x["marked"] and x["dup"] == 0 and not x["error"] for x in rows)
print(f"SUMMARY {label} latency={latency}ms sockets={sockets or 'inf'} N={n} "
      f"wall={med('wall'):.0f} ({min(x['wall'] for x in rows):.0f}-{max(x['wall'] for x in rows):.0f}) ms "
      f"first={med('first'):.1f} ms cpu={med('cpu')} ms ({med('cpu') * 1000 / n:.0f} us/post) "
      f"peakRSS={max(x['rss'] for x in rows)} MB inflight<={max(x['inflight'] for x in rows)} "
      f"newConns={med('newconn')} exactlyOnce={ok} load1={open('/proc/loadavg').read().split()[0]}", flush=True)
