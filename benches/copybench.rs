//! `cargo bench`: strategy x field size x threads, for each workload, measured
//! by the metric `COPYBENCH_METRIC` names (wall time by default).
//!
//! Groups are named `{metric}/{workload}/{transport}/threads={n}`; each holds
//! one function per strategy with the field size as its numeric parameter, so
//! criterion's report draws one line per strategy against the size, and
//! baselines of different metrics never overwrite each other.
//! `Throughput::Bytes` is one message's bytes on the wire (header + fields; in
//! rr the same amount also travels back).
//!
//! Environment (every variable optional; a bad value stops the run at once):
//!
//! | variable               | default                        | values |
//! |------------------------|--------------------------------|--------|
//! | `COPYBENCH_METRIC`     | `wall`                         | wall, cpu-time, context-switches, cycles, instructions, cache-misses |
//! | `COPYBENCH_SIZES`      | `64,1K,16K,64K`                | field sizes, K/M/G suffixes (binary) |
//! | `COPYBENCH_THREADS`    | `1,4`                          | connections (client + server thread each) |
//! | `COPYBENCH_STRATEGIES` | every strategy the host can run | two-copy, one-copy, zero-copy, uring, uring-zc (`copybench doctor` says which io_uring ones run) |
//! | `COPYBENCH_WORKLOADS`  | `rr,stream`                    | |
//! | `COPYBENCH_TRANSPORT`  | `loopback`                     | loopback, unix, veth (needs `netns-setup.sh up`) |
//! | `COPYBENCH_FIELDS`     | `8`                            | fields per message |
//! | `COPYBENCH_LAYOUTS`    | `heap`                         | heap, page (`run --layout`); page cells are named `<strategy>-page` |
//! | `COPYBENCH_RECEIVES`   | `copy`                         | copy, zerocopy (`run --receive`); zerocopy cells are named `<strategy>[-page]-rxzc`; with zerocopy among them every cell runs at `TCP_MAXSEG` a page + 12, as a sweep's do; left out, with a note, over unix and where `copybench doctor` says this host cannot map |
//!
//! Each benchmark function starts its workers and connections once, on its
//! first sample (outside the timed part, and not at all when a filter skips
//! it); `iter_custom` then drives N messages through them per sample, and the
//! experiment is stopped when the function is done.

use std::process::exit;
use std::time::{Duration, Instant};

use criterion::{AxisScale, BenchmarkId, Criterion, PlotConfiguration, Throughput};

use copybench::config::MAX_THREADS;
use copybench::measurement::{Copybench, Metric};
use copybench::model::size::parse_size;
use copybench::CounterPlan;
use copybench::Session;
use copybench::{
    Batch, Config, Experiment, Layout, ReceiveKind, Shape, StrategyKind, TransportKind,
    WorkloadKind,
};

/// The matrix, from the environment.
struct Settings {
    metric: Metric,
    layouts: Vec<Layout>,
    sizes: Vec<usize>,
    threads: Vec<usize>,
    strategies: Vec<StrategyKind>,
    workloads: Vec<WorkloadKind>,
    transport: TransportKind,
    fields: usize,
    receives: Vec<ReceiveKind>,
}

/// A comma-separated list from `var`, or `default`; each item through `parse`.
fn list<T>(
    var: &str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let text = std::env::var(var).unwrap_or_default();
    let text = if text.trim().is_empty() {
        default.to_string()
    } else {
        text
    };
    let items = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse(item).map_err(|e| format!("{var}={text}: {e}")))
        .collect::<Result<Vec<T>, String>>()?;
    if items.is_empty() {
        return Err(format!("{var}={text}: the list is empty"));
    }
    Ok(items)
}

