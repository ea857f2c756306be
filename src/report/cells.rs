//! The samples and repetitions of one cell folded into a median, its 95 %
//! interval and the min–max range per figure.
//!
//! Everything the report draws, tabulates or analyses goes through here, so the
//! whole report agrees on one definition of each figure. The sampled figures
//! ([`crate::model::figures::SAMPLED`]) pool the samples of every repetition of the cell
//! (`samples.csv`); without samples, a single repetition's own interval (its
//! `_lo`/`_hi` columns) is used, and otherwise the repetitions themselves are
//! the samples. Other figures (cycles, the user/kernel split, the copied
//! share) are summarised over repetitions. Intervals follow
//! [`crate::model::stats::Estimate`].

use std::collections::BTreeMap;

use crate::model::figures::{with_unit, Figure, RoleFigure, Row, SampleRow, SAMPLED};
use crate::model::key::{CellKey, Status};
use crate::model::kinds::Role;
use crate::model::stats::{compare_paired, median_rank, Estimate, PairedComparison, LEVEL};

/// One figure of a cell as the report uses it, derived from the figures model
/// ([`crate::model::figures`]) by rule: a model figure as measured, the sum of a
/// per-byte role figure over client and server, or a role total per message.
/// Its machine name (findings.json, compare) and its caption come from the
/// model's table by the same rules, so a figure added there is a view here
/// with no edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum View {
    /// A figure of the model, read from its `results.csv` column.
    Of(Figure),
    /// A per-byte role figure, client plus server: `total_{name}` (the cost
    /// of moving a byte at all).
    Total(RoleFigure),
    /// A role's total ([`RoleFigure::is_total`]) per message:
    /// `{role}_{name}_per_msg`.
    PerMsg(Role, RoleFigure),
}

impl From<Figure> for View {
    fn from(f: Figure) -> View {
        View::Of(f)
    }
}

/// The figures a reader looks at first, in column order: the main figure of
/// each workload (and its rate), the tail, and the CPU cost per byte of each
/// role. The results table and `compare` both start from these.
pub(crate) const HEADLINE: [View; 6] = {
    use crate::model::figures::RoleFigure;
    [
        View::Of(Figure::ThroughputGbps),
        View::Of(Figure::MessagesPerSec),
        View::Of(Figure::LatencyP50Us),
        View::Of(Figure::LatencyP99Us),
        View::Of(Figure::Role(Role::Client, RoleFigure::CpuNsPerByte)),
        View::Of(Figure::Role(Role::Server, RoleFigure::CpuNsPerByte)),
    ]
};

impl View {
    /// Every view the report computes per cell, by rule: every model figure,
    /// the client+server total of every per-byte role figure, and every role
    /// total per message (unless the model has that figure under the same
    /// name already, as `client_cycles_per_msg`).
    pub fn all() -> Vec<View> {
        let mut out: Vec<View> = Figure::all().into_iter().map(View::Of).collect();
        let roles = RoleFigure::all();
        out.extend(
            roles
                .iter()
                .filter(|f| f.unit().ends_with("/byte"))
                .map(|&f| View::Total(f)),
        );
        for role in [Role::Client, Role::Server] {
            for &f in roles.iter().filter(|f| f.is_total()) {
                let view = View::PerMsg(role, f);
                if Figure::from_column(&view.name()).is_none() {
                    out.push(view);
                }
            }
        }
        out
    }

    /// The view of this machine name, if any.
    pub fn from_name(name: &str) -> Option<View> {
        View::all().into_iter().find(|v| v.name() == name)
    }

    /// Its machine name (findings.json, compare): a model figure's
    /// `results.csv` column, else the rule's name.
    pub fn name(self) -> String {
        match self {
            View::Of(f) => f.column().to_string(),
            View::Total(f) => format!("total_{}", f.name()),
            View::PerMsg(role, f) => format!("{role}_{}_per_msg", f.name()),
        }
    }

    /// Its unit, from the model's.
    pub fn unit(self) -> String {
        match self {
            View::Of(f) => f.unit().to_string(),
            View::Total(f) => f.unit().to_string(),
            View::PerMsg(_, f) => format!("{}/message", f.unit()),
        }
    }

    /// Human caption with unit, for axes, tables and findings
    /// ([`crate::model::figures::with_unit`]).
    pub fn label(self) -> String {
        match self {
            View::Of(f) => f.caption(),
            View::Total(f) => format!("client+server {}", with_unit(f.label(), &self.unit())),
            View::PerMsg(role, f) => format!("{role} {}", with_unit(f.label(), &self.unit())),
        }
    }

