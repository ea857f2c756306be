#!/usr/bin/env bash
# scripts/soak.sh [MINUTES]
#
# Runs every strategy x workload x transport (loopback, unix, and veth when
# root; zero-copy over unix cannot run and is left out) with --full-verify,
# in rotation, for MINUTES (default 10). Each run is checked as it ends:
# exit 0, messages x message bytes = bytes verified (x2 for rr, which
# verifies the request and the reply), zero-copy completions = sends. At the
# end it prints messages and bytes verified per strategy, the errors
# (expected 0) and the peak RSS of any one run. Exit 0 with no errors, 1 with
# any, 2 on bad input. Not part of CI: it is meant to run for minutes.
#
# Environment: COPYBENCH (the binary; default: build and use target/release),
# SOAK_CELL_SECS [2] (measured seconds per run), SOAK_THREADS [1,2,4]
# (rotated), SOAK_SIZES [64,4K,64K] (rotated). veth uses its own namespaces,
# made with netns-setup.sh and removed on exit: COPYBENCH_NS_SRV
# [copybench-soak-srv], COPYBENCH_NS_CLI [copybench-soak-cli],
# COPYBENCH_VETH_SRV [cb-soak-srv], COPYBENCH_VETH_CLI [cb-soak-cli],
# COPYBENCH_ADDR_SRV [198.18.255.253], COPYBENCH_ADDR_CLI [198.18.255.254].
set -euo pipefail

PROG=soak.sh
die() {
	echo "$PROG: $*" >&2
	exit 1
}
bad() {
	echo "$PROG: $*" >&2
	exit 2
}

