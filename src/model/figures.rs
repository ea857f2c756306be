//! Everything copybench measures, written down once.
//!
//! The table in the [`figures!`] invocation below is the one list of figures:
//! each entry gives a figure's name (and, for a per-role figure, its two
//! `results.csv` columns), for a sampled figure its interval columns
//! (`[…_lo, …_hi]`), its short label, its unit and what it means. From that
//! table come
//!
//! - [`Counter`], the per-thread counters the engine's counters module reads,
//! - [`Figure`], every figure of a cell, with [`Figure::column`], [`Figure::unit`],
//!   [`Figure::caption`] (label and unit by [`with_unit`]) and [`Figure::ZEROCOPY`]
//!   (the `zerocopy` section),
//! - [`SAMPLED`], the figures with an interval,
//! - [`Row`], one line of `results.csv`, and [`SampleRow`], one line of
//!   `samples.csv` (serde names their fields, so the CSV headers, the rows'
//!   JSON and [`Figure::column`] cannot disagree),
//! - the counters and derived figures `run --json` prints per role
//!   (`model::measured::role_figures`); `run --json`'s other views and the
//!   report's follow from these by rule.
//!
//! The measured values themselves ([`crate::model::measured`]: one batch's
//! [`BatchReport`](crate::model::measured::BatchReport), and `Figure::of`,
//! a figure's value in it) and one measured cell (`engine::cell::CellResult`,
//! from which its rows are filled) live elsewhere: this module is the table
//! alone, and imports nothing but the kinds.
//!
//! Adding a figure is one entry in the table (plus, for a cell-level or
//! derived figure, its arm in `Figure::of` in `model/measured.rs`). A unit test fails
//! when a column has no figure or a figure no column, and another when
//! `reports/README.md` does not document a column.
//!
//! A figure that was not measured (a counter this host cannot count, a
//! latency for `stream`, zero-copy bookkeeping for another strategy, any
//! figure of a failed cell) is `None`: an empty CSV cell, JSON `null`, never 0.

use serde::{Deserialize, Serialize};

use super::key::{CellKey, Status};
use super::kinds::{Layout, ReceiveKind, Role, StrategyKind, TransportKind, WorkloadKind};

/// A figure's value type in `results.csv`: whole counts stay integers.
pub trait FigureValue: Copy {
    const WHOLE: bool;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl FigureValue for u64 {
    const WHOLE: bool = true;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as u64
    }
}

impl FigureValue for f64 {
    const WHOLE: bool = false;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

macro_rules! figures {
    (
        cell { $( $cv:ident $cf:ident $([$clo:ident, $chi:ident])? : $ct:ty, $cl:literal, $cu:literal, $cd:literal; )* }
        cpu { $( $pv:ident $pn:ident ($pc:ident, $ps:ident) $([$pclo:ident, $pchi:ident, $pslo:ident, $pshi:ident])? : $pt:ty, $pl:literal, $pu:literal, $pd:literal; )* }
        counters { $( $kv:ident $kn:ident ($kc:ident, $ks:ident), $kl:literal, $ku:literal, $kd:literal; )* }
        derived { $( $dv:ident $dn:ident ($dc:ident, $ds:ident), $dl:literal, $du:literal, $dd:literal; )* }
        zerocopy { $( $zv:ident $zf:ident : $zt:ty, $zl:literal, $zu:literal, $zd:literal; )* }
    ) => {
        /// A per-thread counter, summed over a role's threads
        /// ([`crate::engine::counters`] says how each is read).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Counter { $( $kv, )* }

        impl Counter {
            /// Every counter, in report order.
            pub const ALL: &'static [Counter] = &[ $( Counter::$kv, )* ];

            /// Its name: the `counters` key of `run --json`, and the
            /// `results.csv` column after `client_` / `server_`.
            pub const fn name(self) -> &'static str {
                match self { $( Counter::$kv => stringify!($kn), )* }
            }

            pub const fn unit(self) -> &'static str {
                match self { $( Counter::$kv => $ku, )* }
            }

            /// Its short human label, without unit (see [`with_unit`]).
            pub const fn label(self) -> &'static str {
                match self { $( Counter::$kv => $kl, )* }
            }

