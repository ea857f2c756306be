//! A cell's measured time as consecutive samples, and how long to keep
//! sampling.
//!
//! After the warm-up, [`measure`] runs batches of [`Sampling::sample`] one
//! after another over the same connections and threads; each batch is one
//! sample of every [`Sampled`] figure. It stops once the main figure's
//! interval (see [`crate::stats`]) is within [`Sampling::precision`] of its
//! median — never before [`crate::stats::MIN_SAMPLES`] samples — or once the
//! measured time reaches [`Sampling::cap`], whichever comes first, and says
//! which. A sample can take longer than asked (the receivers verify what is
//! still queued when the sender stops), so the cap may be passed to reach
//! [`crate::stats::MIN_SAMPLES`] samples, never beyond twice the cap.

use std::time::Duration;

use crate::error::Result;
use crate::stats::{Estimate, MIN_SAMPLES};
use crate::workload::{Batch, BatchReport, Experiment, WorkloadKind};

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

/// The figures every sample measures, so each gets a median and an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sampled {
    ThroughputGbps,
    MessagesPerSec,
    LatencyP50Us,
    LatencyP99Us,
    ClientCpuNsPerByte,
    ServerCpuNsPerByte,
    ClientCpuNsPerMsg,
    ServerCpuNsPerMsg,
    /// Client plus server context switches per message.
    ContextSwitchesPerMsg,
}

impl Sampled {
    pub const ALL: [Sampled; 9] = [
        Sampled::ThroughputGbps,
        Sampled::MessagesPerSec,
        Sampled::LatencyP50Us,
        Sampled::LatencyP99Us,
        Sampled::ClientCpuNsPerByte,
        Sampled::ServerCpuNsPerByte,
        Sampled::ClientCpuNsPerMsg,
        Sampled::ServerCpuNsPerMsg,
        Sampled::ContextSwitchesPerMsg,
    ];

    /// The `results.csv` column (and `samples.csv` column) of the figure; its
    /// interval is `{name}_lo` and `{name}_hi`.
    pub fn name(self) -> &'static str {
        match self {
            Sampled::ThroughputGbps => "throughput_gbps",
            Sampled::MessagesPerSec => "messages_per_sec",
            Sampled::LatencyP50Us => "latency_p50_us",
            Sampled::LatencyP99Us => "latency_p99_us",
            Sampled::ClientCpuNsPerByte => "client_cpu_ns_per_byte",
            Sampled::ServerCpuNsPerByte => "server_cpu_ns_per_byte",
            Sampled::ClientCpuNsPerMsg => "client_cpu_ns_per_msg",
            Sampled::ServerCpuNsPerMsg => "server_cpu_ns_per_msg",
            Sampled::ContextSwitchesPerMsg => "context_switches_per_msg",
        }
    }

    /// The figure's value in one sample; `None` when not measured (latency of
    /// a stream, a counter this host cannot count, an empty batch).
    pub fn of(self, r: &BatchReport) -> Option<f64> {
        let per = |num: f64, den: u64| (den > 0).then(|| num / den as f64);
        match self {
            Sampled::ThroughputGbps => (r.seconds > 0.0).then(|| r.throughput_gbps()),
            Sampled::MessagesPerSec => (r.seconds > 0.0).then(|| r.messages_per_sec()),
            Sampled::LatencyP50Us => r.latency_us(0.5),
            Sampled::LatencyP99Us => r.latency_us(0.99),
            Sampled::ClientCpuNsPerByte => per(r.client.cpu.total_ns as f64, r.bytes),
            Sampled::ServerCpuNsPerByte => per(r.server.cpu.total_ns as f64, r.bytes),
            Sampled::ClientCpuNsPerMsg => per(r.client.cpu.total_ns as f64, r.messages),
            Sampled::ServerCpuNsPerMsg => per(r.server.cpu.total_ns as f64, r.messages),
            Sampled::ContextSwitchesPerMsg => {
                let c = r.client.counters.get("context_switches")?;
                let s = r.server.counters.get("context_switches")?;
                per(c + s, r.messages)
            }
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Sampled::ThroughputGbps | Sampled::MessagesPerSec)
    }

    /// The figure a workload's cells are sampled until precise: stream
    /// throughput, rr median round trip.
    pub fn main(workload: WorkloadKind) -> Sampled {
        match workload {
            WorkloadKind::Stream => Sampled::ThroughputGbps,
            WorkloadKind::Rr => Sampled::LatencyP50Us,
        }
    }
}

