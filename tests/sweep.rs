//! A user's first session: a tiny sweep into a directory of its own, a sweep
//! interrupted half-way, and a report rebuilt from the CSV alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use copybench::Row;

fn copybench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("copybench-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn rows(dir: &Path) -> Vec<Row> {
    copybench::report::read_results(&dir.join("results.csv")).expect("results.csv reads back")
}

/// Two sizes, one thread count, short cells: every strategy the host can run
/// (5 where io_uring can be used) x 2 workloads x 2 sizes.
const TINY: &[&str] = &[
    "--sizes",
    "64,4K",
    "--threads",
    "1",
    "--warmup",
    "0",
    "--duration",
    "0.1",
    "--repeat",
    "1",
];

#[test]
fn a_tiny_sweep_writes_csv_plots_and_html() {
    let dir = scratch("tiny");
    let out = copybench()
        .arg("sweep")
        .args(TINY)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rows = rows(&dir);
    let strategies = copybench::StrategyKind::host_default();
    assert_eq!(rows.len(), strategies.len() * 2 * 2);
    for s in &strategies {
        assert!(rows.iter().any(|r| r.strategy == s.name()), "{s} left out");
    }
    for r in &rows {
        assert_eq!(r.status, "ok", "{}", r.error);
        assert!(r.messages.unwrap() > 0);
        assert!(r.throughput_gbps.unwrap() > 0.0);
        assert_eq!(r.latency_p50_us.is_some(), r.workload == "rr");
        let completing = copybench::StrategyKind::from_name(&r.strategy)
            .unwrap()
            .has_completions();
        assert_eq!(r.zc_sends.is_some(), completing, "{}", r.strategy);
        // No PMU here means empty cells, never zeros; with one, real counts.
        assert_ne!(r.client_cycles, Some(0.0));
        assert!(r.client_cpu_ns_per_byte.unwrap() > 0.0);
    }
    let header = fs::read_to_string(dir.join("results.csv")).unwrap();
    let header = header.lines().next().unwrap();
    for column in [
        "strategy",
        "field_size_bytes",
        "throughput_gbps",
        "latency_p99_us",
        "client_cycles",
        "zc_copied_share",
    ] {
        assert!(
            header.split(',').any(|c| c == column),
            "missing column {column}"
        );
    }
    let svgs = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(svgs >= 5, "only {svgs} plots");
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("throughput.svg"));
    assert!(fs::metadata(dir.join("env.json")).is_ok());
    // The findings print at the end of the sweep too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zero-copy"), "{stdout}");

    // `report` rebuilds the same page from results.csv alone.
    let rebuilt = copybench().arg("report").arg(&dir).output().unwrap();
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert_eq!(fs::read_to_string(dir.join("index.html")).unwrap(), html);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigint_keeps_the_finished_rows_and_exits_130() {
    let dir = scratch("sigint");
    let mut child = copybench()
        .arg("sweep")
        .args([
            "--sizes",
            "64,1K,4K",
            "--threads",
            "1,2",
            "--warmup",
            "0",
            "--duration",
            "0.2",
            "--repeat",
            "3",
        ])
        .arg("--out")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let csv = dir.join("results.csv");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_to_string(&csv).map_or(0, |s| s.lines().count()) < 3 {
        assert!(Instant::now() < deadline, "the sweep wrote no rows");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));

    let kept = rows(&dir);
    assert!(
        kept.len() >= 2
            && kept.len() < copybench::StrategyKind::host_default().len() * 3 * 2 * 2 * 3,
        "{} rows",
        kept.len()
    );
    assert!(kept.iter().all(|r| r.status == "ok"));
    assert!(
        dir.join("index.html").exists(),
        "the report of what was measured is written"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_names_a_missing_column() {
    let dir = scratch("badcsv");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("results.csv"),
        "cell,repeat,strategy\n0,0,one-copy\n",
    )
    .unwrap();
    let out = copybench().arg("report").arg(&dir).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("transport"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sweep_input_is_a_usage_error() {
    for args in [
        &["--sizes", "0"][..],
        &["--threads", "0"],
        &["--repeat", "0"],
        &["--strategies", "zero-copy", "--transports", "unix"],
        &["--strategies", "uring-zc", "--transports", "unix"],
    ] {
        let out = copybench().arg("sweep").args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{args:?}"
        );
    }
}
