#!/usr/bin/env bash
# The local gateway under load: gqlambda behind localgateway against the
# graphql-ws reference server, with the same load generator.
#
#   bash bench/localgw/run.sh [--clients 2000] [--broadcasts 20] [--runs 3] \
#     [--interval 0] [--targets gqlambda,gqlambda-http,reference] [--out DIR]
#
# Targets: gqlambda (bench/localgw/server, posting in process, as the chat
# example's local mode), gqlambda-http (the same, posting through
# apigw.Client to the gateway's @connections endpoint over loopback, as a
# Lambda behind the local gateway would), reference (graphql-ws's useServer
# on ws, bench/localgw/reference/server.mjs, with e2e/node_modules: run
# scripts/e2e-setup or npm ci in e2e/ first). Each run starts a fresh server
# per target, the targets alternating, and appends the load generator's JSON
# line to DIR/results.jsonl (default /tmp/localgw-bench); a markdown summary
# (median and min-max over the runs) goes to stdout. --interval 0 sends each
# broadcast once the previous one has reached every client (closed loop);
# --interval 5ms sends one every 5 ms whatever has arrived (open loop, see
# bench/localgw/load). Run from the module root.
set -euo pipefail
clients=2000 broadcasts=20 runs=3 interval=0 targets=gqlambda,gqlambda-http,reference out=/tmp/localgw-bench
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --broadcasts) broadcasts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out/bin"
go build -o "$out/bin/server" ./bench/localgw/server
go build -o "$out/bin/load" ./bench/localgw/load
[ -d e2e/node_modules/graphql-ws ] || { echo "e2e/node_modules is missing: run scripts/e2e-setup (or npm ci in e2e/)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "# $(date -u +%FT%TZ) clients=$clients broadcasts=$broadcasts interval=$interval runs=$runs load1=$(cut -d' ' -f1 /proc/loadavg)" >&2
for run in $(seq 1 "$runs"); do
  for target in ${targets//,/ }; do
    info="$out/$target.json"
    case $target in
      gqlambda) "$out/bin/server" >"$info" 2>"$out/$target.err" & ;;
      gqlambda-http) "$out/bin/server" -sender http >"$info" 2>"$out/$target.err" & ;;
      reference) NODE_PATH=e2e/node_modules node bench/localgw/reference/server.mjs >"$info" 2>"$out/$target.err" & ;;
      *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    pid=$!
    for _ in $(seq 1 100); do [ -s "$info" ] && break; sleep 0.1; done
    "$out/bin/load" -ws "$(field "$info" websocket)" -publish "$(field "$info" publish)" \
      -clients "$clients" -broadcasts "$broadcasts" -interval "$interval" -server-pid "$pid" -label "$target" \
      | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['run']=$run; r['load1']=float(open('/proc/loadavg').read().split()[0]); print(json.dumps(r))" \
      | tee -a "$out/results.jsonl" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done

python3 - "$out/results.jsonl" "$clients" "$broadcasts" "$interval" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mode = "closed loop" if sys.argv[4] in ("0", "0s") else None
rows = [r for r in rows if r["clients"] == int(sys.argv[2]) and r["broadcasts"] == int(sys.argv[3])
        and (r["mode"] == mode if mode else r["mode"] != "closed loop")]
def fmt(vals):
    return f"{statistics.median(vals):.1f} ({min(vals):.1f}–{max(vals):.1f})"
print("| target | mode | runs | p50 ms | p99 ms | max ms | lost | dup | server CPU µs/message | load generator CPU µs/message | server peak RSS MB |")
print("|---|---|---:|---|---|---|---:|---:|---|---|---|")
for t in dict.fromkeys(r["label"] for r in rows):
    rs = [r for r in rows if r["label"] == t]
    print(f"| {t} | {rs[0]['mode']} | {len(rs)} | {fmt([r['p50Ms'] for r in rs])} | {fmt([r['p99Ms'] for r in rs])} | {fmt([r['maxMs'] for r in rs])} | "
          f"{sum(r['lost'] for r in rs)} | {sum(r['duplicates'] for r in rs)} | {fmt([r.get('serverCpuUsPerMessage', 0) for r in rs])} | "
          f"{fmt([r['loadCpuUsPerMessage'] for r in rs])} | {fmt([r.get('serverPeakRssMb', 0) for r in rs])} |")
PY
