//! Per-thread perf-event counters, with a software fallback and the reason for
//! every counter this host cannot provide.
//!
//! # Contract
//!
//! - [`CounterPlan::probe`] runs once per process (the first caller pays, the
//!   result is cached): it opens every event once on the calling thread, inside
//!   a throw-away group built exactly like a worker's, closes it again, and
//!   remembers which events open and, for the others, why not. `copybench
//!   doctor`, the `unavailable` section of `run --json` and the criterion
//!   measurement all read the same plan, so they never disagree.
//! - Each worker thread calls [`ThreadCounters::open`] for itself (pid 0 = the
//!   calling thread, any CPU, not inherited) before its measured part, then
//!   [`ThreadCounters::start`] right before it (reset + enable) and
//!   [`ThreadCounters::stop`] right after (disable + read). Set-up, connecting
//!   and tear-down are not counted. `open` never fails: what cannot be opened
//!   stays unavailable.
//! - A role's samples (all client threads, all server threads) are summed with
//!   [`CounterSample::add`], starting from [`CounterSample::empty`].
//!
//! # What is counted
//!
//! - Hardware: cycles, instructions, cache references and misses, each as a
//!   `_user` event (kernel excluded) and a `_kernel` event (user excluded); the
//!   plain name is their sum. The user events form one group and the kernel
//!   events another: four events fit a PMU next to the NMI watchdog, while eight
//!   in one group might never be scheduled at all. Ratios taken within one group
//!   (IPC, miss rate per side) cover exactly the same time. If this PMU cannot
//!   split user from kernel, the plain name falls back to one event counting
//!   both.
//! - Software: context switches, CPU migrations, page faults and task clock, in
//!   their own group with the kernel included: a context switch happens in the
//!   kernel, so with the kernel excluded it would read 0.
//! - A multiplexed group is scaled by time_enabled / time_running, and
//!   [`CounterSample::multiplexed`] reports the worst running ratio. A group
//!   that was enabled but never scheduled yields `None`, not 0.
//! - Without perf access, context switches come from getrusage(RUSAGE_THREAD)
//!   `ru_nvcsw + ru_nivcsw` and page faults from `ru_minflt + ru_majflt`. CPU
//!   migrations and task clock then stay unavailable (callers measure CPU time
//!   with getrusage themselves).
//! - Not counted: work the kernel does for the socket outside the worker
//!   thread's context (ksoftirqd, interrupts handled on another CPU), and other
//!   threads of the process.
//!
//! perf-event2 (the maintained fork of perf-event) is used rather than
//! perf-event 0.4.9 because its `GroupData::get` returns an `Option`, so a group
//! whose member failed to open or is missing from a read degrades to an
//! unavailable counter instead of the panic perf-event 0.4.9's group indexing
//! causes.

use std::collections::BTreeMap;
use std::io;
use std::sync::OnceLock;

use nix::sys::resource::{getrusage, Usage, UsageWho};
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Counter, Group};
use serde::Serialize;

/// Every counter name, in report order.
const NAMES: &[&str] = &[
    "cycles",
    "cycles_user",
    "cycles_kernel",
    "instructions",
    "instructions_user",
    "instructions_kernel",
    "cache_references",
    "cache_references_user",
    "cache_references_kernel",
    "cache_misses",
    "cache_misses_user",
    "cache_misses_kernel",
    "context_switches",
    "cpu_migrations",
    "page_faults",
    "task_clock_ns",
];

/// Names of the figures [`derived`] produces, in report order.
pub const DERIVED_NAMES: &[&str] = &[
    "ipc",
    "cache_miss_rate",
    "cycles_per_byte",
    "cycles_per_msg",
    "cpu_ns_per_byte",
    "cpu_ns_per_msg",
];

struct HwEvent {
    plain: &'static str,
    user: &'static str,
    kernel: &'static str,
    event: Hardware,
}

const HARDWARE: [HwEvent; 4] = [
    HwEvent {
        plain: "cycles",
        user: "cycles_user",
        kernel: "cycles_kernel",
        event: Hardware::CPU_CYCLES,
    },
    HwEvent {
        plain: "instructions",
        user: "instructions_user",
        kernel: "instructions_kernel",
        event: Hardware::INSTRUCTIONS,
    },
    HwEvent {
        plain: "cache_references",
        user: "cache_references_user",
        kernel: "cache_references_kernel",
        event: Hardware::CACHE_REFERENCES,
    },
    HwEvent {
        plain: "cache_misses",
        user: "cache_misses_user",
        kernel: "cache_misses_kernel",
        event: Hardware::CACHE_MISSES,
    },
];

