//! Faults a run meets in the field, forced on purpose and checked as a user
//! meets them: the built binary, real sockets in namespaces of the test's own.
//!
//! Every test is bounded in time (a child that overstays is killed and the
//! test fails), checks that nothing counted was lost (messages x message
//! bytes = bytes verified; zero-copy completions = sends) and that nothing
//! is left behind: the namespaces are gone and no sysctl of the host's own
//! namespace changed. The namespace tests skip without root, and must run
//! under CI (see tests/common/netns.rs).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::netns::NetnsPair;
use copybench::{Row, Status, StrategyKind, WorkloadKind};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

fn copybench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copybench"));
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// The flags that point a run at the pair.
fn veth_flags(pair: &NetnsPair) -> Vec<String> {
    vec![
        "--server-ns".into(),
        pair.server_ns.clone(),
        "--client-ns".into(),
        pair.client_ns.clone(),
        "--server-addr".into(),
        pair.server_addr.to_string(),
    ]
}

const OPTMEM: &str = "/proc/sys/net/core/optmem_max";

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path).unwrap().trim().to_string()
}

/// Runs a command inside a namespace (`ip netns exec`), which must succeed.
fn in_ns(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip netns exec {ns} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a test must leave as it found: the host's own optmem, and no namespace.
struct Host {
    optmem: String,
}

impl Host {
    fn now() -> Host {
        Host {
            optmem: read_trimmed(OPTMEM),
        }
    }

    /// Tears the pair down and checks that nothing is left of it.
    fn check_left_as_found(&self, pair: NetnsPair) {
        let names = [pair.server_ns.clone(), pair.client_ns.clone()];
        drop(pair);
        for ns in names {
            let path = copybench::netns_path(&ns);
            assert!(!path.exists(), "{} was left behind", path.display());
        }
        assert_eq!(
            read_trimmed(OPTMEM),
            self.optmem,
            "the host's own net.core.optmem_max changed"
        );
    }
}

/// Waits for a child, killing it (and failing the test) past `limit`.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish(mut child: Child, limit: Duration, what: &str) -> (ExitStatus, String) {
    let status = wait_bounded(&mut child, limit, what);
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    (status, stderr)
}

