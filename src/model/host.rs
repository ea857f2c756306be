//! The host's facts, as data: what `copybench doctor` shows, what a sweep's
//! env.json holds, and what a measured cell carries to explain its figures
//! (the kernel, the cores, `max_skb_frags`, why a counter is empty). Gathering
//! them is the engine's (`engine::probe`); this module only holds and
//! describes them, so the report reads env.json without the engine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Whether a kernel feature can be used by this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum Availability {
    Available(String),
    /// Usable only with privileges this process may lack.
    Restricted(String),
    Unavailable(String),
    /// Could not be determined; the detail says why.
    Unknown(String),
}

/// What an env.json without this fact reads as.
impl Default for Availability {
    fn default() -> Self {
        Availability::Unknown("not recorded (an env.json from an older copybench)".into())
    }
}

impl Availability {
    /// Whether the feature can be used by this process.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available(_))
    }

    /// `available`, `restricted`, `unavailable` or `unknown`: the `state`
    /// env.json writes.
    pub fn state(&self) -> &'static str {
        self.label().0
    }

    pub fn label(&self) -> (&'static str, &str) {
        match self {
            Availability::Available(detail) => ("available", detail),
            Availability::Restricted(detail) => ("restricted", detail),
            Availability::Unavailable(detail) => ("unavailable", detail),
            Availability::Unknown(detail) => ("unknown", detail),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceState {
    pub name: String,
    pub exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterStatus {
    pub available: bool,
    /// Why it is unavailable, and what to do about it.
    pub reason: Option<String>,
    /// How it is counted when not by its own perf event (e.g. getrusage for
    /// context switches).
    pub note: Option<String>,
}

/// What [`gather`] found, as `copybench doctor --json` prints it and as
/// env.json holds it (flattened into [`SweepEnv`]).
///
/// Reading is lenient (`#[serde(default)]`): a field an older or partial
/// env.json lacks reads as `None` / [`Availability::Unknown`] / empty, never
/// as a made-up value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostFacts {
    /// Kernel release (`uname -r`).
    pub kernel: Option<String>,
    pub cpu_model: Option<String>,
    /// CPUs this process may run on (`None`: could not be read).
    pub cores: Option<usize>,
    pub perf_event_paranoid: Option<i32>,
    /// CAP_PERFMON or CAP_SYS_ADMIN in the effective set (root has both):
    /// perf_event_paranoid does not apply then.
    pub perf_capable: Option<bool>,
    pub optmem_max: Option<u64>,
    /// The congestion control new TCP sockets get
    /// (`net.ipv4.tcp_congestion_control`, of copybench's own network
    /// namespace). One that paces (`bbr`) holds a loopback sender to its
    /// estimate of the path (see `--congestion`).
    pub tcp_congestion_control: Option<String>,
    /// Most fragments (pages) one socket buffer holds; a zero-copy send whose
    /// iovecs span more is split (see `--layout`).
    pub max_skb_frags: Option<u64>,
    /// What `kernel.io_uring_disabled` (or, before 6.6, the kernel's
    /// symbols) allows.
    pub io_uring: Availability,
    /// Whether the `uring` strategy can run: a ring was really created and
    /// knows `IORING_OP_SENDMSG`; if not, why (ENOSYS, EPERM, ENOMEM...).
    pub uring: Availability,
    /// Whether `uring-zc` can run: the same ring knows `IORING_OP_SENDMSG_ZC`.
    pub uring_zc: Availability,
    /// `RLIMIT_MEMLOCK` of this process (kernels before 5.12 charge rings to it).
    pub memlock: String,
    pub so_zerocopy_tcp: Availability,
    /// Whether `--receive zerocopy` can run: a real probe, one page sent over
    /// loopback and mapped with `TCP_ZEROCOPY_RECEIVE` (its MSS, or why not).
    pub tcp_zerocopy_receive: Availability,
    pub so_zerocopy_unix: Availability,
    /// How an idle CPU waits (`/sys/devices/system/cpu/cpuidle`): on a
    /// virtual machine this sets what waking a thread on another CPU costs.
    #[serde(default)]
    pub cpuidle: CpuIdle,
    /// iproute2 version from `ip -V`; `None` when `ip` is not installed.
    pub iproute2: Option<String>,
    pub netns: Vec<NamespaceState>,
    /// Every counter name, opened or not and why.
    pub counters: BTreeMap<String, CounterStatus>,
    /// What could not be looked at, and why.
    pub gaps: Vec<String>,
}

/// How this host's idle CPUs wait for work.
///
/// A guest whose idle vCPUs halt at once (no halt polling) pays a trip
/// through the hypervisor for every wake-up of a thread on an idle CPU, and
/// the waker's CPU time carries it. Measured on a 2-vCPU guest (cpuidle
/// driver `haltpoll`, Linux 6.18): `run --workload rr --field-size 64
/// --pin` gave a p50 of 86 µs and 36.8 µs of client CPU per exchange with
/// `guest_halt_poll_ns` 0, and 12.4 µs and 8.3 µs with 200000. Sweeps pin
/// each connection's ends to CPUs of their own by default, so their rr
/// figures carry this cost for every strategy alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuIdle {
    /// `current_driver` (e.g. `intel_idle`, `acpi_idle`, `haltpoll`, `none`).
    pub driver: Option<String>,
    /// `current_governor` (e.g. `menu`, `teo`, `haltpoll`).
    pub governor: Option<String>,
    /// The guest's `haltpoll` module's `guest_halt_poll_ns`: how long an
    /// idle vCPU polls before it halts (0: it halts at once). `None` off a
    /// haltpoll guest.
    pub guest_halt_poll_ns: Option<u64>,
}

impl CpuIdle {
    /// Whether idle vCPUs of this guest halt without polling first.
    pub fn halts_at_once(&self) -> bool {
        self.guest_halt_poll_ns == Some(0)
    }

    /// One line for doctor and the report.
    pub fn describe(&self) -> String {
        let mut out = match (&self.driver, &self.governor) {
            (Some(d), Some(g)) => format!("driver {d}, governor {g}"),
            (Some(d), None) => format!("driver {d}"),
            (None, Some(g)) => format!("governor {g}"),
            (None, None) => "unknown (no /sys/devices/system/cpu/cpuidle)".to_string(),
        };
        match self.guest_halt_poll_ns {
            Some(0) => out.push_str(
                "; guest halt polling off (guest_halt_poll_ns 0): an idle vCPU halts at once, \
                 so each wake-up of a thread on another CPU goes through the hypervisor \
                 and its waker's CPU time carries it (pinned rr pays it per exchange)",
            ),
            Some(ns) => {
                let _ = write!(out, "; guest halt polling up to {ns} ns");
            }
            None => {}
        }
        out
    }
}

/// Everything a sweep's `env.json` holds: the host's facts (flattened, so
/// the keys are [`HostFacts`]'s), the run that wrote it, and, for a sweep
/// with `--connect`, the server's address and facts. The sweep writes it
/// once; the report reads it back through this type. The facts are shared
/// (`Arc`) with every cell's [`crate::CellResult`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepEnv {
    #[serde(flatten)]
    pub host: Arc<HostFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunFacts>,
    /// `--connect`'s server, as resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_addr: Option<String>,
    /// The server's host facts (its `copybench doctor --json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_host: Option<Arc<HostFacts>>,
}

