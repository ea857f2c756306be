//! A user's first session: a tiny sweep into a directory of its own, a sweep
//! interrupted half-way, and a report rebuilt from the CSV alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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

/// `copybench compare --json OLD NEW`, which must succeed: its JSON.
fn compare_json(old: &Path, new: &Path) -> serde_json::Value {
    let out = copybench()
        .args(["compare", "--json"])
        .arg(old)
        .arg(new)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `copybench sweep ARGS --out DIR`, as a user types it.
fn sweep_into(dir: &Path, args: &[&str]) -> Output {
    copybench()
        .arg("sweep")
        .args(args)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap()
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
    let out = sweep_into(&dir, TINY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rows = rows(&dir);
    let strategies = copybench::StrategyKind::host_default();
    assert_eq!(rows.len(), strategies.len() * 2 * 2);
    for s in &strategies {
        assert!(rows.iter().any(|r| r.strategy == *s), "{s} left out");
    }
    for r in &rows {
        assert_eq!(r.status, copybench::Status::Ok, "{}", r.error);
        assert!(r.messages.unwrap() > 0);
        assert!(r.throughput_gbps.unwrap() > 0.0);
        assert_eq!(
            r.latency_p50_us.is_some(),
            r.workload == copybench::WorkloadKind::Rr
        );
        let completing = r.strategy.has_completions();
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
    assert!(html.contains("<figure id=\"ratio\"><svg"));
    // env.json reads back as the typed host facts the report uses, the
    // sweep's command included, and holds this host's facts.
    let env = copybench::report::read_env(&fs::read_to_string(dir.join("env.json")).unwrap())
        .expect("the sweep's env.json reads as SweepEnv");
    let here = copybench::probe::gather();
    assert_eq!(env.host.kernel, here.kernel);
    assert_eq!(env.host.max_skb_frags, here.max_skb_frags);
    assert_eq!(env.host.counters, here.counters);
    let run = env.run.expect("the sweep records its run");
    assert!(run.command.unwrap().contains("sweep"));
    // ...and the receive mark its copying receivers kept by default, which
    // the page says beside the date and the command.
    let mark = run
        .default_rcvlowat
        .expect("the sweep records its default mark");
    assert_eq!(mark.bytes, copybench::RECV_AUTO_LOWAT as u64);
    assert_eq!(mark.min_mss, u64::from(copybench::RECV_AUTO_MIN_MSS));
    assert!(
        html.contains("copying receivers waited for 16 KiB"),
        "no receive mark on the page"
    );
    assert!(html.contains(&format!("kernel {}", here.kernel.unwrap())));
    // The findings print at the end of the sweep too, as a table.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-copy vs two-copy"), "{stdout}");
    // Off a terminal, one line per finished cell still shows progress.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let n = copybench::StrategyKind::host_default().len() * 2 * 2;
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        n,
        "{stderr}"
    );
    let last = copybench::StrategyKind::host_default().pop().unwrap();
    assert!(
        stderr.contains(&format!(
            "[{n}/{n}] stream loopback 1 thr 4 KiB {last}: throughput_gbps"
        )),
        "{stderr}"
    );
    // Every row has its samples, its interval and what stopped it.
    for r in &rows {
        assert!(r.samples.unwrap() >= 1);
        assert!(r.throughput_gbps_lo.unwrap() <= r.throughput_gbps.unwrap());
        assert!(r.throughput_gbps.unwrap() <= r.throughput_gbps_hi.unwrap());
        assert!(["precision", "cap"].contains(&r.stopped_by.as_str()));
        assert!(r.precision_reached.is_some());
    }
    let samples = fs::read_to_string(dir.join("samples.csv")).unwrap();
    let sampled: usize = rows.iter().map(|r| r.samples.unwrap() as usize).sum();
    assert_eq!(samples.lines().count(), 1 + sampled);
    let findings: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("findings.json")).unwrap()).unwrap();
    // rr and stream, 2 metrics each, 2 sizes, and the pairs: the seed's
    // three, then uring and uring-zc each against two-copy and against its
    // copying twin (one-copy, zero-copy), where they ran.
    let ran = copybench::StrategyKind::host_default();
    let pairs = 3 + 2 * ran
        .iter()
        .filter(|s| matches!(s.name(), "uring" | "uring-zc"))
        .count();
    assert_eq!(
        findings["comparisons"].as_array().unwrap().len(),
        2 * 2 * pairs * 2
    );
    for c in findings["comparisons"].as_array().unwrap() {
        assert!(
            ["a", "b", "≈"].contains(&c["verdict"].as_str().unwrap()),
            "{c}"
        );
    }

    // `report` rebuilds the same page from results.csv alone.
    let rebuilt = copybench().arg("report").arg(&dir).output().unwrap();
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert_eq!(fs::read_to_string(dir.join("index.html")).unwrap(), html);

    // A sweep compared with itself: every cell matched, nothing called.
    let c = compare_json(&dir, &dir);
    assert_eq!(c["cells"].as_array().unwrap().len(), n);
    assert!(c["unmatched"].as_array().unwrap().is_empty());
    for cell in c["cells"].as_array().unwrap() {
        for f in cell["figures"].as_array().unwrap() {
            assert_eq!(f["verdict"], "≈", "{f}");
        }
    }
    assert!(dir.join("compare.html").exists());
    assert_eq!(c["settings_differ"], serde_json::json!([]));
    // Against the same rows from a sweep that kept no default receive mark
    // (its env.json from before the mark): compare says the sweeps differ
    // in it, since loopback streams move with it.
    let older = scratch("compare-older");
    fs::create_dir_all(&older).unwrap();
    for f in ["results.csv", "samples.csv"] {
        fs::copy(dir.join(f), older.join(f)).unwrap();
    }
    let mut env: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("env.json")).unwrap()).unwrap();
    env["run"]
        .as_object_mut()
        .unwrap()
        .remove("default_rcvlowat");
    // Compared with `dir`, the older sweep's env.json as `env` says: the one
    // note compare makes, which must contain `want`.
    let one_note = |env: &serde_json::Value, want: &str| {
        fs::write(older.join("env.json"), env.to_string()).unwrap();
        let c = compare_json(&older, &dir);
        let notes = c["settings_differ"].as_array().unwrap();
        assert_eq!(notes.len(), 1, "{c}");
        assert!(notes[0].as_str().unwrap().contains(want), "{}", notes[0]);
    };
    one_note(&env, "OLD: none, NEW: 16 KiB");
    let text = copybench()
        .arg("compare")
        .arg(&older)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout)
        .contains("note: the sweeps ran with different default receive marks"));
    // And against one whose sockets had another congestion control
    // (--congestion): its streams may have been paced, or not.
    let host = env["tcp_congestion_control"].as_str().unwrap().to_string();
    let other = if host == "reno" { "cubic" } else { "reno" };
    env["run"]["default_rcvlowat"] = serde_json::json!({"bytes": 16384, "min_mss": 32768});
    env["run"]["congestion"] = other.into();
    one_note(
        &env,
        &format!("congestion controls (OLD: {other}, NEW: {host})"),
    );
    fs::remove_dir_all(&older).unwrap();
    let missing = copybench()
        .arg("compare")
        .arg(&dir)
        .arg(dir.join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NEW"));
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
    assert!(kept.iter().all(|r| r.status == copybench::Status::Ok));
    assert!(
        dir.join("index.html").exists(),
        "the report of what was measured is written"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_sweep_is_kept_unless_resumed() {
    let dir = scratch("resume");
    let sweep = |sizes: &str, extra: &[&str]| {
        let mut args: Vec<&str> = TINY.to_vec();
        args[1] = sizes;
        args.extend(["--workloads", "rr"]);
        args.extend(extra);
        sweep_into(&dir, &args)
    };
    let first = sweep("64", &[]);
    assert!(first.status.success());
    let before = fs::read_to_string(dir.join("results.csv")).unwrap();
    let strategies = copybench::StrategyKind::host_default().len();
    assert_eq!(rows(&dir).len(), strategies);

    let again = sweep("64,4K", &[]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--out") && err.contains("--resume"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(fs::read_to_string(dir.join("results.csv")).unwrap(), before);

    let resumed = sweep("64,4K", &["--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    // Only the 4 KiB cells ran; the 64 B rows are kept as they were.
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        strategies
    );
    let all = rows(&dir);
    assert_eq!(all.len(), 2 * strategies);
    assert!(fs::read_to_string(dir.join("results.csv"))
        .unwrap()
        .starts_with(&before));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_resumed_with_a_second_layout_runs_it_and_reports() {
    let dir = scratch("layouts");
    let sweep = |layouts: &str, extra: &[&str]| {
        let mut args: Vec<&str> = TINY.to_vec();
        args[1] = "4K";
        args.extend([
            "--workloads",
            "stream",
            "--strategies",
            "one-copy,zero-copy",
        ]);
        args.extend(["--layouts", layouts]);
        args.extend(extra);
        sweep_into(&dir, &args)
    };
    assert!(sweep("heap", &[]).status.success());
    let resumed = sweep("heap,page", &["--resume"]);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    // The page cells are new runs, not the heap ones again.
    assert_eq!(stderr.lines().filter(|l| l.starts_with('[')).count(), 2);
    let all = rows(&dir);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter()
            .filter(|r| r.layout == copybench::Layout::Page)
            .count(),
        2
    );
    // `copybench report` takes the heap and page rows of one shape as two
    // runs, and plots page as series of its own.
    let report = copybench().arg("report").arg(&dir).output().unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let svg = fs::read_to_string(dir.join("throughput.svg")).unwrap();
    for series in ["zero-copy (heap)", "zero-copy (page)", "one-copy (page)"] {
        assert!(svg.contains(series), "{series} missing from throughput.svg");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_json_prints_the_findings() {
    let dir = scratch("json");
    let mut args = TINY.to_vec();
    args.extend([
        "--workloads",
        "stream",
        "--strategies",
        "two-copy,one-copy",
        "--json",
    ]);
    let out = sweep_into(&dir, &args);
    assert!(out.status.success());
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings["rule"]["level"], 0.95);
    assert_eq!(findings["crossovers"].as_array().unwrap().len(), 2);
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
        &["--precision", "0"],
        &["--sample", "5"],
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

/// A sweep pins each connection's two ends to CPUs of their own unless told
/// not to (its calls must survive a rerun; see the README's Reproducibility),
/// and records where they ran; `--no-pin` leaves them to the scheduler.
#[test]
fn a_sweep_pins_its_threads_unless_told_not_to() {
    let two_cpus = copybench::config::allowed_cpus().len() >= 2;
    for (flag, name) in [(None, "pinned"), (Some("--no-pin"), "unpinned")] {
        let dir = scratch(name);
        let mut args = vec![
            "--strategies",
            "one-copy",
            "--workloads",
            "rr",
            "--sizes",
            "64",
            "--threads",
            "1",
            "--warmup",
            "0",
            "--duration",
            "0.05",
            "--repeat",
            "1",
        ];
        args.extend(flag);
        let out = sweep_into(&dir, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = rows(&dir);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        if flag.is_none() && two_cpus {
            assert!(
                !r.client_cpus.is_empty() && !r.server_cpus.is_empty(),
                "not pinned"
            );
            assert_ne!(r.client_cpus, r.server_cpus, "both ends on one CPU");
        } else {
            assert_eq!((r.client_cpus.as_str(), r.server_cpus.as_str()), ("", ""));
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
