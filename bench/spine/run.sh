#!/usr/bin/env bash
# Spine macro benchmark: JSON lines file -> jq filter -> JSON lines file.
#
#   bash bench/spine/run.sh
#
# Runs, round-robin, BENCH_RUNS times each (default 5) on the same 1M-record input:
#   (a) weir, checkpoint every 1s (exactly-once file sink)
#   (b) weir, checkpointing off
#   (c) jq -c, same filter, same file, output to a file
#   (d) the bare Rust loop (bench/spine/bare_loop): read, serde_json parse, filter, write
# then (e) weir as in (a) on a 4M-record input, to see whether peak RSS stays flat.
#
# Only the weir binary is built (`cargo build --release -p weir`), so a half-edited sibling crate
# in the workspace cannot stop the benchmark; the bare loop is its own tiny cargo package.
#
# Wall time and peak RSS come from `/usr/bin/time -f "%e %M %U %S"`, with CPU time (user +
# system) alongside, which other load on the machine disturbs less than wall time; weir's own
# per-epoch debug events give the time spent committing epochs. Every run's output record count
# is checked: jq's must equal the generator's count, and weir's and the bare loop's must equal
# jq's, or the script fails. This is a measurement, not a test: nothing here asserts a speed.
#
# Environment: BENCH_RUNS (default 5), BENCH_RECORDS (default 1000000), BENCH_LARGE_RECORDS
# (default 4000000). Inputs are generated once into bench/.data/ (git-ignored) and reused;
# every run works in a fresh directory under bench/.data/work/ that is removed afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${BENCH_RUNS:-5}
SMALL=${BENCH_RECORDS:-1000000}
LARGE=${BENCH_LARGE_RECORDS:-4000000}
FILTER='select(.amount > 10) | {id, user, amount}'
DATA=$ROOT/bench/.data
WORK=$DATA/work
WEIR=$ROOT/target/release/weir
BARE_DIR=$ROOT/bench/spine/bare_loop
BARE=$BARE_DIR/target/release/bare_loop
GEN=$BARE_DIR/target/release/gen
source "$ROOT/bench/lib.sh"

# --- tools -------------------------------------------------------------------------------------
need_time
command -v jq >/dev/null || die "jq is not installed (apt-get install -y jq)"
REV=$(bench_rev "$ROOT")
log "building weir (cargo build --release -p weir)"
(cd "$ROOT" && cargo build --release -p weir --bin weir >&2)
[[ -x $WEIR ]] || die "$WEIR was not built"
log "building the bare loop"
cargo build --release --manifest-path "$BARE_DIR/Cargo.toml" >&2

# --- inputs ------------------------------------------------------------------------------------
mkdir -p "$DATA"
rm -rf "$WORK"
mkdir -p "$WORK"

input() { orders_input "$GEN" "$DATA" "$1"; }
IN_SMALL=$(input "$SMALL")
IN_LARGE=$(input "$LARGE")
EXPECT_SMALL=$(<"$IN_SMALL.expected")
EXPECT_LARGE=$(<"$IN_LARGE.expected")

# --- one measured run --------------------------------------------------------------------------
# Each runner appends "<wall s> <peak KiB> <cpu s> <output records>" to $WORK/results/<label>.

mkdir -p "$WORK/results"

record() { # label secs kib cpu count
    printf '%s %s %s %s\n' "$2" "$3" "$4" "$5" >>"$WORK/results/$1"
}

