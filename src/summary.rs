//! What `copybench run` prints: one JSON object (`--json`) or a short table,
//! with every effective option echoed beside the figures so that any of them
//! can be reproduced.
//!
//! The measured part runs as consecutive samples ([`crate::cell`]): counts,
//! times, CPU and counters are totals over the samples; the sampled figures
//! (throughput, messages/s, latency p50/p99, CPU per byte and per message,
//! context switches per message) are the median of the samples, with the
//! 95 % interval of [`crate::stats`] in `intervals` and in the table.

use serde_json::{json, Value};

use crate::cell::{CellRun, Sampled};
use crate::counters::{derived, CounterPlan};
use crate::report::format::number;
use crate::stats::Estimate;
use crate::workload::{BatchReport, Config, CpuTime, RoleStats};

/// How the measured batch was asked for.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    pub warmup_s: f64,
    pub duration_s: Option<f64>,
    pub messages: Option<u64>,
    pub samples: u64,
}

/// Every sampled figure's median and interval: `{NAME: {median, lo, hi, n, coverage}}` (null when not measured).
fn intervals(run: &CellRun) -> Value {
    let mut m = serde_json::Map::new();
    for f in Sampled::ALL {
        m.insert(f.name().into(), json!(run.estimate(f)));
    }
    Value::Object(m)
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

/// One role's counters and the figures derived from them: `{NAME: value or null}`.
pub fn role_counters(r: &BatchReport, role: &RoleStats) -> serde_json::Map<String, Value> {
    let mut out = match role.counters.to_json() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    for (name, v) in derived(&role.counters, r.messages, r.bytes, role.cpu.total_ns) {
        out.insert(name.to_string(), json!(v));
    }
    out
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
    let median = |f: Sampled| run.estimate(f).map(|e| e.median);
    let latency = r.latency_ns.as_ref().map(|_| {
        json!({
            "p50": median(Sampled::LatencyP50Us),
            "p99": median(Sampled::LatencyP99Us),
            "p999": r.latency_us(0.999),
            "max": r.latency_max_us(),
        })
    });
    let zerocopy = r.zerocopy.map(|z| {
        json!({
            "sends": z.sends,
            "completions": z.completions,
            "copied": z.copied,
            "enobufs": z.enobufs,
            "copied_share": z.copied_share(),
        })
    });
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
        "throughput_gbps": median(Sampled::ThroughputGbps),
        "messages_per_sec": median(Sampled::MessagesPerSec),
        "latency_us": latency,
        "samples": run.samples.len(),
        "intervals": intervals(run),
        "cpu": { "client": cpu_json(&r.client.cpu), "server": cpu_json(&r.server.cpu) },
        "zerocopy": zerocopy,
        "counters": {
            "client": role_counters(r, &r.client),
            "server": role_counters(r, &r.server),
            "multiplexed": r.client.counters.multiplexed().into_iter().chain(r.server.counters.multiplexed()).reduce(f64::min),
        },
        "unavailable": unavailable(cfg),
        "options": {
            "warmup_s": plan.warmup_s,
            "duration_s": plan.duration_s,
            "messages": plan.messages,
            "samples": plan.samples,
            "pin": cfg.pin.as_ref().map(|p| json!({"client_cpus": p.client, "server_cpus": p.server})),
            "verify": format!("{:?}", cfg.verify).to_lowercase(),
            "pool_slots": cfg.pool_slots(),
            "counters": cfg.counters,
            "sndbuf": t.sndbuf,
            "rcvbuf": t.rcvbuf,
            "nodelay": t.nodelay && t.kind.name() != "unix",
            "timeout_s": t.timeout.as_secs_f64(),
            "server_ns": (t.kind.name() == "veth").then(|| t.veth.server_ns.clone()),
            "client_ns": (t.kind.name() == "veth").then(|| t.veth.client_ns.clone()),
            "server_addr": (t.kind.name() == "veth").then(|| t.veth.server_addr.to_string()),
        },
    })
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}{unit}"))
}

/// The default, human-readable output: a short aligned table.
pub fn to_table(cfg: &Config, plan: &RunPlan, run: &CellRun) -> String {
    let r = &run.total;
    let e = |f: Sampled, unit: &str| with_interval(run.estimate(f), unit);
    let mut rows: Vec<(String, String)> = vec![
        (
            "cell".into(),
            format!(
                "{} / {} / {}, {} x {} B fields ({} B messages), {} thread(s)",
                cfg.strategy,
                cfg.transport.kind,
                cfg.workload,
                cfg.shape.fields,
                cfg.shape.field_size,
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
                e(Sampled::ThroughputGbps, " Gbit/s"),
                e(Sampled::MessagesPerSec, " messages/s")
            ),
        ),
    ];
    if r.latency_ns.is_some() {
        rows.push((
            "round trip".into(),
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                e(Sampled::LatencyP50Us, " us"),
                e(Sampled::LatencyP99Us, " us"),
                opt(r.latency_us(0.999), " us"),
                opt(r.latency_max_us(), " us")
            ),
        ));
    }
    rows.push((
        "cpu per byte".into(),
        format!(
            "client {}  server {}",
            e(Sampled::ClientCpuNsPerByte, " ns"),
            e(Sampled::ServerCpuNsPerByte, " ns")
        ),
    ));
    rows.push((
        "cpu per message".into(),
        format!(
            "client {}  server {}",
            e(Sampled::ClientCpuNsPerMsg, " ns"),
            e(Sampled::ServerCpuNsPerMsg, " ns")
        ),
    ));
    rows.push(("switches/msg".into(), e(Sampled::ContextSwitchesPerMsg, "")));
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
        ("client counters", &r.client),
        ("server counters", &r.server),
    ] {
        let c = role_counters(r, role);
        let show = |k: &str, unit: &str| match c.get(k).and_then(Value::as_f64) {
            Some(v) => format!("{k} {v:.2}{unit}"),
            None => format!("{k} n/a"),
        };
        let line = [
            show("context_switches", ""),
            show("cpu_ns_per_byte", ""),
            show("cycles_per_byte", ""),
            show("ipc", ""),
            show("cache_miss_rate", ""),
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
    if let Some(z) = r.zerocopy {
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
    }
    if let Some(p) = &cfg.pin {
        rows.push((
            "pinned".into(),
            format!(
                "client threads on CPU {}, server threads on CPU {}",
                crate::workload::Pin::list(&p.client),
                crate::workload::Pin::list(&p.server)
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
