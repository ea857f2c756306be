//! Central values, confidence intervals, and the rule for calling a
//! difference between two strategies.
//!
//! # The method
//!
//! A cell's measured time runs as several consecutive batches over the same
//! connections; each batch is a *sample* of every figure (throughput, latency
//! p50, CPU per byte, …). Samples of all repetitions of a cell are pooled.
//!
//! - **Central value**: the median of the samples.
//! - **Interval**: the distribution-free order-statistic confidence interval of
//!   the median at [`LEVEL`] (95 %): `[x(k), x(n+1-k)]` with the largest `k`
//!   for which `P(Bin(n, ½) < k) ≤ (1 − LEVEL)/2`. It assumes only that the
//!   samples are independent draws of one distribution — no normality, which
//!   matters for latencies and for a loaded 2-core host. Its exact coverage
//!   is `1 − 2·P(Bin(n, ½) < k)` ≥ LEVEL, and is kept beside the interval.
//!   Fewer than [`MIN_SAMPLES`] (6) samples cannot reach 95 %: the interval is
//!   then `[min, max]` with its (lower) coverage, and no call is made from it.
//!
//! # The rule for a call
//!
//! A beats B on a figure only when **both** hold:
//! 1. their intervals are disjoint, each at coverage ≥ [`LEVEL`], and
//! 2. the effect — the ratio of the medians, taken the way round that is ≥ 1 —
//!    is at least `1 +` [`MIN_EFFECT`] (5 %).
//!
//! Otherwise the comparison is "≈ within noise". The second condition keeps
//! differences too small to matter (or to reproduce across runs on a shared
//! host, where run-to-run drift exceeds the within-run intervals) out of the
//! findings. Two disjoint 95 % intervals of one distribution happen far less
//! often than 5 % of the time; the unit tests check the false-call rate of the
//! whole rule on synthetic A/A samples, and that it finds a known shift.
//!
//! The ratio's interval is `[A.lo / B.hi, A.hi / B.lo]`: it holds the true ratio
//! whenever both intervals hold their medians (coverage ≥ LEVEL² ≈ 90 %).
//!
//! # The paired rule
//!
//! Arms measured side by side in one block, round by round, are compared by
//! the per-round ratios instead ([`compare_paired`], [`PairedComparison`]):
//! the median ratio's interval must lie wholly beyond `1 +` [`MIN_EFFECT`]
//! (or below its inverse). A drift of the host that multiplies both arms of
//! a round cancels in the ratio, which the rule above, fed samples taken at
//! different times, cannot tell from a difference.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// The smallest effect called a difference: 5 % of the slower side's median.
pub const MIN_EFFECT: f64 = 0.05;

/// The fewest samples whose order-statistic interval reaches [`LEVEL`].
pub const MIN_SAMPLES: usize = 6;

/// A median and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    /// Samples it rests on.
    pub n: usize,
    /// The interval's exact coverage (≥ [`LEVEL`] when `n ≥ MIN_SAMPLES`).
    pub coverage: f64,
}

/// `ln P(Bin(n, ½) = j)` for j = 0..=n, in log space so that large n does not
/// underflow.
fn ln_pmf_half(n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    let mut ln = n as f64 * 0.5f64.ln();
    out.push(ln);
    for j in 0..n {
        ln += ((n - j) as f64).ln() - ((j + 1) as f64).ln();
        out.push(ln);
    }
    out
}

/// The 1-based rank `k` of the lower bound of the median's interval at
/// [`LEVEL`] for `n` samples, and the interval's coverage; `None` when no
/// rank reaches the level (n < 6).
pub fn median_rank(n: usize) -> Option<(usize, f64)> {
    let alpha_half = (1.0 - LEVEL) / 2.0;
    let pmf = ln_pmf_half(n);
    // tail = P(Bin < k), growing with k.
    let mut tail = 0.0;
    let mut best = None;
    for k in 1..=n / 2 {
        tail += pmf[k - 1].exp();
        if tail <= alpha_half {
            best = Some((k, 1.0 - 2.0 * tail));
        } else {
            break;
        }
    }
    best
}

impl Estimate {
    /// The median of `samples` and its interval; `None` when there is no finite
    /// sample. Non-finite samples are left out.
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Option<Estimate> {
        let mut v: Vec<f64> = samples.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mid = n / 2;
        let median = if n % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        let (lo, hi, coverage) = match median_rank(n) {
            Some((k, coverage)) => (v[k - 1], v[n - k], coverage),
            // [min, max] covers the median unless every sample falls on one side.
            None => (v[0], v[n - 1], 1.0 - 2.0 * 0.5f64.powi(n as i32)),
        };
        Some(Estimate {
            median,
            lo,
            hi,
            n,
            coverage,
        })
    }

