#!/usr/bin/env bash
# Runs benches/overhead.rs and prints copybench's own per-message overhead
# against a bare loop of the same syscalls, for 64 B rr and 4 KiB stream:
#
#   overhead = (copybench - bare) / bare   on criterion's median time per message
#
# Budget: <= 3 % for both. Extra arguments go to the bench (criterion's own,
# e.g. --sample-size 10). Exit codes: 0 within budget, 1 a run failed,
# 3 over budget (so CI or a release check can hold the line).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

cargo bench --bench overhead -- "$@"

python3 - "$target/criterion" <<'EOF'
import json, os, sys

base = sys.argv[1]
budget = 3.0
over = False

def median_ns(group, fn):
    path = os.path.join(base, group, fn, "new", "estimates.json")
    with open(path) as f:
        e = json.load(f)
    return e["median"]["point_estimate"], e["median"]["confidence_interval"]

print()
print(f"{'case':<12} {'bare ns/msg':>12} {'copybench ns/msg':>17} {'overhead':>9}  (95% CI of the medians)")
for group, label in [("overhead-rr-64B", "rr 64 B"), ("overhead-stream-4KiB", "stream 4 KiB")]:
    try:
        bare, bci = median_ns(group, "bare")
        cb, cci = median_ns(group, "copybench")
    except FileNotFoundError as e:
        sys.exit(f"overhead: no estimates for {group}: {e.filename}")
    pct = (cb - bare) / bare * 100
    # The widest and narrowest overhead the two medians' intervals allow.
    lo = (cci["lower_bound"] - bci["upper_bound"]) / bci["upper_bound"] * 100
    hi = (cci["upper_bound"] - bci["lower_bound"]) / bci["lower_bound"] * 100
    flag = "" if pct <= budget else "  OVER BUDGET"
    over |= pct > budget
    print(f"{label:<12} {bare:12.1f} {cb:17.1f} {pct:8.2f}%  [{lo:+.2f}%, {hi:+.2f}%]{flag}")
print(f"budget: <= {budget:.0f}% per message")
sys.exit(3 if over else 0)
EOF
