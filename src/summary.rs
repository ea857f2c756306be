//! What `copybench run` prints: one JSON object (`--json`) or a short table,
//! with every effective option echoed beside the figures so that any of them
//! can be reproduced.
//!
//! The measured part runs as consecutive samples ([`crate::cell`]): counts,
//! times, CPU and counters are totals over the samples; the sampled figures
//! ([`crate::figures::SAMPLED`]: throughput, messages/s, latency p50/p99, CPU
//! per byte and per message, context switches per message) are the median of
//! the samples, with the 95 % interval of [`crate::stats`] in `intervals` and
//! in the table.

use serde_json::{json, Value};

use crate::cell::CellRun;
use crate::config::{Config, Pin};
use crate::counters::CounterPlan;
use crate::error::Role;
use crate::experiment::SocketBuffers;
use crate::figures::BatchReport;
use crate::figures::CpuTime;
use crate::figures::{self, Counter, Figure, RoleFigure, SAMPLED};
use crate::report::format::number;
use crate::stats::Estimate;
use crate::strategy::ZeroCopyStats;
use crate::transport::TransportKind;

/// How the measured batch was asked for.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    pub warmup_s: f64,
    pub duration_s: Option<f64>,
    pub messages: Option<u64>,
    pub samples: u64,
    /// The socket buffers as the kernel set them.
    pub buffers: SocketBuffers,
}

