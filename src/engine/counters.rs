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
//! - Software: context switches, CPU migrations, page faults and task clock
//!   come from the kernel's own per-thread accounting, read at start and stop:
//!   `getrusage(RUSAGE_THREAD)` (`ru_nvcsw + ru_nivcsw`, `ru_minflt +
//!   ru_majflt`), `CLOCK_THREAD_CPUTIME_ID` (the task clock) and
//!   `se.nr_migrations` in `/proc/thread-self/sched`. These are the same
//!   counts perf's software events report, with the kernel included, but
//!   without a perf event per thread: an open perf event adds a hook to every
//!   context switch of its thread. On this project's VM such events (from
//!   `perf stat`) raised an rr exchange, which makes four switches, from
//!   20.8 to 24.2 µs of CPU and its p50 from 24.4 to 26.8 µs. Hardware events
//!   pay that hook too, so a host with a PMU gets their counts at that price,
//!   and `--no-counters` turns every counter off.
//! - A multiplexed group is scaled by time_enabled / time_running, and
//!   [`CounterSample::multiplexed`] reports the worst running ratio. A group
//!   that was enabled but never scheduled yields `None`, not 0.
//! - CPU migrations are unavailable, with the reason, on kernels whose
//!   `/proc/thread-self/sched` does not show `se.nr_migrations`.
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
use std::sync::{LazyLock, OnceLock};

use perf_event::events::Hardware;
use perf_event::{Builder, Counter as PerfCounter, Group};

use crate::model::figures::Counter;
#[cfg(test)]
use crate::model::figures::RoleFigure;
pub use crate::model::measured::CounterSample;
#[cfg(test)]
use crate::model::measured::{CpuTime, RoleStats};

use crate::sys;

/// Every counter name, in report order (from [`Counter::ALL`]).
static NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| Counter::ALL.iter().map(|c| c.name()).collect());

struct HwEvent {
    plain: &'static str,
    user: &'static str,
    kernel: &'static str,
    event: Hardware,
}

const HARDWARE: [HwEvent; 4] = [
    HwEvent {
        plain: Counter::Cycles.name(),
        user: Counter::CyclesUser.name(),
        kernel: Counter::CyclesKernel.name(),
        event: Hardware::CPU_CYCLES,
    },
    HwEvent {
        plain: Counter::Instructions.name(),
        user: Counter::InstructionsUser.name(),
        kernel: Counter::InstructionsKernel.name(),
        event: Hardware::INSTRUCTIONS,
    },
    HwEvent {
        plain: Counter::CacheReferences.name(),
        user: Counter::CacheReferencesUser.name(),
        kernel: Counter::CacheReferencesKernel.name(),
        event: Hardware::CACHE_REFERENCES,
    },
    HwEvent {
        plain: Counter::CacheMisses.name(),
        user: Counter::CacheMissesUser.name(),
        kernel: Counter::CacheMissesKernel.name(),
        event: Hardware::CACHE_MISSES,
    },
];

/// The software counters and where each is read (see the module docs).
const SOFTWARE: [(&str, &str); 4] = [
    (
        Counter::ContextSwitches.name(),
        "getrusage(RUSAGE_THREAD) ru_nvcsw + ru_nivcsw",
    ),
    (
        Counter::CpuMigrations.name(),
        "/proc/thread-self/sched se.nr_migrations",
    ),
    (
        Counter::PageFaults.name(),
        "getrusage(RUSAGE_THREAD) ru_minflt + ru_majflt",
    ),
    (
        Counter::TaskClockNs.name(),
        "clock_gettime(CLOCK_THREAD_CPUTIME_ID)",
    ),
];

const SCHED: &str = "/proc/thread-self/sched";

/// Which privilege levels one perf event counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    User,
    Kernel,
    Both,
}

/// One perf event to open.
#[derive(Clone, Copy, Debug)]
struct Spec {
    name: &'static str,
    event: Hardware,
    side: Side,
}

