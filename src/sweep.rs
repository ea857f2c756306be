//! `copybench sweep`: a matrix of cells run one after another, each row
//! written to `results.csv` and flushed as soon as its cell ends.
//!
//! Contract: connections and threads are made afresh for every cell and torn
//! down before the next. A cell that fails is recorded as failed, with its
//! reason, and the sweep goes on. When the stop flag is raised (SIGINT or
//! SIGTERM in the CLI), the sweep ends after the current cell's teardown and
//! keeps every row already written.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::config::{Config, WorkloadKind};
use crate::error::{Error, Result};
use crate::experiment::{Batch, Experiment};
use crate::figures::BatchReport;
use crate::figures::Row;
use crate::message::Shape;
use crate::strategy::StrategyKind;
use crate::transport::{TransportKind, Veth};

/// What to sweep over, and how long each cell runs.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub strategies: Vec<StrategyKind>,
    pub transports: Vec<TransportKind>,
    pub workloads: Vec<WorkloadKind>,
    pub field_sizes: Vec<usize>,
    pub threads: Vec<usize>,
    pub fields: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub repeat: u32,
    pub veth: Veth,
}

impl Matrix {
    /// The defaults of the issue: every strategy this host can run (the
    /// io_uring ones only where a ring can be made; see `doctor`), loopback,
    /// rr and stream, 64 B to 64 KiB fields, 1 to 8 threads, three repetitions.
    pub fn full() -> Matrix {
        Matrix {
            strategies: StrategyKind::host_default(),
            transports: vec![TransportKind::Loopback],
            workloads: vec![WorkloadKind::Rr, WorkloadKind::Stream],
            field_sizes: vec![64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10],
            threads: vec![1, 2, 4, 8],
            fields: 8,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            repeat: 3,
            veth: Veth::default(),
        }
    }

    /// Short cells and one repetition: the default matrix in about a minute.
    pub fn quick() -> Matrix {
        Matrix {
            warmup: Duration::from_millis(40),
            duration: Duration::from_millis(150),
            repeat: 1,
            ..Matrix::full()
        }
    }

    /// Every cell of the matrix, in the order they run. A strategy a
    /// transport does not support (zero-copy and uring-zc over unix: AF_UNIX
    /// takes no zero-copy sends) is left out.
    pub fn cells(&self) -> Vec<Config> {
        let mut out = Vec::new();
        for &transport in &self.transports {
            for &workload in &self.workloads {
                for &threads in &self.threads {
                    for &field_size in &self.field_sizes {
                        for &strategy in &self.strategies {
                            if !strategy.supports(transport) {
                                continue;
                            }
                            let shape = Shape {
                                fields: self.fields,
                                field_size,
                            };
                            let mut cfg = Config::new(strategy, transport, workload, shape);
                            cfg.threads = threads;
                            cfg.transport.veth = self.veth.clone();
                            out.push(cfg);
                        }
                    }
                }
            }
        }
        out
    }

    /// Checks every cell's limits before anything runs.
    pub fn validate(&self) -> Result<()> {
        for (flag, empty) in [
            ("--strategies", self.strategies.is_empty()),
            ("--transports", self.transports.is_empty()),
            ("--workloads", self.workloads.is_empty()),
            ("--sizes", self.field_sizes.is_empty()),
            ("--threads", self.threads.is_empty()),
        ] {
            if empty {
                return Err(Error::usage(format!("{flag}: give at least one value")));
            }
        }
        if self.repeat == 0 || self.repeat > 100 {
            return Err(Error::usage(format!(
                "--repeat {}: must be 1 to 100",
                self.repeat
            )));
        }
        let cells = self.cells();
        if cells.is_empty() {
            return Err(Error::usage(
                "the matrix is empty: the zero-copy strategies cannot run over unix; add another strategy or transport",
            ));
        }
        for cfg in &cells {
            cfg.validate()?;
        }
        if self.transports.contains(&TransportKind::Veth) {
            cells
                .iter()
                .find(|c| c.transport.kind == TransportKind::Veth)
                .map_or(Ok(()), |c| c.transport.check())?;
        }
        Ok(())
    }
}

/// One `results.csv` row: the cell's settings and either its figures or its failure.
pub fn make_row(
    cell: u32,
    repeat: u32,
    cfg: &Config,
    m: &Matrix,
    outcome: &Result<BatchReport>,
) -> Row {
    let mut row = Row {
        cell,
        repeat,
        strategy: cfg.strategy.name().into(),
        transport: cfg.transport.kind.name().into(),
        server: cfg
            .transport
            .server
            .map_or_else(String::new, |a| a.to_string()),
        workload: cfg.workload.name().into(),
        field_size_bytes: cfg.shape.field_size as u64,
        fields: cfg.shape.fields as u32,
        message_bytes: cfg.shape.message_bytes() as u64,
        threads: cfg.threads as u32,
        warmup_s: m.warmup.as_secs_f64(),
        duration_s: m.duration.as_secs_f64(),
        ..Row::default()
    };
    match outcome {
        Ok(r) => {
            row.status = "ok".into();
            row.fill(r);
        }
        Err(e) => {
            row.status = "failed".into();
            row.error = e.to_string();
        }
    }
    row
}

/// Runs one cell: start, warm up, measure, stop.
pub fn run_cell(cfg: &Config, m: &Matrix) -> Result<BatchReport> {
    let mut exp = Experiment::start(cfg)?;
    if !m.warmup.is_zero() {
        exp.run(Batch::Duration(m.warmup))?;
    }
    let report = exp.run(Batch::Duration(m.duration))?;
    exp.stop()?;
    Ok(report)
}

