# Shared helpers of the bench scripts (sourced, not run).

export LC_ALL=C

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
fmt_int() { printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Installs GNU time when /usr/bin/time is missing.
need_time() {
    [[ -x /usr/bin/time ]] && return
    log "/usr/bin/time is missing; installing GNU time"
    local sudo
    sudo=$([[ $(id -u) -eq 0 ]] || echo sudo)
    $sudo apt-get install -y time >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y time >&2; }
}

# The commit measured, and whether the engine's sources differ from it.
bench_rev() {
    local root=$1 rev
    if rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null); then
        git -C "$root" diff --quiet HEAD -- crates/weir || rev="$rev plus uncommitted changes to crates/weir"
        [[ -z $(git -C "$root" ls-files --others --exclude-standard -- crates/weir/src) ]] || rev="$rev plus untracked files in crates/weir/src"
    else
        rev="unknown (not a git checkout)"
    fi
    printf '%s\n' "$rev"
}

# timed DIR CMD...: runs CMD under /usr/bin/time, stdout into DIR/stdout, stderr into DIR/log;
# prints "wall-s peak-KiB cpu-s" (cpu = user + system, all threads: less disturbed than wall
# time by other load on the machine).
timed() {
    local dir=$1; shift
    if ! /usr/bin/time -o "$dir/time" -f "%e %M %U %S" "$@" >"$dir/stdout" 2>"$dir/log"; then
        log "error: failed: $*"
        tail -n 20 "$dir/log" >&2 || true
        cat "$dir/time" >&2 || true
        exit 1
    fi
    tail -n 1 "$dir/time" | awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}'
}

show() { set -- $1; printf '%s s, %s KiB, cpu %s s' "$1" "$2" "$3"; } # for the progress lines

median() { # column file
    awk -v c="$1" '{print $c}' "$2" | sort -g | awk '{v[NR]=$1} END {
        if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2 }'
}
spread() { # column file -> "min-max"
    awk -v c="$1" '{print $c}' "$2" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s–%s", lo, hi}'
}

# The orders input of N records, generated once by bench/spine/bare_loop's `gen` into DATA; its
# `amount > 10` count is in <path>.expected. Prints the path.
orders_input() {
    local gen=$1 data=$2 n=$3 path=$2/orders-$3.jsonl
    mkdir -p "$data"
    if [[ ! -s $path || ! -s $path.expected ]]; then
        log "generating $n records into $path"
        "$gen" "$n" "$path.tmp" >"$path.expected.tmp"
        mv "$path.tmp" "$path"
        mv "$path.expected.tmp" "$path.expected"
    fi
    [[ $(wc -l <"$path") -eq $n ]] || die "$path does not hold $n lines; delete it and rerun"
    printf '%s\n' "$path"
}
