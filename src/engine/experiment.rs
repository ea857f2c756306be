//! The experiment (the coordinator): start the workers once, run many
//! measured batches through them, stop.
//!
//! [`Experiment::start`] makes `threads` connections, each with a client
//! thread and a server thread of its own, and returns once every connection
//! is up and every pool is filled. [`Experiment::run`] drives one batch (an
//! exact message count, or a duration) through the running workers and
//! returns what it measured; the CLI runs a warm-up batch and a measured one,
//! the criterion benches run one batch per sample. [`Experiment::stop`] closes
//! the connections, waits for the kernel to finish with zero-copy buffers and
//! joins the threads.
//!
//! Batch boundaries travel in-band: the client marks the last message of a
//! batch with [`FLAG_BATCH_END`], and the server reports when it has verified
//! it. Each thread counts itself (CPU time from `CLOCK_THREAD_CPUTIME_ID` and
//! `getrusage(RUSAGE_THREAD)`, counters from [`ThreadCounters`]) around its
//! part of the batch.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender as ChanSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::engine::config::Config;

use crate::engine::counters::CounterPlan;
use crate::engine::error::{Error, Result};
use crate::engine::message::sender_promises;
use crate::engine::worker::{fd_hint, Command, Event, Report, Worker};
use crate::model::kinds::Role;
use crate::model::kinds::StrategyKind;
use crate::model::kinds::TransportKind;
use crate::model::kinds::WorkloadKind;
use crate::model::measured::ZeroCopyStats;
use crate::model::measured::{BatchReport, RoleStats};
use crate::model::stats::new_histogram;

/// How much work one batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// Exactly this many messages in all (rr: exchanges), split over the threads.
    Messages(u64),
    /// As many as fit in this time on every thread.
    Duration(Duration),
}

/// Running workers, ready for batches.
pub struct Experiment {
    cfg: Config,
    commands: Vec<ChanSender<Command>>,
    reports: Receiver<Report>,
    handles: Vec<JoinHandle<()>>,
    /// A second handle on every data socket, to unblock the threads if a run fails.
    socks: Vec<(Role, Socket)>,
    /// A second handle on every listener, for the same reason.
    listeners: Vec<Socket>,
    bound: Bound,
    failed: bool,
    /// Ends per connection run here: 2, or 1 when a remote peer runs the other.
    roles: usize,
    /// The strategies its connections' senders hold (one, or a block's
    /// arms: [`Experiment::start_arms`]), and the one the next batch sends by.
    arms: Vec<StrategyKind>,
    arm: usize,
}

/// What may end an experiment early, besides its own failures: a flag
/// raised from outside (the sweep's second Ctrl-C) and a deadline (the
/// sweep's per-cell time limit). Either one shuts every socket down, which
/// wakes any thread blocked in a socket call at once.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    pub cancel: Option<Arc<AtomicBool>>,
    /// The deadline and what to call it in the error ("--cell-limit 5 s").
    pub deadline: Option<(Instant, String)>,
}

impl Bound {
    /// How often a bounded coordinator looks at the flag and the clock.
    const POLL: Duration = Duration::from_millis(20);

    fn check(&self) -> Result<()> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            return Err(Error::io(
                "stopped",
                std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted (signal)"),
            ));
        }
        if let Some((at, what)) = &self.deadline {
            if Instant::now() >= *at {
                return Err(Error::io(
                    "stopped",
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the cell ran past its time limit ({what}); every socket was shut down"
                        ),
                    ),
                ));
            }
        }
        Ok(())
    }

    fn is_set(&self) -> bool {
        self.cancel.is_some() || self.deadline.is_some()
    }
}

/// `SO_SNDBUF` and `SO_RCVBUF` as the kernel set them, read back with
/// `getsockopt` (the kernel doubles a request and caps it at `wmem_max` /
/// `rmem_max`): the send buffer of the client's socket and the receive
/// buffer of the server's, the direction a stream's bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketBuffers {
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    /// A client end's MSS (`TCP_MAXSEG` read back: the payload of a full
    /// segment, options excluded); `None` off TCP.
    pub mss: Option<u32>,
    /// The default mark a server end's copying receiver keeps while its
    /// sender promises bytes (`recv_default_mark`); `None` where it keeps
    /// none: `--rcvlowat` given, the mapping receiver, AF_UNIX, segments
    /// below `RECV_AUTO_MIN_MSS`, rr or a zero-copy sender (neither
    /// promises), or a server on the other host (`--connect`: its receive
    /// buffer decides, as `rcvbuf` is not read back there).
    pub default_rcvlowat: Option<usize>,
    /// The client end's congestion control, read back (`TCP_CONGESTION`):
    /// the sender's in a stream, `--congestion` or the default of the
    /// namespace it was made in; `None` off TCP.
    pub congestion: Option<String>,
}

