//! The report of a sweep: plots, `index.html` and the analysis, built from
//! `results.csv` (and `env.json` when there is one).
//!
//! A sweep calls [`write_report`] when it ends (or is interrupted) and prints
//! [`Analysis::lines`]; `copybench report DIR` calls [`rebuild`] to redo the same
//! from the files alone. Output depends only on the rows and the host facts, so
//! rebuilding gives the same `index.html`.

mod analysis;
mod cells;
pub mod compare;
mod crossover;
pub(crate) mod findings;
pub(crate) mod format;
mod html;
mod plots;

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

// What `rebuild` and `analyze` return, and every type its fields name.
pub use analysis::{
    analyze, Analysis, FailedCell, InterfaceComparison, LayoutPair, Section, ThreadScaling,
    ZeroCopyCopies,
};
pub use cells::{summarize, summarize_pooled, CellSummary, Runs, Spread, View};
pub use crossover::{Crossover, Outcome, SizeVerdict, Verdict};
pub use findings::progress_line;

use crate::model::figures::{Row, SampleRow};
use crate::model::host::SweepEnv;
use crate::model::kinds::Layout;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path} has no column `{column}`: it was written by another version of copybench; rerun the sweep with this one (or add the column with empty cells)")]
    MissingColumn { column: String, path: PathBuf },
    #[error("{path} has a column `{column}` that this copybench does not know: rerun the sweep with this version, or remove the column")]
    UnknownColumn { column: String, path: PathBuf },
    #[error("cannot parse {path}: {source}; fix or delete the line named, or rerun the sweep")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot parse {path}: {source}; fix or delete it (it is optional; `copybench doctor` shows the host facts)")]
    EnvJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}; check that it exists and is readable and writable (`copybench report DIR` wants the directory a sweep wrote, holding results.csv)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty: it holds no header and no rows; the sweep that wrote it measured nothing (rerun it)")]
    Empty { path: PathBuf },
    #[error(
        "{path} has a header but no rows: the sweep that wrote it measured nothing (rerun it)"
    )]
    NoRows { path: PathBuf },
    /// A row this copybench cannot take as a measurement; `line` counts from 1, the header being line 1.
    #[error("{path} line {line}: {what}; fix or delete that line, or rerun the sweep")]
    BadRow {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error("{0}")]
    Plot(String),
}

impl ReportError {
    /// 2 when the input is at fault (a missing directory, an unreadable or
    /// invalid results.csv), 1 when writing the report failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReportError::Io { path, .. } if path.ends_with("results.csv") || !path.exists() => 2,
            ReportError::Io { .. } | ReportError::Plot(_) => 1,
            _ => 2,
        }
    }
}

/// What [`write_report`] wrote, and the analysis it wrote it from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    pub index: PathBuf,
    /// findings.json: every comparison and crossover.
    pub findings: PathBuf,
    /// The SVG files, in the order `index.html` shows them.
    pub plots: Vec<PathBuf>,
    /// The findings the page and findings.json show, with the host's
    /// fragment limit (env.json) set: what a sweep prints at its end.
    pub analysis: Analysis,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The columns of `results.csv`, in order: [`Row`]'s fields, as serde names them.
fn columns() -> Vec<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(Row::default()).expect("a Row serializes");
    let data = writer.into_inner().expect("writing to memory cannot fail");
    let mut reader = csv::Reader::from_reader(data.as_slice());
    let header = reader.headers().expect("the header just written parses");
    header.iter().map(str::to_string).collect()
}

