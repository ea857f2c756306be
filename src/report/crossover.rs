//! Crossovers: from which field size on one strategy (the challenger) beats
//! another (the baseline), for one workload, transport and thread count.
//!
//! A crossover is the smallest tested size from which the challenger wins at
//! that size and at every larger compared size, where a win is a call by the
//! rule of [`crate::model::stats`]: disjoint 95 % intervals of the medians and an
//! effect of at least 5 %. In a paired sweep (env.json's `run.sampling`), where
//! the two strategies of a size were measured side by side round by round,
//! the call is the paired rule's instead ([`stats::compare_paired`]): the
//! median of the per-round ratios, its 95 % interval wholly beyond ±5 %.
//! A difference the rule does not call is "≈ within
//! noise", never a win. Anything else is "no crossover found in the tested
//! range", never a guess. Sizes where either
//! side has no value (a missing or failed cell) are left out of the comparison
//! and named, so a gap cannot silently turn into a win.

use std::collections::BTreeSet;

use super::cells::{CellSummary, Runs, Spread, View};
use super::format;
use crate::model::figures::{Figure, RoleFigure};
use crate::model::key::CellKey;
use crate::model::kinds::{Layout, ReceiveKind, Role, StrategyKind, TransportKind, WorkloadKind};
use crate::model::size::format_size;
use crate::model::stats::{self, Call, Comparison, PairedComparison};

/// One arm of a block as the report compares it: a send strategy behind
/// which the receivers took messages off the socket one way. Named as its
/// strategy alone with the default (copying) receiver, `one-copy`, else
/// with the receive strategy beside it, `one-copy + zerocopy rx`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arm {
    pub strategy: StrategyKind,
    pub receive: ReceiveKind,
}

impl Arm {
    pub fn of(key: &CellKey) -> Arm {
        Arm {
            strategy: key.strategy,
            receive: key.receive,
        }
    }

    /// The strategy behind the default receiver.
    pub fn send(strategy: StrategyKind) -> Arm {
        Arm {
            strategy,
            receive: ReceiveKind::default(),
        }
    }

    /// Whether it is a send strategy behind the default receiver.
    pub fn default_receive(self) -> bool {
        self.receive == ReceiveKind::default()
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.default_receive() {
            write!(f, "{}", self.strategy)
        } else {
            write!(f, "{} + {} rx", self.strategy, self.receive)
        }
    }
}

impl serde::Serialize for Arm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The study's questions, as (challenger, baseline): at each receive
/// strategy, from each strategy's [`StrategyKind::baselines`] (every
/// strategy against two-copy, then each lending strategy against its
/// copying twin); then, behind each send strategy, each receive strategy
/// against its [`ReceiveKind::baselines`] (mapping against copying).
pub fn pairs() -> Vec<(Arm, Arm)> {
    let arm = |strategy, receive| Arm { strategy, receive };
    let sends = ReceiveKind::ALL.into_iter().flat_map(move |r| {
        StrategyKind::ALL
            .into_iter()
            .flat_map(move |c| c.baselines().iter().map(move |&b| (arm(c, r), arm(b, r))))
    });
    let receives = StrategyKind::ALL.into_iter().flat_map(move |s| {
        ReceiveKind::ALL
            .into_iter()
            .flat_map(move |r| r.baselines().iter().map(move |&b| (arm(s, r), arm(s, b))))
    });
    sends.chain(receives).collect()
}

/// The metrics compared for a workload: its main figure ([`Figure::main`]),
/// then CPU cost.
pub fn metrics(workload: WorkloadKind) -> [View; 2] {
    [
        View::Of(Figure::main(workload)),
        View::Of(Figure::Role(Role::Client, RoleFigure::CpuNsPerByte)),
    ]
}

/// The metrics compared for one pair: [`metrics`]; for two receive
/// strategies behind one sender, the main figure and the receiver's CPU
/// cost (the server's: in stream it alone receives).
pub fn pair_metrics(workload: WorkloadKind, challenger: Arm, baseline: Arm) -> [View; 2] {
    if challenger.receive == baseline.receive {
        metrics(workload)
    } else {
        [
            View::Of(Figure::main(workload)),
            View::Of(Figure::Role(Role::Server, RoleFigure::CpuNsPerByte)),
        ]
    }
}

/// Which side a size goes to, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    ChallengerWins,
    BaselineWins,
    /// The rule makes no call: ≈ within noise.
    WithinSpread,
}