/// The strategies of `cfgs`, each once, in order of first appearance: the
/// arms one experiment's senders hold (the index of each is what a data
/// message's header names). At most [`crate::engine::message::MAX_ARM`] + 1.
pub(crate) fn distinct_strategies(cfgs: &[Config]) -> Result<Vec<StrategyKind>> {
    let mut arms: Vec<StrategyKind> = Vec::new();
    for c in cfgs {
        if !arms.contains(&c.strategy) {
            arms.push(c.strategy);
        }
    }
    check_arms(&arms)?;
    Ok(arms)
}

/// Whether a header can name every one of `arms`.
pub(crate) fn check_arms(arms: &[StrategyKind]) -> Result<()> {
    let most = crate::engine::message::MAX_ARM + 1;
    if arms.len() > most {
        return Err(Error::usage(format!(
            "{} strategies in one experiment; a header names at most {most}",
            arms.len()
        )));
    }
    Ok(())
}

/// Which ends of its connections an experiment runs in this process.
// The one-sided ends serve `remote`; without that feature only `Both` runs.
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) enum Ends {
    /// Both, over connections it makes itself (every local run).
    Both,
    /// Only the client ends, over these connected sockets, one per
    /// connection; a `copybench serve` elsewhere runs the server ends.
    Clients(Vec<Socket>),
    /// Only the server ends, over these accepted sockets (`copybench serve`).
    Servers(Vec<Socket>),
}

impl Ends {
    /// The roles whose ends run here.
    fn roles(&self) -> &'static [Role] {
        match self {
            Ends::Both => &[Role::Client, Role::Server],
            Ends::Clients(_) => &[Role::Client],
            Ends::Servers(_) => &[Role::Server],
        }
    }
}

impl Experiment {
    /// Validates `cfg`, makes the connections and starts the worker threads.
    pub fn start(cfg: &Config) -> Result<Experiment> {
        Experiment::start_ends_bounded(cfg, Ends::Both, Bound::default())
    }

    /// [`Experiment::start`], ended early (with an error) when `bound` says so.
    pub fn start_bounded(cfg: &Config, bound: Bound) -> Result<Experiment> {
        Experiment::start_ends_bounded(cfg, Ends::Both, bound)
    }

    /// One experiment for several *arms*: cells alike but for their
    /// strategy (not checked beyond that; the first gives everything else).
    /// Their connections and threads are shared: every sender holds every
    /// arm's strategy (each prepared on the socket up front) over one pool,
    /// and [`Experiment::select`] picks the one the next batches send by,
    /// so the arms' samples differ in nothing but the strategy, not in
    /// which connection (with its own lasting state) or thread they got.
    /// Arms of one strategy share its strategy too. At most
    /// [`crate::engine::message::MAX_ARM`] + 1 distinct strategies.
    pub fn start_arms(cfgs: &[Config], bound: Bound) -> Result<Experiment> {
        let first = cfgs
            .first()
            .ok_or_else(|| Error::usage("an experiment needs at least one cell"))?;
        let arms = distinct_strategies(cfgs)?;
        Experiment::start_ends_arms(first, Ends::Both, bound, &arms)
    }

    /// Makes `strategy` (one of the arms it was started with) the one the
    /// next batches send by.
    pub fn select(&mut self, strategy: StrategyKind) -> Result<()> {
        self.arm = self
            .arms
            .iter()
            .position(|&s| s == strategy)
            .ok_or_else(|| {
                Error::usage(format!(
                    "strategy {} is not one of this experiment's arms",
                    strategy.name()
                ))
            })?;
        Ok(())
    }

    fn start_ends_bounded(cfg: &Config, ends: Ends, bound: Bound) -> Result<Experiment> {
        Experiment::start_ends_arms(cfg, ends, bound, &[cfg.strategy])
    }