/// Reads results.csv. A missing or unknown column is an error naming the column
/// (checked before deserializing: csv+serde silently ignores unknown columns and
/// gives a cryptic error for missing ones).
pub fn read_results(path: &Path) -> Result<Vec<Row>, ReportError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    let csv_error = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(ReportError::Empty {
            path: path.to_path_buf(),
        });
    }
    let expected = columns();
    if let Some(column) = expected
        .iter()
        .find(|c| !header.contains(c) && !Row::added_later(c))
    {
        return Err(ReportError::MissingColumn {
            column: column.clone(),
            path: path.to_path_buf(),
        });
    }
    if let Some(column) = header.iter().find(|c| !expected.contains(c)) {
        return Err(ReportError::UnknownColumn {
            column: column.clone(),
            path: path.to_path_buf(),
        });
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut record = csv::StringRecord::new();
    let raw_header = reader.headers().map_err(csv_error)?.clone();
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, csv::Position::line);
        let bad = |what: String| ReportError::BadRow {
            path: path.to_path_buf(),
            line,
            what,
        };
        let row: Row = record
            .deserialize(Some(&raw_header))
            .map_err(|e| bad(row_error(&e, &raw_header)))?;
        check_figures(&raw_header, &record).map_err(bad)?;
        if let Some(first) = seen.insert(row.run_key(), line) {
            return Err(bad(format!(
                "repetition {} of {} / {} / {}, {} x {} B{}, {} thread(s) is already on line {first}: a row counted twice would pass for two repetitions",
                row.repeat,
                row.strategy,
                row.transport,
                row.workload,
                row.fields,
                row.field_size_bytes,
                match row.layout {
                    Layout::Heap => String::new(),
                    layout => format!(" ({layout} layout)"),
                },
                row.threads
            )));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ReportError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// Why a row does not read as a [`Row`], in one line naming the column: a
/// name this copybench does not know, as the kind says it (`unknown
/// strategy 'three-copy' (known: ...)`; the row would be in no plot), or
/// a value that does not parse (`threads: invalid digit found in string`).
fn row_error(e: &csv::Error, header: &csv::StringRecord) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| header.get(i as usize)) {
                Some(column) => format!("{column}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        _ => e.to_string(),
    }
}

/// What makes a parsed row unusable beyond its names: a figure that is not
/// finite (NaN and inf parse as floats but mean nothing).
fn check_figures(header: &csv::StringRecord, record: &csv::StringRecord) -> Result<(), String> {
    for (column, text) in header.iter().zip(record.iter()) {
        if column == "error" {
            continue;
        }
        if let Ok(v) = text.trim().parse::<f64>() {
            if !v.is_finite() {
                return Err(format!("{column} is {text}: a figure must be a finite number (or empty when not measured)"));
            }
        }
    }
    Ok(())
}

/// Reads samples.csv; a sweep directory without one (or with an unreadable
/// one) gives no samples, and the report falls back to the rows' intervals.
pub(crate) fn read_samples(path: &Path) -> Vec<SampleRow> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    reader
        .deserialize()
        .collect::<Result<Vec<SampleRow>, _>>()
        .unwrap_or_default()
}

