//! One row of `results.csv`: one cell and one repetition of a sweep.
//!
//! Every column carries its unit in its name. A figure that was not measured
//! (a counter this host cannot count, a latency for `stream`, zero-copy
//! bookkeeping for another strategy, any figure of a failed cell) is `None`,
//! written as an empty CSV cell, never as 0. `reports/README.md` documents each
//! column; keep the two in step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub cell: u32,
    pub repeat: u32,
    pub strategy: String,
    pub transport: String,
    pub workload: String,
    pub field_size_bytes: u64,
    pub fields: u32,
    /// `heap` or `page` (see `--layout`); rows written before it existed read as empty.
    #[serde(default)]
    pub layout: String,
    pub message_bytes: u64,
    pub threads: u32,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// `ok` or `failed`.
    pub status: String,
    /// Why the cell failed; empty when it did not.
    pub error: String,

    pub elapsed_s: Option<f64>,
    pub messages: Option<u64>,
    pub bytes: Option<u64>,
    pub throughput_gbps: Option<f64>,
    pub messages_per_sec: Option<f64>,
    pub latency_p50_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub latency_p999_us: Option<f64>,
    pub latency_max_us: Option<f64>,

    pub client_user_ns: Option<u64>,
    pub client_sys_ns: Option<u64>,
    pub server_user_ns: Option<u64>,
    pub server_sys_ns: Option<u64>,
    pub client_cpu_ns_per_byte: Option<f64>,
    pub server_cpu_ns_per_byte: Option<f64>,
    pub client_cpu_ns_per_msg: Option<f64>,
    pub server_cpu_ns_per_msg: Option<f64>,

    pub client_cycles: Option<f64>,
    pub client_cycles_user: Option<f64>,
    pub client_cycles_kernel: Option<f64>,
    pub client_instructions: Option<f64>,
    pub client_instructions_user: Option<f64>,
    pub client_instructions_kernel: Option<f64>,
    pub client_cache_references: Option<f64>,
    pub client_cache_references_user: Option<f64>,
    pub client_cache_references_kernel: Option<f64>,
    pub client_cache_misses: Option<f64>,
    pub client_cache_misses_user: Option<f64>,
    pub client_cache_misses_kernel: Option<f64>,
    pub client_context_switches: Option<f64>,
    pub client_cpu_migrations: Option<f64>,
    pub client_page_faults: Option<f64>,
    pub client_task_clock_ns: Option<f64>,
    pub client_ipc: Option<f64>,
    pub client_cache_miss_rate: Option<f64>,
    pub client_cycles_per_byte: Option<f64>,
    pub client_cycles_per_msg: Option<f64>,

    pub server_cycles: Option<f64>,
    pub server_cycles_user: Option<f64>,
    pub server_cycles_kernel: Option<f64>,
    pub server_instructions: Option<f64>,
    pub server_instructions_user: Option<f64>,
    pub server_instructions_kernel: Option<f64>,
    pub server_cache_references: Option<f64>,
    pub server_cache_references_user: Option<f64>,
    pub server_cache_references_kernel: Option<f64>,
    pub server_cache_misses: Option<f64>,
    pub server_cache_misses_user: Option<f64>,
    pub server_cache_misses_kernel: Option<f64>,
    pub server_context_switches: Option<f64>,
    pub server_cpu_migrations: Option<f64>,
    pub server_page_faults: Option<f64>,
    pub server_task_clock_ns: Option<f64>,
    pub server_ipc: Option<f64>,
    pub server_cache_miss_rate: Option<f64>,
    pub server_cycles_per_byte: Option<f64>,
    pub server_cycles_per_msg: Option<f64>,

    pub zc_sends: Option<u64>,
    pub zc_completions: Option<u64>,
    pub zc_copied: Option<u64>,
    pub zc_enobufs: Option<u64>,
    /// Share of zero-copy completions the kernel flagged as copied, 0..=1.
    pub zc_copied_share: Option<f64>,
    /// Completion figures (see reports/README.md); empty for copying strategies.
    pub zc_notifications: Option<u64>,
    pub zc_sends_per_notification: Option<f64>,
    pub zc_max_in_flight: Option<u64>,
    pub zc_reclaim_waits: Option<u64>,
    pub zc_reclaim_wait_ms: Option<f64>,
    pub zc_fragments_per_send: Option<f64>,
    pub zc_max_fragments: Option<u64>,
    pub zc_delay_p50_us: Option<f64>,
    pub zc_delay_p99_us: Option<f64>,
}
