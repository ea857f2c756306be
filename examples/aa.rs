//! `cargo run --release --example aa -- [BLOCKS]`: the A/A test of the
//! paired rule on this host. Each block has two arms of the *same* cell
//! (strategy, workload, size, threads), run side by side as the sweep runs
//! its blocks (`copybench::block::run_block`, the `sweep --quick` settings:
//! its warm-up, samples, cap and pinning), so every call the paired rule
//! makes between them is a false one.
//!
//! The blocks walk the default quick matrix's cells (rr and stream, 64 B to
//! 64 KiB, 1 to 8 threads) and turn through the strategies this host can run,
//! so 240 blocks (the default) cover every cell of the default matrix once.
//! With `AA_IN_BLOCK=1` the twins run inside the sweep's whole block (the
//! cell's other strategies as arms too, the twin last), so the block stops
//! as the sweep's blocks do (when all its pairs are decided, which with five
//! strategies is rarely before the cap); without it, a block of the two
//! alone stops as soon as that one pair is decided.
//! `AA_STRATEGIES=one-copy,zero-copy` picks the strategies, `AA_SAMPLE_MS`
//! and `AA_CAP_MS` override the sample length and the cap, `AA_WARMUP_MS`
//! the warm-up; `AA_SHOW=1` prints both arms' rounds of every false call.
//!
//! The twins share one connection set and its threads, as a sweep's arms
//! do (`copybench::block::shared_groups`): batches of the two arms take
//! turns on it. `AA_SEPARATE=1` gives the twin connections of its own
//! instead (as every arm had before arms shared them), to show what a
//! state one connection set keeps for its life does to the rule.
//!
//! Prints one line per block and, at the end, the false calls on the main
//! figure (the rate the rule promises to keep at or below 5 %) and over
//! every sampled figure, the rounds, and how many blocks were decided.

use std::sync::Arc;
use std::time::{Duration, Instant};

use copybench::block::{run_block_grouped, shared_groups};
use copybench::model::stats::{compare_paired, Call};
use copybench::sweep::Matrix;
use copybench::Session;
use copybench::{Experiment, Figure, StrategyKind};

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .map(|v| Duration::from_millis(v.parse().expect("milliseconds")))
}

