//! `copybench sweep`: a matrix of cells run block by block, each block's
//! rows written to `results.csv` and flushed as soon as the block ends.
//!
//! Contract: a *block* ([`crate::engine::block`]) is the cells of the matrix that
//! differ only in their strategy (and receive strategy); its arms share
//! one set of connections and threads per receive strategy, made once,
//! sampled side by side in rounds (the arm changes between samples), and
//! torn down before the next block. Sample *i* of every arm of a block (`samples.csv`)
//! is round *i*, which is how a block's arms are paired. Every repetition is
//! a fresh block run, a whole pass apart. An arm that fails is recorded as
//! failed, with its reason, and its block and the sweep go on; a block that
//! runs past its time limit ([`Matrix::block_limit`]) fails every arm still
//! running. When [`Stop::after_cell`] is raised (SIGINT or SIGTERM in the
//! CLI), the sweep ends after the current block's teardown; when
//! [`Stop::now`] is raised (a second signal), the current block is cut short
//! and none of it is recorded. A block's rows are written together: a
//! stopped sweep has whole blocks or none. Every row already written is kept.
//!
//! With `--connect` (the server ends on a `copybench serve`) the protocol
//! runs one cell at a time, so a remote sweep runs a block's arms cell by
//! cell, one after another, as sweeps did before blocks; its rows are still
//! written a block at a time.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::engine::cell::{self, CellResult, Plan, Samples, Sampling};
use crate::engine::config::{Config, Pin};
use crate::engine::error::{Error, Result};
use crate::engine::experiment::{Bound, Experiment};
use crate::engine::message::Shape;
use crate::engine::session::Session;
use crate::engine::transport::Veth;
use crate::model::figures::{Figure, Row};
use crate::model::host::{HostFacts, RunFacts, SamplingScheme, SweepEnv};
use crate::model::key::Status;
use crate::model::kinds::Congestion;
use crate::model::kinds::Layout;
use crate::model::kinds::ReceiveKind;
use crate::model::kinds::StrategyKind;
use crate::model::kinds::TransportKind;
use crate::model::kinds::WorkloadKind;

/// What to sweep over, and how long each cell runs.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub strategies: Vec<StrategyKind>,
    pub transports: Vec<TransportKind>,
    pub workloads: Vec<WorkloadKind>,
    pub field_sizes: Vec<usize>,
    pub layouts: Vec<Layout>,
    /// Receive strategies; with [`ReceiveKind::Zerocopy`] among them every
    /// TCP cell runs at TCP_MAXSEG a page + 12 (its arms share the MSS).
    pub receives: Vec<ReceiveKind>,
    /// `SO_RCVLOWAT` values (`--rcvlowats`; `None`: not set, the kernel's
    /// 1), a cell dimension like the field size: each value's cells are
    /// blocks of their own (see docs/receive.md for why not arms).
    pub rcvlowats: Vec<Option<usize>>,
    pub threads: Vec<usize>,
    pub fields: usize,
    pub warmup: Duration,
    /// Most measured time per arm of a block and repetition (the cap of
    /// [`Sampling`]; passed to reach six rounds, see [`crate::engine::block`]).
    pub duration: Duration,
    /// Length of one sample.
    pub sample: Duration,
    /// Target relative half-width of each cell's main figure.
    pub precision: f64,
    pub repeat: u32,
    /// Longest a cell may take, start to teardown; `None`: [`Matrix::cell_limit`]'s default.
    /// A block's limit is this per arm ([`Matrix::block_limit`]).
    pub cell_limit: Option<Duration>,
    pub veth: Veth,
    /// `TCP_CONGESTION` of every TCP cell's sockets (`--congestion`); the
    /// host's default when `None`.
    pub congestion: Option<Congestion>,
    /// CPUs for the worker threads of every cell, or unpinned.
    pub pin: Option<Pin>,
    /// The command line that asked for the sweep, recorded in env.json.
    pub command: String,
}

/// Slack a cell gets beyond its warm-up and duration for starting its
/// threads, making its connections and tearing them down.
pub(crate) const CELL_SLACK: Duration = Duration::from_secs(5);

