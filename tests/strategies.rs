//! Every strategy over real sockets, driven the way the CLI and the benches
//! drive it: start an experiment once, run batches through it, read the reports.

use std::time::{Duration, Instant};

use copybench::{
    Batch, BatchReport, Config, Experiment, Fault, Refill, Shape, StrategyKind, TransportKind,
    Verify, WorkloadKind,
};

const SMALL: Shape = Shape {
    fields: 8,
    field_size: 4096,
};

/// Every byte checked: a strategy that loses, reorders or corrupts anything fails the run.
fn config(
    strategy: StrategyKind,
    transport: TransportKind,
    workload: WorkloadKind,
    shape: Shape,
) -> Config {
    let mut cfg = Config::new(strategy, transport, workload, shape);
    cfg.verify = Verify::Full;
    cfg.threads = 2;
    // Hardware counters are missing on most VMs and say nothing about delivery.
    cfg.counters = false;
    // Small buffers make both ends block many times per batch, which
    // exercises the blocking paths.
    cfg.transport.sndbuf = Some(64 << 10);
    cfg.transport.rcvbuf = Some(64 << 10);
    cfg
}

/// Every strategy this host can run; the ones it cannot are named on stderr.
fn strategies() -> Vec<StrategyKind> {
    StrategyKind::ALL
        .into_iter()
        .filter(|s| match s.host_support() {
            Ok(()) => true,
            Err(why) => {
                eprintln!("skipping {s}: {why}");
                false
            }
        })
        .collect()
}

/// Every (strategy, transport) pair the tool accepts outside namespaces.
fn local_cells() -> impl Iterator<Item = (StrategyKind, TransportKind)> {
    strategies().into_iter().flat_map(|s| {
        [TransportKind::Loopback, TransportKind::Unix]
            .into_iter()
            .filter(move |&t| s.supports(t))
            .map(move |t| (s, t))
    })
}

/// The strategies whose sends complete later, with notifications.
fn completing() -> Vec<StrategyKind> {
    strategies()
        .into_iter()
        .filter(|s| s.has_completions())
        .collect()
}

fn workloads() -> [WorkloadKind; 2] {
    [WorkloadKind::Rr, WorkloadKind::Stream]
}

fn run_messages(cfg: &Config, n: u64) -> BatchReport {
    let mut exp = Experiment::start(cfg).unwrap_or_else(|e| panic!("{}: start: {e}", label(cfg)));
    let report = exp
        .run(Batch::Messages(n))
        .unwrap_or_else(|e| panic!("{}: run: {e}", label(cfg)));
    exp.stop()
        .unwrap_or_else(|e| panic!("{}: stop: {e}", label(cfg)));
    report
}

fn label(cfg: &Config) -> String {
    format!(
        "{} / {} / {} / {} x {} B",
        cfg.strategy, cfg.transport.kind, cfg.workload, cfg.shape.fields, cfg.shape.field_size
    )
}

/// rr counts each exchange once but verifies two messages (request and
/// reply); stream verifies each message once, at the server.
fn expected_bytes(cfg: &Config, messages: u64) -> u64 {
    let per = cfg.shape.message_bytes() as u64;
    match cfg.workload {
        WorkloadKind::Rr => 2 * messages * per,
        WorkloadKind::Stream => messages * per,
    }
}

