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
    pub message_bytes: u64,
    pub threads: u32,
    /// CPUs the client / server threads were pinned to (`0,2`); empty when unpinned.
    pub client_cpus: String,
    pub server_cpus: String,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Length of one sample (batch) as asked.
    pub sample_s: f64,
    /// Precision target: relative half-width of the main figure's interval.
    pub precision_target: f64,
    /// `ok` or `failed`.
    pub status: String,
    /// Why the cell failed; empty when it did not.
    pub error: String,

    /// Samples measured.
    pub samples: Option<u32>,
    /// The figure sampled until precise: `throughput_gbps` or `latency_p50_us`.
    pub main_figure: String,
    /// Relative half-width of the main figure's interval when the cell stopped.
    pub precision_reached: Option<f64>,
    /// `precision` (target reached) or `cap` (time cap reached first); empty when failed.
    pub stopped_by: String,
    pub elapsed_s: Option<f64>,
    pub messages: Option<u64>,
    pub bytes: Option<u64>,
    pub throughput_gbps: Option<f64>,
    pub throughput_gbps_lo: Option<f64>,
    pub throughput_gbps_hi: Option<f64>,
    pub messages_per_sec: Option<f64>,
    pub messages_per_sec_lo: Option<f64>,
    pub messages_per_sec_hi: Option<f64>,
    pub latency_p50_us: Option<f64>,
    pub latency_p50_us_lo: Option<f64>,
    pub latency_p50_us_hi: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub latency_p99_us_lo: Option<f64>,
    pub latency_p99_us_hi: Option<f64>,
    pub latency_p999_us: Option<f64>,
    pub latency_max_us: Option<f64>,

    pub client_user_ns: Option<u64>,
    pub client_sys_ns: Option<u64>,
    pub server_user_ns: Option<u64>,
    pub server_sys_ns: Option<u64>,
    pub client_cpu_ns_per_byte: Option<f64>,
    pub client_cpu_ns_per_byte_lo: Option<f64>,
    pub client_cpu_ns_per_byte_hi: Option<f64>,
    pub server_cpu_ns_per_byte: Option<f64>,
    pub server_cpu_ns_per_byte_lo: Option<f64>,
    pub server_cpu_ns_per_byte_hi: Option<f64>,
    pub client_cpu_ns_per_msg: Option<f64>,
    pub client_cpu_ns_per_msg_lo: Option<f64>,
    pub client_cpu_ns_per_msg_hi: Option<f64>,
    pub server_cpu_ns_per_msg: Option<f64>,
    pub server_cpu_ns_per_msg_lo: Option<f64>,
    pub server_cpu_ns_per_msg_hi: Option<f64>,
    pub context_switches_per_msg: Option<f64>,
    pub context_switches_per_msg_lo: Option<f64>,
    pub context_switches_per_msg_hi: Option<f64>,

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
}

/// One row of `samples.csv`: one sample (batch) of one cell and repetition,
/// so that a report can pool the samples of every repetition of a cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub cell: u32,
    pub repeat: u32,
    pub sample: u32,
    pub strategy: String,
    pub transport: String,
    pub workload: String,
    pub field_size_bytes: u64,
    pub threads: u32,
    pub elapsed_s: f64,
    pub messages: u64,
    pub throughput_gbps: Option<f64>,
    pub messages_per_sec: Option<f64>,
    pub latency_p50_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub client_cpu_ns_per_byte: Option<f64>,
    pub server_cpu_ns_per_byte: Option<f64>,
    pub client_cpu_ns_per_msg: Option<f64>,
    pub server_cpu_ns_per_msg: Option<f64>,
    pub context_switches_per_msg: Option<f64>,
}
