//! `copybench run` as a user (or a script reading its JSON) meets it: the
//! built binary, real sockets, exit codes and what lands on stdout and stderr.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn copybench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot run the copybench binary")
}

/// A counted run with no warm-up finishes in milliseconds; the timeout only
/// bounds a broken run.
fn quick_run(extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--messages",
        "200",
        "--warmup",
        "0",
        "--threads",
        "2",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    copybench(&args)
}

fn stdout_of(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn json_run(extra: &[&str]) -> Value {
    let what = extra.join(" ");
    let text = stdout_of(&quick_run(&[&["--json"], extra].concat()), &what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// Other tools read these keys; their absence or a wrong type breaks them.
fn check_json_keys(v: &Value, strategy: &str, workload: &str) {
    let who = format!("{strategy} {workload}");
    assert_eq!(v["strategy"], strategy, "{who}");
    assert_eq!(v["transport"], "loopback", "{who}");
    assert_eq!(v["workload"], workload, "{who}");
    assert_eq!(v["threads"], 2, "{who}");
    assert_eq!(v["messages"], 200, "{who}");
    for key in [
        "field_size",
        "fields",
        "message_bytes",
        "bytes",
        "seconds",
        "throughput_gbps",
        "messages_per_sec",
    ] {
        assert!(v[key].is_number(), "{who}: {key} = {}", v[key]);
    }
    for role in ["client", "server"] {
        for part in ["user_ns", "sys_ns"] {
            assert!(
                v["cpu"][role][part].is_u64(),
                "{who}: cpu.{role}.{part} = {}",
                v["cpu"][role][part]
            );
        }
    }
    // Every sampled figure has its median and 95 % interval (200 messages in 10 samples).
    assert_eq!(v["samples"], 10, "{who}");
    let tp = &v["intervals"]["throughput_gbps"];
    assert!(tp["lo"].as_f64() <= tp["median"].as_f64(), "{who}: {tp}");
    assert!(tp["median"].as_f64() <= tp["hi"].as_f64(), "{who}: {tp}");
    assert_eq!(tp["median"], v["throughput_gbps"], "{who}");
    assert!(v["intervals"]["client_cpu_ns_per_byte"]["median"].is_number());
    assert_eq!(
        v["intervals"]["latency_p50_us"].is_null(),
        workload == "stream",
        "{who}"
    );
    let latency = &v["latency_us"];
    if workload == "rr" {
        for q in ["p50", "p99", "p999", "max"] {
            assert!(latency[q].is_number(), "{who}: latency_us.{q} = {latency}");
        }
    } else {
        assert!(latency.is_null(), "{who}: stream has no latency: {latency}");
    }
    let zc = &v["zerocopy"];
    if strategy == "zero-copy" || strategy == "uring-zc" {
        for key in ["sends", "completions", "copied", "enobufs"] {
            assert!(zc[key].is_u64(), "{who}: zerocopy.{key} = {zc}");
        }
    } else {
        assert!(
            zc.is_null(),
            "{who}: only the zero-copy strategies have zerocopy: {zc}"
        );
    }
}

#[test]
fn json_output_carries_the_keys_other_tools_read() {
    for strategy in common::strategy_names() {
        for workload in ["rr", "stream"] {
            let v = json_run(&["--strategy", strategy, "--workload", workload]);
            check_json_keys(&v, strategy, workload);
        }
    }
}

#[test]
fn table_output_names_the_strategy_and_the_throughput_unit() {
    for strategy in common::strategy_names() {
        let text = stdout_of(&quick_run(&["--strategy", strategy]), strategy);
        assert!(text.contains(strategy), "{strategy}: {text}");
        assert!(text.contains("Gbit/s"), "{strategy}: {text}");
    }
}

#[test]
fn sizes_take_binary_suffixes() {
    for (flag, bytes) in [("4K", 4096), ("64KiB", 65536), ("100", 100)] {
        let v = json_run(&["--field-size", flag, "--fields", "2"]);
        assert_eq!(v["field_size"], bytes, "--field-size {flag}");
        // The wire adds a header of its own to the fields.
        let msg = v["message_bytes"].as_u64().unwrap();
        assert!(msg > 2 * bytes, "--field-size {flag}: message_bytes {msg}");
    }
}

/// A user who types a bad value gets one line that names the flag and exit
/// code 2, never a panic or a backtrace.
fn assert_rejected(args: &[&str], flag: &str) {
    assert_refused(quick_run(args), args, flag);
}

fn assert_refused(out: Output, args: &[&str], flag: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = args.join(" ");
    assert_eq!(out.status.code(), Some(2), "{what}: stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{what}: want one line, got: {stderr}"
    );
    assert!(
        stderr.contains(flag),
        "{what}: should name {flag}: {stderr}"
    );
    assert!(
        stderr.len() < 400,
        "{what}: one line a person reads: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{what}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{what}: printed a result anyway");
}

#[test]
fn bad_inputs_are_rejected_with_one_line_and_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--field-size", "0"], "--field-size"),
        (&["--field-size", "65M"], "--field-size"),
        (&["--field-size", "4Q"], "--field-size"),
        (&["--fields", "0"], "--fields"),
        (&["--fields", "1024"], "--fields"),
        (&["--threads", "0"], "--threads"),
        (&["--threads", "1025"], "--threads"),
        (&["--duration", "0"], "--duration"),
        (&["--duration", "-1"], "--duration"),
        (&["--strategy", "bogus"], "--strategy"),
        (&["--transport", "bogus"], "--transport"),
        (&["--workload", "bogus"], "--workload"),
        (&["--strategy", "zero-copy", "--transport", "unix"], "unix"),
        (&["--strategy", "uring-zc", "--transport", "unix"], "unix"),
        // Negative counts name the flag and its range, not "unexpected argument".
        (&["--fields", "-3"], "--fields must be 1 to 1023"),
        (
            &["--field-size", "-1"],
            "--field-size must be 1 B to 64 MiB",
        ),
        (&["--pool", "-1"], "--pool must be 1 to 65536"),
        (&["--pool", "10000000"], "--pool must be 1 to 65536"),
        // --messages with an explicit --duration: one of the two would be ignored.
        (&["--duration", "0.3"], "--duration"),
        // Ranges a person can read: no 300-digit numbers, a lower bound that works.
        // Beyond what the kernel takes (it would silently cap or wrap the request).
        (&["--sndbuf", "100G"], "--sndbuf"),
        (&["--sndbuf", "4G"], "net.core.wmem_max"),
        (&["--rcvbuf", "4G"], "--rcvbuf"),
        // A congestion control the host does not list, one no kernel could
        // have, and one a unix socket has not.
        (
            &["--congestion", "nosuch"],
            "--congestion nosuch: not available",
        ),
        (&["--congestion", "a b"], "--congestion"),
        (
            &["--congestion", "cubic", "--transport", "unix"],
            "--congestion",
        ),
        // Veth flags without veth would be ignored.
        (&["--server-addr", "198.18.0.9"], "--server-addr"),
        (&["--client-ns", "x"], "--client-ns"),
        // Veth with both ends in one namespace crosses no veth.
        (
            &[
                "--transport",
                "veth",
                "--server-ns",
                "copybench-srv",
                "--client-ns",
                "copybench-srv",
            ],
            "--server-ns and --client-ns are both",
        ),
    ];
    for (args, flag) in cases {
        assert_rejected(args, flag);
    }
    // Without --messages, so that --duration itself is checked.
    for (args, flag) in [
        (
            &["run", "--duration", "1e300"][..],
            "--duration 1e300: must be 0.001 to 86400 seconds",
        ),
        (
            &["run", "--duration", "0"],
            "--duration 0: must be 0.001 to 86400 seconds",
        ),
        (
            &["run", "--warmup", "-1"],
            "--warmup -1: must be 0 to 86400 seconds",
        ),
        (
            &["run", "--timeout", "1e-12"],
            "--timeout 1e-12: must be 0.1 to 86400 seconds",
        ),
        (
            &["run", "--timeout", "0.000001"],
            "--timeout 1e-6: must be 0.1 to 86400 seconds",
        ),
    ] {
        assert_refused(copybench(args), args, flag);
    }
}

#[test]
fn veth_without_its_namespaces_says_how_to_make_them() {
    // Names no one has created: the run must stop before any thread starts.
    let pid = std::process::id().to_string();
    let (srv, cli) = (
        format!("cbt-absent-{pid}-srv"),
        format!("cbt-absent-{pid}-cli"),
    );
    let args = [
        "--transport",
        "veth",
        "--server-ns",
        &srv,
        "--client-ns",
        &cli,
    ];
    assert_rejected(&args, "netns-setup.sh up");
}

#[test]
fn counters_are_measured_or_unavailable_with_a_reason() {
    // rr context-switches on every exchange, so a counted run cannot read 0.
    let counted = json_run(&["--strategy", "one-copy", "--workload", "rr"]);
    let client = &counted["counters"]["client"];
    assert!(
        client["context_switches"].as_f64().unwrap() > 0.0,
        "{client}"
    );
    assert!(client["cpu_ns_per_byte"].as_f64().unwrap() > 0.0);
    for (name, v) in client.as_object().unwrap() {
        if v.is_null() {
            let reason = &counted["unavailable"][name.as_str()];
            let derived = [
                "ipc",
                "cache_miss_rate",
                "cycles_per_byte",
                "cycles_per_msg",
            ]
            .contains(&name.as_str());
            assert!(
                derived || reason.is_string(),
                "{name} is null without a reason"
            );
        } else {
            // Migrations and page faults may truly be 0; what is counted is a real count.
            assert!(v.as_f64().is_some_and(|x| x >= 0.0), "{name} = {v}");
        }
    }
    assert!(client["task_clock_ns"].as_f64().unwrap() > 0.0);

    // Turning counters off is echoed, and every counter says why it is missing.
    let off = json_run(&[
        "--strategy",
        "one-copy",
        "--workload",
        "rr",
        "--no-counters",
    ]);
    assert_eq!(off["options"]["counters"], false);
    assert!(off["counters"]["client"]["context_switches"].is_null());
    assert!(off["unavailable"]["context_switches"]
        .as_str()
        .unwrap()
        .contains("--no-counters"));
}

/// A run whose memory cannot fit is refused before it allocates anything,
/// with the figure and the flags that make it.
#[test]
fn a_run_too_big_for_memory_is_refused_at_once_with_its_figure() {
    let t0 = std::time::Instant::now();
    let out = copybench(&[
        "run",
        "--fields",
        "1023",
        "--field-size",
        "1M",
        "--threads",
        "64",
        "--warmup",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in [
        "--threads 64",
        "--pool",
        "--field-size 1 MiB",
        "GiB of memory",
    ] {
        assert!(stderr.contains(part), "should name {part}: {stderr}");
    }
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(t0.elapsed().as_secs() < 3, "took {:?}", t0.elapsed());
}

/// The JSON echoes the buffer the socket really got, read back with
/// getsockopt: Linux doubles a request for its own bookkeeping.
#[test]
fn json_echoes_the_socket_buffers_the_kernel_set() {
    let v = json_run(&["--sndbuf", "64K", "--rcvbuf", "64K"]);
    let o = &v["options"];
    assert_eq!(o["sndbuf"], 65536, "{o}");
    assert_eq!(o["sndbuf_effective"], 2 * 65536, "{o}");
    assert_eq!(o["rcvbuf_effective"], 2 * 65536, "{o}");
    // Unset, the kernel's own (autotuned) size is still shown, never 0.
    let v = json_run(&[]);
    assert!(v["options"]["sndbuf"].is_null());
    assert!(v["options"]["sndbuf_effective"].as_u64().unwrap() > 0);
}

#[test]
fn a_run_says_which_congestion_control_its_sockets_had() {
    // Unset: the host's default, read back from the socket (never a guess).
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .expect("a Linux host lists its default congestion control");
    let v = json_run(&[]);
    assert!(v["options"]["congestion"].is_null(), "{}", v["options"]);
    assert_eq!(v["options"]["congestion_effective"], host.trim());
    // Asked for: every TCP socket gets it, the one the host has that is
    // not its default where there is one.
    let have = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .expect("a Linux host lists its congestion controls");
    let other = have
        .split_whitespace()
        .find(|cc| *cc != host.trim())
        .unwrap_or(host.trim());
    let v = json_run(&["--congestion", other]);
    assert_eq!(v["options"]["congestion"], other);
    assert_eq!(v["options"]["congestion_effective"], other);
    let table = stdout_of(&quick_run(&["--congestion", other]), "table");
    assert!(
        table.contains(&format!("{other} (--congestion)")),
        "{table}"
    );
    // AF_UNIX has none, and says so as null rather than a name.
    let v = json_run(&["--transport", "unix"]);
    assert!(v["options"]["congestion_effective"].is_null());
}

/// `| head` or `| true`: the reader went away, which is no error; a full
/// disk is one line and exit 1. Never a panic.
#[test]
fn a_closed_stdout_is_quiet_and_a_full_one_is_one_line() {
    use std::process::Stdio;
    let run = [
        "run",
        "--messages",
        "200",
        "--warmup",
        "0",
        "--timeout",
        "5",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(run)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "closed stdout: {stderr}");
    assert!(stderr.is_empty(), "closed stdout: {stderr}");

    for args in [&run[..], &["doctor"], &["doctor", "--json"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_copybench"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("writing to standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
    }
}

/// A sweep whose reader went away still writes its files and exits 0.
#[test]
fn a_sweep_with_a_closed_stdout_keeps_its_files_and_exits_0() {
    use std::process::Stdio;
    let dir = std::env::temp_dir().join(format!("copybench-cli-{}-pipe", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(["sweep", "--strategies", "one-copy", "--workloads", "stream"])
        .args(["--sizes", "64", "--threads", "1", "--warmup", "0"])
        .args(["--duration", "0.05", "--repeat", "1", "--out"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(dir.join("results.csv").exists() && dir.join("index.html").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With too few file descriptors a run stops at once with the cause and
/// the ulimit to use, instead of waiting out --timeout.
#[test]
fn too_few_file_descriptors_stop_the_run_at_once_with_a_hint() {
    let t0 = std::time::Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 64 && exec {} run --threads 64 --duration 0.3 --warmup 0",
            env!("CARGO_BIN_EXE_copybench")
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ulimit -n"), "{stderr}");
    assert!(stderr.contains("--threads 64"), "{stderr}");
    assert!(t0.elapsed().as_secs() < 3, "took {:?}", t0.elapsed());
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("copybench-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sweep --out DIR` where DIR holds a sweep would replace its results.
#[test]
fn a_sweep_never_overwrites_an_earlier_one() {
    let dir = scratch_dir("holds-a-sweep");
    let csv = dir.join("results.csv");
    std::fs::write(&csv, "earlier results\n").unwrap();
    let out = copybench(&["sweep", "--quick", "--out", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--out") && stderr.contains("already holds a sweep"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "earlier results\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Paths a user typed that cannot work are input errors: exit 2, and the
/// operating system's reason said once.
#[test]
fn unusable_paths_are_input_errors_said_once() {
    let out = copybench(&["sweep", "--quick", "--out", "/proc/copybench-x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("copybench: --out /proc/copybench-x"),
        "{stderr}"
    );

    let missing = format!("/tmp/copybench-no-such-dir-{}", std::process::id());
    let out = copybench(&["report", &missing]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(&missing), "{stderr}");
}

/// results.csv as `report` meets it: one good row, then what goes wrong.
fn report_on(name: &str, body: impl FnOnce(&mut csv::Writer<std::fs::File>)) -> Output {
    let dir = scratch_dir(name);
    let file = std::fs::File::create(dir.join("results.csv")).unwrap();
    let mut w = csv::Writer::from_writer(file);
    body(&mut w);
    w.flush().unwrap();
    drop(w);
    let out = copybench(&["report", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

fn good_row(cell: u32) -> copybench::Row {
    copybench::Row {
        cell,
        strategy: copybench::StrategyKind::OneCopy,
        transport: copybench::TransportKind::Loopback,
        workload: copybench::WorkloadKind::Stream,
        field_size_bytes: 64,
        fields: 8,
        message_bytes: 544,
        threads: 1,
        duration_s: 0.1,
        status: copybench::Status::Ok,
        elapsed_s: Some(0.1),
        messages: Some(1000),
        bytes: Some(544_000),
        throughput_gbps: Some(0.04),
        messages_per_sec: Some(10_000.0),
        ..Default::default()
    }
}

/// A row written as `row`, but with `column`'s text replaced by `text`
/// (a name no [`copybench::Row`] can hold).
fn with_text(row: &copybench::Row, column: &str, text: &str) -> csv::StringRecord {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(row).unwrap();
    let data = w.into_inner().unwrap();
    let mut r = csv::Reader::from_reader(data.as_slice());
    let at = r
        .headers()
        .unwrap()
        .iter()
        .position(|c| c == column)
        .unwrap();
    let record = r.records().next().unwrap().unwrap();
    record
        .iter()
        .enumerate()
        .map(|(i, v)| if i == at { text } else { v })
        .collect()
}

#[test]
fn report_refuses_rows_it_cannot_trust_naming_the_line() {
    type Spoil = Box<dyn Fn(&mut copybench::Row)>;
    // A name the typed row cannot hold is written into its column's text.
    let unknown_strategy: Spoil = Box::new(|_| {});
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "strategy",
            unknown_strategy,
            "line 3: unknown strategy 'three-copy'",
        ),
        (
            "nan",
            Box::new(|r| r.throughput_gbps = Some(f64::NAN)),
            "line 3: throughput_gbps is NaN",
        ),
        (
            "inf",
            Box::new(|r| r.latency_p50_us = Some(f64::INFINITY)),
            "line 3: latency_p50_us is inf",
        ),
        (
            "duplicate",
            // Another cell number, the same configuration and repetition.
            Box::new(|r| *r = good_row(7)),
            "line 3: repetition 0 of one-copy / loopback / stream, 8 x 64 B, 1 thread(s) is already on line 2",
        ),
    ];
    for (name, spoil, expect) in cases {
        let out = report_on(name, |w| {
            w.serialize(good_row(0)).unwrap();
            let mut bad = good_row(1);
            bad.field_size_bytes = 4096;
            bad.message_bytes = 8 * 4096 + 32;
            bad.bytes = Some(1000 * bad.message_bytes);
            spoil(&mut bad);
            if name == "strategy" {
                w.write_record(&with_text(&bad, "strategy", "three-copy"))
                    .unwrap();
            } else {
                w.serialize(bad).unwrap();
            }
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expect), "{name}: want {expect}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
    }
    // The good row alone is a report.
    let out = report_on("good", |w| w.serialize(good_row(0)).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_says_an_empty_results_csv_is_empty() {
    let out = report_on("empty", |_| {});
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is empty"), "{stderr}");

    let dir = scratch_dir("header-only");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(good_row(0)).unwrap();
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let header = text.lines().next().unwrap();
    std::fs::write(dir.join("results.csv"), format!("{header}\n")).unwrap();
    let out = copybench(&["report", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no rows"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pinning_is_echoed_and_checked() {
    let v = json_run(&["--client-cpus", "0", "--server-cpus", "0"]);
    assert_eq!(
        v["options"]["pin"],
        serde_json::json!({"client_cpus": [0], "server_cpus": [0]})
    );
    assert!(json_run(&[])["options"]["pin"].is_null());
    // A CPU this process may not use is refused before anything runs.
    assert_rejected(
        &["--client-cpus", "0", "--server-cpus", "4095"],
        "--server-cpus",
    );
}
