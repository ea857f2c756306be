//! `index.html`: one self-contained page, readable straight from disk.
//!
//! No script, no external stylesheet, no request: the plots are inlined SVG
//! (also written beside it as `.svg` files), so the page can be attached to a
//! bug report alone. It opens with the answer: run facts, a winner table per
//! workload and the crossovers, one line each. The page is a pure function of the rows and
//! `env.json` (no clock, stable ordering), so rebuilding a report from the same
//! CSV gives the same bytes.

use std::fmt::Write;

use std::collections::BTreeSet;

use super::analysis::{crossover_lines, Analysis};
use super::cells::{CellSummary, Spread, View, HEADLINE};
use super::crossover::{metrics, rounds_text, Arm, Crossover, Outcome, Verdict};
use super::findings::paired_rule_short;
use super::format;
use super::plots::{strategy_color, Plot};
use crate::model::figures::{Figure, RoleFigure, Row};
use crate::model::host::{Availability, SweepEnv};
use crate::model::key::Status;
use crate::model::kinds::{ReceiveKind, Role, StrategyKind, TransportKind, WorkloadKind};
use crate::model::size::format_size;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;font-size:16px}\
h1{font-size:1.5em;margin:.2em 0}h2{margin-top:1.5em}\
table{border-collapse:collapse;font-size:95%}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}\
th{background:#f0f0f0}td.l,th.l{text-align:left}\
table.meta td,table.meta th{text-align:left;white-space:normal}\
table.win td{text-align:center;font-weight:bold;white-space:normal;min-width:5.5em}\
td.na{color:#888;font-weight:normal}\
tr.failed td{background:#fdecea}\
.scroll{overflow-x:auto;max-width:100%}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #ddd}\
li{margin:.2em 0}code{background:#f4f4f4}pre{background:#f8f8f8;padding:.5em;overflow-x:auto}\
.swatch{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}";

/// The figures of the results table, in column order: the headline
/// figures, then cycles per byte, context switches and the copied share.
fn columns() -> Vec<View> {
    HEADLINE
        .into_iter()
        .chain([
            View::Of(Figure::Role(Role::Client, RoleFigure::CyclesPerByte)),
            View::Of(Figure::ContextSwitchesPerMsg),
            View::Of(Figure::ZcCopiedShare),
        ])
        .collect()
}
/// The figures of the completions table (cells of strategies with
/// completions): every figure of the model's zero-copy section
/// ([`Figure::ZEROCOPY`]), in its order, so a new one shows with no edit.
fn completion_columns() -> Vec<View> {
    Figure::ZEROCOPY.iter().map(|&f| View::Of(f)).collect()
}

/// What the page is built from.
pub struct Inputs<'a> {
    pub cells: &'a [CellSummary],
    pub analysis: &'a Analysis,
    /// env.json's content; `None` when there is none.
    pub env: Option<&'a SweepEnv>,
    pub plots: &'a [Plot],
    /// Each plot's SVG text, inlined so the page is one self-contained file.
    pub svgs: &'a [String],
    /// One line per plot left out for want of data.
    pub skipped: &'a [String],
    pub rows: &'a [Row],
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub fn page(i: &Inputs) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width\">\n<title>copybench report</title>\n");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
    h.push_str("<h1>copybench: which send strategy wins, from what size</h1>\n");
    metadata(&mut h, i);
    answer(&mut h, i.analysis);
    h.push_str("<h2>Plots</h2>\n");
    for (plot, svg) in i.plots.iter().zip(i.svgs) {
        // The SVG inline (no XML prologue), so the page needs no other file.
        let svg = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
        let _ = writeln!(
            h,
            "<figure id=\"{}\">{svg}<figcaption><strong>{}</strong>. {}</figcaption></figure>",
            escape(plot.file.trim_end_matches(".svg")),
            escape(&plot.title),
            escape(&plot.about)
        );
    }
    for line in i.skipped {
        let _ = writeln!(h, "<p>{}</p>", escape(line));
    }
    host(&mut h, i.env);
    findings(&mut h, i.analysis);
    table(&mut h, i.cells);
    h.push_str("</body>\n</html>\n");
    h
}

/// The run's facts: when, which copybench, the command, how many cells, the
/// precision reached, the repetitions, and the rule.
fn metadata(h: &mut String, i: &Inputs) {
    let run = i.env.and_then(|e| e.run.clone()).unwrap_or_default();
    let rows = i.rows;
    let ok: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Ok).collect();
    let repeats = rows.iter().map(|r| r.repeat + 1).max().unwrap_or(0);
    let reached: Vec<f64> = ok.iter().filter_map(|r| r.precision_reached).collect();
    let met = ok.iter().filter(|r| r.stopped_by == "precision").count();
    let samples: Vec<f64> = ok.iter().filter_map(|r| r.samples.map(f64::from)).collect();
    let targets: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| r.precision_target > 0.0)
        .map(|r| format!("±{} %", format::number(r.precision_target * 100.0)))
        .collect();
    let median = |v: &[f64]| Spread::of(v.iter().copied()).map(|s| s.median);
    let mut facts: Vec<(&str, String)> = vec![
        (
            "date",
            run.started_utc
                .unwrap_or_else(|| "unknown (no run facts in env.json)".into()),
        ),
        ("copybench", run.version.unwrap_or_else(|| "unknown".into())),
        ("command", run.command.unwrap_or_else(|| "unknown".into())),
        (
            "receive mark",
            match run.default_rcvlowat {
                Some(m) => format!(
                    "without --rcvlowat, copying receivers waited for {m} while a copying sender had promised that much; zero-copy senders promise nothing"
                ),
                None => "none recorded: a sweep from before the default mark, whose receivers kept none".into(),
            },
        ),
        (
            "congestion control",
            match (&run.congestion, i.env.and_then(|e| e.host.tcp_congestion_control.as_deref())) {
                (Some(cc), _) => format!("{cc} on every TCP socket (--congestion)"),
                (None, Some(host)) => format!(
                    "{host}, the host's default (a pacing one such as bbr holds a loopback sender to its estimate of the path; --congestion chooses)"
                ),
                (None, None) => "the host's default, not recorded".into(),
            },
        ),
        (
            "cells",
            format!(
                "{} cells, {} rows (cell × repetition), {} failed",
                i.analysis.cells,
                rows.len(),
                rows.len() - ok.len()
            ),
        ),
        ("repetitions", repeats.to_string()),
    ];
    facts.push((
        "precision",
        match median(&reached) {
            // A block stops when every pair of its strategies is decided.
            Some(m) if i.analysis.paired => format!(
                "target {} for a block of one strategy; reached (half-width of the main figure's 95 % interval): median ±{} %; {} of {} runs ended with every pair of their block decided by the paired rule (called, or within ±{} %), the others stopped at the time cap; {} samples (rounds) per run (median)",
                if targets.is_empty() { "n/a".into() } else { targets.iter().cloned().collect::<Vec<_>>().join(", ") },
                format::number(m * 100.0),
                met,
                ok.len(),
                format::number(crate::model::stats::MIN_EFFECT * 100.0),
                median(&samples).map_or("n/a".into(), format::number)
            ),
            Some(m) => format!(
                "target {}; reached (half-width of the main figure's 95 % interval): median ±{} %, {} of {} runs met the target, the others stopped at the time cap; {} samples per run (median)",
                if targets.is_empty() { "n/a".into() } else { targets.into_iter().collect::<Vec<_>>().join(", ") },
                format::number(m * 100.0),
                met,
                ok.len(),
                median(&samples).map_or("n/a".into(), format::number)
            ),
            None => "n/a: no run recorded its precision".into(),
        },
    ));
    facts.push((
        "rule",
        if i.analysis.paired {
            format!(
                "paired: the strategies of a block (transport, workload, field size, fields, layout, threads) were measured side by side, one sample each per round; a strategy is called better than another only when the 95 % interval (order-statistic) of the median of their per-round ratios lies wholly beyond ±{} % and rests on at least {} rounds; otherwise ≈ (within noise); the main figures' comparisons are {}",
                format::number(crate::model::stats::MIN_EFFECT * 100.0),
                crate::model::stats::MIN_SAMPLES,
                rounds_text(i.analysis.rounds()).trim_start_matches("; ")
            )
        } else {
            format!(
                "a strategy is called better only when the 95 % intervals of the medians (order-statistic, samples pooled over repetitions) are disjoint and the difference is at least {} %; otherwise ≈ (within noise)",
                format::number(crate::model::stats::MIN_EFFECT * 100.0)
            )
        },
    ));
    h.push_str("<table class=\"meta\">\n");
    for (k, v) in facts {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            if k == "command" {
                format!("<code>{}</code>", escape(&v))
            } else {
                escape(&v)
            }
        );
    }
    h.push_str("</table>\n");
}

