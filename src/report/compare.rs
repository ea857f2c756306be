//! `copybench compare OLD NEW`: two sweeps side by side, for "did my kernel,
//! sysctl or patch change help?".
//!
//! Cells are matched by configuration ([`CellKey`]: workload, transport,
//! threads, field size and count, strategy, layout and receive strategy). For each matched
//! cell and figure, NEW is compared with OLD: the ratio NEW/OLD with its
//! interval, and a verdict — better, worse or ≈.
//!
//! # The rule: within-sweep intervals widened by the drift
//!
//! Two sweeps run minutes apart on one host differ by more than either
//! sweep's intervals say: the host drifts (load, CPU placement, wake-up
//! costs) between them, and the samples within a sweep cannot see that.
//! Compared by the strategies' rule alone ([`crate::model::stats::compare`]),
//! two quick sweeps of the same code were called different in 13–24 % of their
//! figures. So the ratio's interval `[new_lo / old_hi, new_hi / old_lo]` is
//! widened by the cell's **drift**: the largest ratio between two of its
//! repetitions' medians (each repetition a median of its own samples), in
//! either sweep — how far the same cell moved within a sweep, tens of
//! seconds apart. The interval becomes `[lo / drift, hi × drift]`, and NEW
//! is better or worse only when both sweeps' intervals reach 95 % and the
//! widened interval lies wholly beyond `1 +` [`stats::MIN_EFFECT`] (or
//! below its inverse), as the paired rule asks of its interval. A cell with
//! one repetition in both sweeps has no measure of drift and is never
//! called.
//! Cells present in only one sweep are listed, never dropped silently.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Serialize, Serializer};

use super::cells::{summarize_pooled, CellSummary, Spread, View, HEADLINE};
use super::format;
use super::html::escape;
use super::{read_results, read_samples, ReportError};
use crate::model::figures::{Figure, RoleFigure};
use crate::model::host::{DefaultMark, SweepEnv};
use crate::model::key::CellKey;
use crate::model::kinds::{Role, TransportKind, WorkloadKind};
use crate::model::size::format_size;
use crate::model::stats::{self, Call};

/// The figures compared, in column order: the headline figures and the
/// context switches per message.
pub(crate) fn figures() -> impl Iterator<Item = View> + Clone {
    HEADLINE
        .into_iter()
        .chain([View::Of(Figure::ContextSwitchesPerMsg)])
}

/// One figure of one matched cell.
#[derive(Debug, Clone, Serialize)]
pub struct FigureChange {
    pub metric: String,
    pub old: f64,
    pub old_lo: f64,
    pub old_hi: f64,
    pub new: f64,
    pub new_lo: f64,
    pub new_hi: f64,
    /// NEW / OLD, with its interval widened by `drift` (what the verdict
    /// rests on).
    pub ratio: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    /// `better`, `worse` or `≈` (NEW against OLD, by the rule).
    pub verdict: &'static str,
    /// The ratio's interval from the two sweeps' own intervals, before the
    /// drift: `[new_lo / old_hi, new_hi / old_lo]`.
    pub within_lo: f64,
    pub within_hi: f64,
    /// The cell's drift (≥ 1): the largest ratio between two of its
    /// repetitions' medians of this figure, in either sweep; `null` when
    /// neither sweep has two repetitions of it (then never called).
    pub drift: Option<f64>,
}

/// A cell of both sweeps.
#[derive(Debug, Clone)]
pub struct CellChange {
    pub key: CellKey,
    pub figures: Vec<FigureChange>,
}

/// A cell of one sweep only.
#[derive(Debug, Clone)]
pub struct Unmatched {
    pub key: CellKey,
    /// `old` or `new`: the sweep that has it.
    pub only_in: &'static str,
}

/// A cell as `compare --json` names it: its workload, transport, threads,
/// field size and strategy, with the layout as the report names cells
/// (`zero-copy page`).
#[derive(Serialize)]
struct CellName {
    workload: WorkloadKind,
    transport: TransportKind,
    threads: u32,
    field_size_bytes: u64,
    strategy: String,
}

