//! A cell's configuration and its validation: what one experiment runs, and
//! the limits the CLI documents (each error names its flag).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::error::{Error, Result};
use crate::engine::message::{Shape, Verify};
use crate::engine::strategy::Refill;
use crate::engine::transport::Transport;
use crate::model::kinds::Layout;
use crate::model::kinds::ReceiveKind;
use crate::model::kinds::StrategyKind;
use crate::model::kinds::TransportKind;
use crate::model::kinds::WorkloadKind;

/// Longest `--duration`, `--warmup`, `--timeout` and `--cell-limit`: a day.
pub const MAX_SECONDS: f64 = 86_400.0;
/// Shortest measured `--duration`: one millisecond.
pub const MIN_DURATION: f64 = 0.001;
/// Shortest `--timeout`. Below it, starting the worker threads of a loaded
/// host races the timeout, and a zero-copy sender waits ~40 ms for a delayed
/// ACK to release its last send.
pub const MIN_TIMEOUT: f64 = 0.1;
/// Largest `--pool`: beyond it filling the pool alone takes seconds.
pub const MAX_POOL: usize = 1 << 16;
/// TCP_MAXSEG's range on Linux (`--maxseg`): TCP_MIN_MSS to MAX_TCP_WINDOW.
pub const MIN_MAXSEG: u32 = 88;
pub const MAX_MAXSEG: u32 = 65_535;
/// A number as a person reads it: `0.25`, `86400`, or `1e300` rather than
/// three hundred digits.
pub fn show_number(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && (a == 0.0 || (1e-4..1e9).contains(&a)) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Checks a seconds flag against `min..=MAX_SECONDS` (`min` itself allowed
/// only when `min` is 0) and turns it into a [`Duration`].
pub fn seconds(flag: &str, v: f64, min: f64) -> Result<Duration> {
    if v.is_finite() && v >= min && v <= MAX_SECONDS {
        return Ok(Duration::from_secs_f64(v));
    }
    Err(Error::usage(format!(
        "{flag} {}: must be {} to {} seconds",
        show_number(v),
        show_number(min),
        show_number(MAX_SECONDS)
    )))
}

/// Smallest and largest `--threads`.
pub const MAX_THREADS: usize = 1024;

/// Test-only faults, injected to check that failures end a run cleanly.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Server threads close their connection after verifying this many messages.
    ServerClosesAfter(u64),
    /// Client threads flip a bit in the last byte of the message with this
    /// sequence number before sending it.
    ClientDamages(u64),
    /// Client threads flip a bit in the middle of the first field of this
    /// pool slot before the first send.
    ClientDamagesSlot(usize),
    /// Server threads pause for [`STALL`] before reading every n-th message,
    /// so the client's data waits in its socket, still unsent, when
    /// `sendmsg` returns: the window in which an early buffer rewrite shows.
    ServerStalls(u64),
}

/// How long a [`Fault::ServerStalls`] pause lasts.
pub const STALL: std::time::Duration = std::time::Duration::from_millis(2);

/// Everything one experiment needs; every field is echoed beside its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub strategy: StrategyKind,
    pub transport: Transport,
    pub workload: WorkloadKind,
    pub shape: Shape,
    /// Where each message's buffers lie in memory.
    pub layout: Layout,
    pub threads: usize,
    pub verify: Verify,
    /// Messages each sender keeps in its pool; see [`Config::pool_slots`].
    pub pool_slots: Option<usize>,
    /// Test-only: rewrite a pool slot's fields each time round the pool.
    pub refill: Refill,
    /// Open perf counters in each worker thread.
    pub counters: bool,
    /// How receivers take messages off the socket (`--receive`).
    #[serde(default)]
    pub receive: ReceiveKind,
    /// `SO_RCVLOWAT` of every receiving socket (`--rcvlowat`); kernel default (1) when `None`.
    #[serde(default)]
    pub rcvlowat: Option<usize>,
    /// CPUs to pin the worker threads to (`--pin`, `--client-cpus`,
    /// `--server-cpus`); unpinned when `None`.
    #[serde(default)]
    pub pin: Option<Pin>,
    #[doc(hidden)]
    pub fault: Option<Fault>,
    /// A server worker that has received nothing for this long between
    /// batches gives up (`copybench serve`, whose client may vanish); `None`
    /// waits for as long as the connection stays open.
    pub idle_limit: Option<Duration>,
}

/// Where worker threads run: connection `i`'s client thread on
/// `client[i % len]`, its server thread on `server[i % len]` (as iperf3 `-A`
/// and netperf `-T` pin each end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub client: Vec<usize>,
    pub server: Vec<usize>,
}

impl Pin {
    /// `--pin`: the CPUs this process may use, alternated between the ends
    /// of each connection so a client and its server never share one (with
    /// two or more CPUs): client 0, server 1, client 2, server 3, …
    pub fn spread(cpus: &[usize]) -> Pin {
        if cpus.len() < 2 {
            return Pin {
                client: cpus.to_vec(),
                server: cpus.to_vec(),
            };
        }
        Pin {
            client: cpus.iter().copied().step_by(2).collect(),
            server: cpus.iter().copied().skip(1).step_by(2).collect(),
        }
    }

    /// The CPU of one worker thread.
    pub fn cpu(&self, role: crate::model::kinds::Role, conn: usize) -> usize {
        let list = match role {
            crate::model::kinds::Role::Client => &self.client,
            crate::model::kinds::Role::Server => &self.server,
        };
        list[conn % list.len()]
    }

    /// `0,2` — a CPU list as the flags take it.
    pub fn list(cpus: &[usize]) -> String {
        cpus.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The CPUs this process may run on (its affinity mask), ascending.
pub fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let Ok(set) = sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_thread(cpu: usize) -> std::io::Result<()> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu).map_err(std::io::Error::from)?;
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(std::io::Error::from)
}