MINUTES=${1:-10}
[[ $# -le 1 ]] || bad "usage: scripts/soak.sh [MINUTES]"
if [[ ! $MINUTES =~ ^[0-9]+$ ]] || ((10#$MINUTES < 1 || 10#$MINUTES > 1440)); then
	bad "MINUTES='$MINUTES': must be a whole number of minutes, 1 to 1440"
fi
CELL_SECS=${SOAK_CELL_SECS:-2}
[[ $CELL_SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "SOAK_CELL_SECS='$CELL_SECS' is not a number of seconds"
IFS=, read -r -a THREADS <<<"${SOAK_THREADS:-1,2,4}"
IFS=, read -r -a SIZES <<<"${SOAK_SIZES:-64,4K,64K}"
command -v jq >/dev/null || bad "jq not found: apt-get install jq"

cd "$(dirname "$0")/.."
if [[ -z ${COPYBENCH:-} ]]; then
	cargo build --release --quiet || die "cargo build --release failed"
	COPYBENCH=target/release/copybench
fi
[[ -x $COPYBENCH ]] || bad "COPYBENCH='$COPYBENCH' is not an executable"

export COPYBENCH_NS_SRV=${COPYBENCH_NS_SRV:-copybench-soak-srv}
export COPYBENCH_NS_CLI=${COPYBENCH_NS_CLI:-copybench-soak-cli}
export COPYBENCH_VETH_SRV=${COPYBENCH_VETH_SRV:-cb-soak-srv}
export COPYBENCH_VETH_CLI=${COPYBENCH_VETH_CLI:-cb-soak-cli}
export COPYBENCH_ADDR_SRV=${COPYBENCH_ADDR_SRV:-198.18.255.253}
export COPYBENCH_ADDR_CLI=${COPYBENCH_ADDR_CLI:-198.18.255.254}

WORK=$(mktemp -d)
VETH_UP=0
cleanup() {
	if ((VETH_UP)); then ./netns-setup.sh down >/dev/null || echo "$PROG: netns-setup.sh down failed" >&2; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
STOP=0
trap 'STOP=1' INT TERM

TRANSPORTS=(loopback unix)
if [[ $EUID -eq 0 ]] && command -v ip >/dev/null; then
	./netns-setup.sh up >/dev/null || die "netns-setup.sh up failed"
	VETH_UP=1
	TRANSPORTS+=(veth)
else
	echo "$PROG: not root (or no iproute2): veth left out" >&2
fi

STRATEGIES=(two-copy one-copy zero-copy)
WORKLOADS=(rr stream)
COMBOS=()
for t in "${TRANSPORTS[@]}"; do
	for w in "${WORKLOADS[@]}"; do
		for s in "${STRATEGIES[@]}"; do
			[[ $s == zero-copy && $t == unix ]] && continue
			COMBOS+=("$s $w $t")
		done
	done
done

declare -A MSGS BYTES RUNS
for s in "${STRATEGIES[@]}"; do MSGS[$s]=0 BYTES[$s]=0 RUNS[$s]=0; done
ERRORS=0 PEAK_KB=0 PEAK_WHAT="" N=0 ZC_ENOBUFS=0 ZC_COPIED=0 ZC_SENDS=0
error() {
	ERRORS=$((ERRORS + 1))
	echo "ERROR run $N ($*)" >&2
}

END=$(($(date +%s) + 10#$MINUTES * 60))
echo "soak: ${#COMBOS[@]} combinations (${TRANSPORTS[*]}), $CELL_SECS s each, --full-verify, for $MINUTES min"
while ((STOP == 0 && $(date +%s) < END)); do
	combo=${COMBOS[N % ${#COMBOS[@]}]}
	read -r s w t <<<"$combo"
	# The sizes and thread counts rotate at their own pace, so every
	# combination meets every size and thread count in time.
	size=${SIZES[(N / ${#COMBOS[@]}) % ${#SIZES[@]}]}
	threads=${THREADS[(N / (${#COMBOS[@]} * ${#SIZES[@]})) % ${#THREADS[@]}]}
	what="$s $w $t field-size $size threads $threads"
	N=$((N + 1))
	where=()
	[[ $t == veth ]] && where=(--server-ns "$COPYBENCH_NS_SRV" --client-ns "$COPYBENCH_NS_CLI" --server-addr "$COPYBENCH_ADDR_SRV")
	rc=0
	/usr/bin/time -f %M -o "$WORK/rss" "$COPYBENCH" run --strategy "$s" --workload "$w" --transport "$t" \
		--field-size "$size" --threads "$threads" --warmup 0 --duration "$CELL_SECS" \
		"${where[@]}" --full-verify --no-counters --json >"$WORK/out.json" 2>"$WORK/err" || rc=$?
	if ((STOP)); then break; fi
	if ((rc != 0)); then
		error "$what: exit $rc: $(head -c 300 "$WORK/err")"
		continue
	fi
	rss=$(tail -n1 "$WORK/rss")
	if ((rss > PEAK_KB)); then PEAK_KB=$rss PEAK_WHAT=$what; fi
	# One line: messages bytes message_bytes zc_sends zc_completions zc_copied zc_enobufs.
	if ! read -r m b mb zs zc zcp zen < <(jq -r '[.messages, .bytes, .message_bytes,
			(.zerocopy.sends // "-"), (.zerocopy.completions // "-"),
			(.zerocopy.copied // "-"), (.zerocopy.enobufs // "-")] | @tsv' "$WORK/out.json"); then
		error "$what: output is not the expected JSON"
		continue
	fi
	per=1
	[[ $w == rr ]] && per=2
	((m > 0)) || error "$what: no message verified"
	((m * mb * per == b)) || error "$what: $m messages x $mb B x $per != $b bytes verified"
	if [[ $s == zero-copy ]]; then
		((zs == zc)) || error "$what: $zs zero-copy sends but $zc completions"
		ZC_SENDS=$((ZC_SENDS + zs)) ZC_COPIED=$((ZC_COPIED + zcp)) ZC_ENOBUFS=$((ZC_ENOBUFS + zen))
	fi
	MSGS[$s]=$((MSGS[$s] + m))
	BYTES[$s]=$((BYTES[$s] + b))
	RUNS[$s]=$((RUNS[$s] + 1))
done

echo
note=""
((STOP)) && note=" (stopped early by a signal; the run it cut short is not counted)"
echo "soak: $N runs in $MINUTES min over ${TRANSPORTS[*]}$note"
printf '%-10s %6s %16s %20s\n' strategy runs "messages verified" "bytes verified"
for s in "${STRATEGIES[@]}"; do
	printf '%-10s %6d %16d %20d\n' "$s" "${RUNS[$s]}" "${MSGS[$s]}" "${BYTES[$s]}"
done
echo "zero-copy: $ZC_SENDS sends, $ZC_COPIED copied by the kernel, $ZC_ENOBUFS ENOBUFS retries"
echo "errors: $ERRORS"
echo "peak RSS: $((PEAK_KB / 1024)) MiB ($PEAK_WHAT)"
((ERRORS == 0)) || exit 1