    /// Half the interval's width relative to the median (∞ for a zero median).
    pub fn relative_half_width(&self) -> f64 {
        if self.median == 0.0 {
            return if self.hi == self.lo {
                0.0
            } else {
                f64::INFINITY
            };
        }
        (self.hi - self.lo) / 2.0 / self.median.abs()
    }

    /// Whether the interval is at full coverage and within `precision`
    /// (relative half-width, e.g. 0.02).
    pub fn within(&self, precision: f64) -> bool {
        self.n >= MIN_SAMPLES && self.relative_half_width() <= precision
    }

    /// Whether this interval can take part in a call.
    pub fn callable(&self) -> bool {
        self.coverage >= LEVEL
    }
}

/// Which side a comparison goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Call {
    /// The first side (A) is better.
    #[serde(rename = "a")]
    A,
    /// The second side (B) is better.
    #[serde(rename = "b")]
    B,
    /// Not called: within noise.
    #[serde(rename = "≈")]
    Within,
}

impl Call {
    pub fn symbol(self) -> &'static str {
        match self {
            Call::A => "a",
            Call::B => "b",
            Call::Within => "≈",
        }
    }
}

/// A compared with B by the rule: the ratio A/B of the medians with its
/// interval, and the call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub ratio: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    pub call: Call,
}

/// Applies the rule (see the module doc). `higher_is_better` says which way
/// the figure goes (throughput yes, latency and CPU cost no).
pub fn compare(a: &Estimate, b: &Estimate, higher_is_better: bool) -> Comparison {
    let div = |x: f64, y: f64| if y == 0.0 { f64::NAN } else { x / y };
    let ratio = div(a.median, b.median);
    let (ratio_lo, ratio_hi) = (div(a.lo, b.hi), div(a.hi, b.lo));
    let disjoint_a_above = a.lo > b.hi;
    let disjoint_a_below = a.hi < b.lo;
    let effect = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
    let big_enough = effect.is_finite() && effect >= 1.0 + MIN_EFFECT;
    let call = if !(a.callable() && b.callable() && big_enough) {
        Call::Within
    } else if disjoint_a_above {
        if higher_is_better {
            Call::A
        } else {
            Call::B
        }
    } else if disjoint_a_below {
        if higher_is_better {
            Call::B
        } else {
            Call::A
        }
    } else {
        Call::Within
    };
    Comparison {
        ratio,
        ratio_lo,
        ratio_hi,
        call,
    }
}

/// A latency histogram: 1 ns to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static histogram bounds are valid")
}

