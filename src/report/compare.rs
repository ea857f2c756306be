//! `copybench compare OLD NEW`: two sweeps side by side, for "did my kernel,
//! sysctl or patch change help?".
//!
//! Cells are matched by configuration ([`CellKey`]: workload, transport,
//! threads, field size and count, strategy and layout). For each matched cell and figure, NEW is compared with
//! OLD by the same rule as the strategies ([`crate::model::stats::compare`]): the
//! ratio NEW/OLD with its interval, and a verdict — better, worse or ≈.
//! Cells present in only one sweep are listed, never dropped silently.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Serialize, Serializer};

use super::cells::{summarize_pooled, CellSummary, View, HEADLINE};
use super::format;
use super::html::escape;
use super::{read_results, read_samples, ReportError};
use crate::model::figures::{Figure, RoleFigure};
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
    /// NEW / OLD, with its interval.
    pub ratio: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    /// `better`, `worse` or `≈` (NEW against OLD, by the rule).
    pub verdict: &'static str,
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
                let c = stats::compare(&a.estimate(), &b.estimate(), f.higher_is_better());
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
    Comparison {
        old: old_name.to_string(),
        new: new_name.to_string(),
        rule: format!(
            "NEW is better or worse than OLD on a figure only when the 95 % intervals of the two medians are disjoint and they differ by at least {} %; otherwise ≈",
            format::number(stats::MIN_EFFECT * 100.0)
        ),
        cells,
        unmatched: lost,
    }
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
    Ok(compare_cells(
        &old.display().to_string(),
        &load(old)?,
        &new.display().to_string(),
        &load(new)?,
    ))
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
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in c.cells.iter().flat_map(|cell| &cell.figures) {
        *counts.entry(f.verdict).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "{} cells matched; over all {} compared figures: {} better, {} worse, {} ≈ ({})",
        c.cells.len(),
        figures().count(),
        counts.get("better").unwrap_or(&0),
        counts.get("worse").unwrap_or(&0),
        counts.get("≈").unwrap_or(&0),
        c.rule
    );
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

/// `compare.html`: one self-contained page with every figure of every
/// matched cell, coloured by verdict, and the unmatched cells.
pub fn html(c: &Comparison) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>copybench compare</title>\n<style>body{font-family:sans-serif;margin:1.5em;color:#222;font-size:16px}table{border-collapse:collapse;font-size:95%}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}th{background:#f0f0f0}td.l,th.l{text-align:left}td.better{background:#d4edda}td.worse{background:#f8d7da}.scroll{overflow-x:auto}</style>\n</head>\n<body>\n<h1>copybench compare</h1>\n");
    let _ = writeln!(
        h,
        "<p>OLD: <code>{}</code><br>NEW: <code>{}</code></p>\n<p>Each cell: OLD → NEW median, the ratio NEW/OLD with its interval, and the verdict for NEW: better, worse or ≈. {}.</p>",
        escape(&c.old),
        escape(&c.new),
        escape(&c.rule)
    );
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
    use crate::report::cells::summarize;

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
}
