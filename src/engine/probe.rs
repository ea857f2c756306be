//! The host's facts and capabilities, for `copybench doctor` and the sweep's
//! env.json.
//!
//! # Contract
//!
//! - [`gather`] is called once per command (doctor, or at the start of a
//!   sweep): it reads /proc and /sys, probes `SO_ZEROCOPY` on a fresh TCP and
//!   AF_UNIX socket, runs `ip -V`, and takes the counter availability from
//!   [`CounterPlan::probe`] (so it opens each perf event once on the calling
//!   thread). It never fails: what it could not look at is `None` /
//!   [`Availability::Unknown`] and listed in [`HostFacts::gaps`]; `doctor`
//!   exits 0 when `gaps` is empty.
//! - [`problems`] turns facts into what stands between this host and a full
//!   measurement, each with the command that fixes it.
//! - [`render_doctor`] is the human text of `copybench doctor`.
//!
//! Nothing here measures performance, spawns `perf`, or changes the host.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::model::host::{
    Availability, CounterStatus, CpuIdle, HostFacts, NamespaceState, RunFacts, SweepEnv,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::engine::counters::{perf_event_paranoid, CounterPlan};
use crate::engine::netns;

/// The namespaces `netns-setup.sh up` creates for the veth transport.
const NAMESPACES: [&str; 2] = [netns::DEFAULT_SERVER_NS, netns::DEFAULT_CLIENT_NS];

/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// Below this, MSG_ZEROCOPY sends run out of option memory early (their
/// completion notifications are charged to it). 128 KiB is the kernel's
/// default since Linux 6.8.
const OPTMEM_MIN: u64 = 128 * 1024;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;

/// Something that keeps this host from a full measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Problem {
    pub what: String,
    /// The command (or step) that fixes it.
    pub fix: String,
}

/// Reads the cpuidle facts from `/sys`; what is not there stays `None`.
fn cpuidle() -> CpuIdle {
    let read = |path: &str| read_trimmed(path).ok().filter(|t| !t.is_empty());
    CpuIdle {
        driver: read("/sys/devices/system/cpu/cpuidle/current_driver"),
        governor: read("/sys/devices/system/cpu/cpuidle/current_governor")
            .or_else(|| read("/sys/devices/system/cpu/cpuidle/current_governor_ro")),
        guest_halt_poll_ns: read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
            .and_then(|t| t.parse().ok()),
    }
}

