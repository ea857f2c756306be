//! A cell's measured time as consecutive samples, and how long to keep
//! sampling.
//!
//! [`measure`] is the one loop every command measures a started cell
//! ([`Session`]) with: a warm-up batch, then its [`Samples`]. With
//! [`Samples::Until`], it runs batches of [`Sampling::sample`] one
//! after another over the same connections and threads; each batch is one
//! sample of every figure of [`SAMPLED`]. It stops once the main figure's
//! interval (see [`crate::model::stats`]) is within [`Sampling::precision`] of its
//! median — never before [`crate::model::stats::MIN_SAMPLES`] samples — or once the
//! measured time reaches [`Sampling::cap`], whichever comes first, and says
//! which. A sample can take longer than asked (the receivers verify what is
//! still queued when the sender stops), so the cap may be passed to reach
//! [`crate::model::stats::MIN_SAMPLES`] samples, never beyond 1.5 times the cap.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::engine::config::Config;
use crate::engine::error::Result;
use crate::engine::experiment::{Batch, SocketBuffers};
use crate::engine::session::Session;
use crate::model::figures::{Figure, Row, SampleRow, SAMPLED};
use crate::model::host::HostFacts;
use crate::model::kinds::Role;
use crate::model::measured::BatchReport;
use crate::model::stats::{Estimate, MIN_SAMPLES};

/// How a cell is cut into samples and when it stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Length of one sample (one batch).
    pub sample: Duration,
    /// Target relative half-width of the main figure's interval, e.g. 0.02.
    pub precision: f64,
    /// Most measured time per cell (per repetition).
    pub cap: Duration,
}

/// Whether `samples` (of the main figure) are enough to stop.
pub fn precise_enough(values: &[f64], precision: f64) -> bool {
    values.len() >= MIN_SAMPLES
        && Estimate::of(values.iter().copied()).is_some_and(|e| e.within(precision))
}

/// The samples a cell is cut into.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    /// Exactly these batches, in order (`run`'s `--samples` of `--duration`
    /// or `--messages`). The cell ends when they are done, so it counts as
    /// precise: there is no cap to end it first.
    Fixed(Vec<Batch>),
    /// Samples of [`Sampling::sample`] until the main figure is precise or
    /// the cap is reached (a sweep's cell).
    Until(Sampling),
}

/// How a started cell is measured: a warm-up batch that is not counted
/// (none when zero), then its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub warmup: Duration,
    pub samples: Samples,
}

/// The one loop every command measures a cell with (`run`, `sweep`, local
/// or `--connect`): warms `session` up, runs its samples, and returns the
/// measured cell. `host` is this host's facts, shared; the server's come
/// from the session. The session is left running: its caller reads the
/// socket buffers and stops it (see [`crate::engine::session`]).
pub fn measure(
    session: &mut dyn Session,
    plan: &Plan,
    host: &Arc<HostFacts>,
) -> Result<CellResult> {
    if !plan.warmup.is_zero() {
        session.run(Batch::Duration(plan.warmup))?;
    }
    let cfg = session.config().clone();
    let (samples, precise) = match &plan.samples {
        Samples::Fixed(batches) => {
            let samples = batches
                .iter()
                .map(|&b| session.run(b))
                .collect::<Result<Vec<_>>>()?;
            (samples, true)
        }
        Samples::Until(s) => until_precise(session, &cfg, s)?,
    };
    Ok(CellResult {
        server_host: session.server_host(),
        ..CellResult::new(cfg, samples, precise, Arc::clone(host))
    })
}

/// Samples until the main figure is precise or the cap is reached (at least
/// one sample either way); returns them and whether it was precise.
fn until_precise(
    session: &mut dyn Session,
    cfg: &Config,
    s: &Sampling,
) -> Result<(Vec<BatchReport>, bool)> {
    let main = Figure::main(cfg.workload);
    let mut samples: Vec<BatchReport> = Vec::new();
    let mut values = Vec::new();
    let mut measured = 0.0;
    let precise = loop {
        let r = session.run(Batch::Duration(s.sample))?;
        measured += r.seconds;
        values.extend(main.of(&r).filter(|v| v.is_finite()));
        samples.push(r);
        if precise_enough(&values, s.precision) {
            break true;
        }
        // Stop when one more sample would cross the cap, once there are
        // enough samples for a 95 % interval; never past 1.5 times the cap.
        let cap = s.cap.as_secs_f64();
        let next = measured + s.sample.as_secs_f64();
        if (samples.len() >= MIN_SAMPLES && next > cap) || next > 1.5 * cap {
            break false;
        }
    };
    Ok((samples, precise))
}

