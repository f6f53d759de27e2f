#!/usr/bin/env bash
# Fast transforms, side by side: the job "1M JSON lines, keep `amount > 10`, project three
# fields, write JSON lines" on the same file, by
#   (a) weir, native subset, checkpoint every 1s (exactly-once file sink)
#   (b) weir, the same job written outside the native subset (so it runs on jaq)
#   (c) jq -c, native-subset filter       (d) jaq -c, native-subset filter
#   (e) jaq -c, the filter of (b)         (f) the bare serde_json loop (bench/spine/bare_loop)
#
#   bash bench/transforms/run.sh
#
# Round-robin, BENCH_RUNS times each (default 5), medians reported. Every run's output is
# checked: its record count must equal the generator's, and weir's output bytes must equal the
# bare loop's. Wall time, peak RSS and CPU time (user + system) from /usr/bin/time. End to end:
# weir's wall time includes start-up, recovery and the final commit. jaq comes from
# `cargo install jaq --locked` (JAQ=path to override). Nothing here asserts a speed.
#
# Environment: BENCH_RUNS (default 5), BENCH_RECORDS (default 1000000), JAQ.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/bench/lib.sh"
RUNS=${BENCH_RUNS:-5}
N=${BENCH_RECORDS:-1000000}
NATIVE='select(.amount > 10) | {id, user, amount}'
# The same job with a variable: outside the native subset, so weir runs it on jaq.
JAQ_PATH='. as $r | select($r.amount > 10) | {id: $r.id, user: $r.user, amount: $r.amount}'
DATA=$ROOT/bench/.data
WORK=$DATA/work-transforms
WEIR=$ROOT/target/release/weir
BARE_DIR=$ROOT/bench/spine/bare_loop
BARE=$BARE_DIR/target/release/bare_loop
JAQ=${JAQ:-$(command -v jaq || echo "$HOME/.cargo/bin/jaq")}

need_time
command -v jq >/dev/null || die "jq is not installed (apt-get install -y jq)"
if [[ ! -x $JAQ ]]; then
    log "jaq is not installed; installing it (cargo install jaq --locked)"
    cargo install jaq --locked >&2
    JAQ=$HOME/.cargo/bin/jaq
fi
REV=$(bench_rev "$ROOT")
log "building weir (cargo build --release -p weir)"
(cd "$ROOT" && cargo build --release -p weir --bin weir >&2)
log "building the bare loop"
cargo build --release --manifest-path "$BARE_DIR/Cargo.toml" >&2

IN=$(orders_input "$BARE_DIR/target/release/gen" "$DATA" "$N")
EXPECT=$(<"$IN.expected")
rm -rf "$WORK"
mkdir -p "$WORK/results"

record() { printf '%s %s %s\n' "$2" "$3" "$4" >>"$WORK/results/$1"; } # label secs kib cpu

# check LABEL COUNT: the output count must be the generator's.
check() { [[ $2 -eq $EXPECT ]] || die "$1: wrote $2 records, the generator counted $EXPECT"; }

# run_weir LABEL FILTER
run_weir() {
    local label=$1 filter=$2 dir t
    dir=$(mktemp -d "$WORK/$label.XXXX")
    cat >"$dir/config.yaml" <<YAML
data_dir: ./state
server: { listen: 127.0.0.1:0 }
pipelines:
  orders:
    source: { type: file, path: "$IN", format: jsonl }
    transforms:
      - { type: jq, filter: '$filter' }
    sinks:
      - { type: file, path: out, format: jsonl }
    checkpoint: { interval: 1s }
YAML
    t=$(timed "$dir" "$WEIR" run "$dir/config.yaml" --listen 127.0.0.1:0)
    [[ -z $(find "$dir/out/.staging" -type f 2>/dev/null) ]] || die "$label: staged files left behind in $dir/out"
    find "$dir/out" -maxdepth 1 -name '*.jsonl' -print0 | sort -z | xargs -0 cat >"$dir/all.jsonl"
    check "$label" "$(wc -l <"$dir/all.jsonl")"
    md5sum <"$dir/all.jsonl" | cut -d' ' -f1 >>"$WORK/results/$label.md5"
    log "  $label: $(show "$t")"
    record "$label" $t
    rm -rf "$dir"
}