/// Looks at the host. Never fails; see [`HostFacts::gaps`].
pub fn gather() -> HostFacts {
    let mut gaps = Vec::new();
    let mut note_gap =
        |what: &str, err: &dyn std::fmt::Display| gaps.push(format!("{what}: {err}"));

    let kernel = read_trimmed("/proc/sys/kernel/osrelease")
        .map_err(|err| note_gap("kernel release (/proc/sys/kernel/osrelease)", &err))
        .ok();
    let cpu_model = match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(text) => {
            let model = parse_cpu_model(&text);
            if model.is_none() {
                note_gap("CPU model", &"no model line in /proc/cpuinfo");
            }
            model
        }
        Err(err) => {
            note_gap("CPU model (/proc/cpuinfo)", &err);
            None
        }
    };
    let cores = match std::thread::available_parallelism() {
        Ok(n) => Some(n.get()),
        Err(err) => {
            note_gap("core count", &err);
            None
        }
    };
    let paranoid = perf_event_paranoid();
    if paranoid.is_none() {
        note_gap(
            "perf_event_paranoid",
            &"/proc/sys/kernel/perf_event_paranoid unreadable (kernel without perf events?)",
        );
    }
    let perf_capable = match std::fs::read_to_string("/proc/self/status") {
        Ok(text) => parse_cap_eff(&text)
            .map(|caps| caps & (1 << CAP_PERFMON) != 0 || caps & (1 << CAP_SYS_ADMIN) != 0),
        Err(err) => {
            note_gap("capabilities (/proc/self/status)", &err);
            None
        }
    };
    let optmem_max = read_trimmed("/proc/sys/net/core/optmem_max")
        .and_then(|text| text.parse().map_err(|err| format!("{text:?}: {err}")))
        .map_err(|err| note_gap("net.core.optmem_max", &err))
        .ok();

    let tcp_congestion_control = crate::engine::transport::default_congestion()
        .map_err(|err| note_gap("net.ipv4.tcp_congestion_control", &err))
        .ok();

    let max_skb_frags = read_trimmed("/proc/sys/net/core/max_skb_frags")
        .and_then(|text| text.parse().map_err(|err| format!("{text:?}: {err}")))
        .map_err(|err| note_gap("net.core.max_skb_frags", &err))
        .ok();

    let io_uring = probe_io_uring();
    let support = crate::engine::strategy::uring_support();
    let uring = ring_availability(&support.sendmsg);
    let uring_zc = ring_availability(&support.sendmsg_zc);
    let memlock = crate::engine::strategy::memlock_text();
    let so_zerocopy_tcp = probe_zerocopy(Domain::IPV4, Some(Protocol::TCP), "TCP");
    let so_zerocopy_unix = probe_zerocopy(Domain::UNIX, None, "AF_UNIX");
    let tcp_zerocopy_receive = match crate::engine::recv::map_support() {
        Ok(p) => Availability::Available(format!(
            "{} B of a page sent over loopback mapped (MSS {}, TCP_MAXSEG {})",
            p.mapped,
            p.mss,
            crate::engine::recv::map_mss()
        )),
        Err(why) => Availability::Unavailable(why.clone()),
    };
    for (what, availability) in [
        ("io_uring", &io_uring),
        ("SO_ZEROCOPY on TCP", &so_zerocopy_tcp),
        ("SO_ZEROCOPY on AF_UNIX", &so_zerocopy_unix),
    ] {
        if let Availability::Unknown(detail) = availability {
            note_gap(what, detail);
        }
    }

    let iproute2 = std::process::Command::new("ip")
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| parse_iproute2_version(&String::from_utf8_lossy(&out.stdout)));
    let netns = NAMESPACES
        .iter()
        .map(|name| NamespaceState {
            name: name.to_string(),
            exists: Path::new(NETNS_DIR).join(name).exists(),
        })
        .collect();

    HostFacts {
        cpuidle: cpuidle(),
        kernel,
        cpu_model,
        cores,
        perf_event_paranoid: paranoid,
        perf_capable,
        optmem_max,
        tcp_congestion_control,
        max_skb_frags,
        io_uring,
        uring,
        uring_zc,
        memlock,
        so_zerocopy_tcp,
        so_zerocopy_unix,
        tcp_zerocopy_receive,
        iproute2,
        netns,
        counters: counter_statuses(CounterPlan::probe()),
        gaps,
    }
}

fn read_trimmed(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|err| format!("{path}: {err}"))
}

fn counter_statuses(plan: &CounterPlan) -> BTreeMap<String, CounterStatus> {
    let unavailable = plan.unavailable();
    let notes = plan.notes();
    CounterPlan::counter_names()
        .iter()
        .map(|name| {
            let status = CounterStatus {
                available: plan.available(name),
                reason: unavailable.get(*name).cloned(),
                note: notes.get(*name).cloned(),
            };
            (name.to_string(), status)
        })
        .collect()
}

/// The CPU's name from /proc/cpuinfo: `model name` on x86, other keys on
/// other architectures.
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "cpu model", "uarch", "cpu"]
        .iter()
        .find_map(|wanted| {
            cpuinfo.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                let value = value.trim();
                (key.trim() == *wanted && !value.is_empty()).then(|| value.to_string())
            })
        })
}

/// The effective capability mask from /proc/self/status (`CapEff:` in hex).
fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// "ip utility, iproute2-6.1.0, libbpf 1.1.2" -> "6.1.0" (older releases
/// print "iproute2-ss200127").
fn parse_iproute2_version(output: &str) -> Option<String> {
    let rest = &output[output.find("iproute2-")? + "iproute2-".len()..];
    let version: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    (!version.is_empty()).then_some(version)
}

