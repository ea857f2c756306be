#!/usr/bin/env bash
# Compare copybench with the tools people already trust, on loopback:
#
#   (a) stream, 1 field of 4 KiB, 1 thread, one-copy  vs  iperf3 -l 4K
#   (b) stream, 1 field of 64 KiB, 1 thread, one-copy vs  iperf3 -l 64K
#   (c) rr, 1 field of 64 B, 1 thread, p50 round trip vs  sockperf ping-pong -m 64 (TCP)
#
# Each case runs PAIRS pairs; a pair is one copybench run and one peer run of
# DURATION seconds each, the order alternating from pair to pair so slow drift
# of the machine falls on both sides. Both sides keep the kernel's default
# socket buffers, neither pins, busy-polls nor tunes anything.
#
# Ratios:
#   stream: copybench throughput_gbps / iperf3 receiver bits_per_second
#           (higher is better; target >= 1.05). copybench counts every byte it
#           verified, its 32-byte header included, as iperf3 counts every byte
#           it wrote; the "payload" column scales copybench's side by
#           field/(field+32) for those who want to compare field bytes only.
#   rr:     copybench latency_us.p50 / (2 x sockperf's "percentile 50.000",
#           which is a half round trip)   (lower is better; target <= 1.0).
#           sockperf runs with --tcp, as copybench's rr is TCP.
#
# copybench sends from one buffer, as both peers do (--pool 1), unless POOL
# says otherwise (POOL=default keeps copybench's own pool: up to 64 messages,
# about 4 MiB, so at 64 KiB each send reads memory that left the cache, which
# costs about 5 % of throughput on this project's VM).
#
# copybench runs as a user runs it, counters on, unless COUNTERS=0 (then
# --no-counters). Its software counters cost nothing per message (they are
# read from the kernel's per-thread accounting at the ends of the run); on a
# host with a PMU its hardware counters are perf events, whose scheduler hooks
# cost a little per context switch, which the peers do not pay: COUNTERS=0
# shows how much. The run's JSON echoes the setting (options.counters).
#
# Environment: PAIRS (default 5; the table in docs/comparison.md uses 11), DURATION
# (seconds, default 5), CASES (default "stream4k stream64k rr64"), POOL
# (messages in copybench's pool, default 1; "default" for its own choice),
# IPERF_PORT (default 15201), SOCKPERF_PORT (default 15202).
#
# Exit codes: 0 done, 1 a run failed, 2 a peer is missing or a bad setting.
set -euo pipefail

PAIRS=${PAIRS:-5}
POOL=${POOL:-1}
DURATION=${DURATION:-5}
CASES=${CASES:-"stream4k stream64k rr64"}
IPERF_PORT=${IPERF_PORT:-15201}
SOCKPERF_PORT=${SOCKPERF_PORT:-15202}

die() {
    echo "compare-peers: $*" >&2
    exit 2
}

if ! [[ $PAIRS =~ ^[1-9][0-9]*$ ]]; then
    die "PAIRS=$PAIRS: must be a whole number >= 1"
fi
if ! [[ $POOL =~ ^([1-9][0-9]*|default)$ ]]; then
    die "POOL=$POOL: must be a whole number >= 1, or 'default'"
fi
if ! [[ $DURATION =~ ^[1-9][0-9]*$ ]]; then
    die "DURATION=$DURATION: must be whole seconds >= 1 (iperf3 -t takes whole seconds)"
fi
((PAIRS >= 5)) || echo "compare-peers: note: PAIRS=$PAIRS; fewer than 5 pairs say little on a noisy host (the table in docs/comparison.md uses 11)" >&2

missing=()
for tool in iperf3 sockperf python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    echo "compare-peers: missing: ${missing[*]}" >&2
    for tool in "${missing[@]}"; do
        case $tool in
        iperf3 | sockperf)
            echo "install the peers with: apt-get install iperf3 sockperf" >&2
            exit 2
            ;;
        esac
    done
    die "python3 and cargo are needed too"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "building copybench (release)..." >&2
cargo build --release --quiet --bin copybench
copybench=${CARGO_TARGET_DIR:-$root/target}/release/copybench
[[ -x $copybench ]] || die "no binary at $copybench after the build"

work=$(mktemp -d)
server_pid=
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until something listens on 127.0.0.1:$1 (the server started in the background).
wait_listening() {
    local port=$1 i
    for ((i = 0; i < 100; i++)); do
        if command -v ss >/dev/null 2>&1; then
            [[ -n $(ss -Hltn "sport = :$port") ]] && return 0
        elif ((i >= 10)); then
            return 0 # no ss: give the server a second
        fi
        kill -0 "$server_pid" 2>/dev/null || {
            echo "compare-peers: the server on port $port exited early:" >&2
            cat "$work/server.log" >&2
            exit 1
        }
        sleep 0.1
    done
    echo "compare-peers: nothing listens on port $port after 10 s" >&2
    exit 1
}

stop_server() {
    local i
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        # sockperf may sit in a blocking call for a while after SIGTERM.
        for ((i = 0; i < 20; i++)); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}

# The run_* functions set $result rather than print it: they run in this shell,
# not in a $(...) subshell, so the EXIT trap still sees the server they start.
result=

