#!/usr/bin/env bash
# Runs benches/overhead.rs and prints copybench's own per-message overhead
# against a bare loop of the same syscalls, for 64 B rr and 4 KiB stream
# (one-copy), and zero-copy stream at 4 KiB and 64 KiB in both layouts
# against a bare MSG_ZEROCOPY loop of the same shape and lifetime rule:
#
#   overhead = median over alternating pairs of (copybench / bare - 1)
#
# per message, in wall time and in CPU time (both threads), with the pairs'
# quartiles; criterion's sequential medians of each side are shown beside it.
# Budget: a median CPU-time overhead <= 3 % for every same-shape case; and
# for zc-stream-64KiB-single (copybench's page layout against the selftest's
# single buffer) a throughput of at least 0.9x the single buffer's, as the
# median of the pairs' wall-time ratios. COPYBENCH_OVERHEAD_CASES picks cases. CPU time is what
# the harness's own work costs; wall time on a 2-core VM also carries where
# the scheduler put the two threads, which moves single pairs by +-10 %.
# Extra arguments go to the bench (criterion's own, e.g. --sample-size 10);
# COPYBENCH_OVERHEAD_ROUNDS sets the number of pairs (default 100). Exit codes:
# 0 within budget, 1 a run failed, 3 over budget (so a release check can hold
# the line).
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
    return f"{m['bare_ns_per_msg']:>7} / {m['copybench_ns_per_msg']:<7} {o['median']:+6.2f}% [{o['q1']:+.2f}, {o['q3']:+.2f}]"

print()
print(f"{'case':<24} {'wall ns/msg bare / copybench, overhead [quartiles]':<50} {'CPU ns/msg bare / copybench, overhead [quartiles]':<50} criterion wall")
over = False
for r in paired:
    group = "overhead-" + r["case"]
    seq = f"{criterion_median(group, 'bare'):.0f} / {criterion_median(group, 'copybench'):.0f}"
    if r["case"].endswith("-single"):
        # Throughput ratio copybench / single buffer = 1 / (1 + wall overhead).
        ratio = 1 / (1 + r["wall"]["overhead_pct"]["median"] / 100)
        flag = f"  throughput x{ratio:.2f} of the single buffer" + ("" if ratio >= 0.9 else " BELOW 0.9")
        over |= ratio < 0.9
    else:
        cpu = r["cpu"]["overhead_pct"]["median"]
        flag = "" if cpu <= budget else "  OVER BUDGET"
        over |= cpu > budget
    print(f"{r['case']:<24} {cell(r['wall']):<50} {cell(r['cpu']):<50} {seq}{flag}")
print(f"budget: median CPU-time overhead <= {budget:.0f}% per message (same-shape cases); page layout >= 0.9x the single buffer's throughput; {paired[0]['rounds']} alternating pairs per case")
sys.exit(3 if over else 0)
EOF