/// Bytes of messages a sender aims to keep in its pool by default.
pub const POOL_TARGET_BYTES: usize = 4 << 20;

impl Config {
    pub fn new(
        strategy: StrategyKind,
        transport: TransportKind,
        workload: WorkloadKind,
        shape: Shape,
    ) -> Config {
        let mut transport = Transport::new(transport);
        transport.nodelay = workload == WorkloadKind::Rr;
        Config {
            strategy,
            transport,
            workload,
            shape,
            layout: Layout::Heap,
            threads: 1,
            verify: Verify::Sampled,
            pool_slots: None,
            refill: Refill::Never,
            counters: true,
            receive: ReceiveKind::Copy,
            rcvlowat: None,
            pin: None,
            fault: None,
            idle_limit: None,
        }
    }

    /// Pool slots per sender: enough messages to cover [`POOL_TARGET_BYTES`]
    /// (what a zero-copy sender may have in flight), between 2 and 64.
    pub fn pool_slots(&self) -> usize {
        self.pool_slots
            .unwrap_or_else(|| (POOL_TARGET_BYTES / self.shape.message_bytes()).clamp(2, 64))
    }

    /// Whether this cell's receivers keep copybench's default `SO_RCVLOWAT`
    /// (`engine::recv`, `default_mark`) while their sender promises more:
    /// no `--rcvlowat`, the copying receiver, TCP (AF_UNIX's `poll` ignores
    /// marks). The connection's MSS decides the rest when it is up.
    pub fn keeps_default_mark(&self) -> bool {
        self.rcvlowat.is_none()
            && self.receive == ReceiveKind::Copy
            && self.transport.kind != TransportKind::Unix
    }

    /// Checks the limits the CLI documents; each error names its flag.
    pub fn validate(&self) -> Result<()> {
        use crate::engine::message::{MAX_FIELDS, MAX_FIELD_SIZE, MAX_MESSAGE_BYTES};
        let s = self.shape;
        if !(1..=MAX_FIELD_SIZE).contains(&s.field_size) {
            return Err(Error::usage(format!(
                "--field-size {}: must be 1 B to 64 MiB ({MAX_FIELD_SIZE} B)",
                s.field_size
            )));
        }
        if !(1..=MAX_FIELDS).contains(&s.fields) {
            return Err(Error::usage(format!(
                "--fields {}: must be 1 to {MAX_FIELDS} (with the header, one sendmsg carries at most IOV_MAX = 1024 pieces)",
                s.fields
            )));
        }
        if s.message_bytes() > MAX_MESSAGE_BYTES {
            return Err(Error::usage(format!(
                "--fields {} x --field-size {} = {} B: a message may be at most 1 GiB",
                s.fields,
                s.field_size,
                s.message_bytes()
            )));
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return Err(Error::usage(format!(
                "--threads {}: must be 1 to {MAX_THREADS}",
                self.threads
            )));
        }
        if let Some(n) = self.pool_slots.filter(|n| !(1..=MAX_POOL).contains(n)) {
            return Err(Error::usage(format!(
                "--pool {n}: must be 1 to {}",
                MAX_POOL
            )));
        }
        if !self.strategy.supports(self.transport.kind) {
            return Err(Error::usage(format!(
                "--strategy {} cannot run over --transport {}: AF_UNIX sockets take no zero-copy sends (no SO_ZEROCOPY, and IORING_OP_SENDMSG_ZC answers EOPNOTSUPP); use loopback or veth",
                self.strategy, self.transport.kind
            )));
        }
        if !self.receive.supports(self.transport.kind) {
            return Err(Error::usage(format!(
                "--receive {} cannot run over --transport {}: TCP_ZEROCOPY_RECEIVE maps the pages of a TCP receive queue, and an AF_UNIX socket has none to map (it cannot be mmap()ed); use loopback or veth",
                self.receive, self.transport.kind
            )));
        }
        if let Some(m) = self.transport.maxseg {
            if !(MIN_MAXSEG..=MAX_MAXSEG).contains(&m) {
                return Err(Error::usage(format!(
                    "--maxseg {m}: must be {MIN_MAXSEG} to {MAX_MAXSEG} bytes (TCP_MAXSEG's range)"
                )));
            }
        }
        if let Some(n) = self.rcvlowat {
            if !(1..=i32::MAX as usize).contains(&n) {
                return Err(Error::usage(format!(
                    "--rcvlowat {n}: must be 1 B to {} B",
                    i32::MAX
                )));
            }
        }
        if self.receive == ReceiveKind::Zerocopy {
            if let Err(why) = crate::engine::recv::map_support() {
                return Err(Error::Unsupported(format!(
                    "--receive zerocopy cannot run on this host: {why}"
                )));
            }
        }
        if let Err(why) = self.strategy.host_support() {
            return Err(Error::Unsupported(format!(
                "--strategy {} cannot run on this host: {why}",
                self.strategy
            )));
        }
        seconds(
            "--timeout",
            self.transport.timeout.as_secs_f64(),
            MIN_TIMEOUT,
        )?;
        if let Some(pin) = &self.pin {
            let allowed = allowed_cpus();
            for (flag, list) in [
                ("--client-cpus", &pin.client),
                ("--server-cpus", &pin.server),
            ] {
                if list.is_empty() {
                    return Err(Error::usage(format!("{flag}: give at least one CPU")));
                }
                if let Some(bad) = list.iter().find(|c| !allowed.contains(c)) {
                    return Err(Error::usage(format!(
                        "{flag} {}: CPU {bad} is not one this process may use ({})",
                        Pin::list(list),
                        Pin::list(&allowed)
                    )));
                }
            }
        }
        Ok(())
    }
}