# run_weir LABEL INPUT CHECKPOINT_YAML EXPECTED
run_weir() {
    local label=$1 in=$2 checkpoint=$3 expected=$4 dir
    dir=$(mktemp -d "$WORK/$label.XXXX")
    cat >"$dir/config.yaml" <<EOF
data_dir: ./state
server: { listen: 127.0.0.1:0 }
pipelines:
  spine:
    source: { type: file, path: "$in", format: jsonl }
    transforms:
      - { type: jq, filter: '$FILTER' }
    sinks:
      - { type: file, path: out, format: jsonl }
    checkpoint: $checkpoint
EOF
    local t commit_ms
    # The per-epoch "epoch committed" debug event carries the time the lane spent in
    # precommit + checkpoint + commit; one line per epoch, nothing per record.
    t=$(WEIR_LOG=info,weir::observe::events=debug timed "$dir" "$WEIR" run "$dir/config.yaml" --listen 127.0.0.1:0)
    commit_ms=$({ grep -o 'duration_ms=[0-9.]*' "$dir/log" || true; } | awk -F= '{s += $2} END {printf "%.0f", s}')
    if [[ -d $dir/out/.staging ]] && [[ -n $(find "$dir/out/.staging" -type f) ]]; then
        die "$label: weir left staged files behind in $dir/out/.staging"
    fi
    local files count
    files=$(find "$dir/out" -maxdepth 1 -name '*.jsonl' | wc -l)
    count=$(find "$dir/out" -maxdepth 1 -name '*.jsonl' -print0 | sort -z | xargs -0 cat | wc -l)
    [[ $count -eq $expected ]] || die "$label: weir wrote $count records, jq wrote $expected (dir kept: $dir)"
    if [[ $label == a && ! -s $WORK/weir-a.md5 ]]; then
        # Commit order is name order; concatenated, one lane's files are its output in input order.
        find "$dir/out" -maxdepth 1 -name '*.jsonl' -print0 | sort -z | xargs -0 cat | md5sum >"$WORK/weir-a.md5"
    fi
    log "  $label: $(show "$t"), $count records in $files committed file(s), ${commit_ms} ms in epoch commits"
    printf '%s\n' "$files" >>"$WORK/results/$label.files"
    set -- $t
    awk -v ms="$commit_ms" -v s="$1" 'BEGIN {printf "%s %.2f\n", ms, 100 * ms / 1000 / s}' >>"$WORK/results/$label.commit"
    record "$label" $t "$count"
    rm -rf "$dir"
}

run_jq() {
    local dir t count
    dir=$(mktemp -d "$WORK/c.XXXX")
    t=$(timed "$dir" sh -c 'exec jq -c "$1" "$2" >"$3"' jq "$FILTER" "$IN_SMALL" "$dir/out.jsonl")
    count=$(wc -l <"$dir/out.jsonl")
    [[ $count -eq $EXPECT_SMALL ]] || die "c: jq wrote $count records, the generator counted $EXPECT_SMALL"
    log "  c: $(show "$t"), $count records"
    record c $t "$count"
    rm -rf "$dir"
}

run_bare() {
    local dir t count
    dir=$(mktemp -d "$WORK/d.XXXX")
    t=$(timed "$dir" "$BARE" "$IN_SMALL" "$dir/out.jsonl")
    count=$(wc -l <"$dir/out.jsonl")
    [[ $count -eq $EXPECT_SMALL ]] || die "d: the bare loop wrote $count records, jq wrote $EXPECT_SMALL"
    [[ -s $WORK/bare.md5 ]] || md5sum <"$dir/out.jsonl" >"$WORK/bare.md5"
    log "  d: $(show "$t"), $count records"
    record d $t "$count"
    rm -rf "$dir"
}

# --- the runs ----------------------------------------------------------------------------------
CK_ON='{ interval: 1s }'
CK_OFF='{ enabled: false }'

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "warming the page cache"
cat "$IN_SMALL" "$IN_LARGE" >/dev/null

# jq's count is the reference for everything else; check it against the generator's first.
log "reference: jq on $SMALL records"
run_jq
rm -f "$WORK/results/c" # the reference run is not one of the measured ones

for i in $(seq 1 "$RUNS"); do
    log "round $i/$RUNS ($SMALL records)"
    run_weir a "$IN_SMALL" "$CK_ON" "$EXPECT_SMALL"
    run_weir b "$IN_SMALL" "$CK_OFF" "$EXPECT_SMALL"
    run_jq
    run_bare
done
for i in $(seq 1 "$RUNS"); do
    log "round $i/$RUNS ($LARGE records)"
    run_weir e "$IN_LARGE" "$CK_ON" "$EXPECT_LARGE"
done