/// Latency histograms on the wire: `[[value, count], ...]` over the recorded
/// buckets, read back into a histogram with the same bounds.
pub mod latency_serde {
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<Histogram<u64>>, s: S) -> Result<S::Ok, S::Error> {
        h.as_ref()
            .map(|h| {
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect::<Vec<_>>()
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Histogram<u64>>, D::Error> {
        let Some(buckets) = Option::<Vec<(u64, u64)>>::deserialize(d)? else {
            return Ok(None);
        };
        let mut h = super::new_histogram();
        for (value, count) in buckets {
            h.record_n(value, count).map_err(serde::de::Error::custom)?;
        }
        Ok(Some(h))
    }
}

// ---------------------------------------------------------------------------
// Paired comparisons: the arms of a block, measured round by round.

/// Two arms compared round by round (the sweep's blocks, the sweep's blocks):
/// the median of the per-round ratios A/B with its 95 % interval, the call,
/// and whether the comparison is decided.
///
/// # The paired rule
///
/// In a block every arm gives one sample per round, the arms in a fresh
/// order each round, so round *i* of A and round *i* of B ran under the same
/// conditions (load, CPU placement, the host's drift). Their ratio
/// `a_i / b_i` cancels whatever multiplies both; the rounds' ratios are
/// then independent draws around the true ratio, and [`Estimate::of`] gives
/// their median and its distribution-free interval.
///
/// - A round counts only when both values are finite and above zero (a zero
///   figure means the sample measured nothing; a ratio through it is no
///   figure at all). Fewer than [`MIN_SAMPLES`] such rounds: never a call.
/// - **Call**: the whole interval beyond `1 +` [`MIN_EFFECT`] (A's figure
///   at least 5 % above B's in every plausible case) or below `1 / (1 +
///   MIN_EFFECT)`; which side that favours follows `higher_is_better`.
///   Anything else is ≈.
/// - **Decided**, for adaptive stopping: called, or *equivalent* (the whole
///   interval strictly inside `[1/1.05, 1.05]`: whatever the truth, it is
///   within the band). An interval that straddles a band edge is undecided:
///   more rounds may settle it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedComparison {
    /// Median of the per-round ratios A/B (NaN when no round counts).
    pub ratio: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    /// Rounds that counted (both values finite and above zero).
    pub rounds: usize,
    /// The interval's exact coverage (≥ [`LEVEL`] from [`MIN_SAMPLES`] rounds on).
    pub coverage: f64,
    pub call: Call,
    /// Called, or the interval lies inside the ±5 % band.
    pub decided: bool,
}

impl PairedComparison {
    /// The same as a [`Comparison`] (ratio, interval, call), for code that
    /// shows either kind.
    pub fn comparison(&self) -> Comparison {
        Comparison {
            ratio: self.ratio,
            ratio_lo: self.ratio_lo,
            ratio_hi: self.ratio_hi,
            call: self.call,
        }
    }

    /// Whether the interval lies strictly inside `[1/(1+MIN_EFFECT), 1+MIN_EFFECT]`
    /// at full coverage: the two are equivalent within the band.
    pub fn equivalent(&self) -> bool {
        let band = 1.0 + MIN_EFFECT;
        self.coverage >= LEVEL && self.ratio_lo > 1.0 / band && self.ratio_hi < band
    }
}

/// The per-round ratios `a[i] / b[i]` of the rounds where both values are
/// finite and above zero; a round missing on either side (the shorter slice)
/// is left out.
pub fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x > 0.0 && **y > 0.0)
        .map(|(x, y)| x / y)
        .collect()
}