            pub fn from_name(name: &str) -> Option<Counter> {
                Counter::ALL.iter().copied().find(|c| c.name() == name)
            }
        }

        /// One figure of one role (client or server threads, summed).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum RoleFigure {
            $( $pv, )*
            Counter(Counter),
            $( $dv, )*
        }

        impl RoleFigure {
            /// Every role figure, in column order.
            pub fn all() -> Vec<RoleFigure> {
                let mut out = vec![ $( RoleFigure::$pv, )* ];
                out.extend(Counter::ALL.iter().map(|&c| RoleFigure::Counter(c)));
                out.extend([ $( RoleFigure::$dv, )* ]);
                out
            }

            /// The figures derived from a role's counters and CPU time.
            pub const DERIVED: &'static [RoleFigure] = &[ $( RoleFigure::$dv, )* ];

            /// Its name without the role prefix.
            pub const fn name(self) -> &'static str {
                match self {
                    $( RoleFigure::$pv => stringify!($pn), )*
                    RoleFigure::Counter(c) => c.name(),
                    $( RoleFigure::$dv => stringify!($dn), )*
                }
            }

            pub const fn unit(self) -> &'static str {
                match self {
                    $( RoleFigure::$pv => $pu, )*
                    RoleFigure::Counter(c) => c.unit(),
                    $( RoleFigure::$dv => $du, )*
                }
            }

            /// Its short human label, without role or unit (see [`with_unit`]).
            pub const fn label(self) -> &'static str {
                match self {
                    $( RoleFigure::$pv => $pl, )*
                    RoleFigure::Counter(c) => c.label(),
                    $( RoleFigure::$dv => $dl, )*
                }
            }

            /// Whether it is a total over the batch (a CPU time or a counter,
            /// summed over the role's threads) rather than a ratio: a total
            /// can be taken per message.
            pub fn is_total(self) -> bool {
                match self {
                    $( RoleFigure::$pv => <$pt as FigureValue>::WHOLE, )*
                    RoleFigure::Counter(_) => true,
                    $( RoleFigure::$dv => false, )*
                }
            }

            pub const fn about(self) -> &'static str {
                match self {
                    $( RoleFigure::$pv => $pd, )*
                    RoleFigure::Counter(c) => match c { $( Counter::$kv => $kd, )* },
                    $( RoleFigure::$dv => $dd, )*
                }
            }
        }

        /// Every figure of a cell.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Figure {
            $( $cv, )*
            Role(Role, RoleFigure),
            $( $zv, )*
        }

        impl Figure {
            /// Every figure, in `results.csv` column order.
            pub fn all() -> Vec<Figure> {
                let mut out = vec![ $( Figure::$cv, )* ];
                for role in [Role::Client, Role::Server] {
                    out.extend(RoleFigure::all().into_iter().map(|f| Figure::Role(role, f)));
                }
                out.extend(Figure::ZEROCOPY);
                out
            }

            /// The zero-copy bookkeeping figures (the table's `zerocopy`
            /// section), in column order.
            pub const ZEROCOPY: &'static [Figure] = &[ $( Figure::$zv, )* ];

            /// Its `results.csv` column (and `Row` field) name.
            pub const fn column(self) -> &'static str {
                match self {
                    $( Figure::$cv => stringify!($cf), )*
                    $( Figure::Role(Role::Client, RoleFigure::$pv) => stringify!($pc),
                       Figure::Role(Role::Server, RoleFigure::$pv) => stringify!($ps), )*
                    $( Figure::Role(Role::Client, RoleFigure::Counter(Counter::$kv)) => stringify!($kc),
                       Figure::Role(Role::Server, RoleFigure::Counter(Counter::$kv)) => stringify!($ks), )*
                    $( Figure::Role(Role::Client, RoleFigure::$dv) => stringify!($dc),
                       Figure::Role(Role::Server, RoleFigure::$dv) => stringify!($ds), )*
                    $( Figure::$zv => stringify!($zf), )*
                }
            }

            pub fn from_column(column: &str) -> Option<Figure> {
                Figure::all().into_iter().find(|f| f.column() == column)
            }

            pub const fn unit(self) -> &'static str {
                match self {
                    $( Figure::$cv => $cu, )*
                    Figure::Role(_, f) => f.unit(),
                    $( Figure::$zv => $zu, )*
                }
            }

            /// Its short human label, without role or unit (see [`Figure::caption`]).
            pub const fn label(self) -> &'static str {
                match self {
                    $( Figure::$cv => $cl, )*
                    Figure::Role(_, f) => f.label(),
                    $( Figure::$zv => $zl, )*
                }
            }

            /// What it means, one line.
            pub const fn about(self) -> &'static str {
                match self {
                    $( Figure::$cv => $cd, )*
                    Figure::Role(_, f) => f.about(),
                    $( Figure::$zv => $zd, )*
                }
            }

            /// Whether its values are whole counts (written without a decimal point).
            pub fn whole(self) -> bool {
                match self {
                    $( Figure::$cv => <$ct as FigureValue>::WHOLE, )*
                    $( Figure::Role(_, RoleFigure::$pv) => <$pt as FigureValue>::WHOLE, )*
                    Figure::Role(..) => false,
                    $( Figure::$zv => <$zt as FigureValue>::WHOLE, )*
                }
            }
        }

        /// One row of `results.csv`: one cell and one repetition of a sweep.
        /// Every column carries its unit in its name; `reports/README.md`
        /// documents each one.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Row {
            pub cell: u32,
            pub repeat: u32,
            pub strategy: StrategyKind,
            pub transport: TransportKind,
            /// `tcp`: the address of the `copybench serve` that ran the
            /// server ends; empty otherwise.
            pub server: String,
            pub workload: WorkloadKind,
            pub field_size_bytes: u64,
            pub fields: u32,
            /// `heap` or `page` (`--layout`); an empty column (a row from
            /// before layouts) reads as heap.
            #[serde(deserialize_with = "crate::model::key::layout_or_heap")]
            pub layout: Layout,
            /// `copy` or `zerocopy` (`--receives`); an empty or absent
            /// column (a row from before receive strategies) reads as copy.
            #[serde(default, deserialize_with = "crate::model::kinds::receive_or_copy")]
            pub receive: ReceiveKind,
            /// `SO_RCVLOWAT` of the receiving sockets (`--rcvlowats`);
            /// empty when not set (the kernel's 1), and in a row from
            /// before the column.
            #[serde(default)]
            pub rcvlowat_bytes: Option<u64>,
            pub message_bytes: u64,
            pub threads: u32,
            /// CPUs the client / server threads were pinned to (`0,2`); empty when unpinned.
            pub client_cpus: String,
            pub server_cpus: String,
            pub warmup_s: f64,
            /// The cap on the measured time per cell and repetition.
            pub duration_s: f64,
            /// Length of one sample (batch) as asked.
            pub sample_s: f64,
            /// Precision target: relative half-width of the main figure's interval.
            pub precision_target: f64,
            /// `ok` or `failed`.
            pub status: Status,
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
            $( pub $cf: Option<$ct>, )*
            $( pub $pc: Option<$pt>, )*
            $( pub $ps: Option<$pt>, )*
            $( pub $kc: Option<f64>, )*
            $( pub $dc: Option<f64>, )*
            $( pub $ks: Option<f64>, )*
            $( pub $ds: Option<f64>, )*
            $( pub $zf: Option<$zt>, )*
            // The 95 % interval of each figure of [`SAMPLED`] (see [`Row::interval`]).
            $( $( pub $clo: Option<f64>, pub $chi: Option<f64>, )? )*
            $( $( pub $pclo: Option<f64>, pub $pchi: Option<f64>,
                  pub $pslo: Option<f64>, pub $pshi: Option<f64>, )? )*
        }

        impl Row {
            /// The columns that describe the cell rather than measure it.
            pub const SETTINGS: &'static [&'static str] = &[
                "cell", "repeat", "strategy", "transport", "server", "workload", "field_size_bytes",
                "fields", "layout", "receive", "rcvlowat_bytes", "message_bytes", "threads", "client_cpus", "server_cpus", "warmup_s",
                "duration_s", "sample_s", "precision_target", "status", "error", "samples",
                "main_figure", "precision_reached", "stopped_by",
            ];

            /// Setting columns a `results.csv` written before they existed
            /// lacks: such a file reads with their defaults (`receive`: copy;
            /// `rcvlowat_bytes`: not set).
            pub const ADDED_LATER: &'static [&'static str] = &["receive", "rcvlowat_bytes"];

            /// Whether a `results.csv` from an older copybench may lack
            /// `column`: a setting or a figure added since
            /// ([`Row::ADDED_LATER`], [`Figure::ADDED_LATER`]).
            pub fn added_later(column: &str) -> bool {
                Row::ADDED_LATER.contains(&column)
                    || Figure::ADDED_LATER.iter().any(|f| f.column() == column)
            }

            /// The value of one figure in this row.
            pub fn get(&self, figure: Figure) -> Option<f64> {
                match figure {
                    $( Figure::$cv => self.$cf.map(FigureValue::to_f64), )*
                    $( Figure::Role(Role::Client, RoleFigure::$pv) => self.$pc.map(FigureValue::to_f64),
                       Figure::Role(Role::Server, RoleFigure::$pv) => self.$ps.map(FigureValue::to_f64), )*
                    $( Figure::Role(Role::Client, RoleFigure::Counter(Counter::$kv)) => self.$kc,
                       Figure::Role(Role::Server, RoleFigure::Counter(Counter::$kv)) => self.$ks, )*
                    $( Figure::Role(Role::Client, RoleFigure::$dv) => self.$dc,
                       Figure::Role(Role::Server, RoleFigure::$dv) => self.$ds, )*
                    $( Figure::$zv => self.$zf.map(FigureValue::to_f64), )*
                }
            }

            /// Sets one figure (`None`: unavailable).
            pub fn set(&mut self, figure: Figure, value: Option<f64>) {
                match figure {
                    $( Figure::$cv => self.$cf = value.map(FigureValue::from_f64), )*
                    $( Figure::Role(Role::Client, RoleFigure::$pv) => self.$pc = value.map(FigureValue::from_f64),
                       Figure::Role(Role::Server, RoleFigure::$pv) => self.$ps = value.map(FigureValue::from_f64), )*
                    $( Figure::Role(Role::Client, RoleFigure::Counter(Counter::$kv)) => self.$kc = value,
                       Figure::Role(Role::Server, RoleFigure::Counter(Counter::$kv)) => self.$ks = value, )*
                    $( Figure::Role(Role::Client, RoleFigure::$dv) => self.$dc = value,
                       Figure::Role(Role::Server, RoleFigure::$dv) => self.$ds = value, )*
                    $( Figure::$zv => self.$zf = value.map(FigureValue::from_f64), )*
                }
            }

            /// The two interval columns of one [`SAMPLED`] figure.
            fn interval_fields(&self, f: Figure) -> Option<(&Option<f64>, &Option<f64>)> {
                Some(match f {
                    $( $( Figure::$cv => (&self.$clo, &self.$chi), )? )*
                    $( $( Figure::Role(Role::Client, RoleFigure::$pv) => (&self.$pclo, &self.$pchi),
                          Figure::Role(Role::Server, RoleFigure::$pv) => (&self.$pslo, &self.$pshi), )? )*
                    _ => return None,
                })
            }

            /// [`Row::interval_fields`], to set them.
            fn interval_fields_mut(&mut self, f: Figure) -> Option<(&mut Option<f64>, &mut Option<f64>)> {
                Some(match f {
                    $( $( Figure::$cv => (&mut self.$clo, &mut self.$chi), )? )*
                    $( $( Figure::Role(Role::Client, RoleFigure::$pv) => (&mut self.$pclo, &mut self.$pchi),
                          Figure::Role(Role::Server, RoleFigure::$pv) => (&mut self.$pslo, &mut self.$pshi), )? )*
                    _ => return None,
                })
            }
        }

        /// The table's figures that carry an interval, in column order.
        const SAMPLED_FIGURES: &[Figure] = &[
            $( $( if_sampled!($clo, Figure::$cv), )? )*
            $( $( if_sampled!($pclo, Figure::Role(Role::Client, RoleFigure::$pv)),
                  if_sampled!($pslo, Figure::Role(Role::Server, RoleFigure::$pv)), )? )*
        ];

        /// One row of `samples.csv`: one sample (batch) of one cell and
        /// repetition, so that a report can pool the samples of every
        /// repetition of a cell. Its figure columns are those of [`SAMPLED`],
        /// named as in `results.csv`.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct SampleRow {
            pub cell: u32,
            pub repeat: u32,
            pub sample: u32,
            pub strategy: StrategyKind,
            pub transport: TransportKind,
            pub workload: WorkloadKind,
            pub field_size_bytes: u64,
            pub threads: u32,
            /// `copy` or `zerocopy`; absent (a file from before receive
            /// strategies): copy.
            #[serde(default, deserialize_with = "crate::model::kinds::receive_or_copy")]
            pub receive: ReceiveKind,
            pub elapsed_s: f64,
            pub messages: u64,
            $( $( #[doc = concat!("Its interval in `results.csv`: `", stringify!($clo), "`, `", stringify!($chi), "`.")]
                  pub $cf: Option<f64>, )? )*
            $( $( #[doc = concat!("Its interval in `results.csv`: `", stringify!($pclo), "`, `", stringify!($pchi), "`.")]
                  pub $pc: Option<f64>,
                  #[doc = concat!("Its interval in `results.csv`: `", stringify!($pslo), "`, `", stringify!($pshi), "`.")]
                  pub $ps: Option<f64>, )? )*
        }

        impl SampleRow {
            /// The column of one [`SAMPLED`] figure.
            fn field(&self, f: Figure) -> Option<&Option<f64>> {
                Some(match f {
                    $( $( Figure::$cv => if_sampled!($clo, &self.$cf), )? )*
                    $( $( Figure::Role(Role::Client, RoleFigure::$pv) => if_sampled!($pclo, &self.$pc),
                          Figure::Role(Role::Server, RoleFigure::$pv) => if_sampled!($pslo, &self.$ps), )? )*
                    _ => return None,
                })
            }

            /// [`SampleRow::field`], to set it.
            fn field_mut(&mut self, f: Figure) -> Option<&mut Option<f64>> {
                Some(match f {
                    $( $( Figure::$cv => if_sampled!($clo, &mut self.$cf), )? )*
                    $( $( Figure::Role(Role::Client, RoleFigure::$pv) => if_sampled!($pclo, &mut self.$pc),
                          Figure::Role(Role::Server, RoleFigure::$pv) => if_sampled!($pslo, &mut self.$ps), )? )*
                    _ => return None,
                })
            }
        }
    };
}

