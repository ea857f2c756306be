//! `copybench run` as a user (or a script reading its JSON) meets it: the
//! built binary, real sockets, exit codes and what lands on stdout and stderr.

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

/// Every strategy this host can run, by name (the io_uring ones need a ring).
fn strategies() -> Vec<&'static str> {
    copybench::StrategyKind::host_default()
        .into_iter()
        .map(|s| s.name())
        .collect()
}

#[test]
fn json_output_carries_the_keys_other_tools_read() {
    for strategy in strategies() {
        for workload in ["rr", "stream"] {
            let v = json_run(&["--strategy", strategy, "--workload", workload]);
            check_json_keys(&v, strategy, workload);
        }
    }
}

#[test]
fn table_output_names_the_strategy_and_the_throughput_unit() {
    for strategy in strategies() {
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
    let out = quick_run(args);
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
    ];
    for (args, flag) in cases {
        assert_rejected(args, flag);
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