/// Measures a started cell by `plan` ([`measure`]), reads its socket
/// buffers, and stops it: the whole life of a cell after its start.
pub fn run(
    mut session: Box<dyn Session + '_>,
    plan: &Plan,
    host: &Arc<HostFacts>,
) -> Result<(CellResult, SocketBuffers)> {
    let cell = measure(session.as_mut(), plan, host)?;
    let buffers = session.socket_buffers();
    session.stop()?;
    Ok((cell, buffers))
}

/// One measured cell (one repetition), typed: what ran, each sample's report
/// and their total, whether the main figure reached its precision target, and
/// the host(s) it ran on. It is what [`measure`] returns (for a
/// local cell and for one whose server ends ran on a `copybench serve`), and
/// everything copybench prints about a measured cell is derived from it: its
/// `results.csv` row ([`Row::fill`]), its `samples.csv` rows
/// ([`CellResult::sample_rows`]), and `run`'s JSON object and table
/// (`crate::output`).
///
/// The host facts are gathered once per command (by the sweep, for env.json
/// too) and shared (`Arc`) by every cell, so they cost a pointer per cell.
/// They explain figures (the kernel, the cores, `max_skb_frags` for fragments
/// per send, why a counter is empty). They are not `results.csv` columns:
/// they are the same on every row of a sweep, and env.json holds them once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub config: Config,
    /// Each sample's own report, in order (at least one).
    pub samples: Vec<BatchReport>,
    /// All samples merged: total time, messages, bytes, CPU, counters,
    /// latencies, zero-copy bookkeeping.
    pub total: BatchReport,
    /// Whether the main figure ([`CellResult::main`]) reached the precision
    /// target; `false`: the time cap ended the cell first. (`run`'s fixed
    /// number of samples counts as reached.)
    pub precise: bool,
    /// Where this process ran: the client ends, and the server ends too
    /// unless `server_host` is given.
    pub host: Arc<HostFacts>,
    /// With `--connect`: the host the server ends ran on (its `serve`), when
    /// it sent its facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_host: Option<Arc<HostFacts>>,
}

impl CellResult {
    /// A cell of the given samples, in order, measured on `host` (a
    /// `--connect` cell sets [`CellResult::server_host`] too).
    ///
    /// # Panics
    /// If `samples` is empty: a measured cell has at least one sample.
    pub fn new(
        config: Config,
        samples: Vec<BatchReport>,
        precise: bool,
        host: Arc<HostFacts>,
    ) -> CellResult {
        let (first, rest) = samples
            .split_first()
            .expect("a measured cell has at least one sample");
        let mut total = first.clone();
        for r in rest {
            total.merge(r);
        }
        CellResult {
            config,
            samples,
            total,
            precise,
            host,
            server_host: None,
        }
    }

    /// The figure the cell was sampled until precise ([`Figure::main`] of its workload).
    pub fn main(&self) -> Figure {
        Figure::main(self.config.workload)
    }

    /// One figure's value in every sample that measured it.
    pub fn values(&self, f: Figure) -> Vec<f64> {
        self.samples
            .iter()
            .filter_map(|s| f.of(s))
            .filter(|v| v.is_finite())
            .collect()
    }

    /// One figure's median and interval over the samples.
    pub fn estimate(&self, f: Figure) -> Option<crate::model::stats::Estimate> {
        crate::model::stats::Estimate::of(self.values(f))
    }

    /// Relative half-width the main figure's interval reached.
    pub fn reached(&self) -> Option<f64> {
        self.estimate(self.main()).map(|e| e.relative_half_width())
    }