/// `$e`, for a figure of the table that has an interval (`$interval` is
/// its `_lo` column, there only to select the figures that have one).
macro_rules! if_sampled {
    ($interval:ident, $e:expr) => {
        $e
    };
}

figures! {
    cell {
        ElapsedS elapsed_s: f64, "elapsed time", "s", "wall time of the measured batch, from the start command to the end of its traffic on the last thread (the zero-copy drain after it is not included)";
        Messages messages: u64, "messages", "messages", "messages verified (stream: by the servers; rr: exchanges completed)";
        Bytes bytes: u64, "bytes", "bytes", "bytes verified by the receivers (rr: requests and replies)";
        ThroughputGbps throughput_gbps [throughput_gbps_lo, throughput_gbps_hi]: f64, "throughput", "Gbit/s", "bytes x 8 / elapsed_s / 1e9";
        MessagesPerSec messages_per_sec [messages_per_sec_lo, messages_per_sec_hi]: f64, "messages", "messages/s", "messages / elapsed_s";
        LatencyP50Us latency_p50_us [latency_p50_us_lo, latency_p50_us_hi]: f64, "latency p50", "µs", "round-trip time, 50th percentile (rr only)";
        LatencyP99Us latency_p99_us [latency_p99_us_lo, latency_p99_us_hi]: f64, "latency p99", "µs", "round-trip time, 99th percentile (rr only)";
        LatencyP999Us latency_p999_us: f64, "latency p99.9", "µs", "round-trip time, 99.9th percentile (rr only)";
        LatencyMaxUs latency_max_us: f64, "latency max", "µs", "longest round trip (rr only)";
        ContextSwitchesPerMsg context_switches_per_msg [context_switches_per_msg_lo, context_switches_per_msg_hi]: f64, "context switches", "switches/message", "client + server context switches per message";
        RxMappedBytes rx_mapped_bytes: u64, "bytes mapped", "bytes", "bytes the receivers had the kernel map into their window (TCP_ZEROCOPY_RECEIVE; --receive zerocopy only)";
        RxCopiedBytes rx_copied_bytes: u64, "bytes copied", "bytes", "bytes the kernel could not map, which the receivers read with recv (--receive zerocopy only); rx_mapped_bytes + rx_copied_bytes = bytes";
        RxMappedShare rx_mapped_share: f64, "received bytes mapped", "share", "rx_mapped_bytes / (rx_mapped_bytes + rx_copied_bytes), 0..=1 (--receive zerocopy only)";
        RxCallsPerMib rx_calls_per_mib: f64, "receive calls", "calls/MiB", "the receivers' getsockopt(TCP_ZEROCOPY_RECEIVE), recv, madvise, waits and SO_RCVLOWAT calls per MiB received (--receive zerocopy only)";
        RxSkipHints rx_skip_hints: u64, "skip hints", "answers", "TCP_ZEROCOPY_RECEIVE answers that named bytes it could not map (recv_skip_hint > 0; --receive zerocopy only)";
    }
    cpu {
        UserNs user_ns (client_user_ns, server_user_ns): u64, "user CPU", "ns", "user CPU time of the role's threads (getrusage RUSAGE_THREAD)";
        SysNs sys_ns (client_sys_ns, server_sys_ns): u64, "kernel CPU", "ns", "system CPU time of the role's threads (getrusage RUSAGE_THREAD)";
        CpuNsPerByte cpu_ns_per_byte (client_cpu_ns_per_byte, server_cpu_ns_per_byte) [client_cpu_ns_per_byte_lo, client_cpu_ns_per_byte_hi, server_cpu_ns_per_byte_lo, server_cpu_ns_per_byte_hi]: f64, "CPU", "ns/byte", "the role's CPU time (CLOCK_THREAD_CPUTIME_ID) per byte verified";
        CpuNsPerMsg cpu_ns_per_msg (client_cpu_ns_per_msg, server_cpu_ns_per_msg) [client_cpu_ns_per_msg_lo, client_cpu_ns_per_msg_hi, server_cpu_ns_per_msg_lo, server_cpu_ns_per_msg_hi]: f64, "CPU", "ns/message", "the role's CPU time (CLOCK_THREAD_CPUTIME_ID) per message";
    }
    counters {
        Cycles cycles (client_cycles, server_cycles), "cycles", "cycles", "CPU cycles, user + kernel (perf)";
        CyclesUser cycles_user (client_cycles_user, server_cycles_user), "user cycles", "cycles", "CPU cycles in user mode (perf)";
        CyclesKernel cycles_kernel (client_cycles_kernel, server_cycles_kernel), "kernel cycles", "cycles", "CPU cycles in the kernel (perf)";
        Instructions instructions (client_instructions, server_instructions), "instructions", "instructions", "instructions retired, user + kernel (perf)";
        InstructionsUser instructions_user (client_instructions_user, server_instructions_user), "user instructions", "instructions", "instructions retired in user mode (perf)";
        InstructionsKernel instructions_kernel (client_instructions_kernel, server_instructions_kernel), "kernel instructions", "instructions", "instructions retired in the kernel (perf)";
        CacheReferences cache_references (client_cache_references, server_cache_references), "cache references", "references", "last-level cache references, user + kernel (perf)";
        CacheReferencesUser cache_references_user (client_cache_references_user, server_cache_references_user), "user cache references", "references", "cache references in user mode (perf)";
        CacheReferencesKernel cache_references_kernel (client_cache_references_kernel, server_cache_references_kernel), "kernel cache references", "references", "cache references in the kernel (perf)";
        CacheMisses cache_misses (client_cache_misses, server_cache_misses), "cache misses", "misses", "last-level cache misses, user + kernel (perf)";
        CacheMissesUser cache_misses_user (client_cache_misses_user, server_cache_misses_user), "user cache misses", "misses", "cache misses in user mode (perf)";
        CacheMissesKernel cache_misses_kernel (client_cache_misses_kernel, server_cache_misses_kernel), "kernel cache misses", "misses", "cache misses in the kernel (perf)";
        ContextSwitches context_switches (client_context_switches, server_context_switches), "context switches", "switches", "voluntary + involuntary context switches (getrusage)";
        CpuMigrations cpu_migrations (client_cpu_migrations, server_cpu_migrations), "CPU migrations", "migrations", "moves to another CPU (/proc/thread-self/sched)";
        PageFaults page_faults (client_page_faults, server_page_faults), "page faults", "faults", "minor + major page faults (getrusage)";
        TaskClockNs task_clock_ns (client_task_clock_ns, server_task_clock_ns), "task clock", "ns", "thread CPU time (CLOCK_THREAD_CPUTIME_ID)";
    }
    derived {
        Ipc ipc (client_ipc, server_ipc), "IPC", "instructions/cycle", "instructions / cycles";
        CacheMissRate cache_miss_rate (client_cache_miss_rate, server_cache_miss_rate), "cache miss rate", "share", "cache_misses / cache_references";
        CyclesPerByte cycles_per_byte (client_cycles_per_byte, server_cycles_per_byte), "cycles", "cycles/byte", "cycles per byte verified";
        CyclesPerMsg cycles_per_msg (client_cycles_per_msg, server_cycles_per_msg), "cycles", "cycles/message", "cycles per message";
    }
    zerocopy {
        ZcSends zc_sends: u64, "zero-copy sends", "sends", "zero-copy sends, both roles (zero-copy and uring-zc only)";
        ZcCompletions zc_completions: u64, "zero-copy completions", "completions", "zero-copy completions reaped (zero-copy and uring-zc only)";
        ZcCopied zc_copied: u64, "completions copied", "completions", "completions the kernel flagged as copied (zero-copy and uring-zc only)";
        ZcEnobufs zc_enobufs: u64, "ENOBUFS retries", "retries", "sends retried after ENOBUFS (zero-copy and uring-zc only)";
        ZcCopiedShare zc_copied_share: f64, "zero-copy completions copied", "share", "zc_copied / zc_completions, 0..=1 (zero-copy and uring-zc only)";
        ZcNotifications zc_notifications: u64, "notifications", "notifications", "completion notifications read; each covers one or more sends (zero-copy and uring-zc only)";
        ZcSendsPerNotification zc_sends_per_notification: f64, "sends", "sends/notification", "zc_completions / zc_notifications (zero-copy and uring-zc only)";
        ZcMaxInFlight zc_max_in_flight: u64, "most sends in flight", "sends", "the most sends in flight (sent, completion not yet read) on one connection (zero-copy and uring-zc only)";
        ZcReclaimWaits zc_reclaim_waits: u64, "reclaim waits", "waits", "times a sender waited for a slot's completion before reusing it (zero-copy and uring-zc only)";
        ZcReclaimWaitMs zc_reclaim_wait_ms: f64, "reclaim wait time", "ms", "time spent in those waits, all connections (zero-copy and uring-zc only)";
        ZcFragmentsPerSend zc_fragments_per_send: f64, "zero-copy fragments", "pages/message", "pages a message's iovecs span, mean: the fragments a zero-copy send pins (zero-copy and uring-zc only)";
        ZcMaxFragments zc_max_fragments: u64, "most pages of one send", "pages", "the most pages one message's iovecs spanned (zero-copy and uring-zc only)";
        ZcDelayP50Us zc_delay_p50_us: f64, "completion delay p50", "µs", "completion delay, send call to the read of its notification, 50th percentile of one send in 16 (zero-copy and uring-zc only)";
        ZcDelayP99Us zc_delay_p99_us: f64, "completion delay p99", "µs", "completion delay, 99th percentile (zero-copy and uring-zc only)";
        ZcTimedSends zc_timed_sends: u64, "timed sends", "sends", "sends whose completion delay was timed, the count behind its percentiles (zero-copy and uring-zc only)";
    }
}