/// One compared size.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeVerdict {
    pub field_size_bytes: u64,
    pub challenger: Spread,
    pub baseline: Spread,
    /// challenger / baseline, with its interval and the rule's call.
    pub comparison: Comparison,
    pub verdict: Verdict,
    /// In a paired sweep, the paired rule's comparison the call comes from
    /// (`comparison` is its ratio, interval and call); `None` when the call
    /// is the unpaired rule's (an unpaired sweep, or no pairs of samples).
    pub paired: Option<PairedComparison>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The challenger wins from this size up, but not below it.
    From(u64),
    /// The challenger wins at every compared size, the smallest included.
    ChallengerEverywhere,
    /// The baseline wins at every compared size.
    BaselineEverywhere,
    /// No size from which the challenger wins through the largest one.
    NotFound,
    /// No size where both strategies have a value.
    NoData,
}

/// The answer to one question for one workload × transport × thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossover {
    pub workload: WorkloadKind,
    pub transport: TransportKind,
    pub threads: u32,
    /// The cells' `SO_RCVLOWAT` (`--rcvlowats`; `None`: not set): each
    /// value's cells are a group of their own, never compared across.
    pub rcvlowat: Option<u64>,
    pub metric: View,
    pub challenger: Arm,
    pub baseline: Arm,
    /// Smallest and largest field size tested in this group, by any strategy.
    pub tested: (u64, u64),
    /// Sizes where both sides have a value, ascending.
    pub compared: Vec<SizeVerdict>,
    /// Tested sizes left out because one side has no value there.
    pub not_compared: Vec<u64>,
    pub outcome: Outcome,
    /// Whether it comes from a paired sweep: its sizes are compared by the
    /// paired rule wherever their samples pair ([`SizeVerdict::paired`]).
    pub paired_sweep: bool,
}

impl Crossover {
    /// Whether some compared value rests on too few samples (or, paired,
    /// too few rounds) for a 95 % interval, so that no call can be made there.
    pub fn single_repetition(&self) -> bool {
        self.compared.iter().any(|v| match v.paired {
            Some(p) => p.coverage < stats::LEVEL,
            None => !v.challenger.callable() || !v.baseline.callable(),
        })
    }

    /// The fewest and the most rounds its paired sizes were compared over;
    /// `None` when no size was compared paired.
    pub fn rounds(&self) -> Option<(usize, usize)> {
        rounds_range(
            self.compared
                .iter()
                .filter_map(|v| v.paired.map(|p| p.rounds)),
        )
    }

    /// Whether the two answer the same question at different thread counts.
    pub fn same_question(&self, other: &Crossover) -> bool {
        (
            self.workload,
            self.transport,
            self.rcvlowat,
            self.metric,
            self.challenger,
            self.baseline,
        ) == (
            other.workload,
            other.transport,
            other.rcvlowat,
            other.metric,
            other.challenger,
            other.baseline,
        )
    }

    /// Report order: workload, transport, the workload's metrics in order, the
    /// study's pairs in order, thread count.
    pub fn order(&self) -> (WorkloadKind, TransportKind, Option<u64>, usize, usize, u32) {
        let position = |found: Option<usize>| found.unwrap_or(usize::MAX);
        (
            self.workload,
            self.transport,
            self.rcvlowat,
            position(
                pair_metrics(self.workload, self.challenger, self.baseline)
                    .iter()
                    .position(|&m| m == self.metric),
            ),
            position(
                pairs()
                    .iter()
                    .position(|&pair| pair == (self.challenger, self.baseline)),
            ),
            self.threads,
        )
    }