impl From<&CellKey> for CellName {
    fn from(k: &CellKey) -> CellName {
        CellName {
            workload: k.workload,
            transport: k.transport,
            threads: k.threads,
            field_size_bytes: k.field_size,
            strategy: format::cell_strategy(k),
        }
    }
}

impl Serialize for CellChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            cell: CellName,
            figures: &'a [FigureChange],
        }
        Json {
            cell: (&self.key).into(),
            figures: &self.figures,
        }
        .serialize(s)
    }
}

impl Serialize for Unmatched {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json {
            #[serde(flatten)]
            cell: CellName,
            only_in: &'static str,
        }
        Json {
            cell: (&self.key).into(),
            only_in: self.only_in,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub old: String,
    pub new: String,
    pub rule: String,
    pub cells: Vec<CellChange>,
    pub unmatched: Vec<Unmatched>,
    /// How many figure comparisons got each verdict, over every matched cell.
    pub verdicts: Verdicts,
    /// How the two sweeps were run differently by copybench itself (read
    /// from their env.json), each a sentence: a verdict may be that
    /// difference's rather than the change being tested.
    pub settings_differ: Vec<String>,
}

/// The verdicts of a comparison, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    pub better: usize,
    pub worse: usize,
    #[serde(rename = "≈")]
    pub within: usize,
    /// All figure comparisons: `better + worse + ≈`.
    pub figures: usize,
    /// Of the `≈`, those left uncalled because neither sweep has two
    /// repetitions of the cell (no measure of its drift).
    pub without_drift: usize,
}

/// The drift of one figure in one sweep: the largest ratio between two of
/// its repetitions' values (max / min), 1 when they are equal; `None` with
/// fewer than two repetitions; infinite when one is zero or below and
/// another is not (no ratio bounds them).
pub(crate) fn drift(repetitions: &[f64]) -> Option<f64> {
    if repetitions.len() < 2 {
        return None;
    }
    let (lo, hi) = repetitions
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    Some(if lo == hi {
        1.0
    } else if lo > 0.0 {
        hi / lo
    } else {
        f64::INFINITY
    })
}

/// NEW against OLD on one figure: the ratio's interval from the two
/// sweeps' intervals, widened by the larger drift of the two; a call only
/// when both intervals reach 95 % and the widened interval lies wholly
/// beyond ±[`stats::MIN_EFFECT`]. Returns the comparison with the widened
/// interval, the within-sweep interval, and the drift.
fn verdict(
    new: &Spread,
    old: &Spread,
    drift: Option<f64>,
    higher_is_better: bool,
) -> (stats::Comparison, (f64, f64)) {
    let within = stats::compare(&new.estimate(), &old.estimate(), higher_is_better);
    let mut c = within;
    let band = 1.0 + stats::MIN_EFFECT;
    let (new_wins, old_wins) = if higher_is_better {
        (Call::A, Call::B)
    } else {
        (Call::B, Call::A)
    };
    c.call = Call::Within;
    if let Some(d) = drift {
        c.ratio_lo = within.ratio_lo / d;
        c.ratio_hi = within.ratio_hi * d;
        if new.callable() && old.callable() {
            if c.ratio_lo >= band {
                c.call = new_wins;
            } else if c.ratio_hi <= 1.0 / band {
                c.call = old_wins;
            }
        }
    }
    (c, (within.ratio_lo, within.ratio_hi))
}

fn unmatched(key: &CellKey, only_in: &'static str) -> Unmatched {
    Unmatched { key: *key, only_in }
}

