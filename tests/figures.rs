//! A real cell's result, the way a sweep records it, read back from JSON and
//! from results.csv and samples.csv: the figures come back equal, and none
//! goes missing.

use std::sync::Arc;
use std::time::Duration;

use copybench::model::figures::SampleRow;
use copybench::sweep::{make_row, run_cell, CsvSink, Matrix};
use copybench::{
    Batch, BatchReport, CellResult, Config, Experiment, Figure, Row, Shape, StrategyKind,
};
use copybench::{TransportKind, WorkloadKind};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("copybench-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_real_cell_round_trips_through_json_and_csv() {
    let m = Matrix {
        strategies: vec![StrategyKind::ZeroCopy],
        workloads: vec![WorkloadKind::Rr],
        field_sizes: vec![256],
        threads: vec![1],
        warmup: Duration::ZERO,
        duration: Duration::from_millis(50),
        ..Matrix::quick()
    };
    let cfg = &m.cells()[0];
    // The host facts come from the sweep, once, shared by every cell.
    let host = Arc::new(copybench::probe::gather());
    let outcome = run_cell(cfg, &m, &host);
    let row = make_row(0, 0, cfg, &m, &outcome);
    assert_eq!(row.status, copybench::Status::Ok, "{}", row.error);
    // rr over zero-copy fills the latency and zero-copy columns too.
    for f in [Figure::LatencyP50Us, Figure::ZcSends, Figure::Messages] {
        assert!(row.get(f).is_some(), "{f:?} missing");
    }

    // The cell itself, samples, total and host facts, through JSON: equal,
    // and the row derived from the copy is the same row.
    let cell = outcome.unwrap();
    assert_eq!(&cell.config, cfg);
    assert!(Arc::ptr_eq(&cell.host, &host) && cell.server_host.is_none());
    assert_eq!(row.samples, Some(cell.samples.len() as u32));
    let json = serde_json::to_string(&cell).unwrap();
    let back: CellResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cell);
    assert_eq!(make_row(0, 0, cfg, &m, &Ok(back)), row);

    let json = serde_json::to_string(&row).unwrap();
    let back: Row = serde_json::from_str(&json).unwrap();
    assert_eq!(back, row);

    let dir = scratch("figures-roundtrip");
    let path = dir.join("results.csv");
    let mut sink = CsvSink::create(&path).unwrap();
    sink.write(&row).unwrap();
    drop(sink);
    let rows = copybench::report::read_results(&path).unwrap();
    assert_eq!(rows, vec![row]);

    // Its samples.csv rows: one per sample, read back equal.
    let samples = cell.sample_rows(0, 0);
    assert_eq!(samples.len(), cell.samples.len());
    let path = dir.join("samples.csv");
    let mut sink = CsvSink::create(&path).unwrap();
    for s in &samples {
        sink.write(s).unwrap();
    }
    drop(sink);
    let back: Vec<SampleRow> = csv::Reader::from_path(&path)
        .unwrap()
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, samples);
    for (s, r) in samples.iter().zip(&cell.samples) {
        assert_eq!(s.get(Figure::LatencyP50Us), Figure::LatencyP50Us.of(r));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_report_round_trips_through_json() {
    let shape = Shape {
        fields: 2,
        field_size: 64,
    };
    let cfg = Config::new(
        StrategyKind::OneCopy,
        TransportKind::Loopback,
        WorkloadKind::Rr,
        shape,
    );
    let mut exp = Experiment::start(&cfg).unwrap();
    let report = exp.run(Batch::Messages(200)).unwrap();
    exp.stop().unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: BatchReport = serde_json::from_str(&json).unwrap();
    for f in Figure::all() {
        assert_eq!(back.messages, report.messages);
        assert_eq!(f.of(&back), f.of(&report), "{f:?}");
    }
}

#[test]
fn a_cell_result_with_its_config_round_trips_through_json() {
    let shape = Shape {
        fields: 4,
        field_size: 512,
    };
    let config = Config::new(
        StrategyKind::ZeroCopy,
        TransportKind::Loopback,
        WorkloadKind::Stream,
        shape,
    );
    let mut exp = Experiment::start(&config).unwrap();
    let samples = vec![
        exp.run(Batch::Messages(250)).unwrap(),
        exp.run(Batch::Messages(250)).unwrap(),
    ];
    exp.stop().unwrap();
    // The host facts come from the sweep, once, shared by every cell.
    let host = Arc::new(copybench::probe::gather());
    let cell = CellResult::new(config, samples, false, Arc::clone(&host));
    assert_eq!(cell.total.messages, 500);
    let json = serde_json::to_string(&cell).unwrap();
    let back: CellResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cell);
    assert_eq!(*back.host, *host);
    // 4 x 512 B fields and a header span a handful of pages, under any
    // host's max_skb_frags (17 by default).
    if host.max_skb_frags.is_some() {
        assert_eq!(cell.exceeds_fragment_limit(), Some(false));
    }
    // A `--connect` cell: the server's facts are its own, and the limit
    // that splits a send is the sending (client) host's.
    let server = copybench::model::host::HostFacts {
        kernel: Some("6.1.0-remote".into()),
        max_skb_frags: Some(17),
        ..Default::default()
    };
    let mut remote = cell.clone();
    remote.server_host = Some(Arc::new(server.clone()));
    Arc::make_mut(&mut remote.host).max_skb_frags = Some(0);
    assert_eq!(*remote.host_of(copybench::Role::Server), server);
    assert_eq!(
        remote.host_of(copybench::Role::Client).max_skb_frags,
        Some(0)
    );
    assert_eq!(remote.exceeds_fragment_limit(), Some(true));
    let json = serde_json::to_string(&remote).unwrap();
    assert_eq!(serde_json::from_str::<CellResult>(&json).unwrap(), remote);
}