/// Waits until the server namespace holds an established TCP connection.
fn wait_established(pair: &NetnsPair, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_ns(&pair.server_ns, &["ss", "-tnH", "state", "established"])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "{what}: no connection came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A 20 s run over the pair's veth with socket timeout `timeout` (seconds),
/// returned once its connection is up and sending.
fn veth_run_under_way(pair: &NetnsPair, timeout: &str, what: &str) -> Child {
    let child = copybench()
        .args(["run", "--transport", "veth"])
        .args(veth_flags(pair))
        .args(["--duration", "20", "--warmup", "0", "--timeout", timeout])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_established(pair, what);
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// The figures a run counted add up: nothing counted was lost.
fn assert_nothing_lost(v: &Value, rr: bool) {
    let (m, b, per) = (
        v["messages"].as_u64().unwrap(),
        v["bytes"].as_u64().unwrap(),
        v["message_bytes"].as_u64().unwrap(),
    );
    assert!(m > 0, "{v}");
    // rr verifies the request and the reply.
    assert_eq!(m * per * if rr { 2 } else { 1 }, b, "messages x bytes: {v}");
    let z = &v["zerocopy"];
    if !z.is_null() {
        assert_eq!(z["completions"], z["sends"], "zero-copy: {z}");
    }
}

/// The same for a sweep's rows.
fn assert_rows_whole(rows: &[Row]) {
    for r in rows.iter().filter(|r| r.status == Status::Ok) {
        let per = if r.workload == WorkloadKind::Rr { 2 } else { 1 };
        let m = r.messages.unwrap();
        assert!(m > 0, "{r:?}");
        assert_eq!(m * r.message_bytes * per, r.bytes.unwrap(), "{r:?}");
        if r.strategy == StrategyKind::ZeroCopy {
            assert_eq!(r.zc_completions, r.zc_sends, "{r:?}");
        }
    }
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn enobufs_under_a_low_optmem_are_retried_and_nothing_is_lost() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("enobufs") else {
        return;
    };
    // optmem_max is per namespace: only the client's sockets feel it. At
    // 2048 B a zero-copy sender of 32 KiB messages hits ENOBUFS over and
    // over; at 512 B or less it cannot send at all.
    let low = "echo 2048 > /proc/sys/net/core/optmem_max";
    in_ns(&pair.client_ns, &["sh", "-c", low]);
    assert_eq!(in_ns(&pair.client_ns, &["cat", OPTMEM]).trim(), "2048");

    let t0 = Instant::now();
    let child = copybench()
        .args(["run", "--transport", "veth"])
        .args(veth_flags(&pair))
        .args(["--strategy", "zero-copy", "--workload", "stream"])
        .args(["--messages", "850", "--warmup", "0", "--timeout", "5"])
        .args(["--full-verify", "--no-counters", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["messages"], 850, "{v}");
    assert_nothing_lost(&v, false);
    let z = &v["zerocopy"];
    assert!(z["enobufs"].as_u64().unwrap() > 0, "no ENOBUFS retry: {z}");
    assert_eq!(z["sends"], 850, "{z}");

    // At 512 B no zero-copy send gets through: after --timeout of retries
    // the run fails, naming the connection, and counts nothing.
    let none = "echo 512 > /proc/sys/net/core/optmem_max";
    in_ns(&pair.client_ns, &["sh", "-c", none]);
    let child = copybench()
        .args(["run", "--transport", "veth"])
        .args(veth_flags(&pair))
        .args(["--strategy", "zero-copy", "--workload", "stream"])
        .args(["--messages", "850", "--warmup", "0", "--timeout", "1"])
        .args(["--no-counters", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("connection 0 (client)"), "{stderr}");
    assert!(out.stdout.is_empty(), "a failed run printed figures");
    host.check_left_as_found(pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_peer_killed_mid_run_ends_it_at_once_naming_the_connection() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("peer-killed") else {
        return;
    };
    let child = veth_run_under_way(&pair, "10", "peer killed");
    // The kernel destroys the server's end of the connection (ss -K).
    in_ns(
        &pair.server_ns,
        &["ss", "-K", "dst", &pair.client_addr.to_string()],
    );
    let t0 = Instant::now();
    let (status, stderr) = finish(child, Duration::from_secs(15), "peer killed");
    // "At once": well inside the 10 s timeout a dead peer would otherwise take.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("connection 0"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    host.check_left_as_found(pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_link_set_down_mid_run_ends_it_within_the_timeout() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("link-down") else {
        return;
    };
    let child = veth_run_under_way(&pair, "1", "link down");
    set_link_down(&pair);
    let t0 = Instant::now();
    let (status, stderr) = finish(child, Duration::from_secs(15), "link down");
    // --timeout 1: one blocked call times out, then the run is torn down.
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("connection"), "{stderr}");
    host.check_left_as_found(pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_server_addr_no_interface_has_is_a_usage_error() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("wrong-addr") else {
        return;
    };
    // The other host address of the pair's /30 belongs to the client.
    let wrong = pair.client_addr.to_string();
    let out = copybench()
        .args(["run", "--transport", "veth", "--messages", "10"])
        .args([
            "--server-ns",
            &pair.server_ns,
            "--client-ns",
            &pair.client_ns,
        ])
        .args(["--server-addr", &wrong])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--server-addr {wrong}")),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    host.check_left_as_found(pair);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("copybench-faults-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn row_count(dir: &Path) -> usize {
    // The header is one line; every row ends with a newline when flushed.
    fs::read_to_string(dir.join("results.csv")).map_or(0, |s| s.lines().count().saturating_sub(1))
}

fn wait_rows(dir: &Path, n: usize, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while row_count(dir) < n {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what}: the sweep ended ({status}) before {n} rows");
        }
        assert!(Instant::now() < deadline, "{what}: no {n} rows in 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A two-cell sweep over the pair's veth: one-copy at 4 KiB, then at 16 KiB
/// (two blocks of one arm each: the arms of one block run side by side).
fn veth_sweep(pair: &NetnsPair, dir: &Path, cell_limit: &str) -> Child {
    copybench()
        .arg("sweep")
        .args(veth_flags(pair))
        .args(["--transports", "veth", "--strategies", "one-copy"])
        .args([
            "--workloads",
            "stream",
            "--sizes",
            "4K,16K",
            "--threads",
            "1",
        ])
        // Cells long enough that the test takes the link down well inside the second.
        .args(["--warmup", "0", "--duration", "1", "--repeat", "1"])
        .args(["--cell-limit", cell_limit, "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn set_link_down(pair: &NetnsPair) {
    let down = Command::new("ip")
        .args([
            "-n",
            &pair.client_ns,
            "link",
            "set",
            &pair.client_veth,
            "down",
        ])
        .status()
        .unwrap();
    assert!(down.success());
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_stuck_cell_is_stopped_by_its_time_limit_and_the_sweep_goes_on() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("cell-limit") else {
        return;
    };
    let dir = scratch("cell-limit");
    let mut child = veth_sweep(&pair, &dir, "2.5");
    wait_rows(&dir, 1, &mut child, "cell limit");
    // The first cell's connection is closed before its row is written.
    wait_established(&pair, "cell limit");
    // The second cell's bytes now go nowhere: its sender blocks in send().
    set_link_down(&pair);
    let t0 = Instant::now();
    let (status, stderr) = finish(child, Duration::from_secs(15), "cell limit");
    // Ended by the limit (2.5 s from the cell's start), not the 10 s socket timeout.
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(0), "{stderr}");
    let rows = copybench::report::read_results(&dir.join("results.csv")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].status, Status::Ok, "{}", rows[0].error);
    assert_eq!(rows[1].status, Status::Failed);
    assert!(
        rows[1].error.contains("--cell-limit 2.5 s"),
        "{}",
        rows[1].error
    );
    assert_eq!(rows[1].throughput_gbps, None);
    assert_rows_whole(&rows);
    fs::remove_dir_all(&dir).unwrap();
    host.check_left_as_found(pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_second_signal_stops_a_stuck_cell_at_once_keeping_the_rows() {
    let host = Host::now();
    let Some(pair) = NetnsPair::up("second-signal") else {
        return;
    };
    let dir = scratch("second-signal");
    // A limit far away, so that only the second signal can end the stuck cell.
    let mut child = veth_sweep(&pair, &dir, "60");
    wait_rows(&dir, 1, &mut child, "second signal");
    wait_established(&pair, "second signal");
    set_link_down(&pair);
    std::thread::sleep(Duration::from_millis(200));
    let pid = Pid::from_raw(child.id() as i32);
    // The first asks for a stop after the cell, which is stuck; the second stops it.
    kill(pid, Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "ended on the first signal"
    );
    kill(pid, Signal::SIGINT).unwrap();
    let t0 = Instant::now();
    let (status, stderr) = finish(child, Duration::from_secs(15), "second signal");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopping now"), "{stderr}");
    assert!(stderr.contains("kept the 1 rows"), "{stderr}");
    let rows = copybench::report::read_results(&dir.join("results.csv")).unwrap();
    assert_eq!(rows.len(), 1, "the cut-short cell is not a row");
    assert_eq!(rows[0].status, Status::Ok, "{}", rows[0].error);
    assert_rows_whole(&rows);
    assert!(dir.join("index.html").exists());
    fs::remove_dir_all(&dir).unwrap();
    host.check_left_as_found(pair);
}

/// A loopback sweep of many short cells, every strategy and workload.
fn loopback_sweep(dir: &Path) -> Child {
    copybench()
        .arg("sweep")
        .args(["--sizes", "64,4K", "--threads", "1,2", "--warmup", "0"])
        .args(["--duration", "0.1", "--repeat", "3", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigint_and_sigterm_mid_sweep_exit_130_keeping_every_finished_row() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let what = format!("{signal}");
        let dir = scratch(&format!("signal-{signal}"));
        let mut child = loopback_sweep(&dir);
        wait_rows(&dir, 3, &mut child, &what);
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let (status, stderr) = finish(child, Duration::from_secs(10), &what);
        assert_eq!(status.code(), Some(130), "{what}: {stderr}");
        let rows = copybench::report::read_results(&dir.join("results.csv")).unwrap();
        // The cell running when the signal came finishes and is kept too.
        assert!(
            rows.len() >= 3 && rows.len() < 72,
            "{what}: {} rows",
            rows.len()
        );
        assert!(rows.iter().all(|r| r.status == Status::Ok), "{what}");
        assert!(
            stderr.contains(&format!("kept the {} rows", rows.len())),
            "{what}: {stderr}"
        );
        assert_rows_whole(&rows);
        assert!(dir.join("index.html").exists(), "{what}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn kill_9_leaves_a_results_csv_that_report_rebuilds() {
    let dir = scratch("kill-9");
    let mut child = loopback_sweep(&dir);
    wait_rows(&dir, 3, &mut child, "kill -9");
    child.kill().unwrap(); // SIGKILL: no handler runs, nothing is tidied.
    child.wait().unwrap();
    let rows = copybench::report::read_results(&dir.join("results.csv")).unwrap();
    assert!(rows.len() >= 3, "{} rows", rows.len());
    assert_rows_whole(&rows);
    assert!(
        !dir.join("index.html").exists(),
        "no report was written yet"
    );
    let out: Output = copybench().arg("report").arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("index.html").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_link_lost_between_batches_does_not_hang_the_teardown() {
    use copybench::{Batch, Bound, Config, Experiment, Shape, StrategyKind, TransportKind};
    use copybench::{Veth, WorkloadKind};
    let host = Host::now();
    let Some(pair) = NetnsPair::up("teardown") else {
        return;
    };
    let shape = Shape {
        fields: 8,
        field_size: 4096,
    };
    let mut cfg = Config::new(
        StrategyKind::OneCopy,
        TransportKind::Veth,
        WorkloadKind::Stream,
        shape,
    );
    cfg.transport.veth = Veth {
        server_ns: pair.server_ns.clone(),
        client_ns: pair.client_ns.clone(),
        server_addr: pair.server_addr,
    };
    cfg.transport.timeout = Duration::from_secs(1);
    cfg.counters = false;
    // What a sweep gives each cell: a deadline for everything, teardown included.
    let bound = Bound {
        cancel: None,
        deadline: Some((Instant::now() + Duration::from_secs(3), "test".into())),
    };
    let mut exp = Experiment::start_bounded(&cfg, bound).unwrap();
    let r = exp.run(Batch::Messages(300)).unwrap();
    assert_eq!(r.messages, 300);
    assert_eq!(r.bytes, 300 * shape.message_bytes() as u64);
    // The client's FIN will never reach the server, which waits for it.
    set_link_down(&pair);
    let t0 = Instant::now();
    let _ = exp.stop();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    host.check_left_as_found(pair);
}