    /// Whether a larger value is the better one (for crossovers).
    pub fn higher_is_better(self) -> bool {
        matches!(self, View::Of(f) if f.higher_is_better())
    }

    /// The value of this view in one sample of `samples.csv`, for the
    /// views every sample measures; `None` for the others.
    pub fn of_sample(self, s: &SampleRow) -> Option<f64> {
        match self {
            View::Of(f) => s.get(f),
            View::Total(f) => {
                Some(s.get(Figure::Role(Role::Client, f))? + s.get(Figure::Role(Role::Server, f))?)
            }
            View::PerMsg(..) => None,
        }
    }

    /// Whether every sample measures this view.
    pub fn sampled(self) -> bool {
        let sampled = |f: Figure| SAMPLED.contains(&f);
        match self {
            View::Of(f) => sampled(f),
            View::Total(f) => {
                sampled(Figure::Role(Role::Client, f)) && sampled(Figure::Role(Role::Server, f))
            }
            View::PerMsg(..) => false,
        }
    }

    /// One repetition's own interval of this view (its `_lo`/`_hi`
    /// columns), when it has one.
    fn row_interval(self, row: &Row) -> Option<(f64, f64)> {
        match self {
            View::Of(f) => row.interval(f),
            _ => None,
        }
    }

    /// The value of this view in one repetition, if it was measured: read
    /// from the row through the figures model ([`Row::get`]).
    pub fn of(self, row: &Row) -> Option<f64> {
        let both = |f: RoleFigure| {
            Some(row.get(Figure::Role(Role::Client, f))? + row.get(Figure::Role(Role::Server, f))?)
        };
        let per_msg = |v: Option<f64>| Some(v? / row.get(Figure::Messages).filter(|&m| m > 0.0)?);
        match self {
            // A cell figure `{x}_per_msg` a row lacks (a row built by hand)
            // is both roles' `{x}` per message, as the model defines it.
            View::Of(f) => row.get(f).or_else(|| {
                let x = f.column().strip_suffix("_per_msg")?;
                let of_roles = RoleFigure::all().into_iter().find(|r| r.name() == x)?;
                per_msg(both(of_roles))
            }),
            View::Total(f) => both(f),
            View::PerMsg(role, f) => per_msg(row.get(Figure::Role(role, f))),
        }
    }
}

/// Median, 95 % interval and range of one figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    /// The median's confidence interval ([`Estimate`]).
    pub lo: f64,
    pub hi: f64,
    /// The interval's coverage (≥ 0.95 when it can take part in a call).
    pub coverage: f64,
    pub min: f64,
    pub max: f64,
    /// How many samples (or repetitions) the figure rests on.
    pub n: usize,
}

impl Spread {
    /// `None` when there is nothing to summarise (nothing measured it).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        let e = Estimate::of(v.iter().copied())?;
        let (min, max) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        Some(Spread {
            median: e.median,
            lo: e.lo,
            hi: e.hi,
            coverage: e.coverage,
            min,
            max,
            n: e.n,
        })
    }

    /// The median and interval, for [`crate::model::stats::compare`].
    pub fn estimate(&self) -> Estimate {
        Estimate {
            median: self.median,
            lo: self.lo,
            hi: self.hi,
            n: self.n,
            coverage: self.coverage,
        }
    }

    /// Whether its interval can take part in a call (coverage ≥ 95 %).
    pub fn callable(&self) -> bool {
        self.coverage >= LEVEL
    }
}

/// All repetitions of one cell, summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    pub key: CellKey,
    pub message_bytes: u64,
    /// Repetitions with status `ok`.
    pub ok: usize,
    /// The errors of the repetitions that failed, in repetition order.
    pub failures: Vec<String>,
    /// Only figures that at least one `ok` repetition measured.
    pub figures: BTreeMap<View, Spread>,
    /// Each figure's value in each `ok` repetition, in repetition order:
    /// the median of the repetition's samples, else its row's value. How
    /// far they differ is the drift `compare` allows for between sweeps.
    pub repetitions: BTreeMap<View, Vec<f64>>,
}

impl CellSummary {
    /// The figure its cell was sampled until precise: stream throughput, rr p50.
    pub fn main_figure(&self) -> View {
        View::Of(Figure::main(self.key.workload))
    }