    /// Starts the worker threads of `ends` over `cfg`, their senders holding
    /// the strategies `arms` (see [`Experiment::start_arms`]; a remote
    /// peer's ends must hold the same, in the same order). Sockets handed in
    /// must be configured already ([`crate::engine::transport::Transport::configure`]).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn start_ends_arms(
        cfg: &Config,
        ends: Ends,
        bound: Bound,
        arms: &[StrategyKind],
    ) -> Result<Experiment> {
        cfg.validate()?;
        cfg.transport.check()?;
        crate::engine::limits::check_host(cfg, ends.roles())?;
        let roles = ends.roles().len();
        let (mut clients, mut servers) = match ends {
            Ends::Both => (None, None),
            Ends::Clients(s) => (Some(s.into_iter()), None),
            Ends::Servers(s) => (None, Some(s.into_iter())),
        };
        let (report_tx, reports) = mpsc::channel();
        let mut exp = Experiment {
            cfg: cfg.clone(),
            commands: Vec::with_capacity(cfg.threads),
            reports,
            handles: Vec::with_capacity(cfg.threads * 2),
            socks: Vec::with_capacity(cfg.threads * 2),
            listeners: Vec::with_capacity(cfg.threads),
            bound,
            failed: false,
            roles,
            arms: arms.to_vec(),
            arm: 0,
        };
        let plan = CounterPlan::probe();
        for conn in 0..cfg.threads {
            let (addr_tx, addr_rx) = mpsc::sync_channel::<SocketAddr>(1);
            if let Some(socks) = clients.as_mut() {
                let sock = socks.next().ok_or_else(|| {
                    Error::usage(format!("connection {conn}: no socket was handed in"))
                })?;
                let (cmd_tx, cmd_rx) = mpsc::channel();
                exp.commands.push(cmd_tx);
                let client =
                    Worker::new(cfg, conn, Role::Client, report_tx.clone(), plan).arms(arms);
                exp.handles.push(spawn(client, move |w| {
                    w.drive(Some(sock), addr_rx, cmd_rx)
                })?);
                continue;
            }
            if let Some(socks) = servers.as_mut() {
                let sock = socks.next().ok_or_else(|| {
                    Error::usage(format!("connection {conn}: no socket was handed in"))
                })?;
                let server =
                    Worker::new(cfg, conn, Role::Server, report_tx.clone(), plan).arms(arms);
                exp.handles
                    .push(spawn(server, move |w| w.serve(Some(sock), addr_tx))?);
                continue;
            }
            let (client_sock, server_sock) = match cfg.transport.kind {
                TransportKind::Unix => {
                    let (c, s) = match cfg.transport.unix_pair() {
                        Ok(pair) => pair,
                        Err(e) => {
                            let e = Error::io(
                                format!("connection {conn}: socketpair{}", fd_hint(&e)),
                                e,
                            );
                            return Err(exp.abort(e));
                        }
                    };
                    (Some(c), Some(s))
                }
                _ => (None, None),
            };
            let (cmd_tx, cmd_rx) = mpsc::channel();
            exp.commands.push(cmd_tx);
            let server = Worker::new(cfg, conn, Role::Server, report_tx.clone(), plan).arms(arms);
            let client = Worker::new(cfg, conn, Role::Client, report_tx.clone(), plan).arms(arms);
            for spawned in [
                spawn(server, move |w| w.serve(server_sock, addr_tx)),
                spawn(client, move |w| w.drive(client_sock, addr_rx, cmd_rx)),
            ] {
                match spawned {
                    Ok(h) => exp.handles.push(h),
                    Err(e) => return Err(exp.abort(e)),
                }
            }
        }
        drop(report_tx);
        let wait = cfg.transport.timeout + Duration::from_secs(5);
        while exp.socks.len() < cfg.threads * roles {
            match exp.next_report(wait) {
                Ok(Report {
                    event: Event::Ready { sock },
                    role,
                }) => exp.socks.push((role, sock)),
                Ok(Report {
                    event: Event::Listening { sock },
                    ..
                }) => exp.listeners.push(sock),
                Ok(Report {
                    event: Event::Failed(e),
                    ..
                }) => return Err(exp.abort(e)),
                Ok(_) => unreachable!("no batch runs before every connection is ready"),
                Err(e) => return Err(exp.abort(e)),
            }
        }
        // Every accept is done: the listeners' duplicates would only hold ports open.
        exp.listeners.clear();
        Ok(exp)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// What the socket buffers really are, read back from the kernel.
    pub fn socket_buffers(&self) -> SocketBuffers {
        use std::os::fd::AsFd;
        // The first end of `role` (every connection's are alike), and
        // whether its options exist (TCP).
        let sock = |role: Role| self.socks.iter().find(|(r, _)| *r == role).map(|(_, s)| s);
        let tcp =
            |role: Role| sock(role).filter(|_| self.cfg.transport.kind != TransportKind::Unix);
        SocketBuffers {
            sndbuf: sock(Role::Client).and_then(|s| s.send_buffer_size().ok()),
            rcvbuf: sock(Role::Server).and_then(|s| s.recv_buffer_size().ok()),
            mss: tcp(Role::Client).and_then(|s| crate::sys::maxseg(s.as_fd()).ok()),
            default_rcvlowat: sock(Role::Server)
                .filter(|_| {
                    self.cfg.keeps_default_mark()
                        && sender_promises(self.cfg.workload, self.cfg.strategy)
                })
                .and_then(|s| crate::engine::recv::default_mark(s.as_fd()).ok().flatten()),
            congestion: tcp(Role::Client)
                .and_then(|s| crate::engine::transport::congestion_of(s).ok()),
        }
    }

    fn next_report(&self, wait: Duration) -> Result<Report> {
        let slice = if self.bound.is_set() {
            Bound::POLL
        } else {
            wait
        };
        loop {
            self.bound.check()?;
            match self.reports.recv_timeout(slice) {
                Ok(r) => return Ok(r),
                Err(RecvTimeoutError::Timeout) if self.handles.iter().any(|h| !h.is_finished()) => {
                    // Every socket call has a timeout, so a live thread always
                    // reports in the end; keep waiting unless all are gone.
                    continue;
                }
                Err(_) => {
                    return Err(Error::io(
                        "worker threads",
                        std::io::Error::other("every worker thread ended without reporting"),
                    ))
                }
            }
        }
    }

    /// Runs one batch through the running workers and returns what it measured.
    pub fn run(&mut self, batch: Batch) -> Result<BatchReport> {
        if self.failed {
            return Err(Error::io(
                "batch",
                std::io::Error::other("an earlier batch failed; start a new experiment"),
            ));
        }
        let threads = self.cfg.threads as u64;
        let start = Instant::now();
        let mut active = 0usize;
        for conn in 0..self.cfg.threads {
            let run = match batch {
                Batch::Messages(n) => {
                    let share = n / threads + u64::from((conn as u64) < n % threads);
                    if share == 0 {
                        continue;
                    }
                    Command::Run {
                        messages: Some(share),
                        duration: None,
                        arm: self.arm,
                    }
                }
                Batch::Duration(d) => Command::Run {
                    messages: None,
                    duration: Some(d),
                    arm: self.arm,
                },
            };
            // A closed channel means the thread ended; its report says why.
            // (A server-only experiment has no commands: its clients are remote.)
            if let Some(cmd) = self.commands.get(conn) {
                let _ = cmd.send(run);
            }
            active += 1;
        }
        let mut ended = start;
        let mut out = BatchReport {
            seconds: 0.0,
            messages: 0,
            bytes: 0,
            latency_ns: (self.cfg.workload == WorkloadKind::Rr).then(new_histogram),
            client: RoleStats::default(),
            server: RoleStats::default(),
            zerocopy: None,
            rx: None,
        };
        let wait = self.cfg.transport.timeout + Duration::from_secs(5);
        for _ in 0..active * self.roles {
            let report = match self.next_report(wait) {
                Ok(r) => r,
                Err(e) => return Err(self.abort(e)),
            };
            let b = match report.event {
                Event::Batch(b) => b,
                Event::Failed(e) => return Err(self.abort(e)),
                Event::Ready { .. } | Event::Listening { .. } => {
                    unreachable!("ready reports come only at start")
                }
            };
            let counts_traffic = match self.cfg.workload {
                WorkloadKind::Stream => report.role == Role::Server,
                WorkloadKind::Rr => report.role == Role::Client,
            };
            if counts_traffic {
                out.messages += b.messages;
            }
            // When this thread's traffic ended: its report's arrival, less
            // what it did after (the zero-copy drain; see ThreadBatch).
            let now = Instant::now();
            ended = ended.max(
                now.checked_sub(Duration::from_nanos(b.after_traffic_ns))
                    .unwrap_or(now),
            );
            out.bytes += b.bytes;
            match report.role {
                Role::Client => out.client.add(&b.stats),
                Role::Server => out.server.add(&b.stats),
            }
            if let (Some(all), Some(h)) = (out.latency_ns.as_mut(), b.latency_ns.as_ref()) {
                all.add(h).expect("histograms share their bounds");
            }
            if let Some(z) = &b.zerocopy {
                out.zerocopy
                    .get_or_insert_with(ZeroCopyStats::default)
                    .add(z);
            }
            if let Some(x) = &b.rx {
                out.rx.get_or_insert_with(Default::default).add(x);
            }
        }
        out.seconds = (ended - start).as_secs_f64();
        Ok(out)
    }

    /// Closes every connection, lets zero-copy senders collect their last
    /// completions, and joins the threads.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    /// [`Experiment::stop`], but if the threads have not ended `within`
    /// (a remote client that keeps its connections open), resets their
    /// connections first. Returns whether it had to.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn stop_within(mut self, within: Duration) -> (Result<()>, bool) {
        for cmd in self.commands.drain(..) {
            let _ = cmd.send(Command::Stop);
        }
        let deadline = Instant::now() + within;
        // Server workers end when their client half-closes (and half-close
        // in turn, so the client's wait for the FIN ends too).
        while self.handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let forced = self.handles.iter().any(|h| !h.is_finished());
        if forced {
            self.unblock();
        }
        (self.shutdown(), forced)
    }

    /// Wakes every worker blocked on its socket. With both ends here,
    /// shutting the sockets down stops both; with a remote peer, which may
    /// keep sending, the connections are reset.
    fn unblock(&self) {
        for (_, s) in &self.socks {
            if self.roles == 1 && self.cfg.transport.kind != TransportKind::Unix {
                let _ = crate::sys::disconnect(s.as_fd());
            }
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        for s in &self.listeners {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// [`Experiment::unblock`] until every thread has ended, taking in the
    /// sockets of threads that were still setting up.
    fn wake_all(&mut self) {
        loop {
            self.unblock();
            if self.handles.iter().all(JoinHandle::is_finished) {
                return;
            }
            match self.reports.recv_timeout(Duration::from_millis(10)) {
                Ok(Report {
                    event: Event::Ready { sock },
                    role,
                }) => self.socks.push((role, sock)),
                Ok(Report {
                    event: Event::Listening { sock },
                    ..
                }) => self.listeners.push(sock),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn shutdown(&mut self) -> Result<()> {
        for cmd in self.commands.drain(..) {
            let _ = cmd.send(Command::Stop);
        }
        // Each end half-closes explicitly, so the threads finish while we
        // still hold their sockets. A teardown that hangs (a link gone
        // between batches leaves the server waiting for a FIN that never
        // comes) is cut when the bound says so, or after the timeout.
        let give_up = Instant::now() + self.cfg.transport.timeout + Duration::from_secs(5);
        while !self.handles.iter().all(JoinHandle::is_finished) {
            if self.bound.check().is_err() || Instant::now() >= give_up {
                self.unblock();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.socks.clear();
        let mut first_error = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        while let Ok(r) = self.reports.try_recv() {
            if let Event::Failed(e) = r.event {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Ends a failed run at once: tells the clients to stop, wakes every
    /// blocked thread by shutting its sockets down (listeners included, and
    /// sockets announced while we wait), joins them, and returns the first error.
    fn abort(&mut self, first: Error) -> Error {
        self.failed = true;
        for cmd in self.commands.drain(..) {
            let _ = cmd.send(Command::Stop);
        }
        self.wake_all();
        let other = self.shutdown();
        // "The other thread ended before its part of the set-up" only
        // reports that thread's failure; when both arrive, whichever came
        // first, the one that says why is the error (a server that could
        // not bind --server-addr is a usage error, not the client's wait).
        match (first, other) {
            (first, Err(cause)) if first.is_peer_thread() => cause,
            (first, _) => first,
        }
    }
}

impl Drop for Experiment {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            self.commands.clear();
            self.wake_all();
            let _ = self.shutdown();
        }
    }
}

pub(crate) fn spawn(
    w: Worker,
    body: impl FnOnce(&mut Worker) -> Result<()> + Send + 'static,
) -> Result<JoinHandle<()>> {
    let name = format!("cb-{}-{}", w.role, w.conn);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut w = w;
            if let Err(e) = body(&mut w) {
                w.report(Event::Failed(e));
            }
        })
        .map_err(|e| Error::io("spawning a worker thread", e))
}
