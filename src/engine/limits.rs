//! Limits a run is checked against before any thread starts: time ranges,
//! socket buffer sizes the kernel takes, the memory and file descriptors a
//! run needs, and the output directory of a sweep.
//!
//! Contract: every check here is cheap (a few `/proc` reads, no socket), runs
//! before any worker thread starts, and fails with [`Error::Usage`] (exit 2)
//! in one line that names the flag, the range it accepts or the figure it
//! needs, and what to do instead. A fact this host does not publish (no
//! `/proc/meminfo`, say) skips its check rather than guessing.

use std::path::Path;

use crate::engine::config::Config;
use crate::engine::recv::READ_AHEAD;
use crate::model::kinds::{Layout, Role};

use crate::engine::error::{Error, Result};
use crate::engine::message::Shape;
use crate::model::kinds::StrategyKind;
use crate::model::kinds::WorkloadKind;
use crate::model::size::format_size;

/// Share of the available memory a run may plan to use.
const MEMORY_SHARE: f64 = 0.8;

/// Counts as the CLI parses them: whole numbers in `min..=max`, negative ones
/// included so that `--fields -3` is told the range instead of "unexpected
/// argument".
pub fn count_in(
    flag: &'static str,
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let range = if max == u64::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        match text.trim().parse::<i128>() {
            Ok(n) if n >= i128::from(min) && n <= i128::from(max) => Ok(n as u64),
            Ok(_) => Err(format!("{flag} must be {range}")),
            Err(_) => Err(format!("not a whole number: {flag} must be {range}")),
        }
    }
}

/// Largest `--fields`, as the CLI parses it.
pub const MAX_FIELDS: u64 = crate::engine::message::MAX_FIELDS as u64;
/// Largest `--threads`, as the CLI parses it.
pub const MAX_THREADS: u64 = crate::engine::config::MAX_THREADS as u64;

/// `--field-size` as typed: a size in 1 B to 64 MiB.
pub fn field_size(text: &str) -> Result<usize, String> {
    let range = format!(
        "--field-size must be 1 B to {}",
        format_size(crate::engine::message::MAX_FIELD_SIZE as u64)
    );
    match crate::model::size::parse_size(text) {
        Ok(n) if (1..=crate::engine::message::MAX_FIELD_SIZE).contains(&n) => Ok(n),
        Ok(_) => Err(range),
        Err(_) if text.trim_start().starts_with('-') => Err(range),
        Err(e) => Err(format!("{e}; {range}")),
    }
}

/// One value of `sweep --rcvlowats`: `0` leaves `SO_RCVLOWAT` to the default
/// (`run --rcvlowat` unset), else 1 B to `i32::MAX` bytes, as `run --rcvlowat`.
pub fn rcvlowat_or_unset(text: &str) -> Result<Option<usize>, String> {
    let range = format!(
        "--rcvlowats must be 0 (the default mark) or 1 B to {} B",
        i32::MAX
    );
    match crate::model::size::parse_size(text) {
        Ok(0) => Ok(None),
        Ok(n) if n <= i32::MAX as usize => Ok(Some(n)),
        Ok(_) => Err(range),
        Err(_) if text.trim_start().starts_with('-') => Err(range),
        Err(e) => Err(format!("{e}; {range}")),
    }
}

fn read_sysctl(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Checks `--sndbuf`/`--rcvbuf` against what the kernel takes: `SO_SNDBUF`
/// silently caps a request at `net.core.wmem_max` (`rmem_max` for receive),
/// and a value past `i32::MAX` wraps to the minimum. The socket reports what
/// it really got; see [`crate::Experiment::socket_buffers`].
pub fn check_socket_buffers(sndbuf: Option<usize>, rcvbuf: Option<usize>) -> Result<()> {
    for (flag, want, sysctl) in [
        ("--sndbuf", sndbuf, "net.core.wmem_max"),
        ("--rcvbuf", rcvbuf, "net.core.rmem_max"),
    ] {
        let Some(want) = want else { continue };
        let path = format!("/proc/sys/{}", sysctl.replace('.', "/"));
        // The kernel's own bound: the setsockopt argument is a C int it doubles.
        let max = read_sysctl(&path)
            .unwrap_or(i32::MAX as u64 / 2)
            .min(i32::MAX as u64 / 2);
        if want == 0 || want as u64 > max {
            return Err(Error::usage(format!(
                "{flag} {}: must be 1 B to {} ({sysctl} = {max}; the kernel caps larger requests; raise it with sysctl -w {sysctl}=BYTES)",
                show_size(want as u64),
                show_size(max),
            )));
        }
    }
    Ok(())
}

/// A byte count with its exact value and, when large, a binary unit.
fn show_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} ({n} B)", approx_size(n))
    } else {
        format!("{n} B")
    }
}

/// A byte count rounded to one decimal in the largest binary unit.
pub(crate) fn approx_size(n: u64) -> String {
    let units = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in units {
        if n >= 1 << shift {
            return format!("{:.1} {unit}", n as f64 / (1u64 << shift) as f64);
        }
    }
    format!("{n} B")
}