impl std::fmt::Display for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl AsRef<str> for Counter {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl Figure {
    /// Its human caption: the role (if any), the label and the unit by
    /// [`with_unit`], e.g. `client CPU (ns/byte)`, `throughput (Gbit/s)`,
    /// `context switches/msg`.
    pub fn caption(self) -> String {
        let text = with_unit(self.label(), self.unit());
        match self {
            Figure::Role(role, _) => format!("{role} {text}"),
            _ => text,
        }
    }
}

/// A label with its unit, by one rule: `label (unit)`, except that when the
/// label already names what the unit counts (`context switches`, unit
/// `switches/message`) only the unit's denominator is added
/// (`context switches/msg`, `cache misses`). `/message` is written `/msg`.
pub fn with_unit(label: &str, unit: &str) -> String {
    let unit = unit.replace("/message", "/msg");
    let (counted, per) = match unit.split_once('/') {
        Some((counted, per)) => (counted, Some(per)),
        None => (unit.as_str(), None),
    };
    if label.split(' ').any(|word| word == counted) {
        match per {
            Some(per) => format!("{label}/{per}"),
            None => label.to_string(),
        }
    } else {
        format!("{label} ({unit})")
    }
}

/// The figures every sample of a cell measures ([`crate::engine::cell`]): each gets
/// the median of the samples and its 95 % interval (`{column}_lo`,
/// `{column}_hi` in `results.csv`).
pub const SAMPLED: [Figure; SAMPLED_FIGURES.len()] = {
    let mut out = [Figure::ElapsedS; SAMPLED_FIGURES.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = SAMPLED_FIGURES[i];
        i += 1;
    }
    out
};

impl Figure {
    /// Figures whose columns a `results.csv` written before they existed
    /// lacks (the receive side's, added with `--receive`): such a file reads
    /// with them unmeasured (empty), as a copying receiver's are.
    pub const ADDED_LATER: [Figure; 5] = [
        Figure::RxMappedBytes,
        Figure::RxCopiedBytes,
        Figure::RxMappedShare,
        Figure::RxCallsPerMib,
        Figure::RxSkipHints,
    ];

