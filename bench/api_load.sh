#!/usr/bin/env bash
# Load benchmark of the API (make bench-api), every figure side by side in one run on one machine:
#   1. wrk with CONNECTIONS keep-alive clients against a static file, GET /v1/partners/{id}/kpis for
#      a stored period (partner token) and /livez;
#   2. 1,000 idle and 200 slow-header connections held open while /livez and the KPI request are
#      asked one at a time (bench/api_hostile.py starve), with the memory of serve;
#   3. oversized bodies: chunked without a token, chunked with one, a declared 300 MB;
#   4. the same wrk runs with api.standing_cache: 0s (every request reads the store);
#   5. cost: one partner's token sends 60 `history?periods=36` at once (within its burst, rate limit
#      on) while another partner asks for its KPIs.
# Data: `pactwatch gen` (PARTNERS partners, TICKETS tickets over January to October 2026) on SQLite.
# The period asked for is pinned (PERIOD, default 2026-10) and evaluated and stored before serve
# starts, so the figures do not depend on today's date.
#
# usage: bench/api_load.sh PACTWATCH [PARTNERS] [TICKETS] [SECONDS] [CONNECTIONS]
set -euo pipefail
BIN=$(readlink -f "$1")
PARTNERS=${2:-100}
TICKETS=${3:-100000}
SECONDS_EACH=${4:-10}
CONNS=${5:-256}
PERIOD=${PERIOD:-2026-10}
HERE=$(dirname "$(readlink -f "$0")")
WORK=$(mktemp -d /tmp/pactwatch-api-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# 1,200 held connections plus wrk's: as many descriptors as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

"$BIN" gen --partners "$PARTNERS" --tickets "$TICKETS" --out "$WORK/gen" > /dev/null
# The connection settings exist since the asynchronous server; an older build is measured without them.
HAS_LIMITS=$("$BIN" config defaults | grep -c 'max_client_connections' || true)
write_config() {
  cat > "$WORK/pactwatch.yaml" <<YAML
listen: 127.0.0.1:$PORT
database:
  url: sqlite://$WORK/p.db
rules_dir: $WORK/gen/rules
log:
  level: warn
evaluation:
  full_interval: 1h
api:
  rate_limit: $1
  standing_cache: $2
YAML
  if [ "$HAS_LIMITS" != 0 ]; then
    # Every client of the benchmark is 127.0.0.1: the per-address cap must admit them all.
    printf '  max_client_connections: 4096\n' >> "$WORK/pactwatch.yaml"
  fi
}
write_config 0 1s
C="--config $WORK/pactwatch.yaml"
"$BIN" $C import tickets "$WORK/gen/tickets.ndjson" --source gen > /dev/null
"$BIN" $C import surveys "$WORK/gen/surveys.ndjson" --source gen > /dev/null
# Contracts are enforced from recorded approvals: the generated ones carry theirs in their files,
# recorded once as a migration would (a build from before recorded approvals has no such command).
if "$BIN" contract --help 2>/dev/null | grep -q "^  adopt "; then "$BIN" $C contract adopt --all --vouched-by bench > /dev/null; fi
"$BIN" $C eval --period "$PERIOD" --save --format json > /dev/null 2>&1
TOKEN=$("$BIN" $C token create --role partner --partner p00001 2>/dev/null)
TOKEN_B=$("$BIN" $C token create --role partner --partner p00002 2>/dev/null)
KPIS="/v1/partners/p00001/kpis?period=$PERIOD"

run_server() {
  "$BIN" $C serve 2> "$WORK/serve.log" &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.1; done
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$KPIS" | grep -q '"evaluation":"stored"' ||
    { echo "the standing of $PERIOD is not stored; the benchmark would measure something else" >&2; exit 1; }
}
stop_server() {
  kill "$SERVER"
  wait "$SERVER" || true
}
measure() {
  local label=$1 path=$2
  local out
  out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path")
  local rps p50 p99 non2xx errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  errors=$(echo "$out" | awk -F'Socket errors: ' '/Socket errors/ {print $2}')
  printf '| %-44s | %10s | %8s | %8s | %7s | %s |\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errors:-none}"
}
table_head() {
  printf '| %-44s | %10s | %8s | %8s | %7s | %s |\n' "request" "req/s" "p50" "p99" "non-2xx" "socket errors"
  echo "|----------------------------------------------|------------|----------|----------|---------|---------------|"
}

echo "pactwatch API load: $PARTNERS partners, $TICKETS tickets, period $PERIOD (stored), wrk 2 threads, $CONNS keep-alive connections, ${SECONDS_EACH}s each"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo)"
echo
echo "1. api.standing_cache: 1s (default), rate limit off"
table_head
run_server
measure "GET /portal/static/portal.css (baseline)" /portal/static/portal.css
measure "GET /v1/partners/{id}/kpis (standing 1 s)" "$KPIS"
measure "GET /livez (baseline, no auth)" /livez
echo
echo "2. 1,000 idle and 200 slow-header connections open at once"
python3 "$HERE/api_hostile.py" starve "$PORT" "$SERVER" "$TOKEN" "$KPIS" --idle 1000 --slow 200 --probes 200
echo
echo "3. bodies over the limit (64 KiB) to POST /v1/partners/{id}/what-if"
python3 "$HERE/api_hostile.py" bodies "$PORT" "$SERVER" "$TOKEN" /v1/partners/p00001/what-if 65536
echo "RSS of serve after 1-3: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVER/status) (peak)"
stop_server
echo
echo "4. api.standing_cache: 0s (every request reads the store and renders the standing)"
table_head
write_config 0 0s
run_server
measure "GET /v1/partners/{id}/kpis (standing_cache 0s)" "$KPIS"
measure "GET /livez (baseline, no auth)" /livez
stop_server
echo
echo "5. cost: rate limit on (api.rate_limit 20, api.rate_burst 60), standing 1 s"
write_config 20 1s
run_server
python3 "$HERE/api_hostile.py" cost "$PORT" "$TOKEN" "$TOKEN_B" "/v1/partners/p00001/history?periods=36" \
  "/v1/partners/p00002/kpis?period=$PERIOD" --heavy 60
stop_server