fn probe_io_uring() -> Availability {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
    // Before Linux 6.6 there is no such sysctl; whether io_uring was built in
    // then shows in the kernel's symbols.
    let has_symbol = match sysctl {
        Some(_) => None,
        None => std::fs::File::open("/proc/kallsyms")
            .ok()
            .map(|file| kallsyms_has_io_uring(BufReader::new(file))),
    };
    io_uring_availability(sysctl.as_deref(), has_symbol)
}

/// Whether a /proc/kallsyms listing holds the io_uring_setup syscall.
fn kallsyms_has_io_uring(kallsyms: impl BufRead) -> bool {
    kallsyms.lines().map_while(Result::ok).any(|line| {
        line.split_whitespace().nth(2).is_some_and(|symbol| {
            symbol == "io_uring_setup" || symbol.ends_with("sys_io_uring_setup")
        })
    })
}

/// `disabled`: contents of /proc/sys/kernel/io_uring_disabled, if present;
/// `has_symbol`: whether /proc/kallsyms (if readable) has io_uring_setup.
fn io_uring_availability(disabled: Option<&str>, has_symbol: Option<bool>) -> Availability {
    match (disabled.map(str::trim), has_symbol) {
        (Some("0"), _) => Availability::Available("kernel.io_uring_disabled = 0".into()),
        (Some("1"), _) => Availability::Restricted(
            "kernel.io_uring_disabled = 1: only CAP_SYS_ADMIN or members of kernel.io_uring_group may create rings".into(),
        ),
        (Some("2"), _) => Availability::Unavailable(
            "kernel.io_uring_disabled = 2: io_uring is disabled for everyone".into(),
        ),
        (Some(other), _) => {
            Availability::Unknown(format!("kernel.io_uring_disabled = {other:?} is not 0, 1 or 2"))
        }
        (None, Some(true)) => Availability::Available(
            "io_uring_setup is in the kernel (no io_uring_disabled sysctl before Linux 6.6)".into(),
        ),
        (None, Some(false)) => {
            Availability::Unavailable("this kernel was built without io_uring (CONFIG_IO_URING)".into())
        }
        (None, None) => Availability::Unknown(
            "neither /proc/sys/kernel/io_uring_disabled nor /proc/kallsyms is readable".into(),
        ),
    }
}

/// The io_uring probe's answer for one strategy (see [`crate::engine::strategy::uring_support`]).
pub(crate) fn ring_availability(probe: &Result<String, String>) -> Availability {
    match probe {
        Ok(found) => Availability::Available(found.clone()),
        Err(why) => Availability::Unavailable(why.clone()),
    }
}

fn probe_zerocopy(domain: Domain, protocol: Option<Protocol>, family: &str) -> Availability {
    match Socket::new(domain, Type::STREAM, protocol) {
        Ok(socket) => zerocopy_availability(&crate::sys::set_zerocopy(socket.as_fd()), family),
        Err(err) => Availability::Unknown(format!(
            "could not create a {family} socket to probe: {err}"
        )),
    }
}

/// What setsockopt(SO_ZEROCOPY)'s result on a `family` stream socket means.
fn zerocopy_availability(result: &std::io::Result<()>, family: &str) -> Availability {
    let err = match result {
        Ok(()) => {
            return Availability::Available(format!(
                "setsockopt(SO_ZEROCOPY) accepted on a {family} socket"
            ))
        }
        Err(err) => err,
    };
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Availability::Unavailable(format!(
            "{family} sockets do not support MSG_ZEROCOPY (EOPNOTSUPP)"
        )),
        Some(libc::ENOPROTOOPT) => Availability::Unavailable(
            "this kernel does not know SO_ZEROCOPY (ENOPROTOOPT): TCP needs Linux 4.14 or later"
                .to_string(),
        ),
        _ => Availability::Unknown(format!(
            "setsockopt(SO_ZEROCOPY) on a {family} socket failed: {err}"
        )),
    }
}