/// How a sweep is asked to stop: after the current block, or now (the block
/// running is cut short and not recorded).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub after_cell: Arc<AtomicBool>,
    pub now: Arc<AtomicBool>,
}

impl Matrix {
    /// The defaults: every strategy this host can run (the io_uring ones
    /// only where a ring can be made; see `doctor`), loopback, rr and
    /// stream, 64 B to 64 KiB fields, 1 to 8 threads; three repetitions of
    /// every block ([`crate::engine::block`]), its arms sampled side by side in
    /// rounds of 20 ms samples until every pair is decided, at most 0.4 s of
    /// measured time per arm (six rounds at least), after 0.1 s of warm-up.
    ///
    /// # Budget (the full default sweep ≤ 10 min on a 2-CPU VM)
    ///
    /// 48 blocks × 5 arms × 3 repetitions = 720 runs. Per repetition:
    /// - rr, 24 blocks: every arm runs to the 0.4 s cap (a pair rarely
    ///   settles early: one straddling the band's edge keeps a block going),
    ///   24 × 5 × 0.4 s = 48 s;
    /// - stream at 1–2 threads, 12 blocks: to the cap too, 12 × 5 × 0.4 s = 24 s;
    /// - stream at 4–8 threads, 12 blocks: a sample takes 35–80 ms there (the
    ///   receivers verify what is queued when the senders stop), so the cap
    ///   ends them after 6–10 rounds, a little past it: ~12 × 5 × 0.45 s = 27 s;
    /// - warm-up, 240 × 0.1 s (more where a stream drains) = 25–30 s, and
    ///   setting up and tearing down 240 arms' connections, ~6 s.
    ///
    /// ≈ 130 s a repetition, ≈ 6.5 min for three plus the report; measured
    /// on this VM: 5 min 58 s (263 s of it measured time, 60 of the 720
    /// runs' blocks decided before the cap).
    pub fn full() -> Matrix {
        Matrix {
            strategies: StrategyKind::host_default(),
            transports: vec![TransportKind::Loopback],
            workloads: vec![WorkloadKind::Rr, WorkloadKind::Stream],
            field_sizes: vec![64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10],
            layouts: vec![Layout::Heap],
            receives: vec![ReceiveKind::Copy],
            rcvlowats: vec![None],
            threads: vec![1, 2, 4, 8],
            fields: 8,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
            sample: Duration::from_millis(20),
            precision: 0.02,
            repeat: 3,
            cell_limit: None,
            veth: Veth::default(),
            congestion: None,
            pin: None,
            command: String::new(),
        }
    }

    /// Short blocks, one repetition: 5 ms samples after 20 ms of warm-up per
    /// arm, rounds until every pair is decided, at most 0.2 s of measured
    /// time per arm (six rounds at least). The arms of a block run side by side,
    /// so the drift between them that made the cell-by-cell sweep need two
    /// repetitions a pass apart cancels in the paired ratios.
    ///
    /// The warm-up is long for 5 ms samples on purpose: a loopback stream
    /// connection's first tens of milliseconds are not its steady state
    /// (its throughput moves 2–4× while the kernel sizes its buffers). When
    /// each arm had connections of its own, 10 ms made three back-to-back
    /// sweeps agree on 100 of 336 calls, 50 ms on 157. Now that a block's
    /// arms share one set, its connections warm up for the five arms'
    /// warm-ups together (100 ms at 20 ms each), and the time saved buys
    /// rounds: measured on this VM, three back-to-back sweeps at 50 ms and
    /// a 0.1 s cap agreed on 134 calls, at 50 ms and 0.15 s on 146, at
    /// 20 ms and 0.2 s on 154 (0 contradicting in any of the nine).
    ///
    /// # Budget (`sweep --quick` ≤ 60 s on a 2-CPU VM)
    ///
    /// 48 blocks × 5 arms = 240 runs:
    /// - rr, 24 blocks: a 5 ms sample measures ~6–7 ms (the batch's start
    ///   and end), so an arm reaches the 0.2 s cap in 25–35 rounds (a block
    ///   of five rarely has every pair decided sooner): 24 × 5 × 0.2 s = 24 s;
    /// - stream at 1–2 threads, 12 blocks: to the cap or a little past it:
    ///   ~12 × 5 × 0.21 s = 13 s;
    /// - stream at 4–8 threads, 12 blocks: a sample takes 10–40 ms whatever
    ///   its length (the receivers verify what is queued when the senders
    ///   stop), so these blocks end at the cap after 6–10 rounds:
    ///   ~12 × 5 × 0.17 s = 10 s;
    /// - warm-up, 240 × 0.02 s ≈ 5 s (a little more where a stream drains);
    /// - setting up and tearing down 48 blocks' connections, gathering the
    ///   host facts and writing the report: ~2 s.
    ///
    /// ≈ 50–55 s; measured on this VM, three back to back: 52.0, 52.2,
    /// 52.1 s.
    pub fn quick() -> Matrix {
        Matrix {
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(200),
            sample: Duration::from_millis(5),
            precision: 0.05,
            repeat: 1,
            ..Matrix::full()
        }
    }