/// Runs one cell on this host and a `copybench serve`: start, warm up, measure, stop.
pub fn run_remote_cell(
    remote: &mut crate::remote::Remote,
    cfg: &Config,
    m: &Matrix,
) -> Result<BatchReport> {
    let mut exp = remote.start(cfg)?;
    if !m.warmup.is_zero() {
        exp.run(Batch::Duration(m.warmup))?;
    }
    let report = exp.run(Batch::Duration(m.duration))?;
    exp.stop()?;
    Ok(report)
}

/// Where a sweep writes, and whether it was stopped early.
pub struct Outcome {
    pub dir: PathBuf,
    /// The host facts written to `env.json`.
    pub env: Value,
    pub rows: Vec<Row>,
    pub interrupted: bool,
    pub wall: Duration,
}

/// Appends rows to `results.csv`, flushing each one.
pub struct CsvSink {
    writer: csv::Writer<File>,
}

impl CsvSink {
    pub fn create(path: &Path) -> io::Result<CsvSink> {
        Ok(CsvSink {
            writer: csv::Writer::from_writer(File::create(path)?),
        })
    }

    pub fn write(&mut self, row: &Row) -> io::Result<()> {
        self.writer.serialize(row).map_err(io::Error::other)?;
        self.writer.flush()
    }
}

/// A `reports/` directory name from the current UTC time: `20261129-061502`.
pub fn timestamp_name(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!(
        "{y:04}{mo:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Points `reports/latest` at `dir` (a relative symlink beside it).
pub fn point_latest(dir: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let link = parent.join("latest");
    if link.symlink_metadata().is_ok() {
        fs::remove_file(&link)?;
    }
    std::os::unix::fs::symlink(name, link)
}

/// Runs the whole matrix into `dir`. `on_cell(done, total, cfg)` is called
/// before each cell (the CLI's progress bar); `stop` ends the sweep between cells.
pub fn run(
    m: &Matrix,
    dir: &Path,
    stop: &AtomicBool,
    on_cell: impl FnMut(usize, usize, &Config),
) -> Result<Outcome> {
    run_with(m, dir, stop, None, on_cell)
}

/// [`run`], with the server ends on a `copybench serve` when `remote` is
/// given (the matrix's transport is then `tcp`). `env.json` then also holds
/// the server's facts (`server_host`) and address (`server_addr`).
pub fn run_with(
    m: &Matrix,
    dir: &Path,
    stop: &AtomicBool,
    mut remote: Option<&mut crate::remote::Remote>,
    mut on_cell: impl FnMut(usize, usize, &Config),
) -> Result<Outcome> {
    m.validate()?;
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut env = serde_json::to_value(crate::host::gather()).expect("host facts serialize");
    if let (Some(r), Value::Object(obj)) = (remote.as_deref(), &mut env) {
        obj.insert("server_addr".into(), Value::from(r.addr().to_string()));
        obj.insert("server_host".into(), r.server_host().clone());
    }
    let text = serde_json::to_string_pretty(&env).expect("a JSON value serializes");
    fs::write(dir.join("env.json"), text).map_err(|e| Error::io("writing env.json", e))?;
    let csv_path = dir.join("results.csv");
    let mut sink = CsvSink::create(&csv_path)
        .map_err(|e| Error::io(format!("creating {}", csv_path.display()), e))?;
    let cells = m.cells();
    let total = cells.len() * m.repeat as usize;
    let started = Instant::now();
    let mut rows = Vec::with_capacity(total);
    let mut interrupted = false;
    'all: for repeat in 0..m.repeat {
        for (i, cfg) in cells.iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                interrupted = true;
                break 'all;
            }
            on_cell(rows.len(), total, cfg);
            let mut cfg = cfg.clone();
            let outcome = match remote.as_deref_mut() {
                Some(r) => {
                    cfg.transport.server = Some(r.addr());
                    run_remote_cell(r, &cfg, m)
                }
                None => run_cell(&cfg, m),
            };
            let row = make_row(i as u32, repeat, &cfg, m, &outcome);
            sink.write(&row)
                .map_err(|e| Error::io(format!("writing {}", csv_path.display()), e))?;
            rows.push(row);
        }
    }
    Ok(Outcome {
        dir: dir.to_path_buf(),
        env,
        rows,
        interrupted: interrupted || stop.load(Ordering::SeqCst),
        wall: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp_name(SystemTime::UNIX_EPOCH), "19700101-000000");
        // 2000-02-29 12:34:56 UTC, a leap day.
        assert_eq!(
            timestamp_name(SystemTime::UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "20000229-123456"
        );
    }

    #[test]
    fn zero_copy_strategies_over_unix_are_left_out_of_the_matrix() {
        let m = Matrix {
            transports: vec![TransportKind::Unix, TransportKind::Loopback],
            ..Matrix::quick()
        };
        let cells = m.cells();
        assert!(!cells
            .iter()
            .any(|c| c.strategy.has_completions() && c.transport.kind == TransportKind::Unix));
        let (all, zc) = (
            m.strategies.len(),
            m.strategies.iter().filter(|s| s.has_completions()).count(),
        );
        assert_eq!(cells.len(), (all + all - zc) * 2 * 6 * 4);
    }

    #[test]
    fn a_failed_cell_has_its_reason_and_no_figures() {
        let m = Matrix::quick();
        let cfg = &m.cells()[0];
        let row = make_row(3, 1, cfg, &m, &Err(Error::usage("boom")));
        assert_eq!(
            (
                row.status.as_str(),
                row.error.as_str(),
                row.cell,
                row.repeat
            ),
            ("failed", "boom", 3, 1)
        );
        assert_eq!(row.throughput_gbps, None);
        assert_eq!(row.client_user_ns, None);
    }
}