/// Applies the paired rule ([`PairedComparison`]) to the per-round values
/// of two arms of one block, `a[i]` and `b[i]` from round `i`.
/// `higher_is_better` says which way the figure goes.
pub fn compare_paired(a: &[f64], b: &[f64], higher_is_better: bool) -> PairedComparison {
    let ratios = paired_ratios(a, b);
    let Some(e) = Estimate::of(ratios) else {
        return PairedComparison {
            ratio: f64::NAN,
            ratio_lo: f64::NAN,
            ratio_hi: f64::NAN,
            rounds: 0,
            coverage: 0.0,
            call: Call::Within,
            decided: false,
        };
    };
    let band = 1.0 + MIN_EFFECT;
    let (a_wins, b_wins) = if higher_is_better {
        (Call::A, Call::B)
    } else {
        (Call::B, Call::A)
    };
    let call = if !e.callable() {
        Call::Within
    } else if e.lo >= band {
        a_wins
    } else if e.hi <= 1.0 / band {
        b_wins
    } else {
        Call::Within
    };
    let mut out = PairedComparison {
        ratio: e.median,
        ratio_lo: e.lo,
        ratio_hi: e.hi,
        rounds: e.n,
        coverage: e.coverage,
        call,
        decided: false,
    };
    out.decided = call != Call::Within || out.equivalent();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded, so every run draws the same samples: these tests cannot flake.
    fn rng(seed: u64) -> oorandom::Rand64 {
        oorandom::Rand64::new(u128::from(seed))
    }

    /// A standard normal draw (Box–Muller).
    fn normal(r: &mut oorandom::Rand64) -> f64 {
        let u1 = r.rand_float().max(f64::MIN_POSITIVE);
        let u2 = r.rand_float();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `n` samples around `center`: log-normal with relative spread `sigma`,
    /// plus, when `outliers`, one in ten samples 30 % slower (a scheduler
    /// hiccup on a shared host).
    fn draw(
        r: &mut oorandom::Rand64,
        n: usize,
        center: f64,
        sigma: f64,
        outliers: bool,
    ) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let x = center * (sigma * normal(r)).exp();
                if outliers && r.rand_float() < 0.1 {
                    x * 1.3
                } else {
                    x
                }
            })
            .collect()
    }

    #[test]
    fn ranks_match_the_binomial_tables() {
        // Conover's table of the median's 95 % interval: n=6 → (1,6),
        // n=10 → (2,9), n=20 → (6,15), n=30 → (10,21).
        assert_eq!(median_rank(5), None);
        for (n, k) in [(6, 1), (10, 2), (20, 6), (30, 10), (100, 40)] {
            let (rank, coverage) = median_rank(n).unwrap();
            assert_eq!(rank, k, "n={n}");
            assert!((LEVEL..1.0).contains(&coverage), "n={n}: {coverage}");
        }
        // Large n does not underflow.
        let (k, _) = median_rank(5000).unwrap();
        assert!((2400..2500).contains(&k), "{k}");
    }

    #[test]
    fn estimate_takes_the_median_and_order_statistics() {
        let e = Estimate::of((1..=10).map(f64::from)).unwrap();
        assert_eq!((e.median, e.lo, e.hi, e.n), (5.5, 2.0, 9.0, 10));
        assert!(e.callable());
        let few = Estimate::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((few.median, few.lo, few.hi), (2.0, 1.0, 3.0));
        assert!((few.coverage - 0.75).abs() < 1e-12);
        assert!(!few.callable());
        assert_eq!(Estimate::of([f64::NAN]), None);
        assert!((e.relative_half_width() - 3.5 / 5.5).abs() < 1e-12);
    }

    #[test]
    fn interval_covers_the_true_median_at_the_stated_level() {
        let mut r = rng(1);
        let trials = 4000;
        let mut missed = 0;
        for _ in 0..trials {
            let e = Estimate::of(draw(&mut r, 12, 100.0, 0.05, false)).unwrap();
            if !(e.lo <= 100.0 && 100.0 <= e.hi) {
                missed += 1;
            }
        }
        let rate = missed as f64 / trials as f64;
        assert!(rate <= 1.0 - LEVEL, "interval missed the median in {rate}");
    }

    /// A/A: both sides from one distribution; any call is a false call.
    fn false_call_rate(seed: u64, n: usize, sigma: f64, outliers: bool) -> f64 {
        let mut r = rng(seed);
        let trials = 5000;
        let mut calls = 0;
        for _ in 0..trials {
            let a = Estimate::of(draw(&mut r, n, 10.0, sigma, outliers)).unwrap();
            let b = Estimate::of(draw(&mut r, n, 10.0, sigma, outliers)).unwrap();
            if compare(&a, &b, true).call != Call::Within {
                calls += 1;
            }
        }
        calls as f64 / trials as f64
    }

    #[test]
    fn a_a_false_calls_stay_below_the_level() {
        for (seed, n, sigma, outliers) in [
            (2, 6, 0.05, false),
            (3, 8, 0.10, false),
            (4, 12, 0.20, true),
            (5, 30, 0.15, true),
        ] {
            let rate = false_call_rate(seed, n, sigma, outliers);
            // Shown with `cargo test stats -- --nocapture`: the level is a bound, not the rate.
            eprintln!("A/A n={n} noise={sigma} outliers={outliers}: false calls {rate}");
            assert!(
                rate <= 1.0 - LEVEL,
                "n={n} sigma={sigma}: false calls {rate}"
            );
        }
    }

    #[test]
    fn without_the_minimum_effect_noise_would_be_called() {
        // The disjoint-interval test alone, with precise samples, calls a 1 %
        // difference; the rule does not.
        let a = Estimate::of((0..20).map(|i| 101.0 + f64::from(i) * 0.01)).unwrap();
        let b = Estimate::of((0..20).map(|i| 100.0 + f64::from(i) * 0.01)).unwrap();
        assert!(a.lo > b.hi);
        assert_eq!(compare(&a, &b, true).call, Call::Within);
    }

    #[test]
    fn a_known_shift_is_found() {
        let mut r = rng(6);
        let trials = 2000;
        let mut found = 0;
        for _ in 0..trials {
            // A is 12 % faster, 3 % noise, 12 samples each.
            let a = Estimate::of(draw(&mut r, 12, 11.2, 0.03, false)).unwrap();
            let b = Estimate::of(draw(&mut r, 12, 10.0, 0.03, false)).unwrap();
            let c = compare(&a, &b, true);
            assert_ne!(c.call, Call::B, "a wrong-way call");
            if c.call == Call::A {
                found += 1;
            }
        }
        let power = found as f64 / trials as f64;
        eprintln!("a 12 % shift, 3 % noise, 12 samples: found in {power}");
        assert!(power >= 0.95, "found the shift in only {power}");
    }

    #[test]
    fn direction_follows_the_figure() {
        let fast = Estimate::of((0..10).map(|i| 20.0 + f64::from(i) * 0.1)).unwrap();
        let slow = Estimate::of((0..10).map(|i| 10.0 + f64::from(i) * 0.1)).unwrap();
        // Throughput: higher wins.
        assert_eq!(compare(&fast, &slow, true).call, Call::A);
        assert_eq!(compare(&slow, &fast, true).call, Call::B);
        // Latency: lower wins.
        assert_eq!(compare(&fast, &slow, false).call, Call::B);
        let c = compare(&slow, &fast, false);
        assert_eq!(c.call, Call::A);
        assert!(c.ratio_lo <= c.ratio && c.ratio <= c.ratio_hi);
        assert!(c.ratio < 1.0);
    }

    #[test]
    fn too_few_samples_are_never_called() {
        let a = Estimate::of([20.0, 21.0, 22.0]).unwrap();
        let b = Estimate::of([10.0, 11.0, 12.0]).unwrap();
        assert_eq!(compare(&a, &b, true).call, Call::Within);
    }

    /// One block of `rounds` rounds of an A/A (`shift` 1.0) or shifted pair
    /// on a drifting host: per round a common factor (a random walk in log
    /// space, step `drift`) multiplies both arms, each arm adds its own
    /// noise `sigma`. Returns A's and B's values, round by round.
    fn drifting_block(
        r: &mut oorandom::Rand64,
        rounds: usize,
        shift: f64,
        drift: f64,
        sigma: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut level = 0.0;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            level += drift * normal(r);
            let common = 10.0 * level.exp();
            a.push(common * shift * (sigma * normal(r)).exp());
            b.push(common * (sigma * normal(r)).exp());
        }
        (a, b)
    }

    #[test]
    fn paired_a_a_false_calls_stay_below_the_level_under_drift() {
        for (seed, rounds, drift, sigma) in [
            (11, 6, 0.10, 0.05),
            (12, 10, 0.10, 0.05),
            (13, 20, 0.20, 0.10),
            (14, 30, 0.05, 0.03),
        ] {
            let mut r = rng(seed);
            let trials = 5000;
            let mut calls = 0;
            for _ in 0..trials {
                let (a, b) = drifting_block(&mut r, rounds, 1.0, drift, sigma);
                let c = compare_paired(&a, &b, true);
                assert_eq!(c.rounds, rounds);
                assert!(c.ratio_lo <= c.ratio && c.ratio <= c.ratio_hi);
                if c.call != Call::Within {
                    calls += 1;
                }
            }
            let rate = calls as f64 / trials as f64;
            eprintln!("paired A/A rounds={rounds} drift={drift} noise={sigma}: false calls {rate}");
            assert!(rate <= 1.0 - LEVEL, "rounds={rounds}: false calls {rate}");
        }
    }

    #[test]
    fn drift_between_arms_fools_the_unpaired_rule_but_not_the_paired_one() {
        // The old way: A's samples, then B's, on a host that drifts. The
        // unpaired rule sees the drift as a difference; the same arms
        // interleaved round by round, compared paired, do not.
        let mut r = rng(15);
        let (trials, n) = (2000, 12);
        let (mut unpaired, mut paired) = (0, 0);
        for _ in 0..trials {
            let (a, b) = drifting_block(&mut r, 2 * n, 1.0, 0.05, 0.03);
            // One after the other: A in rounds 0..n, B in rounds n..2n.
            let (first, second) = (&a[..n], &b[n..]);
            let c = compare(
                &Estimate::of(first.iter().copied()).unwrap(),
                &Estimate::of(second.iter().copied()).unwrap(),
                true,
            );
            if c.call != Call::Within {
                unpaired += 1;
            }
            if compare_paired(&a[..n], &b[..n], true).call != Call::Within {
                paired += 1;
            }
        }
        let (unpaired, paired) = (
            unpaired as f64 / trials as f64,
            paired as f64 / trials as f64,
        );
        eprintln!("A/A on a drifting host: unpaired, one arm after the other, false calls {unpaired}; paired {paired}");
        assert!(unpaired > 0.2, "unpaired false calls {unpaired}");
        assert!(paired <= 1.0 - LEVEL, "paired false calls {paired}");
    }

    #[test]
    fn a_known_shift_is_found_paired_through_drift() {
        // A is 10 % faster; the host drifts by 10 % a round, which swamps
        // the shift for the unpaired rule (on the same samples).
        let mut r = rng(16);
        let trials = 2000;
        let (mut found, mut found_unpaired) = (0, 0);
        for _ in 0..trials {
            let (a, b) = drifting_block(&mut r, 12, 1.10, 0.10, 0.02);
            let c = compare_paired(&a, &b, true);
            assert_ne!(c.call, Call::B, "a wrong-way call");
            if c.call == Call::A {
                assert!(c.decided);
                found += 1;
            }
            let u = compare(
                &Estimate::of(a.iter().copied()).unwrap(),
                &Estimate::of(b.iter().copied()).unwrap(),
                true,
            );
            if u.call == Call::A {
                found_unpaired += 1;
            }
        }
        let power = found as f64 / trials as f64;
        let unpaired = found_unpaired as f64 / trials as f64;
        eprintln!("a 10 % shift, 10 % drift a round, 2 % noise, 12 rounds: paired found it in {power}, unpaired in {unpaired}");
        assert!(power >= 0.95, "found the shift in only {power}");
        assert!(unpaired < 0.5, "unpaired found it in {unpaired}");
    }

    #[test]
    fn adaptive_stopping_keeps_a_a_false_calls_below_the_level() {
        // Look after every round from 6 to 40 and stop once decided, as a
        // block does: the repeated looks must not add up to false calls.
        for (seed, sigma) in [(17, 0.02), (18, 0.05), (19, 0.15)] {
            let mut r = rng(seed);
            let trials = 2000;
            let (mut calls, mut decided) = (0, 0);
            for _ in 0..trials {
                let (a, b) = drifting_block(&mut r, 40, 1.0, 0.1, sigma);
                let stop = (MIN_SAMPLES..=40)
                    .map(|n| compare_paired(&a[..n], &b[..n], false))
                    .find(|c| c.decided);
                if let Some(c) = stop {
                    decided += 1;
                    if c.call != Call::Within {
                        calls += 1;
                    }
                }
            }
            let rate = calls as f64 / trials as f64;
            eprintln!(
                "adaptive A/A noise={sigma}: false calls {rate}, decided {}",
                decided as f64 / trials as f64
            );
            assert!(rate <= 1.0 - LEVEL, "noise={sigma}: false calls {rate}");
        }
    }

    #[test]
    fn paired_direction_equivalence_and_edge_cases() {
        let b: Vec<f64> = (0..8).map(|i| 10.0 + f64::from(i)).collect();
        let a: Vec<f64> = b.iter().map(|x| x * 1.2).collect();
        // Throughput: A 20 % higher wins; latency: it loses.
        let c = compare_paired(&a, &b, true);
        assert_eq!((c.call, c.rounds, c.decided), (Call::A, 8, true));
        assert!((c.ratio - 1.2).abs() < 1e-12);
        assert_eq!(compare_paired(&a, &b, false).call, Call::B);
        assert_eq!(compare_paired(&b, &a, false).call, Call::A);
        assert_eq!(compare_paired(&b, &a, true).call, Call::B);
        // Equal within 1 %: decided as equivalent, not called.
        let near: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + 0.001 * i as f64))
            .collect();
        let c = compare_paired(&near, &b, true);
        assert_eq!(c.call, Call::Within);
        assert!(c.equivalent() && c.decided);
        // Straddling the band's edge: undecided.
        let edge: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + 0.02 * i as f64))
            .collect();
        let c = compare_paired(&edge, &b, true);
        assert_eq!((c.call, c.decided), (Call::Within, false));
        // Fewer than 6 rounds: never called, never decided.
        let c = compare_paired(&a[..5], &b[..5], true);
        assert_eq!((c.call, c.decided, c.rounds), (Call::Within, false, 5));
        // Rounds with a zero or a NaN on either side do not count.
        let mut a0 = a.clone();
        a0[0] = 0.0;
        a0[1] = f64::NAN;
        let mut b0 = b.clone();
        b0[2] = 0.0;
        b0[3] = f64::INFINITY;
        let c = compare_paired(&a0, &b0, true);
        assert_eq!((c.rounds, c.call, c.decided), (4, Call::Within, false));
        assert!((c.ratio - 1.2).abs() < 1e-12);
        assert_eq!(paired_ratios(&[0.0, 0.0], &[0.0, 1.0]), Vec::<f64>::new());
        // Nothing at all: NaN, no call.
        let c = compare_paired(&[0.0; 8], &[0.0; 8], true);
        assert!(c.ratio.is_nan());
        assert_eq!((c.rounds, c.call, c.decided), (0, Call::Within, false));
        // Unequal lengths: the rounds both have.
        assert_eq!(compare_paired(&a, &b[..7], true).rounds, 7);
        assert_eq!(compare_paired(&a, &b, true).comparison().call, Call::A);
    }
}
