//! A started cell, whoever runs its server ends: the one shape that `run`,
//! `sweep`, the benches and `--connect` drive.
//!
//! A [`Session`] is made by starting a cell — [`Experiment::start`] on this
//! host, or `Remote::start` (src/remote/) with a `copybench serve` running
//! the server ends — and is then driven by [`crate::engine::cell::measure`],
//! the one loop that warms a cell up and samples it. Its methods are called
//! in this order:
//!
//! 1. [`Session::run`] (or [`Session::run_as`], naming the arm), once per
//!    batch: the warm-up, then every sample. Each
//!    call returns only when the batch's traffic has ended on every
//!    connection (both hosts, for a remote cell), with every figure of the
//!    batch. After an error the session is broken: every later `run` fails.
//! 2. [`Session::socket_buffers`] and [`Session::server_host`], any time after
//!    the start; the loop reads them once, after the samples.
//! 3. [`Session::stop`], once, last: it closes the connections, lets
//!    zero-copy senders collect their last completions and joins the threads.
//!    Dropping a session without `stop` tears it down as well, without
//!    reporting what went wrong in the teardown.

use std::sync::Arc;

use crate::engine::config::Config;
use crate::engine::error::Result;
use crate::engine::experiment::{Batch, Experiment, SocketBuffers};
use crate::model::host::HostFacts;
use crate::model::kinds::StrategyKind;
use crate::model::measured::BatchReport;

/// A started cell; see the module doc for when each method is called.
pub trait Session {
    /// The cell's configuration.
    fn config(&self) -> &Config;

    /// Runs one batch over the running connections and returns what it
    /// measured.
    fn run(&mut self, batch: Batch) -> Result<BatchReport>;

    /// [`Session::run`], sent by `strategy`: one of the arms the session
    /// was started with ([`Experiment::start_arms`]). A session of one
    /// cell holds its own strategy only.
    fn run_as(&mut self, strategy: StrategyKind, batch: Batch) -> Result<BatchReport> {
        if strategy != self.config().strategy {
            return Err(crate::engine::error::Error::usage(format!(
                "this session sends by {} only, not {}",
                self.config().strategy.name(),
                strategy.name()
            )));
        }
        self.run(batch)
    }

    /// `SO_SNDBUF` / `SO_RCVBUF` as the kernel set them on this host's
    /// sockets (a buffer on another host is `None`).
    fn socket_buffers(&self) -> SocketBuffers;

    /// The facts of the host the server ends run on, when that is not this
    /// one.
    fn server_host(&self) -> Option<Arc<HostFacts>> {
        None
    }

    /// Tears the cell down and reports the first error of the teardown.
    fn stop(self: Box<Self>) -> Result<()>;
}

impl Session for Experiment {
    fn config(&self) -> &Config {
        Experiment::config(self)
    }

    fn run(&mut self, batch: Batch) -> Result<BatchReport> {
        Experiment::run(self, batch)
    }

    fn run_as(&mut self, strategy: StrategyKind, batch: Batch) -> Result<BatchReport> {
        self.select(strategy)?;
        Experiment::run(self, batch)
    }

    fn socket_buffers(&self) -> SocketBuffers {
        Experiment::socket_buffers(self)
    }

    fn stop(self: Box<Self>) -> Result<()> {
        Experiment::stop(*self)
    }
}