/// The process base of [`memory_needed`]: what a run allocates besides its
/// message buffers (threads' stacks, histograms, the binary), measured.
const BASE_BYTES: u64 = 5 << 20;

/// Bytes one message takes in its layout: the message's bytes on the heap;
/// with [`Layout::Page`], one allocation in which every field starts on a
/// page boundary: 1 + sum(ceil(field / page)) pages.
fn message_footprint(cfg: &Config) -> u64 {
    match cfg.layout {
        Layout::Heap => cfg.shape.message_bytes() as u64,
        Layout::Page => {
            let page = 4096u64;
            let per_field = (cfg.shape.field_size as u64).div_ceil(page);
            (1 + cfg.shape.fields as u64 * per_field).saturating_mul(page)
        }
    }
}

/// Bytes of message buffers the ends of `roles` allocate for `cfg`, over
/// all its connections: an end that sends keeps a pool of `slots` messages
/// (plus one serialization buffer for two-copy), an end that reads one
/// receive buffer of at most max(M, [`READ_AHEAD`]) (whole messages). Stream clients only send and
/// stream servers only read; both ends of an rr connection do both. The
/// one formula behind the CLI's check ([`memory_needed`]) and `serve`'s
/// per-cell limit, which runs only the server ends.
pub fn buffer_bytes(cfg: &Config, roles: &[Role]) -> u64 {
    let msg = message_footprint(cfg);
    let slots = cfg.pool_slots() as u64;
    let serialize = u64::from(cfg.strategy == StrategyKind::TwoCopy);
    let sender = (slots + serialize).saturating_mul(msg);
    let reader = msg.max(READ_AHEAD as u64);
    let per_connection: u64 = roles
        .iter()
        .map(|role| {
            let (sends, reads) = match (cfg.workload, role) {
                (WorkloadKind::Rr, _) => (true, true),
                (WorkloadKind::Stream, Role::Client) => (true, false),
                (WorkloadKind::Stream, Role::Server) => (false, true),
            };
            u64::from(sends) * sender + u64::from(reads) * reader
        })
        .fold(0u64, u64::saturating_add);
    (cfg.threads as u64).saturating_mul(per_connection)
}

/// Bytes of memory a run of the ends of `roles` needs, the README's formula
/// (section Memory, which measured it): B + S·slots·M + R·max(M, 256 KiB) +
/// (two-copy only) S·M, with S senders and R readers (T each for stream
/// and 2T each for rr when both ends run here) and a process base B of 5 MiB.
pub(crate) fn memory_needed(cfg: &Config, roles: &[Role]) -> u64 {
    BASE_BYTES.saturating_add(buffer_bytes(cfg, roles))
}

/// `MemAvailable`, and the cgroup's `memory.max` when it is lower.
fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut avail = kib * 1024;
    if let Some(max) = read_sysctl("/sys/fs/cgroup/memory.max") {
        let used = read_sysctl("/sys/fs/cgroup/memory.current").unwrap_or(0);
        avail = avail.min(max.saturating_sub(used));
    }
    Some(avail)
}

/// Fails, naming the flags and the figure, when a run would allocate more
/// than [`MEMORY_SHARE`] of the memory available.
pub fn check_memory(cfg: &Config, roles: &[Role]) -> Result<()> {
    let Some(avail) = memory_available() else {
        return Ok(());
    };
    check_memory_against(cfg, roles, avail)
}

fn check_memory_against(cfg: &Config, roles: &[Role], avail: u64) -> Result<()> {
    let need = memory_needed(cfg, roles);
    if need as f64 <= avail as f64 * MEMORY_SHARE {
        return Ok(());
    }
    let Shape { fields, field_size } = cfg.shape;
    Err(Error::usage(format!(
        "--threads {} x --pool {} x {} messages (--fields {fields} x --field-size {}) need about {} of memory, but {} is available: use fewer --threads, a smaller --pool or smaller messages",
        cfg.threads,
        cfg.pool_slots(),
        approx_size(cfg.shape.message_bytes() as u64),
        format_size(field_size as u64),
        approx_size(need),
        approx_size(avail),
    )))
}

/// File descriptors a run opens: per connection a client socket, a server
/// socket, a listener and the coordinator's duplicates, plus perf counters.
pub(crate) fn fds_needed(cfg: &Config) -> u64 {
    let per_conn = 6 + if cfg.counters { 2 * 16 } else { 0 };
    cfg.threads as u64 * per_conn + 32
}

/// Raises the soft descriptor limit to what the run needs, or fails at once
/// when the hard limit is below it.
pub fn check_fd_limit(cfg: &Config) -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    let need = fds_needed(cfg);
    // Perf counters are optional: a run without them needs far fewer.
    let bare = cfg.threads as u64 * 6 + 32;
    if hard < bare {
        return Err(Error::usage(format!(
            "--threads {} needs about {bare} file descriptors, but the limit is {hard} (ulimit -n): raise it (ulimit -n {}) or use fewer --threads",
            cfg.threads,
            need.max(1024)
        )));
    }
    if soft < need {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, need.min(hard), hard);
    }
    Ok(())
}

