#!/usr/bin/env bash
# Compare copybench with the tools people already trust, on loopback and on
# veth between two network namespaces:
#
#   stream4k   copybench one-copy stream, 1 field of 4 KiB   vs  iperf3 -l 4K      (target >= 1.3x)
#   stream64k  copybench one-copy stream, 1 field of 64 KiB  vs  iperf3 -l 64K     (target >= 1.0x)
#   rr64       copybench one-copy rr, 1 field of 64 B, p50   vs  sockperf ping-pong --tcp -m 64 (target <= 1.0x)
#   zc64k      copybench zero-copy stream, 1 field of 64 KiB vs  iperf3 -Z -l 64K  (a reference, no target:
#              iperf3 -Z sends with sendfile(2) from a file, not with MSG_ZEROCOPY)
#
# The floor (stream4k, stream64k and rr64, unless FLOOR=0): a third arm,
# examples/floor, bare loops of plain blocking sockets that move copybench's
# bytes on the wire (its field and 32-byte header) and do nothing else: no
# framing, no checks, no counters, no clock but the figure's. rr: write and
# read 96 B, TCP_NODELAY. stream: write 4128 or 65568 B a call, read 256 KiB
# a call as copybench's reader does (without its SO_RCVLOWAT mark). Its
# server and client are two processes, placed as the peer's are. It answers
# whether a target is within reach of a program that only makes those
# syscalls on this host: the floor's ratio to the peer gets the same target
# and verdict, and copybench / floor is what copybench's own work costs (or,
# for a stream, gains: its receive mark).
#
# The rule (the report's, src/model/stats.rs): each case runs PAIRS pairs; a
# pair is one copybench run and one peer run of DURATION seconds each, the
# order alternating from pair to pair, so slow drift of the host falls on both
# sides alike. The figure is the median of the pairs' ratios with its 95 %
# order-statistic interval, [r(k), r(n+1-k)] for the largest k with
# P(Bin(n, 1/2) < k) <= 2.5 % (stats::median_rank, used by Estimate::of;
# n = 9 gives k = 2, coverage 96.1 %; fewer than 6 pairs cannot reach 95 %,
# the interval is then min-max and no verdict is given). A target is
#   met          when the whole interval is on its side,
#   missed       when the whole interval is on the other side,
#   not decided  when the interval straddles it (more pairs, or a quieter host).
#
# Ratios, copybench / peer:
#   stream: copybench throughput_gbps / iperf3's receiver bits_per_second
#           (higher is better). copybench counts every byte it verified, its
#           32-byte header included, as iperf3 counts every byte it wrote; the
#           "payload" column scales copybench's side by field/(field+32).
#   rr:     copybench latency_us.p50 / (2 x sockperf's "percentile 50.000",
#           a half round trip) (lower is better). sockperf runs with --tcp.
#
# Every side keeps the kernel's default socket buffers; neither pins,
# busy-polls nor tunes anything. copybench sends from one buffer, as both
# peers do (--pool 1), unless POOL says otherwise ("default": its own pool,
# up to 64 messages, about 4 MiB). zc64k always runs copybench's own pool:
# a zero-copy sender that stamps each message's header must wait for the
# kernel to let go of a slot before reusing it, and one slot would make every
# send wait for the previous one's completion. copybench runs as a user runs
# it, counters on, unless COUNTERS=0 (--no-counters).
#
# veth: the peers run where copybench's veth transport runs its ends, the
# server in namespace COPYBENCH_NS_SRV (copybench-srv) listening on
# COPYBENCH_ADDR_SRV (198.18.0.1), the client in COPYBENCH_NS_CLI
# (copybench-cli); copybench gets the same names (--server-ns, --client-ns,
# --server-addr). Needs root. When the namespaces are not there, the script
# makes them with ./netns-setup.sh up (which reads the same variables) and
# removes them when it ends; namespaces that were there are left alone.
#
# Congestion control: both sides keep the default of the network namespace
# they run in (net.ipv4.tcp_congestion_control) unless CONGESTION names one,
# which then becomes that default for the run: the host's for loopback (other
# programs' new connections get it meanwhile), the two namespaces' for veth;
# the old values are put back at exit. Every case and both tools then have it
# from their sockets' creation. Not `iperf3 -C`: iperf3 sets it on a
# connection already established under the default, and a connection
# established under a default that paces (bbr) stays paced, so iperf3 -C
# cubic over veth ran at 0.9-1.1 Gbit/s where a cubic default gave 8-16.
# A default that paces holds each connection to its own estimate of the
# path, which on loopback and veth sets much of a stream's speed and spread
# (docs/comparison.md). Needs root.
#
# Environment: PAIRS (default 9), DURATION (whole seconds, default 5), CASES
# (default "stream4k stream64k rr64 zc64k"), TRANSPORTS (default "loopback
# veth"), POOL (default 1), COUNTERS (default 1), CONGESTION (default: the
# host's), COPYBENCH (a copybench
# binary to use instead of building one), IPERF_PORT (default 15201),
# SOCKPERF_PORT (default 15202), and netns-setup.sh's COPYBENCH_NS_SRV,
# COPYBENCH_NS_CLI, COPYBENCH_ADDR_SRV.
#
# FLOOR (default 1; 0 leaves the floor out), FLOOR_PORT (default 15203) and
# FLOOR_BIN (an examples/floor binary to use instead of building one).
#
# A round with the floor runs the three arms in an order that goes through
# all six permutations every six rounds, so each two arms swap order as
# often as a pair's two do.
#
# Exit codes: 0 done, no target missed; 1 a run failed; 2 a bad setting or a
# missing peer (one line says which); 3 a target missed by its interval.
set -euo pipefail

