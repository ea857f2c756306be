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

pub mod engine;
pub mod model;
pub mod output;
pub mod remote;
pub mod report;
pub mod sweep;
/// Every unsafe system call, each with its `// SAFETY:` line: the one module
/// allowed `unsafe`. Public only for the overhead bench's bare loops.
#[doc(hidden)]
#[allow(unsafe_code)]
pub mod sys;

pub use engine::config::{Config, Fault, Pin};
pub use engine::error::{Cause, Error, Result};
pub use engine::experiment::{Batch, Bound, Experiment, SocketBuffers};
pub use engine::message::{Shape, Verify, VerifyError};
pub use engine::recv::ReadError;
pub use engine::strategy::{Refill, SendError};
pub use engine::transport::{Transport, Veth};
pub use engine::cell::CellResult;
pub use model::figures::{Counter, Figure, RoleFigure, Row};
pub use model::kinds::{Layout, Role, StrategyKind, TransportKind, WorkloadKind};
pub use model::measured::{BatchReport, CpuTime, RoleStats, ZeroCopyStats};
