"""The median of a sample and its 95 % interval by copybench's rule
(src/model/stats.rs: `median_rank`, used by `Estimate::of`), for the scripts
that judge outside the binary (compare-peers.sh, overhead.sh).

The interval is [x(k), x(n+1-k)] of the sorted sample for the largest k
with P(Bin(n, 1/2) < k) <= 2.5 %: order statistics, no assumption of a
distribution. Fewer than 6 values cannot reach 95 %: the interval is then
min-max with its own (lower) coverage, and nothing may be called from it.
"""

import math


def estimate(xs):
    """(median, lo, hi, coverage, callable) of the values `xs`."""
    r = sorted(float(x) for x in xs)
    n = len(r)
    if n == 0:
        raise ValueError("no values")
    median = r[n // 2] if n % 2 else (r[n // 2 - 1] + r[n // 2]) / 2
    k, tail, coverage = None, 0.0, None
    for j in range(1, n // 2 + 1):
        tail += math.comb(n, j - 1) / 2**n
        if tail > 0.025:
            break
        k, coverage = j, 1 - 2 * tail
    if k is None:
        return median, r[0], r[-1], 1 - 2 * 0.5**n, False
    return median, r[k - 1], r[n - k], coverage, True


def verdict(lo, hi, target, higher_ok, callable_):
    """An interval [lo, hi] against a target: "met" when all of it is on
    the target's good side (>= target where higher is better, <= otherwise),
    "missed" when all of it is on the other, else "not decided", as it is
    when the interval may not be called (`callable_` false)."""
    if not callable_:
        return "not decided"
    if higher_ok:
        return "met" if lo >= target else ("missed" if hi < target else "not decided")
    return "met" if hi <= target else ("missed" if lo > target else "not decided")
