//! What a batch measured, as typed values: the same types travel from worker
//! threads to their coordinator, and from a remote peer over the wire.
//!
//! - [`CpuTime`], [`RoleStats`] and [`CounterSample`]: one role's CPU time
//!   and counters, summed over its threads;
//! - [`ZeroCopyStats`]: the completion figures of strategies that lend their
//!   buffers to the kernel (sends, completions, copied, `ENOBUFS`, reclaim
//!   waits, fragments, completion delay), summed over connections;
//! - [`BatchReport`]: one batch (one sample) of a cell;
//! - [`Figure::of`] and [`RoleFigure::of`]: a figure of the table
//!   ([`crate::model::figures`]) read from a measured batch.
//!
//! The completion delay is timed for one send in [`DELAY_SAMPLE`], from the
//! return of its send call to the moment the sender read the notification
//! that covers it. The sender reads notifications without blocking every few
//! sends (and whenever it needs a slot back), so the figure includes up to
//! that many sends' time of reading lag: it is the delay as the sender sees
//! it, which is what bounds how soon a buffer can be reused.
//!
//! A figure that was not measured is `None`: never 0.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::figures::{Counter, Figure, RoleFigure};
use super::kinds::Role;
use super::stats::latency_serde;

/// One send in this many has its completion delay timed (two clock reads).
pub const DELAY_SAMPLE: u64 = 16;

/// What one batch of a buffer-lending strategy measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroCopyStats {
    /// Send calls that took data (`sendmsg(MSG_ZEROCOPY)` or SEND_ZC submissions).
    pub sends: u64,
    /// Sends whose completion arrived.
    pub completions: u64,
    /// Completions the kernel flagged as copied after all.
    pub copied: u64,
    /// `ENOBUFS` answers (optmem exhausted), each followed by a reap and a retry.
    pub enobufs: u64,
    /// Notifications read; each covers one or more sends.
    pub notifications: u64,
    /// The most sends in flight (sent, completion not yet read) at once.
    pub max_in_flight: u64,
    /// Times the sender had to wait for a slot's completion before reusing it.
    pub reclaim_waits: u64,
    /// Time spent in those waits, in all.
    pub reclaim_wait_ns: u64,
    /// Messages sent, and the pages (fragments) their iovecs spanned in all.
    pub messages: u64,
    pub fragments: u64,
    /// The most fragments one message needed.
    pub max_fragments: u64,
    /// Completion delay of sampled sends, ns (see the module doc).
    #[serde(with = "delay_serde")]
    pub delay_ns: Histogram<u64>,
}

impl Default for ZeroCopyStats {
    fn default() -> ZeroCopyStats {
        ZeroCopyStats {
            sends: 0,
            completions: 0,
            copied: 0,
            enobufs: 0,
            notifications: 0,
            max_in_flight: 0,
            reclaim_waits: 0,
            reclaim_wait_ns: 0,
            messages: 0,
            fragments: 0,
            max_fragments: 0,
            delay_ns: crate::model::stats::new_histogram(),
        }
    }
}

impl ZeroCopyStats {
    /// One message went out (over however many send calls), its iovecs
    /// spanning `pages` pages. The [`super::Sender`] counts these, as it is
    /// the one that knows the pool's layout.
    pub fn message(&mut self, pages: u64) {
        self.messages += 1;
        self.fragments += pages;
        self.max_fragments = self.max_fragments.max(pages);
    }

    /// Adds another connection's figures (the most in flight is the larger one's).
    pub fn add(&mut self, o: &ZeroCopyStats) {
        self.sends += o.sends;
        self.completions += o.completions;
        self.copied += o.copied;
        self.enobufs += o.enobufs;
        self.notifications += o.notifications;
        self.max_in_flight = self.max_in_flight.max(o.max_in_flight);
        self.reclaim_waits += o.reclaim_waits;
        self.reclaim_wait_ns += o.reclaim_wait_ns;
        self.messages += o.messages;
        self.fragments += o.fragments;
        self.max_fragments = self.max_fragments.max(o.max_fragments);
        self.delay_ns
            .add(&o.delay_ns)
            .expect("histograms share their bounds");
    }

    /// Share of completions the kernel copied, when there were any.
    pub fn copied_share(&self) -> Option<f64> {
        (self.completions > 0).then(|| self.copied as f64 / self.completions as f64)
    }

    /// Mean sends one notification covered, when any was read.
    pub fn sends_per_notification(&self) -> Option<f64> {
        (self.notifications > 0).then(|| self.completions as f64 / self.notifications as f64)
    }

