//! Blocks: a cell's strategies measured side by side, round by round.
//!
//! A *block* is one (transport, workload, field size, fields, layout,
//! threads) with every compared strategy as an *arm*. [`run_block`] starts
//! every arm's session once (its connections and threads; all of them are
//! open at the same time, each arm with the same pinning, `cfg.pin`), warms
//! each arm up once, then runs *rounds*: in each round every arm gives
//! exactly one sample (one [`Batch::Duration`] of [`Sampling::sample`]), in
//! a fresh random order each round. Round *i* of every arm ran under the
//! same conditions (load, placement, the host's drift), so the per-round
//! ratio of two arms cancels them; the paired rule of
//! [`crate::model::stats::compare_paired`] calls a pair from those ratios.
//!
//! # When a block stops
//!
//! After each round, once there are [`MIN_SAMPLES`] rounds:
//! - **precision**: every pair of arms still running is *decided* on its
//!   main figure ([`crate::model::stats::PairedComparison::decided`]: its paired
//!   interval is clear of the ±5 % band, or inside it). A block left with a
//!   single arm (a one-strategy sweep, or every other arm failed) stops as a
//!   cell does: when that arm's main figure is within [`Sampling::precision`].
//! - **cap**: one more round would take some arm's measured time past
//!   [`Sampling::cap`].
//!
//! A sample can take longer than asked (a stream's receivers verify what is
//! still queued when the senders stop: on a 2-CPU host at 8 threads, a
//! 10 ms sample takes 35–80 ms), so the cap is passed to reach
//! [`MIN_SAMPLES`] rounds, but never beyond [`HARD_CAP`] (6) times the cap:
//! only samples that each take longer than the whole cap leave a block with
//! fewer rounds.
//!
//! # Failures
//!
//! An arm that fails (to start, or in a round) fails alone: its result is
//! the error, its samples so far are dropped, and the other arms go on with
//! their rounds still aligned (sample *i* of every arm that finished is
//! round *i*). A block cut from outside (its [`crate::engine::experiment::Bound`]:
//! the time limit, the second Ctrl-C) fails every arm still running, since
//! they share the bound; the sweep then records or discards the block as a
//! whole.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::cell::{precise_enough, CellResult, Sampling};
use crate::engine::config::Config;
use crate::engine::error::Result;
use crate::engine::experiment::Batch;
use crate::engine::session::Session;
use crate::model::figures::Figure;
use crate::model::host::HostFacts;
use crate::model::measured::BatchReport;
use crate::model::stats::{compare_paired, MIN_SAMPLES};

/// How far past the cap a block may go to reach [`MIN_SAMPLES`] rounds:
/// some arm's measured time never passes this many times [`Sampling::cap`].
/// It is [`MIN_SAMPLES`]: a block has its six rounds unless its samples
/// take longer than the whole cap each.
pub const HARD_CAP: f64 = MIN_SAMPLES as f64;

/// Connection sets per arm in a sweep's blocks ([`run_block_sets`]). One:
/// measured on this project's 2-CPU VM at `--quick` settings, two sets
/// cost ~10 s more a quick sweep (a second warm-up and set-up per arm) and
/// made fewer calls (three sweeps agreed on 74 of 336 instead of 157), while
/// one set's A/A false calls stayed within the level inside a sweep's
/// blocks (4.2 % of 240, `AA_IN_BLOCK=1 cargo run --release --example aa`).
/// A block of two arms alone stops at its first look when the two differ
/// by a state one set of connections keeps for its life; there one set made
/// 6.7 % false calls (32 of 480), two sets 2.5 % (6 of 240).
pub const SETS: usize = 1;

/// What a block measured.
#[derive(Debug)]
pub struct BlockResult {
    /// One per arm, in the order of the arms given: its cell (sample `i` is
    /// round `i`), or why it failed.
    pub arms: Vec<Result<CellResult>>,
    /// Rounds run (the samples of every arm that finished).
    pub rounds: usize,
    /// Whether the block stopped because every pair was decided (its
    /// arms' `stopped_by` is then `precision`), rather than at the cap.
    pub decided: bool,
}