/// What every successful batch must look like, whatever its size.
fn check_report(cfg: &Config, r: &BatchReport) {
    let who = label(cfg);
    assert_eq!(r.bytes, expected_bytes(cfg, r.messages), "{who}: bytes");
    assert_eq!(
        r.latency_ns.is_some(),
        cfg.workload == WorkloadKind::Rr,
        "{who}: a latency histogram belongs to rr only"
    );
    if let Some(h) = &r.latency_ns {
        assert_eq!(h.len(), r.messages, "{who}: one round trip per exchange");
    }
    // A batch of a message or two may end before either thread blocks (see config).
    if r.messages >= 100 {
        assert!(r.client.cpu.total_ns > 0, "{who}: client cpu time");
        assert!(r.server.cpu.total_ns > 0, "{who}: server cpu time");
    }
    assert_eq!(
        r.zerocopy.is_some(),
        cfg.strategy.has_completions(),
        "{who}: zero-copy bookkeeping belongs to the zero-copy strategies only"
    );
    if let Some(z) = &r.zerocopy {
        assert!(z.sends > 0, "{who}: {z:?}");
        // The driver drains at batch end, so nothing is left in flight.
        assert_eq!(z.sends, z.completions, "{who}: {z:?}");
        assert!(
            z.notifications > 0 && z.notifications <= z.completions,
            "{who}: {z:?}"
        );
        assert!(z.max_in_flight >= 1, "{who}: {z:?}");
        assert!(z.messages > 0 && z.fragments >= z.messages, "{who}: {z:?}");
        if z.sends >= 16 {
            assert!(z.delay_us(0.5).is_some(), "{who}: every 16th send is timed");
        }
    }
    assert!(r.seconds > 0.0, "{who}: seconds");
}

#[test]
fn every_strategy_transport_and_workload_delivers_verified_messages() {
    const N: u64 = 301; // odd: the two threads get unequal shares
    for (strategy, transport) in local_cells() {
        for workload in workloads() {
            let cfg = config(strategy, transport, workload, SMALL);
            let r = run_messages(&cfg, N);
            assert_eq!(r.messages, N, "{}: messages", label(&cfg));
            check_report(&cfg, &r);
        }
    }
}

#[test]
fn one_experiment_runs_many_batches_of_both_kinds() {
    for (strategy, transport) in local_cells() {
        for workload in workloads() {
            let cfg = config(strategy, transport, workload, SMALL);
            let who = label(&cfg);
            let mut exp = Experiment::start(&cfg).unwrap_or_else(|e| panic!("{who}: {e}"));
            let timed = exp
                .run(Batch::Duration(Duration::from_millis(30)))
                .unwrap_or_else(|e| panic!("{who}: duration batch: {e}"));
            assert!(timed.messages > 0, "{who}: a timed batch moves something");
            check_report(&cfg, &timed);
            // A counted batch after a timed one must not see the timed one's leftovers.
            for n in [1, 200] {
                let counted = exp
                    .run(Batch::Messages(n))
                    .unwrap_or_else(|e| panic!("{who}: {n} messages after a timed batch: {e}"));
                assert_eq!(counted.messages, n, "{who}");
                check_report(&cfg, &counted);
            }
            exp.stop().unwrap_or_else(|e| panic!("{who}: stop: {e}"));
        }
    }
}

/// Every strategy that lends its buffers to the kernel (and this host can run).
fn lending_strategies() -> impl Iterator<Item = StrategyKind> {
    completing().into_iter()
}

#[test]
fn zero_copy_never_reuses_a_buffer_before_its_completion() {
    // The kernel reads a zero-copy send's pages when it transmits them; on
    // loopback that is at once unless the receiver's window is full. So: a
    // server that pauses now and then (the window fills), a send buffer
    // large enough to hold sends not yet transmitted, a pool of 2-3 slots
    // reused at once, and a new generation's pattern on every rewrite: a
    // buffer rewritten while the kernel still holds it arrives corrupted.
    // Stream rewrites just before reuse. rr rewrites right after each send
    // (Refill::AfterSend): its reply otherwise proves the request was read
    // long before its slot comes round; a request larger than the window
    // leaves its tail queued when sendmsg returns.
    // With reclaim disabled, all three cases fail (see the closing note of issue 12).
    for strategy in lending_strategies() {
        for (workload, refill, field_size, n) in [
            (WorkloadKind::Stream, Refill::OnReuse, 1024, 3000),
            (WorkloadKind::Stream, Refill::AfterSend, 16 << 10, 400),
            (WorkloadKind::Rr, Refill::AfterSend, 64 << 10, 40),
        ] {
            let shape = Shape {
                fields: 4,
                field_size,
            };
            for slots in [2, 3] {
                let mut cfg = config(strategy, TransportKind::Loopback, workload, shape);
                cfg.refill = refill;
                cfg.pool_slots = Some(slots);
                cfg.fault = Some(Fault::ServerStalls(8));
                cfg.transport.sndbuf = Some(1 << 20);
                let who = format!("{} with {slots} slots, {refill:?}", label(&cfg));
                let r = run_messages(&cfg, n);
                assert_eq!(r.messages, n, "{who}");
                check_report(&cfg, &r);
            }
        }
    }
}