    /// Every cell of the matrix, in the order they run. A strategy a
    /// transport does not support (zero-copy and uring-zc over unix: AF_UNIX
    /// takes no zero-copy sends; zerocopy receive over unix: nothing to map)
    /// is left out.
    pub fn cells(&self) -> Vec<Config> {
        let mut out = Vec::new();
        for &transport in &self.transports {
            for &workload in &self.workloads {
                for &threads in &self.threads {
                    for (&field_size, &rcvlowat) in self
                        .field_sizes
                        .iter()
                        .flat_map(|f| self.rcvlowats.iter().map(move |r| (f, r)))
                    {
                        for &layout in &self.layouts {
                            for &strategy in &self.strategies {
                                if !strategy.supports(transport) {
                                    continue;
                                }
                                for &receive in &self.receives {
                                    if !receive.supports(transport) {
                                        continue;
                                    }
                                    let shape = Shape {
                                        fields: self.fields,
                                        field_size,
                                    };
                                    let mut cfg = Config::new(strategy, transport, workload, shape);
                                    cfg.threads = threads;
                                    cfg.layout = layout;
                                    cfg.receive = receive;
                                    cfg.rcvlowat = rcvlowat;
                                    if self.receives.contains(&ReceiveKind::Zerocopy)
                                        && transport != TransportKind::Unix
                                    {
                                        cfg.transport.maxseg = Some(crate::engine::recv::map_mss());
                                    }
                                    cfg.transport.veth = self.veth.clone();
                                    if transport != TransportKind::Unix {
                                        cfg.transport.congestion = self.congestion.clone();
                                    }
                                    cfg.pin = self.pin.clone();
                                    out.push(cfg);
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Longest a cell (an arm of a block) may take: `--cell-limit`, or its
    /// warm-up + [`crate::engine::block::HARD_CAP`] × duration (how far an arm may run to
    /// reach six rounds) + [`CELL_SLACK`].
    pub fn cell_limit(&self) -> Duration {
        self.cell_limit.unwrap_or(
            self.warmup + self.duration.mul_f64(crate::engine::block::HARD_CAP) + CELL_SLACK,
        )
    }

    /// Longest a block of `arms` arms may take, start to teardown:
    /// [`Matrix::cell_limit`] for each arm.
    pub fn block_limit(&self, arms: usize) -> Duration {
        self.cell_limit() * arms.max(1) as u32
    }

    /// Checks every cell's limits before anything runs.
    pub fn validate(&self) -> Result<()> {
        for (flag, empty) in [
            ("--strategies", self.strategies.is_empty()),
            ("--transports", self.transports.is_empty()),
            ("--workloads", self.workloads.is_empty()),
            ("--sizes", self.field_sizes.is_empty()),
            ("--layouts", self.layouts.is_empty()),
            ("--receives", self.receives.is_empty()),
            ("--rcvlowats", self.rcvlowats.is_empty()),
            ("--threads", self.threads.is_empty()),
        ] {
            if empty {
                return Err(Error::usage(format!("{flag}: give at least one value")));
            }
        }
        if !(self.precision > 0.0 && self.precision <= 1.0) {
            return Err(Error::usage(format!(
                "--precision {}: must be more than 0 and at most 100 (percent)",
                self.precision * 100.0
            )));
        }
        if self.sample.is_zero() || self.sample > self.duration {
            return Err(Error::usage(format!(
                "--sample {}: must be more than 0 and at most --duration ({} s)",
                self.sample.as_secs_f64(),
                self.duration.as_secs_f64()
            )));
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
        let busy = self.warmup + self.duration;
        if self.cell_limit() <= busy {
            return Err(Error::usage(format!(
                "--cell-limit {}: must be more than --warmup + --duration ({} s)",
                crate::engine::config::show_number(self.cell_limit().as_secs_f64()),
                crate::engine::config::show_number(busy.as_secs_f64())
            )));
        }
        if self.transports.contains(&TransportKind::Veth) {
            cells
                .iter()
                .find(|c| c.transport.kind == TransportKind::Veth)
                .map_or(Ok(()), |c| c.transport.check())?;
        }
        if let Some(cc) = &self.congestion {
            // Every TCP cell carries it; with none, it would be ignored.
            match cells.iter().find(|c| c.transport.congestion.is_some()) {
                Some(c) => c.transport.check()?,
                None => {
                    return Err(Error::usage(format!(
                        "--congestion {cc}: applies to TCP transports, and this sweep runs only unix; add --transports loopback, or leave --congestion out"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// One `results.csv` row: the cell's settings and either its figures
/// ([`Row::fill`]) or its failure.
pub fn make_row(
    cell: u32,
    repeat: u32,
    cfg: &Config,
    m: &Matrix,
    outcome: &Result<CellResult>,
) -> Row {
    let cpus = |pick: fn(&Pin) -> &Vec<usize>| {
        cfg.pin
            .as_ref()
            .map_or(String::new(), |p| Pin::list(pick(p)))
    };
    let mut row = Row {
        cell,
        repeat,
        strategy: cfg.strategy,
        transport: cfg.transport.kind,
        server: cfg
            .transport
            .server
            .map_or_else(String::new, |a| a.to_string()),
        workload: cfg.workload,
        field_size_bytes: cfg.shape.field_size as u64,
        fields: cfg.shape.fields as u32,
        layout: cfg.layout,
        receive: cfg.receive,
        rcvlowat_bytes: cfg.rcvlowat.map(|n| n as u64),
        message_bytes: cfg.shape.message_bytes() as u64,
        threads: cfg.threads as u32,
        client_cpus: cpus(|p| &p.client),
        server_cpus: cpus(|p| &p.server),
        warmup_s: m.warmup.as_secs_f64(),
        duration_s: m.duration.as_secs_f64(),
        sample_s: m.sample.as_secs_f64(),
        precision_target: m.precision,
        main_figure: Figure::main(cfg.workload).column().into(),
        ..Row::default()
    };
    match outcome {
        Ok(result) => {
            row.status = Status::Ok;
            row.fill(result);
        }
        Err(e) => {
            row.status = Status::Failed;
            row.error = e.to_string();
        }
    }
    row
}

impl Matrix {
    /// How each cell is measured once started: its warm-up, then samples
    /// until precise or capped.
    pub fn plan(&self) -> Plan {
        Plan {
            warmup: self.warmup,
            samples: Samples::Until(self.sampling()),
        }
    }

    /// How each cell (each arm of a block) is cut into samples.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            sample: self.sample,
            precision: self.precision,
            cap: self.duration,
        }
    }
}

/// Runs one cell on this host (whose facts are `host`): start, warm up,
/// sample until precise or capped, stop.
pub fn run_cell(cfg: &Config, m: &Matrix, host: &Arc<HostFacts>) -> Result<CellResult> {
    start_session(std::slice::from_ref(cfg), None, Bound::default())
        .and_then(|session| cell::run(session, &m.plan(), host))
        .map(|(result, _)| result)
}

/// Starts one cell, or a block's arms over one set of connections
/// ([`Experiment::start_arms`]): on this host, ended early (with an error)
/// when `bound` says so, or with its server ends on the `copybench serve`
/// of `remote` (which its own `--timeout` bounds instead).
fn start_session(
    cfgs: &[Config],
    remote: Option<&crate::remote::Remote>,
    bound: Bound,
) -> Result<Box<dyn Session>> {
    Ok(match remote {
        Some(r) => Box::new(r.start_arms(cfgs)?),
        None => Box::new(Experiment::start_arms(cfgs, bound)?),
    })
}

/// Runs one block: the cells `arms` (alike but for the strategy) side by
/// side, round by round ([`crate::engine::block::run_block`]). On this
/// host, the whole block is bounded by [`Matrix::block_limit`] and by
/// `cancel` (the second signal); with its server ends on the `copybench
/// serve` of `remote` (one cell at a time there, so arms that need
/// connections of their own cannot be a remote block), by the session's
/// own `--timeout`.
pub(crate) fn run_block_bounded(
    arms: &[Config],
    m: &Matrix,
    host: &Arc<HostFacts>,
    cancel: &Arc<AtomicBool>,
    remote: Option<&crate::remote::Remote>,
) -> crate::engine::block::BlockResult {
    let limit = m.block_limit(arms.len());
    let bound = Bound {
        cancel: Some(Arc::clone(cancel)),
        deadline: Some((
            Instant::now() + limit,
            if arms.len() == 1 {
                format!(
                    "--cell-limit {} s",
                    crate::engine::config::show_number(m.cell_limit().as_secs_f64())
                )
            } else {
                format!(
                    "--cell-limit {} s for each of the block's {} strategies",
                    crate::engine::config::show_number(m.cell_limit().as_secs_f64()),
                    arms.len()
                )
            },
        )),
    };
    crate::engine::block::run_block(
        arms,
        |cfgs| start_session(cfgs, remote, bound.clone()),
        host,
        m.warmup,
        &m.sampling(),
    )
}

/// Whether the arms of a block can run as one block over `--connect`:
/// all of them over one set of connections (the server runs one cell at a
/// time).
fn remote_block(arms: &[Config]) -> bool {
    crate::engine::block::shared_groups(arms)
        .iter()
        .all(|&g| g == 0)
}

/// Where a sweep writes, and whether it was stopped early.
pub struct Outcome {
    pub dir: PathBuf,
    /// The host facts written to `env.json`.
    pub env: SweepEnv,
    pub rows: Vec<Row>,
    pub interrupted: bool,
    pub wall: Duration,
}

/// Appends rows to a CSV file (`results.csv`, `samples.csv`), flushing
/// after each cell. Appending to a file that has rows writes no second header.
pub struct CsvSink {
    writer: csv::Writer<File>,
}

impl CsvSink {
    pub fn create(path: &Path) -> io::Result<CsvSink> {
        CsvSink::open(path, false)
    }

    /// Opens `path` to add rows after those it has (`append`), or afresh.
    pub fn open(path: &Path, append: bool) -> io::Result<CsvSink> {
        let has_rows = append && fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)?;
        Ok(CsvSink {
            writer: csv::WriterBuilder::new()
                .has_headers(!has_rows)
                .from_writer(file),
        })
    }

    pub fn write(&mut self, row: &impl serde::Serialize) -> io::Result<()> {
        self.writer.serialize(row).map_err(io::Error::other)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// The header line a CSV file of `T` rows is written with.
fn header_of<T: serde::Serialize + Default>() -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(T::default()).expect("a default row serializes");
    let bytes = w.into_inner().expect("writing to memory");
    String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Rewrites the CSV file at `path` as `rows` under the current header when
/// its header is another (an older copybench's); leaves it alone otherwise.
fn upgrade_header<T: serde::Serialize + Default>(path: &Path, rows: &[T]) -> io::Result<()> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() || first == header_of::<T>() {
        return Ok(());
    }
    let mut sink = CsvSink::open(path, false)?;
    for row in rows {
        sink.write(row)?;
    }
    sink.flush()
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

/// `2026-11-29 06:15:02 UTC`, for people.
pub(crate) fn utc_text(now: SystemTime) -> String {
    let t = timestamp_name(now);
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
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

/// What the sweep tells its caller as it goes (the CLI's progress bar and
/// per-cell lines).
pub enum Progress<'a> {
    /// A block is about to run (`cfg` is its first arm to run); `done` of
    /// `total` runs are finished.
    Start {
        done: usize,
        total: usize,
        cfg: &'a Config,
    },
    /// A run (an arm of the block that just ended) finished, or failed,
    /// with this row; one per arm, after the block's rows are written.
    Done {
        done: usize,
        total: usize,
        row: &'a Row,
    },
}

/// Runs the whole matrix into `dir`, block by block; `stop` ends the sweep
/// between blocks, or at once. Each local block is bounded by
/// [`Matrix::block_limit`].
///
/// A `dir` that already holds a sweep is refused (exit 2, naming `--out`)
/// unless `resume`: then its rows are kept, the runs they cover (same
/// configuration and repetition) are skipped, and new rows are appended. A
/// block whose rows for a repetition all exist is skipped whole; one with
/// some (the matrix gained a strategy, say) runs only its missing arms, side
/// by side: their rounds are not those of the rows already there.
pub fn run(
    m: &Matrix,
    dir: &Path,
    resume: bool,
    stop: &Stop,
    progress: impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    run_with(m, dir, resume, stop, None, progress)
}

/// [`run`], with the server ends on a `copybench serve` when `remote` is
/// given (the matrix's transport is then `tcp`). `env.json` then also holds
/// the server's facts (`server_host`) and address (`server_addr`). Remote
/// cells are not bounded by the cell limit or the second signal (the
/// server's own `--timeout` bounds them).
pub fn run_with(
    m: &Matrix,
    dir: &Path,
    resume: bool,
    stop: &Stop,
    remote: Option<&mut crate::remote::Remote>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    m.validate()?;
    let csv_path = dir.join("results.csv");
    let samples_path = dir.join("samples.csv");
    // The same check the CLI makes before anything runs, for library callers.
    crate::engine::limits::check_out_dir(dir, resume)?;
    let mut rows = Vec::new();
    if resume && csv_path.exists() {
        rows = crate::report::read_results(&csv_path)
            .map_err(|e| Error::usage(format!("--resume: {e}")))?;
    }
    let cells = m.cells();
    let blocks = crate::engine::block::blocks_of(&cells);
    let env = SweepEnv {
        host: Arc::new(crate::engine::probe::gather()),
        run: Some(RunFacts {
            command: Some(m.command.clone()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            started_utc: Some(utc_text(SystemTime::now())),
            congestion: m.congestion.clone(),
            default_rcvlowat: Some(crate::model::host::DefaultMark {
                bytes: crate::engine::recv::AUTO_LOWAT as u64,
                min_mss: u64::from(crate::engine::recv::AUTO_MIN_MSS),
            }),
            // A sweep's unit is a block: its strategies' samples rotate
            // round by round, so the report pairs them. Not a remote sweep
            // whose blocks need connections of their own per arm (they run
            // cell by cell), nor one resuming rows that were not paired (an
            // older sweep's).
            sampling: Some({
                let paired_so_far = !resume
                    || rows.is_empty()
                    || fs::read_to_string(dir.join("env.json"))
                        .ok()
                        .and_then(|text| crate::report::read_env(&text).ok())
                        .is_some_and(|env| env.paired());
                let blocks_pair = remote.is_none()
                    || blocks.iter().all(|b| {
                        remote_block(&b.iter().map(|&i| cells[i].clone()).collect::<Vec<_>>())
                    });
                if blocks_pair && paired_so_far {
                    SamplingScheme::Paired
                } else {
                    SamplingScheme::Sequential
                }
            }),
        }),
        server_addr: remote.as_deref().map(|r| r.addr().to_string()),
        server_host: remote.as_deref().and_then(|r| r.server_host()),
    };
    let text = serde_json::to_string_pretty(&env).expect("host facts serialize");
    fs::write(dir.join("env.json"), text).map_err(|e| Error::io("writing env.json", e))?;
    if resume {
        // A file from an older copybench (without `receive`, say) gets the
        // current header and its rows rewritten with their defaults, so
        // that the rows appended below line up with its columns.
        upgrade_header(&csv_path, &rows)
            .map_err(|e| Error::io(format!("rewriting {}", csv_path.display()), e))?;
        let old_samples = csv::Reader::from_path(&samples_path).and_then(|mut r| {
            r.deserialize()
                .collect::<std::result::Result<Vec<crate::model::figures::SampleRow>, _>>()
        });
        if let Ok(old_samples) = old_samples {
            upgrade_header(&samples_path, &old_samples)
                .map_err(|e| Error::io(format!("rewriting {}", samples_path.display()), e))?;
        }
    }
    let mut sink = CsvSink::open(&csv_path, resume)
        .map_err(|e| Error::io(format!("creating {}", csv_path.display()), e))?;
    let mut samples = CsvSink::open(&samples_path, resume)
        .map_err(|e| Error::io(format!("creating {}", samples_path.display()), e))?;
    let done_before: std::collections::BTreeSet<_> = rows.iter().map(Row::run_key).collect();
    let total = cells.len() * m.repeat as usize;
    let started = Instant::now();
    let mut done = 0;
    let mut interrupted = false;
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |e| Error::io(format!("writing {path}"), e)
    };
    'all: for repeat in 0..m.repeat {
        for block in &blocks {
            // The arms of this block that have no row for this repetition
            // yet (all of them, unless resuming).
            let todo: Vec<usize> = block
                .iter()
                .copied()
                .filter(|&i| {
                    let skipped = make_row(i as u32, repeat, &cells[i], m, &Err(Error::usage("")));
                    !done_before.contains(&skipped.run_key())
                })
                .collect();
            done += block.len() - todo.len();
            if todo.is_empty() {
                continue;
            }
            if stop.after_cell.load(Ordering::SeqCst) || stop.now.load(Ordering::SeqCst) {
                interrupted = true;
                break 'all;
            }
            progress(Progress::Start {
                done,
                total,
                cfg: &cells[todo[0]],
            });
            let mut arms: Vec<Config> = todo.iter().map(|&i| cells[i].clone()).collect();
            if let Some(r) = remote.as_deref() {
                for cfg in &mut arms {
                    cfg.transport.server = Some(r.addr());
                }
            }
            let outcomes: Vec<(usize, Config, Result<CellResult>)> = match remote.as_deref() {
                // The server runs one cell at a time: arms that need
                // connections of their own run cell by cell.
                Some(r) if !remote_block(&arms) => todo
                    .iter()
                    .zip(arms)
                    .map(|(&i, cfg)| {
                        let outcome =
                            start_session(std::slice::from_ref(&cfg), Some(r), Bound::default())
                                .and_then(|session| cell::run(session, &m.plan(), &env.host))
                                .map(|(result, _)| result);
                        (i, cfg, outcome)
                    })
                    .collect(),
                r => {
                    let result = run_block_bounded(&arms, m, &env.host, &stop.now, r);
                    todo.iter()
                        .zip(arms)
                        .zip(result.arms)
                        .map(|((&i, cfg), outcome)| (i, cfg, outcome))
                        .collect()
                }
            };
            if outcomes.iter().any(|(_, _, o)| o.is_err()) && stop.now.load(Ordering::SeqCst) {
                // Cut short by the second signal: not a measurement, not a
                // failure; nothing of the block is written.
                interrupted = true;
                break 'all;
            }
            let mut block_rows = Vec::with_capacity(outcomes.len());
            for (i, cfg, outcome) in &outcomes {
                let row = make_row(*i as u32, repeat, cfg, m, outcome);
                if let Ok(result) = outcome {
                    for s in result.sample_rows(*i as u32, repeat) {
                        samples.write(&s).map_err(write_error(&samples_path))?;
                    }
                }
                sink.write(&row).map_err(write_error(&csv_path))?;
                block_rows.push(row);
            }
            samples.flush().map_err(write_error(&samples_path))?;
            sink.flush().map_err(write_error(&csv_path))?;
            for row in block_rows {
                done += 1;
                progress(Progress::Done {
                    done,
                    total,
                    row: &row,
                });
                rows.push(row);
            }
        }
    }
    Ok(Outcome {
        dir: dir.to_path_buf(),
        env,
        rows,
        interrupted: interrupted
            || stop.after_cell.load(Ordering::SeqCst)
            || stop.now.load(Ordering::SeqCst),
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
        assert_eq!(
            utc_text(SystemTime::UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "2000-02-29 12:34:56 UTC"
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
            (row.status.name(), row.error.as_str(), row.cell, row.repeat),
            ("failed", "boom", 3, 1)
        );
        assert_eq!(row.throughput_gbps, None);
        assert_eq!(row.client_user_ns, None);
    }
}