/// The winner of each (threads, size) among the strategies compared there,
/// on the workload's main figure: the one called better than every other,
/// `A ≈ B` when several are unbeaten, `≈` when nothing is called.
fn winner(
    crossovers: &[&Crossover],
    threads: u32,
    size: u64,
) -> Option<(String, Option<StrategyKind>)> {
    let mut strategies: Vec<Arm> = Vec::new();
    let mut beaten: Vec<Arm> = Vec::new();
    let mut wins: Vec<Arm> = Vec::new();
    for c in crossovers.iter().filter(|c| c.threads == threads) {
        let Some(v) = c.compared.iter().find(|v| v.field_size_bytes == size) else {
            continue;
        };
        for s in [c.challenger, c.baseline] {
            if !strategies.contains(&s) {
                strategies.push(s);
            }
        }
        match v.verdict {
            Verdict::ChallengerWins => {
                wins.push(c.challenger);
                beaten.push(c.baseline);
            }
            Verdict::BaselineWins => {
                wins.push(c.baseline);
                beaten.push(c.challenger);
            }
            Verdict::WithinSpread => {}
        }
    }
    if strategies.is_empty() {
        return None;
    }
    strategies.sort();
    let unbeaten: Vec<Arm> = strategies
        .iter()
        .copied()
        .filter(|s| !beaten.contains(s))
        .collect();
    Some(match unbeaten.as_slice() {
        _ if wins.is_empty() => ("≈".into(), None),
        &[one] => (one.to_string(), Some(one.strategy)),
        several => (
            several
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" ≈ "),
            None,
        ),
    })
}

