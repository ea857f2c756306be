#!/usr/bin/env bash
# Runs benches/overhead.rs and prints copybench's own per-message overhead
# against a bare loop of the same syscalls, for every strategy this host can
# run (two-copy, one-copy, zero-copy, uring, uring-zc) at 64 B rr and 4 KiB
# stream, and, for the strategies with completions, at 4 KiB page layout
# and 64 KiB in both layouts, against a bare loop of the same shape and
# lifetime rule:
#
#   overhead = median over alternating pairs of (copybench / bare - 1)
#
# per message, in wall time and in CPU time (both threads), with the
# median's 95 % interval (order statistics, copybench's stats::Estimate);
# criterion's sequential medians of each side are shown beside it.
#
# Budget, per same-shape case: CPU-time overhead <= 3 %. The rule: "met"
# when the interval's upper end is <= 3 %, "OVER" when its lower end is
# above 3 %, otherwise "not decided" (the interval spans 3 %: more pairs
# or a quieter host). For the `-single` cases (copybench's page layout
# against the kernel selftest's single buffer) the throughput ratio
# 1 / (1 + wall overhead) must be >= 0.9, by the same rule.
# For the `-rx` cases (both sides receive by mapping, TCP_ZEROCOPY_RECEIVE,
# behind the named sender) the budget is on the receiver's CPU per byte
# (<= 3 %, same rule) and the two sides' mapped shares must lie within 0.05
# ("unavailable" where a side mapped nothing: behind one-copy nothing maps);
# COPYBENCH_OVERHEAD_RX_WAIT=batch|message picks how far the bare loop's
# SO_RCVLOWAT reaches (see RxWait in benches/overhead.rs, docs/receive.md).
# COPYBENCH_OVERHEAD_CASES picks cases (names as printed, comma-separated).
# Both sides of a case run on the same CPUs ("CPUs" column): rr with both
# ends on one CPU ("same"), stream with sender and receiver on two
# ("split"); COPYBENCH_OVERHEAD_PIN=split|same|none sets it for every case
# (see Placement in benches/overhead.rs for why these defaults).
# CPU time is what the harness's own work costs; wall time on a 2-core VM
# also carries where the scheduler put the two threads, which moves single
# pairs by +-10 %.
# Extra arguments go to the bench (criterion's own, e.g. --sample-size 10,
# or a filter that matches no group to skip criterion's part);
# COPYBENCH_OVERHEAD_ROUNDS sets the number of pairs (default 100), spread
# over COPYBENCH_OVERHEAD_SETUPS set-ups (default 10): each set-up makes
# both sides' connections, threads and buffers afresh, and the interval is
# taken over the set-ups' medians, because pairs of one set-up agree more
# closely than set-ups do (COPYBENCH_OVERHEAD_SETUPS=1: one set-up, every
# pair counted as independent, the method before 2026-12-07).
# COPYBENCH_OVERHEAD_NULL=1 replaces copybench with a second bare loop: a
# null comparison whose figures should hold 0, to see what the method
# calls between identical arms. Exit codes: 0 nothing shown over budget
# (null: every figure holds 0), 1 a run failed, 3 a case shown over budget
# or below its target (null: a figure that leaves out 0), so a release
# check can hold the line.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

cargo bench --bench overhead -- "$@"

python3 - "$target/criterion" <<'EOF'
import json, os, sys

base = sys.argv[1]
budget = 3.0

