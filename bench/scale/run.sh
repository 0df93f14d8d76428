#!/usr/bin/env bash
# The bench of scale-out fan-out (docs/benchmarks.md, "Scale-out"): one
# event to N subscriptions of one topic, split into ranges sent to a local
# SQS queue and delivered by K worker processes that post to the
# @connections endpoint at URL, sharing one throttle of R posts/s.
#
#   bench/scale/run.sh --n N --workers K --sink URL [--sink-control URL]
#                      [--rate R] [--range-size S] [--fanout F]
#
# It starts its own DynamoDB Local (scripts/dynamodb-local) and local SQS
# endpoint (gqlambda sqs serve: a queue and its dead-letter queue, redrive
# after 5 receives), seeds N subscriptions in bulk (bench/scale seed: one
# through the WebSocket handler, N-1 copies of its items, checked equal),
# starts K workers (bench/scale worker), publishes once (bench/scale
# publish: Publish, then WaitSplit), and exits once the publish completed,
# printing one JSON line. With --sink-control (the control URL of
# shared/bench-peers/lib/sink.mjs) it resets the sink before the publish and
# adds the sink's own counts: delivered, lost, duplicated, 429s, and the
# time of the last post answered.
set -euo pipefail
cd "$(dirname "$0")/../.."

n=1000 workers=2 sink="" control="" rate=10000 range_size=1000 fanout=256
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --sink) sink=$2; shift 2 ;;
    --sink-control) control=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --range-size) range_size=$2; shift 2 ;;
    --fanout) fanout=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$sink" ] || { echo "run.sh: --sink URL is required" >&2; exit 2; }

if [ -z "${BENCH_SCALE_INNER:-}" ]; then
  BENCH_SCALE_INNER=1 exec scripts/dynamodb-local run "$0" --n "$n" --workers "$workers" --sink "$sink" \
    ${control:+--sink-control "$control"} --rate "$rate" --range-size "$range_size" --fanout "$fanout"
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/scale" ./bench/scale
go build -o "$tmp/gqlambda" ./cmd/gqlambda

"$tmp/gqlambda" sqs serve -addr 127.0.0.1:0 -queue ranges -dlq ranges-dlq -max-receive 5 -visibility 60s >"$tmp/sqs.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^  queue' "$tmp/sqs.out" && break; sleep 0.1; done
sqs_endpoint=$(awk '$1=="endpoint"{print $2}' "$tmp/sqs.out")
queue=$(awk '$1=="queue"{print $2}' "$tmp/sqs.out")
[ -n "$queue" ] || { cat "$tmp/sqs.out" >&2; exit 1; }

threshold=$(( n / 2 < 20000 ? n / 2 : 20000 ))
export GQLAMBDA_SCALE_DYNAMODB=$GQLAMBDA_DYNAMODB_ENDPOINT GQLAMBDA_SCALE_TABLE_PREFIX=scale- \
  GQLAMBDA_SCALE_SQS=$sqs_endpoint GQLAMBDA_SCALE_QUEUE_URL=$queue GQLAMBDA_SCALE_RATE=$rate \
  GQLAMBDA_SCALE_THRESHOLD=$threshold GQLAMBDA_SCALE_RANGE_SIZE=$range_size GQLAMBDA_SCALE_MAX_RECEIVE=5 \
  GQLAMBDA_SCALE_FANOUT=$fanout GQLAMBDA_SCALE_MAX_WORKERS=$workers GQLAMBDA_SCALE_CONCURRENCY=1 GQLAMBDA_SCALE_CHECKPOINT_MS=1000

"$tmp/scale" seed -n "$n" -endpoint "${sink%/}/bench" >"$tmp/seed.json"
echo "run.sh: seeded: $(cat "$tmp/seed.json")" >&2

wpids=()
for i in $(seq "$workers"); do
  "$tmp/scale" worker 2>"$tmp/worker-$i.log" &
  pids+=($!); wpids+=($!)
done
sleep 1 # the workers' first long polls
[ -z "$control" ] || curl -fsS -X POST -d '{}' "$control/__reset" >/dev/null

cpu0=0
for p in "${wpids[@]}"; do cpu0=$(( cpu0 + $(awk '{print $14+$15}' "/proc/$p/stat") )); done
"$tmp/scale" publish >"$tmp/publish.json"
cpu1=0 rss=()
for p in "${wpids[@]}"; do
  cpu1=$(( cpu1 + $(awk '{print $14+$15}' "/proc/$p/stat") ))
  rss+=("$(awk '/VmHWM/{print $2}' "/proc/$p/status")")
done
stats='{}'
if [ -n "$control" ]; then
  curl -fsS "$control/__wait?count=$n&timeoutMs=10000&quietMs=2000" >/dev/null || true
  stats=$(curl -fsS "$control/__stats")
fi

N=$n K=$workers R=$rate TICKS=$(getconf CLK_TCK) CPU=$(( cpu1 - cpu0 )) RSS="${rss[*]}" STATS=$stats \
  SEED=$(cat "$tmp/seed.json") PUB=$(cat "$tmp/publish.json") LOAD=$(cut -d' ' -f1-3 /proc/loadavg) \
  /usr/bin/python3 - <<'PY'
import json, os
n, k, r = int(os.environ["N"]), int(os.environ["K"]), int(os.environ["R"])
pub, seed, stats = json.loads(os.environ["PUB"]), json.loads(os.environ["SEED"]), json.loads(os.environ["STATS"])
cpu_s = int(os.environ["CPU"]) / int(os.environ["TICKS"])
out = {"n": n, "workers": k, "rate": r, "ranges": pub["ranges"], "done": pub["done"], "dead": pub["dead"],
       "publish_return_ms": pub["publish_return_ms"], "complete_ms": pub["complete_ms"],
       "delivered_reported": pub["delivered"], "range_read_ms": pub["range_read_ms"],
       "worker_cpu_us_per_post": round(cpu_s * 1e6 / n, 1),
       "peak_rss_mb_per_worker": [round(int(x) / 1024, 1) for x in os.environ["RSS"].split()],
       "seed": seed, "loadavg": os.environ["LOAD"]}
if stats:
    wall = stats["lastDeliveredAt"] - pub["t0_ms"]
    out.update({"sink_wall_ms": round(wall), "sink_delivered_ids": stats["deliveredIds"], "lost": n - stats["deliveredIds"],
                "duplicated": stats["duplicates"], "throttled_429": stats["throttled"], "failed_5xx": stats["failed"],
                "first_post_ms": round(stats["firstDeliveredAt"] - pub["t0_ms"]),
                "posts_per_s": round(stats["deliveredIds"] / wall * 1000), "share_of_rate": round(stats["deliveredIds"] / wall * 1000 / r, 3),
                "sink_cpu_ms": round(stats["sinkCpuMs"])})
else:
    out.update({"posts_per_s": round(n / pub["complete_ms"] * 1000), "share_of_rate": round(n / pub["complete_ms"] * 1000 / r, 3)})
print(json.dumps(out))
PY