    /// Its `samples.csv` rows, as cell `cell` and repetition `repeat` of a
    /// sweep: each sample's [`SAMPLED`] figures.
    pub fn sample_rows(&self, cell: u32, repeat: u32) -> Vec<SampleRow> {
        let cfg = &self.config;
        self.samples
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s = SampleRow {
                    cell,
                    repeat,
                    sample: i as u32,
                    strategy: cfg.strategy,
                    transport: cfg.transport.kind,
                    workload: cfg.workload,
                    field_size_bytes: cfg.shape.field_size as u64,
                    threads: cfg.threads as u32,
                    receive: cfg.receive,
                    elapsed_s: r.seconds,
                    messages: r.messages,
                    ..SampleRow::default()
                };
                for f in SAMPLED {
                    s.set(f, f.of(r).filter(|v| v.is_finite()));
                }
                s
            })
            .collect()
    }

    /// The facts of the host the given role's ends ran on.
    pub fn host_of(&self, role: Role) -> &HostFacts {
        match (role, &self.server_host) {
            (Role::Server, Some(server)) => server,
            _ => &self.host,
        }
    }

    /// Whether a send of this cell needed more fragments than the host of
    /// its sending ends allows (so the kernel split it); `None` when either
    /// is unknown.
    pub fn exceeds_fragment_limit(&self) -> Option<bool> {
        let z = self.total.zerocopy.as_ref().filter(|z| z.messages > 0)?;
        let limit = self.host_of(Role::Client).max_skb_frags?;
        Some(z.max_fragments > limit)
    }
}

impl Row {
    /// Sets every figure from one measured cell: counts, times, CPU and
    /// counters over all its samples, then every [`SAMPLED`] figure as the
    /// median of the samples with its 95 % interval, and how the sampling
    /// ended (`samples`, `precision_reached`, `stopped_by`).
    pub fn fill(&mut self, cell: &CellResult) {
        for f in Figure::all() {
            self.set(f, f.of(&cell.total));
        }
        self.samples = Some(cell.samples.len() as u32);
        self.precision_reached = cell.reached();
        self.stopped_by = if cell.precise { "precision" } else { "cap" }.into();
        for f in SAMPLED {
            let e = cell.estimate(f);
            self.set(f, e.map(|e| e.median));
            self.set_interval(f, e.map(|e| (e.lo, e.hi)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_needs_enough_samples_and_a_narrow_interval() {
        let steady = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95];
        assert!(precise_enough(&steady, 0.02));
        assert!(!precise_enough(&steady[..5], 0.02));
        let noisy = [10.0, 12.0, 8.0, 10.0, 11.0, 9.0];
        assert!(!precise_enough(&noisy, 0.02));
        assert!(precise_enough(&noisy, 0.25));
    }

    #[test]
    fn every_sampled_figure_has_a_samples_csv_column() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(SampleRow::default()).unwrap();
        let header = String::from_utf8(w.into_inner().unwrap()).unwrap();
        for f in SAMPLED {
            assert!(header.split([',', '\n']).any(|c| c == f.column()), "{f:?}");
            let mut s = SampleRow::default();
            s.set(f, Some(2.5));
            assert_eq!(s.get(f), Some(2.5), "{f:?}");
        }
    }

    #[test]
    fn figures_of_a_real_batch() {
        use crate::model::figures::Figure;
        use crate::model::kinds::WorkloadKind;
        use crate::{Shape, StrategyKind, TransportKind};
        let shape = Shape {
            fields: 2,
            field_size: 256,
        };
        let cfg = Config::new(
            StrategyKind::OneCopy,
            TransportKind::Unix,
            WorkloadKind::Rr,
            shape,
        );
        let mut exp = crate::engine::experiment::Experiment::start(&cfg).unwrap();
        let s = Sampling {
            sample: Duration::from_millis(5),
            precision: 0.0,
            cap: Duration::from_millis(40),
        };
        let host = Arc::new(HostFacts::default());
        let plan = Plan {
            warmup: Duration::ZERO,
            samples: Samples::Until(s),
        };
        let run = measure(&mut exp, &plan, &host).unwrap();
        exp.stop().unwrap();
        // Precision 0 is never reached: the cap ends the cell.
        assert!(!run.precise);
        assert!(run.samples.len() >= 2, "{}", run.samples.len());
        let messages: u64 = run.samples.iter().map(|r| r.messages).sum();
        assert_eq!(run.total.messages, messages);
        assert_eq!(run.values(Figure::LatencyP50Us).len(), run.samples.len());
        let p50 = run.estimate(Figure::LatencyP50Us).unwrap();
        assert!(p50.lo <= p50.median && p50.median <= p50.hi);
        assert!(run.reached().unwrap().is_finite());
        assert_eq!(run.main(), Figure::LatencyP50Us);
        assert!(Arc::ptr_eq(&run.host, &host));
        assert_eq!(run.config, cfg);
    }
}