    /// The spread of one view (or model figure), when measured.
    pub fn get(&self, view: impl Into<View>) -> Option<Spread> {
        self.figures.get(&view.into()).copied()
    }
}

/// Groups the repetitions of each cell; cells come out in [`CellKey`] order.
/// Failed repetitions count in `failures` and never in a figure.
pub fn summarize(rows: &[Row]) -> Vec<CellSummary> {
    summarize_pooled(rows, &[])
}

/// [`summarize`], with the sampled figures pooled over the `samples` of
/// every ok repetition of a cell.
pub fn summarize_pooled(rows: &[Row], samples: &[SampleRow]) -> Vec<CellSummary> {
    let mut cells: BTreeMap<CellKey, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        cells.entry(row.key()).or_default().push(row);
    }
    let mut pooled: BTreeMap<CellKey, Vec<&SampleRow>> = BTreeMap::new();
    for (row, s) in samples_with_rows(rows, samples) {
        pooled.entry(row.key()).or_default().push(s);
    }
    cells
        .into_iter()
        .map(|(key, mut reps)| {
            reps.sort_by_key(|r| r.repeat);
            let (ok, failed): (Vec<&Row>, Vec<&Row>) =
                reps.iter().partition(|r| r.status == Status::Ok);
            let ok_repeats: Vec<u32> = ok.iter().map(|r| r.repeat).collect();
            let cell_samples: Vec<&SampleRow> = pooled
                .get(&key)
                .map(|v| {
                    v.iter()
                        .filter(|s| ok_repeats.contains(&s.repeat))
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            let figures = View::all()
                .into_iter()
                .filter_map(|f| Some((f, figure_spread(f, &ok, &cell_samples)?)))
                .collect();
            let repetitions = View::all()
                .into_iter()
                .filter_map(|f| {
                    let values: Vec<f64> = ok
                        .iter()
                        .filter_map(|r| repetition_value(f, r, &cell_samples))
                        .collect();
                    (!values.is_empty()).then_some((f, values))
                })
                .collect();
            CellSummary {
                message_bytes: reps[0].message_bytes,
                ok: ok.len(),
                failures: failed.iter().map(|r| r.error.clone()).collect(),
                figures,
                repetitions,
                key,
            }
        })
        .collect()
}

/// Each sample with the results row of its run, in samples.csv order.
/// samples.csv has no layout or fields column: a sample belongs to the cell
/// of its run's row (the same cell number, repetition and settings; the
/// last such row, should a resumed sweep have reused the number). A sample
/// without one belongs to no cell and is left out.
fn samples_with_rows<'a>(
    rows: &'a [Row],
    samples: &'a [SampleRow],
) -> impl Iterator<Item = (&'a Row, &'a SampleRow)> + 'a {
    let mut runs: BTreeMap<(u32, u32), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        runs.entry((row.cell, row.repeat)).or_default().push(row);
    }
    samples.iter().filter_map(move |s| {
        let row = runs
            .get(&(s.cell, s.repeat))?
            .iter()
            .rev()
            .find(|r| s.of_run(r))?;
        Some((*row, s))
    })
}

/// Every ok run (cell and repetition) with its samples by sample index:
/// what the paired rule pairs round by round ([`Runs::paired`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runs {
    /// Per cell, per ok repetition, its samples by sample index (in a
    /// paired sweep, the round).
    runs: BTreeMap<CellKey, BTreeMap<u32, BTreeMap<u32, SampleRow>>>,
}

impl Runs {
    /// The ok rows, each with its samples (matched as
    /// [`summarize_pooled`] matches them).
    pub fn new(rows: &[Row], samples: &[SampleRow]) -> Runs {
        let mut runs: BTreeMap<CellKey, BTreeMap<u32, BTreeMap<u32, SampleRow>>> = BTreeMap::new();
        for (row, s) in samples_with_rows(rows, samples) {
            if row.status == Status::Ok {
                runs.entry(row.key())
                    .or_default()
                    .entry(row.repeat)
                    .or_default()
                    .insert(s.sample, s.clone());
            }
        }
        Runs { runs }
    }

