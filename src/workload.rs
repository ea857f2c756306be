//! Workloads and their worker threads: start once, run many measured batches, stop.
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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender as ChanSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use socket2::Socket;

use crate::counters::{CounterPlan, CounterSample, ThreadCounters};
use crate::error::{Error, Result, Role};
use crate::message::{Header, Shape, Verifier, Verify, VerifyError, FLAG_BATCH_END};
use crate::recv::{ReadError, Reader};
use crate::strategy::{SendError, Sender, StrategyKind, ZeroCopyStats};
use crate::sys;
use crate::transport::{Transport, TransportKind};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Request/response: send, receive the same shape back; latency is the round trip.
    Rr,
    /// One-way: the client sends continuously, the server verifies.
    Stream,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Rr => "rr",
            WorkloadKind::Stream => "stream",
        }
    }

    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        [WorkloadKind::Rr, WorkloadKind::Stream]
            .into_iter()
            .find(|w| w.name() == name)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Smallest and largest `--threads`.
pub const MAX_THREADS: usize = 1024;

/// Test-only faults, injected to check that failures end a run cleanly.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Server threads close their connection after verifying this many messages.
    ServerClosesAfter(u64),
    /// Client threads flip a bit in the last byte of the message with this
    /// sequence number before sending it.
    ClientDamages(u64),
}

/// Everything one experiment needs; every field is echoed beside its results.
#[derive(Debug, Clone)]
pub struct Config {
    pub strategy: StrategyKind,
    pub transport: Transport,
    pub workload: WorkloadKind,
    pub shape: Shape,
    pub threads: usize,
    pub verify: Verify,
    /// Messages each sender keeps in its pool; see [`Config::pool_slots`].
    pub pool_slots: Option<usize>,
    /// Test-only: rewrite a pool slot's fields each time it is reused.
    pub refill_on_reuse: bool,
    /// Open perf counters in each worker thread.
    pub counters: bool,
    #[doc(hidden)]
    pub fault: Option<Fault>,
}

/// Bytes of messages a sender aims to keep in its pool by default.
pub const POOL_TARGET_BYTES: usize = 4 << 20;

impl Config {
    pub fn new(
        strategy: StrategyKind,
        transport: TransportKind,
        workload: WorkloadKind,
        shape: Shape,
    ) -> Config {
        let mut transport = Transport::new(transport);
        transport.nodelay = workload == WorkloadKind::Rr;
        Config {
            strategy,
            transport,
            workload,
            shape,
            threads: 1,
            verify: Verify::Sampled,
            pool_slots: None,
            refill_on_reuse: false,
            counters: true,
            fault: None,
        }
    }

    /// Pool slots per sender: enough messages to cover [`POOL_TARGET_BYTES`]
    /// (what a zero-copy sender may have in flight), between 2 and 64.
    pub fn pool_slots(&self) -> usize {
        self.pool_slots
            .unwrap_or_else(|| (POOL_TARGET_BYTES / self.shape.message_bytes()).clamp(2, 64))
    }

