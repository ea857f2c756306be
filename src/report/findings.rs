//! The findings in machine-readable form (`findings.json`), the compact
//! findings table the sweep prints, and its one line per finished cell.
//!
//! Every comparison is a call by the rule of [`crate::model::stats`] or "≈"
//! (in a paired sweep, by the paired rule, [`stats::compare_paired`]); every
//! crossover comes from those calls ([`super::crossover`]).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Value};

use super::crossover::{metrics, pairs, rounds_text, Arm, Crossover, Outcome, Verdict};
use super::format;
use crate::model::figures::{Figure, Row};
use crate::model::key::Status;
use crate::model::kinds::{TransportKind, WorkloadKind};
use crate::model::size::format_size;
use crate::model::stats;

/// One comparison of findings.json.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRecord {
    pub workload: WorkloadKind,
    pub transport: TransportKind,
    pub metric: String,
    pub threads: u32,
    /// The cells' `SO_RCVLOWAT` (`--rcvlowats`); empty when not set.
    pub rcvlowat_bytes: Option<u64>,
    pub field_size_bytes: u64,
    /// The pair: `a` (challenger) and `b` (baseline).
    pub a: Arm,
    pub b: Arm,
    /// `a`, `b` or `≈` (within noise).
    pub verdict: &'static str,
    /// a / b of the medians, with its interval.
    pub ratio: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    pub a_median: f64,
    pub a_lo: f64,
    pub a_hi: f64,
    pub a_samples: usize,
    pub b_median: f64,
    pub b_lo: f64,
    pub b_hi: f64,
    pub b_samples: usize,
    /// In a paired sweep only: whether the call is the paired rule's (the
    /// ratio and its interval are then the median of the per-round ratios
    /// and its interval), and over how many rounds (pairs of samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
}

/// A crossover's outcome as one word of findings.json.
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::From(_) => "from",
        Outcome::ChallengerEverywhere => "a_at_all_sizes",
        Outcome::BaselineEverywhere => "b_at_all_sizes",
        Outcome::NotFound => "none",
        Outcome::NoData => "no_data",
    }
}

fn verdict_symbol(v: Verdict) -> &'static str {
    match v {
        Verdict::ChallengerWins => "a",
        Verdict::BaselineWins => "b",
        Verdict::WithinSpread => "≈",
    }
}

/// Every comparison of every crossover question, flattened.
pub fn comparisons(crossovers: &[Crossover]) -> Vec<ComparisonRecord> {
    crossovers
        .iter()
        .flat_map(|c| {
            c.compared.iter().map(move |v| ComparisonRecord {
                workload: c.workload,
                transport: c.transport,
                metric: c.metric.name(),
                threads: c.threads,
                rcvlowat_bytes: c.rcvlowat,
                field_size_bytes: v.field_size_bytes,
                a: c.challenger,
                b: c.baseline,
                verdict: verdict_symbol(v.verdict),
                ratio: v.comparison.ratio,
                ratio_lo: v.comparison.ratio_lo,
                ratio_hi: v.comparison.ratio_hi,
                a_median: v.challenger.median,
                a_lo: v.challenger.lo,
                a_hi: v.challenger.hi,
                a_samples: v.challenger.n,
                b_median: v.baseline.median,
                b_lo: v.baseline.lo,
                b_hi: v.baseline.hi,
                b_samples: v.baseline.n,
                paired: c.paired_sweep.then_some(v.paired.is_some()),
                rounds: c.paired_sweep.then_some(v.paired.map_or(0, |p| p.rounds)),
            })
        })
        .collect()
}

/// The paired rule in a few words, for the console's heading and the
/// page's answer: `paired over 8–40 rounds: a call needs ...`.
pub fn paired_rule_short(rounds: Option<(usize, usize)>) -> String {
    if rounds.is_none() {
        return "a paired sweep, but no samples to pair (samples.csv): called by the rule for independent samples".into();
    }
    format!(
        "{}: a call needs the 95 % interval of the median per-round ratio wholly beyond ±{} %",
        rounds_text(rounds).trim_start_matches("; "),
        format::number(stats::MIN_EFFECT * 100.0)
    )
}

/// The paired rule, as findings.json's `rule.paired_call` states it.
pub fn paired_rule() -> String {
    format!(
        "paired sweep: the strategies of a block (transport, workload, field size, fields, layout, threads) took one sample each per round, side by side; a / b is the median of the per-round ratios a_i / b_i (pairs of the same round and repetition, pooled over the repetitions), with its order-statistic {} % interval; a beats b only when that whole interval lies beyond {} (or below 1/{}) and rests on at least {} rounds; otherwise ≈. a_lo/a_hi and b_lo/b_hi stay each strategy's own interval; ratio_lo/ratio_hi are the paired interval",
        stats::LEVEL * 100.0,
        1.0 + stats::MIN_EFFECT,
        1.0 + stats::MIN_EFFECT,
        stats::MIN_SAMPLES
    )
}

