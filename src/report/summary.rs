//! The samples and repetitions of one cell folded into a median, its 95 %
//! interval and the min–max range per figure.
//!
//! Everything the report draws, tabulates or analyses goes through here, so the
//! whole report agrees on one definition of each figure. The sampled figures
//! ([`crate::figures::SAMPLED`]) pool the samples of every repetition of the cell
//! (`samples.csv`); without samples, a single repetition's own interval (its
//! `_lo`/`_hi` columns) is used, and otherwise the repetitions themselves are
//! the samples. Other figures (cycles, the user/kernel split, the copied
//! share) are summarised over repetitions. Intervals follow
//! [`crate::stats::Estimate`].

use std::collections::BTreeMap;

use crate::cell::SampleRow;
use crate::error::Role;
use crate::figures::Row;
use crate::stats::{median_rank, Estimate, LEVEL};
use crate::strategy::StrategyKind;

/// One figure of a cell, as the report uses it. Some are columns of
/// `results.csv`; the others are derived from columns of the same row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    ThroughputGbps,
    MessagesPerSec,
    LatencyP50Us,
    LatencyP99Us,
    LatencyP999Us,
    ClientCpuNsPerByte,
    ServerCpuNsPerByte,
    /// Client plus server CPU time per byte: the cost of moving a byte at all.
    TotalCpuNsPerByte,
    ClientCyclesPerByte,
    ServerCyclesPerByte,
    ClientUserNsPerMsg,
    ClientSysNsPerMsg,
    ServerUserNsPerMsg,
    ServerSysNsPerMsg,
    ClientCacheMissesPerMsg,
    ServerCacheMissesPerMsg,
    /// Client plus server context switches per message.
    ContextSwitchesPerMsg,
    ZcCopiedShare,
    ZcFragmentsPerSend,
    ZcDelayP50Us,
    ZcDelayP99Us,
    ZcSendsPerNotification,
    ZcMaxInFlight,
    ZcReclaimWaits,
    ZcReclaimWaitMs,
    ZcEnobufs,
}

impl Figure {
    pub const ALL: [Figure; 26] = [
        Figure::ThroughputGbps,
        Figure::MessagesPerSec,
        Figure::LatencyP50Us,
        Figure::LatencyP99Us,
        Figure::LatencyP999Us,
        Figure::ClientCpuNsPerByte,
        Figure::ServerCpuNsPerByte,
        Figure::TotalCpuNsPerByte,
        Figure::ClientCyclesPerByte,
        Figure::ServerCyclesPerByte,
        Figure::ClientUserNsPerMsg,
        Figure::ClientSysNsPerMsg,
        Figure::ServerUserNsPerMsg,
        Figure::ServerSysNsPerMsg,
        Figure::ClientCacheMissesPerMsg,
        Figure::ServerCacheMissesPerMsg,
        Figure::ContextSwitchesPerMsg,
        Figure::ZcCopiedShare,
        Figure::ZcFragmentsPerSend,
        Figure::ZcDelayP50Us,
        Figure::ZcDelayP99Us,
        Figure::ZcSendsPerNotification,
        Figure::ZcMaxInFlight,
        Figure::ZcReclaimWaits,
        Figure::ZcReclaimWaitMs,
        Figure::ZcEnobufs,
    ];