/// What one cell (one repetition) measured.
#[derive(Debug, Clone)]
pub struct CellRun {
    /// Each sample's own report, in order.
    pub samples: Vec<BatchReport>,
    /// All samples merged: total time, messages, bytes, CPU, counters, latencies.
    pub total: BatchReport,
    /// The main figure.
    pub main: Sampled,
    /// Whether the main figure reached the precision target (else the cap ended it).
    pub precise: bool,
}

impl CellRun {
    /// A run of the given samples (at least one), in order; `precise` says
    /// whether the main figure reached its target.
    pub fn from_samples(
        samples: Vec<BatchReport>,
        workload: WorkloadKind,
        precise: bool,
    ) -> CellRun {
        let mut total = samples[0].clone();
        for r in &samples[1..] {
            total.merge(r);
        }
        CellRun {
            samples,
            total,
            main: Sampled::main(workload),
            precise,
        }
    }

    /// One figure's value in every sample that measured it.
    pub fn values(&self, f: Sampled) -> Vec<f64> {
        self.samples.iter().filter_map(|s| f.of(s)).collect()
    }

    /// One figure's median and interval over the samples.
    pub fn estimate(&self, f: Sampled) -> Option<Estimate> {
        Estimate::of(self.values(f))
    }

    /// Relative half-width the main figure reached.
    pub fn reached(&self) -> Option<f64> {
        self.estimate(self.main).map(|e| e.relative_half_width())
    }
}

/// Whether `samples` (of the main figure) are enough to stop.
pub fn precise_enough(values: &[f64], precision: f64) -> bool {
    values.len() >= MIN_SAMPLES
        && Estimate::of(values.iter().copied()).is_some_and(|e| e.within(precision))
}

/// Runs samples through a started experiment until the main figure is
/// precise or the cap is reached (at least one sample either way).
pub fn measure(exp: &mut Experiment, workload: WorkloadKind, s: &Sampling) -> Result<CellRun> {
    let main = Sampled::main(workload);
    let mut samples: Vec<BatchReport> = Vec::new();
    let mut values = Vec::new();
    let mut measured = 0.0;
    let precise = loop {
        let r = exp.run(Batch::Duration(s.sample))?;
        measured += r.seconds;
        values.extend(main.of(&r));
        samples.push(r);
        if precise_enough(&values, s.precision) {
            break true;
        }
        // Stop when one more sample would cross the cap, once there are
        // enough samples for a 95 % interval; never past twice the cap.
        let cap = s.cap.as_secs_f64();
        let next = measured + s.sample.as_secs_f64();
        if (samples.len() >= MIN_SAMPLES && next > cap) || next > 2.0 * cap {
            break false;
        }
    };
    Ok(CellRun::from_samples(samples, workload, precise))
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
    fn figures_of_a_real_batch() {
        use crate::{Config, Shape, StrategyKind, TransportKind};
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
        let mut exp = Experiment::start(&cfg).unwrap();
        let s = Sampling {
            sample: Duration::from_millis(5),
            precision: 0.0,
            cap: Duration::from_millis(40),
        };
        let run = measure(&mut exp, WorkloadKind::Rr, &s).unwrap();
        exp.stop().unwrap();
        // Precision 0 is never reached: the cap ends the cell.
        assert!(!run.precise);
        assert!(run.samples.len() >= 2, "{}", run.samples.len());
        let messages: u64 = run.samples.iter().map(|r| r.messages).sum();
        assert_eq!(run.total.messages, messages);
        assert_eq!(run.values(Sampled::LatencyP50Us).len(), run.samples.len());
        let p50 = run.estimate(Sampled::LatencyP50Us).unwrap();
        assert!(p50.lo <= p50.median && p50.median <= p50.hi);
        assert!(run.reached().unwrap().is_finite());
    }
}
