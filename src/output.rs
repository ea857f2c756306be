//! What `copybench run` prints: one JSON object (`--json`) or a short table,
//! with every effective option echoed beside the figures so that any of them
//! can be reproduced. Both are derived from the measured cell, a
//! [`CellResult`] (config, samples, total, host facts), and the [`RunPlan`]
//! that asked for it.
//!
//! The measured part runs as consecutive samples ([`crate::engine::cell`]): counts,
//! times, CPU and counters are totals over the samples; the sampled figures
//! ([`crate::model::figures::SAMPLED`]: throughput, messages/s, latency p50/p99, CPU
//! per byte and per message, context switches per message) are the median of
//! the samples, with the 95 % interval of [`crate::model::stats`] in `intervals` and
//! in the table.

use serde_json::{json, Value};

use crate::engine::cell::CellResult;
use crate::engine::config::{Config, Pin};
use crate::engine::counters::CounterPlan;
use crate::engine::experiment::SocketBuffers;
use crate::model::figures::{Counter, Figure, RoleFigure, SAMPLED};
use crate::model::kinds::Role;
use crate::model::kinds::TransportKind;
use crate::model::measured::{BatchReport, CpuTime};
use crate::model::stats::Estimate;
use crate::report::format::number;

/// How the measured batch was asked for.
#[derive(Debug, Clone)]
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
fn intervals(run: &CellResult) -> Value {
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

/// A role's CPU time under the field names of [`CpuTime`] (`user_ns`,
/// `sys_ns`, `total_ns`).
fn cpu_json(c: &CpuTime) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// One role's counters and the figures derived from them: `{NAME: value or
/// null}`, the names and values of [`crate::model::measured::role_figures`].
fn role_counters(r: &BatchReport, role: Role) -> serde_json::Map<String, Value> {
    crate::model::measured::role_figures(r, role)
        .into_iter()
        .map(|(f, v)| (f.name().to_string(), json!(v)))
        .collect()
}

/// Why a cell has no completion figures.
pub fn no_completions(cfg: &Config) -> String {
    format!(
        "{} copies the message into the kernel's own buffers: there are no completions to count",
        cfg.strategy
    )
}

/// Every counter that has no value in this run, with why: as the facts of
/// the cell's host (this process's, which counts both roles' threads here or
/// the client's with `--connect`) say, or that counters were turned off.
fn unavailable(cell: &CellResult) -> std::collections::BTreeMap<String, String> {
    let off =
        (!cell.config.counters).then_some("not counted: counters were turned off (--no-counters)");
    CounterPlan::counter_names()
        .iter()
        .filter_map(|&name| {
            let why = match (off, cell.host.counters.get(name)) {
                (Some(off), _) => off.to_string(),
                (None, Some(status)) => status.reason.clone()?,
                (None, None) => "not recorded in this cell's host facts".to_string(),
            };
            Some((name.to_string(), why))
        })
        .collect()
}

/// Where a cell-level figure also shows in the nested views of the `--json`
/// object, derived from its `results.csv` column by one rule each:
/// `latency_{q}_us` → `latency_us.{q}`; `zc_delay_{q}_us` →
/// `zerocopy.completion_delay_us.{q}`, with the count of timed sends beside
/// them (`zc_timed_sends` → `zerocopy.completion_delay_us.timed_sends`); any
/// other `zc_{k}` → `zerocopy.{k}`; any other figure → the top level under
/// its column name (`elapsed_s` there keeps its old name, `seconds`).
/// Per-role figures have their own views (`cpu`, `counters`).
#[derive(Debug, PartialEq)]
enum JsonPlace {
    Top(&'static str),
    Latency(&'static str),
    ZeroCopy(&'static str),
    CompletionDelay(&'static str),
}

fn place_of(f: Figure) -> Option<JsonPlace> {
    let column = f.column();
    if let Figure::Role(..) = f {
        return None;
    }
    if f == Figure::ElapsedS {
        return Some(JsonPlace::Top("seconds"));
    }
    if let Some(q) = column
        .strip_prefix("latency_")
        .and_then(|c| c.strip_suffix("_us"))
    {
        return Some(JsonPlace::Latency(q));
    }
    if let Some(k) = column.strip_prefix("zc_") {
        if f == Figure::ZcTimedSends {
            return Some(JsonPlace::CompletionDelay(k));
        }
        return Some(
            match k.strip_prefix("delay_").and_then(|k| k.strip_suffix("_us")) {
                Some(q) => JsonPlace::CompletionDelay(q),
                None => JsonPlace::ZeroCopy(k),
            },
        );
    }
    Some(JsonPlace::Top(column))
}

/// A figure's value in JSON: whole counts as integers, the unmeasured as `null`.
fn figure_value(f: Figure, v: Option<f64>) -> Value {
    match v {
        Some(v) if f.whole() => json!(v as u64),
        v => json!(v),
    }
}

/// [`figure_value`] of the figure in one report.
fn figure_json(f: Figure, r: &BatchReport) -> Value {
    figure_value(f, f.of(r))
}

/// The `--json` object of a measured cell. Keys other tools read: strategy,
/// transport, workload, field_size, fields, message_bytes, threads, seconds,
/// messages, bytes, throughput_gbps, messages_per_sec, latency_us, cpu,
/// zerocopy; with a server (`--connect`), `server` (its address) and `hosts
/// {client, server}` (the cell's host facts, `null` when not sent).
///
/// `figures` is the canonical, flat object (every figure under its
/// `results.csv` column, totals over the samples); the measured keys beside
/// it (the top-level figures, `latency_us`, `cpu`, `counters`) are views
/// derived from the figures model by [`place_of`], [`CpuTime`]'s fields and
/// [`crate::model::measured::role_figures`], not a second list of names. In the views a
/// [`SAMPLED`] figure is the median of the samples (its interval is in
/// `intervals`), any other the total's.
pub fn to_json(run: &CellResult, plan: &RunPlan) -> Value {
    let (cfg, r) = (&run.config, &run.total);
    let value = |f: Figure| {
        if SAMPLED.contains(&f) {
            figure_value(f, run.estimate(f).map(|e| e.median))
        } else {
            figure_json(f, r)
        }
    };
    let mut top = serde_json::Map::new();
    let mut latency = serde_json::Map::new();
    let mut zerocopy = serde_json::Map::new();
    let mut delay = serde_json::Map::new();
    for f in Figure::all() {
        let key = |k: &str| k.to_string();
        match place_of(f) {
            Some(JsonPlace::Top(k)) => top.insert(key(k), value(f)),
            Some(JsonPlace::Latency(k)) => latency.insert(key(k), value(f)),
            Some(JsonPlace::ZeroCopy(k)) => zerocopy.insert(key(k), value(f)),
            Some(JsonPlace::CompletionDelay(k)) => delay.insert(key(k), value(f)),
            None => None,
        };
    }
    zerocopy.insert("completion_delay_us".into(), delay.into());
    // A view of what was not measured at all (latency for stream, zero-copy
    // bookkeeping for another strategy) is null, not an object of nulls.
    let latency = r.latency_ns.as_ref().map(|_| latency);
    let zerocopy = r.zerocopy.as_ref().map(|_| zerocopy);
    let t = &cfg.transport;
    let options = json!({
        "warmup_s": plan.warmup_s,
        "duration_s": plan.duration_s,
        "messages": plan.messages,
        "samples": plan.samples,
        "pin": cfg.pin.as_ref().map(|p| json!({"client_cpus": p.client, "server_cpus": p.server})),
        "verify": format!("{:?}", cfg.verify).to_lowercase(),
        "pool_slots": cfg.pool_slots(),
        "layout": cfg.layout.name(),
        "receive": cfg.receive.name(),
        "rcvlowat": cfg.rcvlowat,
        "maxseg": t.maxseg,
        "mss_effective": plan.buffers.mss,
        "rcvlowat_default": plan.buffers.default_rcvlowat,
        "counters": cfg.counters,
        "sndbuf": t.sndbuf,
        "rcvbuf": t.rcvbuf,
        "congestion": t.congestion,
        "congestion_effective": plan.buffers.congestion,
        "sndbuf_effective": plan.buffers.sndbuf,
        "rcvbuf_effective": plan.buffers.rcvbuf,
        "nodelay": t.nodelay && t.kind != TransportKind::Unix,
        "timeout_s": t.timeout.as_secs_f64(),
        "server_ns": (t.kind == TransportKind::Veth).then(|| t.veth.server_ns.clone()),
        "client_ns": (t.kind == TransportKind::Veth).then(|| t.veth.client_ns.clone()),
        "server_addr": (t.kind == TransportKind::Veth).then(|| t.veth.server_addr.to_string()),
    });
    let mut out = json!({
        "strategy": cfg.strategy.name(),
        "transport": t.kind.name(),
        "workload": cfg.workload.name(),
        "field_size": cfg.shape.field_size,
        "fields": cfg.shape.fields,
        "message_bytes": cfg.shape.message_bytes(),
        "threads": cfg.threads,
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
        "unavailable": unavailable(run),
        "figures": figures_json(r),
        "options": options,
    });
    if let Value::Object(map) = &mut out {
        map.extend(top);
        if let Some(addr) = t.server {
            map.insert("server".into(), addr.to_string().into());
            map.insert(
                "hosts".into(),
                json!({ "client": run.host, "server": run.server_host }),
            );
        }
    }
    out
}

/// Every figure of the batch under its `results.csv` column name (whole
/// counts as integers, the unmeasured as `null`): the `figures` object.
fn figures_json(r: &BatchReport) -> Value {
    Figure::all()
        .into_iter()
        .map(|f| (f.column().to_string(), figure_json(f, r)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}{unit}"))
}

/// The default, human-readable output: a short aligned table; with a server
/// (`--connect`), its address and facts last.
pub fn to_table(run: &CellResult, plan: &RunPlan) -> String {
    let (cfg, r) = (&run.config, &run.total);
    // Each figure with its interval and the unit the figures table gives it.
    let e = |f: Figure| with_interval(run.estimate(f), &format!(" {}", f.unit()));
    let total = |f: Figure| opt(f.of(r), &format!(" {}", f.unit()));
    let role = |role: Role, f: RoleFigure| e(Figure::Role(role, f));
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
                cfg.shape.message_bytes(),
                cfg.layout,
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
                e(Figure::ThroughputGbps),
                e(Figure::MessagesPerSec)
            ),
        ),
    ];
    if r.latency_ns.is_some() {
        rows.push((
            "round trip".into(),
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                e(Figure::LatencyP50Us),
                e(Figure::LatencyP99Us),
                total(Figure::LatencyP999Us),
                total(Figure::LatencyMaxUs)
            ),
        ));
    }
    rows.push((
        "cpu per byte".into(),
        format!(
            "client {}  server {}",
            role(Role::Client, RoleFigure::CpuNsPerByte),
            role(Role::Server, RoleFigure::CpuNsPerByte)
        ),
    ));
    rows.push((
        "cpu per message".into(),
        format!(
            "client {}  server {}",
            role(Role::Client, RoleFigure::CpuNsPerMsg),
            role(Role::Server, RoleFigure::CpuNsPerMsg)
        ),
    ));
    rows.push((
        Figure::ContextSwitchesPerMsg.caption(),
        e(Figure::ContextSwitchesPerMsg),
    ));
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
        let show = |f: RoleFigure| match Figure::Role(role, f).of(r) {
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
    let unavailable = unavailable(run);
    if !unavailable.is_empty() {
        let names: Vec<&str> = unavailable.keys().map(String::as_str).collect();
        let reason = unavailable
            .get(Counter::Cycles.name())
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
    if r.zerocopy.is_some() {
        // Every figure of the table's zerocopy section, five to a line.
        let shown: Vec<String> = Figure::ZEROCOPY
            .iter()
            .map(|&f| {
                let v = match f.of(r) {
                    Some(v) if f.unit() == "share" => format!("{}%", number(v * 100.0)),
                    Some(v) => number(v),
                    None => "n/a".into(),
                };
                format!("{} {v}", f.caption())
            })
            .collect();
        for (i, line) in shown.chunks(5).enumerate() {
            let key = if i == 0 { "zero-copy" } else { "" };
            rows.push((key.into(), line.join(", ")));
        }
    }
    if let Some(cc) = &plan.buffers.congestion {
        rows.push((
            "congestion".into(),
            match &cfg.transport.congestion {
                Some(_) => format!("{cc} (--congestion)"),
                None => format!("{cc} (this host's default; --congestion chooses)"),
            },
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
            if run.samples.len() < crate::model::stats::MIN_SAMPLES {
                " (fewer than 6: min–max, below 95 %)"
            } else {
                ""
            }
        ),
    ));
    if let Some(addr) = cfg.transport.server {
        let host = run.server_host.as_deref();
        let fact = |f: Option<String>| f.unwrap_or_else(|| "n/a".into());
        rows.push((
            "server".into(),
            format!(
                "{addr}: kernel {}, {}, {} cores",
                fact(host.and_then(|h| h.kernel.clone())),
                fact(host.and_then(|h| h.cpu_model.clone())),
                fact(host.and_then(|h| h.cores).map(|n| n.to_string()))
            ),
        ));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::message::Shape;
    use crate::model::kinds::StrategyKind;
    use crate::model::kinds::WorkloadKind;
    use crate::model::measured::RoleStats;
    use crate::model::measured::ZeroCopyStats;

    #[test]
    fn the_nested_views_are_the_figures_under_derived_keys() {
        let cfg = Config::new(
            StrategyKind::ZeroCopy,
            TransportKind::Loopback,
            WorkloadKind::Rr,
            Shape {
                fields: 2,
                field_size: 64,
            },
        );
        let mut latency = hdrhistogram::Histogram::new(3).unwrap();
        latency.record(5_000).unwrap();
        let r = BatchReport {
            rx: None,
            seconds: 0.5,
            messages: 10,
            bytes: 1280,
            latency_ns: Some(latency),
            client: RoleStats::default(),
            server: RoleStats::default(),
            zerocopy: Some(ZeroCopyStats {
                sends: 10,
                completions: 9,
                copied: 9,
                enobufs: 1,
                ..ZeroCopyStats::default()
            }),
        };
        let plan = RunPlan {
            warmup_s: 0.1,
            duration_s: None,
            messages: Some(10),
            samples: 1,
            buffers: crate::engine::experiment::SocketBuffers {
                sndbuf: Some(1 << 20),
                rcvbuf: Some(1 << 20),
                mss: None,
                default_rcvlowat: None,
                congestion: None,
            },
        };
        // One sample: its medians are its own figures, so every view equals
        // the flat object.
        let host = std::sync::Arc::new(crate::model::host::HostFacts::default());
        let run = CellResult::new(cfg.clone(), vec![r.clone()], true, host.clone());
        let v = to_json(&run, &plan);
        let flat = &v["figures"];
        let mut top = 0;
        for f in Figure::all() {
            let want = &flat[f.column()];
            assert!(!want.is_null() || f.of(&r).is_none(), "{}", f.column());
            match place_of(f) {
                Some(JsonPlace::Top(k)) => {
                    top += 1;
                    assert_eq!(&v[k], want, "{k}");
                }
                Some(JsonPlace::Latency(k)) => assert_eq!(&v["latency_us"][k], want, "{k}"),
                Some(JsonPlace::ZeroCopy(k)) => assert_eq!(&v["zerocopy"][k], want, "{k}"),
                // The delay (and the count of timed sends) sit in completion_delay_us.
                Some(JsonPlace::CompletionDelay(k)) => {
                    assert!(v["zerocopy"]["completion_delay_us"].get(k).is_some(), "{k}");
                    assert_eq!(&v["zerocopy"]["completion_delay_us"][k], want, "{k}");
                }
                None => assert!(matches!(f, Figure::Role(..))),
            }
        }
        // No figure's top-level key replaced another key.
        let others = [
            "strategy",
            "transport",
            "workload",
            "field_size",
            "fields",
            "message_bytes",
            "threads",
            "samples",
            "intervals",
            "latency_us",
            "cpu",
            "zerocopy",
            "zerocopy_unavailable",
            "counters",
            "unavailable",
            "figures",
            "options",
        ];
        assert_eq!(v.as_object().unwrap().len(), others.len() + top);
        assert_eq!(v["strategy"], "zero-copy");
        // The keys other tools read, with the values they always had.
        assert_eq!(v["seconds"], 0.5);
        assert_eq!(v["messages"], 10);
        assert_eq!(v["bytes"], 1280);
        assert_eq!(v["messages_per_sec"], 20.0);
        assert!(v["throughput_gbps"].is_f64());
        for q in ["p50", "p99", "p999", "max"] {
            assert!(v["latency_us"][q].as_f64().unwrap() > 4.9, "{q}");
        }
        assert_eq!(v["zerocopy"]["sends"], 10);
        assert_eq!(v["zerocopy"]["completions"], 9);
        assert_eq!(v["zerocopy"]["copied"], 9);
        assert_eq!(v["zerocopy"]["enobufs"], 1);
        assert_eq!(v["zerocopy"]["copied_share"], 1.0);
        assert_eq!(
            v["cpu"]["client"],
            json!({ "user_ns": 0, "sys_ns": 0, "total_ns": 0 })
        );
        // A view of something not measured is null, not an object of nulls.
        let stream = BatchReport {
            latency_ns: None,
            zerocopy: None,
            rx: None,
            ..r
        };
        let stream_cfg = Config {
            workload: WorkloadKind::Stream,
            ..cfg
        };
        let run = CellResult::new(stream_cfg, vec![stream], true, host);
        let v = to_json(&run, &plan);
        assert!(v["latency_us"].is_null() && v["zerocopy"].is_null());
    }

    /// What `run --json` printed as `zerocopy` when it was a hand-written
    /// object (issue 12's `zerocopy_json`), kept here as the reference.
    fn hand_written_zerocopy(z: &ZeroCopyStats) -> Value {
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

    #[test]
    fn the_zerocopy_object_is_the_tables_zerocopy_section() {
        let cfg = Config::new(
            StrategyKind::ZeroCopy,
            TransportKind::Loopback,
            WorkloadKind::Stream,
            Shape {
                fields: 4,
                field_size: 4096,
            },
        );
        let plan = RunPlan {
            warmup_s: 0.1,
            duration_s: Some(1.0),
            messages: None,
            samples: 1,
            buffers: crate::engine::experiment::SocketBuffers {
                sndbuf: None,
                rcvbuf: None,
                mss: None,
                default_rcvlowat: None,
                congestion: None,
            },
        };
        let mut z = ZeroCopyStats {
            sends: 40,
            completions: 38,
            copied: 19,
            enobufs: 2,
            notifications: 7,
            max_in_flight: 12,
            reclaim_waits: 3,
            reclaim_wait_ns: 1_500_000,
            ..ZeroCopyStats::default()
        };
        for _ in 0..4 {
            z.message(5);
        }
        for ns in [20_000, 35_000, 90_000] {
            z.delay_ns.record(ns).unwrap();
        }
        let r = BatchReport {
            rx: None,
            seconds: 1.0,
            messages: 4,
            bytes: 4 * 4096 * 4,
            latency_ns: None,
            client: RoleStats::default(),
            server: RoleStats::default(),
            zerocopy: Some(z.clone()),
        };
        let host = std::sync::Arc::new(crate::model::host::HostFacts::default());
        let run = CellResult::new(cfg, vec![r], true, host);
        let v = to_json(&run, &plan);
        // Every key it had, with the same value (and integer/float type) as
        // before; a figure added to the section adds a key, checked below.
        let (got, want) = (&v["zerocopy"], hand_written_zerocopy(&z));
        for (k, w) in want.as_object().unwrap() {
            match w.as_object() {
                Some(inner) => {
                    for (q, wq) in inner {
                        assert_eq!(&got[k][q], wq, "{k}.{q}");
                    }
                }
                None => assert_eq!(&got[k], w, "{k}"),
            }
        }
        // Every figure of the zerocopy section, and nothing else, is in it:
        // a figure added to the section shows with no edit here.
        let mut leaves = Vec::new();
        for (k, value) in v["zerocopy"].as_object().unwrap() {
            match value.as_object() {
                Some(inner) => leaves.extend(inner.keys().map(|q| format!("{k}.{q}"))),
                None => leaves.push(k.clone()),
            }
        }
        assert_eq!(leaves.len(), Figure::ZEROCOPY.len(), "{leaves:?}");
        for &f in Figure::ZEROCOPY {
            let at = match place_of(f) {
                Some(JsonPlace::ZeroCopy(k)) => &v["zerocopy"][k],
                Some(JsonPlace::CompletionDelay(k)) => &v["zerocopy"]["completion_delay_us"][k],
                other => panic!("{f:?} shows as {other:?}, not in zerocopy"),
            };
            assert_eq!(at, &v["figures"][f.column()], "{f:?}");
        }
        // No other figure lands in zerocopy.
        for f in Figure::all() {
            let nested = matches!(
                place_of(f),
                Some(JsonPlace::ZeroCopy(_) | JsonPlace::CompletionDelay(_))
            );
            assert_eq!(nested, Figure::ZEROCOPY.contains(&f), "{f:?}");
        }
    }

    #[test]
    fn a_connect_cell_shows_its_server_and_both_hosts_facts() {
        use crate::model::host::{CounterStatus, HostFacts};
        use std::sync::Arc;
        let mut cfg = Config::new(
            StrategyKind::OneCopy,
            TransportKind::Tcp,
            WorkloadKind::Stream,
            Shape {
                fields: 1,
                field_size: 64,
            },
        );
        let r = BatchReport {
            seconds: 0.5,
            messages: 10,
            bytes: 640,
            latency_ns: None,
            client: RoleStats::default(),
            server: RoleStats::default(),
            zerocopy: None,
            rx: None,
        };
        let plan = RunPlan {
            warmup_s: 0.0,
            duration_s: Some(0.5),
            messages: None,
            samples: 1,
            buffers: crate::engine::experiment::SocketBuffers {
                sndbuf: None,
                rcvbuf: None,
                mss: None,
                default_rcvlowat: None,
                congestion: None,
            },
        };
        let status = |reason: Option<&str>| CounterStatus {
            available: reason.is_none(),
            reason: reason.map(str::to_string),
            note: None,
        };
        let mut here = HostFacts {
            kernel: Some("6.18.0-here".into()),
            ..HostFacts::default()
        };
        here.counters
            .insert("cycles".into(), status(Some("no PMU on this host")));
        here.counters
            .insert("context_switches".into(), status(None));
        let server = HostFacts {
            kernel: Some("6.1.0-remote".into()),
            cores: Some(4),
            ..HostFacts::default()
        };
        // A local cell: no server, no hosts; a counter is unavailable as the
        // cell's host facts say, and one they do not mention says so.
        let local = CellResult::new(cfg.clone(), vec![r.clone()], true, Arc::new(here.clone()));
        let v = to_json(&local, &plan);
        assert!(v.get("server").is_none() && v.get("hosts").is_none(), "{v}");
        assert_eq!(v["unavailable"]["cycles"], "no PMU on this host");
        assert!(v["unavailable"].get("context_switches").is_none());
        assert_eq!(
            v["unavailable"]["page_faults"],
            "not recorded in this cell's host facts"
        );
        // The table's server line (not its `server cpu` / `server counters`).
        let server_line = |table: String| {
            table.lines().find_map(|l| {
                let rest = l.strip_prefix("server")?.trim_start();
                rest.starts_with("198.18.0.10").then(|| rest.to_string())
            })
        };
        assert_eq!(server_line(to_table(&local, &plan)), None);
        // The same cell with its server ends on a `copybench serve`.
        cfg.transport.server = Some("198.18.0.10:7202".parse().unwrap());
        let remote = CellResult {
            server_host: Some(Arc::new(server.clone())),
            ..CellResult::new(cfg.clone(), vec![r.clone()], true, Arc::new(here.clone()))
        };
        let v = to_json(&remote, &plan);
        assert_eq!(v["server"], "198.18.0.10:7202");
        assert_eq!(v["hosts"]["client"], serde_json::to_value(&here).unwrap());
        assert_eq!(v["hosts"]["server"], serde_json::to_value(&server).unwrap());
        assert_eq!(
            server_line(to_table(&remote, &plan)).as_deref(),
            Some("198.18.0.10:7202: kernel 6.1.0-remote, n/a, 4 cores")
        );
        // A server that sent no facts: null, never a guess.
        let silent = CellResult {
            server_host: None,
            ..remote
        };
        assert!(to_json(&silent, &plan)["hosts"]["server"].is_null());
        assert_eq!(
            server_line(to_table(&silent, &plan)).as_deref(),
            Some("198.18.0.10:7202: kernel n/a, n/a, n/a cores")
        );
        // With counters off, every counter says so, whatever the host can count.
        cfg.counters = false;
        let off = CellResult::new(cfg, vec![r], true, Arc::new(here));
        let v = to_json(&off, &plan);
        let unavailable = v["unavailable"].as_object().unwrap();
        assert_eq!(unavailable.len(), CounterPlan::counter_names().len());
        assert!(unavailable
            .values()
            .all(|why| why.as_str().unwrap().contains("--no-counters")));
    }
}
