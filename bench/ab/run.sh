#!/usr/bin/env bash
# A/B experiments on the publish path, under the bench-peers conditions but
# with one data set for every variant: starts the harness's DynamoDB Local
# (bench-peers must have been run once, for its node_modules) and sink,
# creates N subscriptions with the adapter's setup phase, then runs the
# given command (typically several driver.py calls) with the environment the
# harness would give the adapter, and stops both.
#
#   bash bench/ab/run.sh 10000 'bench/ab/driver.py base 0 0 5; bench/ab/driver.py page100 0 0 5 GQLAMBDA_BENCH_PAGE_SIZE=100'
#
# Run from the module root. HARNESS (default ../shared/bench-peers) is the
# bench-peers folder. Build variants of the adapter with variant.sh.
set -euo pipefail
n=${1:?N}
cmd=${2:?command}
harness=$(cd "${HARNESS:-../shared/bench-peers}" && pwd)
emulator="$harness/node_modules/amplify-dynamodb-simulator/emulator"
[ -f "$emulator/DynamoDBLocal.jar" ] || { echo "run bench-peers once first (npm ci)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
(cd "$work" && exec java -Djava.library.path="$emulator/DynamoDBLocal_lib" -jar "$emulator/DynamoDBLocal.jar" \
  -inMemory -sharedDb -disableTelemetry -port "$port") >"$work/ddb.log" 2>&1 &
pids+=($!)
node "$harness/lib/sink.mjs" >"$work/sink.out" 2>"$work/sink.err" &
pids+=($!)
for _ in $(seq 1 300); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/" && [ -s "$work/sink.out" ]; then break; fi
  sleep 0.1
done
sink=$(head -1 "$work/sink.out")
sinkPort=$(node -e 'console.log(JSON.parse(process.argv[1]).port)' "$sink")
controlPort=$(node -e 'console.log(JSON.parse(process.argv[1]).controlPort)' "$sink")

export BENCH_DDB_ENDPOINT="http://127.0.0.1:$port" BENCH_SINK_ENDPOINT="http://127.0.0.1:$sinkPort/bench"
export BENCH_N="$n" BENCH_SETUP_CONCURRENCY=32 BENCH_TOPIC=messageBroadcast BENCH_HARNESS_DIR="$harness"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
export SINK_CONTROL="http://127.0.0.1:$controlPort"

(cd bench/peer && go build -o .bin/adapter ./adapter)
curl -s -X POST -d '{"latencyMs":0,"scope":"setup"}' "$SINK_CONTROL/__reset" >/dev/null
echo "setup: $n subscriptions" >&2
BENCH_PHASE=setup bench/peer/.bin/adapter | tail -1
bash -c "$cmd"