impl Spec {
    fn builder(&self) -> Builder<'static> {
        let mut builder = Builder::new(self.event);
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
    /// Read from the kernel's per-thread accounting, not perf.
    Os {
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
            let sched = read_migrations().map(|_| ());
            CounterPlan::build(
                paranoid,
                |spec| {
                    probe_open(spec).map_err(|err| reason_for(&err, paranoid, spec.kernel_side()))
                },
                sched,
            )
        })
    }

    /// Builds a plan from `try_open`, which says whether one hardware event
    /// opens (and if not, why), and `sched`, whether this kernel shows the
    /// thread's migrations.
    fn build(
        paranoid: Option<i32>,
        mut try_open: impl FnMut(&Spec) -> Result<(), String>,
        sched: Result<(), String>,
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
                event: hw.event,
                side: Side::User,
            };
            let kernel = Spec {
                name: hw.kernel,
                event: hw.event,
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
                event: hw.event,
                side: Side::Both,
            };
            if let (Err(_), Err(reason)) = (try_spec(both, &mut status), user) {
                // When even the user side fails, that is the root cause
                // (typically no PMU): granting the kernel access the combined
                // event also asks for would not help.
                status.insert(hw.plain, Status::Unavailable { reason });
            }
        }

        for (name, source) in SOFTWARE {
            let counted = match (name, &sched) {
                (n, Err(reason)) if n == Counter::CpuMigrations.name() => Status::Unavailable {
                    reason: reason.clone(),
                },
                _ => Status::Os {
                    note: format!("{source} (the kernel's own count, no perf event)"),
                },
            };
            status.insert(name, counted);
        }

        // A counter of the model that nothing above reads is unavailable
        // with that reason, never silently missing.
        for c in Counter::ALL {
            status
                .entry(c.name())
                .or_insert_with(|| Status::Unavailable {
                    reason: "copybench has no source for this counter yet".to_string(),
                });
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

    /// Whether `name` gets a value on this host (from perf or the kernel's
    /// per-thread accounting).
    pub fn available(&self, name: impl AsRef<str>) -> bool {
        !matches!(
            self.status(name.as_ref()),
            None | Some(Status::Unavailable { .. })
        )
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
    /// its own perf event (the software counters, or a single event counting
    /// user and kernel together); reports show it next to the value.
    pub fn notes(&self) -> BTreeMap<String, String> {
        let mut notes: BTreeMap<String, String> = self
            .status
            .iter()
            .filter_map(|(name, status)| match status {
                Status::Os { note } => Some((name.to_string(), note.clone())),
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
        &NAMES
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

/// The calling thread's CPU migrations so far, from [`SCHED`]; `Err` says why
/// this kernel does not show them.
fn read_migrations() -> Result<u64, String> {
    let text = std::fs::read_to_string(SCHED).map_err(|err| {
        format!("{SCHED} is unreadable ({err}): this kernel does not show a thread's migrations; perf's cpu-migrations event would, at a cost per context switch")
    })?;
    parse_migrations(&text).ok_or_else(|| {
        format!(
            "{SCHED} has no se.nr_migrations line: this kernel does not show a thread's migrations"
        )
    })
}

/// `se.nr_migrations` from the text of /proc/<pid>/task/<tid>/sched.
pub(crate) fn parse_migrations(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "se.nr_migrations")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Reads `kernel.perf_event_paranoid`; `None` when unreadable (no perf in
/// this kernel, or /proc not mounted).
pub(crate) fn perf_event_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|text| parse_paranoid(&text))
}

/// Parses the contents of /proc/sys/kernel/perf_event_paranoid.
pub(crate) fn parse_paranoid(text: &str) -> Option<i32> {
    text.trim().parse().ok()
}

/// Maps a perf_event_open error to a reason that says what to do next, shaped
/// "what is wrong (ERRNO): what to do" so reports can show either part.
/// `kernel_side`: whether the event counts kernel work (the part
/// perf_event_paranoid >= 2 forbids).
pub(crate) fn reason_for(err: &io::Error, paranoid: Option<i32>, kernel_side: bool) -> String {
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
pub(crate) fn scale(count: u64, time_enabled_ns: u64, time_running_ns: u64) -> Option<f64> {
    if time_running_ns == 0 {
        return (time_enabled_ns == 0).then_some(count as f64);
    }
    Some(count as f64 * time_enabled_ns as f64 / time_running_ns as f64)
}

/// time_running / time_enabled; 1.0 = the group counted all the time it was
/// enabled.
pub(crate) fn running_ratio(time_enabled_ns: u64, time_running_ns: u64) -> f64 {
    if time_enabled_ns == 0 {
        1.0
    } else {
        time_running_ns as f64 / time_enabled_ns as f64
    }
}

struct OpenGroup {
    group: Group,
    members: Vec<(&'static str, PerfCounter)>,
}

/// The kernel's per-thread accounting at one instant (the software counters).
#[derive(Clone, Copy, Debug)]
struct OsSnapshot {
    usage: Option<sys::ThreadUsage>,
    migrations: Option<u64>,
}

impl OsSnapshot {
    fn take(migrations: bool) -> OsSnapshot {
        OsSnapshot {
            usage: sys::thread_usage().ok(),
            migrations: if migrations {
                read_migrations().ok()
            } else {
                None
            },
        }
    }

    /// The software counters from `self` to `later`; `None` where either
    /// reading failed.
    fn delta(&self, later: &OsSnapshot) -> [(&'static str, Option<f64>); 4] {
        let usage = |pick: fn(&sys::ThreadUsage) -> u64| match (self.usage, later.usage) {
            (Some(a), Some(b)) => Some(pick(&b).saturating_sub(pick(&a)) as f64),
            _ => None,
        };
        let migrations = match (self.migrations, later.migrations) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        [
            (
                Counter::ContextSwitches.name(),
                usage(|u| u.context_switches),
            ),
            (Counter::CpuMigrations.name(), migrations),
            (Counter::PageFaults.name(), usage(|u| u.page_faults)),
            (Counter::TaskClockNs.name(), usage(|u| u.cpu_ns)),
        ]
    }
}

/// Opened by a worker thread for itself (pid 0 = calling thread, any cpu), not inherited.
pub struct ThreadCounters {
    groups: Vec<OpenGroup>,
    /// plain name, user part, kernel part.
    sums: Vec<(&'static str, &'static str, &'static str)>,
    /// Whether this kernel shows the thread's migrations.
    migrations: bool,
    /// Events of the plan this thread could not open; read by the tests (a
    /// run reports such an event as unavailable, like any other).
    #[cfg_attr(not(test), allow(dead_code))]
    failed: BTreeMap<&'static str, String>,
    at_start: Option<OsSnapshot>,
}

impl ThreadCounters {
    /// Opens the plan's hardware events for the calling thread, disabled.
    /// Never fails: an event that does not open here is left out of its group
    /// (and never read), with its reason in [`ThreadCounters::failed`].
    pub fn open(plan: &CounterPlan) -> ThreadCounters {
        let mut groups: Vec<OpenGroup> = Vec::new();
        let mut failed = BTreeMap::new();
        let mut sides: Vec<Side> = Vec::new();
        for spec in &plan.events {
            if !sides.contains(&spec.side) {
                sides.push(spec.side);
            }
        }
        for side in sides {
            let specs = plan.events.iter().filter(|spec| spec.side == side);
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

        ThreadCounters {
            groups,
            sums,
            migrations: plan.available(Counter::CpuMigrations.name()),
            failed,
            at_start: None,
        }
    }

    /// NAME -> reason for events the plan expected but this thread could not
    /// open (rare: e.g. out of file descriptors).
    #[cfg(test)]
    pub fn failed(&self) -> &BTreeMap<&'static str, String> {
        &self.failed
    }

    /// Reset + enable, around the measured part only.
    pub fn start(&mut self) {
        self.at_start = Some(OsSnapshot::take(self.migrations));
        // A failed reset or enable shows up at read time as a group that did
        // not run (None) rather than as a wrong count.
        for open in &mut self.groups {
            let _ = open.group.reset();
            let _ = open.group.enable();
        }
    }

    /// Disable + read the hardware groups, and the software counters' deltas
    /// since [`ThreadCounters::start`].
    pub fn stop(&mut self) -> CounterSample {
        for open in &mut self.groups {
            let _ = open.group.disable();
        }
        let now = OsSnapshot::take(self.migrations);

        let mut sample = CounterSample::all_unavailable();
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
                sample.set(name, value);
            }
        }
        for (plain, user, kernel) in &self.sums {
            let value = match (sample.get(user), sample.get(kernel)) {
                (Some(user), Some(kernel)) => Some(user + kernel),
                _ => None,
            };
            sample.set(plain, value);
        }
        if let Some(start) = &self.at_start {
            for (name, value) in start.delta(&now) {
                sample.set(name, value);
            }
        }
        sample
    }
}

/// The ratio figures (every [`RoleFigure`] that is not a total: the CPU
/// time per byte and per message and [`RoleFigure::DERIVED`]) over a role's
/// summed sample, by name. `cpu_ns` is the
/// role's CPU time (user + system), measured by the caller, so the per-byte
/// and per-message CPU figures exist even without perf; every figure is
/// `None` when its input is unavailable or it would divide by zero. The
/// formulas are [`RoleFigure::of`]'s. (The tests' view of them; `run
/// --json` takes them from `model::measured::role_figures`.)
#[cfg(test)]
pub fn derived(
    sample: &CounterSample,
    messages: u64,
    bytes: u64,
    cpu_ns: u64,
) -> BTreeMap<&'static str, Option<f64>> {
    let stats = RoleStats {
        cpu: CpuTime {
            total_ns: cpu_ns,
            ..Default::default()
        },
        counters: sample.clone(),
    };
    RoleFigure::all()
        .into_iter()
        .filter(|f| !f.is_total())
        .map(|f| (f.name(), f.of(&stats, messages, bytes)))
        .collect()
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
        let a = sample(&[
            ("cycles", None),
            (Counter::ContextSwitches.name(), Some(3.0)),
        ]);
        let b = sample(&[
            ("cycles", None),
            (Counter::ContextSwitches.name(), Some(4.0)),
        ]);
        let mut role = CounterSample::empty();
        role.add(&a);
        assert_eq!(role.get("context_switches"), Some(3.0));
        role.add(&b);
        assert_eq!(role.get("context_switches"), Some(7.0));
        assert_eq!(role.get("cycles"), None);
        // A thread that could not count makes the sum unavailable, not smaller.
        role.add(&sample(&[(Counter::ContextSwitches.name(), None)]));
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
        assert_eq!(d.len(), RoleFigure::DERIVED.len() + 2);

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
        let plan = CounterPlan::build(
            Some(2),
            |spec| match spec.side {
                Side::Kernel => Err("no kernel".into()),
                _ => Ok(()),
            },
            Ok(()),
        );
        assert!(plan.available("cycles_user"));
        assert!(!plan.available("cycles_kernel"));
        assert!(plan.available("cycles"), "one event counting both opened");
        assert!(plan.notes()["cycles"].contains("cannot be split"));

        // No perf at all: hardware unavailable, software counters unaffected
        // because they never use perf.
        let plan = CounterPlan::build(Some(3), |_| Err("EACCES".into()), Ok(()));
        for name in ["cycles", "cycles_user", "cache_misses_kernel"] {
            assert!(!plan.available(name), "{name}");
            assert_eq!(plan.unavailable()[name], "EACCES");
        }
        assert!(plan.events.is_empty());
        for (name, source) in [
            (Counter::ContextSwitches.name(), "ru_nvcsw"),
            (Counter::PageFaults.name(), "ru_minflt"),
            (Counter::TaskClockNs.name(), "CLOCK_THREAD_CPUTIME_ID"),
            (Counter::CpuMigrations.name(), "se.nr_migrations"),
        ] {
            assert!(plan.available(name), "{name}");
            assert!(plan.notes()[name].contains(source), "{name}");
        }
    }

    #[test]
    fn migrations_are_unavailable_where_the_kernel_hides_them() {
        let plan = CounterPlan::build(Some(2), |_| Ok(()), Err("no sched file".into()));
        assert!(!plan.available("cpu_migrations"));
        assert_eq!(plan.unavailable()["cpu_migrations"], "no sched file");
        assert!(plan.available("context_switches"));
        assert_eq!(plan.events.len(), 2 * HARDWARE.len());

        let mut counters = ThreadCounters::open(&CounterPlan::build(
            Some(3),
            |_| Err("EACCES".into()),
            Err("no sched file".into()),
        ));
        counters.start();
        let sample = counters.stop();
        assert_eq!(sample.get("cpu_migrations"), None);
        assert!(sample.get("task_clock_ns").is_some());
    }

    #[test]
    fn migrations_parse_from_the_sched_file() {
        let text = "cat (2115, #threads: 1)\n---------\nse.exec_start   :   75117.033918\nse.nr_migrations                             :                    7\nnr_switches  :  0\n";
        assert_eq!(parse_migrations(text), Some(7));
        assert_eq!(parse_migrations("nr_switches : 3\n"), None);
        assert_eq!(parse_migrations("se.nr_migrations : lots\n"), None);
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
        if plan.available("cycles_user") {
            assert!(sample.multiplexed().unwrap() > 0.0);
        } else {
            // No perf group was opened, so no perf hook sits on this thread's
            // context switches.
            assert_eq!(sample.multiplexed(), None);
        }
    }

    #[test]
    fn software_counters_match_the_kernels_accounting_without_perf() {
        let plan = CounterPlan::build(Some(3), |_| Err("EACCES".into()), Ok(()));
        let mut counters = ThreadCounters::open(&plan);
        let before = sys::thread_usage().unwrap();
        counters.start();
        switch_a_lot();
        let sample = counters.stop();
        let after = sys::thread_usage().unwrap();

        assert_consistent(&plan, &sample);
        let switches = sample.get("context_switches").unwrap();
        // 200 blocking receives and 3 sleeps: at least that many switches.
        assert!(switches >= 203.0, "{sample:?}");
        assert!(switches <= (after.context_switches - before.context_switches) as f64);
        let task_clock = sample.get("task_clock_ns").unwrap();
        assert!(task_clock > 0.0 && task_clock <= (after.cpu_ns - before.cpu_ns) as f64);
        assert!(sample.get("page_faults").is_some());
        assert_eq!(sample.multiplexed(), None);
    }
}
