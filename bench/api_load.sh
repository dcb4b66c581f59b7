#!/usr/bin/env bash
# Load benchmark of the API (make bench-api): wrk against GET /v1/partners/{id}/kpis with a
# partner token, next to a static file of the same server as the baseline, in one run on one
# machine. Data: `pactwatch gen` (PARTNERS partners, TICKETS tickets) on SQLite; serve evaluates it
# at start. Two servers in turn: the default (a partner's standing reused for 1 s) and
# api.standing_cache: 0s (every request reads the store and renders the standing).
#
# usage: bench/api_load.sh PACTWATCH [PARTNERS] [TICKETS] [SECONDS] [CONNECTIONS]
set -euo pipefail
BIN=$(readlink -f "$1")
PARTNERS=${2:-100}
TICKETS=${3:-100000}
SECONDS_EACH=${4:-10}
CONNS=${5:-16}
WORK=$(mktemp -d /tmp/pactwatch-api-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$BIN" gen --partners "$PARTNERS" --tickets "$TICKETS" --out "$WORK/gen" > /dev/null
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
  rate_limit: 0
  standing_cache: $1
YAML
}
write_config 1s
C="--config $WORK/pactwatch.yaml"
"$BIN" $C import tickets "$WORK/gen/tickets.ndjson" --source gen > /dev/null
"$BIN" $C import surveys "$WORK/gen/surveys.ndjson" --source gen > /dev/null
TOKEN=$("$BIN" $C token create --role partner --partner p00001 2>/dev/null)

run_server() {
  "$BIN" $C serve 2> "$WORK/serve.log" &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.1; done
  # The first full evaluation runs at start: wait until the standing is stored.
  for _ in $(seq 1 600); do
    curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/partners/p00001/kpis" | grep -q '"evaluation":"stored"' && break
    sleep 0.2
  done
}
measure() {
  local label=$1 path=$2
  local out
  out=$(wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %-44s | %10s | %8s | %8s | %s |\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "pactwatch API load: $PARTNERS partners, $TICKETS tickets, wrk 1 thread, $CONNS connections, ${SECONDS_EACH}s each"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '| %-44s | %10s | %8s | %8s | %s |\n' "request" "req/s" "p50" "p99" "non-2xx"
echo "|----------------------------------------------|------------|----------|----------|---------|"
run_server
measure "GET /portal/static/portal.css (baseline)" /portal/static/portal.css
measure "GET /v1/partners/{id}/kpis (standing 1 s)" /v1/partners/p00001/kpis
measure "GET /livez (baseline, no auth)" /livez
kill "$SERVER"; wait "$SERVER" || true
write_config 0s
run_server
measure "GET /v1/partners/{id}/kpis (standing_cache 0s)" /v1/partners/p00001/kpis
echo "RSS of serve after the run: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVER/status) (peak)"
kill "$SERVER"; wait "$SERVER" || true
