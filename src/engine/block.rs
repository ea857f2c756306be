//! Blocks: a cell's strategies measured side by side, round by round.
//!
//! A *block* is one (transport, workload, field size, fields, layout,
//! threads) with every compared strategy as an *arm*. [`run_block`] starts
//! one session for the arms alike but for their strategy (its connections
//! and threads, pinned as `cfg.pin` says), every sender holding each arm's
//! strategy over one pool ([`crate::engine::experiment::Experiment::start_arms`]);
//! arms that differ in more (a mapping receiver's connections have their
//! own MSS) get sessions of their own, all open at the same time. It warms
//! each arm up once, then runs *rounds*: in each round every arm gives
//! exactly one sample (one [`Batch::Duration`] of [`Sampling::sample`]), in
//! a fresh random order each round. Round *i* of every arm ran under the
//! same conditions (load, the host's drift) and, for arms that share a
//! session, over the same connections and threads: a state those keep for
//! their life (on this project's 2-CPU VM a loopback stream connection
//! settles at ~11 or ~45 Gbit/s and stays there) is every such arm's, not
//! one arm's luck. So the per-round ratio of two arms cancels them; the
//! paired rule of [`crate::model::stats::compare_paired`] calls a pair
//! from those ratios.
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
//! round *i*). A failed batch breaks the session it ran on, so the other
//! arms of that session go on over a new one (started and warmed up for
//! them); when a session cannot start, each of its arms is tried alone to
//! find which cannot. A block cut from outside (its [`crate::engine::experiment::Bound`]:
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
    /// Its group: the arms that share its connections and threads.
    group: usize,
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

/// The group of each arm when arms alike but for their strategy share one
/// session: arms that differ in anything else (a block's receive
/// strategies: a mapping receiver's connections have their own MSS) get
/// groups of their own. Groups are numbered from 0 in order of first arm.
pub fn shared_groups(arms: &[Config]) -> Vec<usize> {
    let key = |c: &Config| {
        let mut c = c.clone();
        c.strategy = crate::model::kinds::StrategyKind::TwoCopy;
        c
    };
    let mut keys: Vec<Config> = Vec::new();
    arms.iter()
        .map(|c| {
            let k = key(c);
            keys.iter().position(|x| *x == k).unwrap_or_else(|| {
                keys.push(k);
                keys.len() - 1
            })
        })
        .collect()
}

/// Runs the block whose arms are `arms` (one config per arm), arms alike
/// but for the strategy sharing one session ([`shared_groups`]); see
/// [`run_block_grouped`].
pub fn run_block(
    arms: &[Config],
    start: impl FnMut(&[Config]) -> Result<Box<dyn Session>>,
    host: &Arc<HostFacts>,
    warmup: Duration,
    s: &Sampling,
) -> BlockResult {
    run_block_grouped(arms, &shared_groups(arms), start, host, warmup, s)
}

/// The block's sessions: one per group, started with its live arms' configs.
struct Groups<'a, F> {
    cfgs: &'a [Config],
    sessions: Vec<Option<Box<dyn Session>>>,
    start: F,
    warmup: Duration,
}

impl<F: FnMut(&[Config]) -> Result<Box<dyn Session>>> Groups<'_, F> {
    /// (Re)starts group `g` for its live arms and warms each of them up.
    /// An arm that cannot start fails alone: when the group cannot start,
    /// each arm is tried alone to find which. An arm whose warm-up fails
    /// fails, and the group starts again without it.
    fn start(&mut self, g: usize, state: &mut [Arm]) {
        if let Some(old) = self.sessions[g].take() {
            let _ = old.stop();
        }
        loop {
            let live: Vec<usize> = (0..state.len())
                .filter(|&i| state[i].group == g && state[i].live())
                .collect();
            if live.is_empty() {
                return;
            }
            let cfgs: Vec<Config> = live.iter().map(|&i| self.cfgs[i].clone()).collect();
            let mut session = match (self.start)(&cfgs) {
                Ok(session) => session,
                Err(e) if live.len() == 1 => {
                    state[live[0]].fail(e);
                    return;
                }
                Err(e) => {
                    let mut any = false;
                    for &i in &live {
                        match (self.start)(std::slice::from_ref(&self.cfgs[i])) {
                            Ok(alone) => {
                                let _ = alone.stop();
                            }
                            Err(alone) => {
                                state[i].fail(alone);
                                any = true;
                            }
                        }
                    }
                    if !any {
                        // Each starts alone but not together: the group's
                        // error is every arm's.
                        let text = e.to_string();
                        state[live[0]].fail(e);
                        for &i in &live[1..] {
                            state[i].fail(crate::engine::error::Error::io(
                                "starting the block's shared connections",
                                std::io::Error::other(text.clone()),
                            ));
                        }
                    }
                    continue;
                }
            };
            let mut warmed = true;
            if !self.warmup.is_zero() {
                for &i in &live {
                    let strategy = self.cfgs[i].strategy;
                    if let Err(e) = session.run_as(strategy, Batch::Duration(self.warmup)) {
                        state[i].fail(e);
                        warmed = false;
                        break;
                    }
                }
            }
            if warmed {
                self.sessions[g] = Some(session);
                return;
            }
            let _ = session.stop();
        }
    }
}

