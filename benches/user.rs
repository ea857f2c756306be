//! A bench of your own, on copybench's public API alone: one cell, measured
//! by the metric `COPYBENCH_METRIC` names (wall time by default).
//!
//! `cargo bench --bench user`; `cargo test --all-targets` builds it and runs
//! it once in test mode.

use std::time::Instant;

use copybench::measurement::{Copybench, Metric};
use copybench::{Batch, Config, Experiment, Shape, StrategyKind, TransportKind, WorkloadKind};
use criterion::{Criterion, Throughput};

fn main() {
    let metric = Metric::from_env().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut c = Criterion::default()
        .with_measurement(Copybench::new(metric))
        .sample_size(10)
        .configure_from_args();
    let shape = Shape {
        fields: 8,
        field_size: 1024,
    };
    let cfg = Config::new(
        StrategyKind::OneCopy,
        TransportKind::Loopback,
        WorkloadKind::Stream,
        shape,
    );
    let mut exp = Experiment::start(&cfg).expect("loopback connections start");
    let mut group = c.benchmark_group(format!("user/{metric}"));
    group.throughput(Throughput::Bytes(shape.message_bytes() as u64));
    group.bench_function("one-copy/stream/1K", |b| {
        b.iter_custom(|n| {
            let t = Instant::now();
            let report = exp.run(Batch::Messages(n)).expect("a batch runs");
            metric.sample(&report, t.elapsed())
        })
    });
    group.finish();
    exp.stop().expect("the experiment stops");
    c.final_summary();
}
