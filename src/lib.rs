//! copybench measures what it costs to hand a message to a Linux TCP socket
//! five ways — two-copy, one-copy, `MSG_ZEROCOPY`, and io_uring's `SENDMSG`
//! and `SENDMSG_ZC` — over loopback, AF_UNIX and a veth pair between network
//! namespaces.
//!
//! The words (message, strategy, transport, workload, cell, sweep) are those
//! of the README. A library user starts an [`Experiment`] from a [`Config`],
//! runs [`Batch`]es through it and reads each [`BatchReport`]:
//!
//! ```no_run
//! use copybench::{Batch, Config, Experiment, Shape, StrategyKind, TransportKind, WorkloadKind};
//! let shape = Shape { fields: 8, field_size: 4096 };
//! let cfg = Config::new(StrategyKind::OneCopy, TransportKind::Loopback, WorkloadKind::Stream, shape);
//! let mut exp = Experiment::start(&cfg)?;
//! let report = exp.run(Batch::Messages(10_000))?;
//! println!("{:.2} Gbit/s", report.throughput_gbps());
//! exp.stop()?;
//! # Ok::<(), copybench::Error>(())
//! ```

#![deny(unsafe_code)]

// The layers, bottom up: `model` (plain data), `engine` (sockets, threads,
// strategies; private, its chosen items re-exported below), then `remote`
// and `report` (each a feature, on by default), then `sweep` and `output`,
// which the command line drives.
mod engine;
pub mod model;
#[cfg(feature = "report")]
pub mod output;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "report")]
pub mod report;
#[cfg(all(feature = "report", feature = "remote"))]
pub mod sweep;
/// Every unsafe system call, each with its `// SAFETY:` line: the one module
/// allowed `unsafe`. Public only for the overhead bench's bare loops.
#[doc(hidden)]
#[allow(unsafe_code)]
pub mod sys;

// The engine's public surface. Whole modules where their items are the
// point (a cell's one loop, the configuration and its ranges, the host checks,
// the host probe, the criterion measurement), single items otherwise.
pub use engine::block;
pub use engine::cell::{self, CellResult};
pub use engine::config::{self, Config, Fault, Pin};
pub use engine::counters::CounterPlan;
pub use engine::error::{Cause, Error, RangeError, Result};
pub use engine::experiment::{Batch, Bound, Experiment, SocketBuffers};
pub use engine::limits;
pub use engine::measurement;
pub use engine::message::{page_size, sender_promises, Shape, Verify, VerifyError, HEADER_LEN};
pub use engine::netns::{netns_path, NetnsError};
pub use engine::probe;
pub use engine::recv::ReadError;
pub use engine::recv::{
    default_mark as recv_default_mark, map_align as recv_map_align, map_mss as recv_map_mss,
    map_support as recv_map_support, MapProbe, AUTO_LOWAT as RECV_AUTO_LOWAT,
    AUTO_MIN_MSS as RECV_AUTO_MIN_MSS, MAP_WINDOW as RECV_MAP_WINDOW,
};
pub use engine::session::Session;
pub use engine::strategy::{Refill, SendError, UringSupport};
pub use engine::transport::{available_congestion, default_congestion, Transport, Veth};
pub use model::figures::{Counter, Figure, RoleFigure, Row, SampleRow};
pub use model::key::{CellKey, Status};
pub use model::kinds::{
    Congestion, Layout, ReceiveKind, Role, StrategyKind, TransportKind, WorkloadKind,
};
pub use model::measured::{BatchReport, CounterSample, CpuTime, RoleStats, RxStats, ZeroCopyStats};