PAIRS=${PAIRS:-9}
POOL=${POOL:-1}
DURATION=${DURATION:-5}
CASES=${CASES:-"stream4k stream64k rr64 zc64k"}
TRANSPORTS=${TRANSPORTS:-"loopback veth"}
COUNTERS=${COUNTERS:-1}
CONGESTION=${CONGESTION:-}
IPERF_PORT=${IPERF_PORT:-15201}
SOCKPERF_PORT=${SOCKPERF_PORT:-15202}
FLOOR=${FLOOR:-1}
FLOOR_PORT=${FLOOR_PORT:-15203}
NS_SRV=${COPYBENCH_NS_SRV:-copybench-srv}
NS_CLI=${COPYBENCH_NS_CLI:-copybench-cli}
ADDR_SRV=${COPYBENCH_ADDR_SRV:-198.18.0.1}

die() {
    echo "compare-peers: $*" >&2
    exit 2
}

[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "PAIRS=$PAIRS: must be a whole number >= 1"
[[ $POOL =~ ^([1-9][0-9]*|default)$ ]] || die "POOL=$POOL: must be a whole number >= 1, or 'default'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION=$DURATION: must be whole seconds >= 1 (iperf3 -t takes whole seconds)"
[[ $COUNTERS =~ ^[01]$ ]] || die "COUNTERS=$COUNTERS: must be 1 (on) or 0 (off)"
[[ $FLOOR =~ ^[01]$ ]] || die "FLOOR=$FLOOR: must be 1 (run the bare loops beside stream4k, stream64k and rr64) or 0"
if [[ -n $CONGESTION ]]; then
    have=$(cat /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null || true)
    [[ " $have " == *" $CONGESTION "* ]] || die "CONGESTION=$CONGESTION: not available here (this host has: ${have:-unknown})"
    [[ -w /proc/sys/net/ipv4/tcp_congestion_control ]] || die "CONGESTION=$CONGESTION: needs root (it sets net.ipv4.tcp_congestion_control for the run)"
fi
for port in "$IPERF_PORT" "$SOCKPERF_PORT" "$FLOOR_PORT"; do
    if ! [[ $port =~ ^[0-9]{4,5}$ ]] || ((port < 1024 || port > 65535)); then
        die "port $port: IPERF_PORT, SOCKPERF_PORT and FLOOR_PORT must be 1024..65535"
    fi
done
[[ -n ${CASES// /} ]] || die "CASES is empty: name some of stream4k stream64k rr64 zc64k"
for c in $CASES; do
    case $c in
    stream4k | stream64k | rr64 | zc64k) ;;
    *) die "CASES: unknown case '$c' (stream4k, stream64k, rr64, zc64k)" ;;
    esac
done
[[ -n ${TRANSPORTS// /} ]] || die "TRANSPORTS is empty: name loopback, veth or both"
want_veth=0
for t in $TRANSPORTS; do
    case $t in
    loopback) ;;
    veth) want_veth=1 ;;
    *) die "TRANSPORTS: unknown transport '$t' (loopback, veth)" ;;
    esac
done
((PAIRS >= 6)) || echo "compare-peers: note: PAIRS=$PAIRS; fewer than 6 pairs cannot reach a 95 % interval, so no target is called" >&2

missing=()
for tool in iperf3 sockperf python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
want_floor=0
if ((FLOOR)); then
    for c in $CASES; do
        [[ $c == zc64k ]] || want_floor=1
    done
fi
if [[ -z ${COPYBENCH:-} ]] || { ((want_floor)) && [[ -z ${FLOOR_BIN:-} ]]; }; then
    command -v cargo >/dev/null 2>&1 || missing+=(cargo)
fi
((want_veth == 0)) || command -v ip >/dev/null 2>&1 || missing+=(ip)
((${#missing[@]} == 0)) || die "missing: ${missing[*]} (the peers: apt-get install iperf3 sockperf; veth needs iproute2)"
if ((want_veth)) && ((EUID != 0)); then
    die "TRANSPORTS has veth, which needs root (network namespaces): run as root, or TRANSPORTS=loopback"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ -n ${COPYBENCH:-} ]]; then
    copybench=$COPYBENCH
else
    echo "building copybench (release)..." >&2
    cargo build --release --quiet --bin copybench
    copybench=${CARGO_TARGET_DIR:-$root/target}/release/copybench
fi
[[ -x $copybench ]] || die "no copybench binary at $copybench"
floor_bin=
if ((want_floor)); then
    if [[ -n ${FLOOR_BIN:-} ]]; then
        floor_bin=$FLOOR_BIN
    else
        echo "building the floor, examples/floor (release)..." >&2
        cargo build --release --quiet --example floor
        floor_bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/floor
    fi
    [[ -x $floor_bin ]] || die "no floor binary at $floor_bin (FLOOR_BIN, or FLOOR=0)"
fi

work=$(mktemp -d)
server_pid=
made_netns=0
# CONGESTION: each namespace's default as it was ("ns|value"; "" the host's).
cc_saved=()
restore_cc() {
    local e ns in
    for e in "${cc_saved[@]}"; do
        ns=${e%%|*}
        in=()
        [[ -n $ns ]] && in=(ip netns exec "$ns")
        "${in[@]}" sysctl -qw net.ipv4.tcp_congestion_control="${e#*|}" ||
            echo "compare-peers: could not put net.ipv4.tcp_congestion_control back to ${e#*|}${ns:+ in $ns}" >&2
    done
    cc_saved=()
}
# The host's net.ipv4.tcp_allowed_congestion_control before the run. Making
# CONGESTION the host's default (loopback) allows it as well (the kernel
# does), and set_cc allows it for the namespaces (veth); at exit the list
# is put back.
allowed_before=
[[ -n $CONGESTION ]] && allowed_before=$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control)
restore_allowed() {
    [[ -n $allowed_before ]] || return 0
    [[ $(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control) == "$allowed_before" ]] && return 0
    sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed_before" ||
        echo "compare-peers: could not put net.ipv4.tcp_allowed_congestion_control back to $allowed_before" >&2
}
# Makes CONGESTION the default of the namespaces given ("" the host's).
set_cc() {
    local ns in allowed
    for ns in "$@"; do
        in=()
        if [[ -n $ns ]]; then
            in=(ip netns exec "$ns")
            # A namespace other than the host's may only default to an
            # allowed congestion control (EPERM otherwise; the list is the
            # host's): allow CONGESTION for the run, as a sysctl would.
            allowed=$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control)
            if [[ " $allowed " != *" $CONGESTION "* ]]; then
                sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed $CONGESTION" || {
                    echo "compare-peers: could not add $CONGESTION to net.ipv4.tcp_allowed_congestion_control ($allowed), which the namespaces need" >&2
                    exit 1
                }
                echo "congestion control: added $CONGESTION to the host's allowed list ($allowed) for the run, for the namespaces" >&2
            fi
        fi
        cc_saved+=("$ns|$("${in[@]}" cat /proc/sys/net/ipv4/tcp_congestion_control)")
        "${in[@]}" sysctl -qw net.ipv4.tcp_congestion_control="$CONGESTION" || {
            echo "compare-peers: could not set net.ipv4.tcp_congestion_control=$CONGESTION${ns:+ in $ns}" >&2
            exit 1
        }
    done
}