    /// Mean pages (fragments) a message's iovecs spanned, when any was sent.
    pub fn fragments_per_send(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.fragments as f64 / self.messages as f64)
    }

    /// A completion-delay percentile in microseconds, when any send was timed.
    pub fn delay_us(&self, quantile: f64) -> Option<f64> {
        (!self.delay_ns.is_empty()).then(|| self.delay_ns.value_at_quantile(quantile) as f64 / 1e3)
    }

    pub fn reclaim_wait_ms(&self) -> f64 {
        self.reclaim_wait_ns as f64 / 1e6
    }
}

/// The delay histogram on the wire, as the latency one (`[[value, count], ...]`).
mod delay_serde {
    use hdrhistogram::Histogram;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        crate::model::stats::latency_serde::serialize(&Some(h.clone()), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        Ok(crate::model::stats::latency_serde::deserialize(d)?
            .unwrap_or_else(crate::model::stats::new_histogram))
    }
}

/// CPU time, nanoseconds: `total_ns` exact (`CLOCK_THREAD_CPUTIME_ID`), its
/// split into user and system time as the kernel samples it (`getrusage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTime {
    pub user_ns: u64,
    pub sys_ns: u64,
    pub total_ns: u64,
}

impl CpuTime {
    fn add(&mut self, o: &CpuTime) {
        self.user_ns += o.user_ns;
        self.sys_ns += o.sys_ns;
        self.total_ns += o.total_ns;
    }
}

/// What one role's threads spent on a batch, summed over the threads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleStats {
    pub cpu: CpuTime,
    pub counters: CounterSample,
}

impl RoleStats {
    pub(crate) fn add(&mut self, o: &RoleStats) {
        self.cpu.add(&o.cpu);
        self.counters.add(&o.counters);
    }
}

/// Counter values of one thread, or summed over a role's threads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterSample {
    /// A counter that is absent has not been contributed yet (the empty
    /// accumulator); present with `None` means unavailable.
    values: BTreeMap<Counter, Option<f64>>,
    running_ratio: Option<f64>,
}

impl CounterSample {
    /// The accumulator a role's sum starts from: adding a sample to it copies
    /// that sample, so `empty + Some(x) = Some(x)`.
    pub fn empty() -> CounterSample {
        CounterSample::default()
    }

    /// Every counter present and unavailable: what a thread's reading
    /// starts from before it fills in what it could count.
    pub(crate) fn all_unavailable() -> CounterSample {
        CounterSample {
            values: Counter::ALL.iter().map(|&c| (c, None)).collect(),
            running_ratio: None,
        }
    }

    /// The value of `name`; `None` when unavailable (never 0 for that).
    pub fn get(&self, name: &str) -> Option<f64> {
        Counter::from_name(name).and_then(|c| self.counter(c))
    }

    /// The value of one counter; `None` when unavailable (never 0 for that).
    pub fn counter(&self, c: Counter) -> Option<f64> {
        self.values.get(&c).copied().flatten()
    }