    /// The answer without saying where it applies, e.g. "one-copy beats
    /// two-copy from 4 KiB up (tested 64 B–64 KiB)".
    pub fn finding(&self) -> String {
        let (c, b) = (self.challenger, self.baseline);
        let range = format::size_range(self.tested.0, self.tested.1);
        let sizes_with = |verdict| {
            let list: Vec<u64> = self
                .compared
                .iter()
                .filter(|v| v.verdict == verdict)
                .map(|v| v.field_size_bytes)
                .collect();
            format::sizes(&list)
        };
        let mut text = match self.outcome {
            Outcome::From(size) => format!(
                "{c} beats {b} from {} up (tested {range})",
                format_size(size)
            ),
            Outcome::ChallengerEverywhere => {
                format!("{c} beats {b} at every tested size, from the smallest ({range})")
            }
            Outcome::BaselineEverywhere => {
                format!("{b} beats {c} at every tested size ({range}): no crossover")
            }
            Outcome::NotFound => {
                let mut parts = Vec::new();
                for (verdict, what) in [
                    (Verdict::ChallengerWins, format!("{c} wins at")),
                    (Verdict::BaselineWins, format!("{b} wins at")),
                    (Verdict::WithinSpread, "≈ within noise at".to_string()),
                ] {
                    let list = sizes_with(verdict);
                    if !list.is_empty() {
                        parts.push(format!("{what} {list}"));
                    }
                }
                format!(
                    "{c} vs {b}: no crossover found in the tested range ({range}); {}",
                    parts.join("; ")
                )
            }
            Outcome::NoData => {
                format!("{c} vs {b}: no size where both have a value, nothing to compare")
            }
        };
        if !self.not_compared.is_empty() && self.outcome != Outcome::NoData {
            text.push_str(&format!(
                "; not compared at {} (missing or failed cells)",
                format::sizes(&self.not_compared)
            ));
        }
        if self.single_repetition() && self.outcome != Outcome::NoData {
            text.push_str(&format!(
                "; fewer than {} {} at some sizes: no call there",
                stats::MIN_SAMPLES,
                if self.paired_sweep {
                    "rounds"
                } else {
                    "samples"
                }
            ));
        }
        text
    }

    /// [`Crossover::finding`], and in a paired sweep how many rounds its
    /// calls were paired over (findings.json's `finding`).
    pub fn finding_with_rounds(&self) -> String {
        let mut text = self.finding();
        if self.paired_sweep {
            text.push_str(&rounds_text(self.rounds()));
        }
        text
    }
}

/// The fewest and the most of some round counts; `None` when there is none.
pub fn rounds_range(rounds: impl IntoIterator<Item = usize>) -> Option<(usize, usize)> {
    rounds.into_iter().fold(None, |acc, n| match acc {
        None => Some((n, n)),
        Some((lo, hi)) => Some((lo.min(n), hi.max(n))),
    })
}

/// `; paired over 12 rounds`, `; paired over 8–40 rounds`, or, when no
/// size paired (no samples to pair), `; not paired: no samples to pair`.
pub fn rounds_text(range: Option<(usize, usize)>) -> String {
    match range {
        Some((lo, hi)) if lo == hi => format!("; paired over {lo} rounds"),
        Some((lo, hi)) => format!("; paired over {lo}–{hi} rounds"),
        None => "; not paired: no samples to pair".into(),
    }
}

/// Compares the challenger with the baseline at one size: by the paired
/// rule when `paired` (their per-round comparison) is given, else by the
/// rule for independent samples.
fn verdict(
    metric: View,
    challenger: Spread,
    baseline: Spread,
    paired: Option<PairedComparison>,
) -> (Comparison, Verdict) {
    let c = match paired {
        Some(p) => p.comparison(),
        None => stats::compare(
            &challenger.estimate(),
            &baseline.estimate(),
            metric.higher_is_better(),
        ),
    };
    let v = match c.call {
        Call::A => Verdict::ChallengerWins,
        Call::B => Verdict::BaselineWins,
        Call::Within => Verdict::WithinSpread,
    };
    (c, v)
}

fn outcome(compared: &[SizeVerdict]) -> Outcome {
    let wins_from = compared
        .iter()
        .rposition(|v| v.verdict != Verdict::ChallengerWins)
        .map_or(0, |last_non_win| last_non_win + 1);
    if compared.is_empty() {
        Outcome::NoData
    } else if wins_from == 0 {
        Outcome::ChallengerEverywhere
    } else if wins_from < compared.len() {
        Outcome::From(compared[wins_from].field_size_bytes)
    } else if compared.iter().all(|v| v.verdict == Verdict::BaselineWins) {
        Outcome::BaselineEverywhere
    } else {
        Outcome::NotFound
    }
}

/// The crossovers of unpaired cells (the tests' sweeps).
#[cfg(test)]
pub fn crossovers(cells: &[CellSummary]) -> Vec<Crossover> {
    crossovers_paired(cells, None)
}