/// The cells of a matrix (in its order) grouped into blocks: runs of
/// consecutive cells that differ only in their strategy and receive
/// strategy (the arms are strategy x receive). Returns indices into `cells`.
pub fn blocks_of(cells: &[Config]) -> Vec<Vec<usize>> {
    let key = |c: &Config| {
        let mut c = c.clone();
        c.strategy = crate::model::kinds::StrategyKind::TwoCopy;
        c.receive = crate::model::kinds::ReceiveKind::Copy;
        c
    };
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, cfg) in cells.iter().enumerate() {
        match out.last_mut() {
            Some(block) if key(&cells[block[0]]) == key(cfg) => block.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// A tiny PRNG (SplitMix64) for the order of the arms in a round; seeded
/// from the clock, so every block draws its own orders.
struct Order(u64);

impl Order {
    fn from_clock() -> Order {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Order(nanos ^ (u64::from(std::process::id()) << 32))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// One arm as the block runs it.
struct Arm {
    /// Its connection sets (empty once failed); round `r` runs on set `r % len`.
    sessions: Vec<Box<dyn Session>>,
    samples: Vec<BatchReport>,
    /// The main figure of each round (NaN where a sample has none), aligned
    /// with the rounds.
    main: Vec<f64>,
    measured: f64,
    failed: Option<crate::engine::error::Error>,
}

impl Arm {
    fn live(&self) -> bool {
        self.failed.is_none()
    }

    fn fail(&mut self, e: crate::engine::error::Error) {
        for s in self.sessions.drain(..) {
            let _ = s.stop();
        }
        self.samples.clear();
        self.failed = Some(e);
    }
}

/// Whether the live arms' rounds settle the block: every pair decided on
/// the main figure, or (one arm left) its main figure precise.
fn settled(arms: &[Arm], main: Figure, precision: f64) -> bool {
    let live: Vec<&Arm> = arms.iter().filter(|a| a.live()).collect();
    match live.len() {
        0 => false,
        1 => precise_enough(
            &live[0]
                .main
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect::<Vec<_>>(),
            precision,
        ),
        _ => live.iter().enumerate().all(|(i, a)| {
            live[i + 1..]
                .iter()
                .all(|b| compare_paired(&a.main, &b.main, main.higher_is_better()).decided)
        }),
    }
}

/// Runs the block whose arms are `arms` (one config per arm, alike but for
/// the strategy; not checked): starts each with `start`, warms each up for
/// `warmup`, then runs rounds as [`Sampling`] says (see the module doc).
/// `host` is this host's facts, shared by every arm's result; an arm's
/// [`Session::server_host`] becomes its [`CellResult::server_host`].
pub fn run_block(
    arms: &[Config],
    start: impl FnMut(&Config) -> Result<Box<dyn Session>>,
    host: &Arc<HostFacts>,
    warmup: Duration,
    s: &Sampling,
) -> BlockResult {
    run_block_sets(arms, 1, start, host, warmup, s)
}

/// [`run_block`], each arm on `sets` connection sets of its own (each
/// started and warmed up on its own), round `r` running on set `r % sets`:
/// a state one set of connections keeps for its life (on a 2-CPU VM, a
/// loopback stream connection settles at ~11 or ~45 Gbit/s and stays) then
/// shows in the spread of the rounds instead of as a difference between arms.
pub fn run_block_sets(
    arms: &[Config],
    sets: usize,
    mut start: impl FnMut(&Config) -> Result<Box<dyn Session>>,
    host: &Arc<HostFacts>,
    warmup: Duration,
    s: &Sampling,
) -> BlockResult {
    let mut order = Order::from_clock();
    let mut state: Vec<Arm> = arms
        .iter()
        .map(|cfg| {
            let mut arm = Arm {
                sessions: Vec::new(),
                samples: Vec::new(),
                main: Vec::new(),
                measured: 0.0,
                failed: None,
            };
            for _ in 0..sets.max(1) {
                match start(cfg) {
                    Ok(session) => arm.sessions.push(session),
                    Err(e) => {
                        arm.fail(e);
                        break;
                    }
                }
            }
            arm
        })
        .collect();
    let main = arms.first().map(|c| Figure::main(c.workload));
    if !warmup.is_zero() {
        for arm in state.iter_mut().filter(|a| a.live()) {
            let warmed: Result<Vec<BatchReport>> = arm
                .sessions
                .iter_mut()
                .map(|session| session.run(Batch::Duration(warmup)))
                .collect();
            if let Err(e) = warmed {
                arm.fail(e);
            }
        }
    }
    let mut rounds = 0;
    let mut decided = false;
    let mut turn: Vec<usize> = (0..state.len()).collect();
    while let Some(main) = main.filter(|_| state.iter().any(Arm::live)) {
        order.shuffle(&mut turn);
        for &i in &turn {
            let arm = &mut state[i];
            let n = arm.sessions.len();
            let Some(session) = arm.sessions.get_mut(rounds % n.max(1)) else {
                continue;
            };
            match session.run(Batch::Duration(s.sample)) {
                Ok(r) => {
                    arm.measured += r.seconds;
                    arm.main.push(main.of(&r).unwrap_or(f64::NAN));
                    arm.samples.push(r);
                }
                Err(e) => arm.fail(e),
            }
        }
        rounds += 1;
        if rounds >= MIN_SAMPLES && settled(&state, main, s.precision) {
            decided = true;
            break;
        }
        // Stop when one more round would take an arm past the cap, once
        // there are enough rounds for a 95 % interval; never past HARD_CAP
        // times the cap.
        let cap = s.cap.as_secs_f64();
        let next = state
            .iter()
            .filter(|a| a.live())
            .map(|a| a.measured)
            .fold(0.0, f64::max)
            + s.sample.as_secs_f64();
        if (rounds >= MIN_SAMPLES && next > cap) || next > HARD_CAP * cap {
            break;
        }
    }
    let arms = arms
        .iter()
        .zip(state)
        .map(|(cfg, mut arm)| {
            if let Some(e) = arm.failed {
                return Err(e);
            }
            let server_host = arm.sessions.first().and_then(|s| s.server_host());
            let mut stopped = Ok(());
            for session in arm.sessions.drain(..) {
                let r = session.stop();
                if stopped.is_ok() {
                    stopped = r;
                }
            }
            stopped?;
            Ok(CellResult {
                server_host,
                ..CellResult::new(cfg.clone(), arm.samples, decided, Arc::clone(host))
            })
        })
        .collect();
    BlockResult {
        arms,
        rounds,
        decided,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::error::Error;
    use crate::engine::experiment::{Experiment, SocketBuffers};
    use crate::model::kinds::WorkloadKind;
    use crate::{Shape, StrategyKind, TransportKind};

    #[test]
    fn blocks_group_a_cells_strategies() {
        let m = crate::sweep::Matrix {
            strategies: vec![
                StrategyKind::TwoCopy,
                StrategyKind::OneCopy,
                StrategyKind::ZeroCopy,
            ],
            transports: vec![TransportKind::Unix, TransportKind::Loopback],
            ..crate::sweep::Matrix::quick()
        };
        let cells = m.cells();
        let blocks = blocks_of(&cells);
        // unix leaves zero-copy out: two arms there, three on loopback.
        assert_eq!(blocks.len(), 2 * 2 * 6 * 4);
        assert_eq!(blocks.iter().map(Vec::len).sum::<usize>(), cells.len());
        for b in &blocks {
            let first = &cells[b[0]];
            let arms = if first.transport.kind == TransportKind::Unix {
                2
            } else {
                3
            };
            assert_eq!(b.len(), arms);
            for &i in b {
                let c = &cells[i];
                assert_eq!(
                    (
                        c.workload,
                        c.threads,
                        c.shape,
                        c.transport.kind,
                        c.layout,
                        &c.pin
                    ),
                    (
                        first.workload,
                        first.threads,
                        first.shape,
                        first.transport.kind,
                        first.layout,
                        &first.pin
                    )
                );
            }
        }
    }

    #[test]
    fn a_blocks_arms_are_strategies_times_receives() {
        use crate::model::kinds::ReceiveKind::{Copy, Zerocopy};
        let m = crate::sweep::Matrix {
            strategies: vec![StrategyKind::OneCopy, StrategyKind::ZeroCopy],
            transports: vec![TransportKind::Unix, TransportKind::Loopback],
            receives: vec![Copy, Zerocopy],
            ..crate::sweep::Matrix::quick()
        };
        let cells = m.cells();
        let blocks = blocks_of(&cells);
        assert_eq!(blocks.len(), 2 * 2 * 6 * 4);
        for b in &blocks {
            let first = &cells[b[0]];
            let arms: Vec<_> = b
                .iter()
                .map(|&i| (cells[i].strategy, cells[i].receive))
                .collect();
            if first.transport.kind == TransportKind::Unix {
                // Neither zero-copy sends nor mapping receives over AF_UNIX.
                assert_eq!(arms, [(StrategyKind::OneCopy, Copy)]);
                assert_eq!(first.transport.maxseg, None);
            } else {
                assert_eq!(
                    arms,
                    [
                        (StrategyKind::OneCopy, Copy),
                        (StrategyKind::OneCopy, Zerocopy),
                        (StrategyKind::ZeroCopy, Copy),
                        (StrategyKind::ZeroCopy, Zerocopy),
                    ]
                );
                // Every arm at the same MSS, the mapping one's.
                for &i in b {
                    assert_eq!(
                        cells[i].transport.maxseg,
                        Some(crate::engine::recv::map_mss())
                    );
                }
            }
        }
        // The default: copy alone, the kernel's MSS, as before receives.
        let m = crate::sweep::Matrix::quick();
        assert!(m
            .cells()
            .iter()
            .all(|c| c.receive == Copy && c.transport.maxseg.is_none()));
    }

    #[test]
    fn shuffles_are_permutations_and_vary() {
        let mut o = Order(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut v: Vec<usize> = (0..5).collect();
            o.shuffle(&mut v);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..5).collect::<Vec<_>>());
            seen.insert(v);
        }
        // 120 orders of five; 200 draws see most of them.
        assert!(seen.len() > 60, "{}", seen.len());
    }

    /// A session that reports a made-up batch: `value` as its rr p50 (µs),
    /// `seconds` long; fails on batch number `fail_at` when given.
    struct Fake {
        cfg: Config,
        value: f64,
        /// Every other batch this much above, the others as much below.
        wobble: f64,
        batches: usize,
        fail_at: Option<usize>,
        log: Arc<std::sync::Mutex<Vec<StrategyKind>>>,
    }

    impl Session for Fake {
        fn config(&self) -> &Config {
            &self.cfg
        }
        fn run(&mut self, b: Batch) -> Result<BatchReport> {
            self.batches += 1;
            if self.fail_at == Some(self.batches) {
                return Err(Error::usage("fake failure"));
            }
            let Batch::Duration(d) = b else {
                unreachable!()
            };
            self.log.lock().unwrap().push(self.cfg.strategy);
            let mut h = crate::model::stats::new_histogram();
            let sign = if self.batches % 2 == 0 { 1.0 } else { -1.0 };
            let drift = 1.0 + 0.001 * self.batches as f64;
            let ns = (self.value * 1000.0 * drift * (1.0 + sign * self.wobble)) as u64;
            h.record_n(ns, 100).unwrap();
            Ok(BatchReport {
                seconds: d.as_secs_f64(),
                messages: 100,
                bytes: 100,
                latency_ns: Some(h),
                client: Default::default(),
                server: Default::default(),
                zerocopy: None,
                rx: None,
            })
        }
        fn socket_buffers(&self) -> SocketBuffers {
            SocketBuffers {
                sndbuf: None,
                rcvbuf: None,
                mss: None,
            }
        }
        fn stop(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    fn arms(strategies: &[StrategyKind]) -> Vec<Config> {
        strategies
            .iter()
            .map(|&s| {
                Config::new(
                    s,
                    TransportKind::Loopback,
                    WorkloadKind::Rr,
                    Shape {
                        fields: 1,
                        field_size: 64,
                    },
                )
            })
            .collect()
    }

    fn sampling(cap_ms: u64) -> Sampling {
        Sampling {
            sample: Duration::from_millis(10),
            precision: 0.05,
            cap: Duration::from_millis(cap_ms),
        }
    }

    fn run_fakes(
        cfgs: &[Config],
        values: &[(f64, f64)],
        fail_at: &[Option<usize>],
        s: &Sampling,
    ) -> (BlockResult, Vec<StrategyKind>) {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let mut k = 0;
        let r = run_block(
            cfgs,
            |cfg| {
                let fake = Fake {
                    cfg: cfg.clone(),
                    value: values[k].0,
                    wobble: values[k].1,
                    batches: 0,
                    fail_at: fail_at[k],
                    log: Arc::clone(&log),
                };
                k += 1;
                Ok(Box::new(fake) as Box<dyn Session>)
            },
            &host,
            Duration::from_millis(5),
            s,
        );
        let log = log.lock().unwrap().clone();
        (r, log)
    }

    #[test]
    fn clear_differences_stop_at_the_minimum_rounds_with_every_arm_in_every_round() {
        use StrategyKind::*;
        let cfgs = arms(&[TwoCopy, OneCopy, ZeroCopy]);
        let (r, log) = run_fakes(
            &cfgs,
            &[(10.0, 0.0), (20.0, 0.0), (40.0, 0.0)],
            &[None; 3],
            &sampling(1000),
        );
        assert!(r.decided);
        assert_eq!(r.rounds, MIN_SAMPLES);
        // Warm-up, then each round has every arm exactly once.
        assert_eq!(log.len(), 3 * (1 + MIN_SAMPLES));
        for round in log[3..].chunks(3) {
            let mut s = round.to_vec();
            s.sort();
            assert_eq!(s, vec![TwoCopy, OneCopy, ZeroCopy]);
        }
        for (arm, cfg) in r.arms.iter().zip(&cfgs) {
            let cell = arm.as_ref().unwrap();
            assert_eq!(cell.samples.len(), MIN_SAMPLES);
            assert!(cell.precise);
            assert_eq!(&cell.config, cfg);
        }
    }

    #[test]
    fn an_undecidable_pair_runs_to_the_cap() {
        use StrategyKind::*;
        // Ratios alternating 1.01 and 1.09: the interval straddles the
        // band's edge however many rounds run.
        let cfgs = arms(&[TwoCopy, OneCopy]);
        let values = [(10.0, 0.0), (10.5, 0.04)];
        let (r, _) = run_fakes(&cfgs, &values, &[None; 2], &sampling(105));
        assert!(!r.decided);
        assert_eq!(r.rounds, 10);
        assert!(r.arms.iter().all(|a| !a.as_ref().unwrap().precise));
        // A cap too short for six rounds is passed to reach them.
        let (r, _) = run_fakes(&cfgs, &values, &[None; 2], &sampling(40));
        assert_eq!(r.rounds, MIN_SAMPLES);
        // ... but never past six times the cap.
        let (r, _) = run_fakes(&cfgs, &values, &[None; 2], &sampling(7));
        assert_eq!(r.rounds, 4);
    }

    #[test]
    fn a_failed_arm_fails_alone() {
        use StrategyKind::*;
        let cfgs = arms(&[TwoCopy, OneCopy, ZeroCopy]);
        // The second arm fails in its third round (batch 4 after the warm-up).
        let (r, _) = run_fakes(
            &cfgs,
            &[(10.0, 0.0), (20.0, 0.0), (40.0, 0.0)],
            &[None, Some(4), None],
            &sampling(1000),
        );
        assert!(r.arms[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("fake failure"));
        for i in [0, 2] {
            assert_eq!(r.arms[i].as_ref().unwrap().samples.len(), r.rounds);
        }
        assert!(r.decided);
        // One that cannot start fails alone too; the other is measured.
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let cfgs = arms(&[TwoCopy, OneCopy]);
        let r = run_block(
            &cfgs,
            |cfg| {
                if cfg.strategy == TwoCopy {
                    return Err(Error::usage("cannot start"));
                }
                Ok(Box::new(Fake {
                    cfg: cfg.clone(),
                    value: 10.0,
                    wobble: 0.0,
                    batches: 0,
                    fail_at: None,
                    log: Arc::clone(&log),
                }) as Box<dyn Session>)
            },
            &host,
            Duration::ZERO,
            &sampling(100),
        );
        assert!(r.arms[0].is_err());
        // Alone, it stops when its own figure is precise (the fake's drift is 0.1 % a round).
        assert_eq!(r.arms[1].as_ref().unwrap().samples.len(), MIN_SAMPLES);
        assert!(r.decided);
    }

    #[test]
    fn rounds_alternate_over_an_arms_connection_sets() {
        use StrategyKind::*;
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let cfgs = arms(&[TwoCopy, OneCopy]);
        // Sets started in order: two-copy at 10 and 20 µs, one-copy at 40 and 80.
        let mut values = [10.0, 20.0, 40.0, 80.0].into_iter();
        let r = run_block_sets(
            &cfgs,
            2,
            |cfg| {
                Ok(Box::new(Fake {
                    cfg: cfg.clone(),
                    value: values.next().unwrap(),
                    wobble: 0.0,
                    batches: 0,
                    fail_at: None,
                    log: Arc::clone(&log),
                }) as Box<dyn Session>)
            },
            &host,
            Duration::from_millis(1),
            &sampling(1000),
        );
        // Warm-up on all four sets, then every arm once a round.
        assert_eq!(log.lock().unwrap().len(), 4 + 2 * r.rounds);
        let p50 = |i: usize| r.arms[i].as_ref().unwrap().values(Figure::LatencyP50Us);
        for (i, (even, odd)) in [(10.0, 20.0), (40.0, 80.0)].into_iter().enumerate() {
            for (round, v) in p50(i).into_iter().enumerate() {
                let want = if round % 2 == 0 { even } else { odd };
                assert!((v / want - 1.0).abs() < 0.05, "arm {i} round {round}: {v}");
            }
        }
        // The ratio is 4 every round: decided at the first look.
        assert_eq!((r.rounds, r.decided), (MIN_SAMPLES, true));
    }

    #[test]
    fn a_real_block_pairs_its_arms() {
        let cfgs: Vec<Config> = arms(&[StrategyKind::TwoCopy, StrategyKind::OneCopy])
            .into_iter()
            .map(|mut c| {
                c.transport.kind = TransportKind::Unix;
                c
            })
            .collect();
        let host = Arc::new(HostFacts::default());
        let r = run_block(
            &cfgs,
            |cfg| Ok(Box::new(Experiment::start(cfg)?) as Box<dyn Session>),
            &host,
            Duration::from_millis(5),
            &Sampling {
                sample: Duration::from_millis(5),
                precision: 0.05,
                cap: Duration::from_millis(40),
            },
        );
        assert!(r.rounds >= 2);
        for arm in &r.arms {
            let cell = arm.as_ref().unwrap();
            assert_eq!(cell.samples.len(), r.rounds);
            assert!(cell.estimate(Figure::LatencyP50Us).is_some());
        }
    }
}