    /// Sets one counter; for callers that build samples by other means (and
    /// tests).
    ///
    /// # Panics
    /// If `name` is not one of [`crate::engine::counters::CounterPlan::counter_names`]: a typo would
    /// otherwise silently report the counter as unavailable.
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        let counter = Counter::from_name(name).unwrap_or_else(|| {
            panic!("unknown counter name {name:?}; see CounterPlan::counter_names()")
        });
        self.values.insert(counter, value);
    }

    /// Sums `other` into `self`, per counter: Some + Some = Some, anything +
    /// None = None (a partial sum would understate), empty + x = x.
    pub fn add(&mut self, other: &CounterSample) {
        for (&counter, &value) in &other.values {
            self.values
                .entry(counter)
                .and_modify(|sum| {
                    *sum = match (*sum, value) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    }
                })
                .or_insert(value);
        }
        if let Some(ratio) = other.running_ratio {
            self.note_ratio(ratio);
        }
    }

    pub(crate) fn note_ratio(&mut self, ratio: f64) {
        self.running_ratio = Some(self.running_ratio.map_or(ratio, |worst| worst.min(ratio)));
    }

    /// Worst time_running/time_enabled ratio seen (1.0 = not multiplexed);
    /// `None` when no perf group was read.
    pub fn multiplexed(&self) -> Option<f64> {
        self.running_ratio
    }

    /// {NAME: value or null}, every name present.
    pub fn to_json(&self) -> serde_json::Value {
        Counter::ALL
            .iter()
            .map(|c| (c.name().to_string(), self.counter(*c).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// What a mapping receiver (`--receive zerocopy`) did in one batch, summed
/// over its connections' receiving ends (stream: the servers; rr: both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxStats {
    /// Bytes the kernel mapped into the receiver's window (`TCP_ZEROCOPY_RECEIVE`).
    pub mapped_bytes: u64,
    /// Bytes the kernel could not map, read with `recv` (copied).
    pub copied_bytes: u64,
    /// Receive-side calls: `getsockopt(TCP_ZEROCOPY_RECEIVE)`, `recv` (of
    /// skip hints, and the `MSG_PEEK` wait), `madvise(MADV_DONTNEED)` of
    /// checked pages and `setsockopt(SO_RCVLOWAT)`.
    pub calls: u64,
    /// `TCP_ZEROCOPY_RECEIVE` answers with a nonzero `recv_skip_hint`.
    pub skip_hints: u64,
}

impl RxStats {
    pub fn add(&mut self, o: &RxStats) {
        self.mapped_bytes += o.mapped_bytes;
        self.copied_bytes += o.copied_bytes;
        self.calls += o.calls;
        self.skip_hints += o.skip_hints;
    }

    /// Bytes received, mapped or copied.
    pub fn bytes(&self) -> u64 {
        self.mapped_bytes + self.copied_bytes
    }

    pub fn mapped_share(&self) -> Option<f64> {
        (self.bytes() > 0).then(|| self.mapped_bytes as f64 / self.bytes() as f64)
    }

    pub fn calls_per_mib(&self) -> Option<f64> {
        (self.bytes() > 0).then(|| self.calls as f64 / (self.bytes() as f64 / (1 << 20) as f64))
    }
}

/// What one batch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Wall time from the start command to the end of the batch's traffic
    /// on its last thread: a client's last send (rr: its last reply), a
    /// server's check of the last message. Waiting for the last zero-copy
    /// completions comes after and is not included.
    pub seconds: f64,
    /// Messages verified: stream, by the servers; rr, exchanges completed.
    pub messages: u64,
    /// Bytes verified by the receivers (rr: requests and replies).
    pub bytes: u64,
    /// Round-trip times in nanoseconds (rr only).
    #[serde(with = "latency_serde")]
    pub latency_ns: Option<Histogram<u64>>,
    pub client: RoleStats,
    pub server: RoleStats,
    /// Both roles' zero-copy bookkeeping for this batch (zero-copy and uring-zc only).
    pub zerocopy: Option<ZeroCopyStats>,
    /// The mapping receivers' bookkeeping (`--receive zerocopy` only).
    #[serde(default)]
    pub rx: Option<RxStats>,
}

impl BatchReport {
    /// One role's stats.
    pub fn role(&self, role: Role) -> &RoleStats {
        match role {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }

    pub fn throughput_gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds / 1e9
    }

    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.seconds
    }

    /// A latency percentile in microseconds (rr only).
    pub fn latency_us(&self, quantile: f64) -> Option<f64> {
        self.latency_ns
            .as_ref()
            .map(|h| h.value_at_quantile(quantile) as f64 / 1e3)
    }

    pub fn latency_max_us(&self) -> Option<f64> {
        self.latency_ns.as_ref().map(|h| h.max() as f64 / 1e3)
    }

    /// Adds `other` (a later batch over the same connections) to this one:
    /// times, counts, CPU, counters and latencies summed or merged.
    pub fn merge(&mut self, other: &BatchReport) {
        self.seconds += other.seconds;
        self.messages += other.messages;
        self.bytes += other.bytes;
        if let (Some(all), Some(h)) = (self.latency_ns.as_mut(), other.latency_ns.as_ref()) {
            all.add(h).expect("histograms share their bounds");
        }
        self.client.add(&other.client);
        self.server.add(&other.server);
        if let Some(z) = &other.zerocopy {
            self.zerocopy
                .get_or_insert_with(ZeroCopyStats::default)
                .add(z);
        }
        if let Some(x) = &other.rx {
            self.rx.get_or_insert_with(RxStats::default).add(x);
        }
    }
}