/// Compares the summarised cells of two sweeps.
pub(crate) fn compare_cells(
    old_name: &str,
    old: &[CellSummary],
    new_name: &str,
    new: &[CellSummary],
) -> Comparison {
    let old_by: BTreeMap<&CellKey, &CellSummary> = old.iter().map(|c| (&c.key, c)).collect();
    let new_by: BTreeMap<&CellKey, &CellSummary> = new.iter().map(|c| (&c.key, c)).collect();
    let mut cells = Vec::new();
    let mut lost = Vec::new();
    for (key, o) in &old_by {
        let Some(n) = new_by.get(key) else {
            lost.push(unmatched(key, "old"));
            continue;
        };
        let figures = figures()
            .filter_map(|f| {
                let (a, b) = (n.get(f)?, o.get(f)?);
                let reps =
                    |c: &CellSummary| drift(c.repetitions.get(&f).map_or(&[], Vec::as_slice));
                let d = match (reps(o), reps(n)) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
                let (c, (within_lo, within_hi)) = verdict(&a, &b, d, f.higher_is_better());
                Some(FigureChange {
                    metric: f.name(),
                    old: b.median,
                    old_lo: b.lo,
                    old_hi: b.hi,
                    new: a.median,
                    new_lo: a.lo,
                    new_hi: a.hi,
                    ratio: c.ratio,
                    ratio_lo: c.ratio_lo,
                    ratio_hi: c.ratio_hi,
                    verdict: match c.call {
                        Call::A => "better",
                        Call::B => "worse",
                        Call::Within => "≈",
                    },
                    within_lo,
                    within_hi,
                    drift: d,
                })
            })
            .collect();
        cells.push(CellChange {
            key: **key,
            figures,
        });
    }
    for key in new_by.keys().filter(|k| !old_by.contains_key(*k)) {
        lost.push(unmatched(key, "new"));
    }
    let mut verdicts = Verdicts::default();
    for f in cells.iter().flat_map(|c: &CellChange| &c.figures) {
        match f.verdict {
            "better" => verdicts.better += 1,
            "worse" => verdicts.worse += 1,
            _ => verdicts.within += 1,
        }
        verdicts.figures += 1;
        verdicts.without_drift += usize::from(f.drift.is_none());
    }
    Comparison {
        old: old_name.to_string(),
        new: new_name.to_string(),
        rule: format!(
            "NEW is better or worse than OLD on a figure only when both sweeps' 95 % intervals of the median are at full coverage and the interval of NEW/OLD [new_lo / old_hi, new_hi / old_lo], widened by the cell's drift (the largest ratio between two of its repetitions' medians, in either sweep: how far the host moved the same cell within a sweep) to [lo / drift, hi × drift], lies wholly beyond {} (or below 1/{}); otherwise ≈. A cell with one repetition in both sweeps has no measure of drift and is never called",
            1.0 + stats::MIN_EFFECT,
            1.0 + stats::MIN_EFFECT
        ),
        cells,
        unmatched: lost,
        verdicts,
        settings_differ: Vec::new(),
    }
}

/// What copybench did differently between two sweeps, from their env.json
/// (`None`: no env.json, or one that does not read): the receive mark its
/// copying receivers kept by default, which moves loopback streams, and the
/// congestion control of their TCP sockets (`--congestion`, else the host's
/// default), which paces them or not.
fn settings_differ(old: Option<&SweepEnv>, new: Option<&SweepEnv>) -> Vec<String> {
    let (Some(old), Some(new)) = (old, new) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let mark = |env: &SweepEnv| env.run.as_ref().and_then(|r| r.default_rcvlowat);
    let text = |m: Option<DefaultMark>| m.map_or("none".into(), |m| m.to_string());
    let (a, b) = (mark(old), mark(new));
    if a != b {
        notes.push(format!(
            "the sweeps ran with different default receive marks (OLD: {}, NEW: {}): on loopback a copying sender's stream moves with the mark, so a verdict on it may be the mark's rather than your change's; sweep both with --rcvlowats 1 (no mark) to compare the rest",
            text(a),
            text(b)
        ));
    }
    // Known only where env.json says: an older one records neither.
    let congestion = |env: &SweepEnv| {
        env.run
            .as_ref()
            .and_then(|r| r.congestion.as_ref().map(|c| c.to_string()))
            .or_else(|| env.host.tcp_congestion_control.clone())
    };
    if let (Some(a), Some(b)) = (congestion(old), congestion(new)) {
        if a != b {
            notes.push(format!(
                "the sweeps' TCP sockets had different congestion controls (OLD: {a}, NEW: {b}): one that paces (bbr) holds a loopback or veth stream to its estimate of the path, so a verdict on a stream may be the congestion control's; sweep both with the same --congestion"
            ));
        }
    }
    notes
}