fn one_of<T: Copy>(what: &str, names: &[&str], found: Option<T>, item: &str) -> Result<T, String> {
    found.ok_or_else(|| format!("unknown {what} '{item}'; use {}", names.join(", ")))
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let metric = Metric::from_env()?;
        metric.ensure_available(CounterPlan::probe())?;
        let sizes = list("COPYBENCH_SIZES", "64,1K,16K,64K", |s| {
            match parse_size(s)? {
                0 => Err("a field size must be at least 1 byte".into()),
                n => Ok(n),
            }
        })?;
        let threads = list("COPYBENCH_THREADS", "1,4", |s| match s.parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
            _ => Err(format!(
                "'{s}': threads must be a number from 1 to {MAX_THREADS}"
            )),
        })?;
        let host_default: Vec<&str> = StrategyKind::host_default()
            .iter()
            .map(|s| s.name())
            .collect();
        let strategies = list("COPYBENCH_STRATEGIES", &host_default.join(","), |s| {
            one_of(
                "strategy",
                &StrategyKind::ALL.map(StrategyKind::name),
                StrategyKind::from_name(s),
                s,
            )
        })?;
        let workloads = list("COPYBENCH_WORKLOADS", "rr,stream", |s| {
            one_of("workload", &["rr", "stream"], WorkloadKind::from_name(s), s)
        })?;
        let transport = std::env::var("COPYBENCH_TRANSPORT").unwrap_or_default();
        let transport = match transport.trim() {
            "" => TransportKind::Loopback,
            name => one_of(
                "transport",
                &["loopback", "unix", "veth"],
                TransportKind::from_name(name),
                name,
            )
            .map_err(|e| format!("COPYBENCH_TRANSPORT={name}: {e}"))?,
        };
        let fields = list("COPYBENCH_FIELDS", "8", |s| match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("'{s}': fields must be a number of at least 1")),
        })?;
        if fields.len() != 1 {
            return Err("COPYBENCH_FIELDS: give one number".into());
        }
        let layouts = list("COPYBENCH_LAYOUTS", "heap", |s| {
            one_of("layout", &["heap", "page"], Layout::from_name(s), s)
        })?;
        let receives = list("COPYBENCH_RECEIVES", "copy", |s| {
            one_of(
                "receive strategy",
                &ReceiveKind::ALL.map(ReceiveKind::name),
                ReceiveKind::from_name(s),
                s,
            )
        })?;
        let settings = Settings {
            metric,
            layouts,
            sizes,
            threads,
            strategies,
            workloads,
            transport,
            fields: fields[0],
            receives,
        };
        // Every cell's limits (and the transport: veth needs its namespaces)
        // are checked before the first benchmark runs, not an hour into it.
        for cfg in settings.cells() {
            cfg.validate()
                .map_err(|e| format!("{}: {e}", describe(&cfg)))?;
            cfg.transport
                .check()
                .map_err(|e| format!("COPYBENCH_TRANSPORT={}: {e}", settings.transport.name()))?;
        }
        Ok(settings)
    }

    fn config(
        &self,
        workload: WorkloadKind,
        threads: usize,
        strategy: StrategyKind,
        (layout, receive): (Layout, ReceiveKind),
        size: usize,
    ) -> Config {
        let shape = Shape {
            fields: self.fields,
            field_size: size,
        };
        let mut cfg = Config::new(strategy, self.transport, workload, shape);
        cfg.threads = threads;
        cfg.layout = layout;
        cfg.counters = self.metric.needs_counters();
        cfg.receive = receive;
        // As a sweep does: with a mapping receiver among the cells, every
        // TCP cell runs at a page of payload per segment, so copying and
        // mapping cells differ in how they receive and nothing else.
        if self.maps() && self.transport != TransportKind::Unix {
            cfg.transport.maxseg = Some(copybench::recv_map_mss());
        }
        cfg
    }

    /// Whether this strategy can run over the transport at all (the
    /// zero-copy ones have no AF_UNIX path); the others are left out with a
    /// note, not an error, so `COPYBENCH_TRANSPORT=unix` works with the
    /// default strategies.
    fn runs(&self, strategy: StrategyKind) -> bool {
        strategy.supports(self.transport)
    }

    /// Whether a receive strategy can run here: mapping needs TCP and a host
    /// whose probe maps a page (`copybench doctor`). Left out with a note
    /// otherwise (see [`Settings::notes`]), as zero-copy sends over unix are.
    fn receives_here(&self, receive: ReceiveKind) -> bool {
        receive.supports(self.transport)
            && (receive == ReceiveKind::Copy || copybench::recv_map_support().is_ok())
    }

    /// Whether any cell maps received pages.
    fn maps(&self) -> bool {
        self.receives
            .iter()
            .any(|r| *r == ReceiveKind::Zerocopy && self.receives_here(*r))
    }

    /// (layout, receive) of each function, in order.
    fn variants(&self) -> Vec<(Layout, ReceiveKind)> {
        let receives: Vec<ReceiveKind> = self
            .receives
            .iter()
            .copied()
            .filter(|r| self.receives_here(*r))
            .collect();
        self.layouts
            .iter()
            .flat_map(|l| receives.iter().map(move |r| (*l, *r)))
            .collect()
    }

    /// What is left out, and why: one line each.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.strategies.iter().any(|s| !self.runs(*s)) {
            notes.push("zero-copy is left out: AF_UNIX sockets have no SO_ZEROCOPY".into());
        }
        if self.receives.contains(&ReceiveKind::Zerocopy) {
            if !ReceiveKind::Zerocopy.supports(self.transport) {
                notes.push(
                    "zerocopy receive is left out: an AF_UNIX socket has no TCP receive queue to map"
                        .into(),
                );
            } else if let Err(why) = copybench::recv_map_support() {
                notes.push(format!(
                    "zerocopy receive is left out: this host cannot map received pages ({why})"
                ));
            }
        }
        notes
    }

    fn cells(&self) -> Vec<Config> {
        let mut out = Vec::new();
        for &workload in &self.workloads {
            for &threads in &self.threads {
                for &strategy in self.strategies.iter().filter(|s| self.runs(**s)) {
                    for variant in self.variants() {
                        for &size in &self.sizes {
                            out.push(self.config(workload, threads, strategy, variant, size));
                        }
                    }
                }
            }
        }
        out
    }
}