/// What one row of the Answer table compares at a thread count: the send
/// strategies behind one receive strategy, or the receive strategies
/// behind one sender. A winner is called among the arms of one lane only,
/// so a mapping arm never "beats" a copying arm of another sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    At(ReceiveKind),
    Behind(StrategyKind),
}

impl Lane {
    fn of(c: &Crossover) -> Lane {
        if c.challenger.receive == c.baseline.receive {
            Lane::At(c.challenger.receive)
        } else {
            Lane::Behind(c.challenger.strategy)
        }
    }

    fn label(self) -> String {
        match self {
            Lane::At(r) => format!("senders, {r} rx"),
            Lane::Behind(s) => format!("receivers behind {s}"),
        }
    }
}

/// The answer in one screen: per workload, a threads × size table of
/// winners, then the crossovers, one line each.
fn answer(h: &mut String, analysis: &Analysis) {
    h.push_str("<h2>Answer</h2>\n<p>Each cell names the strategy called better than every other at that thread count and field size, on the workload's main figure; ≈ means no call (within noise). Where a sweep ran several receive strategies, each thread count has a row per receive strategy (its send strategies compared behind it) and a row per sender (its receive strategies compared), and a winner is called within a row only.");
    if analysis.paired {
        let _ = write!(
            h,
            " Calls are {}.",
            escape(&paired_rule_short(analysis.rounds()))
        );
    }
    // The strategies this sweep compared, in the usual order.
    let compared = |s: StrategyKind| {
        analysis
            .crossovers
            .iter()
            .any(|c| c.challenger.strategy == s || c.baseline.strategy == s)
    };
    for s in StrategyKind::ALL.into_iter().filter(|&s| compared(s)) {
        let _ = write!(
            h,
            "<span class=\"swatch\" style=\"background:{}\"></span>{s}",
            strategy_color(s)
        );
    }
    h.push_str("</p>\n");
    let mut groups: Vec<(WorkloadKind, TransportKind, Option<u64>)> = Vec::new();
    for c in &analysis.crossovers {
        let g = (c.workload, c.transport, c.rcvlowat);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if groups.is_empty() {
        h.push_str("<p>No comparison: fewer than two strategies measured.</p>\n");
    }
    for (workload, transport, rcvlowat) in groups {
        let metric = metrics(workload)[0];
        let of: Vec<&Crossover> = analysis
            .crossovers
            .iter()
            .filter(|c| {
                (c.workload, c.transport, c.rcvlowat) == (workload, transport, rcvlowat)
                    && c.metric == metric
            })
            .collect();
        let threads: BTreeSet<u32> = of.iter().map(|c| c.threads).collect();
        let lanes: BTreeSet<Lane> = of.iter().map(|c| Lane::of(c)).collect();
        // A sweep of copying receivers keeps its one row per thread count.
        let labelled = lanes.iter().any(|&l| l != Lane::At(ReceiveKind::Copy));
        let sizes: BTreeSet<u64> = of
            .iter()
            .flat_map(|c| c.compared.iter().map(|v| v.field_size_bytes))
            .collect();
        let _ = writeln!(
            h,
            "<h3>{} over {}{}: {}</h3>\n<div class=\"scroll\"><table class=\"win\">\n<tr><th>threads \\ field size</th>{}</tr>",
            escape(workload.name()),
            escape(transport.name()),
            escape(&format::rcvlowat_tag(rcvlowat)),
            escape(&metric.label()),
            sizes
                .iter()
                .map(|s| format!("<th>{}</th>", escape(&format_size(*s))))
                .collect::<String>()
        );
        for (t, lane) in threads
            .iter()
            .flat_map(|t| lanes.iter().map(move |l| (*t, *l)))
        {
            if labelled {
                let _ = write!(h, "<tr><th>{t}: {}</th>", escape(&lane.label()));
            } else {
                let _ = write!(h, "<tr><th>{t}</th>");
            }
            let in_lane: Vec<&Crossover> =
                of.iter().copied().filter(|c| Lane::of(c) == lane).collect();
            for size in &sizes {
                match winner(&in_lane, t, *size) {
                    Some((text, Some(s))) => {
                        let c = strategy_color(s);
                        let _ = write!(
                            h,
                            "<td style=\"background:{c}33;border-left:6px solid {c}\">{}</td>",
                            escape(&text)
                        );
                    }
                    Some((text, None)) => {
                        let _ = write!(h, "<td class=\"na\">{}</td>", escape(&text));
                    }
                    None => h.push_str("<td class=\"na\">n/a</td>"),
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table></div>\n");
        // Only what the calls support, one line per crossover; everything
        // else is under "All findings".
        let called: Vec<Crossover> = of
            .iter()
            .filter(|c| {
                matches!(
                    c.outcome,
                    Outcome::From(_) | Outcome::ChallengerEverywhere | Outcome::BaselineEverywhere
                )
            })
            .map(|c| (*c).clone())
            .collect();
        if called.is_empty() {
            h.push_str("<p>Crossovers: none called (no strategy is called better than another from some size through the largest).</p>\n");
        } else {
            h.push_str("<p>Crossovers:</p>\n<ul>\n");
            for line in crossover_lines(&called) {
                let _ = writeln!(h, "<li>{}</li>", escape(&line));
            }
            h.push_str("</ul>\n");
        }
    }
}

/// Host facts in short (kernel, CPU, cores, which counters and why not,
/// once), then the whole `env.json` behind a `<details>`.
fn host(h: &mut String, env: Option<&SweepEnv>) {
    h.push_str("<h2>Host</h2>\n");
    let Some(env) = env.filter(|e| **e != SweepEnv::default()) else {
        h.push_str("<p>No <code>env.json</code> next to <code>results.csv</code>: host facts unknown. <code>copybench doctor</code> shows them for this machine.</p>\n");
        return;
    };
    let facts = &env.host;
    let text = |v: Option<String>| v.unwrap_or_else(|| "n/a".to_string());
    let mut items = vec![
        format!("kernel {}", text(facts.kernel.clone())),
        format!("CPU {}", text(facts.cpu_model.clone())),
        format!("{} cores", text(facts.cores.map(|n| n.to_string()))),
        format!("cpuidle: {}", facts.cpuidle.describe()),
    ];
    let counters = &facts.counters;
    if !counters.is_empty() {
        let available: Vec<&str> = counters
            .iter()
            .filter(|(_, v)| v.available)
            .map(|(k, _)| k.as_str())
            .collect();
        let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
        for (k, v) in counters.iter().filter(|(_, v)| !v.available) {
            let reason = text(v.reason.clone());
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, names)) => names.push(k),
                None => by_reason.push((reason, vec![k.as_str()])),
            }
        }
        items.push(format!(
            "counters available: {}",
            if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            }
        ));
        for (reason, names) in by_reason {
            items.push(format!("unavailable ({}): {reason}", names.join(", ")));
        }
    }
    // An env.json without the probe reads as the default "unknown": not shown.
    if facts.so_zerocopy_tcp != Availability::default() {
        items.push(format!(
            "SO_ZEROCOPY on TCP: {}",
            facts.so_zerocopy_tcp.state()
        ));
    }
    h.push_str("<ul>\n");
    for item in items {
        let _ = writeln!(h, "<li>{}</li>", escape(&item));
    }
    h.push_str("</ul>\n");
    let _ = writeln!(
        h,
        "<details><summary>all host facts (env.json)</summary><pre>{}</pre></details>",
        escape(&serde_json::to_string_pretty(env).unwrap_or_default())
    );
}

