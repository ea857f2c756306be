//! What `copybench run` prints: one JSON object (`--json`) or a short table,
//! with every effective option echoed beside the figures so that any of them
//! can be reproduced.

use serde_json::{json, Value};

use crate::counters::{derived, CounterPlan};
use crate::workload::{BatchReport, Config, CpuTime, RoleStats, SocketBuffers};

/// How the measured batch was asked for.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    pub warmup_s: f64,
    pub duration_s: Option<f64>,
    pub messages: Option<u64>,
    /// The socket buffers as the kernel set them.
    pub buffers: SocketBuffers,
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
pub fn to_json(cfg: &Config, plan: &RunPlan, r: &BatchReport) -> Value {
    let latency = r.latency_ns.as_ref().map(|_| {
        json!({
            "p50": r.latency_us(0.50),
            "p99": r.latency_us(0.99),
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
        "throughput_gbps": r.throughput_gbps(),
        "messages_per_sec": r.messages_per_sec(),
        "latency_us": latency,
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
            "verify": format!("{:?}", cfg.verify).to_lowercase(),
            "pool_slots": cfg.pool_slots(),
            "counters": cfg.counters,
            "sndbuf": t.sndbuf,
            "rcvbuf": t.rcvbuf,
            "sndbuf_effective": plan.buffers.sndbuf,
            "rcvbuf_effective": plan.buffers.rcvbuf,
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
pub fn to_table(cfg: &Config, plan: &RunPlan, r: &BatchReport) -> String {
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
                "{:.3} s after {:.1} s warm-up, {} messages, {} bytes verified",
                r.seconds, plan.warmup_s, r.messages, r.bytes
            ),
        ),
        (
            "throughput".into(),
            format!(
                "{:.3} Gbit/s, {:.0} messages/s",
                r.throughput_gbps(),
                r.messages_per_sec()
            ),
        ),
    ];
    if r.latency_ns.is_some() {
        rows.push((
            "round trip".into(),
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                opt(r.latency_us(0.5), " us"),
                opt(r.latency_us(0.99), " us"),
                opt(r.latency_us(0.999), " us"),
                opt(r.latency_max_us(), " us")
            ),
        ));
    }
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
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}