fn describe(cfg: &Config) -> String {
    format!(
        "{} {} {} threads={} fields={}x{} layout={} receive={}",
        cfg.strategy,
        cfg.workload,
        cfg.transport.kind,
        cfg.threads,
        cfg.shape.fields,
        cfg.shape.field_size,
        cfg.layout,
        cfg.receive
    )
}

fn bench_matrix(c: &mut Criterion<Copybench>, settings: &Settings) {
    for note in settings.notes() {
        eprintln!("note: {note}");
    }
    let metric = settings.metric;
    for &workload in &settings.workloads {
        for &threads in &settings.threads {
            let name = format!(
                "{metric}/{workload}/{}/threads={threads}",
                settings.transport
            );
            let mut group = c.benchmark_group(name);
            // Sizes span three orders of magnitude.
            group.plot_config(PlotConfiguration::default().summary_scale(AxisScale::Logarithmic));
            for &strategy in settings.strategies.iter().filter(|s| settings.runs(**s)) {
                let variants = settings.variants();
                for (&(layout, receive), &size) in variants
                    .iter()
                    .flat_map(|v| settings.sizes.iter().map(move |s| (v, s)))
                {
                    let cfg = settings.config(workload, threads, strategy, (layout, receive), size);
                    group.throughput(Throughput::Bytes(cfg.shape.message_bytes() as u64));
                    let mut exp: Option<Box<dyn Session>> = None;
                    // The heap layout and the copying receiver keep the names
                    // benchmarks had before layouts and receive strategies existed.
                    let mut function = match layout {
                        Layout::Heap => strategy.name().to_string(),
                        Layout::Page => format!("{}-page", strategy.name()),
                    };
                    if receive == ReceiveKind::Zerocopy {
                        function.push_str("-rxzc");
                    }
                    let id = BenchmarkId::new(function, size);
                    group.bench_with_input(id, &size, |b, _| {
                        b.iter_custom(|iters| {
                            // Set up on the first call (warm-up), outside any
                            // timed part: iter_custom measures only below.
                            let exp = exp.get_or_insert_with(|| {
                                Box::new(Experiment::start(&cfg).unwrap_or_else(|e| {
                                    panic!("{}: cannot start: {e}", describe(&cfg))
                                }))
                            });
                            let t = Instant::now();
                            let report = exp.run(Batch::Messages(iters)).unwrap_or_else(|e| {
                                panic!("{}: batch of {iters} messages failed: {e}", describe(&cfg))
                            });
                            metric.sample(&report, t.elapsed())
                        })
                    });
                    // Stopped after each function: the next one's workers
                    // should not share the CPUs with idle ones.
                    if let Some(exp) = exp.take() {
                        if let Err(e) = exp.stop() {
                            panic!("{}: stopping failed: {e}", describe(&cfg));
                        }
                    }
                }
            }
            group.finish();
        }
    }
}

fn main() {
    let settings = Settings::from_env().unwrap_or_else(|e| {
        eprintln!("copybench bench: {e}");
        exit(2)
    });
    // Tuned so the default matrix (48 benchmarks) ends well within 15 minutes
    // on 2 cores; `-- --sample-size N --measurement-time S --warm-up-time S`
    // override these.
    let mut criterion = Criterion::default()
        .with_measurement(Copybench::new(settings.metric))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_matrix(&mut criterion, &settings);
    criterion.final_summary();
}
