#!/usr/bin/env bash
# Rows/s into PostgreSQL: weir's postgres sink (upsert and transactional) against the ceiling
# of `psql -c "\copy ..."` of the same rows into the same kind of table, on a private server.
#
#   bench/postgres.sh [RECORDS]        (default 1000000; builds weir in release mode first)
#
# The server is initialised in a temporary directory and run as the `postgres` user when this
# script runs as root (initdb and postgres refuse root), with PostgreSQL's default durability
# settings (fsync on, synchronous_commit on) and max_prepared_transactions for the
# transactional mode. Each case starts from an empty table — except `upsert-existing`, which
# upserts the same rows again over a table that already holds every key (all updates: the
# replay of a whole input, or a full refresh); ROUNDS rounds (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."

records="${1:-1000000}"
rounds="${ROUNDS:-5}"
bin="${WEIR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
bin="${bin:-/usr/local/bin}"

cargo build --release -p weir >/dev/null 2>&1
weir="$PWD/target/release/weir"

work="$(mktemp -d)"
chmod 755 "$work"
cleanup() {
  as_pg "$bin/pg_ctl" stop -m immediate -D "$work/data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$work/data" "$work/sock" "$work/run/in"
chmod 700 "$work/data"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work/data" "$work/sock"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg "$bin/initdb" -U weir -A trust -E UTF8 --locale=C -D "$work/data" >/dev/null
as_pg "$bin/pg_ctl" start -w -D "$work/data" -l "$work/sock/pg.log" \
  -o "-p $port -k $work/sock -c listen_addresses=127.0.0.1 -c max_prepared_transactions=16" >/dev/null
psql=("$bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U weir)
"${psql[@]}" -d postgres -c "CREATE DATABASE app"
url="postgres://weir@127.0.0.1:$port/app"

# The rows: JSON lines for weir, the same rows as CSV for \copy.
python3 - "$records" "$work/run/in/orders.jsonl" "$work/rows.csv" <<'PY'
import sys
n, jl, csv = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(jl, "w") as j, open(csv, "w") as c:
    for i in range(n):
        a = (i * 104729) % 100000
        j.write('{"id":"o%09d","customer":"c%05d","amount":%d,"status":"paid"}\n' % (i, i % 50000, a))
        c.write('o%09d,c%05d,%d,paid\n' % (i, i % 50000, a))
PY
table="CREATE TABLE orders (id text PRIMARY KEY, customer text, amount bigint, status text)"

reset() { "${psql[@]}" -d app -c "DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS weir_epochs; $table"; rm -rf "$work/run/state"; }

run_weir() { # mode
  local key=""; [ "$1" = upsert ] && key=", key: [id]"
  cat > "$work/run/weir.yaml" <<YAML
data_dir: ./state
dependencies:
  db: { timeout: 30s }
pipelines:
  orders:
    source: { type: file, path: "in/*.jsonl" }
    sinks:
      - { type: postgres, dependency: db, url: "$url", table: orders, mode: $1$key }
YAML
  (cd "$work/run" && WEIR_LOG=warn "$weir" run weir.yaml --listen 127.0.0.1:0)
}

time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Rounds interleave the cases (copy, upsert, transactional, upsert-existing, then again), so
# a machine shared with other work slows all cases of a round alike; the ratio to the ceiling
# is taken within each round and its median reported.
declare -A secs ratios
cases="copy upsert transactional upsert-existing"
for r in $(seq "$rounds"); do
  for case in $cases; do
    reset
    if [ "$case" = copy ]; then
      t=$(time_it "${psql[@]}" -d app -c "\\copy orders FROM '$work/rows.csv' CSV")
    elif [ "$case" = upsert-existing ]; then
      "${psql[@]}" -d app -c "\\copy orders FROM '$work/rows.csv' CSV"
      "${psql[@]}" -d app -c "VACUUM ANALYZE orders"
      t=$(time_it run_weir upsert)
    else
      t=$(time_it run_weir "$case")
    fi
    rows=$("${psql[@]}" -d app -c "SELECT count(*) FROM orders")
    [ "$rows" = "$records" ] || { echo "case $case wrote $rows rows, expected $records" >&2; exit 1; }
    [ "$case" = copy ] && ceiling="$t"
    echo "round $r $case: $t s" >&2
    secs[$case]+="$t"$'\n'
    ratios[$case]+="$(echo "100 * $ceiling / $t" | bc -l)"$'\n'
  done
done

printf '\n%-18s %14s %12s %22s\n' case "median seconds" rows/s "median % of \\copy"
for case in $cases; do
  m=$(printf '%s' "${secs[$case]}" | median)
  q=$(printf '%s' "${ratios[$case]}" | median)
  printf '%-18s %14.2f %12.0f %21.0f%%\n' "$case" "$m" "$(echo "$records / $m" | bc -l)" "$q"
done
