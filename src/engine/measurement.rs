//! What a criterion benchmark measures, chosen at run time: wall time, CPU
//! time, or one of the counters of [`crate::engine::counters`].
//!
//! # Shape
//!
//! This module holds everything a criterion `Measurement` and
//! `ValueFormatter` need — the metric, the value of a sample, its arithmetic,
//! the zero check and the unit scaling — as plain, unit-tested functions.
//! With the `criterion` feature (on by default), [`Copybench`] implements the
//! two traits by delegating here, one line per method, so a bench of your own
//! is a few lines:
//!
//! ```no_run
//! # #[cfg(feature = "criterion")] {
//! use std::time::Instant;
//! use copybench::measurement::{Copybench, Metric};
//! use copybench::{Batch, Config, Experiment, Shape, StrategyKind, TransportKind, WorkloadKind};
//!
//! let metric = Metric::from_env().unwrap();
//! let mut c = criterion::Criterion::default().with_measurement(Copybench::new(metric));
//! let shape = Shape { fields: 8, field_size: 1024 };
//! let cfg = Config::new(StrategyKind::OneCopy, TransportKind::Loopback, WorkloadKind::Stream, shape);
//! let mut exp = Experiment::start(&cfg).unwrap();
//! c.bench_function("one-copy/1K", |b| {
//!     b.iter_custom(|n| {
//!         let t = Instant::now();
//!         let report = exp.run(Batch::Messages(n)).unwrap();
//!         metric.sample(&report, t.elapsed())
//!     })
//! });
//! exp.stop().unwrap();
//! # }
//! ```
//!
//! `benches/copybench.rs` and `benches/user.rs` use it the same way.
//!
//! # How criterion uses a measurement (criterion 0.8)
//!
//! - `Measurement::start` / `end` are called around `Bencher::iter` and its
//!   variants, on the benchmark's own thread. copybench's benches use
//!   `iter_custom` instead (the work happens in worker threads), which never
//!   calls them: the closure returns the sample's [`Quantity`] itself, built
//!   by [`Metric::sample`] from the [`BatchReport`] of one batch. `start` /
//!   `end` are still meaningful ([`Metric::start_thread`] /
//!   [`ThreadStart::finish`]): they measure the calling thread, for benches
//!   that do their work in it.
//! - `add` and `zero` combine the values of several `iter_custom` /
//!   `iter_batched` rounds that make up one sample ([`Quantity::add`],
//!   [`Quantity::zero`]).
//! - `to_f64` turns each measured sample into the number criterion analyses
//!   (and, in `--test` mode, the single test sample). criterion does not call
//!   it during warm-up, which only looks at wall time. [`Quantity::to_f64`]
//!   refuses a sample that measured 0 (see below).
//! - `formatter` gives criterion the units: `scale_values` for one sample's
//!   value ([`scale_values`]), `scale_throughputs` when the group has a
//!   `Throughput` ([`scale_throughputs`]), `scale_for_machines` for the CSV and
//!   JSON files it writes ([`machine_unit`], values unscaled).
//!
//! Note that criterion 0.8 plans iteration counts (warm-up, then how many
//! messages per sample) from wall time whatever the measurement, so the
//! group's `measurement_time` bounds the run's duration for every metric.
//!
//! # Zero
//!
//! criterion silently skips the analysis of a benchmark when a sample measured
//! exactly 0 ("took zero time per iteration", logged through `log`, which a
//! bench does not print). For wall and CPU time that cannot happen for real
//! work, but a batch of a few messages can truly cause 0 context switches. A
//! skipped benchmark would look like a result that vanished, and clamping 0 to
//! something small would invent one, so [`Quantity::to_f64`] panics instead:
//! "measured 0 context switches in a sample of N messages: raise the batch
//! size or choose another metric".
//!
//! # Throughput
//!
//! With `Throughput::Bytes(message bytes)`, wall time is shown as a rate
//! (GiB/s), as criterion users expect; every other metric is a cost and is
//! shown per byte (ns/B, cycles/B, switches/KiB, …), scaled so the number is
//! readable.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::counters::{CounterPlan, ThreadCounters};
use crate::model::figures::Counter;
use crate::model::kinds::Role;
use crate::model::measured::BatchReport;
use crate::sys;

/// The environment variable [`Metric::from_env`] reads.
pub const METRIC_ENV: &str = "COPYBENCH_METRIC";

/// What one benchmark sample measures. Counts and CPU time are summed over
/// both roles (every client and every server thread).
///
/// Any counter of the figures model ([`Counter`]) is a metric; its name and
/// unit come from the model. Users spell a counter's name with `-` or `_`
/// (`context-switches` = `context_switches`, `cache-misses` = `cache_misses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Wall time of the batch, ns (the default).
    Wall,
    /// CPU time, ns, from `CLOCK_THREAD_CPUTIME_ID` (always available).
    CpuTime,
    /// One counter of [`crate::engine::counters`], user + kernel as the counter
    /// defines it.
    Counter(Counter),
}