/// What stands between this host and a full measurement, each with its fix.
fn problems(facts: &HostFacts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let unavailable: Vec<(&String, &String)> = facts
        .counters
        .iter()
        .filter_map(|(name, status)| Some((name, status.reason.as_ref()?)))
        .collect();

    let paranoid_limits = facts.perf_capable != Some(true)
        && facts.perf_event_paranoid.is_some_and(|level| level >= 2)
        && unavailable
            .iter()
            .any(|(_, reason)| reason.contains("(EACCES)"));
    if paranoid_limits {
        let level = facts.perf_event_paranoid.unwrap_or_default();
        let scope = if level >= 3 {
            "every perf counter"
        } else {
            "counting the kernel (cycles, instructions and cache events on the kernel side)"
        };
        problems.push(Problem {
            what: format!(
                "perf_event_paranoid = {level} forbids {scope} without CAP_PERFMON; the send paths spend most of their time in the kernel"
            ),
            fix: "sudo sysctl -w kernel.perf_event_paranoid=1   (or run copybench as root)".into(),
        });
    }

    // Other unavailable counters, one problem per distinct reason.
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, reason) in &unavailable {
        if !(paranoid_limits && reason.contains("(EACCES)")) {
            by_reason
                .entry(reason.as_str())
                .or_default()
                .push(name.as_str());
        }
    }
    for (reason, names) in by_reason {
        let (what, fix) = split_reason(reason);
        problems.push(Problem {
            what: format!("{} unavailable: {what}", names.join(", ")),
            fix: fix.unwrap_or("no known fix on this host").to_string(),
        });
    }

    if !matches!(facts.so_zerocopy_tcp, Availability::Available(_)) {
        problems.push(Problem {
            what: format!(
                "the zero-copy strategy cannot run: {}",
                facts.so_zerocopy_tcp.label().1
            ),
            fix: "run on Linux 4.14 or later (SO_ZEROCOPY for TCP)".into(),
        });
    }
    if let Some(optmem) = facts.optmem_max.filter(|optmem| *optmem < OPTMEM_MIN) {
        problems.push(Problem {
            what: format!(
                "net.core.optmem_max = {optmem}: MSG_ZEROCOPY sends will hit ENOBUFS early and stall on completions"
            ),
            fix: format!("sudo sysctl -w net.core.optmem_max={OPTMEM_MIN}"),
        });
    }
    let io_uring_blocked = match &facts.io_uring {
        Availability::Unavailable(detail) if detail.contains("io_uring_disabled") => Some(detail),
        Availability::Restricted(detail) if facts.perf_capable != Some(true) => Some(detail),
        _ => None,
    };
    let policy_blocks = io_uring_blocked.is_some();
    if let Some(detail) = io_uring_blocked {
        problems.push(Problem {
            what: format!("io_uring strategies cannot run: {detail}"),
            fix: "sudo sysctl -w kernel.io_uring_disabled=0".into(),
        });
    }
    // What the real ring said, unless the sysctl already explains it.
    let cannot = |a: &Availability| match a {
        Availability::Available(_) => None,
        other => Some(other.label().1.to_string()),
    };
    let ring_fix = "see the reason; sweeps and benches leave the strategy out until it is fixed";
    match (cannot(&facts.uring), cannot(&facts.uring_zc)) {
        _ if policy_blocks => {}
        (Some(why), _) => problems.push(Problem {
            what: format!("the uring and uring-zc strategies cannot run: {why}"),
            fix: ring_fix.into(),
        }),
        (None, Some(why)) => problems.push(Problem {
            what: format!("the uring-zc strategy cannot run: {why}"),
            fix: ring_fix.into(),
        }),
        (None, None) => {}
    }
    if facts.iproute2.is_none() {
        problems.push(Problem {
            what:
                "iproute2 (`ip`) is not installed: netns-setup.sh cannot build the veth namespaces"
                    .into(),
            fix: "sudo apt-get install iproute2   (or your distribution's iproute2 package)".into(),
        });
    }
    let missing: Vec<&str> = facts
        .netns
        .iter()
        .filter(|ns| !ns.exists)
        .map(|ns| ns.name.as_str())
        .collect();
    if !missing.is_empty() {
        problems.push(Problem {
            what: format!(
                "network namespace(s) {} missing: the veth transport cannot run",
                missing.join(", ")
            ),
            fix: "sudo ./netns-setup.sh up".into(),
        });
    }
    problems
}