/// Which copybench ran which command, when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFacts {
    /// The command line that asked for the sweep.
    pub command: Option<String>,
    /// copybench's version.
    pub version: Option<String>,
    /// Start time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_utc: Option<String>,
    /// How the sweep took its samples: `paired` (the strategies of a block
    /// side by side, round by round) or `sequential` (one cell after
    /// another). Not written when unknown; an env.json without it (an older
    /// sweep) reads as `None`, which the report takes as not paired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingScheme>,
    /// The `SO_RCVLOWAT` copying receivers kept without `--rcvlowat`
    /// (`engine::recv`). Not written when unknown; an env.json without it
    /// is an older sweep's, whose receivers kept no mark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_rcvlowat: Option<DefaultMark>,
    /// The congestion control the sweep set on its TCP sockets
    /// (`--congestion`); not written where it left them the host's default
    /// (`HostFacts::tcp_congestion_control`), as every older sweep did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion: Option<crate::model::kinds::Congestion>,
}

/// The default receive mark a sweep ran with: `bytes` (at most a quarter of
/// the receive buffer) while a copying sender has promised that many, on
/// connections whose MSS is at least `min_mss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultMark {
    pub bytes: u64,
    pub min_mss: u64,
}

impl std::fmt::Display for DefaultMark {
    /// `16 KiB on connections with an MSS of at least 32 KiB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on connections with an MSS of at least {}",
            crate::model::size::format_size(self.bytes),
            crate::model::size::format_size(self.min_mss)
        )
    }
}

/// How a sweep took the samples its strategies are compared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingScheme {
    /// A block's arms (the strategies of one transport, workload, field
    /// size, fields, layout and thread count) take one sample each per
    /// round, so sample *i* of every arm of a repetition was taken in round
    /// *i*, side by side: comparisons pair them
    /// ([`crate::model::stats::compare_paired`]).
    Paired,
    /// Each cell's samples one after another, cell after cell: comparisons
    /// take the samples as independent ([`crate::model::stats::compare`]).
    Sequential,
}

impl SweepEnv {
    /// Whether the sweep says it paired its strategies' samples round by
    /// round (`run.sampling` is `paired`); an older env.json does not.
    pub fn paired(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.sampling == Some(SamplingScheme::Paired))
    }

    /// The counter's reason for being unavailable, when env.json gives one.
    pub fn counter_reason(&self, name: &str) -> Option<&str> {
        self.host.counters.get(name)?.reason.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_reads_back_and_an_old_env_json_is_not_paired() {
        let old: SweepEnv =
            serde_json::from_str(r#"{"kernel": "6.1", "run": {"command": "copybench sweep"}}"#)
                .unwrap();
        assert_eq!(old.run.as_ref().unwrap().sampling, None);
        assert!(!old.paired());
        assert!(!SweepEnv::default().paired());
        // Not written when unknown: an old sweep's env.json shows as before.
        let text = serde_json::to_string(&old).unwrap();
        assert!(!text.contains("sampling"), "{text}");
        for (scheme, name, paired) in [
            (SamplingScheme::Paired, "paired", true),
            (SamplingScheme::Sequential, "sequential", false),
        ] {
            let env = SweepEnv {
                run: Some(RunFacts {
                    sampling: Some(scheme),
                    ..RunFacts::default()
                }),
                ..SweepEnv::default()
            };
            let value = serde_json::to_value(&env).unwrap();
            assert_eq!(value["run"]["sampling"], name);
            let back: SweepEnv = serde_json::from_value(value).unwrap();
            assert_eq!((back.paired(), back), (paired, env));
        }
    }
}