# copybench, one run; sets the figure the case compares.
run_copybench() {
    local workload=$1 size=$2 key=$3
    local options=()
    [ "${COUNTERS:-1}" = 0 ] && options+=(--no-counters)
    [ "$POOL" != default ] && options+=(--pool "$POOL")
    "$copybench" run --strategy one-copy --workload "$workload" --fields 1 \
        --field-size "$size" --threads 1 --duration "$DURATION" "${options[@]}" --json >"$work/cb.json"
    result=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = d["throughput_gbps"] if sys.argv[2] == "gbps" else d["latency_us"]["p50"]
print(f"{v:.4f}")
' "$work/cb.json" "$key")
}

# iperf3, one run with a one-off server; sets the receiver's Gbit/s.
run_iperf3() {
    local size=$1
    iperf3 -s -1 -B 127.0.0.1 -p "$IPERF_PORT" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening "$IPERF_PORT"
    iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -l "$size" -t "$DURATION" -J >"$work/iperf.json"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    result=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    sys.exit("iperf3: " + d["error"])
bps = d["end"]["sum_received"]["bits_per_second"]
print(f"{bps / 1e9:.4f}")
' "$work/iperf.json")
}

# sockperf ping-pong over TCP; sets its p50 round trip in us (2 x half round trip).
run_sockperf() {
    local size=$1
    sockperf sr --tcp -i 127.0.0.1 -p "$SOCKPERF_PORT" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening "$SOCKPERF_PORT"
    sockperf ping-pong --tcp -i 127.0.0.1 -p "$SOCKPERF_PORT" -m "$size" -t "$DURATION" >"$work/pp.log" 2>&1
    stop_server
    result=$(python3 -c '
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1]).read())
m = re.search(r"percentile 50\.000 =\s*([0-9.]+)", text)
if not m:
    sys.exit("sockperf: no percentile 50.000 line in its output:\n" + text)
print(f"{2 * float(m.group(1)):.4f}")
' "$work/pp.log")
}

run_peer() {
    if [[ $1 == iperf3 ]]; then run_iperf3 "$2"; else run_sockperf "$2"; fi
}

ratio() {
    python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.3f}")' "$1" "$2"
}

# median of the numbers given as arguments
median() {
    python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"
}

summary=()

# run_case NAME PEER SIZE: PAIRS alternating pairs, a line per pair, then the median.
run_case() {
    local name=$1 peer=$2 size=$3 workload key unit target
    if [[ $peer == iperf3 ]]; then
        workload=stream key=gbps unit="Gbit/s" target=">= 1.05"
    else
        workload=rr key=p50 unit="us p50 RTT" target="<= 1.00"
    fi
    local field_bytes
    field_bytes=$(python3 -c 'import sys; s=sys.argv[1]; print(int(s[:-1]) * 1024 if s[-1] in "kK" else int(s))' "$size")
    echo
    echo "== $name: copybench one-copy $workload 1 x $size, 1 thread  vs  $peer ($unit, ${DURATION}s each, $PAIRS pairs)"
    if [[ $workload == stream ]]; then
        printf '%-5s %-6s %12s %12s %8s %9s\n' pair first copybench "$peer" ratio payload
    else
        printf '%-5s %-6s %12s %12s %8s\n' pair first copybench "$peer" ratio
    fi
    local ratios=() payloads=() i cb pv first r p
    for ((i = 1; i <= PAIRS; i++)); do
        if ((i % 2 == 1)); then
            first=cb
            run_copybench "$workload" "$size" "$key"
            cb=$result
            run_peer "$peer" "$size"
            pv=$result
        else
            first=peer
            run_peer "$peer" "$size"
            pv=$result
            run_copybench "$workload" "$size" "$key"
            cb=$result
        fi
        r=$(ratio "$cb" "$pv")
        ratios+=("$r")
        if [[ $workload == stream ]]; then
            p=$(python3 -c 'import sys; f=int(sys.argv[3]); print(f"{float(sys.argv[1]) * f / (f + 32) / float(sys.argv[2]):.3f}")' "$cb" "$pv" "$field_bytes")
            payloads+=("$p")
            printf '%-5s %-6s %12s %12s %8s %9s\n' "$i" "$first" "$cb" "$pv" "$r" "$p"
        else
            printf '%-5s %-6s %12s %12s %8s\n' "$i" "$first" "$cb" "$pv" "$r"
        fi
    done
    local med
    med=$(median "${ratios[@]}")
    if [[ $workload == stream ]]; then
        local pmed
        pmed=$(median "${payloads[@]}")
        echo "median ratio: $med (payload only: $pmed); target $target"
        summary+=("$(printf '%-10s %-9s median %s (payload %s), target %s, pairs: %s' "$name" "$peer" "$med" "$pmed" "$target" "${ratios[*]}")")
    else
        echo "median ratio: $med; target $target"
        summary+=("$(printf '%-10s %-9s median %s, target %s, pairs: %s' "$name" "$peer" "$med" "$target" "${ratios[*]}")")
    fi
}

echo "copybench vs peers on loopback, $(uname -srm), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "copybench: one-copy, 1 field, 1 thread, pool ${POOL}, counters $([ "${COUNTERS:-1}" = 0 ] && echo off || echo on), sampled verification"
echo "iperf3: $(iperf3 --version | head -n 1); sockperf: $(sockperf --version 2>&1 | grep -m 1 -o 'version [^ ]*' || echo unknown)"
for c in $CASES; do
    case $c in
    stream4k) run_case stream4k iperf3 4K ;;
    stream64k) run_case stream64k iperf3 64K ;;
    rr64) run_case rr64 sockperf 64 ;;
    *) die "CASES: unknown case '$c' (stream4k, stream64k, rr64)" ;;
    esac
done

echo
echo "== summary (ratio = copybench / peer)"
printf '%s\n' "${summary[@]}"