/// The whole findings.json document; `paired` for a paired sweep (its
/// comparisons, crossovers and rule then say so).
pub fn to_json(crossovers: &[Crossover], paired: bool) -> Value {
    let crossings: Vec<Value> = crossovers
        .iter()
        .map(|c| {
            let mut v = json!({
                "workload": c.workload,
                "transport": c.transport,
                "metric": c.metric.name(),
                "threads": c.threads,
                "rcvlowat_bytes": c.rcvlowat,
                "a": c.challenger,
                "b": c.baseline,
                "outcome": outcome_name(c.outcome),
                "from_field_size_bytes": match c.outcome { Outcome::From(s) => Some(s), _ => None },
                "not_compared_field_sizes": c.not_compared,
                "finding": c.finding_with_rounds(),
            });
            if c.paired_sweep {
                v["paired"] = json!(c.rounds().is_some());
                v["rounds"] = json!(c.rounds().map(|r| r.0));
            }
            v
        })
        .collect();
    let mut doc = json!({
        "rule": {
            "central_value": "median of the samples, pooled over the repetitions of a cell",
            "interval": format!("order-statistic (binomial) confidence interval of the median at {} %", stats::LEVEL * 100.0),
            "call": format!(
                "a beats b only when both intervals have at least {} samples, are disjoint, and the ratio of the medians is at least {} (either way); otherwise ≈ within noise",
                stats::MIN_SAMPLES,
                1.0 + stats::MIN_EFFECT
            ),
            "level": stats::LEVEL,
            "min_effect": stats::MIN_EFFECT,
            "min_samples": stats::MIN_SAMPLES,
            "ratio_interval": "[a_lo / b_hi, a_hi / b_lo]",
            "crossover": "the smallest size from which a is called better at every larger compared size",
        },
        "comparisons": comparisons(crossovers),
        "crossovers": crossings,
    });
    if paired {
        doc["rule"]["paired_call"] = json!(paired_rule());
    }
    doc
}

/// One crossover as a short table cell: `≥ 4 KiB`, `one-copy all`, `≈`, `mixed`.
pub fn cell_text(c: &Crossover) -> String {
    match c.outcome {
        Outcome::From(size) => format!("≥ {}", format_size(size)),
        Outcome::ChallengerEverywhere => format!("{} all", c.challenger),
        Outcome::BaselineEverywhere => format!("{} all", c.baseline),
        Outcome::NoData => "n/a".into(),
        Outcome::NotFound => {
            if c.compared
                .iter()
                .all(|v| v.verdict == Verdict::WithinSpread)
            {
                "≈".into()
            } else if c
                .compared
                .iter()
                .all(|v| v.verdict != Verdict::ChallengerWins)
            {
                format!("{} or ≈", c.baseline)
            } else {
                "mixed".into()
            }
        }
    }
}

/// The compact findings table: one row per workload × transport × pair (the
/// workload's main figure), one column per thread count.
pub fn table(crossovers: &[Crossover]) -> Vec<String> {
    let threads: BTreeSet<u32> = crossovers.iter().map(|c| c.threads).collect();
    let groups: BTreeSet<(WorkloadKind, TransportKind)> = crossovers
        .iter()
        .map(|c| (c.workload, c.transport))
        .collect();
    let mut rows: Vec<Vec<String>> = vec![std::iter::once("question".to_string())
        .chain(threads.iter().map(|t| format::threads(*t)))
        .collect()];
    for &(workload, transport) in &groups {
        let metric = metrics(workload)[0];
        for (a, b) in pairs() {
            let found: Vec<&Crossover> = crossovers
                .iter()
                .filter(|c| {
                    (c.workload, c.transport, c.metric, c.challenger, c.baseline)
                        == (workload, transport, metric, a, b)
                })
                .collect();
            if found.is_empty() {
                continue;
            }
            let mut row = vec![format!(
                "{workload}/{transport} {} {a} vs {b}",
                metric.label()
            )];
            for t in &threads {
                row.push(
                    found
                        .iter()
                        .find(|c| c.threads == *t)
                        .map_or("-".into(), |c| cell_text(c)),
                );
            }
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The line printed when a cell ends:
/// `[ 12/144] rr loopback 2 thr 4 KiB one-copy: latency_p50_us 23.1 [22.8–23.5] ±1.5 %, 8 samples (precision)`.
pub fn progress_line(done: usize, total: usize, row: &Row) -> String {
    let width = total.to_string().len();
    let head = format!(
        "[{done:>width$}/{total}] {} {} {} thr {} {}",
        row.workload,
        row.transport,
        row.threads,
        format_size(row.field_size_bytes),
        format::arm(row.strategy, crate::model::kinds::Layout::Heap, row.receive)
    );
    if row.status != Status::Ok {
        return format!("{head}: FAILED: {}", row.error);
    }
    let main = Figure::from_column(&row.main_figure).unwrap_or(Figure::ThroughputGbps);
    let (v, (lo, hi)) = (row.get(main), row.interval(main).unzip());
    let show = |x: Option<f64>| x.map_or("n/a".into(), format::number);
    format!(
        "{head}: {} {} [{}–{}] ±{} %, {} samples ({})",
        row.main_figure,
        show(v),
        show(lo),
        show(hi),
        show(row.precision_reached.map(|p| p * 100.0)),
        row.samples.unwrap_or(0),
        row.stopped_by
    )
}