/// Runs the block whose arms are `arms` (one config per arm, alike but
/// for the strategy and the receive strategy; not checked). Arms with the
/// same `groups` entry share one session, started by `start` with their
/// configs: its connections and threads carry every such arm's samples in
/// turn ([`Session::run_as`]), so a state a connection keeps for its life
/// (on a 2-CPU VM a loopback stream connection settles at ~11 or ~45
/// Gbit/s and stays) is the same for all of them. Each arm is warmed up
/// for `warmup`, then rounds run as [`Sampling`] says (see the module
/// doc). `host` is this host's facts, shared by every arm's result; a
/// session's [`Session::server_host`] becomes its arms'
/// [`CellResult::server_host`].
pub fn run_block_grouped(
    arms: &[Config],
    groups: &[usize],
    start: impl FnMut(&[Config]) -> Result<Box<dyn Session>>,
    host: &Arc<HostFacts>,
    warmup: Duration,
    s: &Sampling,
) -> BlockResult {
    let mut order = Order::from_clock();
    let mut state: Vec<Arm> = groups
        .iter()
        .map(|&group| Arm {
            group,
            samples: Vec::new(),
            main: Vec::new(),
            measured: 0.0,
            failed: None,
        })
        .collect();
    let group_count = groups.iter().map(|g| g + 1).max().unwrap_or(0);
    let mut sessions = Groups {
        cfgs: arms,
        sessions: (0..group_count).map(|_| None).collect(),
        start,
        warmup,
    };
    for g in 0..group_count {
        sessions.start(g, &mut state);
    }
    let main = arms.first().map(|c| Figure::main(c.workload));
    let mut rounds = 0;
    let mut decided = false;
    let mut turn: Vec<usize> = (0..state.len()).collect();
    while let Some(main) = main.filter(|_| state.iter().any(Arm::live)) {
        order.shuffle(&mut turn);
        for &i in &turn {
            let g = state[i].group;
            if !state[i].live() {
                continue;
            }
            let Some(session) = sessions.sessions[g].as_mut() else {
                continue;
            };
            match session.run_as(arms[i].strategy, Batch::Duration(s.sample)) {
                Ok(r) => {
                    let arm = &mut state[i];
                    arm.measured += r.seconds;
                    arm.main.push(main.of(&r).unwrap_or(f64::NAN));
                    arm.samples.push(r);
                }
                Err(e) => {
                    // A failed batch breaks the session: the arm fails, and
                    // its group's other arms go on over new connections.
                    state[i].fail(e);
                    sessions.start(g, &mut state);
                }
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
    // Stop every session; a teardown's error fails its group's arms.
    let mut ends: Vec<(Option<Arc<HostFacts>>, Option<String>)> = Vec::new();
    for session in sessions.sessions.drain(..) {
        ends.push(match session {
            Some(session) => {
                let server_host = session.server_host();
                (server_host, session.stop().err().map(|e| e.to_string()))
            }
            None => (None, None),
        });
    }
    let arms = arms
        .iter()
        .zip(state)
        .map(|(cfg, arm)| {
            if let Some(e) = arm.failed {
                return Err(e);
            }
            let (server_host, stop_error) = &ends[arm.group];
            if let Some(text) = stop_error {
                return Err(crate::engine::error::Error::io(
                    "stopping the block's connections",
                    std::io::Error::other(text.clone()),
                ));
            }
            Ok(CellResult {
                server_host: server_host.clone(),
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

    /// What a fake arm reports: `value` as its rr p50 (µs), every other
    /// batch `wobble` above, the others as much below; it fails on its
    /// batch number `fail_at` when given.
    #[derive(Clone, Copy)]
    struct FakeArm {
        value: f64,
        wobble: f64,
        fail_at: Option<usize>,
    }

    /// An arm at 10 µs every batch, that never fails.
    const STEADY: FakeArm = FakeArm {
        value: 10.0,
        wobble: 0.0,
        fail_at: None,
    };

    /// A session of made-up batches for the arms (strategies) it was
    /// started with, each batch `seconds` long; logs which arm ran.
    struct Fake {
        cfg: Config,
        arms: Vec<(StrategyKind, FakeArm, usize)>,
        log: Arc<std::sync::Mutex<Vec<StrategyKind>>>,
    }

    impl Fake {
        /// A fake for the arms `cfgs`, each behaving as `of` says.
        fn session(
            cfgs: &[Config],
            of: impl Fn(&Config) -> FakeArm,
            log: &Arc<std::sync::Mutex<Vec<StrategyKind>>>,
        ) -> Box<dyn Session> {
            Box::new(Fake {
                cfg: cfgs[0].clone(),
                arms: cfgs.iter().map(|c| (c.strategy, of(c), 0)).collect(),
                log: Arc::clone(log),
            })
        }
    }

    impl Session for Fake {
        fn config(&self) -> &Config {
            &self.cfg
        }
        fn run(&mut self, b: Batch) -> Result<BatchReport> {
            let strategy = self.cfg.strategy;
            self.run_as(strategy, b)
        }
        fn run_as(&mut self, strategy: StrategyKind, b: Batch) -> Result<BatchReport> {
            let (_, arm, batches) = self
                .arms
                .iter_mut()
                .find(|(s, ..)| *s == strategy)
                .expect("an arm the session was started with");
            *batches += 1;
            if arm.fail_at == Some(*batches) {
                return Err(Error::usage("fake failure"));
            }
            let Batch::Duration(d) = b else {
                unreachable!()
            };
            self.log.lock().unwrap().push(strategy);
            let mut h = crate::model::stats::new_histogram();
            let sign = if *batches % 2 == 0 { 1.0 } else { -1.0 };
            let drift = 1.0 + 0.001 * *batches as f64;
            let ns = (arm.value * 1000.0 * drift * (1.0 + sign * arm.wobble)) as u64;
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
                default_rcvlowat: None,
                congestion: None,
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

    /// Runs a block of fakes: arm `i` (strategy of `cfgs[i]`) as `values[i]`
    /// (value, wobble) says, failing at its batch `fail_at[i]`.
    fn run_fakes(
        cfgs: &[Config],
        values: &[(f64, f64)],
        fail_at: &[Option<usize>],
        s: &Sampling,
    ) -> (BlockResult, Vec<StrategyKind>) {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let of = |c: &Config| {
            let i = cfgs.iter().position(|x| x.strategy == c.strategy).unwrap();
            FakeArm {
                value: values[i].0,
                wobble: values[i].1,
                fail_at: fail_at[i],
            }
        };
        let r = run_block(
            cfgs,
            |group| Ok(Fake::session(group, of, &log)),
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
        // One that cannot start fails alone too (the block tries each arm
        // alone when the group cannot start); the other is measured.
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let cfgs = arms(&[TwoCopy, OneCopy]);
        let r = run_block(
            &cfgs,
            |group| {
                if group.iter().any(|c| c.strategy == TwoCopy) {
                    return Err(Error::usage("cannot start"));
                }
                Ok(Fake::session(group, |_| STEADY, &log))
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
    fn arms_alike_but_for_the_strategy_share_one_session() {
        use crate::model::kinds::ReceiveKind::Zerocopy;
        use StrategyKind::*;
        let mut cfgs = arms(&[TwoCopy, OneCopy, TwoCopy, OneCopy]);
        for c in &mut cfgs[2..] {
            c.receive = Zerocopy;
        }
        // Copying receivers share one session, mapping ones another.
        assert_eq!(shared_groups(&cfgs), [0, 0, 1, 1]);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = Arc::new(HostFacts::default());
        let mut started = Vec::new();
        let r = run_block(
            &cfgs,
            |group| {
                started.push(
                    group
                        .iter()
                        .map(|c| (c.strategy, c.receive))
                        .collect::<Vec<_>>(),
                );
                Ok(Fake::session(group, |_| STEADY, &log))
            },
            &host,
            Duration::from_millis(1),
            &sampling(1000),
        );
        assert_eq!(started.len(), 2, "one start per group: {started:?}");
        assert_eq!(started[0].len(), 2);
        assert!(started[1].iter().all(|&(_, rx)| rx == Zerocopy));
        // Warm-up of every arm, then every arm once a round.
        assert_eq!(log.lock().unwrap().len(), 4 + 4 * r.rounds);
        assert!(r
            .arms
            .iter()
            .all(|a| a.as_ref().unwrap().samples.len() == r.rounds));
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
            |cfgs| {
                Ok(Box::new(Experiment::start_arms(cfgs, Default::default())?) as Box<dyn Session>)
            },
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