# --- report ------------------------------------------------------------------------------------
declare -A NAME=(
    [a]="weir, checkpoint every 1s (exactly-once)"
    [b]="weir, checkpointing off"
    [c]="jq -c (jq $(jq --version | sed 's/^jq-//'))"
    [d]="bare Rust loop (serde_json, 1 thread)"
    [e]="weir, checkpoint every 1s, $(fmt_int "$LARGE") records"
)
declare -A RECS=([a]=$SMALL [b]=$SMALL [c]=$SMALL [d]=$SMALL [e]=$LARGE)
declare -A SECS RSS RATE CPU
for k in a b c d e; do
    f=$WORK/results/$k
    SECS[$k]=$(median 1 "$f")
    RSS[$k]=$(median 2 "$f")
    CPU[$k]=$(median 3 "$f")
    RATE[$k]=$(awk -v n="${RECS[$k]}" -v s="${SECS[$k]}" 'BEGIN {printf "%.0f", n / s}')
done

{
    echo "Spine: file -> jq -> file. Filter: \`$FILTER\`"
    echo "Input: $SMALL records ($(du -m "$IN_SMALL" | cut -f1) MB) and $LARGE records ($(du -m "$IN_LARGE" | cut -f1) MB); $EXPECT_SMALL / $EXPECT_LARGE kept."
    echo "Runs per row: $RUNS (medians; wall time range in brackets). $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)."
    echo
    echo "| | run | records | records/s | median s (min–max) | median peak RSS | median CPU s | records per CPU s |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for k in a b c d e; do
        printf '| %s | %s | %s | %s | %s (%s) | %s MiB | %s | %s |\n' "$k" "${NAME[$k]}" "$(fmt_int "${RECS[$k]}")" \
            "$(fmt_int "${RATE[$k]}")" "${SECS[$k]}" "$(spread 1 "$WORK/results/$k")" "$(mib "${RSS[$k]}")" "${CPU[$k]}" \
            "$(fmt_int "$(awk -v n="${RECS[$k]}" -v s="${CPU[$k]}" 'BEGIN {printf "%.0f", n / s}')")"
    done
    echo
    awk -v ta="${SECS[a]}" -v tb="${SECS[b]}" -v ra="${RATE[a]}" -v rb="${RATE[b]}" -v ca="${CPU[a]}" -v cb="${CPU[b]}" 'BEGIN {
        printf "Checkpoint overhead (b - a)/b in records/s: %.1f%% (in wall time, (a - b)/b: %.1f%%; in CPU time: %.1f%%); target <= 5%%.\n",
            100 * (rb - ra) / rb, 100 * (ta - tb) / tb, 100 * (ca - cb) / cb }'
    for k in a e; do
        if awk '$1 > 0 {found = 1} END {exit found}' "$WORK/results/$k.commit"; then
            echo "Time in epoch commits ($k): not found in weir's debug log."
        else
            echo "Time the lane spent in epoch commits (precommit + checkpoint + commit), from weir's own debug events ($k): median $(median 2 "$WORK/results/$k.commit")% of wall time ($(spread 2 "$WORK/results/$k.commit")%)."
        fi
    done
    awk -v s="${RSS[a]}" -v l="${RSS[e]}" -v ns="$(fmt_int "$SMALL")" -v nl="$(fmt_int "$LARGE")" 'BEGIN {
        printf "Peak RSS, %s -> %s records (a -> e): %.1f MiB -> %.1f MiB (x%.2f, %+.1f MiB); target: flat.\n", ns, nl,
            s / 1024, l / 1024, l / s, (l - s) / 1024 }'
    awk -v w="${RATE[a]}" -v j="${RATE[c]}" -v d="${RATE[d]}" -v wb="${RATE[b]}" 'BEGIN {
        printf "weir (a) vs jq: x%.2f; vs the bare loop: %.0f%% of its records/s (checkpointing off: %.0f%%).\n",
            w / j, 100 * w / d, 100 * wb / d }'
    echo "weir at commit $REV; release profile."
    echo "Load average (1/5/15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Committed files per weir run (epochs): a: $(sort -n "$WORK/results/a.files" | uniq | paste -sd, -), e: $(sort -n "$WORK/results/e.files" | uniq | paste -sd, -)."
    if [[ -s $WORK/weir-a.md5 && -s $WORK/bare.md5 ]]; then
        if [[ $(cut -d' ' -f1 "$WORK/weir-a.md5") == $(cut -d' ' -f1 "$WORK/bare.md5") ]]; then
            echo "weir's output (a) is byte-identical to the bare loop's."
        else
            echo "weir's output (a) differs in bytes from the bare loop's (counts agree)."
        fi
    fi
} | tee "$DATA/last-results.md"
rm -rf "$WORK"