    /// Arms `a` and `b` of one block compared by the paired rule
    /// ([`compare_paired`]) on `view`: sample *i* of a repetition of `a`
    /// paired with sample *i* of the same repetition of `b` (taken in the
    /// same round), the pairs of every repetition pooled. `None` when no
    /// repetition of both has a sample of the view (the view is not
    /// sampled, or samples.csv is missing): the pairs are unknown.
    pub fn paired(&self, a: &CellKey, b: &CellKey, view: View) -> Option<PairedComparison> {
        if !view.sampled() {
            return None;
        }
        let (a_runs, b_runs) = (self.runs.get(a)?, self.runs.get(b)?);
        let (mut av, mut bv) = (Vec::new(), Vec::new());
        for (repeat, ra) in a_runs {
            let Some(rb) = b_runs.get(repeat) else {
                continue;
            };
            for (round, sa) in ra {
                let Some(sb) = rb.get(round) else {
                    continue;
                };
                if let (Some(x), Some(y)) = (view.of_sample(sa), view.of_sample(sb)) {
                    av.push(x);
                    bv.push(y);
                }
            }
        }
        if av.is_empty() {
            return None;
        }
        Some(compare_paired(&av, &bv, view.higher_is_better()))
    }
}

/// One figure of one repetition: the median of its samples, else its
/// row's value.
fn repetition_value(f: View, row: &Row, samples: &[&SampleRow]) -> Option<f64> {
    let sampled = f
        .sampled()
        .then(|| {
            Estimate::of(
                samples
                    .iter()
                    .filter(|s| s.repeat == row.repeat)
                    .filter_map(|s| f.of_sample(s)),
            )
        })
        .flatten();
    sampled.map(|e| e.median).or_else(|| f.of(row))
}

