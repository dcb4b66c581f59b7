#!/usr/bin/env bash
# A drop-directory sync of the same generated tickets by two pactwatch binaries, side by side in
# one run, on SQLite and on a throwaway PostgreSQL: the time of the first sync (every ticket new)
# and of a re-sync of the same file (every ticket unchanged), and, on PostgreSQL, the database
# round trips each made (counted from the server's log: every parse, and every statement
# executed, BEGIN and COMMIT included).
#
# usage: bench/sync_lookup_compare.sh OLD_BINARY NEW_BINARY [TICKETS]   (default 20000)
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); tickets=${3:-20000}
work=$(mktemp -d /tmp/sync-compare.XXXXXX)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$new" gen --partners 50 --tickets "$tickets" --seed 7 --out "$work/gen" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/pg"; chmod 755 "$work"; [ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
cat >> "$work/pg/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work/pg'
fsync = off
log_min_duration_statement = 0
log_destination = 'stderr'
logging_collector = off
CONF
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w start >/dev/null

printf '%-4s %-10s %-11s %12s %12s %16s\n' binary backend pass seconds tickets/s "round trips"
n=0
for backend in sqlite postgresql; do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    n=$((n + 1)); run="$work/run$n"; mkdir -p "$run/inbox"
    if [ "$backend" = sqlite ]; then url="sqlite://$run/store.db"; else
      as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres "run$n"
      url="postgresql://postgres@127.0.0.1:$port/run$n"
    fi
    cat > "$run/config.yaml" <<CONF
database:
  url: "$url"
rules_dir: $work/gen/rules
sources:
  drop:
    kind: file
    path: $run/inbox
    items: tickets
CONF
    "$bin" --config "$run/config.yaml" db migrate >/dev/null
    for pass in first re-sync; do
      cp "$work/gen/tickets.ndjson" "$run/inbox/$pass.ndjson"
      before=$(grep -cE 'duration: .* (parse|execute|statement)' "$work/pg/server.log" || true)
      start=$(date +%s.%N)
      "$bin" --config "$run/config.yaml" --log-level warn sources sync drop >/dev/null
      end=$(date +%s.%N)
      after=$(grep -cE 'duration: .* (parse|execute|statement)' "$work/pg/server.log" || true)
      trips=-; [ "$backend" = postgresql ] && trips=$((after - before))
      printf '%-4s %-10s %-11s %12.2f %12.0f %16s\n' "$which" "$backend" "$pass" "$(echo "$end - $start" | bc)" \
        "$(echo "$tickets / ($end - $start)" | bc -l)" "$trips"
    done
  done
done