/// Every crossover question the cells can answer: per workload × transport ×
/// thread count, per metric of the workload, per pair of strategies that were
/// both run in that group in the heap layout (even if their cells failed:
/// that is said, not hidden). Cells in another layout are compared with
/// their heap twins instead (the analysis's layout findings). Without
/// `paired`, each call is by the rule for independent samples; with it (the
/// runs of a paired sweep), two strategies at one size are compared by the
/// paired rule on their samples taken in the same rounds, wherever they
/// have such samples.
pub fn crossovers_paired(cells: &[CellSummary], paired: Option<&Runs>) -> Vec<Crossover> {
    type Group = (WorkloadKind, TransportKind, u32, Option<u64>);
    let group_of = |k: &CellKey| (k.workload, k.transport, k.threads, k.rcvlowat);
    let groups: BTreeSet<Group> = cells.iter().map(|c| group_of(&c.key)).collect();
    let mut out = Vec::new();
    for g in groups {
        let workload = g.0;
        let group: Vec<&CellSummary> = cells.iter().filter(|c| group_of(&c.key) == g).collect();
        let ran = |a: Arm| {
            group
                .iter()
                .any(|c| Arm::of(&c.key) == a && c.key.layout == Layout::Heap)
        };
        for i in 0..metrics(workload).len() {
            for (challenger, baseline) in pairs() {
                if ran(challenger) && ran(baseline) {
                    let metric = pair_metrics(workload, challenger, baseline)[i];
                    out.push(compare(&group, metric, challenger, baseline, paired));
                }
            }
        }
    }
    out
}

