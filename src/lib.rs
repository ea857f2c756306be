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

pub mod block;
pub mod cell;
pub mod config;
pub mod counters;
pub mod error;
pub mod experiment;
pub mod figures;
pub mod host;
pub mod limits;
pub mod measurement;
pub mod message;
pub(crate) mod meter;
pub mod netns;
pub(crate) mod recv;
pub mod remote;
pub mod report;
pub mod size;
pub mod stats;
pub mod strategy;
pub mod summary;
pub mod sweep;
/// Every unsafe system call, each with its `// SAFETY:` line: the one module
/// allowed `unsafe`. Public only for the overhead bench's bare loops.
#[doc(hidden)]
#[allow(unsafe_code)]
pub mod sys;
pub mod transport;
pub(crate) mod worker;

pub use config::{Config, Fault, Pin, WorkloadKind};
pub use error::{Cause, Error, Result, Role};
pub use experiment::{Batch, Bound, Experiment, SocketBuffers};
pub use figures::{BatchReport, CellResult, Counter, CpuTime, Figure, RoleFigure, RoleStats, Row};
pub use message::VerifyError;
pub use message::{Layout, Shape, Verify};
pub use recv::ReadError;
pub use strategy::SendError;
pub use strategy::{Refill, StrategyKind, ZeroCopyStats};
pub use transport::{Transport, TransportKind, Veth};