    /// Whether a larger value is the better one (throughput yes; latency
    /// and costs no).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Figure::ThroughputGbps | Figure::MessagesPerSec)
    }

    /// The figure a workload's cells are sampled until precise: stream
    /// throughput, rr median round trip.
    pub fn main(workload: WorkloadKind) -> Figure {
        match workload {
            WorkloadKind::Stream => Figure::ThroughputGbps,
            WorkloadKind::Rr => Figure::LatencyP50Us,
        }
    }
}

impl Row {
    /// Every column, in order: the settings, then one per [`Figure`], then
    /// the intervals of the [`SAMPLED`] figures.
    pub fn columns() -> Vec<String> {
        Row::SETTINGS
            .iter()
            .map(|s| s.to_string())
            .chain(Figure::all().into_iter().map(|f| f.column().to_string()))
            .chain(
                SAMPLED
                    .iter()
                    .flat_map(|f| [format!("{}_lo", f.column()), format!("{}_hi", f.column())]),
            )
            .collect()
    }

    /// The 95 % interval of one [`SAMPLED`] figure in this row; `None` for
    /// another figure or when not measured.
    pub fn interval(&self, f: Figure) -> Option<(f64, f64)> {
        let (lo, hi) = self.interval_fields(f)?;
        Some(((*lo)?, (*hi)?))
    }

