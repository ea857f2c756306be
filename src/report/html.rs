//! `index.html`: one self-contained page, readable straight from disk.
//!
//! No script, no external stylesheet; the plots are the `.svg` files next to
//! it, linked by relative path. The page is a pure function of the rows and
//! `env.json` (no clock, stable ordering), so rebuilding a report from the same
//! CSV gives the same bytes.

use std::fmt::Write;

use super::analysis::Analysis;
use super::format;
use super::plots::Plot;
use super::summary::{CellSummary, Figure, Spread};
use crate::size::format_size;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:90em;color:#222}\
table{border-collapse:collapse;font-size:90%}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}\
th{background:#f0f0f0}td.l,th.l{text-align:left}\
tr.failed td{background:#fdecea}\
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}\
li{margin:.2em 0}code{background:#f4f4f4}";

/// The figures of the results table, in column order.
const COLUMNS: [Figure; 8] = [
    Figure::ThroughputGbps,
    Figure::LatencyP50Us,
    Figure::LatencyP99Us,
    Figure::ClientCpuNsPerByte,
    Figure::ServerCpuNsPerByte,
    Figure::ClientCyclesPerByte,
    Figure::ContextSwitchesPerMsg,
    Figure::ZcCopiedShare,
];

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

pub fn page(
    cells: &[CellSummary],
    analysis: &Analysis,
    env: &serde_json::Value,
    plots: &[Plot],
) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>copybench report</title>\n");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
    h.push_str("<h1>copybench report</h1>\n");
    h.push_str("<p>Two-copy (serialize, then <code>send</code>), one-copy (<code>sendmsg</code> gathering the fields), zero-copy (<code>MSG_ZEROCOPY</code>), uring (<code>IORING_OP_SENDMSG</code>) and uring-zc (<code>IORING_OP_SENDMSG_ZC</code>) sends over TCP, across field sizes and thread counts. Figures are medians over the repetitions of a cell, with the min–max range in brackets; <em>n/a</em> means not measured, never zero. Rebuild this page with <code>copybench report DIR</code>.</p>\n");
    host(&mut h, env);
    findings(&mut h, analysis);
    h.push_str("<h2>Plots</h2>\n");
    for plot in plots {
        let _ = writeln!(
            h,
            "<figure><img src=\"{}\" alt=\"{}\"><figcaption><strong>{}</strong>. {}</figcaption></figure>",
            escape(plot.file),
            escape(&plot.title),
            escape(&plot.title),
            escape(plot.about)
        );
    }
    table(&mut h, cells);
    h.push_str("</body>\n</html>\n");
    h
}

/// Host facts from `env.json`, flattened to dotted keys so that any shape of
/// the file shows (e.g. `counters.cache_misses.reason`).
fn host(h: &mut String, env: &serde_json::Value) {
    h.push_str("<h2>Host</h2>\n");
    let mut facts = Vec::new();
    flatten("", env, &mut facts);
    if facts.is_empty() {
        h.push_str("<p>No <code>env.json</code> next to <code>results.csv</code>: host facts unknown. <code>copybench doctor</code> shows them for this machine.</p>\n");
        return;
    }
    h.push_str("<table>\n");
    for (key, value) in facts {
        let _ = writeln!(
            h,
            "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>",
            escape(&key),
            escape(&value)
        );
    }
    h.push_str("</table>\n");
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Null if prefix.is_empty() => {}
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Null => out.push((prefix.to_string(), "n/a".into())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn findings(h: &mut String, analysis: &Analysis) {
    h.push_str("<h2>Analysis</h2>\n");
    h.push_str("<p>A crossover is the smallest tested field size from which the challenger wins at that size and every larger one, each win beyond the spread of the repetitions (the challenger's worst repetition beats the baseline's best). Stream compares throughput, rr the p50 latency; both also compare the client's CPU time per byte.</p>\n");
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
        format!("{} [{}–{}]", f(s.median), f(s.min), f(s.max))
    } else {
        f(s.median)
    }
}

fn table(h: &mut String, cells: &[CellSummary]) {
    h.push_str("<h2>Results</h2>\n<table>\n<tr><th class=\"l\">workload</th><th class=\"l\">transport</th><th>threads</th><th>field size</th><th class=\"l\">strategy</th><th>repetitions ok</th>");
    for figure in COLUMNS {
        let _ = write!(h, "<th>{}</th>", escape(figure.label()));
    }
    h.push_str("<th class=\"l\">status</th></tr>\n");
    for c in cells {
        let k = &c.key;
        let status = match (c.failures.first(), c.ok) {
            (None, _) => "ok".to_string(),
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
            "<tr{class}><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td>",
            escape(&k.workload),
            escape(&k.transport),
            k.threads,
            escape(&format_size(k.field_size_bytes)),
            escape(k.strategy.as_str()),
            c.ok
        );
        for figure in COLUMNS {
            let _ = write!(
                h,
                "<td>{}</td>",
                escape(&spread(c.get(figure), figure == Figure::ZcCopiedShare))
            );
        }
        let _ = writeln!(h, "<td class=\"l\">{}</td></tr>", escape(&status));
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn flattens_env_json() {
        let mut out = Vec::new();
        let env = serde_json::json!({"kernel": "6.1", "counters": {"cycles": {"available": false}}, "cores": 2});
        flatten("", &env, &mut out);
        out.sort();
        assert_eq!(
            out,
            vec![
                ("cores".to_string(), "2".to_string()),
                ("counters.cycles.available".to_string(), "false".to_string()),
                ("kernel".to_string(), "6.1".to_string()),
            ]
        );
    }
}