fn main() {
    let blocks: usize = std::env::args()
        .nth(1)
        .map_or(240, |v| v.parse().expect("BLOCKS: a number"));
    let mut m = Matrix::quick();
    if let Ok(list) = std::env::var("AA_STRATEGIES") {
        m.strategies = list
            .split(',')
            .map(|s| {
                StrategyKind::ALL
                    .into_iter()
                    .find(|k| k.name() == s)
                    .unwrap_or_else(|| panic!("unknown strategy {s}"))
            })
            .collect();
    }
    m.sample = env_ms("AA_SAMPLE_MS").unwrap_or(m.sample);
    m.duration = env_ms("AA_CAP_MS").unwrap_or(m.duration);
    m.warmup = env_ms("AA_WARMUP_MS").unwrap_or(m.warmup);
    // As the sweep: pinned, client and server of a connection on CPUs of their own.
    let cpus = copybench::config::allowed_cpus();
    m.pin = (cpus.len() >= 2).then(|| copybench::Pin::spread(&cpus));
    let cells = m.cells();
    let host = Arc::new(copybench::probe::gather());
    let sampling = m.sampling();
    let in_block = std::env::var_os("AA_IN_BLOCK").is_some();
    let separate = std::env::var_os("AA_SEPARATE").is_some();
    println!(
        "A/A: {blocks} blocks with two arms of one cell{}, {}; samples {} ms, cap {} ms, warm-up {} ms, pinned: {}",
        if in_block {
            " besides the cell's other strategies"
        } else {
            ""
        },
        if separate {
            "the twin on connections of its own"
        } else {
            "sharing one connection set"
        },
        m.sample.as_millis(),
        m.duration.as_millis(),
        m.warmup.as_millis(),
        m.pin.is_some()
    );

    let started = Instant::now();
    let (mut main_calls, mut figure_calls, mut figure_pairs) = (0, 0, 0);
    let (mut decided, mut failed, mut measured) = (0, 0, 0.0);
    let mut rounds = Vec::new();
    let full_blocks = copybench::block::blocks_of(&cells);
    for k in 0..blocks {
        let cfg = &cells[k % cells.len()];
        // The twins, and with AA_IN_BLOCK the cell's other strategies too
        // (the twin last), so that the block stops as the sweep's do.
        let mut arms = vec![cfg.clone()];
        if in_block {
            let block = full_blocks
                .iter()
                .find(|b| b.contains(&(k % cells.len())))
                .expect("every cell is in a block");
            arms = block.iter().map(|&i| cells[i].clone()).collect();
        }
        let first = arms
            .iter()
            .position(|c| c == cfg)
            .expect("the cell is an arm");
        arms.push(cfg.clone());
        let twin = arms.len() - 1;
        let mut groups = shared_groups(&arms);
        if separate {
            *groups.last_mut().expect("the twin") = groups.iter().max().unwrap() + 1;
        }
        let r = run_block_grouped(
            &arms,
            &groups,
            |c| Ok(Box::new(Experiment::start_arms(c, Default::default())?) as Box<dyn Session>),
            &host,
            m.warmup,
            &sampling,
        );
        let (a, b) = match (&r.arms[first], &r.arms[twin]) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                failed += 1;
                println!(
                    "{k:>4} {cfg:?}: FAILED {:?}",
                    a.as_ref().err().or(b.as_ref().err())
                );
                continue;
            }
        };
        rounds.push(r.rounds);
        decided += usize::from(r.decided);
        measured += r
            .arms
            .iter()
            .flatten()
            .map(|c| c.total.seconds)
            .sum::<f64>();
        let aligned = |c: &copybench::CellResult, f: Figure| -> Vec<f64> {
            c.samples
                .iter()
                .map(|s| f.of(s).unwrap_or(f64::NAN))
                .collect()
        };
        let main = a.main();
        let mut line = String::new();
        for f in copybench::model::figures::SAMPLED {
            let c = compare_paired(&aligned(a, f), &aligned(b, f), f.higher_is_better());
            if c.rounds == 0 {
                continue;
            }
            figure_pairs += 1;
            let called = c.call != Call::Within;
            figure_calls += usize::from(called);
            if f == main {
                main_calls += usize::from(called);
                line = format!(
                    "{} ×{:.3} [{:.3}–{:.3}] {}",
                    f.column(),
                    c.ratio,
                    c.ratio_lo,
                    c.ratio_hi,
                    if called { "FALSE CALL" } else { "≈" }
                );
            }
        }
        if line.contains("FALSE") && std::env::var_os("AA_SHOW").is_some() {
            let show = |c: &copybench::CellResult| {
                aligned(c, main)
                    .iter()
                    .map(|v| format!("{v:.3}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!("       A: {}\n       B: {}", show(a), show(b));
        }
        println!(
            "{k:>4} {} {} thr {} B {}: {} rounds{}, {line}",
            cfg.workload,
            cfg.threads,
            cfg.shape.field_size,
            cfg.strategy,
            r.rounds,
            if r.decided { " (decided)" } else { "" },
        );
    }
    let n = rounds.len();
    rounds.sort_unstable();
    let pct = |x: usize, of: usize| 100.0 * x as f64 / of.max(1) as f64;
    println!(
        "\n{n} blocks measured ({failed} failed) in {:.1} s ({measured:.1} s measured): \
         main figure false calls {main_calls}/{n} = {:.1} %; every sampled figure {figure_calls}/{figure_pairs} = {:.1} %; \
         rounds median {} (min {}, max {}); decided {decided}/{n}",
        started.elapsed().as_secs_f64(),
        pct(main_calls, n),
        pct(figure_calls, figure_pairs),
        rounds.get(n / 2).copied().unwrap_or(0),
        rounds.first().copied().unwrap_or(0),
        rounds.last().copied().unwrap_or(0),
    );
}
