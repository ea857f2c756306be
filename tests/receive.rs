//! The receive side (`--receive zerocopy`, `TCP_ZEROCOPY_RECEIVE`) over real
//! loopback sockets: what maps behind which sender, that mapped + copied
//! bytes are the bytes received, that a flipped byte in a mapped page is
//! found, and the refusals.

use std::process::Command;

use copybench::{
    Batch, BatchReport, Config, Experiment, Fault, ReceiveKind, Shape, StrategyKind, TransportKind,
    Verify, WorkloadKind,
};
use serde_json::Value;

const BIG: Shape = Shape {
    fields: 1,
    field_size: 64 << 10,
};

/// `run` with a mapping receiver behind a zero-copy sender, stream.
const ZC_BEHIND_ZC: &[&str] = &[
    "run",
    "--receive",
    "zerocopy",
    "--strategy",
    "zero-copy",
    "--workload",
    "stream",
];

/// A short run's shape and length: one 64 KiB field, 100 messages in one
/// sample, no warm-up, no counters, as JSON.
const ONE_64K_FIELD_100_MESSAGES: &[&str] = &[
    "--fields",
    "1",
    "--field-size",
    "64K",
    "--messages",
    "100",
    "--samples",
    "1",
    "--warmup",
    "0",
    "--no-counters",
    "--json",
];

fn copybench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot run the copybench binary")
}

/// Whether this host maps received pages at all; the tests that need it say
/// so on stderr and pass vacuously where it cannot (the refusal test covers it).
fn maps_here() -> bool {
    match copybench::recv_map_support() {
        Ok(_) => true,
        Err(why) => {
            eprintln!("this host cannot map received pages: {why}");
            false
        }
    }
}

fn config(strategy: StrategyKind, workload: WorkloadKind, shape: Shape) -> Config {
    let mut cfg = Config::new(strategy, TransportKind::Loopback, workload, shape);
    cfg.receive = ReceiveKind::Zerocopy;
    cfg.transport.maxseg = Some(copybench::recv_map_mss());
    cfg.counters = false;
    cfg
}

fn run_messages(cfg: &Config, n: u64) -> BatchReport {
    let who = format!(
        "{} / {} / {:?} / receive {} / rcvlowat {:?} / rcvbuf {:?} / maxseg {:?}",
        cfg.strategy,
        cfg.workload,
        cfg.shape,
        cfg.receive,
        cfg.rcvlowat,
        cfg.transport.rcvbuf,
        cfg.transport.maxseg
    );
    let mut exp = Experiment::start(cfg).unwrap_or_else(|e| panic!("{who}: start: {e}"));
    let r = exp
        .run(Batch::Messages(n))
        .unwrap_or_else(|e| panic!("{who}: run: {e}"));
    exp.stop().unwrap_or_else(|e| panic!("{who}: stop: {e}"));
    r
}