# run_cli LABEL PROGRAM FILTER
run_cli() {
    local label=$1 prog=$2 filter=$3 dir t
    dir=$(mktemp -d "$WORK/$label.XXXX")
    t=$(timed "$dir" sh -c 'exec "$1" -c "$2" "$3" >"$4"' sh "$prog" "$filter" "$IN" "$dir/out.jsonl")
    check "$label" "$(wc -l <"$dir/out.jsonl")"
    log "  $label: $(show "$t")"
    record "$label" $t
    rm -rf "$dir"
}

run_bare() {
    local dir t
    dir=$(mktemp -d "$WORK/f.XXXX")
    t=$(timed "$dir" "$BARE" "$IN" "$dir/out.jsonl")
    check f "$(wc -l <"$dir/out.jsonl")"
    md5sum <"$dir/out.jsonl" | cut -d' ' -f1 >>"$WORK/results/f.md5"
    log "  f: $(show "$t")"
    record f $t
    rm -rf "$dir"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$IN" >/dev/null # page cache
for i in $(seq 1 "$RUNS"); do
    log "round $i/$RUNS"
    run_weir a "$NATIVE"
    run_weir b "$JAQ_PATH"
    run_cli c jq "$NATIVE"
    run_cli d "$JAQ" "$NATIVE"
    run_cli e "$JAQ" "$JAQ_PATH"
    run_bare
done

declare -A NAME=(
    [a]="weir, native subset, checkpoint every 1s, exactly-once"
    [b]="weir, jaq path (filter outside the subset), checkpoint every 1s"
    [c]="jq -c ($(jq --version))"
    [d]="jaq -c ($("$JAQ" --version))"
    [e]="jaq -c, the filter of (b)"
    [f]="bare serde_json loop, 1 thread"
)
declare -A SECS RSS CPU RATE PERCPU
for k in a b c d e f; do
    SECS[$k]=$(median 1 "$WORK/results/$k")
    RSS[$k]=$(median 2 "$WORK/results/$k")
    CPU[$k]=$(median 3 "$WORK/results/$k")
    RATE[$k]=$(awk -v n="$N" -v s="${SECS[$k]}" 'BEGIN {printf "%.0f", n / s}')
    PERCPU[$k]=$(awk -v n="$N" -v s="${CPU[$k]}" 'BEGIN {printf "%.0f", n / s}')
done
{
    echo "Filters: native \`$NATIVE\`; jaq path \`$JAQ_PATH\`."
    echo "Input: $(fmt_int "$N") records ($(du -m "$IN" | cut -f1) MB), $(fmt_int "$EXPECT") kept. Runs per row: $RUNS (medians; wall time range in brackets)."
    echo "$(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); weir at commit $REV, release profile."
    echo
    echo "| | run | records/s | median s (min–max) | peak RSS | CPU s | records per CPU s |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for k in a b c d e f; do
        printf '| %s | %s | %s | %s (%s) | %s MiB | %s | %s |\n' "$k" "${NAME[$k]}" "$(fmt_int "${RATE[$k]}")" \
            "${SECS[$k]}" "$(spread 1 "$WORK/results/$k")" "$(mib "${RSS[$k]}")" "${CPU[$k]}" "$(fmt_int "${PERCPU[$k]}")"
    done
    echo
    awk -v a="${SECS[a]}" -v c="${SECS[c]}" -v d="${SECS[d]}" 'BEGIN {
        printf "Native path vs jq -c, end to end: x%.2f (target >= 5); vs jaq -c: x%.2f.\n", c / a, d / a }'
    awk -v a="${PERCPU[a]}" -v f="${PERCPU[f]}" -v ra="${RATE[a]}" -v rf="${RATE[f]}" 'BEGIN {
        printf "Native path per core (records per CPU second) vs the bare loop: %.0f%% (target >= 70%%); in wall-clock records/s: %.0f%%.\n", 100 * a / f, 100 * ra / rf }'
    awk -v b="${SECS[b]}" -v e="${SECS[e]}" 'BEGIN {
        printf "jaq path vs jaq -c on the same filter, end to end: x%.2f (target >= 1).\n", e / b }'
    if [[ $(sort -u "$WORK/results/a.md5" "$WORK/results/b.md5" "$WORK/results/f.md5" | wc -l) -eq 1 ]]; then
        echo "weir's output, on both paths and in every run, is byte-identical to the bare loop's."
    else
        echo "weir's output differs in bytes from the bare loop's (counts agree)."
    fi
    echo "Load average (1/5/15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$DATA/last-transforms.md"
rm -rf "$WORK"
