//! A sweep runs a cell's strategies as one block: side by side, one sample
//! each a round, so the arms of a block have the same rounds; `--resume`
//! runs only the arms a block is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("copybench-blocks-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn sweep(dir: &Path, strategies: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(["sweep", "--strategies", strategies, "--workloads", "rr"])
        .args(["--sizes", "64,4K", "--threads", "1", "--warmup", "0.01"])
        .args(["--duration", "0.05", "--sample", "0.005", "--repeat", "1"])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap()
}

use copybench::StrategyKind;

fn rows(dir: &Path) -> Vec<copybench::Row> {
    copybench::report::read_results(&dir.join("results.csv")).unwrap()
}

/// `(strategy, field size)` → the sample numbers of its `samples.csv` rows.
fn samples(dir: &Path) -> std::collections::BTreeMap<(StrategyKind, u64), Vec<u32>> {
    let mut out = std::collections::BTreeMap::<_, Vec<u32>>::new();
    let mut r = csv::Reader::from_path(dir.join("samples.csv")).unwrap();
    for s in r.deserialize::<copybench::model::figures::SampleRow>() {
        let s = s.unwrap();
        out.entry((s.strategy, s.field_size_bytes))
            .or_default()
            .push(s.sample);
    }
    out
}

#[test]
fn the_arms_of_a_block_share_their_rounds_and_resume_adds_a_missing_arm() {
    let dir = scratch("rounds");
    let out = sweep(&dir, "two-copy,one-copy", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = rows(&dir);
    assert_eq!(first.len(), 4);
    let by_arm = samples(&dir);
    for size in [64, 4096] {
        let a = &by_arm[&(StrategyKind::TwoCopy, size)];
        let b = &by_arm[&(StrategyKind::OneCopy, size)];
        // Sample i of every arm is round i: the same numbers, 0..rounds.
        assert_eq!(a, b, "{size} B");
        assert_eq!(*a, (0..a.len() as u32).collect::<Vec<_>>());
        assert!(a.len() >= copybench::model::stats::MIN_SAMPLES, "{size} B: {a:?}");
        let arms: Vec<_> = first
            .iter()
            .filter(|r| r.field_size_bytes == size)
            .collect();
        assert!(arms.iter().all(|r| r.samples == Some(a.len() as u32)));
        assert!(arms.windows(2).all(|w| w[0].stopped_by == w[1].stopped_by));
    }

    // A third strategy: resuming runs only its arms (one per block).
    let out = sweep(&dir, "two-copy,one-copy,zero-copy", &["--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        2,
        "{stderr}"
    );
    let all = rows(&dir);
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|r| r.strategy == StrategyKind::ZeroCopy).count(), 2);
    // The rows there are kept as they were.
    assert_eq!(&all[..4], &first[..]);
    // Everything there now: nothing runs.
    let out = sweep(&dir, "two-copy,one-copy,zero-copy", &["--resume"]);
    assert!(out.status.success());
    assert_eq!(rows(&dir).len(), 6);
    fs::remove_dir_all(&dir).unwrap();
}