    /// Sets the interval of one [`SAMPLED`] figure (ignored for the others).
    pub fn set_interval(&mut self, f: Figure, interval: Option<(f64, f64)>) {
        if let Some((lo, hi)) = self.interval_fields_mut(f) {
            *lo = interval.map(|i| i.0);
            *hi = interval.map(|i| i.1);
        }
    }

    /// The cell this row is a run of.
    pub fn key(&self) -> CellKey {
        CellKey {
            workload: self.workload,
            transport: self.transport,
            threads: self.threads,
            field_size: self.field_size_bytes,
            strategy: self.strategy,
            layout: self.layout,
            receive: self.receive,
            rcvlowat: self.rcvlowat_bytes,
            fields: self.fields,
        }
    }

    /// The identity of a run: its cell and repetition (cell numbers may
    /// differ between sweeps of one directory). A resumed sweep skips the
    /// runs already done; a results file holds each one once. The layout is
    /// part of it: a heap and a page run of one shape are two runs.
    pub fn run_key(&self) -> (CellKey, u32) {
        (self.key(), self.repeat)
    }
}

impl SampleRow {
    /// Sample `sample` of the run `row` (its identity; no figures yet): how
    /// the report's tests make samples for rows they wrote.
    #[cfg(test)]
    pub(crate) fn of(row: &Row, sample: u32) -> SampleRow {
        SampleRow {
            cell: row.cell,
            repeat: row.repeat,
            sample,
            strategy: row.strategy,
            transport: row.transport,
            workload: row.workload,
            field_size_bytes: row.field_size_bytes,
            threads: row.threads,
            receive: row.receive,
            ..SampleRow::default()
        }
    }