/// What the sweep prints at the end: the compact findings table, then the
/// other findings (thread count, zero-copy, failures).
pub fn console(analysis: &Analysis) -> String {
    let mut out = if analysis.paired {
        format!(
            "Findings (main figure, {}; ≥ SIZE: the first strategy is called better from SIZE up; NAME all: at every size; ≈: within noise):\n",
            findings::paired_rule_short(analysis.rounds())
        )
    } else {
        String::from("Findings (main figure; ≥ SIZE: the first strategy is called better from SIZE up; NAME all: at every size; ≈: within noise):\n")
    };
    for line in findings::table(&analysis.crossovers) {
        out.push_str(&format!("  {line}\n"));
    }
    for line in analysis.lines_without_crossovers() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Writes all SVG plots, findings.json and index.html into dir (rayon over
/// plots), and returns them with the analysis they show. `env` is
/// env.json's content, `None` when there is none. Samples are read from
/// dir/samples.csv when it is there.
pub fn write_report(
    dir: &Path,
    rows: &[Row],
    env: Option<&SweepEnv>,
) -> Result<ReportFiles, ReportError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let samples = read_samples(&dir.join("samples.csv"));
    let cells = summarize_pooled(rows, &samples);
    // A paired sweep's strategies are compared round by round.
    let runs = env
        .is_some_and(SweepEnv::paired)
        .then(|| Runs::new(rows, &samples));
    let mut analysis = analysis::analyze_cells(rows, &cells, runs.as_ref());
    analysis.set_fragment_limit(env.and_then(|e| e.host.max_skb_frags));
    let findings = dir.join("findings.json");
    let text =
        serde_json::to_string_pretty(&findings::to_json(&analysis.crossovers, analysis.paired))
            .expect("findings serialize");
    fs::write(&findings, text).map_err(io_error(&findings))?;
    let (plots, skipped) = plots::plots(&cells, &analysis.crossovers, env);
    let svgs = plots
        .par_iter()
        .map(|plot| plot.render(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let index = dir.join("index.html");
    let svg_text = svgs
        .iter()
        .map(|path| fs::read_to_string(path).map_err(io_error(path)))
        .collect::<Result<Vec<_>, _>>()?;
    let page = html::page(&html::Inputs {
        cells: &cells,
        analysis: &analysis,
        env,
        plots: &plots,
        svgs: &svg_text,
        skipped: &skipped,
        rows,
    });
    fs::write(&index, page).map_err(io_error(&index))?;
    Ok(ReportFiles {
        index,
        findings,
        plots: svgs,
        analysis,
    })
}

/// `copybench report DIR`: reads DIR/results.csv and DIR/env.json (optional),
/// rebuilds plots + index.html, returns the Analysis.
pub fn rebuild(dir: &Path) -> Result<Analysis, ReportError> {
    let rows = read_results(&dir.join("results.csv"))?;
    let env_path = dir.join("env.json");
    let env = match fs::read_to_string(&env_path) {
        Ok(text) => Some(read_env(&text).map_err(|source| ReportError::EnvJson {
            path: env_path.clone(),
            source,
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(&env_path)(e)),
    };
    Ok(write_report(dir, &rows, env.as_ref())?.analysis)
}

/// env.json's text as [`SweepEnv`]. Every field may be missing (an older
/// copybench, or a hand-written file); `null` reads as no facts at all.
pub fn read_env(text: &str) -> Result<SweepEnv, serde_json::Error> {
    Ok(serde_json::from_str::<Option<SweepEnv>>(text)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::key::Status;
    use crate::model::kinds::{ReceiveKind, StrategyKind, TransportKind, WorkloadKind};
    use std::collections::BTreeSet;

    /// A fresh directory in the system temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "copybench-report-test-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A small sweep: both workloads, three strategies, two sizes, two thread
    /// counts, two repetitions, a failed cell, no hardware counters.
    fn rows() -> Vec<Row> {
        let mut rows = Vec::new();
        let mut cell = 0;
        for workload in [WorkloadKind::Rr, WorkloadKind::Stream] {
            for threads in [1, 2] {
                for size in [64u64, 65536] {
                    for (rank, strategy) in [
                        StrategyKind::TwoCopy,
                        StrategyKind::OneCopy,
                        StrategyKind::ZeroCopy,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        cell += 1;
                        for repeat in 0..2 {
                            let speed =
                                (1 + rank) as f64 * size as f64 / 1000.0 + repeat as f64 * 0.01;
                            let mut row = Row {
                                cell,
                                repeat,
                                strategy,
                                transport: TransportKind::Loopback,
                                workload,
                                field_size_bytes: size,
                                fields: 8,
                                message_bytes: 8 * size + 16,
                                threads,
                                warmup_s: 0.1,
                                duration_s: 0.5,
                                status: Status::Ok,
                                messages: Some(1000),
                                throughput_gbps: Some(speed),
                                client_user_ns: Some(1000 * (3 - rank as u64)),
                                client_sys_ns: Some(5000),
                                server_user_ns: Some(800),
                                server_sys_ns: Some(4000),
                                client_cpu_ns_per_byte: Some(1.0 / speed),
                                server_cpu_ns_per_byte: Some(0.8 / speed),
                                client_context_switches: Some(10.0 * threads as f64),
                                server_context_switches: Some(12.0),
                                ..Row::default()
                            };
                            if workload == WorkloadKind::Rr {
                                row.latency_p50_us = Some(100.0 / speed);
                                row.latency_p99_us = Some(300.0 / speed);
                            }
                            if strategy == StrategyKind::ZeroCopy {
                                row.zc_sends = Some(1000);
                                row.zc_completions = Some(1000);
                                row.zc_copied = Some(1000);
                                row.zc_copied_share = Some(1.0);
                            }
                            rows.push(row);
                        }
                    }
                }
            }
        }
        rows.push(Row {
            cell: cell + 1,
            strategy: StrategyKind::ZeroCopy,
            transport: TransportKind::Unix,
            workload: WorkloadKind::Stream,
            field_size_bytes: 64,
            threads: 1,
            status: Status::Failed,
            error: "zero-copy is not supported on unix sockets <AF_UNIX>".into(),
            ..Row::default()
        });
        rows
    }

    fn write_csv(path: &Path, rows: &[Row]) {
        let mut writer = csv::Writer::from_path(path).unwrap();
        for row in rows {
            writer.serialize(row).unwrap();
        }
        writer.flush().unwrap();
    }

    /// Six samples per ok row, each a little off the row's figures.
    fn write_samples(path: &Path, rows: &[Row]) {
        write_samples_scaled(path, rows, |i| {
            let wobble = 1.0 + f64::from(i) * 0.001;
            (wobble, wobble)
        });
    }

    /// Six samples per ok row, sample `i` of a row at its figures times
    /// `scale(i)`: `(throughput factor, latency and cost factor)`.
    fn write_samples_scaled(path: &Path, rows: &[Row], scale: impl Fn(u32) -> (f64, f64)) {
        let mut writer = csv::Writer::from_path(path).unwrap();
        for row in rows.iter().filter(|r| r.status == Status::Ok) {
            for i in 0..6u32 {
                let (up, down) = scale(i);
                writer
                    .serialize(SampleRow {
                        elapsed_s: 0.05,
                        messages: 100,
                        throughput_gbps: row.throughput_gbps.map(|v| v * up),
                        latency_p50_us: row.latency_p50_us.map(|v| v * down),
                        latency_p99_us: row.latency_p99_us.map(|v| v * down),
                        client_cpu_ns_per_byte: row.client_cpu_ns_per_byte.map(|v| v * down),
                        server_cpu_ns_per_byte: row.server_cpu_ns_per_byte.map(|v| v * down),
                        ..SampleRow::of(row, i)
                    })
                    .unwrap();
            }
        }
        writer.flush().unwrap();
    }

    #[test]
    fn reads_back_what_a_sweep_writes() {
        let dir = scratch("roundtrip");
        let path = dir.join("results.csv");
        write_csv(&path, &rows());
        assert_eq!(read_results(&path).unwrap(), rows());
    }

    #[test]
    fn a_heap_and_a_page_run_of_one_shape_are_two_runs() {
        let dir = scratch("layouts");
        let path = dir.join("results.csv");
        let heap = rows()[0].clone();
        let page = Row {
            cell: heap.cell + 100,
            layout: Layout::Page,
            ..heap.clone()
        };
        write_csv(&path, &[heap.clone(), page.clone()]);
        assert_eq!(read_results(&path).unwrap(), [heap, page.clone()]);
        // The same page run twice is still one run counted twice.
        let twice = Row {
            cell: page.cell + 1,
            ..page.clone()
        };
        write_csv(&path, &[page, twice]);
        let err = read_results(&path).unwrap_err().to_string();
        assert!(err.contains(" B (page layout), "), "{err}");
        assert!(err.contains("is already on line 2"), "{err}");
    }

    /// A one-row CSV whose header and record went through `edit` (told which
    /// of the two it edits).
    fn edited_csv(
        name: &str,
        edit: impl Fn(Vec<String>, bool) -> Vec<String>,
    ) -> (Scratch, PathBuf) {
        let dir = scratch(name);
        let path = dir.join("results.csv");
        write_csv(&path, &rows()[..1]);
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let record: Vec<String> = reader
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let mut writer = csv::Writer::from_path(&path).unwrap();
        writer.write_record(edit(header, true)).unwrap();
        writer.write_record(edit(record, false)).unwrap();
        writer.flush().unwrap();
        (dir, path)
    }

    #[test]
    fn a_file_from_before_receive_strategies_reads_as_copy() {
        let at = columns().iter().position(|c| c == "receive").unwrap();
        let (_dir, path) = edited_csv("no-receive", move |mut v, _| {
            v.remove(at);
            v
        });
        let rows = read_results(&path).unwrap();
        assert_eq!(rows[0].receive, crate::model::kinds::ReceiveKind::Copy);
        assert_eq!(
            rows[0].key().receive,
            crate::model::kinds::ReceiveKind::Copy
        );
        // An empty one too; an unknown one is named.
        let (_dir, path) = edited_csv("empty-receive", move |mut v, header| {
            if !header {
                v[at] = String::new();
            }
            v
        });
        assert_eq!(
            read_results(&path).unwrap()[0].receive,
            crate::model::kinds::ReceiveKind::Copy
        );
        let (_dir, path) = edited_csv("bad-receive", move |mut v, header| {
            if !header {
                v[at] = "mmap".into();
            }
            v
        });
        let err = read_results(&path).unwrap_err().to_string();
        assert!(err.contains("unknown receive strategy 'mmap'"), "{err}");
    }

    #[test]
    fn a_file_from_before_rcvlowats_reads_as_not_set() {
        // No rcvlowat_bytes column (a sweep before --rcvlowats set none).
        let at = columns()
            .iter()
            .position(|c| c == "rcvlowat_bytes")
            .unwrap();
        let (_dir, path) = edited_csv("no-rcvlowat", move |mut v, _| {
            v.remove(at);
            v
        });
        let rows = read_results(&path).unwrap();
        assert_eq!(rows[0].rcvlowat_bytes, None);
        assert_eq!(rows[0].key().rcvlowat, None);
        // A value is part of the cell's identity.
        let (_dir, path) = edited_csv("rcvlowat", move |mut v, header| {
            if !header {
                v[at] = "65536".into();
            }
            v
        });
        assert_eq!(read_results(&path).unwrap()[0].key().rcvlowat, Some(65536));
    }

    #[test]
    fn a_missing_column_is_named() {
        let idx = columns()
            .iter()
            .position(|c| c == "latency_p99_us")
            .unwrap();
        let (_dir, path) = edited_csv("missing", |mut v, _| {
            v.remove(idx);
            v
        });
        let err = read_results(&path).unwrap_err();
        assert!(
            matches!(&err, ReportError::MissingColumn { column, .. } if column == "latency_p99_us")
        );
        assert!(err.to_string().contains("has no column `latency_p99_us`"));
    }

    #[test]
    fn an_unknown_column_is_named() {
        let (_dir, path) = edited_csv("unknown", |mut v, header| {
            v.push(if header { "latency_p42_us" } else { "1" }.into());
            v
        });
        let err = read_results(&path).unwrap_err();
        assert!(
            matches!(&err, ReportError::UnknownColumn { column, .. } if column == "latency_p42_us")
        );
    }

    #[test]
    fn names_are_read_once_and_an_unknown_one_is_named() {
        let set = |column: &str, text: &'static str| {
            let at = columns().iter().position(|c| c == column).unwrap();
            edited_csv(&format!("name-{column}-{text}"), move |mut v, header| {
                if !header {
                    v[at] = text.into();
                }
                v
            })
        };
        // An empty layout, from before layouts, reads as heap; tcp is a transport.
        let (_dir, path) = set("layout", "");
        assert_eq!(read_results(&path).unwrap()[0].layout, Layout::Heap);
        let (_dir, path) = set("transport", "tcp");
        assert_eq!(
            read_results(&path).unwrap()[0].transport,
            TransportKind::Tcp
        );
        for (column, text, want) in [
            (
                "transport",
                "wifi",
                "line 2: unknown transport 'wifi' (known: loopback, tcp, unix, veth)",
            ),
            (
                "workload",
                "burst",
                "line 2: unknown workload 'burst' (known: rr, stream)",
            ),
            (
                "layout",
                "huge",
                "line 2: unknown layout 'huge' (known: heap, page)",
            ),
            (
                "status",
                "done",
                "line 2: unknown status 'done' (known: ok, failed)",
            ),
            ("threads", "x", "line 2: threads: invalid digit"),
        ] {
            let (_dir, path) = set(column, text);
            let err = read_results(&path).unwrap_err();
            assert!(matches!(err, ReportError::BadRow { line: 2, .. }), "{err}");
            assert!(err.to_string().contains(want), "{err}");
            assert_eq!(err.to_string().lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn writes_plots_and_index() {
        let dir = scratch("write");
        let env = read_env(
            r#"{
            "kernel": "6.1.0 <test>",
            "counters": {"cache_misses": {"available": false, "reason": "no PMU in this VM"}}
        }"#,
        )
        .unwrap();
        write_samples(&dir.join("samples.csv"), &rows());
        let files = write_report(&dir, &rows(), Some(&env)).unwrap();
        // Cycles and cache misses have no values: left out, said in one line each.
        assert_eq!(files.plots.len(), 6);
        assert!(!dir.join("cache_misses.svg").exists());
        let findings: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&files.findings).unwrap()).unwrap();
        let calls = findings["comparisons"].as_array().unwrap();
        // The samples of both repetitions pooled: 12 per cell, so calls are made.
        assert!(calls
            .iter()
            .any(|c| c["verdict"] == "a" && c["a_samples"] == 12));
        assert!(findings["crossovers"].as_array().unwrap().len() > 3);
        for svg in &files.plots {
            let text = fs::read_to_string(svg).unwrap();
            assert!(text.contains("<text"), "{} has no text", svg.display());
        }
        let html = fs::read_to_string(&files.index).unwrap();
        assert!(html.contains(
            "<p>Cache misses per message: not plotted, unavailable on this host: no PMU in this VM</p>"
        ));
        assert!(html.contains("kernel 6.1.0 &lt;test&gt;"));
        // One self-contained file: the plots are inline, nothing is fetched.
        assert!(html.contains("<figure id=\"throughput\"><svg"));
        assert!(!html.contains("<img") && !html.contains("src="));
        // The answer: a winner table per workload, coloured by strategy.
        assert!(html.contains("<h3>stream over loopback: throughput (Gbit/s)</h3>"));
        assert!(html.contains("border-left:6px solid #009e73\">zero-copy</td>"));
        assert!(html.contains("<details><summary>all host facts (env.json)</summary>"));
        for link in ["results.csv", "findings.json", "env.json"] {
            assert!(html.contains(&format!("<a href=\"{link}\">")), "{link}");
        }
        assert!(html.contains("not supported on unix sockets &lt;AF_UNIX&gt;"));
        assert!(html.contains(
            "the kernel copied 100% of zero-copy (MSG_ZEROCOPY) sends on loopback: no copy was avoided"
        ));
        assert!(html.contains("one-copy beats two-copy"));
        // The answer's legend names the strategies this sweep compared, not
        // every strategy copybench has.
        let answer = &html[html.find("<h2>Answer</h2>").unwrap()..html.find("<h3>").unwrap()];
        for s in ["two-copy", "one-copy", "zero-copy"] {
            assert!(answer.contains(&format!("</span>{s}")), "{s} in {answer}");
        }
        assert!(!answer.contains("uring"), "{answer}");
    }

    #[test]
    fn a_sweep_of_stream_only_still_reports() {
        let dir = scratch("stream-only");
        let stream: Vec<Row> = rows()
            .into_iter()
            .filter(|r| r.workload == WorkloadKind::Stream)
            .collect();
        let files = write_report(&dir, &stream, None).unwrap();
        let latency = fs::read_to_string(dir.join("latency_size.svg")).unwrap();
        assert!(latency.contains("no rr cells in results.csv"));
        assert!(fs::read_to_string(&files.index)
            .unwrap()
            .contains("No <code>env.json</code>"));
        write_report(&dir, &[], None).unwrap();
    }

    /// [`rows`], and a twin of each (its own cell number) that `twin` changes.
    fn with_twins(twin: impl Fn(Row) -> Row) -> Vec<Row> {
        let mut all = rows();
        let twins: Vec<Row> = all
            .iter()
            .map(|r| {
                twin(Row {
                    cell: r.cell + 1000,
                    ..r.clone()
                })
            })
            .collect();
        all.extend(twins);
        all
    }

    #[test]
    fn without_two_copy_the_speed_up_is_over_the_baseline_that_was_run() {
        // `sweep --strategies one-copy,zero-copy`: no panel of "nothing
        // compared with two-copy"; zero-copy over one-copy instead, said so.
        let dir = scratch("no-two-copy");
        let rows: Vec<Row> = rows()
            .into_iter()
            .filter(|r| r.strategy != StrategyKind::TwoCopy)
            .collect();
        let files = write_report(&dir, &rows, None).unwrap();
        let svg = fs::read_to_string(dir.join("ratio.svg")).unwrap();
        assert!(svg.contains("Speed-up over one-copy"), "{svg}");
        assert!(!svg.contains("no strategy compared"), "{svg}");
        let html = fs::read_to_string(&files.index).unwrap();
        assert!(html.contains("two-copy was not run, so the baseline is one-copy"));
    }

    #[test]
    fn receive_arms_are_answered_apart_and_plotted_for_the_receiver() {
        // Every cell also with a mapping receiver, slower than its copying twin.
        let dir = scratch("receives");
        let all = with_twins(|r| Row {
            receive: ReceiveKind::Zerocopy,
            throughput_gbps: r.throughput_gbps.map(|g| g / 2.0),
            server_cpu_ns_per_byte: r.server_cpu_ns_per_byte.map(|c| c * 2.0),
            ..r
        });
        let files = write_report(&dir, &all, None).unwrap();
        let html = fs::read_to_string(&files.index).unwrap();
        // A row per receive strategy and per sender at each thread count; a
        // winner only within a row (zero-copy wins among the senders at
        // either receiver, copying wins behind every sender).
        for row in [
            "<th>1: senders, copy rx</th>",
            "<th>1: senders, zerocopy rx</th>",
            "<th>1: receivers behind one-copy</th>",
        ] {
            assert!(html.contains(row), "{row}");
        }
        assert!(html.contains(">zero-copy + zerocopy rx</td>"));
        assert!(!html.contains("Receiver CPU time per byte: not plotted"));
        let rx = fs::read_to_string(dir.join("rx_cpu_per_byte.svg")).unwrap();
        assert!(rx.contains("one-copy + zerocopy rx") && rx.contains("receiver CPU ns/byte"));
        // A sweep of copying receivers says why the plot is not there.
        let dir = scratch("copy-only");
        let files = write_report(&dir, &rows(), None).unwrap();
        assert!(fs::read_to_string(&files.index)
            .unwrap()
            .contains("Receiver CPU time per byte: not plotted, only copying receivers were run"));
    }

    #[test]
    fn each_rcvlowat_is_compared_within_itself() {
        let dir = scratch("rcvlowats");
        let all = with_twins(|r| Row {
            rcvlowat_bytes: Some(512 << 10),
            ..r
        });
        let files = write_report(&dir, &all, None).unwrap();
        let html = fs::read_to_string(&files.index).unwrap();
        assert!(html.contains("<h3>stream over loopback: throughput (Gbit/s)</h3>"));
        assert!(
            html.contains("<h3>stream over loopback, rcvlowat 512 KiB: throughput (Gbit/s)</h3>")
        );
        let cpu = fs::read_to_string(dir.join("cpu_per_byte.svg")).unwrap();
        assert!(
            cpu.contains("one-copy (rcvlowat 512 KiB)")
                && cpu.contains("one-copy (rcvlowat unset)")
        );
        let findings: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&files.findings).unwrap()).unwrap();
        let lowats: BTreeSet<Option<u64>> = findings["crossovers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rcvlowat_bytes"].as_u64())
            .collect();
        assert_eq!(lowats, BTreeSet::from([None, Some(512 << 10)]));
    }

    #[test]
    fn rebuilding_twice_gives_the_same_html() {
        let dir = scratch("rebuild");
        write_csv(&dir.join("results.csv"), &rows());
        fs::write(dir.join("env.json"), r#"{"kernel": "6.1", "cores": 2}"#).unwrap();
        let first = rebuild(&dir).unwrap();
        let html = fs::read(dir.join("index.html")).unwrap();
        let svg = fs::read(dir.join("throughput.svg")).unwrap();
        let second = rebuild(&dir).unwrap();
        assert_eq!(first, second);
        assert_eq!(html, fs::read(dir.join("index.html")).unwrap());
        assert_eq!(svg, fs::read(dir.join("throughput.svg")).unwrap());
        assert_eq!(first, analyze(&rows()));
    }

    #[test]
    fn rebuild_says_what_is_missing() {
        let dir = scratch("empty");
        let err = rebuild(&dir).unwrap_err();
        assert!(matches!(err, ReportError::Io { .. }));
        assert!(err.to_string().contains("results.csv"));
    }

    /// Six samples per ok row on a host that swings ×16 from round to
    /// round, the same swing for every strategy of a round (as in a block,
    /// where the strategies take their samples side by side).
    fn write_swinging_samples(path: &Path, rows: &[Row]) {
        const SWING: [f64; 6] = [0.25, 4.0, 0.5, 2.0, 1.0, 0.7];
        // Throughput goes with the swing, times and costs against it.
        write_samples_scaled(path, rows, |i| {
            let swing = SWING[i as usize];
            (swing, 1.0 / swing)
        });
    }

    #[test]
    fn a_paired_sweep_is_called_round_by_round_and_says_so() {
        use crate::model::host::{RunFacts, SamplingScheme};
        let dir = scratch("paired");
        write_csv(&dir.join("results.csv"), &rows());
        write_swinging_samples(&dir.join("samples.csv"), &rows());
        let comparison = |findings: &serde_json::Value| {
            findings["comparisons"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| {
                    c["metric"] == "throughput_gbps"
                        && c["a"] == "one-copy"
                        && c["b"] == "two-copy"
                        && c["threads"] == 1
                        && c["field_size_bytes"] == 65536
                })
                .unwrap()
                .clone()
        };
        let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap();
        // Unpaired (an env.json without `sampling`): the swing hides one-copy's
        // doubling from the rule for independent samples.
        fs::write(dir.join("env.json"), r#"{"kernel": "6.1"}"#).unwrap();
        let unpaired = rebuild(&dir).unwrap();
        assert!(!unpaired.paired);
        let findings: serde_json::Value = serde_json::from_str(&read("findings.json")).unwrap();
        let c = comparison(&findings);
        assert_eq!(c["verdict"], "≈", "{c}");
        assert!(
            c.get("paired").is_none() && c.get("rounds").is_none(),
            "{c}"
        );
        assert!(findings["rule"].get("paired_call").is_none());
        assert!(!console(&unpaired).contains("paired"));
        assert!(!read("index.html").contains("paired"));
        // Paired: every round's ratio is 2, so the call is made, over the
        // 6 rounds of each of the 2 repetitions.
        let env = SweepEnv {
            run: Some(RunFacts {
                sampling: Some(SamplingScheme::Paired),
                ..RunFacts::default()
            }),
            ..read_env(r#"{"kernel": "6.1"}"#).unwrap()
        };
        fs::write(dir.join("env.json"), serde_json::to_string(&env).unwrap()).unwrap();
        let paired = rebuild(&dir).unwrap();
        assert!(paired.paired);
        assert_eq!(paired.rounds(), Some((12, 12)));
        let findings: serde_json::Value = serde_json::from_str(&read("findings.json")).unwrap();
        let c = comparison(&findings);
        assert_eq!(
            (&c["verdict"], &c["paired"], &c["rounds"]),
            (&"a".into(), &true.into(), &12.into()),
            "{c}"
        );
        assert!((c["ratio"].as_f64().unwrap() - 2.0).abs() < 0.01, "{c}");
        // Each strategy's own interval is still its pooled samples'.
        assert_eq!(c["a_samples"], 12);
        assert!(findings["rule"]["paired_call"]
            .as_str()
            .unwrap()
            .contains("median of the per-round ratios"));
        let crossing = &findings["crossovers"][0];
        assert_eq!(
            (&crossing["paired"], &crossing["rounds"]),
            (&true.into(), &12.into())
        );
        assert!(crossing["finding"]
            .as_str()
            .unwrap()
            .ends_with("; paired over 12 rounds"));
        let text = console(&paired);
        assert!(
            text.starts_with("Findings (main figure, paired over 12 rounds: "),
            "{text}"
        );
        assert!(
            text.contains(
                "stream/loopback throughput (Gbit/s) one-copy vs two-copy   one-copy all"
            ),
            "{text}"
        );
        let html = read("index.html");
        assert!(html.contains(" Calls are paired over 12 rounds: a call needs the 95 % interval of the median per-round ratio wholly beyond ±5 %."), "{html}");
        assert!(html.contains("<li>stream/loopback, throughput (Gbit/s), 1, 2 threads: one-copy beats two-copy at every tested size, from the smallest (64 B–64 KiB); paired over 12 rounds</li>"), "{html}");
        assert!(html.contains("Paired: the point is the median of the per-round ratios"));
    }
}