fn load(dir: &Path) -> Result<Vec<CellSummary>, ReportError> {
    let rows = read_results(&dir.join("results.csv"))?;
    Ok(summarize_pooled(
        &rows,
        &read_samples(&dir.join("samples.csv")),
    ))
}

/// Reads both sweep directories and compares them.
pub fn compare_dirs(old: &Path, new: &Path) -> Result<Comparison, ReportError> {
    let mut c = compare_cells(
        &old.display().to_string(),
        &load(old)?,
        &new.display().to_string(),
        &load(new)?,
    );
    let env = |dir: &Path| {
        std::fs::read_to_string(dir.join("env.json"))
            .ok()
            .and_then(|text| super::read_env(&text).ok())
    };
    c.settings_differ = settings_differ(env(old).as_ref(), env(new).as_ref());
    Ok(c)
}

/// The console table's second figure.
const CPU: Figure = Figure::Role(Role::Client, RoleFigure::CpuNsPerByte);

/// `stream loopback 1 thr 16 KiB one-copy`.
fn cell_name(k: &CellKey) -> String {
    format!(
        "{} {} {} thr {} {}",
        k.workload,
        k.transport,
        k.threads,
        format_size(k.field_size),
        format::cell_strategy(k)
    )
}

fn change_text(f: &FigureChange) -> String {
    format!(
        "{} → {}  ×{} [{}–{}] {}",
        format::number(f.old),
        format::number(f.new),
        format::number(f.ratio),
        format::number(f.ratio_lo),
        format::number(f.ratio_hi),
        f.verdict
    )
}