/// Answers one question over the cells of one group (same workload, transport
/// and thread count).
fn compare(
    group: &[&CellSummary],
    metric: View,
    challenger: Arm,
    baseline: Arm,
    runs: Option<&Runs>,
) -> Crossover {
    let sizes: BTreeSet<u64> = group.iter().map(|c| c.key.field_size).collect();
    let value = |arm: Arm, size: u64| {
        group
            .iter()
            .find(|c| {
                (Arm::of(&c.key), c.key.layout, c.key.field_size) == (arm, Layout::Heap, size)
            })
            .and_then(|c| Some((c.key, c.get(metric)?)))
    };
    let mut compared = Vec::new();
    let mut not_compared = Vec::new();
    for &size in &sizes {
        match (value(challenger, size), value(baseline, size)) {
            (Some((ck, c)), Some((bk, b))) => {
                // Arms of one block: the same cell but for the strategy
                // and the receive strategy.
                let same_block = CellKey {
                    strategy: bk.strategy,
                    receive: bk.receive,
                    ..ck
                } == bk;
                let paired = runs
                    .filter(|_| same_block)
                    .and_then(|r| r.paired(&ck, &bk, metric));
                let (comparison, verdict) = verdict(metric, c, b, paired);
                compared.push(SizeVerdict {
                    field_size_bytes: size,
                    challenger: c,
                    baseline: b,
                    comparison,
                    verdict,
                    paired,
                })
            }
            _ => not_compared.push(size),
        }
    }
    let first = &group[0].key;
    Crossover {
        workload: first.workload,
        transport: first.transport,
        threads: first.threads,
        rcvlowat: first.rcvlowat,
        metric,
        challenger,
        baseline,
        tested: (
            *sizes.first().expect("a group has a cell"),
            *sizes.last().expect("a group has a cell"),
        ),
        outcome: outcome(&compared),
        compared,
        not_compared,
        paired_sweep: runs.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::figures::Row;
    use crate::model::key::Status;
    use crate::report::cells::summarize;
    use StrategyKind::{OneCopy, TwoCopy, ZeroCopy};

    const SIZES: [u64; 6] = [64, 256, 1024, 4096, 16384, 65536];

    /// One stream row per repetition value.
    fn rows(strategy: StrategyKind, size: u64, gbps: &[f64]) -> Vec<Row> {
        gbps.iter()
            .enumerate()
            .map(|(i, &g)| Row {
                repeat: i as u32,
                strategy,
                transport: TransportKind::Loopback,
                workload: WorkloadKind::Stream,
                field_size_bytes: size,
                threads: 1,
                status: Status::Ok,
                throughput_gbps: Some(g),
                ..Row::default()
            })
            .collect()
    }

    /// Two-copy at 10 ± 1 everywhere; one-copy at the given repetitions per size.
    fn one_vs_two(one_copy: &[&[f64]]) -> Crossover {
        let mut all = Vec::new();
        for (i, &size) in SIZES.iter().enumerate() {
            all.extend(rows(TwoCopy, size, TWO));
            all.extend(rows(OneCopy, size, one_copy[i]));
        }
        throughput(&all, OneCopy, TwoCopy)
    }

    fn throughput(all: &[Row], challenger: StrategyKind, baseline: StrategyKind) -> Crossover {
        crossovers(&summarize(all))
            .into_iter()
            .find(|c| {
                c.metric == View::Of(Figure::ThroughputGbps)
                    && c.challenger == Arm::send(challenger)
                    && c.baseline == Arm::send(baseline)
            })
            .expect("the pair was run")
    }

    // Eight repetitions each, so that every interval is at 95 % (with no
    // samples.csv, the repetitions are the samples).
    const TWO: &[f64] = &[9.0, 9.5, 10.0, 10.0, 10.0, 10.2, 10.5, 11.0];
    const LOSE: &[f64] = &[5.0, 5.5, 6.0, 6.0, 6.0, 6.2, 6.5, 7.0];
    const NOISY: &[f64] = &[8.0, 11.0, 12.0, 12.0, 12.0, 12.5, 13.0, 14.0];
    const WIN: &[f64] = &[12.0, 12.5, 13.0, 13.0, 13.0, 13.2, 13.5, 14.0];

    #[test]
    fn a_mapping_receiver_is_compared_with_the_copying_one_behind_the_same_sender() {
        let mut all = Vec::new();
        for &size in &SIZES {
            for (strategy, receive, gbps) in [
                (ZeroCopy, ReceiveKind::Copy, TWO),
                (ZeroCopy, ReceiveKind::Zerocopy, LOSE),
                (OneCopy, ReceiveKind::Copy, TWO),
                (OneCopy, ReceiveKind::Zerocopy, WIN),
            ] {
                all.extend(
                    rows(strategy, size, gbps)
                        .into_iter()
                        .map(|r| Row { receive, ..r }),
                );
            }
        }
        let all = crossovers(&summarize(&all));
        let zc = |s| Arm {
            strategy: s,
            receive: ReceiveKind::Zerocopy,
        };
        let find = |a: Arm, b: Arm, metric: View| {
            all.iter()
                .find(|c| (c.challenger, c.baseline, c.metric) == (a, b, metric))
        };
        let main = View::Of(Figure::ThroughputGbps);
        let rx_cpu = View::Of(Figure::Role(Role::Server, RoleFigure::CpuNsPerByte));
        let c = find(zc(ZeroCopy), Arm::send(ZeroCopy), main).expect("receives compared");
        assert_eq!(c.outcome, Outcome::BaselineEverywhere);
        assert!(c
            .finding()
            .contains("zero-copy beats zero-copy + zerocopy rx at every tested size"));
        let c = find(zc(OneCopy), Arm::send(OneCopy), main).unwrap();
        assert_eq!(c.outcome, Outcome::ChallengerEverywhere);
        // The receiver's CPU is the second question of a receive pair.
        assert!(find(zc(OneCopy), Arm::send(OneCopy), rx_cpu).is_some());
        // Senders are compared at each receive strategy, never across them.
        assert!(find(Arm::send(ZeroCopy), Arm::send(OneCopy), main).is_some());
        assert!(find(zc(ZeroCopy), zc(OneCopy), main).is_some());
        assert!(find(zc(ZeroCopy), Arm::send(OneCopy), main).is_none());
        assert!(find(zc(OneCopy), Arm::send(ZeroCopy), main).is_none());
    }

    #[test]
    fn crossover_at_the_first_size_of_a_lasting_win() {
        let c = one_vs_two(&[LOSE, LOSE, NOISY, WIN, WIN, WIN]);
        assert_eq!(c.outcome, Outcome::From(4096));
        assert!(c
            .finding()
            .contains("one-copy beats two-copy from 4 KiB up (tested 64 B–64 KiB)"));
        assert!(!c.single_repetition());
        // Every compared size carries its ratio and interval.
        let v = &c.compared[3];
        assert!(
            v.comparison.ratio_lo <= v.comparison.ratio
                && v.comparison.ratio <= v.comparison.ratio_hi
        );
        assert!(v.comparison.ratio_lo > 1.0);
    }

    #[test]
    fn win_everywhere_and_lose_everywhere() {
        let c = one_vs_two(&[WIN; 6]);
        assert_eq!(c.outcome, Outcome::ChallengerEverywhere);
        let c = one_vs_two(&[LOSE; 6]);
        assert_eq!(c.outcome, Outcome::BaselineEverywhere);
        assert!(c
            .finding()
            .contains("two-copy beats one-copy at every tested size"));
    }

    #[test]
    fn overlapping_ranges_are_no_crossover() {
        // The medians (12) beat two-copy's (10), but the intervals overlap.
        let c = one_vs_two(&[NOISY; 6]);
        assert_eq!(c.outcome, Outcome::NotFound);
        assert!(c
            .finding()
            .contains("no crossover found in the tested range (64 B–64 KiB)"));
        assert!(c.finding().contains("≈ within noise at 64 B"));
    }

    #[test]
    fn a_win_that_flips_back_is_no_crossover() {
        let c = one_vs_two(&[LOSE, WIN, WIN, WIN, WIN, LOSE]);
        assert_eq!(c.outcome, Outcome::NotFound);
        assert!(c
            .finding()
            .contains("one-copy wins at 256 B, 1 KiB, 4 KiB, 16 KiB"));
        assert!(c.finding().contains("two-copy wins at 64 B, 64 KiB"));
    }

    #[test]
    fn missing_and_failed_cells_are_named_not_compared() {
        let mut all = Vec::new();
        for &size in &SIZES {
            all.extend(rows(TwoCopy, size, TWO));
            match size {
                // Missing at 64 B: never run.
                64 => {}
                // Failed at 16 KiB: no values.
                16384 => all.extend(rows(OneCopy, size, &[20.0]).into_iter().map(|r| Row {
                    status: Status::Failed,
                    error: "reset".into(),
                    throughput_gbps: None,
                    ..r
                })),
                256 => all.extend(rows(OneCopy, size, LOSE)),
                _ => all.extend(rows(OneCopy, size, WIN)),
            }
        }
        let c = throughput(&all, OneCopy, TwoCopy);
        assert_eq!(c.outcome, Outcome::From(1024));
        assert_eq!(c.not_compared, vec![64, 16384]);
        assert!(c.finding().contains("not compared at 64 B, 16 KiB"));
    }

    #[test]
    fn no_comparable_cell_is_no_data() {
        let mut all = rows(TwoCopy, 64, &[10.0]);
        all.extend(rows(ZeroCopy, 1024, &[10.0]));
        let c = throughput(&all, ZeroCopy, TwoCopy);
        assert_eq!(c.outcome, Outcome::NoData);
        assert_eq!(c.not_compared, vec![64, 1024]);
    }

    #[test]
    fn a_single_repetition_is_never_a_win() {
        let mut all = Vec::new();
        for &size in &SIZES {
            all.extend(rows(TwoCopy, size, &[10.0]));
            all.extend(rows(
                ZeroCopy,
                size,
                &[if size >= 16384 { 20.0 } else { 5.0 }],
            ));
        }
        let c = throughput(&all, ZeroCopy, TwoCopy);
        assert_eq!(c.outcome, Outcome::NotFound);
        assert!(c
            .compared
            .iter()
            .all(|v| v.verdict == Verdict::WithinSpread));
        assert!(c.finding().contains("fewer than 6 samples"));
    }

    #[test]
    fn lower_is_better_for_latency() {
        let p50 = |strategy: StrategyKind, size: u64, us: f64| Row {
            strategy,
            transport: TransportKind::Loopback,
            workload: WorkloadKind::Rr,
            field_size_bytes: size,
            threads: 2,
            status: Status::Ok,
            latency_p50_us: Some(us),
            ..Row::default()
        };
        let eight = |strategy: StrategyKind, size: u64, us: f64| {
            (0..8).map(move |i| Row {
                repeat: i,
                ..p50(strategy, size, us + f64::from(i) * 0.1)
            })
        };
        let all: Vec<Row> = eight(TwoCopy, 64, 10.0)
            .chain(eight(OneCopy, 64, 12.0))
            .chain(eight(TwoCopy, 4096, 30.0))
            .chain(eight(OneCopy, 4096, 20.0))
            .collect();
        let c = crossovers(&summarize(&all))
            .into_iter()
            .find(|c| c.metric == View::Of(Figure::LatencyP50Us))
            .unwrap();
        assert_eq!(c.outcome, Outcome::From(4096));
        assert!(c
            .finding()
            .starts_with("one-copy beats two-copy from 4 KiB up"));
    }
}