cleanup() {
    stop_server
    restore_cc
    restore_allowed
    if ((made_netns)); then
        ./netns-setup.sh down >/dev/null 2>&1 || echo "compare-peers: could not remove the namespaces it made: run ./netns-setup.sh down" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Makes the veth namespaces unless they pass traffic already; removes them at
# exit only when this run made them.
veth_up() {
    ./netns-setup.sh status >/dev/null 2>&1 && return 0
    local existed=0
    [[ -e /run/netns/$NS_SRV || -e /run/netns/$NS_CLI ]] && existed=1
    ((existed)) || made_netns=1
    if ! ./netns-setup.sh up >"$work/netns.log" 2>&1; then
        echo "compare-peers: ./netns-setup.sh up failed: $(tr '\n' ' ' <"$work/netns.log")" >&2
        exit 1
    fi
}

# Per transport: where each side runs, and copybench's options for it.
srv_in=()
cli_in=()
addr=127.0.0.1
cb_transport=()
use_transport() {
    if [[ $1 == veth ]]; then
        srv_in=(ip netns exec "$NS_SRV")
        cli_in=(ip netns exec "$NS_CLI")
        addr=$ADDR_SRV
        cb_transport=(--transport veth --server-ns "$NS_SRV" --client-ns "$NS_CLI" --server-addr "$ADDR_SRV")
    else
        srv_in=()
        cli_in=()
        addr=127.0.0.1
        cb_transport=(--transport loopback)
    fi
}

# Waits until something listens on port $1 where the server runs.
wait_listening() {
    local port=$1 i
    for ((i = 0; i < 100; i++)); do
        if command -v ss >/dev/null 2>&1; then
            [[ -n $("${srv_in[@]}" ss -Hltn "sport = :$port") ]] && return 0
        elif ((i >= 10)); then
            return 0 # no ss: give the server a second
        fi
        kill -0 "$server_pid" 2>/dev/null || {
            echo "compare-peers: the server on port $port exited early: $(tr '\n' ' ' <"$work/server.log")" >&2
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

# copybench, one run: STRATEGY WORKLOAD SIZE; sets the figure the case compares.
run_copybench() {
    local strategy=$1 workload=$2 size=$3
    local options=()
    [[ $COUNTERS == 0 ]] && options+=(--no-counters)
    # zero-copy keeps its own pool (see the header).
    [[ $POOL != default && $strategy == one-copy ]] && options+=(--pool "$POOL")
    if ! "$copybench" run "${cb_transport[@]}" --strategy "$strategy" --workload "$workload" --fields 1 \
        --field-size "$size" --threads 1 --duration "$DURATION" "${options[@]}" --json >"$work/cb.json" 2>"$work/cb.err"; then
        echo "compare-peers: copybench failed: $(tr '\n' ' ' <"$work/cb.err")" >&2
        exit 1
    fi
    result=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = d["throughput_gbps"] if d["workload"] == "stream" else d["latency_us"]["p50"]
if not v:
    sys.exit("copybench measured nothing: " + sys.argv[1])
print(f"{v:.4f}")
' "$work/cb.json")
}

# iperf3, one run with a one-off server: SIZE [more client options]; sets the receiver's Gbit/s.
run_iperf3() {
    local size=$1
    shift
    "${srv_in[@]}" iperf3 -s -1 -B "$addr" -p "$IPERF_PORT" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening "$IPERF_PORT"
    "${cli_in[@]}" iperf3 -c "$addr" -p "$IPERF_PORT" -l "$size" -t "$DURATION" "$@" -J >"$work/iperf.json" || true
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

# sockperf ping-pong over TCP: SIZE; sets its p50 round trip in us (2 x half round trip).
run_sockperf() {
    local size=$1
    "${srv_in[@]}" sockperf sr --tcp -i "$addr" -p "$SOCKPERF_PORT" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening "$SOCKPERF_PORT"
    "${cli_in[@]}" sockperf ping-pong --tcp -i "$addr" -p "$SOCKPERF_PORT" -m "$size" -t "$DURATION" >"$work/pp.log" 2>&1 || true
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

# The floor, examples/floor, with a one-off server: WORKLOAD BYTES (on the
# wire); sets its p50 round trip in us (rr) or its Gbit/s (stream).
run_floor() {
    "${srv_in[@]}" "$floor_bin" serve "$1" "$2" "$addr:$FLOOR_PORT" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening "$FLOOR_PORT"
    if ! "${cli_in[@]}" "$floor_bin" connect "$1" "$2" "$addr:$FLOOR_PORT" "$DURATION" >"$work/floor.out" 2>&1; then
        echo "compare-peers: the floor failed: $(tr '\n' ' ' <"$work/floor.out")" >&2
        exit 1
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    result=$(python3 -c '
import sys
v = float(open(sys.argv[1]).read().split()[-1])
if not v > 0:
    sys.exit("the floor measured nothing: " + sys.argv[1])
print(f"{v:.4f}")
' "$work/floor.out")
}

# The median of the ratios and its interval by the report's rule, and the
# target's verdict. Arguments: TARGET DIRECTION(min|max|none) RATIO...
# Prints "median lo hi coverage verdict".
judge() {
    python3 - "$root/scripts" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from estimate import estimate, verdict  # copybench's rule
target, direction = float(sys.argv[2]), sys.argv[3]
median, lo, hi, coverage, callable_ = estimate(sys.argv[4:])
if direction == "none":
    v = "reference"
elif not callable_:
    v = "not decided (fewer than 6 pairs)"
else:
    v = verdict(lo, hi, target, direction == "min", callable_)
print(f"{median:.3f} {lo:.3f} {hi:.3f} {coverage * 100:.1f} {v}")
EOF
}

summary=()
missed=0

# run_case NAME TRANSPORT: PAIRS alternating pairs, a line per pair, then the verdict.
run_case() {
    local name=$1 transport=$2 strategy=one-copy workload=stream size peer target direction unit
    local peer_run=(run_iperf3)
    case $name in
    stream4k) size=4K target=1.3 direction=min ;;
    stream64k) size=64K target=1.0 direction=min ;;
    rr64) size=64 target=1.0 direction=max workload=rr ;;
    zc64k) size=64K target=0 direction=none strategy=zero-copy ;;
    esac
    if [[ $workload == rr ]]; then
        peer="sockperf ping-pong --tcp -m $size" unit="us p50 round trip"
        peer_run=(run_sockperf "$size")
    elif [[ $strategy == zero-copy ]]; then
        peer="iperf3 -Z -l $size (sendfile, not MSG_ZEROCOPY)" unit="Gbit/s"
        peer_run+=("$size" -Z)
    else
        peer="iperf3 -l $size" unit="Gbit/s"
        peer_run+=("$size")
    fi
    local field_bytes floor=0
    [[ $strategy == one-copy && $want_floor == 1 ]] && floor=1
    field_bytes=$(python3 -c 'import sys; s=sys.argv[1]; print(int(s[:-1]) * 1024 if s[-1] in "kK" else int(s))' "$size")
    echo
    echo "== $name on $transport: copybench $strategy $workload 1 x $size, 1 thread  vs  $peer ($unit, ${DURATION}s each, $PAIRS pairs)"
    # Arms by letter: c copybench, p the peer, f the floor. A pair alternates
    # two orders; a round with the floor goes through all six in turn.
    local orders=(cp pc)
    if ((floor)); then
        echo "   and the floor: examples/floor $workload, bare blocking sockets, $((field_bytes + 32)) B a message, two processes"
        orders=(cpf fpc pfc cfp fcp pcf)
        printf '%-5s %-6s %12s %12s %12s %8s %9s %12s %12s\n' round order copybench peer floor ratio payload floor/peer cb/floor
    else
        printf '%-5s %-6s %12s %12s %8s %9s\n' pair first copybench peer ratio payload
    fi
    local ratios=() floor_ratios=() own=() i a order arm cb pv fl r p fr o
    for ((i = 1; i <= PAIRS; i++)); do
        order=${orders[$(((i - 1) % ${#orders[@]}))]}
        for ((a = 0; a < ${#order}; a++)); do
            arm=${order:a:1}
            case $arm in
            # Not `run && x=$result`: a function run left of && ignores set -e.
            c)
                run_copybench "$strategy" "$workload" "$size"
                cb=$result
                ;;
            p)
                "${peer_run[@]}"
                pv=$result
                ;;
            f)
                run_floor "$workload" $((field_bytes + 32))
                fl=$result
                ;;
            esac
        done
        # The pair's ratio, its payload scaling, and with the floor, floor /
        # peer and copybench / floor ("-" without).
        read -r r p fr o < <(python3 -c '
import sys
cb, pv, f = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
fl = float(sys.argv[5]) if sys.argv[5] else None
print(f"{cb / pv:.3f}", f"{cb * f / (f + 32) / pv:.3f}" if sys.argv[4] == "stream" else "-",
      f"{fl / pv:.3f}" if fl else "-", f"{cb / fl:.3f}" if fl else "-")
' "$cb" "$pv" "$field_bytes" "$workload" "$( ((floor)) && echo "$fl")")
        ratios+=("$r")
        if ((floor)); then
            floor_ratios+=("$fr")
            own+=("$o")
            printf '%-5s %-6s %12s %12s %12s %8s %9s %12s %12s\n' "$i" "$order" "$cb" "$pv" "$fl" "$r" "$p" "$fr" "$o"
        else
            printf '%-5s %-6s %12s %12s %8s %9s\n' "$i" "$([[ $order == cp ]] && echo cb || echo peer)" "$cb" "$pv" "$r" "$p"
        fi
    done
    local med lo hi coverage verdict goal floor_cell=-
    read -r med lo hi coverage verdict < <(judge "$target" "$direction" "${ratios[@]}")
    case $direction in
    min) goal=">= ${target}x" ;;
    max) goal="<= ${target}x" ;;
    none) goal="none" ;;
    esac
    [[ $verdict == missed ]] && missed=1
    echo "median ratio ${med}x [$lo, $hi] (coverage ${coverage} %); target $goal: $verdict"
    if ((floor)); then
        local fmed flo fhi fverdict omed olo ohi
        read -r fmed flo fhi _ fverdict < <(judge "$target" "$direction" "${floor_ratios[@]}")
        read -r omed olo ohi _ _ < <(judge 0 none "${own[@]}")
        echo "the floor: ${fmed}x the peer [$flo, $fhi], target $goal: $fverdict; copybench / floor ${omed}x [$olo, $ohi]"
        floor_cell="${fmed}x [$flo, $fhi] $fverdict; copybench / floor ${omed}x [$olo, $ohi]"
    fi
    summary+=("$(printf '| %s | %s | %s | **%sx** [%s, %s] | %s | %s | %s | %s |' "$name" "$transport" "$peer" "$med" "$lo" "$hi" "$goal" "$verdict" "$floor_cell" "${ratios[*]}")")
}

echo "copybench vs peers, $(uname -srm), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), load: $(uptime | sed 's/.*load average: //')"
echo "$("$copybench" --version 2>/dev/null || echo copybench): 1 field, 1 thread, pool ${POOL} (zc64k: its own), counters $([[ $COUNTERS == 0 ]] && echo off || echo on), sampled verification"
host_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)
if [[ -n $CONGESTION ]]; then
    echo "congestion control: $CONGESTION, made the default of the namespaces the peers run in for this run (the host's is $host_cc)"
else
    echo "congestion control: $host_cc, the host's default"
fi
echo "iperf3: $(iperf3 --version | head -n 1); sockperf: $(sockperf --version 2>&1 | grep -m 1 -o 'version [^ ]*' || echo unknown)"
for t in $TRANSPORTS; do
    [[ $t == veth ]] && veth_up
    use_transport "$t"
    if [[ -n $CONGESTION ]]; then
        restore_cc
        if [[ $t == veth ]]; then set_cc "$NS_SRV" "$NS_CLI"; else set_cc ""; fi
    fi
    for c in $CASES; do
        run_case "$c" "$t"
    done
done

echo
echo "== summary (ratio = copybench / peer; median [95 % interval] of $PAIRS alternating pairs; load after: $(uptime | sed 's/.*load average: //'))"
echo "| case | transport | peer | ratio | target | verdict | the floor / peer | pair ratios |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
((missed == 0)) || exit 3