    /// Human name with unit, for axes, tables and findings.
    pub fn label(self) -> &'static str {
        match self {
            Figure::ThroughputGbps => "throughput (Gbit/s)",
            Figure::MessagesPerSec => "messages/s",
            Figure::LatencyP50Us => "latency p50 (µs)",
            Figure::LatencyP99Us => "latency p99 (µs)",
            Figure::LatencyP999Us => "latency p99.9 (µs)",
            Figure::ClientCpuNsPerByte => "client CPU (ns/byte)",
            Figure::ServerCpuNsPerByte => "server CPU (ns/byte)",
            Figure::TotalCpuNsPerByte => "client+server CPU (ns/byte)",
            Figure::ClientCyclesPerByte => "client cycles/byte",
            Figure::ServerCyclesPerByte => "server cycles/byte",
            Figure::ClientUserNsPerMsg => "client user CPU (ns/msg)",
            Figure::ClientSysNsPerMsg => "client kernel CPU (ns/msg)",
            Figure::ServerUserNsPerMsg => "server user CPU (ns/msg)",
            Figure::ServerSysNsPerMsg => "server kernel CPU (ns/msg)",
            Figure::ClientCacheMissesPerMsg => "client cache misses/msg",
            Figure::ServerCacheMissesPerMsg => "server cache misses/msg",
            Figure::ContextSwitchesPerMsg => "context switches/msg",
            Figure::ZcCopiedShare => "zero-copy completions copied (share)",
            Figure::ZcFragmentsPerSend => "zero-copy fragments (pages) per send",
            Figure::ZcDelayP50Us => "completion delay p50 (µs)",
            Figure::ZcDelayP99Us => "completion delay p99 (µs)",
            Figure::ZcSendsPerNotification => "sends per notification",
            Figure::ZcMaxInFlight => "most sends in flight",
            Figure::ZcReclaimWaits => "reclaim waits",
            Figure::ZcReclaimWaitMs => "reclaim wait time (ms)",
            Figure::ZcEnobufs => "ENOBUFS retries",
        }
    }

    /// Whether a larger value is the better one (for crossovers).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Figure::ThroughputGbps | Figure::MessagesPerSec)
    }

    /// The machine name of the figure (findings.json): its results.csv column
    /// where it has one.
    pub fn name(self) -> &'static str {
        match self {
            Figure::ThroughputGbps => "throughput_gbps",
            Figure::MessagesPerSec => "messages_per_sec",
            Figure::LatencyP50Us => "latency_p50_us",
            Figure::LatencyP99Us => "latency_p99_us",
            Figure::LatencyP999Us => "latency_p999_us",
            Figure::ClientCpuNsPerByte => "client_cpu_ns_per_byte",
            Figure::ServerCpuNsPerByte => "server_cpu_ns_per_byte",
            Figure::TotalCpuNsPerByte => "total_cpu_ns_per_byte",
            Figure::ClientCyclesPerByte => "client_cycles_per_byte",
            Figure::ServerCyclesPerByte => "server_cycles_per_byte",
            Figure::ClientUserNsPerMsg => "client_user_ns_per_msg",
            Figure::ClientSysNsPerMsg => "client_sys_ns_per_msg",
            Figure::ServerUserNsPerMsg => "server_user_ns_per_msg",
            Figure::ServerSysNsPerMsg => "server_sys_ns_per_msg",
            Figure::ClientCacheMissesPerMsg => "client_cache_misses_per_msg",
            Figure::ServerCacheMissesPerMsg => "server_cache_misses_per_msg",
            Figure::ContextSwitchesPerMsg => "context_switches_per_msg",
            Figure::ZcCopiedShare => "zc_copied_share",
            Figure::ZcFragmentsPerSend => "zc_fragments_per_send",
            Figure::ZcDelayP50Us => "zc_delay_p50_us",
            Figure::ZcDelayP99Us => "zc_delay_p99_us",
            Figure::ZcSendsPerNotification => "zc_sends_per_notification",
            Figure::ZcMaxInFlight => "zc_max_in_flight",
            Figure::ZcReclaimWaits => "zc_reclaim_waits",
            Figure::ZcReclaimWaitMs => "zc_reclaim_wait_ms",
            Figure::ZcEnobufs => "zc_enobufs",
        }
    }

    /// The figure of the figures model ([`crate::figures::SAMPLED`]) that
    /// every sample measures and this one is, if any.
    fn model(self) -> Option<crate::figures::Figure> {
        use crate::figures::{Figure as F, RoleFigure as R};
        Some(match self {
            Figure::ThroughputGbps => F::ThroughputGbps,
            Figure::MessagesPerSec => F::MessagesPerSec,
            Figure::LatencyP50Us => F::LatencyP50Us,
            Figure::LatencyP99Us => F::LatencyP99Us,
            Figure::ClientCpuNsPerByte => F::Role(Role::Client, R::CpuNsPerByte),
            Figure::ServerCpuNsPerByte => F::Role(Role::Server, R::CpuNsPerByte),
            Figure::ContextSwitchesPerMsg => F::ContextSwitchesPerMsg,
            _ => return None,
        })
    }

    /// The value of this figure in one sample of `samples.csv`, for the
    /// figures every sample measures; `None` for the others.
    pub fn of_sample(self, s: &SampleRow) -> Option<f64> {
        match self {
            Figure::TotalCpuNsPerByte => Some(
                Figure::ClientCpuNsPerByte.of_sample(s)?
                    + Figure::ServerCpuNsPerByte.of_sample(s)?,
            ),
            f => s.get(f.model()?),
        }
    }

    /// Whether every sample measures this figure.
    pub fn sampled(self) -> bool {
        self == Figure::TotalCpuNsPerByte || self.model().is_some()
    }

    /// One repetition's own interval of this figure (its `_lo`/`_hi`
    /// columns), when it has one.
    fn row_interval(self, row: &Row) -> Option<(f64, f64)> {
        row.interval(self.model()?)
    }

    /// The value of this figure in one repetition, if it was measured: read
    /// from the row through the figures model ([`crate::figures::Figure`]).
    pub fn of(self, row: &Row) -> Option<f64> {
        use crate::figures::{Counter, Figure as F, RoleFigure as R};
        let get = |f: F| row.get(f);
        let client = |f: R| get(F::Role(Role::Client, f));
        let server = |f: R| get(F::Role(Role::Server, f));
        let both = |f: R| Some(client(f)? + server(f)?);
        let per_msg = |v: Option<f64>| Some(v? / get(F::Messages).filter(|&m| m > 0.0)?);
        match self {
            Figure::ThroughputGbps => get(F::ThroughputGbps),
            Figure::MessagesPerSec => get(F::MessagesPerSec),
            Figure::LatencyP50Us => get(F::LatencyP50Us),
            Figure::LatencyP99Us => get(F::LatencyP99Us),
            Figure::LatencyP999Us => get(F::LatencyP999Us),
            Figure::ClientCpuNsPerByte => client(R::CpuNsPerByte),
            Figure::ServerCpuNsPerByte => server(R::CpuNsPerByte),
            Figure::TotalCpuNsPerByte => both(R::CpuNsPerByte),
            Figure::ClientCyclesPerByte => client(R::CyclesPerByte),
            Figure::ServerCyclesPerByte => server(R::CyclesPerByte),
            Figure::ClientUserNsPerMsg => per_msg(client(R::UserNs)),
            Figure::ClientSysNsPerMsg => per_msg(client(R::SysNs)),
            Figure::ServerUserNsPerMsg => per_msg(server(R::UserNs)),
            Figure::ServerSysNsPerMsg => per_msg(server(R::SysNs)),
            Figure::ClientCacheMissesPerMsg => per_msg(client(R::Counter(Counter::CacheMisses))),
            Figure::ServerCacheMissesPerMsg => per_msg(server(R::Counter(Counter::CacheMisses))),
            Figure::ContextSwitchesPerMsg => get(F::ContextSwitchesPerMsg)
                .or_else(|| per_msg(both(R::Counter(Counter::ContextSwitches)))),
            Figure::ZcCopiedShare => get(F::ZcCopiedShare),
            Figure::ZcFragmentsPerSend => get(F::ZcFragmentsPerSend),
            Figure::ZcDelayP50Us => get(F::ZcDelayP50Us),
            Figure::ZcDelayP99Us => get(F::ZcDelayP99Us),
            Figure::ZcSendsPerNotification => get(F::ZcSendsPerNotification),
            Figure::ZcMaxInFlight => get(F::ZcMaxInFlight),
            Figure::ZcReclaimWaits => get(F::ZcReclaimWaits),
            Figure::ZcReclaimWaitMs => get(F::ZcReclaimWaitMs),
            Figure::ZcEnobufs => get(F::ZcEnobufs),
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

    /// The median and interval, for [`crate::stats::compare`].
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

/// Identity of a cell, ordered the way the report lists cells.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub workload: String,
    pub transport: String,
    pub threads: u32,
    pub field_size_bytes: u64,
    pub strategy: StrategyName,
}

/// A strategy name that sorts two-copy, one-copy, zero-copy, uring, uring-zc
/// first (the order of the study's questions), then any later one by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrategyName(u8, pub String);

impl StrategyName {
    pub fn new(name: &str) -> Self {
        let rank = StrategyKind::ALL
            .iter()
            .position(|s| s.name() == name)
            .unwrap_or(StrategyKind::ALL.len()) as u8;
        StrategyName(rank, name.to_string())
    }

    /// A strategy in a layout: `page` cells are their own column beside the
    /// heap ones (`zero-copy page`), sorted right after them; `heap` (or no
    /// layout, in rows from before layouts) keeps the plain name, which is
    /// what crossovers and plots compare.
    pub fn with_layout(name: &str, layout: &str) -> Self {
        let StrategyName(rank, name) = StrategyName::new(name);
        match layout {
            "" | "heap" => StrategyName(rank * 2, name),
            other => StrategyName(rank * 2 + 1, format!("{name} {other}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.1
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
    pub figures: BTreeMap<Figure, Spread>,
}

impl CellSummary {
    /// The figure its cell was sampled until precise: stream throughput, rr p50.
    pub fn main_figure(&self) -> Figure {
        if self.key.workload == "rr" {
            Figure::LatencyP50Us
        } else {
            Figure::ThroughputGbps
        }
    }

    pub fn get(&self, figure: Figure) -> Option<Spread> {
        self.figures.get(&figure).copied()
    }
}

/// Groups the repetitions of each cell; cells come out in [`CellKey`] order.
/// Failed repetitions count in `failures` and never in a figure.
pub fn summarize(rows: &[Row]) -> Vec<CellSummary> {
    summarize_pooled(rows, &[])
}

fn key_of(
    workload: &str,
    transport: &str,
    threads: u32,
    size: u64,
    strategy: &str,
    layout: &str,
) -> CellKey {
    CellKey {
        workload: workload.to_string(),
        transport: transport.to_string(),
        threads,
        field_size_bytes: size,
        strategy: StrategyName::with_layout(strategy, layout),
    }
}

/// [`summarize`], with the sampled figures pooled over the `samples` of
/// every ok repetition of a cell.
pub fn summarize_pooled(rows: &[Row], samples: &[SampleRow]) -> Vec<CellSummary> {
    let mut cells: BTreeMap<CellKey, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let key = key_of(
            &row.workload,
            &row.transport,
            row.threads,
            row.field_size_bytes,
            &row.strategy,
            &row.layout,
        );
        cells.entry(key).or_default().push(row);
    }
    // samples.csv has no layout column: a sample takes the layout of its
    // cell's rows (same cell index and the same settings), else heap.
    let layouts: BTreeMap<u32, (&Row, &str)> = rows
        .iter()
        .map(|r| (r.cell, (r, r.layout.as_str())))
        .collect();
    let mut pooled: BTreeMap<CellKey, Vec<&SampleRow>> = BTreeMap::new();
    for s in samples {
        let layout = match layouts.get(&s.cell) {
            Some((r, layout))
                if r.workload == s.workload
                    && r.transport == s.transport
                    && r.threads == s.threads
                    && r.field_size_bytes == s.field_size_bytes
                    && r.strategy == s.strategy =>
            {
                layout
            }
            _ => "heap",
        };
        let key = key_of(
            &s.workload,
            &s.transport,
            s.threads,
            s.field_size_bytes,
            &s.strategy,
            layout,
        );
        pooled.entry(key).or_default().push(s);
    }
    cells
        .into_iter()
        .map(|(key, mut reps)| {
            reps.sort_by_key(|r| r.repeat);
            let (ok, failed): (Vec<&Row>, Vec<&Row>) = reps.iter().partition(|r| r.status == "ok");
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
            let figures = Figure::ALL
                .iter()
                .filter_map(|&f| Some((f, figure_spread(f, &ok, &cell_samples)?)))
                .collect();
            CellSummary {
                message_bytes: reps[0].message_bytes,
                ok: ok.len(),
                failures: failed.iter().map(|r| r.error.clone()).collect(),
                figures,
                key,
            }
        })
        .collect()
}

/// One figure of one cell: pooled samples, else one repetition's own
/// interval, else the repetitions as samples.
fn figure_spread(f: Figure, ok: &[&Row], samples: &[&SampleRow]) -> Option<Spread> {
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
            status: "ok".into(),
            strategy: "one-copy".into(),
            throughput_gbps: Some(2.0),
            messages: Some(10),
            client_sys_ns: Some(100),
            ..Row::default()
        };
        let failed = Row {
            repeat: 1,
            status: "failed".into(),
            error: "connection reset".into(),
            ..ok.clone()
        };
        let cells = summarize(&[ok, failed]);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].ok, 1);
        assert_eq!(cells[0].failures, vec!["connection reset".to_string()]);
        assert_eq!(cells[0].get(Figure::ThroughputGbps).unwrap().n, 1);
        assert_eq!(
            cells[0].get(Figure::ClientSysNsPerMsg).unwrap().median,
            10.0
        );
        assert_eq!(cells[0].get(Figure::LatencyP50Us), None);
    }
}