def criterion_median(group, fn):
    path = os.path.join(base, group, fn, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return float("nan")

try:
    with open(os.path.join(base, "overhead-paired.json")) as f:
        paired = json.load(f)
except FileNotFoundError as e:
    sys.exit(f"overhead: the bench wrote no paired result: {e.filename}")

def cell(m):
    o = m["overhead_pct"]
    return f"{m['bare_ns_per_msg']:>7.0f} / {m['copybench_ns_per_msg']:<7.0f} {o['median']:+6.2f}% [{o['lo']:+.2f}, {o['hi']:+.2f}]"

def verdict(lo, hi, limit, higher_ok):
    """met / OVER (BELOW) / not decided for an interval [lo, hi] against a limit."""
    if higher_ok:
        return "met" if lo >= limit else ("BELOW" if hi < limit else "not decided")
    return "met" if hi <= limit else ("OVER" if lo > limit else "not decided")

print()
print(f"{'case':<32} {'CPUs':<6} {'wall ns/msg bare / copybench, overhead [95 % interval]':<54} {'CPU ns/msg bare / copybench, overhead [95 % interval]':<54} {'criterion wall':<17} verdict")
over = False
counts = {}
differs = False
null = paired[0].get("null_comparison", False)
if null:
    print("NULL COMPARISON: the 'copybench' column is a second bare loop; each case's figure should hold 0")
for r in paired:
    group = "overhead-" + r["case"]
    b, c = criterion_median(group, 'bare'), criterion_median(group, 'copybench')
    seq = "not run" if b != b or c != c else f"{b:.0f} / {c:.0f}"
    if r["reference"] == "single":
        # Throughput ratio copybench / single buffer = 1 / (1 + wall overhead).
        w = r["wall"]["overhead_pct"]
        ratio, lo, hi = (1 / (1 + w[k] / 100) for k in ("median", "hi", "lo"))
        v = verdict(lo, hi, 0.9, True)
        flag = f"{v}: throughput x{ratio:.2f} [{lo:.2f}, {hi:.2f}] of the single buffer (target >= 0.9)"
        over |= v == "BELOW"
    elif r.get("receive") == "zerocopy":
        # Mapping receivers: the receiver's CPU per byte within the budget,
        # and the mapped shares within 0.05 of each other.
        c = r["rx_cpu_per_byte"]["overhead_pct"]
        v = verdict(c["lo"], c["hi"], budget, False)
        m = r["mapped_share"]
        if m["bare"] is None or m["copybench"] is None:
            share = "mapped share unavailable (a side mapped nothing)"
        else:
            gap = abs(m["copybench"] - m["bare"])
            share = f"mapped share {m['bare']:.3f} / {m['copybench']:.3f} (gap {gap:.3f}, target <= 0.05)"
            if gap > 0.05:
                v = "OVER"
        flag = f"{v}: receiver CPU/B {c['median']:+.2f}% [{c['lo']:+.2f}, {c['hi']:+.2f}] (bare waits per {r.get('bare_rx_wait', '?')}), {share}"
        over |= v == "OVER"
    else:
        c = r["cpu"]["overhead_pct"]
        v = verdict(c["lo"], c["hi"], budget, False)
        flag = v
        over |= v == "OVER"
    if null:
        # Both arms are the same bare loop: the figure the budget is judged
        # on should hold 0; one that does not is a difference the method
        # called between identical arms.
        m = r["rx_cpu_per_byte"] if r.get("receive") == "zerocopy" else r["wall" if r["reference"] == "single" else "cpu"]
        o = m["overhead_pct"]
        v = "holds 0" if o["lo"] <= 0 <= o["hi"] else "DIFFERS"
        flag = f"{v}: {o['median']:+.2f}% [{o['lo']:+.2f}, {o['hi']:+.2f}]"
        differs = differs or v == "DIFFERS"
    counts[v] = counts.get(v, 0) + 1
    print(f"{r['case']:<32} {r.get('placement', '?'):<6} {cell(r['wall']):<54} {cell(r['cpu']):<54} {seq:<17} {flag}")
setups = paired[0].get("setups", 1)
print(f"budget: CPU-time overhead <= {budget:.0f}% per message (same-shape cases), page layout >= 0.9x the single buffer's throughput; "
      f"{paired[0]['rounds']} alternating pairs per case in {setups} set-ups, the interval over set-ups; verdicts: "
      + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
sys.exit(3 if (differs if null else over) else 0)
EOF