/// Splits a reason shaped "what is wrong (ERRNO): what to do" (see
/// [`crate::engine::counters::reason_for`]) into its two parts.
fn split_reason(reason: &str) -> (&str, Option<&str>) {
    match reason.find("): ") {
        Some(at) => (&reason[..=at], Some(&reason[at + 3..])),
        None => (reason, None),
    }
}

/// The human text of `copybench doctor`.
pub fn render_doctor(facts: &HostFacts) -> String {
    let unknown = || "unknown".to_string();
    let availability = |a: &Availability| {
        let (label, detail) = a.label();
        format!("{label}: {detail}")
    };
    let paranoid = match (facts.perf_event_paranoid, facts.perf_capable) {
        (Some(level), Some(true)) => {
            format!("{level} (this process has CAP_PERFMON/root, so it does not apply)")
        }
        (Some(level), _) => level.to_string(),
        (None, _) => unknown(),
    };
    let mut rows: Vec<(String, String)> = vec![
        (
            "kernel".into(),
            facts.kernel.clone().unwrap_or_else(unknown),
        ),
        (
            "cpu".into(),
            facts.cpu_model.clone().unwrap_or_else(unknown),
        ),
        (
            "cores".into(),
            facts.cores.map_or_else(unknown, |n| n.to_string()),
        ),
        ("perf_event_paranoid".into(), paranoid),
        (
            "net.core.optmem_max".into(),
            facts.optmem_max.map_or_else(unknown, |v| v.to_string()),
        ),
        (
            "net.ipv4.tcp_congestion_control".into(),
            facts.tcp_congestion_control.clone().unwrap_or_else(unknown),
        ),
        (
            "net.core.max_skb_frags".into(),
            facts.max_skb_frags.map_or_else(unknown, |v| v.to_string()),
        ),
        ("io_uring".into(), availability(&facts.io_uring)),
        ("io_uring ring (uring)".into(), availability(&facts.uring)),
        (
            "io_uring ring (uring-zc)".into(),
            availability(&facts.uring_zc),
        ),
        ("RLIMIT_MEMLOCK".into(), facts.memlock.clone()),
        (
            "SO_ZEROCOPY (TCP)".into(),
            availability(&facts.so_zerocopy_tcp),
        ),
        (
            "SO_ZEROCOPY (AF_UNIX)".into(),
            availability(&facts.so_zerocopy_unix),
        ),
        (
            "TCP_ZEROCOPY_RECEIVE (--receive zerocopy)".into(),
            availability(&facts.tcp_zerocopy_receive),
        ),
        ("cpuidle".into(), facts.cpuidle.describe()),
        (
            "iproute2".into(),
            facts
                .iproute2
                .clone()
                .unwrap_or_else(|| "not installed".into()),
        ),
    ];
    for ns in &facts.netns {
        let state = if ns.exists {
            "present"
        } else {
            "missing (sudo ./netns-setup.sh up)"
        };
        rows.push((format!("netns {}", ns.name), state.into()));
    }

    let mut out = String::from("host\n");
    push_aligned(&mut out, &rows);

    out.push_str("\ncounters\n");
    // Report order (cycles, cycles_user, cycles_kernel, ...); the fixes are
    // listed once, under problems.
    let counter_rows: Vec<(String, String)> = CounterPlan::counter_names()
        .iter()
        .filter_map(|name| Some((*name, facts.counters.get(*name)?)))
        .map(|(name, status)| {
            let text = match (status.available, &status.reason, &status.note) {
                (true, _, Some(note)) => split_reason(note).0.to_string(),
                (true, _, None) => "opened".to_string(),
                (false, Some(reason), _) => format!("n/a: {}", split_reason(reason).0),
                (false, None, _) => "n/a".to_string(),
            };
            (name.to_string(), text)
        })
        .collect();
    push_aligned(&mut out, &counter_rows);

    out.push_str(
        "\nnote: loopback and veth deliveries are copied by the kernel anyway: the receiver is\n\
         local, so MSG_ZEROCOPY pages are copied before delivery and completions come back\n\
         flagged SO_EE_CODE_ZEROCOPY_COPIED. Only a real NIC shows what zero-copy saves.\n",
    );

    if !facts.gaps.is_empty() {
        out.push_str("\ncould not look at\n");
        for gap in &facts.gaps {
            let _ = writeln!(out, "  - {gap}");
        }
    }

    let problems = problems(facts);
    if problems.is_empty() {
        out.push_str("\nno problems found\n");
    } else {
        out.push_str("\nproblems\n");
        for problem in problems {
            let _ = writeln!(out, "  - {}\n    fix: {}", problem.what, problem.fix);
        }
    }
    out
}