    /// Checks the limits the CLI documents; each error names its flag.
    pub fn validate(&self) -> Result<()> {
        use crate::message::{MAX_FIELDS, MAX_FIELD_SIZE, MAX_MESSAGE_BYTES};
        let s = self.shape;
        if !(1..=MAX_FIELD_SIZE).contains(&s.field_size) {
            return Err(Error::usage(format!(
                "--field-size {}: must be 1 B to 64 MiB ({MAX_FIELD_SIZE} B)",
                s.field_size
            )));
        }
        if !(1..=MAX_FIELDS).contains(&s.fields) {
            return Err(Error::usage(format!(
                "--fields {}: must be 1 to {MAX_FIELDS} (with the header, one sendmsg carries at most IOV_MAX = 1024 pieces)",
                s.fields
            )));
        }
        if s.message_bytes() > MAX_MESSAGE_BYTES {
            return Err(Error::usage(format!(
                "--fields {} x --field-size {} = {} B: a message may be at most 1 GiB",
                s.fields,
                s.field_size,
                s.message_bytes()
            )));
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return Err(Error::usage(format!(
                "--threads {}: must be 1 to {MAX_THREADS}",
                self.threads
            )));
        }
        if self.pool_slots == Some(0) {
            return Err(Error::usage("--pool 0: must be at least 1"));
        }
        if !self.strategy.supports(self.transport.kind) {
            return Err(Error::usage(format!(
                "--strategy {} cannot run over --transport {}: AF_UNIX sockets take no zero-copy sends (no SO_ZEROCOPY, and IORING_OP_SENDMSG_ZC answers EOPNOTSUPP); use loopback or veth",
                self.strategy, self.transport.kind
            )));
        }
        if let Err(why) = self.strategy.host_support() {
            return Err(Error::Unsupported(format!(
                "--strategy {} cannot run on this host: {why}",
                self.strategy
            )));
        }
        if self.transport.timeout.is_zero() {
            return Err(Error::usage("--timeout must be more than 0 seconds"));
        }
        Ok(())
    }
}

/// How much work one batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// Exactly this many messages in all (rr: exchanges), split over the threads.
    Messages(u64),
    /// As many as fit in this time on every thread.
    Duration(Duration),
}

/// CPU time, nanoseconds: `total_ns` exact (`CLOCK_THREAD_CPUTIME_ID`), its
/// split into user and system time as the kernel samples it (`getrusage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuTime {
    pub user_ns: u64,
    pub sys_ns: u64,
    pub total_ns: u64,
}

impl CpuTime {
    fn add(&mut self, o: &CpuTime) {
        self.user_ns += o.user_ns;
        self.sys_ns += o.sys_ns;
        self.total_ns += o.total_ns;
    }
}

/// What one role's threads spent on a batch, summed over the threads.
#[derive(Debug, Clone, Default)]
pub struct RoleStats {
    pub cpu: CpuTime,
    pub counters: CounterSample,
}

impl RoleStats {
    fn add(&mut self, o: &RoleStats) {
        self.cpu.add(&o.cpu);
        self.counters.add(&o.counters);
    }
}

/// What one batch measured.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// Wall time from the start command to the last thread's report.
    pub seconds: f64,
    /// Messages verified: stream, by the servers; rr, exchanges completed.
    pub messages: u64,
    /// Bytes verified by the receivers (rr: requests and replies).
    pub bytes: u64,
    /// Round-trip times in nanoseconds (rr only).
    pub latency_ns: Option<Histogram<u64>>,
    pub client: RoleStats,
    pub server: RoleStats,
    /// Both roles' zero-copy bookkeeping for this batch (zero-copy only).
    pub zerocopy: Option<ZeroCopyStats>,
}

impl BatchReport {
    pub fn throughput_gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds / 1e9
    }

    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.seconds
    }

    /// A latency percentile in microseconds (rr only).
    pub fn latency_us(&self, quantile: f64) -> Option<f64> {
        self.latency_ns
            .as_ref()
            .map(|h| h.value_at_quantile(quantile) as f64 / 1e3)
    }

    pub fn latency_max_us(&self) -> Option<f64> {
        self.latency_ns.as_ref().map(|h| h.max() as f64 / 1e3)
    }
}

enum Cmd {
    Run {
        messages: Option<u64>,
        until: Option<Instant>,
    },
    Stop,
}

/// What a worker thread measured for its part of one batch.
struct ThreadBatch {
    messages: u64,
    bytes: u64,
    stats: RoleStats,
    latency_ns: Option<Histogram<u64>>,
    zerocopy: Option<ZeroCopyStats>,
}

enum Event {
    Ready { sock: Socket },
    Batch(ThreadBatch),
    Failed(Error),
}

struct Report {
    role: Role,
    event: Event,
}