/// Every sampled figure's median and interval: `{NAME: {median, lo, hi, n,
/// coverage}}` (null when not measured).
fn intervals(run: &CellRun) -> Value {
    SAMPLED
        .iter()
        .map(|&f| (f.column().to_string(), json!(run.estimate(f))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `12.3 [12.1–12.6]`, or `n/a`.
fn with_interval(e: Option<Estimate>, unit: &str) -> String {
    match e {
        Some(e) if e.n > 1 => format!(
            "{}{unit} [{}–{}]",
            number(e.median),
            number(e.lo),
            number(e.hi)
        ),
        Some(e) => format!("{}{unit}", number(e.median)),
        None => "n/a".into(),
    }
}

fn cpu_json(c: &CpuTime) -> Value {
    json!({ "user_ns": c.user_ns, "sys_ns": c.sys_ns, "total_ns": c.total_ns })
}

/// One role's counters and the figures derived from them: `{NAME: value or
/// null}`, the names and values of [`figures::role_figures`].
pub fn role_counters(r: &BatchReport, role: Role) -> serde_json::Map<String, Value> {
    figures::role_figures(r, role)
        .into_iter()
        .map(|(f, v)| (f.name().to_string(), json!(v)))
        .collect()
}

/// Completion figures of a buffer-lending strategy (see `reports/README.md`).
pub fn zerocopy_json(z: &ZeroCopyStats) -> Value {
    json!({
        "sends": z.sends,
        "completions": z.completions,
        "copied": z.copied,
        "enobufs": z.enobufs,
        "copied_share": z.copied_share(),
        "notifications": z.notifications,
        "sends_per_notification": z.sends_per_notification(),
        "max_in_flight": z.max_in_flight,
        "reclaim_waits": z.reclaim_waits,
        "reclaim_wait_ms": z.reclaim_wait_ms(),
        "fragments_per_send": z.fragments_per_send(),
        "max_fragments": z.max_fragments,
        "completion_delay_us": {
            "p50": z.delay_us(0.5),
            "p99": z.delay_us(0.99),
            "timed_sends": z.delay_ns.len(),
        },
    })
}

/// Why a cell has no completion figures.
pub fn no_completions(cfg: &Config) -> String {
    format!(
        "{} copies the message into the kernel's own buffers: there are no completions to count",
        cfg.strategy
    )
}

/// Every counter that has no value in this run, with why.
fn unavailable(cfg: &Config) -> std::collections::BTreeMap<String, String> {
    if cfg.counters {
        CounterPlan::probe().unavailable()
    } else {
        let why = "not counted: counters were turned off (--no-counters)";
        CounterPlan::counter_names()
            .iter()
            .map(|n| (n.to_string(), why.to_string()))
            .collect()
    }
}

/// The `--json` object. Keys other tools read: strategy, transport, workload,
/// field_size, fields, message_bytes, threads, seconds, messages, bytes,
/// throughput_gbps, messages_per_sec, latency_us, cpu, zerocopy.
pub fn to_json(cfg: &Config, plan: &RunPlan, run: &CellRun) -> Value {
    let r = &run.total;
    let median = |f: Figure| run.estimate(f).map(|e| e.median);
    let latency = r.latency_ns.as_ref().map(|_| {
        json!({
            "p50": median(Figure::LatencyP50Us),
            "p99": median(Figure::LatencyP99Us),
            "p999": r.latency_us(0.999),
            "max": r.latency_max_us(),
        })
    });
    let zerocopy = r.zerocopy.as_ref().map(zerocopy_json);
    let t = &cfg.transport;
    json!({
        "strategy": cfg.strategy.name(),
        "transport": t.kind.name(),
        "workload": cfg.workload.name(),
        "field_size": cfg.shape.field_size,
        "fields": cfg.shape.fields,
        "message_bytes": cfg.shape.message_bytes(),
        "threads": cfg.threads,
        "seconds": r.seconds,
        "messages": r.messages,
        "bytes": r.bytes,
        "throughput_gbps": median(Figure::ThroughputGbps),
        "messages_per_sec": median(Figure::MessagesPerSec),
        "latency_us": latency,
        "samples": run.samples.len(),
        "intervals": intervals(run),
        "cpu": { "client": cpu_json(&r.client.cpu), "server": cpu_json(&r.server.cpu) },
        "zerocopy": zerocopy,
        "zerocopy_unavailable": r.zerocopy.is_none().then(|| no_completions(cfg)),
        "counters": {
            "client": role_counters(r, Role::Client),
            "server": role_counters(r, Role::Server),
            "multiplexed": r.client.counters.multiplexed().into_iter().chain(r.server.counters.multiplexed()).reduce(f64::min),
        },
        "unavailable": unavailable(cfg),
        "figures": figures_json(r),
        "options": {
            "warmup_s": plan.warmup_s,
            "duration_s": plan.duration_s,
            "messages": plan.messages,
            "samples": plan.samples,
            "pin": cfg.pin.as_ref().map(|p| json!({"client_cpus": p.client, "server_cpus": p.server})),
            "verify": format!("{:?}", cfg.verify).to_lowercase(),
            "pool_slots": cfg.pool_slots(),
            "layout": cfg.layout.name(),
            "counters": cfg.counters,
            "sndbuf": t.sndbuf,
            "rcvbuf": t.rcvbuf,
            "sndbuf_effective": plan.buffers.sndbuf,
            "rcvbuf_effective": plan.buffers.rcvbuf,
            "nodelay": t.nodelay && t.kind != TransportKind::Unix,
            "timeout_s": t.timeout.as_secs_f64(),
            "server_ns": (t.kind == TransportKind::Veth).then(|| t.veth.server_ns.clone()),
            "client_ns": (t.kind == TransportKind::Veth).then(|| t.veth.client_ns.clone()),
            "server_addr": (t.kind == TransportKind::Veth).then(|| t.veth.server_addr.to_string()),
        },
    })
}

/// Every figure of the batch under its `results.csv` column name (whole
/// counts as integers, the unmeasured as `null`): the `figures` object.
fn figures_json(r: &BatchReport) -> Value {
    figures::Figure::all()
        .into_iter()
        .map(|f| {
            let v = match f.of(r) {
                Some(v) if f.whole() => json!(v as u64),
                v => json!(v),
            };
            (f.column().to_string(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}{unit}"))
}

/// The default, human-readable output: a short aligned table.
pub fn to_table(cfg: &Config, plan: &RunPlan, run: &CellRun) -> String {
    let r = &run.total;
    let e = |f: Figure, unit: &str| with_interval(run.estimate(f), unit);
    let role = |role: Role, f: RoleFigure, unit: &str| e(Figure::Role(role, f), unit);
    let mut rows: Vec<(String, String)> = vec![
        (
            "cell".into(),
            format!(
                "{} / {} / {}, {} x {} B fields ({} B messages, {} layout), {} thread(s)",
                cfg.strategy,
                cfg.transport.kind,
                cfg.workload,
                cfg.shape.fields,
                cfg.shape.field_size,
                cfg.layout,
                cfg.shape.message_bytes(),
                cfg.threads
            ),
        ),
        (
            "measured".into(),
            format!(
                "{:.3} s after {:.1} s warm-up, {} messages, {} bytes verified, {} samples",
                r.seconds,
                plan.warmup_s,
                r.messages,
                r.bytes,
                run.samples.len()
            ),
        ),
        (
            "throughput".into(),
            format!(
                "{}, {}",
                e(Figure::ThroughputGbps, " Gbit/s"),
                e(Figure::MessagesPerSec, " messages/s")
            ),
        ),
    ];
    if r.latency_ns.is_some() {
        rows.push((
            "round trip".into(),
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                e(Figure::LatencyP50Us, " us"),
                e(Figure::LatencyP99Us, " us"),
                opt(r.latency_us(0.999), " us"),
                opt(r.latency_max_us(), " us")
            ),
        ));
    }
    rows.push((
        "cpu per byte".into(),
        format!(
            "client {}  server {}",
            role(Role::Client, RoleFigure::CpuNsPerByte, " ns"),
            role(Role::Server, RoleFigure::CpuNsPerByte, " ns")
        ),
    ));
    rows.push((
        "cpu per message".into(),
        format!(
            "client {}  server {}",
            role(Role::Client, RoleFigure::CpuNsPerMsg, " ns"),
            role(Role::Server, RoleFigure::CpuNsPerMsg, " ns")
        ),
    ));
    rows.push(("switches/msg".into(), e(Figure::ContextSwitchesPerMsg, "")));
    for (name, s) in [("client cpu", &r.client), ("server cpu", &r.server)] {
        let per_msg = if r.messages > 0 {
            s.cpu.total_ns as f64 / r.messages as f64
        } else {
            f64::NAN
        };
        rows.push((
            name.into(),
            format!(
                "user {:.1} ms  sys {:.1} ms  ({:.0} ns/message)",
                s.cpu.user_ns as f64 / 1e6,
                s.cpu.sys_ns as f64 / 1e6,
                per_msg
            ),
        ));
    }
    for (name, role) in [
        ("client counters", Role::Client),
        ("server counters", Role::Server),
    ] {
        let show = |f: RoleFigure| match figures::Figure::Role(role, f).of(r) {
            Some(v) => format!("{} {v:.2}", f.name()),
            None => format!("{} n/a", f.name()),
        };
        let line = [
            show(RoleFigure::Counter(Counter::ContextSwitches)),
            show(RoleFigure::CpuNsPerByte),
            show(RoleFigure::CyclesPerByte),
            show(RoleFigure::Ipc),
            show(RoleFigure::CacheMissRate),
        ];
        rows.push((name.into(), line.join("  ")));
    }
    let unavailable = unavailable(cfg);
    if !unavailable.is_empty() {
        let names: Vec<&str> = unavailable.keys().map(String::as_str).collect();
        let reason = unavailable
            .get("cycles")
            .or_else(|| unavailable.values().next())
            .cloned()
            .unwrap_or_default();
        rows.push((
            "n/a".into(),
            format!(
                "{} counters unavailable ({}...): {reason}",
                names.len(),
                names[0]
            ),
        ));
    }
    if let Some(z) = &r.zerocopy {
        let share = z
            .copied_share()
            .map_or("n/a".into(), |s| format!("{:.0}%", s * 100.0));
        rows.push((
            "zero-copy".into(),
            format!(
                "{} sends, {} completions, {} copied by the kernel ({share}), {} ENOBUFS retries",
                z.sends, z.completions, z.copied, z.enobufs
            ),
        ));
        let us = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1} us"));
        rows.push((
            "completions".into(),
            format!(
                "delay p50 {} p99 {}, {} sends per notification, at most {} in flight, {} reclaim waits ({:.1} ms), {} fragments per send",
                us(z.delay_us(0.5)),
                us(z.delay_us(0.99)),
                opt(z.sends_per_notification(), ""),
                z.max_in_flight,
                z.reclaim_waits,
                z.reclaim_wait_ms(),
                opt(z.fragments_per_send(), ""),
            ),
        ));
    }
    if let Some(p) = &cfg.pin {
        rows.push((
            "pinned".into(),
            format!(
                "client threads on CPU {}, server threads on CPU {}",
                Pin::list(&p.client),
                Pin::list(&p.server)
            ),
        ));
    }
    rows.push((
        "intervals".into(),
        format!(
            "[lo–hi]: 95 % order-statistic interval of the median of {} samples{}",
            run.samples.len(),
            if run.samples.len() < crate::stats::MIN_SAMPLES {
                " (fewer than 6: min–max, below 95 %)"
            } else {
                ""
            }
        ),
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}