fn push_aligned(out: &mut String, rows: &[(String, String)]) {
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in rows {
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        let available = CounterStatus {
            available: true,
            reason: None,
            note: None,
        };
        HostFacts {
            kernel: Some("6.1.0".into()),
            cpu_model: Some("Test CPU".into()),
            cores: Some(2),
            perf_event_paranoid: Some(1),
            perf_capable: Some(false),
            optmem_max: Some(131072),
            tcp_congestion_control: Some("cubic".into()),
            max_skb_frags: Some(17),
            io_uring: Availability::Available("kernel.io_uring_disabled = 0".into()),
            uring: Availability::Available("ring created".into()),
            uring_zc: Availability::Available("ring created".into()),
            memlock: "8192 KiB".into(),
            so_zerocopy_tcp: Availability::Available("ok".into()),
            so_zerocopy_unix: Availability::Unavailable("EOPNOTSUPP".into()),
            tcp_zerocopy_receive: Availability::Available("4096 B mapped".into()),
            cpuidle: CpuIdle {
                driver: Some("haltpoll".into()),
                governor: Some("haltpoll".into()),
                guest_halt_poll_ns: Some(0),
            },
            iproute2: Some("6.1.0".into()),
            netns: NAMESPACES
                .iter()
                .map(|name| NamespaceState {
                    name: name.to_string(),
                    exists: true,
                })
                .collect(),
            counters: CounterPlan::counter_names()
                .iter()
                .map(|name| (name.to_string(), available.clone()))
                .collect(),
            gaps: Vec::new(),
        }
    }

    #[test]
    fn cpuidle_says_when_idle_vcpus_halt_at_once() {
        let halting = facts().cpuidle;
        assert!(halting.halts_at_once());
        let text = halting.describe();
        assert!(text.starts_with("driver haltpoll, governor haltpoll; guest halt polling off"));
        assert!(text.contains("pinned rr pays it"), "{text}");
        let polling = CpuIdle {
            guest_halt_poll_ns: Some(200_000),
            ..halting.clone()
        };
        assert!(!polling.halts_at_once());
        assert!(polling
            .describe()
            .ends_with("guest halt polling up to 200000 ns"));
        // Bare metal: a driver, no haltpoll module; nothing is claimed about halting.
        let metal = CpuIdle {
            driver: Some("intel_idle".into()),
            governor: Some("menu".into()),
            guest_halt_poll_ns: None,
        };
        assert!(!metal.halts_at_once());
        assert_eq!(metal.describe(), "driver intel_idle, governor menu");
        assert!(CpuIdle::default().describe().starts_with("unknown"));
        // An env.json from before this fact reads as unknown.
        let old: HostFacts = serde_json::from_str(r#"{"kernel": "6.1"}"#).unwrap();
        assert_eq!(old.cpuidle, CpuIdle::default());
    }

    fn unavailable(facts: &mut HostFacts, names: &[&str], reason: &str) {
        for name in names {
            facts.counters.insert(
                name.to_string(),
                CounterStatus {
                    available: false,
                    reason: Some(reason.into()),
                    note: None,
                },
            );
        }
    }

    #[test]
    fn cpu_model_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 7763 64-Core Processor\n";
        assert_eq!(
            parse_cpu_model(x86).as_deref(),
            Some("AMD EPYC 7763 64-Core Processor")
        );
        let ppc = "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n";
        assert_eq!(
            parse_cpu_model(ppc).as_deref(),
            Some("POWER9 (architected), altivec supported")
        );
        assert_eq!(parse_cpu_model("processor\t: 0\nBogoMIPS\t: 50.00\n"), None);
        assert_eq!(parse_cpu_model("model name\t:\n"), None);
    }

    #[test]
    fn capabilities_from_status() {
        let status = "Name:\tcopybench\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        let caps = parse_cap_eff(status).unwrap();
        assert!(caps & (1 << CAP_PERFMON) != 0);
        assert_eq!(parse_cap_eff("CapEff:\t0000000000000000\n"), Some(0));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn iproute2_versions() {
        assert_eq!(
            parse_iproute2_version("ip utility, iproute2-6.1.0, libbpf 1.1.2\n").as_deref(),
            Some("6.1.0")
        );
        assert_eq!(
            parse_iproute2_version("ip utility, iproute2-ss200127\n").as_deref(),
            Some("ss200127")
        );
        assert_eq!(parse_iproute2_version("bash: ip: command not found"), None);
    }

    #[test]
    fn io_uring_states() {
        assert!(matches!(
            io_uring_availability(Some("0\n"), None),
            Availability::Available(_)
        ));
        assert!(matches!(
            io_uring_availability(Some("1\n"), None),
            Availability::Restricted(_)
        ));
        assert!(matches!(
            io_uring_availability(Some("2\n"), None),
            Availability::Unavailable(_)
        ));
        assert!(matches!(
            io_uring_availability(None, Some(true)),
            Availability::Available(_)
        ));
        assert!(matches!(
            io_uring_availability(None, Some(false)),
            Availability::Unavailable(_)
        ));
        assert!(matches!(
            io_uring_availability(None, None),
            Availability::Unknown(_)
        ));
        let kallsyms =
            "ffffffff81b46bd0 t io_uring_setup.cold\n0000000000000000 T __x64_sys_io_uring_setup\n";
        assert!(kallsyms_has_io_uring(kallsyms.as_bytes()));
        assert!(!kallsyms_has_io_uring(
            "0000000000000000 T io_uring_setup.cold\n".as_bytes()
        ));
    }

    #[test]
    fn zerocopy_results() {
        let unix = Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        assert!(
            matches!(zerocopy_availability(&unix, "AF_UNIX"), Availability::Unavailable(d) if d.contains("EOPNOTSUPP"))
        );
        let old = Err(std::io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        assert!(
            matches!(zerocopy_availability(&old, "TCP"), Availability::Unavailable(d) if d.contains("4.14"))
        );
        assert!(matches!(
            zerocopy_availability(&Ok(()), "TCP"),
            Availability::Available(_)
        ));
    }

    #[test]
    fn healthy_host_has_no_problems() {
        assert_eq!(problems(&facts()), Vec::new());
    }

    #[test]
    fn paranoid_3_asks_for_the_sysctl() {
        let mut facts = facts();
        facts.perf_event_paranoid = Some(3);
        let reason = "perf_event_paranoid = 3 forbids every perf event without CAP_PERFMON (EACCES): run as root or `sysctl kernel.perf_event_paranoid=1`";
        unavailable(&mut facts, &["cycles", "cycles_user"], reason);
        let problems = problems(&facts);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].what.contains("every perf counter"));
        assert!(problems[0]
            .fix
            .contains("sysctl -w kernel.perf_event_paranoid=1"));

        // The setting does not bind root, so an EACCES there has another
        // cause and is reported as it came.
        facts.perf_capable = Some(true);
        let problems = super::problems(&facts);
        assert!(
            problems
                .iter()
                .all(|p| !p.what.contains("every perf counter")),
            "{problems:?}"
        );
    }

    #[test]
    fn missing_pmu_is_one_problem_with_its_fix() {
        let mut facts = facts();
        let reason = "not supported by this host's PMU (ENOENT): virtual machines often expose none; run on bare metal or enable the guest's virtual PMU";
        unavailable(
            &mut facts,
            &["cycles", "cycles_user", "instructions"],
            reason,
        );
        let problems = problems(&facts);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .what
            .starts_with("cycles, cycles_user, instructions unavailable"));
        assert!(problems[0].what.ends_with("(ENOENT)"));
        assert!(problems[0].fix.contains("bare metal"));
    }

    #[test]
    fn each_missing_piece_names_its_fix() {
        let mut facts = facts();
        facts.optmem_max = Some(20480);
        facts.iproute2 = None;
        facts.netns[1].exists = false;
        facts.io_uring = io_uring_availability(Some("2"), None);
        facts.so_zerocopy_tcp = zerocopy_availability(
            &Err(std::io::Error::from_raw_os_error(libc::ENOPROTOOPT)),
            "TCP",
        );
        let fixes: Vec<String> = problems(&facts).into_iter().map(|p| p.fix).collect();
        for expected in [
            "net.core.optmem_max=131072",
            "apt-get install iproute2",
            "netns-setup.sh up",
            "kernel.io_uring_disabled=0",
            "4.14",
        ] {
            assert!(
                fixes.iter().any(|fix| fix.contains(expected)),
                "{expected}: {fixes:?}"
            );
        }
    }

    #[test]
    fn a_ring_that_cannot_be_made_is_a_problem_with_its_reason() {
        let mut facts = facts();
        let enosys = crate::engine::strategy::explain_setup_error(
            &std::io::Error::from_raw_os_error(libc::ENOSYS),
        );
        facts.uring = ring_availability(&Err(enosys.clone()));
        facts.uring_zc = ring_availability(&Err(enosys));
        let problems = problems(&facts);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].what.contains("seccomp"), "{problems:?}");
        // A kernel with SENDMSG but not SENDMSG_ZC loses uring-zc only.
        let mut facts = self::tests::facts();
        facts.uring_zc = ring_availability(&Err("no IORING_OP_SENDMSG_ZC (6.1)".into()));
        let problems = super::problems(&facts);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].what.starts_with("the uring-zc strategy"));
    }

    #[test]
    fn doctor_on_this_host() {
        let facts = gather();
        let text = render_doctor(&facts);
        for name in CounterPlan::counter_names() {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(text.contains("SO_EE_CODE_ZEROCOPY_COPIED"));
        assert!(text.contains("io_uring ring (uring-zc)"), "{text}");
        // The facts survive the round trip through doctor --json, whole.
        let json = serde_json::to_string(&facts).unwrap();
        let back: HostFacts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, facts);
        // ...and through env.json, with the run's and a server's facts.
        let env = SweepEnv {
            host: std::sync::Arc::new(facts.clone()),
            run: Some(RunFacts {
                command: Some("copybench sweep --quick".into()),
                version: Some("0.1.0".into()),
                started_utc: Some("2026-11-29T17:00:00Z".into()),
                sampling: None,
                default_rcvlowat: None,
                congestion: None,
            }),
            server_addr: Some("127.0.0.1:7000".into()),
            server_host: Some(std::sync::Arc::new(facts.clone())),
        };
        let json = serde_json::to_string_pretty(&env).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        // The host's keys stay at the top level, as before the type.
        assert_eq!(value["kernel"], serde_json::json!(facts.kernel));
        assert_eq!(
            value["so_zerocopy_tcp"]["state"],
            facts.so_zerocopy_tcp.state()
        );
        assert_eq!(serde_json::from_str::<SweepEnv>(&json).unwrap(), env);
    }

    #[test]
    fn a_partial_env_json_reads_with_the_rest_unknown() {
        let env: SweepEnv = serde_json::from_str(r#"{"kernel": "6.1", "cores": 2}"#).unwrap();
        assert_eq!(env.host.kernel.as_deref(), Some("6.1"));
        assert_eq!(env.host.cores, Some(2));
        assert_eq!(env.host.max_skb_frags, None);
        assert!(matches!(env.host.uring_zc, Availability::Unknown(_)));
        assert!(env.host.counters.is_empty() && env.run.is_none());
        assert_eq!(env.counter_reason("cycles"), None);
    }
}
