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

pub mod counters;
pub mod error;
pub mod host;
pub mod measurement;
pub mod message;
pub mod netns;
pub mod recv;
pub mod report;
pub mod row;
pub mod size;
pub mod strategy;
pub mod summary;
pub mod sweep;
pub mod sys;
pub mod transport;
pub mod workload;

pub use error::{Error, Result, Role};
pub use message::{Shape, Verify};
pub use strategy::{StrategyKind, ZeroCopyStats};
pub use transport::{Transport, TransportKind, Veth};
pub use workload::{
    Batch, BatchReport, Config, CpuTime, Experiment, Fault, RoleStats, WorkloadKind,
};
