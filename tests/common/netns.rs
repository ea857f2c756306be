//! A guard that gives one test its own pair of network namespaces.
//!
//! Contract: [`NetnsPair::up`] (or [`NetnsPair::plan`]) returns `None`, after
//! one line on stderr, when this host cannot make namespaces (not root, no
//! `ip`); with `CI` set it panics instead, because CI runs as root and must
//! really run these tests. Every name and the /30 derive from the test's tag
//! and the process id, so tests can run in parallel. Dropping the guard runs
//! `netns-setup.sh down` with the same environment, so the namespaces go away
//! even when an assertion panics.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("netns-setup.sh")
}

/// True when running under CI, where skipping is not allowed.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips (None after one stderr line) or, under CI, fails.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    if in_ci() {
        panic!("{why}, but CI is set: CI must run these tests as root with iproute2 installed");
    }
    // Straight to the terminal: libtest captures eprintln!, and a skip that
    // nobody sees reads as a pass. (Normally such tests are already reported
    // as ignored: see build.rs. This is for a binary built as root and run
    // without it.)
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {why}",
        std::thread::current().name().unwrap_or("a test")
    );
    None
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Why namespaces cannot be made here, if they cannot.
pub fn cannot_run() -> Option<&'static str> {
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 'ip' not found");
    }
    if effective_uid() != Some(0) {
        return Some("needs root to create network namespaces");
    }
    None
}

pub struct NetnsPair {
    pub server_ns: String,
    pub client_ns: String,
    pub server_veth: String,
    pub client_veth: String,
    pub server_addr: Ipv4Addr,
    pub client_addr: Ipv4Addr,
    pub prefix: u8,
}

impl NetnsPair {
    /// Creates a pair of namespaces for the test `tag` (short, [a-z0-9-]).
    pub fn up(tag: &str) -> Option<NetnsPair> {
        let pair = Self::plan(tag)?;
        let out = pair.run("up");
        assert!(
            out.status.success(),
            "netns-setup.sh up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pair)
    }

    /// Names and addresses for `tag`, with nothing created yet (the guard
    /// still runs `down` on drop), for tests that drive `up` themselves.
    pub fn plan(tag: &str) -> Option<NetnsPair> {
        if let Some(why) = cannot_run() {
            return skip_or_fail(why);
        }
        // The counter keeps two guards with one tag in one process apart.
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut h = DefaultHasher::new();
        (tag, pid, seq).hash(&mut h);
        let h = h.finish();
        let id = h & 0xff_ffff;
        // 198.18.0.0/15 holds 32768 /30s; subnet 0 is left to the default pair.
        let subnet = ((h >> 24) as u32 % 32767) + 1;
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + subnet * 4;
        let suffix = if seq == 0 {
            String::new()
        } else {
            format!("-{seq}")
        };
        Some(NetnsPair {
            server_ns: format!("cbt-{tag}-{pid}{suffix}-srv"),
            client_ns: format!("cbt-{tag}-{pid}{suffix}-cli"),
            server_veth: format!("cb{id:06x}s"),
            client_veth: format!("cb{id:06x}c"),
            server_addr: Ipv4Addr::from(base + 1),
            client_addr: Ipv4Addr::from(base + 2),
            prefix: 30,
        })
    }

    /// The environment that points netns-setup.sh at this pair.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("COPYBENCH_NS_SRV", self.server_ns.clone()),
            ("COPYBENCH_NS_CLI", self.client_ns.clone()),
            ("COPYBENCH_VETH_SRV", self.server_veth.clone()),
            ("COPYBENCH_VETH_CLI", self.client_veth.clone()),
            ("COPYBENCH_ADDR_SRV", self.server_addr.to_string()),
            ("COPYBENCH_ADDR_CLI", self.client_addr.to_string()),
            ("COPYBENCH_PREFIX", self.prefix.to_string()),
        ]
    }

    /// netns-setup.sh with this pair's environment; add the argument (and
    /// any overriding `.env(..)`) yourself.
    pub fn script(&self) -> Command {
        let mut cmd = Command::new(script_path());
        // An MTU from the caller's shell would change what the tests expect.
        cmd.env_remove("MTU").envs(self.env());
        cmd
    }

    pub fn run(&self, arg: &str) -> Output {
        self.script()
            .arg(arg)
            .output()
            .expect("cannot run netns-setup.sh")
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // No panic here: a second panic while unwinding would abort the test binary.
        match self.script().arg("down").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "netns-setup.sh down failed for {}: {}",
                self.server_ns,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run netns-setup.sh down: {e}"),
        }
    }
}