const SOFTWARE: [(&str, Software); 4] = [
    ("context_switches", Software::CONTEXT_SWITCHES),
    ("cpu_migrations", Software::CPU_MIGRATIONS),
    ("page_faults", Software::PAGE_FAULTS),
    ("task_clock_ns", Software::TASK_CLOCK),
];

/// Which privilege levels one perf event counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    User,
    Kernel,
    Both,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Hw(Hardware),
    Sw(Software),
}

/// One perf event to open.
#[derive(Clone, Copy, Debug)]
struct Spec {
    name: &'static str,
    event: Event,
    side: Side,
}

impl Spec {
    /// Events are grouped by (hardware?, side): see the module docs for why
    /// user and kernel hardware events are not in one group.
    fn group_key(&self) -> (bool, Side) {
        (matches!(self.event, Event::Hw(_)), self.side)
    }

    fn builder(&self) -> Builder<'static> {
        let mut builder = match self.event {
            Event::Hw(hw) => Builder::new(hw),
            Event::Sw(sw) => Builder::new(sw),
        };
        // The builder's defaults already are "calling thread, any CPU, not
        // inherited"; spelled out because the per-thread sums rely on them.
        builder.observe_self().any_cpu().inherit(false);
        // perf-event2 excludes the kernel by default; every event here says
        // explicitly what it counts.
        builder
            .exclude_user(self.side == Side::Kernel)
            .exclude_kernel(self.side == Side::User);
        builder
    }

    /// Whether opening it needs the right to observe the kernel.
    fn kernel_side(&self) -> bool {
        self.side != Side::User
    }
}

/// How one counter name gets its value.
#[derive(Clone, Debug)]
enum Status {
    Perf,
    Sum {
        user: &'static str,
        kernel: &'static str,
    },
    Rusage {
        note: String,
    },
    Unavailable {
        reason: String,
    },
}

/// Which events this host can count, probed once per process (cache in a
/// OnceLock). Each event: opened on the calling thread once to test, then
/// closed.
#[derive(Debug)]
pub struct CounterPlan {
    status: BTreeMap<&'static str, Status>,
    /// The perf events a worker opens, in group order.
    events: Vec<Spec>,
    paranoid: Option<i32>,
}

