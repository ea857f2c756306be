//! Repetitions of one cell folded into a median and a min–max range per figure.
//!
//! Everything the report draws, tabulates or analyses goes through here, so the
//! whole report agrees on one definition of each figure. Per-message and
//! per-byte figures are computed per repetition first and summarised after, so
//! a median is always the median of what one repetition measured.

use std::collections::BTreeMap;

use crate::error::Role;
use crate::figures::Row;
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
}

impl Figure {
    pub const ALL: [Figure; 18] = [
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
        }
    }

    /// Whether a larger value is the better one (for crossovers).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Figure::ThroughputGbps | Figure::MessagesPerSec)
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
            Figure::ContextSwitchesPerMsg => per_msg(both(R::Counter(Counter::ContextSwitches))),
            Figure::ZcCopiedShare => get(F::ZcCopiedShare),
        }
    }
}

/// Median and range of one figure over the repetitions that measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many repetitions the figure rests on.
    pub n: usize,
}

impl Spread {
    /// `None` when there is nothing to summarise (no repetition measured it).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        })
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
    pub fn get(&self, figure: Figure) -> Option<Spread> {
        self.figures.get(&figure).copied()
    }
}

/// Groups the repetitions of each cell; cells come out in [`CellKey`] order.
/// Failed repetitions count in `failures` and never in a figure.
pub fn summarize(rows: &[Row]) -> Vec<CellSummary> {
    let mut cells: BTreeMap<CellKey, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let key = CellKey {
            workload: row.workload.clone(),
            transport: row.transport.clone(),
            threads: row.threads,
            field_size_bytes: row.field_size_bytes,
            strategy: StrategyName::new(&row.strategy),
        };
        cells.entry(key).or_default().push(row);
    }
    cells
        .into_iter()
        .map(|(key, mut reps)| {
            reps.sort_by_key(|r| r.repeat);
            let (ok, failed): (Vec<&Row>, Vec<&Row>) = reps.iter().partition(|r| r.status == "ok");
            let figures = Figure::ALL
                .iter()
                .filter_map(|&f| Some((f, Spread::of(ok.iter().filter_map(|r| f.of(r)))?)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_median_and_range() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
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