/// A sweep's block runs its arms over one set of connections, the arm
/// changing between batches (`Experiment::start_arms`): every strategy's
/// batches verify whichever ran before them on the same sockets, the
/// zero-copy ones still wait for their completions before a slot is
/// rewritten (the same pressure as above), and each batch's figures are its
/// own strategy's (completions only where that strategy lends buffers).
#[test]
fn arms_sharing_connections_take_turns_and_every_batch_verifies() {
    let shape = Shape {
        fields: 4,
        field_size: 16 << 10,
    };
    for workload in workloads() {
        let cfgs: Vec<Config> = strategies()
            .into_iter()
            .map(|s| {
                let mut cfg = config(s, TransportKind::Loopback, workload, shape);
                cfg.refill = Refill::AfterSend;
                cfg.pool_slots = Some(2);
                cfg.fault = Some(Fault::ServerStalls(8));
                cfg.transport.sndbuf = Some(1 << 20);
                cfg
            })
            .collect();
        let mut exp = Experiment::start_arms(&cfgs, Default::default())
            .unwrap_or_else(|e| panic!("{workload}: start: {e}"));
        // Each arm after every other at least once: forwards, then backwards.
        let order: Vec<&Config> = cfgs.iter().chain(cfgs.iter().rev()).collect();
        for cfg in order {
            exp.select(cfg.strategy).unwrap();
            let r = exp
                .run(Batch::Messages(60))
                .unwrap_or_else(|e| panic!("{}: run: {e}", label(cfg)));
            assert_eq!(r.messages, 60, "{}", label(cfg));
            check_report(cfg, &r);
        }
        exp.stop().unwrap();
    }
}

#[test]
fn page_layout_needs_the_fewest_fragments_and_delivers_the_same_bytes() {
    // One 64 KiB field: the heap puts it mid-page (17 pages) beside a header
    // page, 18 in all; page layout needs 1 + 16 = 17.
    let shape = Shape {
        fields: 1,
        field_size: 64 << 10,
    };
    let page = copybench::page_size();
    for workload in workloads() {
        let mut per_layout = Vec::new();
        for layout in copybench::Layout::ALL {
            let mut cfg = config(
                StrategyKind::ZeroCopy,
                TransportKind::Loopback,
                workload,
                shape,
            );
            cfg.layout = layout;
            let r = run_messages(&cfg, 200);
            assert_eq!(r.messages, 200, "{} {layout}", label(&cfg));
            check_report(&cfg, &r);
            per_layout.push(r.zerocopy.unwrap().fragments_per_send().unwrap());
        }
        assert_eq!(per_layout[1], (1 + (64 << 10) / page) as f64, "page layout");
        assert!(per_layout[0] >= per_layout[1], "{per_layout:?}");
    }
}

#[test]
fn uring_zc_keeps_a_slot_until_its_notification() {
    // Stream, one thread, a 2-slot pool of 64 KiB messages, and a receive
    // buffer far smaller than what the sender queues: requests sit in the
    // send queue with their pages pinned, not yet copied to the receiver,
    // while the sender wants their slot back. Rewriting a slot before its
    // notification (reclaim skipped) changes bytes still to be sent, and the
    // receiver's full check fails the batch; waiting for the notification
    // delivers every message intact.
    if !completing().contains(&StrategyKind::UringZc) {
        return;
    }
    let shape = Shape {
        fields: 1,
        field_size: 64 << 10,
    };
    let mut cfg = config(
        StrategyKind::UringZc,
        TransportKind::Loopback,
        WorkloadKind::Stream,
        shape,
    );
    cfg.threads = 1;
    cfg.refill = Refill::OnReuse;
    cfg.pool_slots = Some(2);
    cfg.transport.sndbuf = Some(1 << 20);
    cfg.transport.rcvbuf = Some(16 << 10);
    let n = 2000;
    let r = run_messages(&cfg, n);
    assert_eq!(r.messages, n, "{}", label(&cfg));
    check_report(&cfg, &r);
}

