#!/usr/bin/env bash
# Runs benches/overhead.rs and prints copybench's own per-message overhead
# against a bare loop of the same syscalls, for 64 B rr and 4 KiB stream:
#
#   overhead = median over alternating pairs of (copybench / bare - 1)
#
# with the pairs' quartiles; criterion's sequential medians of each side are
# shown beside it. Budget: a median <= 3 % for both. Extra arguments go to the
# bench (criterion's own, e.g. --sample-size 10); COPYBENCH_OVERHEAD_ROUNDS
# sets the number of pairs (default 40). Exit codes: 0 within budget, 1 a run
# failed, 3 over budget (so CI or a release check can hold the line).
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

print()
print(f"{'case':<12} {'bare ns/msg':>12} {'copybench ns/msg':>17} {'overhead':>9}  {'(quartiles of the pairs)':<26} criterion bare / copybench")
over = False
for r in paired:
    o = r["overhead_pct"]
    group = "overhead-" + r["case"]
    seq = f"{criterion_median(group, 'bare'):.1f} / {criterion_median(group, 'copybench'):.1f}"
    flag = "" if o["median"] <= budget else "  OVER BUDGET"
    over |= o["median"] > budget
    quartiles = f"[{o['q1']:+.2f}%, {o['q3']:+.2f}%]"
    print(f"{r['case']:<12} {r['bare_ns_per_msg']:12.1f} {r['copybench_ns_per_msg']:17.1f} {o['median']:+8.2f}%  {quartiles:<26} {seq}{flag}")
print(f"budget: median <= {budget:.0f}% per message; {paired[0]['rounds']} alternating pairs per case")
sys.exit(3 if over else 0)
EOF