impl CounterPlan {
    /// The plan for this process, probed on first use.
    pub fn probe() -> &'static CounterPlan {
        static PLAN: OnceLock<CounterPlan> = OnceLock::new();
        PLAN.get_or_init(|| {
            let paranoid = perf_event_paranoid();
            CounterPlan::build(paranoid, |spec| {
                probe_open(spec).map_err(|err| reason_for(&err, paranoid, spec.kernel_side()))
            })
        })
    }

    /// Builds a plan from `try_open`, which says whether one event opens (and
    /// if not, why).
    fn build(
        paranoid: Option<i32>,
        mut try_open: impl FnMut(&Spec) -> Result<(), String>,
    ) -> CounterPlan {
        let mut status = BTreeMap::new();
        let mut events = Vec::new();
        let mut try_spec =
            |spec: Spec, status: &mut BTreeMap<&'static str, Status>| match try_open(&spec) {
                Ok(()) => {
                    status.insert(spec.name, Status::Perf);
                    events.push(spec);
                    Ok(())
                }
                Err(reason) => {
                    let unavailable = Status::Unavailable {
                        reason: reason.clone(),
                    };
                    status.insert(spec.name, unavailable);
                    Err(reason)
                }
            };

        for hw in &HARDWARE {
            let user = Spec {
                name: hw.user,
                event: Event::Hw(hw.event),
                side: Side::User,
            };
            let kernel = Spec {
                name: hw.kernel,
                event: Event::Hw(hw.event),
                side: Side::Kernel,
            };
            let user = try_spec(user, &mut status);
            let kernel = try_spec(kernel, &mut status);
            if user.is_ok() && kernel.is_ok() {
                status.insert(
                    hw.plain,
                    Status::Sum {
                        user: hw.user,
                        kernel: hw.kernel,
                    },
                );
                continue;
            }
            // The split failed (no PMU, no kernel access, or a PMU that cannot
            // exclude a side): one event counting both may still open.
            let both = Spec {
                name: hw.plain,
                event: Event::Hw(hw.event),
                side: Side::Both,
            };
            if let (Err(_), Err(reason)) = (try_spec(both, &mut status), user) {
                // When even the user side fails, that is the root cause
                // (typically no PMU): granting the kernel access the combined
                // event also asks for would not help.
                status.insert(hw.plain, Status::Unavailable { reason });
            }
        }

        for (name, sw) in SOFTWARE {
            let spec = Spec {
                name,
                event: Event::Sw(sw),
                side: Side::Both,
            };
            let Err(reason) = try_spec(spec, &mut status) else {
                continue;
            };
            let fallback = match name {
                "context_switches" => Some("getrusage(RUSAGE_THREAD) ru_nvcsw + ru_nivcsw"),
                "page_faults" => Some("getrusage(RUSAGE_THREAD) ru_minflt + ru_majflt"),
                _ => None,
            };
            if let Some(source) = fallback {
                let note = format!("from {source}; perf cannot open it: {reason}");
                status.insert(name, Status::Rusage { note });
            }
        }

        CounterPlan {
            status,
            events,
            paranoid,
        }
    }

    fn status(&self, name: &str) -> Option<&Status> {
        self.status.get(name)
    }

    /// Whether `name` gets a value on this host (from perf or the getrusage
    /// fallback).
    pub fn available(&self, name: &str) -> bool {
        !matches!(self.status(name), None | Some(Status::Unavailable { .. }))
    }

    /// NAME -> reason for every counter that cannot be opened, e.g. "not
    /// supported by this host's PMU (ENOENT): ...", "perf_event_paranoid = 2
    /// forbids counting the kernel without CAP_PERFMON (EACCES): ...".
    pub fn unavailable(&self) -> BTreeMap<String, String> {
        self.status
            .iter()
            .filter_map(|(name, status)| match status {
                Status::Unavailable { reason } => Some((name.to_string(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// NAME -> note for every counter that is counted some other way than by
    /// its own perf event (getrusage fallback, or a single event counting user
    /// and kernel together); reports show it next to the value.
    pub fn notes(&self) -> BTreeMap<String, String> {
        let mut notes: BTreeMap<String, String> = self
            .status
            .iter()
            .filter_map(|(name, status)| match status {
                Status::Rusage { note } => Some((name.to_string(), note.clone())),
                _ => None,
            })
            .collect();
        for hw in &HARDWARE {
            if matches!(self.status(hw.plain), Some(Status::Perf)) {
                notes.insert(
                    hw.plain.to_string(),
                    format!(
                        "one event counting user and kernel together: {} / {} cannot be split here",
                        hw.user, hw.kernel
                    ),
                );
            }
        }
        notes
    }

    /// The names below, in order.
    pub fn counter_names() -> &'static [&'static str] {
        NAMES
    }
}

/// Opens `spec` the way a worker would (inside a group, on this thread) and
/// closes it again.
fn probe_open(spec: &Spec) -> io::Result<()> {
    let mut group = new_group()?;
    spec.builder().build_with_group(&mut group)?;
    Ok(())
}

fn new_group() -> io::Result<Group> {
    let mut builder = Group::builder();
    builder.observe_self().any_cpu();
    builder.build_group()
}

/// Reads `kernel.perf_event_paranoid`; `None` when unreadable (no perf in
/// this kernel, or /proc not mounted).
pub fn perf_event_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|text| parse_paranoid(&text))
}

/// Parses the contents of /proc/sys/kernel/perf_event_paranoid.
pub fn parse_paranoid(text: &str) -> Option<i32> {
    text.trim().parse().ok()
}

/// Maps a perf_event_open error to a reason that says what to do next, shaped
/// "what is wrong (ERRNO): what to do" so reports can show either part.
/// `kernel_side`: whether the event counts kernel work (the part
/// perf_event_paranoid >= 2 forbids).
pub fn reason_for(err: &io::Error, paranoid: Option<i32>, kernel_side: bool) -> String {
    let setting = match paranoid {
        Some(level) => format!("perf_event_paranoid = {level}"),
        None => "perf_event_paranoid (unreadable)".to_string(),
    };
    match err.raw_os_error() {
        Some(libc::ENOENT) => "not supported by this host's PMU (ENOENT): virtual machines often expose none; run on bare metal or enable the guest's virtual PMU".to_string(),
        Some(libc::EOPNOTSUPP) => "this host's PMU lacks the event or cannot separate user from kernel (EOPNOTSUPP): virtual PMUs often can't; run on bare metal".to_string(),
        Some(libc::EINVAL) => "this CPU or its virtual PMU does not know the event or cannot exclude user or kernel (EINVAL): run on bare metal or a CPU that has it".to_string(),
        Some(libc::ENODEV) => "no PMU on this host provides this event type (ENODEV): run on bare metal or enable the guest's virtual PMU".to_string(),
        Some(libc::EACCES) => match paranoid {
            Some(level) if level >= 3 => format!(
                "{setting} forbids every perf event without CAP_PERFMON (EACCES): run as root or `sysctl kernel.perf_event_paranoid=1`"
            ),
            Some(level) if level >= 2 && kernel_side => format!(
                "{setting} forbids counting the kernel without CAP_PERFMON (EACCES): run as root or `sysctl kernel.perf_event_paranoid=1`"
            ),
            None => format!(
                "refused (EACCES) and {setting}: run as root or `sysctl kernel.perf_event_paranoid=1`"
            ),
            Some(_) => format!(
                "refused (EACCES) although {setting} allows it: a security module (SELinux, kernel lockdown) forbids perf; see `dmesg`"
            ),
        },
        Some(libc::EPERM) => "perf_event_open is not permitted (EPERM): a seccomp filter (containers block it by default) or a missing capability; run as root outside the filter, e.g. `docker run --cap-add PERFMON --security-opt seccomp=unconfined`".to_string(),
        Some(libc::ENOSYS) => "this kernel has no perf events (ENOSYS): use a kernel built with CONFIG_PERF_EVENTS".to_string(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => "out of file descriptors (EMFILE): raise `ulimit -n`".to_string(),
        Some(libc::EBUSY) => "another tool holds the PMU exclusively (EBUSY): stop the other profiler".to_string(),
        _ => format!("perf_event_open failed: {err} ({setting})"),
    }
}

/// Scales a group member's raw count for multiplexing. `None` when the group
/// was enabled but never got onto the PMU: the count is unknown, not zero.
pub fn scale(count: u64, time_enabled_ns: u64, time_running_ns: u64) -> Option<f64> {
    if time_running_ns == 0 {
        return (time_enabled_ns == 0).then_some(count as f64);
    }
    Some(count as f64 * time_enabled_ns as f64 / time_running_ns as f64)
}

/// time_running / time_enabled; 1.0 = the group counted all the time it was
/// enabled.
pub fn running_ratio(time_enabled_ns: u64, time_running_ns: u64) -> f64 {
    if time_enabled_ns == 0 {
        1.0
    } else {
        time_running_ns as f64 / time_enabled_ns as f64
    }
}

struct OpenGroup {
    group: Group,
    members: Vec<(&'static str, Counter)>,
}

/// Opened by a worker thread for itself (pid 0 = calling thread, any cpu), not inherited.
pub struct ThreadCounters {
    groups: Vec<OpenGroup>,
    /// plain name, user part, kernel part.
    sums: Vec<(&'static str, &'static str, &'static str)>,
    /// Counters this thread takes from getrusage because perf could not open them.
    from_rusage: Vec<&'static str>,
    failed: BTreeMap<&'static str, String>,
    rusage_at_start: Option<Usage>,
}

impl ThreadCounters {
    /// Opens the plan's events for the calling thread, disabled. Never fails:
    /// an event that does not open here is left out of its group (and never
    /// read), with its reason in [`ThreadCounters::failed`].
    pub fn open(plan: &CounterPlan) -> ThreadCounters {
        let mut groups: Vec<OpenGroup> = Vec::new();
        let mut failed = BTreeMap::new();
        let mut keys: Vec<(bool, Side)> = Vec::new();
        for spec in &plan.events {
            if !keys.contains(&spec.group_key()) {
                keys.push(spec.group_key());
            }
        }
        for key in keys {
            let specs = plan.events.iter().filter(|spec| spec.group_key() == key);
            let mut group = match new_group() {
                Ok(group) => group,
                Err(err) => {
                    for spec in specs {
                        failed.insert(spec.name, reason_for(&err, plan.paranoid, false));
                    }
                    continue;
                }
            };
            let mut members = Vec::new();
            for spec in specs {
                match spec.builder().build_with_group(&mut group) {
                    Ok(counter) => members.push((spec.name, counter)),
                    Err(err) => {
                        failed.insert(
                            spec.name,
                            reason_for(&err, plan.paranoid, spec.kernel_side()),
                        );
                    }
                }
            }
            if !members.is_empty() {
                groups.push(OpenGroup { group, members });
            }
        }

        let sums = plan
            .status
            .iter()
            .filter_map(|(name, status)| match status {
                Status::Sum { user, kernel } => Some((*name, *user, *kernel)),
                _ => None,
            })
            .collect();
        let opened = |name: &str| {
            groups
                .iter()
                .any(|group| group.members.iter().any(|(member, _)| *member == name))
        };
        let from_rusage = ["context_switches", "page_faults"]
            .into_iter()
            .filter(|name| !opened(name))
            .collect();

        ThreadCounters {
            groups,
            sums,
            from_rusage,
            failed,
            rusage_at_start: None,
        }
    }

    /// NAME -> reason for events the plan expected but this thread could not
    /// open (rare: e.g. out of file descriptors).
    pub fn failed(&self) -> &BTreeMap<&'static str, String> {
        &self.failed
    }

    /// Reset + enable, around the measured part only.
    pub fn start(&mut self) {
        self.rusage_at_start = thread_rusage();
        // A failed reset or enable shows up at read time as a group that did
        // not run (None) rather than as a wrong count.
        for open in &mut self.groups {
            let _ = open.group.reset();
            let _ = open.group.enable();
        }
    }

    /// Disable + read; also adds getrusage(RUSAGE_THREAD) deltas.
    pub fn stop(&mut self) -> CounterSample {
        for open in &mut self.groups {
            let _ = open.group.disable();
        }
        let rusage_now = thread_rusage();

        let mut sample = CounterSample {
            values: NAMES.iter().map(|name| (*name, None)).collect(),
            running_ratio: None,
        };
        for open in &mut self.groups {
            let Ok(data) = open.group.read() else {
                continue;
            };
            let nanos = |d: Option<std::time::Duration>| {
                d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            };
            let enabled = nanos(data.time_enabled());
            let running = nanos(data.time_running());
            sample.note_ratio(running_ratio(enabled, running));
            for (name, counter) in &open.members {
                let value = data
                    .get(counter)
                    .and_then(|entry| scale(entry.value(), enabled, running));
                sample.values.insert(name, value);
            }
        }
        for (plain, user, kernel) in &self.sums {
            let value = match (sample.get(user), sample.get(kernel)) {
                (Some(user), Some(kernel)) => Some(user + kernel),
                _ => None,
            };
            sample.values.insert(plain, value);
        }
        if let (Some(before), Some(after)) = (self.rusage_at_start, rusage_now) {
            for name in &self.from_rusage {
                let count = |usage: &Usage| match *name {
                    "context_switches" => {
                        usage.voluntary_context_switches() + usage.involuntary_context_switches()
                    }
                    _ => usage.minor_page_faults() + usage.major_page_faults(),
                };
                sample
                    .values
                    .insert(name, Some((count(&after) - count(&before)) as f64));
            }
        }
        sample
    }
}

fn thread_rusage() -> Option<Usage> {
    getrusage(UsageWho::RUSAGE_THREAD).ok()
}

/// Counter values of one thread, or summed over a role's threads.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CounterSample {
    /// A name that is absent has not been contributed yet (the empty
    /// accumulator); present with `None` means unavailable.
    #[serde(flatten)]
    values: BTreeMap<&'static str, Option<f64>>,
    #[serde(skip)]
    running_ratio: Option<f64>,
}

impl CounterSample {
    /// The accumulator a role's sum starts from: adding a sample to it copies
    /// that sample, so `empty + Some(x) = Some(x)`.
    pub fn empty() -> CounterSample {
        CounterSample::default()
    }

    /// The value of `name`; `None` when unavailable (never 0 for that).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied().flatten()
    }

    /// Sets one counter; for callers that build samples by other means (and
    /// tests).
    ///
    /// # Panics
    /// If `name` is not one of [`CounterPlan::counter_names`]: a typo would
    /// otherwise silently report the counter as unavailable.
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        let name = NAMES
            .iter()
            .find(|known| **known == name)
            .unwrap_or_else(|| {
                panic!("unknown counter name {name:?}; see CounterPlan::counter_names()")
            });
        self.values.insert(name, value);
    }

    /// Sums `other` into `self`, per counter: Some + Some = Some, anything +
    /// None = None (a partial sum would understate), empty + x = x.
    pub fn add(&mut self, other: &CounterSample) {
        for (&name, &value) in &other.values {
            self.values
                .entry(name)
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

    fn note_ratio(&mut self, ratio: f64) {
        self.running_ratio = Some(self.running_ratio.map_or(ratio, |worst| worst.min(ratio)));
    }

    /// Worst time_running/time_enabled ratio seen (1.0 = not multiplexed);
    /// `None` when no perf group was read.
    pub fn multiplexed(&self) -> Option<f64> {
        self.running_ratio
    }

    /// {NAME: value or null}, every name present.
    pub fn to_json(&self) -> serde_json::Value {
        NAMES
            .iter()
            .map(|name| (name.to_string(), self.get(name).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Derived figures ([`DERIVED_NAMES`]) over a role's summed sample. `cpu_ns`
/// is the role's CPU time (user + system), measured by the caller, so the
/// per-byte and per-message CPU figures exist even without perf; every
/// figure is `None` when its input is unavailable or it would divide by zero.
pub fn derived(
    sample: &CounterSample,
    messages: u64,
    bytes: u64,
    cpu_ns: u64,
) -> BTreeMap<&'static str, Option<f64>> {
    let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
        (Some(num), Some(den)) if den != 0.0 => Some(num / den),
        _ => None,
    };
    let cycles = sample.get("cycles");
    let cpu_ns = Some(cpu_ns as f64);
    let messages = Some(messages as f64);
    let bytes = Some(bytes as f64);
    BTreeMap::from([
        ("ipc", ratio(sample.get("instructions"), cycles)),
        (
            "cache_miss_rate",
            ratio(sample.get("cache_misses"), sample.get("cache_references")),
        ),
        ("cycles_per_byte", ratio(cycles, bytes)),
        ("cycles_per_msg", ratio(cycles, messages)),
        ("cpu_ns_per_byte", ratio(cpu_ns, bytes)),
        ("cpu_ns_per_msg", ratio(cpu_ns, messages)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn scaling_undoes_multiplexing() {
        assert_eq!(scale(1000, 100, 100), Some(1000.0));
        assert_eq!(scale(1000, 200, 100), Some(2000.0));
        assert_eq!(scale(300, 400, 100), Some(1200.0));
        // Enabled but never scheduled: unknown, not zero.
        assert_eq!(scale(0, 500, 0), None);
        // Never enabled (start immediately followed by stop): a true zero.
        assert_eq!(scale(0, 0, 0), Some(0.0));
        assert_eq!(running_ratio(200, 100), 0.5);
        assert_eq!(running_ratio(0, 0), 1.0);
    }

    #[test]
    fn every_errno_gets_a_specific_reason() {
        let enoent = reason_for(&errno(libc::ENOENT), Some(2), false);
        assert!(
            enoent.contains("ENOENT") && enoent.contains("PMU"),
            "{enoent}"
        );
        let eopnotsupp = reason_for(&errno(libc::EOPNOTSUPP), Some(2), true);
        assert!(eopnotsupp.contains("EOPNOTSUPP"), "{eopnotsupp}");
        let einval = reason_for(&errno(libc::EINVAL), Some(2), true);
        assert!(einval.contains("EINVAL"), "{einval}");
        let enodev = reason_for(&errno(libc::ENODEV), Some(2), false);
        assert!(enodev.contains("ENODEV"), "{enodev}");
        let eperm = reason_for(&errno(libc::EPERM), Some(2), false);
        assert!(
            eperm.contains("EPERM") && eperm.contains("seccomp"),
            "{eperm}"
        );
        let other = reason_for(&errno(libc::EIO), Some(1), false);
        assert!(other.contains("perf_event_open failed"), "{other}");
        let emfile = reason_for(&errno(libc::EMFILE), None, false);
        assert!(emfile.contains("ulimit -n"), "{emfile}");
    }

    #[test]
    fn eacces_reason_depends_on_paranoid_and_side() {
        let kernel = reason_for(&errno(libc::EACCES), Some(2), true);
        assert!(
            kernel.contains("perf_event_paranoid = 2 forbids counting the kernel")
                && kernel.contains("CAP_PERFMON")
                && kernel.contains("sysctl kernel.perf_event_paranoid=1"),
            "{kernel}"
        );
        let all = reason_for(&errno(libc::EACCES), Some(3), false);
        assert!(
            all.contains("perf_event_paranoid = 3 forbids every perf event"),
            "{all}"
        );
        let lsm = reason_for(&errno(libc::EACCES), Some(1), true);
        assert!(lsm.contains("security module"), "{lsm}");
        let unknown = reason_for(&errno(libc::EACCES), None, true);
        assert!(unknown.contains("unreadable"), "{unknown}");
    }

    #[test]
    fn paranoid_parses_proc_text() {
        assert_eq!(parse_paranoid("2\n"), Some(2));
        assert_eq!(parse_paranoid("-1\n"), Some(-1));
        assert_eq!(parse_paranoid("banana"), None);
    }

    fn sample(values: &[(&str, Option<f64>)]) -> CounterSample {
        let mut sample = CounterSample::empty();
        for (name, value) in values {
            sample.set(name, *value);
        }
        sample
    }

    #[test]
    fn add_sums_and_keeps_unavailable_unavailable() {
        let a = sample(&[("cycles", None), ("context_switches", Some(3.0))]);
        let b = sample(&[("cycles", None), ("context_switches", Some(4.0))]);
        let mut role = CounterSample::empty();
        role.add(&a);
        assert_eq!(role.get("context_switches"), Some(3.0));
        role.add(&b);
        assert_eq!(role.get("context_switches"), Some(7.0));
        assert_eq!(role.get("cycles"), None);
        // A thread that could not count makes the sum unavailable, not smaller.
        role.add(&sample(&[("context_switches", None)]));
        assert_eq!(role.get("context_switches"), None);

        let json = role.to_json();
        assert_eq!(json["cycles"], serde_json::Value::Null);
        assert_eq!(json.as_object().unwrap().len(), NAMES.len());
    }

    #[test]
    fn add_keeps_the_worst_running_ratio() {
        let mut a = CounterSample::empty();
        a.note_ratio(1.0);
        let mut b = CounterSample::empty();
        b.note_ratio(0.25);
        let mut role = CounterSample::empty();
        assert_eq!(role.multiplexed(), None);
        role.add(&a);
        role.add(&b);
        assert_eq!(role.multiplexed(), Some(0.25));
    }

    #[test]
    #[should_panic(expected = "unknown counter name")]
    fn set_rejects_unknown_names() {
        CounterSample::empty().set("cycels", Some(1.0));
    }

    #[test]
    fn derived_figures_divide_safely() {
        let full = sample(&[
            ("cycles", Some(2000.0)),
            ("instructions", Some(3000.0)),
            ("cache_references", Some(100.0)),
            ("cache_misses", Some(5.0)),
        ]);
        let d = derived(&full, 10, 1000, 4000);
        assert_eq!(d["ipc"], Some(1.5));
        assert_eq!(d["cache_miss_rate"], Some(0.05));
        assert_eq!(d["cycles_per_byte"], Some(2.0));
        assert_eq!(d["cycles_per_msg"], Some(200.0));
        assert_eq!(d["cpu_ns_per_byte"], Some(4.0));
        assert_eq!(d["cpu_ns_per_msg"], Some(400.0));
        assert_eq!(d.len(), DERIVED_NAMES.len());

        let no_pmu = sample(&[("cycles", None), ("instructions", None)]);
        let d = derived(&no_pmu, 10, 1000, 4000);
        assert_eq!(d["ipc"], None);
        assert_eq!(d["cycles_per_byte"], None);
        assert_eq!(d["cpu_ns_per_msg"], Some(400.0));

        let nothing_moved = derived(&full, 0, 0, 4000);
        assert_eq!(nothing_moved["cpu_ns_per_byte"], None);
        assert_eq!(nothing_moved["cycles_per_msg"], None);
        let zero_cycles = derived(&sample(&[("cycles", Some(0.0))]), 1, 1, 1);
        assert_eq!(zero_cycles["ipc"], None);
    }

    #[test]
    fn plan_sums_split_events_and_falls_back_to_one_event() {
        // A PMU that counts user-only events but cannot count the kernel side.
        let plan = CounterPlan::build(Some(2), |spec| match spec.side {
            Side::Kernel => Err("no kernel".into()),
            _ => Ok(()),
        });
        assert!(plan.available("cycles_user"));
        assert!(!plan.available("cycles_kernel"));
        assert!(plan.available("cycles"), "one event counting both opened");
        assert!(plan.notes()["cycles"].contains("cannot be split"));

        // Nothing opens: hardware unavailable, getrusage fallback for two.
        let plan = CounterPlan::build(Some(3), |_| Err("EACCES".into()));
        for name in ["cycles", "cycles_user", "cpu_migrations", "task_clock_ns"] {
            assert!(!plan.available(name), "{name}");
            assert_eq!(plan.unavailable()[name], "EACCES");
        }
        for name in ["context_switches", "page_faults"] {
            assert!(plan.available(name), "{name}");
            assert!(plan.notes()[name].contains("getrusage"), "{name}");
        }
    }

    /// Sleeps and ping-pongs with another thread, so the calling thread
    /// context-switches many times.
    fn switch_a_lot() {
        let (to_peer, peer_rx) = std::sync::mpsc::channel::<u32>();
        let (to_main, main_rx) = std::sync::mpsc::channel::<u32>();
        let peer = std::thread::spawn(move || {
            for n in peer_rx {
                to_main.send(n + 1).unwrap();
            }
        });
        for n in 0..200 {
            to_peer.send(n).unwrap();
            assert_eq!(main_rx.recv().unwrap(), n + 1);
        }
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(to_peer);
        peer.join().unwrap();
    }

    fn assert_consistent(plan: &CounterPlan, sample: &CounterSample) {
        let unavailable = plan.unavailable();
        for name in CounterPlan::counter_names() {
            assert_eq!(
                plan.available(name),
                sample.get(name).is_some(),
                "{name}: available <=> Some"
            );
            assert_eq!(
                plan.available(name),
                !unavailable.contains_key(*name),
                "{name}: a reason for every unavailable counter"
            );
        }
    }

    #[test]
    fn counts_a_real_thread_on_this_host() {
        let plan = CounterPlan::probe();
        let mut counters = ThreadCounters::open(plan);
        assert!(counters.failed().is_empty(), "{:?}", counters.failed());
        counters.start();
        switch_a_lot();
        let sample = counters.stop();

        assert_consistent(plan, &sample);
        assert!(sample.get("context_switches").unwrap() > 0.0, "{sample:?}");
        if plan.available("task_clock_ns") {
            assert!(sample.get("task_clock_ns").unwrap() > 0.0, "{sample:?}");
        }
        if plan.available("cycles_user") {
            assert!(sample.get("cycles_user").unwrap() > 0.0, "{sample:?}");
        } else {
            // This project's VMs have no PMU: null with a reason, never 0.
            assert!(plan.unavailable()["cycles_user"].contains("PMU"));
            assert_eq!(sample.to_json()["cycles"], serde_json::Value::Null);
        }
        if plan.available("instructions") && plan.available("cycles") {
            assert!(derived(&sample, 1, 1, 1)["ipc"].is_some());
        }
        if plan
            .status("task_clock_ns")
            .is_some_and(|s| matches!(s, Status::Perf))
        {
            assert!(sample.multiplexed().unwrap() > 0.0);
        }
    }

    #[test]
    fn getrusage_counts_context_switches_without_perf() {
        let plan = CounterPlan::build(Some(3), |_| Err("EACCES".into()));
        let mut counters = ThreadCounters::open(&plan);
        counters.start();
        switch_a_lot();
        let sample = counters.stop();

        assert_consistent(&plan, &sample);
        assert!(sample.get("context_switches").unwrap() > 0.0, "{sample:?}");
        assert!(sample.get("page_faults").is_some());
        assert_eq!(sample.get("task_clock_ns"), None);
        assert_eq!(sample.multiplexed(), None);
    }
}