/// One figure of one cell: pooled samples, else one repetition's own
/// interval, else the repetitions as samples.
fn figure_spread(f: View, ok: &[&Row], samples: &[&SampleRow]) -> Option<Spread> {
    if f.sampled() && !samples.is_empty() {
        if let Some(s) = Spread::of(samples.iter().filter_map(|s| f.of_sample(s))) {
            return Some(s);
        }
    }
    if let [row] = ok {
        let n = row.samples.unwrap_or(0) as usize;
        if let (Some(median), Some((lo, hi)), Some((_, coverage))) =
            (f.of(row), f.row_interval(row), median_rank(n))
        {
            return Some(Spread {
                median,
                lo,
                hi,
                coverage,
                min: lo,
                max: hi,
                n,
            });
        }
    }
    Spread::of(ok.iter().filter_map(|r| f.of(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::StrategyKind;

    #[test]
    fn spread_takes_median_and_range() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert!(!s.callable());
        assert_eq!(Spread::of([4.0, 1.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of([]), None);
    }

    #[test]
    fn failed_repetitions_are_kept_apart() {
        let ok = Row {
            status: Status::Ok,
            strategy: StrategyKind::OneCopy,
            throughput_gbps: Some(2.0),
            messages: Some(10),
            client_sys_ns: Some(100),
            ..Row::default()
        };
        let failed = Row {
            repeat: 1,
            status: Status::Failed,
            error: "connection reset".into(),
            ..ok.clone()
        };
        let cells = summarize(&[ok, failed]);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].ok, 1);
        assert_eq!(cells[0].failures, vec!["connection reset".to_string()]);
        assert_eq!(cells[0].get(Figure::ThroughputGbps).unwrap().n, 1);
        assert_eq!(
            cells[0]
                .get(View::PerMsg(Role::Client, RoleFigure::SysNs))
                .unwrap()
                .median,
            10.0
        );
        assert_eq!(cells[0].get(Figure::LatencyP50Us), None);
    }

    #[test]
    fn runs_pair_samples_of_the_same_repetition_and_round() {
        use crate::model::kinds::{TransportKind, WorkloadKind};
        let row = |cell: u32, repeat: u32, strategy: StrategyKind| Row {
            cell,
            repeat,
            strategy,
            transport: TransportKind::Loopback,
            workload: WorkloadKind::Stream,
            field_size_bytes: 64,
            threads: 1,
            status: Status::Ok,
            throughput_gbps: Some(1.0),
            ..Row::default()
        };
        let sample = |r: &Row, sample: u32, gbps: f64| SampleRow {
            throughput_gbps: Some(gbps),
            ..SampleRow::of(r, sample)
        };
        // Two arms, two repetitions; the second arm's round 3 of
        // repetition 1 is missing, and a failed repetition's samples do
        // not count.
        let rows = vec![
            row(0, 0, StrategyKind::TwoCopy),
            row(1, 0, StrategyKind::OneCopy),
            row(0, 1, StrategyKind::TwoCopy),
            row(1, 1, StrategyKind::OneCopy),
            Row {
                status: Status::Failed,
                ..row(1, 2, StrategyKind::OneCopy)
            },
            row(0, 2, StrategyKind::TwoCopy),
        ];
        let mut samples = Vec::new();
        for r in &rows {
            for i in 0..4 {
                if (r.cell, r.repeat, i) == (1, 1, 3) {
                    continue;
                }
                // Each round a level of its own: the arms' ratio is 3 in
                // repetition 0 and 2 in repetition 1, whatever the level.
                let level = f64::from(1 + i + 10 * r.repeat);
                let gbps = match (r.strategy, r.repeat) {
                    (StrategyKind::OneCopy, 0) => 3.0 * level,
                    (StrategyKind::OneCopy, _) => 2.0 * level,
                    _ => level,
                };
                samples.push(sample(r, i, gbps));
            }
        }
        let runs = Runs::new(&rows, &samples);
        let (a, b) = (rows[1].key(), rows[0].key());
        let p = runs
            .paired(&a, &b, View::Of(Figure::ThroughputGbps))
            .unwrap();
        // 4 rounds of repetition 0, 3 of repetition 1; repetition 2 has one arm.
        assert_eq!(p.rounds, 7);
        assert_eq!((p.ratio, p.ratio_lo, p.ratio_hi), (3.0, 2.0, 3.0));
        // A view the samples lack cannot be paired.
        assert_eq!(runs.paired(&a, &b, View::Of(Figure::Messages)), None);
        // Each repetition's value is the median of its own samples.
        let cells = summarize_pooled(&rows, &samples);
        let one_copy = cells.iter().find(|c| c.key == a).unwrap();
        assert_eq!(
            one_copy.repetitions[&View::Of(Figure::ThroughputGbps)],
            vec![7.5, 24.0]
        );
    }

    #[test]
    fn view_names_are_unique_and_resolve_back() {
        let all = View::all();
        let mut names = std::collections::BTreeSet::new();
        let mut labels = std::collections::BTreeSet::new();
        for &v in &all {
            assert!(names.insert(v.name()), "two views named {}", v.name());
            assert!(labels.insert(v.label()), "two views labelled {}", v.label());
            assert_eq!(View::from_name(&v.name()), Some(v), "{v:?}");
        }
        // Every model figure is a view, under its results.csv column.
        for f in Figure::all() {
            assert_eq!(View::from_name(f.column()), Some(View::Of(f)));
        }
        // The names findings.json and compare always used resolve to the
        // same figures.
        use crate::model::figures::Counter;
        for (name, view) in [
            ("throughput_gbps", View::Of(Figure::ThroughputGbps)),
            (
                "total_cpu_ns_per_byte",
                View::Total(RoleFigure::CpuNsPerByte),
            ),
            (
                "client_user_ns_per_msg",
                View::PerMsg(Role::Client, RoleFigure::UserNs),
            ),
            (
                "server_sys_ns_per_msg",
                View::PerMsg(Role::Server, RoleFigure::SysNs),
            ),
            (
                "client_cache_misses_per_msg",
                View::PerMsg(Role::Client, RoleFigure::Counter(Counter::CacheMisses)),
            ),
            ("zc_copied_share", View::Of(Figure::ZcCopiedShare)),
        ] {
            assert_eq!(View::from_name(name), Some(view), "{name}");
        }
        for (view, label) in [
            (View::Of(Figure::ThroughputGbps), "throughput (Gbit/s)"),
            (View::Of(Figure::MessagesPerSec), "messages/s"),
            (View::Of(Figure::LatencyP50Us), "latency p50 (µs)"),
            (
                View::Total(RoleFigure::CpuNsPerByte),
                "client+server CPU (ns/byte)",
            ),
            (
                View::PerMsg(Role::Client, RoleFigure::SysNs),
                "client kernel CPU (ns/msg)",
            ),
            (
                View::PerMsg(Role::Server, RoleFigure::Counter(Counter::CacheMisses)),
                "server cache misses/msg",
            ),
            (
                View::Of(Figure::ContextSwitchesPerMsg),
                "context switches/msg",
            ),
            (View::Of(Figure::ZcEnobufs), "ENOBUFS retries"),
        ] {
            assert_eq!(view.label(), label);
        }
    }
}