#[test]
fn zero_copy_counts_copied_completions_on_loopback() {
    // Local delivery makes the kernel copy after all, and both interfaces
    // say so: every completion is flagged copied, one per send.
    for strategy in completing() {
        for workload in workloads() {
            let cfg = config(strategy, TransportKind::Loopback, workload, SMALL);
            let z = run_messages(&cfg, 200).zerocopy.expect("zero-copy stats");
            assert!(z.completions > 0, "{}: {z:?}", label(&cfg));
            assert_eq!(z.copied, z.completions, "{}: {z:?}", label(&cfg));
            assert_eq!(z.copied, z.sends, "{}: {z:?}", label(&cfg));
        }
    }
}

#[test]
fn large_messages_survive_partial_writes() {
    // 4 MiB messages through a 16 KiB send buffer: every send is cut into
    // many partial writes, which must resume exactly where the kernel stopped.
    let shape = Shape {
        fields: 4,
        field_size: 1 << 20,
    };
    for strategy in strategies() {
        for workload in workloads() {
            let mut cfg = config(strategy, TransportKind::Loopback, workload, shape);
            cfg.transport.sndbuf = Some(16 << 10);
            let r = run_messages(&cfg, 6);
            assert_eq!(r.messages, 6, "{}", label(&cfg));
            check_report(&cfg, &r);
            if strategy == StrategyKind::UringZc {
                // Each partial request is a send of its own with its own
                // notification, and the slot waited for all of them.
                let z = r.zerocopy.expect("uring-zc stats");
                let messages = match workload {
                    WorkloadKind::Rr => 2 * r.messages,
                    WorkloadKind::Stream => r.messages,
                };
                assert!(
                    z.sends > messages,
                    "{}: no partial send: {z:?}",
                    label(&cfg)
                );
            }
        }
    }
}

#[test]
fn zero_copy_over_unix_is_refused_before_anything_runs() {
    // Refused whether or not the host has io_uring: the transport rules it out.
    for strategy in [StrategyKind::ZeroCopy, StrategyKind::UringZc] {
        for workload in workloads() {
            let cfg = config(strategy, TransportKind::Unix, workload, SMALL);
            let err = match Experiment::start(&cfg) {
                Ok(_) => panic!("{strategy} over unix started"),
                Err(e) => e,
            };
            assert_eq!(err.exit_code(), 2, "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(strategy.name()) && msg.contains("AF_UNIX"),
                "the refusal should say why: {msg}"
            );
        }
    }
}

/// Runs a batch of `messages` that must fail (`what` names what must not go
/// unnoticed), checks the failed experiment refuses further batches instead
/// of hanging on dead workers, and returns the error.
fn batch_must_fail(cfg: &Config, messages: u64, what: &str) -> copybench::Error {
    let who = label(cfg);
    let mut exp = Experiment::start(cfg).unwrap_or_else(|e| panic!("{who}: {e}"));
    let err = match exp.run(Batch::Messages(messages)) {
        Ok(r) => panic!("{who}: {what} went unnoticed: {} messages", r.messages),
        Err(e) => e,
    };
    assert!(
        exp.run(Batch::Messages(1)).is_err(),
        "{who}: ran after a failure"
    );
    err
}

