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
        assert!(
            a.len() >= copybench::model::stats::MIN_SAMPLES,
            "{size} B: {a:?}"
        );
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
    assert_eq!(
        all.iter()
            .filter(|r| r.strategy == StrategyKind::ZeroCopy)
            .count(),
        2
    );
    // The rows there are kept as they were.
    assert_eq!(&all[..4], &first[..]);
    // Everything there now: nothing runs.
    let out = sweep(&dir, "two-copy,one-copy,zero-copy", &["--resume"]);
    assert!(out.status.success());
    assert_eq!(rows(&dir).len(), 6);
    fs::remove_dir_all(&dir).unwrap();
}

/// Drops one column of a CSV file, as a file from before it was added.
fn drop_column(path: &Path, column: &str) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().clone();
    let at = header.iter().position(|c| c == column).unwrap();
    let keep = |rec: &csv::StringRecord| -> Vec<String> {
        rec.iter()
            .enumerate()
            .filter(|&(i, _)| i != at)
            .map(|(_, v)| v.to_string())
            .collect()
    };
    let records: Vec<Vec<String>> = r.records().map(|rec| keep(&rec.unwrap())).collect();
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(keep(&header)).unwrap();
    for rec in records {
        w.write_record(rec).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn receives_are_arms_and_resume_upgrades_a_file_from_before_them() {
    use copybench::ReceiveKind::{Copy, Zerocopy};
    if let Err(why) = copybench::recv_map_support() {
        eprintln!("skipped: this host cannot map received pages: {why}");
        return;
    }
    let dir = scratch("receives");
    let out = sweep(&dir, "one-copy,zero-copy", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = rows(&dir);
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|r| r.receive == Copy));
    // As a sweep from before receive strategies wrote it.
    drop_column(&dir.join("results.csv"), "receive");
    drop_column(&dir.join("samples.csv"), "receive");
    assert_eq!(rows(&dir), first);

    // Resuming with zerocopy runs its arms alone: one per sender and size.
    let out = sweep(
        &dir,
        "one-copy,zero-copy",
        &["--receives", "copy,zerocopy", "--resume"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ran: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(ran.len(), 4, "{stderr}");
    assert!(ran.iter().all(|l| l.contains("+ zerocopy rx:")), "{stderr}");
    let all = rows(&dir);
    assert_eq!(all.len(), 8);
    assert_eq!(&all[..4], &first[..]);
    assert_eq!(all.iter().filter(|r| r.receive == Zerocopy).count(), 4);
    let header = fs::read_to_string(dir.join("samples.csv")).unwrap();
    assert!(header.lines().next().unwrap().contains(",receive,"));
    // The mapping arms' samples pair with their blocks' rounds.
    let mut r = csv::Reader::from_path(dir.join("samples.csv")).unwrap();
    let zc_samples = r
        .deserialize::<copybench::model::figures::SampleRow>()
        .filter(|s| s.as_ref().unwrap().receive == Zerocopy)
        .count();
    assert!(zc_samples >= 4 * copybench::model::stats::MIN_SAMPLES);
    // Nothing left to run.
    let out = sweep(
        &dir,
        "one-copy,zero-copy",
        &["--receives", "copy,zerocopy", "--resume"],
    );
    assert!(out.status.success());
    assert_eq!(rows(&dir).len(), 8);
    // The report compares the receive strategies behind each sender.
    let out = Command::new(env!("CARGO_BIN_EXE_copybench"))
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = fs::read_to_string(dir.join("findings.json")).unwrap();
    assert!(
        findings.contains("\"a\": \"one-copy + zerocopy rx\"")
            && findings.contains("\"a\": \"zero-copy + zerocopy rx\""),
        "{findings}"
    );
    fs::remove_dir_all(&dir).unwrap();
}