fn findings(h: &mut String, analysis: &Analysis) {
    h.push_str("<h2>All findings</h2>\n");
    if analysis.paired {
        h.push_str("<p>A crossover is the smallest tested field size from which the challenger is called better at that size and every larger one (paired round by round: the 95 % interval of the median per-round ratio wholly beyond ±5 %; see <a href=\"findings.json\">findings.json</a> for every comparison with its ratio, interval and rounds). Stream compares throughput, rr the p50 latency; both also compare the client's CPU time per byte. Heap and page layouts are separate blocks, so the zero-copy findings compare them unpaired.</p>\n");
    } else {
        h.push_str("<p>A crossover is the smallest tested field size from which the challenger is called better at that size and every larger one (disjoint 95 % intervals and at least 5 % apart; see <a href=\"findings.json\">findings.json</a> for every comparison with its ratio and interval). Stream compares throughput, rr the p50 latency; both also compare the client's CPU time per byte.</p>\n");
    }
    for section in analysis.sections() {
        if section.lines.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h3>{}</h3>\n<ul>", escape(section.title));
        for line in &section.lines {
            let _ = writeln!(h, "<li>{}</li>", escape(line));
        }
        h.push_str("</ul>\n");
    }
}

fn spread(s: Option<Spread>, share: bool) -> String {
    let Some(s) = s else { return "n/a".into() };
    let f = |v: f64| {
        if share {
            format!("{}%", format::number(v * 100.0))
        } else {
            format::number(v)
        }
    };
    if s.n > 1 {
        format!("{} [{}–{}]", f(s.median), f(s.lo), f(s.hi))
    } else {
        f(s.median)
    }
}

