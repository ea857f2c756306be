//! The veth transport across two network namespaces of the test's own,
//! brought up with netns-setup.sh and torn down by the guard's Drop (so
//! also when an assertion fails). Without root the tests skip; under CI
//! they must run.

mod common;

use common::netns::NetnsPair;
use copybench::{
    Batch, BatchReport, Config, Experiment, Shape, StrategyKind, TransportKind, Verify, Veth,
    WorkloadKind,
};

const SHAPE: Shape = Shape {
    fields: 8,
    field_size: 4096,
};

const MESSAGES: u64 = 301;

fn veth_config(pair: &NetnsPair, strategy: StrategyKind, workload: WorkloadKind) -> Config {
    let mut cfg = Config::new(strategy, TransportKind::Veth, workload, SHAPE);
    cfg.transport.veth = Veth {
        server_ns: pair.server_ns.clone(),
        client_ns: pair.client_ns.clone(),
        server_addr: pair.server_addr,
    };
    cfg.verify = Verify::Full;
    cfg.threads = 2;
    cfg.counters = false;
    cfg
}

fn run(cfg: &Config) -> BatchReport {
    let who = format!("{} / veth / {}", cfg.strategy, cfg.workload);
    let mut exp = Experiment::start(cfg).unwrap_or_else(|e| panic!("{who}: start: {e}"));
    let r = exp
        .run(Batch::Messages(MESSAGES))
        .unwrap_or_else(|e| panic!("{who}: run: {e}"));
    exp.stop().unwrap_or_else(|e| panic!("{who}: stop: {e}"));

    let per = cfg.shape.message_bytes() as u64;
    // rr verifies a request and a reply per exchange.
    let verified = match cfg.workload {
        WorkloadKind::Rr => 2 * MESSAGES * per,
        WorkloadKind::Stream => MESSAGES * per,
    };
    assert_eq!(r.messages, MESSAGES, "{who}: messages");
    assert_eq!(r.bytes, verified, "{who}: bytes");
    assert_eq!(
        r.latency_ns.is_some(),
        cfg.workload == WorkloadKind::Rr,
        "{who}: latency"
    );
    assert_eq!(
        r.zerocopy.is_some(),
        cfg.strategy.has_completions(),
        "{who}: zerocopy"
    );
    r
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn every_strategy_and_workload_crosses_the_veth_pair_verified() {
    let Some(pair) = NetnsPair::up("veth-all") else {
        return;
    };
    for strategy in StrategyKind::host_default() {
        for workload in [WorkloadKind::Rr, WorkloadKind::Stream] {
            let cfg = veth_config(&pair, strategy, workload);
            let r = run(&cfg);
            if let Some(z) = &r.zerocopy {
                // Both ends live on this host, so the kernel copies on
                // delivery after all, and must say so for every send.
                assert!(z.completions > 0, "{workload}: {z:?}");
                assert_eq!(z.sends, z.completions, "{workload}: {z:?}");
                assert_eq!(z.copied, z.completions, "{workload}: {z:?}");
            }
        }
    }
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_failing_test_still_tears_its_namespaces_down() {
    if common::netns::cannot_run().is_some() {
        // NetnsPair::up prints the skip line (or fails under CI).
        assert!(NetnsPair::up("veth-panic").is_none());
        return;
    }
    let mut made = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pair = NetnsPair::up("veth-panic").expect("root was checked above");
        let cfg = veth_config(&pair, StrategyKind::OneCopy, WorkloadKind::Rr);
        run(&cfg);
        made = Some(cfg);
        panic!("an assertion fails while the namespaces are up");
    }));
    assert!(outcome.is_err());
    let cfg = made.expect("the run finished before the panic");
    for ns in [&cfg.transport.veth.server_ns, &cfg.transport.veth.client_ns] {
        let path = copybench::netns_path(ns);
        assert!(!path.exists(), "{} outlived the panic", path.display());
    }
    // A run against them now fails up front and says how to fix it.
    let err = match Experiment::start(&cfg) {
        Ok(_) => panic!("started over namespaces that are gone"),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("netns-setup.sh up"), "{err}");
}
