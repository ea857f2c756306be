//! A cell's measured time as consecutive samples, and how long to keep
//! sampling.
//!
//! After the warm-up, [`measure`] runs batches of [`Sampling::sample`] one
//! after another over the same connections and threads; each batch is one
//! sample of every figure of [`SAMPLED`]. It stops once the main figure's
//! interval (see [`crate::stats`]) is within [`Sampling::precision`] of its
//! median — never before [`crate::stats::MIN_SAMPLES`] samples — or once the
//! measured time reaches [`Sampling::cap`], whichever comes first, and says
//! which. A sample can take longer than asked (the receivers verify what is
//! still queued when the sender stops), so the cap may be passed to reach
//! [`crate::stats::MIN_SAMPLES`] samples, never beyond 1.5 times the cap.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::Result;
use crate::experiment::Batch;
use crate::figures::{BatchReport, Figure};
use crate::host::HostFacts;
use crate::stats::{Estimate, MIN_SAMPLES};

pub use crate::figures::{CellResult, SampleRow, SAMPLED};

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

/// Runs samples of the cell `cfg` through its started experiment (`run`
/// runs one batch: a local [`crate::experiment::Experiment`] or one with a
/// remote server) until the main figure is precise or the cap is reached
/// (at least one sample either way). `host` is this host's facts, shared; a
/// remote cell's caller adds the server's ([`CellResult::server_host`]).
pub fn measure(
    mut run: impl FnMut(Batch) -> Result<BatchReport>,
    cfg: &Config,
    host: &Arc<HostFacts>,
    s: &Sampling,
) -> Result<CellResult> {
    let main = Figure::main(cfg.workload);
    let mut samples: Vec<BatchReport> = Vec::new();
    let mut values = Vec::new();
    let mut measured = 0.0;
    let precise = loop {
        let r = run(Batch::Duration(s.sample))?;
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
    Ok(CellResult::new(
        cfg.clone(),
        samples,
        precise,
        Arc::clone(host),
    ))
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
        use crate::config::WorkloadKind;
        use crate::figures::Figure;
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
        let mut exp = crate::experiment::Experiment::start(&cfg).unwrap();
        let s = Sampling {
            sample: Duration::from_millis(5),
            precision: 0.0,
            cap: Duration::from_millis(40),
        };
        let host = Arc::new(HostFacts::default());
        let run = measure(|b| exp.run(b), &cfg, &host, &s).unwrap();
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