/// The console table: per matched cell, the main figure and the client+server
/// CPU per byte; then the counts; then the unmatched cells.
pub fn console(c: &Comparison) -> String {
    let mut rows: Vec<[String; 3]> = vec![[
        "cell".into(),
        "main figure: old → new  ×new/old [interval] verdict".into(),
        format!("{}: old → new  ×ratio verdict", CPU.caption()),
    ]];
    for cell in &c.cells {
        let get = |f: Figure| cell.figures.iter().find(|x| x.metric == f.column());
        let main = Figure::main(cell.key.workload);
        rows.push([
            cell_name(&cell.key),
            get(main).map_or("n/a".into(), |f| {
                format!("{} {}", main.caption(), change_text(f))
            }),
            get(CPU).map_or("n/a".into(), change_text),
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("old: {}\nnew: {}\n", c.old, c.new);
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} cells matched; over all {} compared figures: {} better, {} worse, {} ≈ ({})",
        c.cells.len(),
        figures().count(),
        c.verdicts.better,
        c.verdicts.worse,
        c.verdicts.within,
        c.rule
    );
    if let Some(line) = without_drift(&c.verdicts) {
        let _ = writeln!(out, "{line}");
    }
    for line in &c.settings_differ {
        let _ = writeln!(out, "note: {line}");
    }
    if c.unmatched.is_empty() {
        out.push_str("every cell is in both sweeps\n");
    } else {
        let _ = writeln!(out, "{} cells in one sweep only:", c.unmatched.len());
        for u in &c.unmatched {
            let _ = writeln!(out, "  only in {}: {}", u.only_in, cell_name(&u.key));
        }
    }
    out
}

/// What the figures left uncalled for want of repetitions say, if any.
fn without_drift(v: &Verdicts) -> Option<String> {
    (v.without_drift > 0).then(|| format!(
        "{} of the {} ≈ are not called for want of repetitions: the cell has one in each sweep, so the drift between sweeps cannot be measured (sweep with --repeat 2 or more to compare)",
        v.without_drift, v.within
    ))
}

/// `compare.html`: one self-contained page with every figure of every
/// matched cell, coloured by verdict, and the unmatched cells.
pub fn html(c: &Comparison) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>copybench compare</title>\n<style>body{font-family:sans-serif;margin:1.5em;color:#222;font-size:16px}table{border-collapse:collapse;font-size:95%}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}th{background:#f0f0f0}td.l,th.l{text-align:left}td.better{background:#d4edda}td.worse{background:#f8d7da}.scroll{overflow-x:auto}</style>\n</head>\n<body>\n<h1>copybench compare</h1>\n");
    let _ = writeln!(
        h,
        "<p>OLD: <code>{}</code><br>NEW: <code>{}</code></p>\n<p>Each cell: OLD → NEW median, the ratio NEW/OLD with its interval widened by the drift between repetitions, and the verdict for NEW: better, worse or ≈. {}.</p>\n<p>{} figure comparisons: {} better, {} worse, {} ≈. Two sweeps of the same code minutes apart differ by more than their own intervals show (the host drifts); the widening by each cell's drift keeps such differences from being called.</p>",
        escape(&c.old),
        escape(&c.new),
        escape(&c.rule),
        c.verdicts.figures,
        c.verdicts.better,
        c.verdicts.worse,
        c.verdicts.within
    );
    if let Some(line) = without_drift(&c.verdicts) {
        let _ = writeln!(h, "<p>{}.</p>", escape(&line));
    }
    for line in &c.settings_differ {
        let _ = writeln!(h, "<p><strong>Note:</strong> {}.</p>", escape(line));
    }
    h.push_str("<div class=\"scroll\"><table>\n<tr><th class=\"l\">cell</th>");
    for f in figures() {
        let _ = write!(h, "<th>{}</th>", escape(&f.label()));
    }
    h.push_str("</tr>\n");
    for cell in &c.cells {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td>",
            escape(&cell_name(&cell.key))
        );
        for f in figures() {
            match cell.figures.iter().find(|x| x.metric == f.name()) {
                Some(x) => {
                    let class = match x.verdict {
                        "better" => " class=\"better\"",
                        "worse" => " class=\"worse\"",
                        _ => "",
                    };
                    let _ = write!(h, "<td{class}>{}</td>", escape(&change_text(x)));
                }
                None => h.push_str("<td>n/a</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    if c.unmatched.is_empty() {
        h.push_str("<p>Every cell is in both sweeps.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<h2>In one sweep only ({})</h2>\n<ul>",
            c.unmatched.len()
        );
        for u in &c.unmatched {
            let _ = writeln!(
                h,
                "<li>only in {}: {}</li>",
                u.only_in,
                escape(&cell_name(&u.key))
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::figures::Row;
    use crate::model::key::Status;
    use crate::model::kinds::StrategyKind;
    use crate::report::cells::{summarize, summarize_pooled};

    fn rows(size: u64, gbps: f64) -> Vec<Row> {
        (0..8)
            .map(|i| Row {
                repeat: i,
                strategy: StrategyKind::OneCopy,
                transport: TransportKind::Loopback,
                workload: WorkloadKind::Stream,
                field_size_bytes: size,
                threads: 1,
                status: Status::Ok,
                throughput_gbps: Some(gbps + f64::from(i) * 0.01),
                ..Row::default()
            })
            .collect()
    }

    #[test]
    fn matched_cells_get_verdicts_and_the_rest_is_listed() {
        let old: Vec<Row> = [rows(64, 10.0), rows(4096, 10.0), rows(16384, 5.0)].concat();
        let new: Vec<Row> = [rows(64, 10.1), rows(4096, 15.0), rows(65536, 5.0)].concat();
        let c = compare_cells("old", &summarize(&old), "new", &summarize(&new));
        assert_eq!(c.cells.len(), 2);
        let verdict = |size| {
            c.cells
                .iter()
                .find(|x| x.key.field_size == size)
                .unwrap()
                .figures[0]
                .verdict
        };
        // 1 % apart is within noise; 50 % faster is called.
        assert_eq!(verdict(64), "≈");
        assert_eq!(verdict(4096), "better");
        let f = &c.cells[1].figures[0];
        assert!(f.ratio_lo <= f.ratio && f.ratio <= f.ratio_hi && f.ratio > 1.4);
        let only: Vec<(&str, u64)> = c
            .unmatched
            .iter()
            .map(|u| (u.only_in, u.key.field_size))
            .collect();
        assert_eq!(only, vec![("old", 16384), ("new", 65536)]);
        let text = console(&c);
        assert!(text.contains("only in old: stream loopback 1 thr 16 KiB one-copy"));
        assert!(text.contains("2 cells matched"));
        assert!(html(&c).contains("class=\"better\""));
    }

    /// A cell of `reps` repetitions, each with twelve precise samples
    /// around its own level.
    fn sweep(levels: &[f64]) -> Vec<CellSummary> {
        let mut rows = Vec::new();
        let mut samples = Vec::new();
        for (repeat, &level) in levels.iter().enumerate() {
            let row = Row {
                repeat: repeat as u32,
                ..rows_of(level)
            };
            for i in 0..12 {
                samples.push(crate::model::figures::SampleRow {
                    throughput_gbps: Some(level * (1.0 + 0.001 * f64::from(i))),
                    ..crate::model::figures::SampleRow::of(&row, i)
                });
            }
            rows.push(row);
        }
        summarize_pooled(&rows, &samples)
    }

    fn rows_of(gbps: f64) -> Row {
        Row {
            throughput_gbps: Some(gbps),
            ..rows(64, gbps)[0].clone()
        }
    }

    #[test]
    fn drift_between_repetitions_widens_the_interval() {
        let verdict = |old: &[f64], new: &[f64]| {
            let c = compare_cells("old", &sweep(old), "new", &sweep(new));
            let f = c.cells[0].figures[0].clone();
            assert!(
                f.ratio_lo <= f.within_lo && f.within_hi <= f.ratio_hi,
                "{f:?}"
            );
            (f.verdict, f.drift, c.verdicts)
        };
        // Precise samples, repetitions that agree: a 10 % gain is called.
        let (v, drift, counts) = verdict(&[10.0, 10.0], &[11.0, 11.0]);
        assert_eq!((v, drift), ("better", Some(1.0)));
        assert_eq!((counts.better, counts.figures), (1, 1));
        // The same 10 % when the cell moved 15 % between its repetitions
        // in one sweep: drift, not a change.
        let (v, drift, _) = verdict(&[10.0, 11.5], &[11.5, 12.0]);
        assert_eq!(v, "≈");
        assert!((drift.unwrap() - 1.15).abs() < 1e-9);
        // A doubling stands out of that drift.
        assert_eq!(verdict(&[10.0, 11.5], &[22.0, 23.0]).0, "better");
        // One sweep's drift is enough; neither sweep's (one repetition
        // each): no measure of drift, never called.
        assert_eq!(verdict(&[10.0], &[20.0, 20.1]).0, "better");
        let (v, drift, counts) = verdict(&[10.0], &[20.0]);
        assert_eq!(
            (v, drift, counts.within, counts.without_drift),
            ("≈", None, 1, 1)
        );
        let c = compare_cells("old", &sweep(&[10.0]), "new", &sweep(&[20.0]));
        assert!(console(&c).contains("1 of the 1 ≈ are not called for want of repetitions"));
        assert_eq!(super::drift(&[2.0, 0.0]), Some(f64::INFINITY));
        assert_eq!(super::drift(&[0.0, 0.0]), Some(1.0));
    }
}