impl RoleFigure {
    /// The value of this figure for one role's summed stats, over a batch
    /// that moved `messages` and `bytes`; `None` when not measured or when it
    /// would divide by zero.
    pub fn of(self, s: &RoleStats, messages: u64, bytes: u64) -> Option<f64> {
        let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(num), Some(den)) if den != 0.0 => Some(num / den),
            _ => None,
        };
        let c = |c: Counter| s.counters.counter(c);
        let cpu_ns = Some(s.cpu.total_ns as f64);
        let (messages, bytes) = (Some(messages as f64), Some(bytes as f64));
        match self {
            RoleFigure::UserNs => Some(s.cpu.user_ns as f64),
            RoleFigure::SysNs => Some(s.cpu.sys_ns as f64),
            RoleFigure::CpuNsPerByte => ratio(cpu_ns, bytes),
            RoleFigure::CpuNsPerMsg => ratio(cpu_ns, messages),
            RoleFigure::Counter(k) => c(k),
            RoleFigure::Ipc => ratio(c(Counter::Instructions), c(Counter::Cycles)),
            RoleFigure::CacheMissRate => {
                ratio(c(Counter::CacheMisses), c(Counter::CacheReferences))
            }
            RoleFigure::CyclesPerByte => ratio(c(Counter::Cycles), bytes),
            RoleFigure::CyclesPerMsg => ratio(c(Counter::Cycles), messages),
        }
    }
}

impl Figure {
    /// The value of this figure in one measured batch; `None` when it was not
    /// measured (or would divide by zero).
    pub fn of(self, r: &BatchReport) -> Option<f64> {
        let zc = r.zerocopy.as_ref();
        match self {
            Figure::ElapsedS => Some(r.seconds),
            Figure::Messages => Some(r.messages as f64),
            Figure::Bytes => Some(r.bytes as f64),
            Figure::ThroughputGbps => Some(r.throughput_gbps()),
            Figure::MessagesPerSec => Some(r.messages_per_sec()),
            Figure::LatencyP50Us => r.latency_us(0.5),
            Figure::LatencyP99Us => r.latency_us(0.99),
            Figure::LatencyP999Us => r.latency_us(0.999),
            Figure::LatencyMaxUs => r.latency_max_us(),
            Figure::ContextSwitchesPerMsg => {
                let c = r.client.counters.counter(Counter::ContextSwitches)?;
                let s = r.server.counters.counter(Counter::ContextSwitches)?;
                (r.messages > 0).then(|| (c + s) / r.messages as f64)
            }
            Figure::Role(role, f) => f.of(r.role(role), r.messages, r.bytes),
            Figure::RxMappedBytes => r.rx.map(|x| x.mapped_bytes as f64),
            Figure::RxCopiedBytes => r.rx.map(|x| x.copied_bytes as f64),
            Figure::RxMappedShare => r.rx.and_then(|x| x.mapped_share()),
            Figure::RxCallsPerMib => r.rx.and_then(|x| x.calls_per_mib()),
            Figure::RxSkipHints => r.rx.map(|x| x.skip_hints as f64),
            Figure::ZcSends => zc.map(|z| z.sends as f64),
            Figure::ZcCompletions => zc.map(|z| z.completions as f64),
            Figure::ZcCopied => zc.map(|z| z.copied as f64),
            Figure::ZcEnobufs => zc.map(|z| z.enobufs as f64),
            Figure::ZcCopiedShare => zc.and_then(|z| z.copied_share()),
            Figure::ZcNotifications => zc.map(|z| z.notifications as f64),
            Figure::ZcSendsPerNotification => zc.and_then(|z| z.sends_per_notification()),
            Figure::ZcMaxInFlight => zc.map(|z| z.max_in_flight as f64),
            Figure::ZcReclaimWaits => zc.map(|z| z.reclaim_waits as f64),
            Figure::ZcReclaimWaitMs => zc.map(|z| z.reclaim_wait_ms()),
            Figure::ZcFragmentsPerSend => zc.and_then(|z| z.fragments_per_send()),
            Figure::ZcMaxFragments => zc.map(|z| z.max_fragments as f64),
            Figure::ZcDelayP50Us => zc.and_then(|z| z.delay_us(0.5)),
            Figure::ZcDelayP99Us => zc.and_then(|z| z.delay_us(0.99)),
            Figure::ZcTimedSends => zc.map(|z| z.delay_ns.len() as f64),
        }
    }
}

/// One role's counters and the figures derived from them, by name (the
/// `counters.client` / `counters.server` objects of `run --json`): every
/// role figure but the CPU times, which `cpu` shows.
pub fn role_figures(r: &BatchReport, role: Role) -> Vec<(RoleFigure, Option<f64>)> {
    RoleFigure::all()
        .into_iter()
        .filter(|f| matches!(f, RoleFigure::Counter(_)) || !f.is_total())
        .map(|f| (f, Figure::Role(role, f).of(r)))
        .collect()
}