#[test]
fn a_damaged_message_fails_the_batch_instead_of_counting() {
    // Default (sampled) verification, as users run it: the damaged byte is
    // the last of the message, which sampled mode checks on every message.
    // In rr the server answers before it checks, so the check must still
    // stop the batch.
    for strategy in strategies() {
        for workload in workloads() {
            let mut cfg = config(strategy, TransportKind::Loopback, workload, SMALL);
            cfg.verify = Verify::Sampled;
            cfg.fault = Some(Fault::ClientDamages(77));
            let who = label(&cfg);
            let err = batch_must_fail(&cfg, 500, "a damaged message");
            let text = err.to_string();
            assert_eq!(err.exit_code(), 1, "{who}: {err}");
            assert!(
                text.contains("verification failed") && text.contains("message 77"),
                "{who}: the error should name the damaged message: {err}"
            );
        }
    }
}

#[test]
fn a_byte_flipped_mid_field_in_a_later_slot_fails_under_sampled_verification() {
    // Sampled verification reads a field's middle only in the messages it
    // checks in full; those rotate over the pool, so slot 5 of 64 is read by
    // the sixth full check (message 325 or so).
    for strategy in StrategyKind::ALL {
        for workload in workloads() {
            let mut cfg = config(strategy, TransportKind::Loopback, workload, SMALL);
            cfg.verify = Verify::Sampled;
            assert_eq!(cfg.pool_slots(), 64, "the default pool for {SMALL:?}");
            cfg.fault = Some(Fault::ClientDamagesSlot(5));
            let who = label(&cfg);
            let err = batch_must_fail(&cfg, 1000, "a byte flipped in slot 5");
            let text = err.to_string();
            assert_eq!(err.exit_code(), 1, "{who}: {err}");
            assert!(
                text.contains("verification failed") && text.contains("slot 5"),
                "{who}: the error should name the slot: {err}"
            );
        }
    }
}

#[test]
fn a_peer_that_closes_mid_run_fails_the_batch_within_the_timeout() {
    let timeout = Duration::from_secs(2);
    for strategy in strategies() {
        for workload in workloads() {
            let mut cfg = config(strategy, TransportKind::Loopback, workload, SMALL);
            cfg.fault = Some(Fault::ServerClosesAfter(50));
            cfg.transport.timeout = timeout;
            let who = label(&cfg);
            let began = Instant::now();
            let err = batch_must_fail(&cfg, 10_000, "a closed peer");
            let took = began.elapsed();
            assert_eq!(err.exit_code(), 1, "{who}: {err}");
            assert!(
                err.to_string().contains("connection"),
                "{who}: the error should name the connection: {err}"
            );
            assert!(
                err.to_string().contains("closed"),
                "{who}: the error should say the peer closed: {err}"
            );
            assert!(
                took < 3 * timeout,
                "{who}: took {took:?} to notice a closed peer"
            );
        }
    }
}

#[test]
fn a_served_client_that_goes_quiet_between_batches_is_let_go_but_a_busy_one_is_not() {
    // `serve` gives its servers an idle limit: a client that sends nothing
    // between batches for longer is dropped. Time spent inside a batch, or
    // between batches closer together than the limit, never counts.
    let mut cfg = config(
        StrategyKind::OneCopy,
        TransportKind::Loopback,
        WorkloadKind::Stream,
        SMALL,
    );
    cfg.threads = 1;
    cfg.transport.timeout = Duration::from_millis(100);
    cfg.idle_limit = Some(Duration::from_millis(400));
    let mut exp = Experiment::start(&cfg).expect("start");
    // Batches longer than the limit, with pauses shorter than it.
    for _ in 0..3 {
        let r = exp
            .run(Batch::Duration(Duration::from_millis(600)))
            .expect("a busy client is kept");
        assert!(r.messages > 0);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Then a pause well past the limit: the server has let go.
    std::thread::sleep(Duration::from_millis(1200));
    let err = exp
        .run(Batch::Messages(10_000))
        .expect_err("a client quiet for 1.2 s past a 0.4 s idle limit is let go");
    assert!(
        err.to_string().contains("sent nothing for"),
        "the error should say the client went quiet: {err}"
    );
}