/// Running workers, ready for batches.
pub struct Experiment {
    cfg: Config,
    commands: Vec<ChanSender<Cmd>>,
    reports: Receiver<Report>,
    handles: Vec<JoinHandle<()>>,
    /// A second handle on every data socket, to unblock the threads if a run fails.
    socks: Vec<Socket>,
    failed: bool,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static histogram bounds are valid")
}

impl Experiment {
    /// Validates `cfg`, makes the connections and starts the worker threads.
    pub fn start(cfg: &Config) -> Result<Experiment> {
        cfg.validate()?;
        cfg.transport.check()?;
        raise_fd_limit(cfg.threads);
        let (report_tx, reports) = mpsc::channel();
        let mut exp = Experiment {
            cfg: cfg.clone(),
            commands: Vec::with_capacity(cfg.threads),
            reports,
            handles: Vec::with_capacity(cfg.threads * 2),
            socks: Vec::with_capacity(cfg.threads * 2),
            failed: false,
        };
        let plan = CounterPlan::probe();
        for conn in 0..cfg.threads {
            let (addr_tx, addr_rx) = mpsc::sync_channel::<SocketAddr>(1);
            let (client_sock, server_sock) = match cfg.transport.kind {
                TransportKind::Unix => {
                    let (c, s) = cfg
                        .transport
                        .unix_pair()
                        .map_err(|e| Error::io(format!("connection {conn}: socketpair"), e))?;
                    (Some(c), Some(s))
                }
                _ => (None, None),
            };
            let (cmd_tx, cmd_rx) = mpsc::channel();
            exp.commands.push(cmd_tx);
            let server = Worker::new(cfg, conn, Role::Server, report_tx.clone(), plan);
            let client = Worker::new(cfg, conn, Role::Client, report_tx.clone(), plan);
            exp.handles
                .push(spawn(server, move |w| w.serve(server_sock, addr_tx))?);
            exp.handles.push(spawn(client, move |w| {
                w.drive(client_sock, addr_rx, cmd_rx)
            })?);
        }
        drop(report_tx);
        let wait = cfg.transport.timeout + Duration::from_secs(5);
        while exp.socks.len() < cfg.threads * 2 {
            match exp.next_report(wait) {
                Ok(Report {
                    event: Event::Ready { sock },
                    ..
                }) => exp.socks.push(sock),
                Ok(Report {
                    event: Event::Failed(e),
                    ..
                }) => return Err(exp.abort(e)),
                Ok(_) => unreachable!("no batch runs before every connection is ready"),
                Err(e) => return Err(exp.abort(e)),
            }
        }
        Ok(exp)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn next_report(&self, wait: Duration) -> Result<Report> {
        loop {
            match self.reports.recv_timeout(wait) {
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
        for (conn, cmd) in self.commands.iter().enumerate() {
            let run = match batch {
                Batch::Messages(n) => {
                    let share = n / threads + u64::from((conn as u64) < n % threads);
                    if share == 0 {
                        continue;
                    }
                    Cmd::Run {
                        messages: Some(share),
                        until: None,
                    }
                }
                Batch::Duration(d) => Cmd::Run {
                    messages: None,
                    until: Some(start + d),
                },
            };
            // A closed channel means the thread ended; its report says why.
            let _ = cmd.send(run);
            active += 1;
        }
        let mut out = BatchReport {
            seconds: 0.0,
            messages: 0,
            bytes: 0,
            latency_ns: (self.cfg.workload == WorkloadKind::Rr).then(new_histogram),
            client: RoleStats::default(),
            server: RoleStats::default(),
            zerocopy: None,
        };
        let wait = self.cfg.transport.timeout + Duration::from_secs(5);
        for _ in 0..active * 2 {
            let report = match self.next_report(wait) {
                Ok(r) => r,
                Err(e) => return Err(self.abort(e)),
            };
            let b = match report.event {
                Event::Batch(b) => b,
                Event::Failed(e) => return Err(self.abort(e)),
                Event::Ready { .. } => unreachable!("ready reports come only at start"),
            };
            let counts_traffic = match self.cfg.workload {
                WorkloadKind::Stream => report.role == Role::Server,
                WorkloadKind::Rr => report.role == Role::Client,
            };
            if counts_traffic {
                out.messages += b.messages;
            }
            out.bytes += b.bytes;
            match report.role {
                Role::Client => out.client.add(&b.stats),
                Role::Server => out.server.add(&b.stats),
            }
            if let (Some(all), Some(h)) = (out.latency_ns.as_mut(), b.latency_ns.as_ref()) {
                all.add(h).expect("histograms share their bounds");
            }
            if let Some(z) = b.zerocopy {
                out.zerocopy
                    .get_or_insert_with(ZeroCopyStats::default)
                    .add(&z);
            }
        }
        out.seconds = start.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Closes every connection, lets zero-copy senders collect their last
    /// completions, and joins the threads.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        for cmd in self.commands.drain(..) {
            let _ = cmd.send(Cmd::Stop);
        }
        // Drop our duplicates first: while they live, a thread closing its end sends no FIN.
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

    /// Ends a failed run: wakes every blocked thread by shutting its socket
    /// down, joins them, and returns the first error.
    fn abort(&mut self, first: Error) -> Error {
        self.failed = true;
        for s in &self.socks {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let _ = self.shutdown();
        first
    }
}

impl Drop for Experiment {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            for s in &self.socks {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            let _ = self.shutdown();
        }
    }
}

/// Many threads mean many sockets: lift the soft descriptor limit to the hard one.
fn raise_fd_limit(threads: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let need = (threads as u64) * 6 + 64;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < need {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, need.min(hard).max(soft), hard);
        }
    }
}

fn spawn(
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

/// A timed stream batch reads the clock once per this many sends.
const DEADLINE_EVERY: u64 = 16;

/// Per-thread measurement: CPU time and perf counters around a batch.
struct Meter {
    usage: sys::ThreadUsage,
    counters: Option<ThreadCounters>,
}

impl Meter {
    fn new(plan: Option<&'static CounterPlan>) -> Meter {
        Meter {
            usage: sys::ThreadUsage::default(),
            counters: plan.map(ThreadCounters::open),
        }
    }

    fn start(&mut self) {
        self.usage = sys::thread_usage().unwrap_or_default();
        if let Some(c) = &mut self.counters {
            c.start();
        }
    }

    fn stop(&mut self) -> RoleStats {
        let counters = self.counters.as_mut().map(|c| c.stop()).unwrap_or_default();
        let now = sys::thread_usage().unwrap_or_default();
        RoleStats {
            cpu: CpuTime {
                user_ns: now.user_ns.saturating_sub(self.usage.user_ns),
                sys_ns: now.sys_ns.saturating_sub(self.usage.sys_ns),
                total_ns: now.cpu_ns.saturating_sub(self.usage.cpu_ns),
            },
            counters,
        }
    }
}

/// One worker thread: the client or the server end of one connection.
struct Worker {
    conn: usize,
    role: Role,
    cfg: Config,
    reports: ChanSender<Report>,
    plan: Option<&'static CounterPlan>,
}

impl Worker {
    fn new(
        cfg: &Config,
        conn: usize,
        role: Role,
        reports: ChanSender<Report>,
        plan: &'static CounterPlan,
    ) -> Worker {
        Worker {
            conn,
            role,
            cfg: cfg.clone(),
            reports,
            plan: cfg.counters.then_some(plan),
        }
    }

    fn report(&self, event: Event) {
        let _ = self.reports.send(Report {
            role: self.role,
            event,
        });
    }

    fn fail(&self, what: impl std::fmt::Display) -> Error {
        Error::Connection {
            conn: self.conn,
            role: self.role,
            what: what.to_string(),
        }
    }

    fn send_failed(&self, e: SendError) -> Error {
        match e {
            e if e.is_unsupported() => Error::Unsupported(format!("connection {}: {e}", self.conn)),
            SendError::Io(ref io)
                if io.raw_os_error() == Some(libc::EPIPE)
                    || io.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                self.fail(format!(
                    "the peer closed the connection while we were sending ({e})"
                ))
            }
            e => self.fail(format!("send failed: {e}")),
        }
    }

    fn verify_failed(&self, e: VerifyError) -> Error {
        self.fail(format!("verification failed: {e}"))
    }

    fn sender(&self) -> Sender {
        Sender::new(
            self.cfg.strategy,
            self.cfg.shape,
            self.cfg.pool_slots(),
            self.cfg.transport.timeout,
        )
        .refill_on_reuse(self.cfg.refill_on_reuse)
    }

    fn ready(&self, sock: &Socket) -> Result<()> {
        let dup = sock
            .try_clone()
            .map_err(|e| self.fail(format!("dup: {e}")))?;
        self.report(Event::Ready { sock: dup });
        Ok(())
    }

    /// The server thread: accept, then verify (and answer) until the client goes away.
    fn serve(&mut self, sock: Option<Socket>, addr_tx: mpsc::SyncSender<SocketAddr>) -> Result<()> {
        let t = &self.cfg.transport;
        t.enter(Role::Server)?;
        let sock = match sock {
            Some(s) => s,
            None => {
                let (listener, addr) = t.listen().map_err(|e| self.fail(format!("listen: {e}")))?;
                addr_tx
                    .send(addr)
                    .map_err(|_| self.fail("the client thread ended before connecting"))?;
                t.accept(&listener)
                    .map_err(|e| self.fail(format!("accept: {e}")))?
            }
        };
        let mut sender = (self.cfg.workload == WorkloadKind::Rr).then(|| self.sender());
        if let Some(s) = sender.as_mut() {
            s.prepare(sock.as_fd()).map_err(|e| self.send_failed(e))?;
        }
        let mut reader = Reader::new(self.cfg.shape.message_bytes());
        let mut verifier = Verifier::new(self.cfg.shape, self.cfg.verify);
        let mut meter = Meter::new(self.plan);
        self.ready(&sock)?;

        let fd = sock.as_fd();
        let msg_bytes = self.cfg.shape.message_bytes() as u64;
        let (mut messages, mut total) = (0u64, 0u64);
        meter.start();
        loop {
            let msg = match reader.next(fd) {
                Ok(m) => m,
                // The client closed between batches: the experiment is stopping.
                Err(ReadError::Closed { partial: 0 }) if messages == 0 => break,
                // Idle between batches; the timeout only matters mid-batch.
                Err(ReadError::TimedOut { partial: 0, .. }) if messages == 0 => continue,
                Err(e) => return Err(self.fail(e)),
            };
            // rr answers first and checks after, so the check is not part of
            // the client's round trip (sockperf, too, checks after timing). A
            // bad request still fails the cell before its batch is counted.
            if let Some(s) = sender.as_mut() {
                let flags = Header::decode(msg)
                    .map_err(|e| self.verify_failed(e))?
                    .flags;
                s.send_next(fd, flags & FLAG_BATCH_END)
                    .map_err(|e| self.send_failed(e))?;
            }
            let header = verifier.check(msg).map_err(|e| self.verify_failed(e))?;
            messages += 1;
            total += 1;
            if let Some(Fault::ServerClosesAfter(n)) = self.cfg.fault {
                if total >= n {
                    // Shut down, not just drop: the experiment holds a duplicate of this socket.
                    let _ = sock.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
            }
            if header.flags & FLAG_BATCH_END != 0 {
                let mut zerocopy = None;
                if let Some(s) = sender.as_mut() {
                    s.drain(fd).map_err(|e| self.send_failed(e))?;
                    zerocopy = s.zerocopy_since_last();
                }
                let stats = meter.stop();
                self.report(Event::Batch(ThreadBatch {
                    messages,
                    bytes: messages * msg_bytes,
                    stats,
                    latency_ns: None,
                    zerocopy,
                }));
                messages = 0;
                meter.start();
            }
        }
        if let Some(s) = sender.as_mut() {
            s.drain(fd).map_err(|e| self.send_failed(e))?;
        }
        Ok(())
    }

    /// The client thread: connect, then run batches as the coordinator asks.
    fn drive(
        &mut self,
        sock: Option<Socket>,
        addr_rx: Receiver<SocketAddr>,
        cmds: Receiver<Cmd>,
    ) -> Result<()> {
        let t = &self.cfg.transport;
        t.enter(Role::Client)?;
        let sock = match sock {
            Some(s) => s,
            None => {
                let addr = addr_rx
                    .recv_timeout(t.timeout)
                    .map_err(|_| self.fail("the server thread did not start listening"))?;
                t.connect(addr)
                    .map_err(|e| self.fail(format!("connect to {addr}: {e}")))?
            }
        };
        let damage = match self.cfg.fault {
            Some(Fault::ClientDamages(seq)) => Some(seq),
            _ => None,
        };
        let mut sender = self.sender().damage(damage);
        sender
            .prepare(sock.as_fd())
            .map_err(|e| self.send_failed(e))?;
        let rr = self.cfg.workload == WorkloadKind::Rr;
        let mut reader = Reader::new(if rr {
            self.cfg.shape.message_bytes()
        } else {
            0
        });
        let mut verifier = Verifier::new(self.cfg.shape, self.cfg.verify);
        let mut meter = Meter::new(self.plan);
        self.ready(&sock)?;

        let fd = sock.as_fd();
        let msg_bytes = self.cfg.shape.message_bytes() as u64;
        while let Ok(Cmd::Run {
            messages: count,
            until,
        }) = cmds.recv()
        {
            let mut latency = rr.then(new_histogram);
            meter.start();
            let mut sent = 0u64;
            loop {
                // The clock is read only where it is needed: rr times every
                // round trip; a timed stream batch checks its deadline every
                // DEADLINE_EVERY messages, which overshoots it by a few
                // sends at most (the batch's own wall time is what counts).
                let t0 = rr.then(Instant::now);
                let last = match (count, until) {
                    (Some(n), _) => sent + 1 >= n,
                    (None, Some(deadline)) => match t0 {
                        Some(now) => now >= deadline,
                        None => sent % DEADLINE_EVERY == 0 && Instant::now() >= deadline,
                    },
                    (None, None) => true,
                };
                let flags = if last { FLAG_BATCH_END } else { 0 };
                sender
                    .send_next(fd, flags)
                    .map_err(|e| self.send_failed(e))?;
                if let Some(h) = latency.as_mut() {
                    let reply = reader.next(fd).map_err(|e| self.fail(e))?;
                    // The round trip ends when the whole reply is in; checking
                    // it is copybench's work, not the socket's.
                    let rtt = t0.map_or(0, |t| t.elapsed().as_nanos() as u64);
                    verifier.check(reply).map_err(|e| self.verify_failed(e))?;
                    h.saturating_record(rtt);
                }
                sent += 1;
                if last {
                    break;
                }
            }
            sender.drain(fd).map_err(|e| self.send_failed(e))?;
            let stats = meter.stop();
            let zerocopy = sender.zerocopy_since_last();
            self.report(Event::Batch(ThreadBatch {
                messages: sent,
                bytes: if rr { sent * msg_bytes } else { 0 },
                stats,
                latency_ns: latency,
                zerocopy,
            }));
        }
        sender.drain(fd).map_err(|e| self.send_failed(e))?;
        // Half-close, then wait for the server to finish and close its end,
        // so no byte in flight is cut off by a reset.
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let mut rest = [0u8; 64];
        while matches!(sys::recv(fd, &mut rest, 0), Ok(n) if n > 0) {}
        Ok(())
    }
}