fn table(h: &mut String, cells: &[CellSummary]) {
    h.push_str("<h2>Results</h2>\n<p>Medians with their 95 % interval in brackets; <em>n/a</em> means not measured, never zero. Files: <a href=\"results.csv\">results.csv</a> (one row per cell and repetition), <a href=\"samples.csv\">samples.csv</a>, <a href=\"findings.json\">findings.json</a>, <a href=\"env.json\">env.json</a>. Rebuild this page with <code>copybench report DIR</code>.</p>\n");
    figure_table(h, cells, &columns());
    let completing: Vec<CellSummary> = cells
        .iter()
        .filter(|c| c.get(Figure::ZcFragmentsPerSend).is_some())
        .cloned()
        .collect();
    if !completing.is_empty() {
        h.push_str("<h2>Zero-copy completions</h2>\n<p>Per cell of a strategy with completions, every zero-copy figure of <code>results.csv</code> (its <code>zc_</code> columns, see reports/README.md): sends, completions and the copied share, notifications and the sends each covered, the most sends in flight, reclaim waits, <code>ENOBUFS</code> retries, fragments (pages) per send against <code>net.core.max_skb_frags</code>, and the completion delay as the sender sees it (send call to the read of its notification, one send in 16). Strategies that copy have none of these.</p>\n");
        figure_table(h, &completing, &completion_columns());
    }
}