impl Metric {
    /// Every metric: wall, CPU time, then every counter in the model's order.
    pub fn all() -> impl Iterator<Item = Metric> {
        [Metric::Wall, Metric::CpuTime]
            .into_iter()
            .chain(Counter::ALL.iter().map(|&c| Metric::Counter(c)))
    }

    /// The name users type in `COPYBENCH_METRIC`, also the first part of the
    /// bench group names: `wall`, `cpu-time`, or the counter's model name
    /// with `-` for `_` (`context-switches`, `cache-misses`, …).
    pub fn name(self) -> String {
        match self {
            Metric::Wall => "wall".to_string(),
            Metric::CpuTime => "cpu-time".to_string(),
            Metric::Counter(c) => c.name().replace('_', "-"),
        }
    }

    /// Parses a name (`-` and `_` alike, any case); the error lists the
    /// accepted ones.
    pub fn from_name(name: &str) -> Result<Metric, String> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        Metric::all().find(|m| m.name() == wanted).ok_or_else(|| {
            let names: Vec<_> = Metric::all().map(Metric::name).collect();
            format!(
                "{METRIC_ENV}={name}: unknown metric; use one of {}",
                names.join(", ")
            )
        })
    }

    /// `COPYBENCH_METRIC`, [`Metric::Wall`] when unset or empty.
    pub fn from_env() -> Result<Metric, String> {
        Metric::from_env_value(std::env::var(METRIC_ENV).ok().as_deref())
    }

    /// [`Metric::from_env`] over a given value (testable without touching the
    /// process environment).
    pub fn from_env_value(value: Option<&str>) -> Result<Metric, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(Metric::Wall),
            Some(name) => Metric::from_name(name),
        }
    }

    /// The counter this metric reads, if any.
    pub fn counter(self) -> Option<Counter> {
        match self {
            Metric::Wall | Metric::CpuTime => None,
            Metric::Counter(c) => Some(c),
        }
    }

    /// Whether the workers must open perf counters for this metric (wall and
    /// CPU time do not need them, and skip their cost).
    pub fn needs_counters(self) -> bool {
        self.counter().is_some()
    }

    /// What one unit of the metric is called, singular-free as in "12 switches".
    pub fn unit(self) -> &'static str {
        machine_unit(self)
    }

    /// Ok when this host can measure the metric; otherwise one line saying
    /// why not and what to use instead, e.g. "COPYBENCH_METRIC=cycles: this
    /// host cannot count cycles (not supported by this host's PMU (ENOENT)...);
    /// use COPYBENCH_METRIC=cpu-time or context-switches".
    pub fn ensure_available(self, plan: &CounterPlan) -> Result<(), String> {
        let Some(counter) = self.counter() else {
            return Ok(());
        };
        if plan.available(counter.name()) {
            return Ok(());
        }
        let reason = plan
            .unavailable()
            .get(counter.name())
            .cloned()
            .unwrap_or_else(|| "no reason recorded".to_string());
        // One line: the reasons may span several.
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        // Every other metric this host can count, CPU time first (wall time
        // is no cost figure, so it is not offered in place of one).
        let instead: Vec<String> = Metric::all()
            .filter(|m| *m != Metric::Wall && *m != self)
            .filter(|m| m.counter().is_none_or(|c| plan.available(c.name())))
            .map(Metric::name)
            .collect();
        Err(format!(
            "{METRIC_ENV}={}: this host cannot count {} ({reason}); use {METRIC_ENV}={}",
            self.name(),
            self.name(),
            instead.join(" or ")
        ))
    }

    /// The sample one batch gives: [`value_of`] over `report`, with the
    /// batch's message count.
    ///
    /// # Panics
    /// When the report lacks the metric's counter (a worker could not open it
    /// although the plan said it could): criterion has no way to carry the
    /// error, and a silently wrong sample would be worse.
    pub fn sample(self, report: &BatchReport, wall: Duration) -> Quantity {
        match value_of(self, report, wall) {
            Ok(value) => Quantity {
                value,
                messages: report.messages,
            },
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts measuring the calling thread (criterion's `Measurement::start`,
    /// for benches that work in their own thread rather than in workers).
    pub fn start_thread(self) -> ThreadStart {
        let counters = self.counter().map(|_| {
            let mut c = ThreadCounters::open(CounterPlan::probe());
            c.start();
            c
        });
        ThreadStart {
            metric: self,
            usage: sys::thread_usage().ok(),
            counters,
            at: Instant::now(),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The value of `metric` for one batch: wall ns (`wall`, measured by the
/// caller around the batch), CPU ns (user + system of both roles), or the
/// metric's counter summed over both roles. Err when a counter is missing
/// from either role (unavailable, never read as 0).
pub fn value_of(metric: Metric, report: &BatchReport, wall: Duration) -> Result<f64, String> {
    let roles = [&report.client, &report.server];
    match metric {
        Metric::Wall => Ok(wall.as_nanos() as f64),
        Metric::CpuTime => Ok(roles.iter().map(|r| r.cpu.total_ns as f64).sum()),
        _ => {
            let counter = metric.counter().expect("counter metrics name a counter");
            let mut sum = 0.0;
            for (role, stats) in [Role::Client, Role::Server].iter().zip(roles) {
                sum += stats.counters.counter(counter).ok_or_else(|| {
                    format!(
                        "{METRIC_ENV}={}: the {role} threads could not count {counter} in this batch; \
                         run `copybench doctor` to see why, or use {METRIC_ENV}=cpu-time",
                        metric.name()
                    )
                })?;
            }
            Ok(sum)
        }
    }
}

/// One sample's value (criterion's `Measurement::Value`): the measured
/// quantity and how many messages it covers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quantity {
    /// In the metric's unit ([`Metric::unit`]): ns, cycles, instructions, ….
    pub value: f64,
    /// Messages (rr: exchanges) the value covers; 0 when unknown (measured
    /// by [`ThreadStart`]).
    pub messages: u64,
}

impl Quantity {
    /// What criterion's `zero` returns: nothing measured over no messages.
    pub fn zero() -> Quantity {
        Quantity::default()
    }

    /// Sum of two rounds of one sample (criterion's `add`).
    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity {
            value: self.value + other.value,
            messages: self.messages + other.messages,
        }
    }

    /// The value criterion analyses (criterion's `to_f64`), refusing 0.
    ///
    /// # Panics
    /// When the sample measured 0 (see the module docs): criterion would
    /// otherwise skip the benchmark's analysis without a word.
    pub fn to_f64(&self, metric: Metric) -> f64 {
        match self.checked(metric) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Quantity::to_f64`] without the panic.
    pub fn checked(&self, metric: Metric) -> Result<f64, String> {
        if self.value > 0.0 && self.value.is_finite() {
            return Ok(self.value);
        }
        let what = match metric {
            Metric::Wall => "0 ns of wall time".to_string(),
            Metric::CpuTime => "0 ns of CPU time".to_string(),
            // "0 context switches", "0 cache misses", …
            Metric::Counter(c) => format!("0 {}", c.name().replace('_', " ")),
        };
        let what = if self.value == 0.0 {
            format!("measured {what}")
        } else {
            format!("measured {} {}", self.value, metric.unit())
        };
        let sample = match self.messages {
            0 => "a sample".to_string(),
            1 => "a sample of 1 message".to_string(),
            n => format!("a sample of {n} messages"),
        };
        Err(format!(
            "{METRIC_ENV}={}: {what} in {sample}: raise the batch size (a longer \
             measurement time) or choose another metric; criterion would skip this \
             benchmark silently",
            metric.name()
        ))
    }
}

/// What [`Metric::start_thread`] started; [`ThreadStart::finish`] ends it.
pub struct ThreadStart {
    metric: Metric,
    usage: Option<sys::ThreadUsage>,
    counters: Option<ThreadCounters>,
    at: Instant,
}

impl ThreadStart {
    /// The calling thread's value since the start (criterion's `end`).
    ///
    /// # Panics
    /// When the metric's counter could not be read on this thread.
    pub fn finish(mut self) -> Quantity {
        let wall = self.at.elapsed();
        let sample = self.counters.as_mut().map(|c| c.stop());
        let usage = sys::thread_usage().ok();
        let value = match self.metric {
            Metric::Wall => wall.as_nanos() as f64,
            Metric::CpuTime => match (self.usage, usage) {
                (Some(a), Some(b)) => b.cpu_ns.saturating_sub(a.cpu_ns) as f64,
                _ => panic!("{METRIC_ENV}=cpu-time: reading the thread's CPU time failed"),
            },
            metric => {
                let counter = metric.counter().expect("counter metrics name a counter");
                sample.and_then(|s| s.counter(counter)).unwrap_or_else(|| {
                    panic!(
                        "{METRIC_ENV}={}: this thread could not count {counter}",
                        metric.name()
                    )
                })
            }
        };
        Quantity { value, messages: 0 }
    }
}

/// The unit of unscaled values, for criterion's `scale_for_machines`.
pub fn machine_unit(metric: Metric) -> &'static str {
    // A counter metric's unit is its counter's, from the figures table.
    metric.counter().map_or("ns", Counter::unit)
}

/// A unit built from the model's unit, kept for the process's lifetime
/// because criterion takes `&'static str`. Bounded: each distinct unit is
/// built once (a few per counter and throughput kind).
fn interned(unit: String) -> &'static str {
    static UNITS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut units = UNITS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(u) = units.get(unit.as_str()) {
        return u;
    }
    let u: &'static str = Box::leak(unit.into_boxed_str());
    units.insert(u);
    u
}

/// The unit a count metric is shown in: its counter's unit from the figures
/// model, `instructions` shortened to `instr`; `None` for times (wall, CPU
/// time and counters in ns), which use criterion's time ladder.
fn count_unit(metric: Metric) -> Option<&'static str> {
    match metric.counter()?.unit() {
        "ns" => None,
        "instructions" => Some("instr"),
        unit => Some(unit),
    }
}

/// How one value is shown: ps/ns/µs/ms/s for times (criterion's own ladder),
/// thousands for counts (cycles, Kcycles, Mcycles, Gcycles).
fn value_ladder(metric: Metric) -> (Vec<(&'static str, f64)>, f64) {
    const TIME: &[(&str, f64)] = &[
        ("ps", 1e3),
        ("ns", 1.0),
        ("µs", 1e-3),
        ("ms", 1e-6),
        ("s", 1e-9),
    ];
    match count_unit(metric) {
        // Times start one step below ns (ps), counts at 1.
        None => (TIME.to_vec(), 1e-3),
        Some(unit) => (
            [("", 1.0), ("K", 1e-3), ("M", 1e-6), ("G", 1e-9)]
                .into_iter()
                .map(|(prefix, factor)| (interned(format!("{prefix}{unit}")), factor))
                .collect(),
            1.0,
        ),
    }
}

/// Scales `values` (in [`machine_unit`]) to the unit `typical` reads best in,
/// and returns that unit (criterion's `scale_values`).
pub fn scale_values(metric: Metric, typical: f64, values: &mut [f64]) -> &'static str {
    let (ladder, first) = value_ladder(metric);
    // The largest unit in which `typical` is still at least 1.
    let mut chosen = ladder[0];
    let mut threshold = first;
    for (i, step) in ladder.iter().enumerate() {
        if i > 0 {
            threshold *= 1e3;
        }
        if typical >= threshold || i == 0 {
            chosen = *step;
        }
    }
    for v in values.iter_mut() {
        *v *= chosen.1;
    }
    chosen.0
}

/// What a sample's work is measured against, criterion's `Throughput` without
/// naming criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Bytes per iteration (binary units).
    Bytes(u64),
    /// Bytes per iteration (decimal units).
    BytesDecimal(u64),
    /// Bits per iteration.
    Bits(u64),
    /// Elements per iteration.
    Elements(u64),
}

/// Rates for wall time, per-byte (per-element) costs for everything else;
/// see the module docs. Returns the unit (criterion's `scale_throughputs`);
/// `values` are per-iteration values in [`machine_unit`].
pub fn scale_throughputs(
    metric: Metric,
    typical: f64,
    per: Per,
    values: &mut [f64],
) -> &'static str {
    let (amount, kind) = match per {
        Per::Bytes(n) => (n, Kind::Binary),
        Per::BytesDecimal(n) => (n, Kind::Decimal),
        Per::Bits(n) => (n, Kind::Bits),
        Per::Elements(n) => (n, Kind::Elements),
    };
    let amount = (amount as f64).max(1.0);
    let step: f64 = if kind == Kind::Binary { 1024.0 } else { 1000.0 };
    let units = units(metric, kind);
    if metric == Metric::Wall {
        // Amount per second, in the largest unit that keeps typical's rate >= 1.
        let typical_rate = amount * 1e9 / typical;
        let mut idx = 0;
        while idx < 3 && typical_rate >= step.powi(idx as i32 + 1) {
            idx += 1;
        }
        let div = step.powi(idx as i32);
        for v in values.iter_mut() {
            *v = amount * 1e9 / *v / div;
        }
        units[idx]
    } else {
        // Cost per unit of amount; per a larger unit while the cost per the
        // smaller one is below 1 (0.002 switches/B reads better as 2.0 switches/KiB).
        let per_unit = typical / amount;
        let mut idx = 0;
        while idx < 3 && per_unit * step.powi(idx as i32) < 1.0 {
            idx += 1;
        }
        let mul = step.powi(idx as i32) / amount;
        for v in values.iter_mut() {
            *v *= mul;
        }
        units[idx]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Binary,
    Decimal,
    Bits,
    Elements,
}

/// The four units, smallest first, of a rate (wall) or a cost per amount.
fn units(metric: Metric, kind: Kind) -> [&'static str; 4] {
    let amounts = match kind {
        Kind::Binary => ["B", "KiB", "MiB", "GiB"],
        Kind::Decimal => ["B", "KB", "MB", "GB"],
        Kind::Bits => ["b", "Kb", "Mb", "Gb"],
        Kind::Elements => ["elem", "Kelem", "Melem", "Gelem"],
    };
    let cost = match metric {
        Metric::Wall => {
            return match kind {
                Kind::Binary => ["  B/s", "KiB/s", "MiB/s", "GiB/s"],
                Kind::Decimal => ["  B/s", "KB/s", "MB/s", "GB/s"],
                Kind::Bits => ["  b/s", "Kb/s", "Mb/s", "Gb/s"],
                Kind::Elements => [" elem/s", "Kelem/s", "Melem/s", "Gelem/s"],
            }
        }
        Metric::CpuTime => "CPU-ns",
        Metric::Counter(c) => count_unit(metric).unwrap_or(c.unit()),
    };
    amounts.map(|amount| interned(format!("{cost}/{amount}")))
}

#[cfg(feature = "criterion")]
pub use with_criterion::{Copybench, Formatter};

#[cfg(feature = "criterion")]
mod with_criterion {
    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::Throughput;

    use super::{Metric, Per, Quantity, ThreadStart};

    /// criterion's view of a [`Metric`]: every method delegates to this
    /// module's functions, whose docs say when criterion calls each one.
    pub struct Copybench {
        formatter: Formatter,
    }

    /// The units of a [`Metric`], for criterion's reports.
    pub struct Formatter(pub Metric);

    impl Copybench {
        pub fn new(metric: Metric) -> Copybench {
            Copybench {
                formatter: Formatter(metric),
            }
        }

        pub fn metric(&self) -> Metric {
            self.formatter.0
        }
    }

    impl Measurement for Copybench {
        type Intermediate = ThreadStart;
        type Value = Quantity;

        /// Around `iter`-style routines only; copybench's benches use `iter_custom`.
        fn start(&self) -> ThreadStart {
            self.metric().start_thread()
        }

        fn end(&self, started: ThreadStart) -> Quantity {
            started.finish()
        }

        fn add(&self, a: &Quantity, b: &Quantity) -> Quantity {
            a.add(b)
        }

        fn zero(&self) -> Quantity {
            Quantity::zero()
        }

        /// Panics on a sample that measured 0, which criterion would skip silently.
        fn to_f64(&self, value: &Quantity) -> f64 {
            value.to_f64(self.metric())
        }

        fn formatter(&self) -> &dyn ValueFormatter {
            &self.formatter
        }
    }

    impl ValueFormatter for Formatter {
        fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
            super::scale_values(self.0, typical, values)
        }

        fn scale_throughputs(
            &self,
            typical: f64,
            throughput: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let per = match *throughput {
                Throughput::Bytes(n) => Per::Bytes(n),
                Throughput::BytesDecimal(n) => Per::BytesDecimal(n),
                Throughput::Bits(n) => Per::Bits(n),
                Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                    Per::Elements(n)
                }
            };
            super::scale_throughputs(self.0, typical, per, values)
        }

        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            super::machine_unit(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::counters::CounterSample;
    use crate::model::measured::{CpuTime, RoleStats};

    fn role(user_ns: u64, sys_ns: u64, counters: &[(&str, Option<f64>)]) -> RoleStats {
        let mut sample = CounterSample::empty();
        for (name, value) in counters {
            sample.set(name, *value);
        }
        RoleStats {
            cpu: CpuTime {
                user_ns,
                sys_ns,
                total_ns: user_ns + sys_ns,
            },
            counters: sample,
        }
    }

    fn report(client: RoleStats, server: RoleStats) -> BatchReport {
        BatchReport {
            seconds: 0.5,
            messages: 1000,
            bytes: 1000 * 4096,
            latency_ns: None,
            client,
            server,
            zerocopy: None,
            rx: None,
        }
    }

    /// A host without a PMU: software counters only.
    fn no_pmu() -> BatchReport {
        report(
            role(
                1_000,
                3_000,
                &[("context_switches", Some(7.0)), ("cycles", None)],
            ),
            role(
                2_000,
                4_000,
                &[("context_switches", Some(5.0)), ("cycles", None)],
            ),
        )
    }

    #[test]
    fn value_of_sums_both_roles() {
        let r = no_pmu();
        let wall = Duration::from_micros(250);
        assert_eq!(value_of(Metric::Wall, &r, wall), Ok(250_000.0));
        assert_eq!(value_of(Metric::CpuTime, &r, wall), Ok(10_000.0));
        assert_eq!(
            value_of(Metric::Counter(Counter::ContextSwitches), &r, wall),
            Ok(12.0)
        );

        let full = report(
            role(
                1,
                1,
                &[
                    ("cycles", Some(1e6)),
                    ("instructions", Some(2e6)),
                    ("cache_misses", Some(10.0)),
                ],
            ),
            role(
                1,
                1,
                &[
                    ("cycles", Some(3e6)),
                    ("instructions", Some(1e6)),
                    ("cache_misses", Some(5.0)),
                ],
            ),
        );
        assert_eq!(
            value_of(Metric::Counter(Counter::Cycles), &full, wall),
            Ok(4e6)
        );
        assert_eq!(
            value_of(Metric::Counter(Counter::Instructions), &full, wall),
            Ok(3e6)
        );
        assert_eq!(
            value_of(Metric::Counter(Counter::CacheMisses), &full, wall),
            Ok(15.0)
        );

        let q = Metric::Counter(Counter::ContextSwitches).sample(&r, wall);
        assert_eq!(
            q,
            Quantity {
                value: 12.0,
                messages: 1000
            }
        );
    }

    #[test]
    fn an_unavailable_counter_is_an_error_never_zero() {
        let r = no_pmu();
        let err = value_of(Metric::Counter(Counter::Cycles), &r, Duration::ZERO).unwrap_err();
        assert!(
            err.contains("client threads could not count cycles"),
            "{err}"
        );
        // Counted on one side only: still an error, not half a sum.
        let half = report(
            role(0, 0, &[("cycles", Some(5.0))]),
            role(0, 0, &[("cycles", None)]),
        );
        let err = value_of(Metric::Counter(Counter::Cycles), &half, Duration::ZERO).unwrap_err();
        assert!(err.contains("server threads"), "{err}");
        // Never contributed at all (counters off): also an error.
        let off = report(RoleStats::default(), RoleStats::default());
        assert!(value_of(
            Metric::Counter(Counter::ContextSwitches),
            &off,
            Duration::ZERO
        )
        .is_err());
    }

    #[test]
    #[should_panic(expected = "could not count cycles")]
    fn sample_panics_on_a_missing_counter() {
        Metric::Counter(Counter::Cycles).sample(&no_pmu(), Duration::ZERO);
    }

    #[test]
    fn quantities_add_and_refuse_zero() {
        let a = Quantity {
            value: 3.0,
            messages: 10,
        };
        let b = Quantity {
            value: 4.5,
            messages: 20,
        };
        assert_eq!(Quantity::zero().add(&a), a);
        assert_eq!(
            a.add(&b),
            Quantity {
                value: 7.5,
                messages: 30
            }
        );
        assert_eq!(a.to_f64(Metric::Counter(Counter::ContextSwitches)), 3.0);

        let none = Quantity {
            value: 0.0,
            messages: 64,
        };
        let err = none
            .checked(Metric::Counter(Counter::ContextSwitches))
            .unwrap_err();
        assert!(
            err.contains("measured 0 context switches in a sample of 64 messages")
                && err.contains("raise the batch size")
                && err.contains("another metric"),
            "{err}"
        );
        assert!(Quantity {
            value: 0.0,
            messages: 1
        }
        .checked(Metric::Counter(Counter::Cycles))
        .unwrap_err()
        .contains("0 cycles in a sample of 1 message:"));
        assert!(Quantity {
            value: f64::NAN,
            messages: 1
        }
        .checked(Metric::Wall)
        .is_err());
    }

    #[test]
    #[should_panic(expected = "measured 0 ns of CPU time in a sample of 3 messages")]
    fn to_f64_panics_on_zero() {
        Quantity {
            value: 0.0,
            messages: 3,
        }
        .to_f64(Metric::CpuTime);
    }

    #[test]
    fn metric_names_parse_from_the_environment_value() {
        assert_eq!(Metric::from_env_value(None), Ok(Metric::Wall));
        assert_eq!(Metric::from_env_value(Some("")), Ok(Metric::Wall));
        assert_eq!(Metric::from_env_value(Some(" wall ")), Ok(Metric::Wall));
        for m in Metric::all() {
            assert_eq!(Metric::from_env_value(Some(&m.name())), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(
            Metric::from_name("CACHE_MISSES"),
            Ok(Metric::Counter(Counter::CacheMisses))
        );
        assert_eq!(
            Metric::from_name("context_switches"),
            Ok(Metric::Counter(Counter::ContextSwitches))
        );
        // The names users typed before every counter was a metric still work.
        for (name, m) in [
            ("wall", Metric::Wall),
            ("cpu-time", Metric::CpuTime),
            ("cycles", Metric::Counter(Counter::Cycles)),
            ("instructions", Metric::Counter(Counter::Instructions)),
            ("cache-misses", Metric::Counter(Counter::CacheMisses)),
            (
                "context-switches",
                Metric::Counter(Counter::ContextSwitches),
            ),
        ] {
            assert_eq!(Metric::from_name(name), Ok(m), "{name}");
            assert_eq!(m.name(), name);
        }
        // Any counter of the model is a metric, by its model name too.
        for &c in Counter::ALL {
            assert_eq!(Metric::from_name(c.name()), Ok(Metric::Counter(c)));
        }
        assert_eq!(
            Metric::from_name("page-faults"),
            Ok(Metric::Counter(Counter::PageFaults))
        );
        // The error lists every accepted name (it grows with the model).
        let err = Metric::from_env_value(Some("cylces")).unwrap_err();
        assert!(
            err.starts_with(
                "COPYBENCH_METRIC=cylces: unknown metric; use one of wall, cpu-time, cycles, "
            ),
            "{err}"
        );
        for m in Metric::all() {
            assert!(
                err.contains(&format!(" {},", m.name()))
                    || err.ends_with(&format!(" {}", m.name())),
                "{err}"
            );
        }
        assert!(
            !err.split("use one of").nth(1).unwrap().contains('_'),
            "{err}"
        );
        assert!(!Metric::Wall.needs_counters() && !Metric::CpuTime.needs_counters());
        assert!(Metric::Counter(Counter::ContextSwitches).needs_counters());
    }

    #[test]
    fn ensure_available_says_what_to_use_instead() {
        let plan = CounterPlan::probe();
        for m in Metric::all() {
            let result = m.ensure_available(plan);
            match m.counter() {
                None => assert_eq!(result, Ok(())),
                Some(c) if plan.available(c) => assert_eq!(result, Ok(())),
                Some(c) => {
                    let err = result.unwrap_err();
                    assert!(!err.contains('\n'), "{err}");
                    assert!(
                        err.starts_with(&format!(
                            "COPYBENCH_METRIC={}: this host cannot count {} (",
                            m.name(),
                            m.name()
                        )),
                        "{err}"
                    );
                    assert!(err.contains(
                        &plan.unavailable()[c.name()]
                            .split_whitespace()
                            .next()
                            .unwrap()
                            .to_string()
                    ));
                    assert!(err.contains("; use COPYBENCH_METRIC=cpu-time"), "{err}");
                    assert!(!err.ends_with(&format!("or {}", m.name())), "{err}");
                }
            }
        }
    }

    #[test]
    fn values_scale_to_readable_units() {
        let mut v = [500.0, 1500.0];
        assert_eq!(scale_values(Metric::Wall, 500.0, &mut v), "ns");
        assert_eq!(v, [500.0, 1500.0]);
        let mut v = [2_500.0];
        assert_eq!(scale_values(Metric::CpuTime, 2_500.0, &mut v), "µs");
        assert_eq!(v, [2.5]);
        let mut v = [0.5];
        assert_eq!(scale_values(Metric::Wall, 0.5, &mut v), "ps");
        assert_eq!(v, [500.0]);
        let mut v = [3e9];
        assert_eq!(scale_values(Metric::Wall, 3e9, &mut v), "s");
        assert_eq!(v, [3.0]);

        let mut v = [12.0];
        assert_eq!(
            scale_values(Metric::Counter(Counter::ContextSwitches), 12.0, &mut v),
            "switches"
        );
        assert_eq!(v, [12.0]);
        let mut v = [0.25];
        assert_eq!(
            scale_values(Metric::Counter(Counter::ContextSwitches), 0.25, &mut v),
            "switches"
        );
        let mut v = [45_000.0, 90_000.0];
        assert_eq!(
            scale_values(Metric::Counter(Counter::Cycles), 45_000.0, &mut v),
            "Kcycles"
        );
        assert_eq!(v, [45.0, 90.0]);
        let mut v = [2e6];
        assert_eq!(
            scale_values(Metric::Counter(Counter::Instructions), 2e6, &mut v),
            "Minstr"
        );
        assert_eq!(v, [2.0]);
        let mut v = [7e9];
        assert_eq!(
            scale_values(Metric::Counter(Counter::CacheMisses), 7e9, &mut v),
            "Gmisses"
        );
        assert_eq!(v, [7.0]);

        for m in Metric::all() {
            assert_eq!(m.unit(), machine_unit(m));
        }
        assert_eq!(machine_unit(Metric::CpuTime), "ns");
        assert_eq!(
            machine_unit(Metric::Counter(Counter::ContextSwitches)),
            "switches"
        );
    }

    #[test]
    fn any_counter_is_a_metric_in_its_model_unit() {
        let faults = Metric::Counter(Counter::PageFaults);
        assert_eq!(faults.unit(), "faults");
        let mut v = [4_000.0];
        assert_eq!(scale_values(faults, 4_000.0, &mut v), "Kfaults");
        assert_eq!(v, [4.0]);
        // 1 fault per 1 KiB message.
        let mut v = [1.0];
        assert_eq!(
            scale_throughputs(faults, 1.0, Per::Bytes(1024), &mut v),
            "faults/KiB"
        );
        assert_eq!(v, [1.0]);
        let err = Quantity {
            value: 0.0,
            messages: 2,
        }
        .checked(faults)
        .unwrap_err();
        assert!(
            err.starts_with(
                "COPYBENCH_METRIC=page-faults: measured 0 page faults in a sample of 2 messages"
            ),
            "{err}"
        );
        // A counter in ns is shown on the time ladder.
        let task_clock = Metric::Counter(Counter::TaskClockNs);
        assert_eq!(task_clock.unit(), "ns");
        let mut v = [2_500.0];
        assert_eq!(scale_values(task_clock, 2_500.0, &mut v), "µs");
        assert_eq!(v, [2.5]);
    }

    #[test]
    fn wall_throughput_is_a_rate() {
        // 64 KiB per message in 10 µs = 6.1 GiB/s.
        let mut v = [10_000.0, 20_000.0];
        let unit = scale_throughputs(Metric::Wall, 10_000.0, Per::Bytes(65536), &mut v);
        assert_eq!(unit, "GiB/s");
        assert!(
            (v[0] - 65536.0 * 1e5 / (1u64 << 30) as f64).abs() < 1e-9,
            "{v:?}"
        );
        assert!((v[1] - v[0] / 2.0).abs() < 1e-9);
        // 100 B in 1 ms = 100 kB/s.
        let mut v = [1e6];
        assert_eq!(
            scale_throughputs(Metric::Wall, 1e6, Per::Bytes(100), &mut v),
            "KiB/s"
        );
        assert!((v[0] - 1e5 / 1024.0).abs() < 1e-9);
        let mut v = [1e6];
        assert_eq!(
            scale_throughputs(Metric::Wall, 1e6, Per::BytesDecimal(100), &mut v),
            "KB/s"
        );
        assert!((v[0] - 100.0).abs() < 1e-9);
        let mut v = [1e9];
        assert_eq!(
            scale_throughputs(Metric::Wall, 1e9, Per::Elements(5), &mut v),
            " elem/s"
        );
        assert_eq!(v, [5.0]);
    }

    #[test]
    fn costs_are_shown_per_byte() {
        // 1 switch per 64 KiB message = 1/64 switches per KiB... still < 1, so per MiB: 16.
        let mut v = [1.0, 2.0];
        let unit = scale_throughputs(
            Metric::Counter(Counter::ContextSwitches),
            1.0,
            Per::Bytes(65536),
            &mut v,
        );
        assert_eq!(unit, "switches/MiB");
        assert_eq!(v, [16.0, 32.0]);
        // 20 000 cycles per 4 KiB message = 4.88 cycles/B.
        let mut v = [20_000.0];
        assert_eq!(
            scale_throughputs(
                Metric::Counter(Counter::Cycles),
                20_000.0,
                Per::Bytes(4096),
                &mut v
            ),
            "cycles/B"
        );
        assert!((v[0] - 20_000.0 / 4096.0).abs() < 1e-12);
        // 2 000 CPU-ns per 4 KiB message... 0.49 ns/B reads as 500 ns/KiB.
        let mut v = [2_000.0];
        assert_eq!(
            scale_throughputs(Metric::CpuTime, 2_000.0, Per::Bytes(4096), &mut v),
            "CPU-ns/KiB"
        );
        assert!((v[0] - 500.0).abs() < 1e-9);
        let mut v = [5.0];
        assert_eq!(
            scale_throughputs(
                Metric::Counter(Counter::CacheMisses),
                5.0,
                Per::BytesDecimal(1000),
                &mut v
            ),
            "misses/KB"
        );
        assert!((v[0] - 5.0).abs() < 1e-12);
        let mut v = [300.0];
        assert_eq!(
            scale_throughputs(
                Metric::Counter(Counter::Instructions),
                300.0,
                Per::Elements(3),
                &mut v
            ),
            "instr/elem"
        );
        assert_eq!(v, [100.0]);
        // Far below 1 even per GiB: stays in the largest unit rather than overflow the table.
        let mut v = [1e-9];
        assert_eq!(
            scale_throughputs(
                Metric::Counter(Counter::ContextSwitches),
                1e-9,
                Per::Bytes(1),
                &mut v
            ),
            "switches/GiB"
        );
        // A throughput of 0 bytes is treated as 1 rather than dividing by zero.
        let mut v = [10.0];
        assert_eq!(
            scale_throughputs(
                Metric::Counter(Counter::Cycles),
                10.0,
                Per::Bytes(0),
                &mut v
            ),
            "cycles/B"
        );
        assert_eq!(v, [10.0]);
    }

    #[test]
    fn the_calling_thread_can_be_measured() {
        let busy = || {
            let mut x = 0u64;
            for i in 0..200_000u64 {
                x = std::hint::black_box(x.wrapping_add(i * i));
            }
            x
        };
        let start = Metric::Wall.start_thread();
        busy();
        assert!(start.finish().value > 0.0);
        let start = Metric::CpuTime.start_thread();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(3) {
            busy();
        }
        assert!(start.finish().value > 0.0);
        let start = Metric::Counter(Counter::ContextSwitches).start_thread();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.finish().value >= 3.0);
    }
}