    /// Whether this is a sample of `row`'s run: the same cell number,
    /// repetition and settings (samples.csv has no layout or fields column,
    /// so those come from the row).
    pub fn of_run(&self, row: &Row) -> bool {
        (
            self.cell,
            self.repeat,
            self.strategy,
            self.transport,
            self.workload,
            self.field_size_bytes,
            self.threads,
            self.receive,
        ) == (
            row.cell,
            row.repeat,
            row.strategy,
            row.transport,
            row.workload,
            row.field_size_bytes,
            row.threads,
            row.receive,
        )
    }

    /// The value of one [`SAMPLED`] figure in this sample (`None` for others).
    pub fn get(&self, f: Figure) -> Option<f64> {
        self.field(f).and_then(|v| *v)
    }

    /// Sets one [`SAMPLED`] figure (ignored for the others).
    pub fn set(&mut self, f: Figure, value: Option<f64>) {
        if let Some(v) = self.field_mut(f) {
            *v = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns serde writes for a `Row`, as `results.csv`'s header.
    fn csv_header() -> Vec<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(Row::default()).unwrap();
        let data = w.into_inner().unwrap();
        let mut r = csv::Reader::from_reader(data.as_slice());
        r.headers().unwrap().iter().map(str::to_string).collect()
    }

    #[test]
    fn every_column_is_a_setting_or_exactly_one_figure() {
        let header = csv_header();
        let interval = |column: &str| {
            SAMPLED.iter().any(|f| {
                column == format!("{}_lo", f.column()) || column == format!("{}_hi", f.column())
            })
        };
        for column in &header {
            let settings = Row::SETTINGS.contains(&column.as_str());
            let figure = Figure::from_column(column);
            assert!(
                [settings, figure.is_some(), interval(column)]
                    .iter()
                    .filter(|&&b| b)
                    .count()
                    == 1,
                "column {column} is not exactly one of: a setting, a figure, an interval"
            );
        }
        // Every sampled figure's interval reaches the columns serde writes.
        for f in SAMPLED {
            let mut row = Row::default();
            row.set_interval(f, Some((1.0, 2.0)));
            assert_eq!(row.interval(f), Some((1.0, 2.0)), "{f:?}");
            let json = serde_json::to_value(&row).unwrap();
            assert_eq!(json[format!("{}_hi", f.column())].as_f64(), Some(2.0));
        }
        for f in Figure::all() {
            let n = header.iter().filter(|c| *c == f.column()).count();
            assert_eq!(n, 1, "figure {f:?} has {n} columns");
            // get/set reach the column serde writes.
            let mut row = Row::default();
            row.set(f, Some(3.0));
            assert_eq!(row.get(f), Some(3.0), "{f:?}");
            let json = serde_json::to_value(&row).unwrap();
            assert_eq!(json[f.column()].as_f64(), Some(3.0), "{f:?}");
        }
        let mut sorted = Row::columns();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), header.len());
    }

    #[test]
    fn every_column_is_documented_in_the_reports_readme() {
        let readme = include_str!("../../reports/README.md");
        let documented = |name: &str| readme.contains(&format!("`{name}`"));
        for column in Row::SETTINGS {
            assert!(
                documented(column),
                "reports/README.md does not document `{column}`"
            );
        }
        for f in Figure::all() {
            // A per-role figure is documented once for both roles, as `{role}_NAME`.
            let ok = match f {
                Figure::Role(_, rf) => {
                    documented(f.column()) || documented(&format!("{{role}}_{}", rf.name()))
                }
                _ => documented(f.column()),
            };
            assert!(
                ok,
                "reports/README.md does not document the column `{}`",
                f.column()
            );
        }
        assert!(documented("{figure}_lo") && documented("{figure}_hi"));
        for f in SAMPLED {
            let name = match f {
                Figure::Role(_, rf) => format!("{{role}}_{}", rf.name()),
                _ => f.column().to_string(),
            };
            assert!(
                documented(&name),
                "the interval of `{name}` is not documented"
            );
        }
    }

    #[test]
    fn names_are_unique_and_parse_back() {
        for &c in Counter::ALL {
            assert_eq!(Counter::from_name(c.name()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.name())
            );
        }
        for f in Figure::all() {
            assert_eq!(Figure::from_column(f.column()), Some(f));
            assert!(!f.unit().is_empty() && !f.about().is_empty(), "{f:?}");
        }
    }
}