/// Everything the host must allow before a run of the ends of `roles`
/// (both, or one when a remote peer runs the other) starts.
pub fn check_host(cfg: &Config, roles: &[Role]) -> Result<()> {
    check_socket_buffers(cfg.transport.sndbuf, cfg.transport.rcvbuf)?;
    check_memory(cfg, roles)?;
    check_fd_limit(cfg)
}

/// A sweep's output directory: creatable, writable, and not already
/// holding a sweep (one would be overwritten) unless it is to be `resumed`.
pub fn check_out_dir(dir: &Path, resumed: bool) -> Result<()> {
    let results = dir.join("results.csv");
    if !resumed && results.symlink_metadata().is_ok() {
        return Err(Error::usage(format!(
            "--out {}: already holds a sweep ({} exists); give a new directory, or add --resume to continue it",
            dir.display(),
            results.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::usage(format!(
            "--out {}: cannot create it: {e}; give a directory you can write",
            dir.display()
        ))
    })?;
    // Creating a directory can succeed where writing into it cannot (/proc, a read-only mount).
    let probe = dir.join(".copybench-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        Error::usage(format!(
            "--out {}: cannot write into it: {e}; give a directory you can write",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{seconds, show_number, MIN_DURATION, MIN_TIMEOUT};
    use crate::model::kinds::TransportKind;

    const BOTH: [Role; 2] = [Role::Client, Role::Server];

    #[test]
    fn huge_and_tiny_numbers_read_as_exponents() {
        assert_eq!(show_number(0.25), "0.25");
        assert_eq!(show_number(86400.0), "86400");
        assert_eq!(show_number(1e300), "1e300");
        assert_eq!(show_number(1e-12), "1e-12");
        assert_eq!(show_number(f64::INFINITY), "inf");
    }

    #[test]
    fn seconds_name_the_flag_and_a_readable_range() {
        let e = seconds("--duration", 1e300, MIN_DURATION).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--duration 1e300: must be 0.001 to 86400 seconds"
        );
        let e = seconds("--timeout", 1e-12, MIN_TIMEOUT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--timeout 1e-12: must be 0.1 to 86400 seconds"
        );
        assert!(seconds("--warmup", 0.0, 0.0).is_ok());
        assert!(seconds("--warmup", f64::NAN, 0.0).is_err());
    }

    #[test]
    fn counts_take_negative_text_and_say_the_range() {
        let fields = count_in("--fields", 1, 1023);
        assert_eq!(fields("8"), Ok(8));
        assert_eq!(fields("-3").unwrap_err(), "--fields must be 1 to 1023");
        assert!(fields("x").unwrap_err().contains("not a whole number"));
        let messages = count_in("--messages", 1, u64::MAX);
        assert_eq!(messages("-5").unwrap_err(), "--messages must be at least 1");
    }

    #[test]
    fn field_sizes_out_of_range_say_the_range() {
        assert_eq!(field_size("4K"), Ok(4096));
        assert!(field_size("-1").unwrap_err().contains("1 B to 64 MiB"));
        assert!(field_size("65M").unwrap_err().contains("1 B to 64 MiB"));
        assert!(field_size("4Q").unwrap_err().contains("suffix"));
    }

    #[test]
    fn a_run_that_cannot_fit_in_memory_is_refused_with_the_figure() {
        let shape = Shape {
            fields: 1023,
            field_size: 1 << 20,
        };
        let mut cfg = Config::new(
            StrategyKind::OneCopy,
            TransportKind::Loopback,
            WorkloadKind::Stream,
            shape,
        );
        cfg.threads = 64;
        // 64 x (2 slots + 1 read buffer) x 1023 MiB, about 192 GiB.
        assert!(memory_needed(&cfg, &BOTH) > 190 << 30);
        let e = check_memory_against(&cfg, &BOTH, 8 << 30).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("--threads 64"), "{text}");
        assert!(text.contains("GiB of memory"), "{text}");
        assert_eq!(e.exit_code(), 2);
        cfg.threads = 1;
        cfg.shape.fields = 1;
        assert!(check_memory_against(&cfg, &BOTH, 8 << 30).is_ok());
        // A 64 B field in the page layout takes a whole page.
        cfg.shape = Shape {
            fields: 8,
            field_size: 64,
        };
        let heap = memory_needed(&cfg, &BOTH);
        cfg.layout = crate::model::kinds::Layout::Page;
        assert!(memory_needed(&cfg, &BOTH) > heap);
    }

    #[test]
    fn socket_buffers_past_the_kernel_cap_are_refused() {
        let e = check_socket_buffers(Some(100 << 30), None).unwrap_err();
        assert!(e.to_string().starts_with("--sndbuf 100.0 GiB"), "{e}");
        let e = check_socket_buffers(None, Some(4 << 30)).unwrap_err();
        assert!(e.to_string().contains("net.core.rmem_max"), "{e}");
        assert!(check_socket_buffers(Some(4096), Some(4096)).is_ok());
    }
}