#[test]
fn run_json_reports_the_mapped_share_and_mapped_plus_copied_is_bytes() {
    if !maps_here() {
        return;
    }
    let out = copybench(
        &[
            ZC_BEHIND_ZC,
            &[
                "--fields",
                "1",
                "--field-size",
                "64K",
                "--duration",
                "0.5",
                "--warmup",
                "0.1",
                "--samples",
                "2",
                "--no-counters",
                "--json",
            ],
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["figures"];
    let share = f["rx_mapped_share"].as_f64().expect("rx_mapped_share");
    let mapped = f["rx_mapped_bytes"].as_u64().unwrap();
    let copied = f["rx_copied_bytes"].as_u64().unwrap();
    assert_eq!(mapped + copied, f["bytes"].as_u64().unwrap(), "{f}");
    // Behind MSG_ZEROCOPY on loopback the kernel copies the send into fresh
    // pages, whole pages a segment (MSS 4108): most of them map.
    assert!(share > 0.5, "{f}");
    assert!(f["rx_calls_per_mib"].as_f64().unwrap() > 0.0);
    let o = &v["options"];
    assert_eq!(o["receive"], "zerocopy");
    assert_eq!(o["maxseg"], copybench::recv_map_mss());
    assert_eq!(o["mss_effective"], copybench::page_size() as u64);

    // The copying receiver: the rx figures are unavailable, never 0.
    let out = copybench(
        &[
            &["run", "--strategy", "zero-copy"],
            ONE_64K_FIELD_100_MESSAGES,
        ]
        .concat(),
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "rx_mapped_bytes",
        "rx_copied_bytes",
        "rx_mapped_share",
        "rx_calls_per_mib",
        "rx_skip_hints",
    ] {
        assert!(v["figures"][k].is_null(), "{k}: {}", v["figures"][k]);
    }
    assert_eq!(v["options"]["receive"], "copy");
}

#[test]
fn behind_a_copying_sender_nothing_maps_on_this_kernel() {
    // Measured on Linux 6.18: a plain send over loopback puts its bytes in
    // the socket's page_frag (compound pages, and segments that start
    // anywhere in them), and TCP_ZEROCOPY_RECEIVE maps only whole,
    // page-aligned order-0 frags; every byte comes back as recv_skip_hint.
    if !maps_here() {
        return;
    }
    for strategy in [StrategyKind::TwoCopy, StrategyKind::OneCopy] {
        let cfg = config(strategy, WorkloadKind::Stream, BIG);
        let r = run_messages(&cfg, 400);
        let rx = r.rx.expect("a mapping receiver reports");
        assert_eq!(rx.mapped_bytes, 0, "{strategy}: {rx:?}");
        assert_eq!(rx.copied_bytes, r.bytes, "{strategy}: {rx:?}");
        assert!(rx.skip_hints > 0);
    }
}

#[test]
fn every_send_strategy_verifies_behind_a_mapping_receiver() {
    if !maps_here() {
        return;
    }
    let shapes = [
        BIG,
        Shape {
            fields: 8,
            field_size: 4096,
        },
        Shape {
            fields: 3,
            field_size: 1000,
        },
    ];
    for strategy in StrategyKind::host_default() {
        for workload in [WorkloadKind::Stream, WorkloadKind::Rr] {
            for shape in shapes {
                let mut cfg = config(strategy, workload, shape);
                cfg.verify = Verify::Full;
                cfg.threads = 2;
                let n = if workload == WorkloadKind::Rr {
                    150
                } else {
                    300
                };
                let r = run_messages(&cfg, n);
                assert_eq!(r.messages, n, "{strategy} {workload} {shape:?}");
                let rx = r.rx.expect("a mapping receiver reports");
                assert_eq!(
                    rx.bytes(),
                    r.bytes,
                    "{strategy} {workload} {shape:?}: {rx:?}"
                );
            }
        }
    }
}

#[test]
fn rcvlowat_works_with_either_receiver_and_never_stalls_a_batch() {
    if !maps_here() {
        return;
    }
    // Zero-copy sends: in rr the receiving end's error queue fills with
    // completions, so its `poll` answers before the mark is reached. A mark
    // far above a message, which the receiver lowers at a message's tail,
    // and one of a message (its rest, 65,568 B), for the copying receiver at
    // its own MSS as a user runs it: both stalled its rr until the timeout
    // before. With `--rcvbuf 32K` (locked, the kernel keeps 64 KiB) the
    // receive buffer fills before a 64 KiB mark is queued (loopback's copy of
    // a zero-copy segment is accounted at about three times its bytes), so
    // `poll` wakes the reader for a full buffer, not for the mark; the
    // mapping receiver then waited for the mark in a peek while the shut
    // window kept it from coming, and its stream failed 3 runs of 3 (and,
    // with the kernel's buffer, 3 of 45 under load); the copying receiver
    // took what was queued and slept until a whole mark more was, which the
    // batch's tail never sends (this test, under two busy loops:
    // 3 of 117 runs failed; 0 of 300 with both fixes).
    for receive in ReceiveKind::ALL {
        for workload in [WorkloadKind::Stream, WorkloadKind::Rr] {
            for (mark, rcvbuf) in [
                (64 << 10, None),
                (512 << 10, None),
                (64 << 10, Some(32 << 10)),
            ] {
                let mut cfg = config(StrategyKind::ZeroCopy, workload, BIG);
                cfg.receive = receive;
                if receive == ReceiveKind::Copy {
                    cfg.transport.maxseg = None;
                }
                cfg.rcvlowat = Some(mark);
                cfg.transport.rcvbuf = rcvbuf;
                cfg.transport.timeout = std::time::Duration::from_secs(3);
                let began = std::time::Instant::now();
                let r = run_messages(&cfg, 50);
                assert_eq!(r.messages, 50);
                assert!(
                    began.elapsed().as_secs() < 3,
                    "{receive} {workload} mark {mark} rcvbuf {rcvbuf:?}: waited for the timeout"
                );
            }
        }
    }
}

/// `sweep --quick` of stream, one 1-field thread, with `extra`, into a
/// fresh directory named for `tag`: the directory and its rows.
fn quick_stream_sweep(tag: &str, extra: &[&str]) -> (std::path::PathBuf, Vec<copybench::Row>) {
    let dir = std::env::temp_dir().join(format!("copybench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut args = vec![
        "sweep",
        "--quick",
        "--workloads",
        "stream",
        "--threads",
        "1",
        "--fields",
        "1",
    ];
    args.extend_from_slice(extra);
    args.extend(["--out", dir.to_str().unwrap()]);
    let out = copybench(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = copybench::report::read_results(&dir.join("results.csv")).unwrap();
    (dir, rows)
}

/// A sweep's `--rcvlowats` cells: short batches of 16 KiB and 64 KiB
/// messages, marks above a message, the arms taking turns on one
/// connection. A receiver that went to sleep in `recv` with part of a
/// message queued could miss the rest's arrival (the kernel appends it to
/// the buffer already queued) and sleep until the receive timeout (10 s):
/// before the receivers waited in `poll`, 2 of this sweep's 20 cells did
/// in each of two runs (41 s a sweep instead of 4).
#[test]
fn rcvlowat_sweep_cells_never_wait_for_the_receive_timeout() {
    let (dir, rows) = quick_stream_sweep(
        "rcvlowat",
        &[
            "--sizes",
            "16K,64K",
            "--receives",
            "copy",
            "--rcvlowats",
            "64K,512K",
        ],
    );
    assert_eq!(rows.len(), 20);
    for r in &rows {
        let elapsed = r.elapsed_s.expect("every cell ran");
        assert!(
            elapsed < 5.0,
            "{} {} B, rcvlowat {:?}: {elapsed:.1} s, a receiver waited for the timeout",
            r.strategy,
            r.field_size_bytes,
            r.rcvlowat_bytes
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_byte_flipped_in_a_mapped_page_is_found_and_named() {
    if !maps_here() {
        return;
    }
    // Slot 5's field is flipped mid-page; sampled verification reads it when
    // it checks slot 5 in full. With a zero-copy sender nearly every page
    // maps, and the check reads the mapped page in place.
    let mut cfg = config(StrategyKind::ZeroCopy, WorkloadKind::Stream, BIG);
    let clean = run_messages(&cfg, 400).rx.unwrap();
    assert!(clean.mapped_share().unwrap() > 0.5, "{clean:?}");
    cfg.fault = Some(Fault::ClientDamagesSlot(5));
    let mut exp = Experiment::start(&cfg).unwrap();
    let err = exp
        .run(Batch::Messages(2000))
        .expect_err("the flipped byte went unnoticed");
    let text = err.to_string();
    assert_eq!(err.exit_code(), 1, "{text}");
    assert!(
        text.contains("verification failed") && text.contains("slot 5"),
        "{text}"
    );
    assert!(
        text.contains(&format!("byte {}", BIG.field_size / 2)),
        "{text}"
    );
}

#[test]
fn zerocopy_receive_over_unix_is_refused_with_the_reason() {
    let out = copybench(&[
        "run",
        "--receive",
        "zerocopy",
        "--transport",
        "unix",
        "--messages",
        "10",
        "--samples",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--receive zerocopy") && err.contains("AF_UNIX"),
        "{err}"
    );
}

#[test]
fn maxseg_puts_a_copying_receiver_at_the_mapping_ones_mss() {
    // Loopback's default MSS is ~64 KiB; TCP_MAXSEG 4108 leaves a page of
    // payload a segment once the 12-byte timestamp option is taken off.
    let out = copybench(
        &[
            &[
                "run",
                "--receive",
                "copy",
                "--maxseg",
                "4108",
                "--strategy",
                "one-copy",
                "--workload",
                "stream",
            ],
            ONE_64K_FIELD_100_MESSAGES,
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &v["options"];
    assert_eq!(o["receive"], "copy");
    assert_eq!(o["maxseg"], 4108);
    assert_eq!(o["mss_effective"], 4096);
}

#[test]
fn the_default_mark_is_echoed_only_where_a_receiver_keeps_it() {
    // One short loopback run per case; `options` says which mark the
    // copying receiver kept while its sender promised bytes (engine::recv).
    let mark = |args: &[&str]| -> (Value, Value) {
        let out = copybench(&[&["run"], args, ONE_64K_FIELD_100_MESSAGES].concat());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let o = &v["options"];
        (o["rcvlowat_default"].clone(), o["rcvlowat"].clone())
    };
    let stream = ["--workload", "stream", "--strategy"];
    // Loopback's large segments, a copying sender: the default mark.
    let (default, set) = mark(&[&stream[..], &["one-copy"]].concat());
    assert_eq!(default, copybench::RECV_AUTO_LOWAT as u64);
    assert_eq!(set, Value::Null);
    // A zero-copy sender promises nothing, nor does rr (each message is
    // timed), so their receivers wait for no mark.
    assert_eq!(mark(&[&stream[..], &["zero-copy"]].concat()).0, Value::Null);
    let rr = ["--workload", "rr", "--strategy", "one-copy"];
    assert_eq!(mark(&rr).0, Value::Null);
    // Segments below RECV_AUTO_MIN_MSS (as on veth): no mark.
    let small = [&stream[..], &["one-copy", "--maxseg", "4108"]].concat();
    assert_eq!(mark(&small).0, Value::Null);
    // --rcvlowat 1 is the kernel's default, and echoed as what was asked.
    let (default, set) = mark(&[&stream[..], &["one-copy", "--rcvlowat", "1"]].concat());
    assert_eq!(default, Value::Null);
    assert_eq!(set, 1);
}

#[test]
fn maxseg_out_of_range_or_over_unix_is_refused() {
    for args in [
        &["--maxseg", "40"][..],
        &["--maxseg", "70000"][..],
        &["--maxseg", "4108", "--transport", "unix"][..],
    ] {
        let mut a = vec!["run", "--messages", "10", "--samples", "1"];
        a.extend_from_slice(args);
        let out = copybench(&a);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--maxseg"), "{args:?}: {err}");
    }
}

#[test]
fn without_room_to_pin_a_page_zerocopy_receive_is_refused_naming_the_limit() {
    // Mapping needs no privilege here (uid 65534 maps as root does), but the
    // pages a receiver can map on loopback come from a MSG_ZEROCOPY send, and
    // the kernel pins those against RLIMIT_MEMLOCK for a process without
    // CAP_IPC_LOCK: as uid 65534 with `ulimit -l 0` every such send fails with
    // ENOBUFS (measured on Linux 6.18), so the host probe fails and the run is
    // refused up front (exit 2) with that reason, not a bare "No buffer space".
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0);
    let setpriv = Command::new("setpriv").arg("--version").output();
    if root.ok() != Some(true) || setpriv.is_err() {
        eprintln!("needs root and setpriv(1) to drop to uid 65534; not run");
        return;
    }
    // A copy nobody can reach (the build directory may sit under /root).
    let dir = std::env::temp_dir().join(format!("copybench-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("copybench");
    std::fs::copy(env!("CARGO_BIN_EXE_copybench"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["sh", "-c", "ulimit -l 0 && exec \"$0\" \"$@\""])
        .arg(&bin)
        .args(ZC_BEHIND_ZC)
        .args(["--messages", "10", "--samples", "1"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--receive zerocopy cannot run on this host")
            && err.contains("RLIMIT_MEMLOCK, now 0 KiB")
            && err.contains("CAP_IPC_LOCK"),
        "{err}"
    );
}

#[test]
fn a_sweep_over_rcvlowats_keeps_each_value_a_cell_of_its_own() {
    // --rcvlowats 0,64K: cells with SO_RCVLOWAT unset and at 64 KiB, each a
    // block of its own, told apart in results.csv and on the page.
    let (dir, rows) = quick_stream_sweep(
        "rcvlowats",
        &[
            "--strategies",
            "one-copy",
            "--sizes",
            "16K",
            "--rcvlowats",
            "0,64K",
        ],
    );
    let lowats: Vec<Option<u64>> = rows.iter().map(|r| r.rcvlowat_bytes).collect();
    assert_eq!(lowats, [None, Some(64 << 10)]);
    assert!(rows.iter().all(|r| r.status == copybench::Status::Ok));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("rcvlowat 64 KiB"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);
    // A value out of range names the flag and its range.
    let out = copybench(&["sweep", "--rcvlowats", "3G"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rcvlowats must be 0"), "{err}");
}
