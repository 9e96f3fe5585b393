#!/usr/bin/env bash
# insn_per_request.sh HARNESS BASELINE [BUILD_TYPE] - instructions per hello
# request through one worker's whole request path (tests/perf/insn_per_request.c),
# measured with callgrind as (Ir(2N) - Ir(N)) / N so that start-up and
# tear-down cancel out; the client thread's own instructions are left out.
# Fails when the figure exceeds 1.5x the committed
# baseline (tests/perf/baseline.txt, measured on an optimised build), and when
# valgrind is missing: a regression check that cannot run must not pass.
# Unoptimised builds (Debug, sanitizers) print the figure and skip (77).
#
# Environment: INSN_N [2000], INSN_MARGIN [1.5].
set -euo pipefail

harness=$1
baseline_file=$2
build_type=${3:-}
n=${INSN_N:-2000}
margin=${INSN_MARGIN:-1.5}

if [ "$build_type" = sanitize ]; then
    echo "sanitizer build: valgrind cannot run it; measured in the plain pass"
    exit 77
fi
if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed (bash scripts/dev.sh setup installs it)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/spindle-insn.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Threads: 1 the IO loop (it runs the quick hello requests itself), 2 the
# handler thread, 3 the client (not counted).
ir() { # requests -> Ir of the server's two threads
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg.$1" \
        "$harness" "$1" >"$tmp/out.$1" 2>"$tmp/err.$1" ||
        { cat "$tmp/out.$1" "$tmp/err.$1" >&2; return 1; }
    cat "$tmp/cg.$1-01" "$tmp/cg.$1-02" | awk '/^summary:/ {s += $2} END {print s}'
}

# Which requests find the connection still busy (a read edge racing the
# handler thread's release) varies from run to run: three pairs, the median.
runs=()
for i in 1 2 3; do
    a=$(ir "$n")
    b=$(ir $((2 * n)))
    runs+=($(( (b - a) / n )))
    echo "run $i: Ir($((2 * n))) = $b, Ir($n) = $a -> $(( (b - a) / n )) per request"
done
per=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
base=$(awk '!/^#/ && NF {print $1; exit}' "$baseline_file")
echo "instructions per request: $per (median of ${runs[*]}; baseline $base, limit ${margin}x)"

case "$build_type" in
    Release | RelWithDebInfo | MinSizeRel) ;;
    *) echo "build type '${build_type:-none}' is not optimised: not compared"; exit 77 ;;
esac
awk -v p="$per" -v b="$base" -v m="$margin" 'BEGIN { exit !(p <= b * m) }' || {
    echo "FAIL: $per instructions per request is over ${margin}x the baseline $base" >&2
    exit 1
}