fn figure_table(h: &mut String, cells: &[CellSummary], columns: &[View]) {
    h.push_str("<div class=\"scroll\"><table>\n<tr><th class=\"l\">workload</th><th class=\"l\">transport</th><th>threads</th><th>field size</th><th class=\"l\">strategy</th><th>repetitions ok</th><th>samples</th>");
    for &figure in columns {
        let _ = write!(h, "<th>{}</th>", escape(&figure.label()));
    }
    h.push_str("<th class=\"l\">status</th></tr>\n");
    for c in cells {
        let k = &c.key;
        let status = match (c.failures.first(), c.ok) {
            (None, _) => Status::Ok.to_string(),
            (Some(e), 0) => format!("failed: {e}"),
            (Some(e), _) => format!(
                "{} of {} failed: {e}",
                c.failures.len(),
                c.failures.len() + c.ok
            ),
        };
        let class = if c.failures.is_empty() {
            ""
        } else {
            " class=\"failed\""
        };
        let _ = write!(
            h,
            "<tr{class}><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>",
            escape(k.workload.name()),
            escape(k.transport.name()),
            k.threads,
            escape(&format_size(k.field_size)),
            escape(&format::cell_strategy(k)),
            c.ok,
            c.get(c.main_figure()).map_or(0, |s| s.n)
        );
        for &figure in columns {
            let _ = write!(
                h,
                "<td>{}</td>",
                escape(&spread(c.get(figure), figure.unit() == "share"))
            );
        }
        let _ = writeln!(h, "<td class=\"l\">{}</td></tr>", escape(&status));
    }
    h.push_str("</table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completions_table_shows_the_tables_zerocopy_section() {
        // Every figure of the model's zerocopy section, in order, and only those.
        let columns = completion_columns();
        assert_eq!(columns.len(), Figure::ZEROCOPY.len());
        for (view, &f) in columns.iter().zip(Figure::ZEROCOPY) {
            assert_eq!(*view, View::Of(f));
        }
        let zc = Figure::all()
            .into_iter()
            .filter(|f| f.column().starts_with("zc_"))
            .count();
        assert_eq!(
            zc,
            Figure::ZEROCOPY.len(),
            "a zc_ figure outside the zerocopy section"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
