//! One endpoint's loop: the client or the server end of one connection, and
//! the typed messages it exchanges with its coordinator.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc::{self, Receiver, Sender as ChanSender};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use socket2::Socket;

use crate::engine::config::{Config, Fault, STALL};

use crate::engine::counters::CounterPlan;
use crate::engine::error::{Cause, Error, Result};
use crate::engine::message::{
    arm_flags, arm_of, promise_flags, sender_promises, Header, PoolPlan, Verifier, VerifyError,
    FLAG_BATCH_END,
};
use crate::engine::meter::Meter;
use crate::engine::recv::{Lowat, MapReader, NextError, ReadError, Reader};
use crate::engine::strategy::{Refill, SendError, Sender};
use crate::model::kinds::ReceiveKind;
use crate::model::kinds::Role;
use crate::model::kinds::StrategyKind;
use crate::model::kinds::TransportKind;
use crate::model::kinds::WorkloadKind;
use crate::model::measured::RoleStats;
use crate::model::measured::RxStats;
use crate::model::measured::ZeroCopyStats;
use crate::model::stats::new_histogram;
use crate::sys;

/// What the coordinator asks of a client worker. A message type, not a
/// call: a remote peer's coordinator sends the same values over its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Command {
    /// Run one batch: exactly `messages`, or as many as fit in `duration`
    /// (counted from when the worker receives the command).
    Run {
        messages: Option<u64>,
        duration: Option<Duration>,
        /// Which of the connection's strategies sends (see
        /// [`crate::engine::experiment::Experiment::start_arms`]); 0 when it has one.
        #[serde(default)]
        arm: usize,
    },
    /// Close the connection and end the thread.
    Stop,
}

/// What a worker thread measured for its part of one batch; the message a
/// worker sends its coordinator, in-process or (later) over a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThreadBatch {
    /// Time from the end of this thread's part of the batch's traffic (a
    /// client's last send, rr: its last reply; a server's check of the last
    /// message) to this report. It is mostly the zero-copy drain, which waits
    /// for the kernel to let go of the last sends: on an idle rr connection
    /// that is a delayed ACK (~40 ms), and it says nothing about the cost of
    /// sending. The coordinator takes it off the batch's wall time. The drain
    /// still happens before the report, so the next batch starts with
    /// nothing in flight and every completion counts in its own batch.
    pub after_traffic_ns: u64,
    pub messages: u64,
    pub bytes: u64,
    pub stats: RoleStats,
    #[serde(with = "crate::model::stats::latency_serde")]
    pub latency_ns: Option<Histogram<u64>>,
    pub zerocopy: Option<ZeroCopyStats>,
    /// The mapping receiver's bookkeeping (`--receive zerocopy`).
    #[serde(default)]
    pub rx: Option<RxStats>,
}

/// A worker's report to its coordinator. `Ready` hands over a duplicate of
/// the data socket (in-process only: it lets the coordinator unblock the
/// thread if a run fails).
pub(crate) enum Event {
    /// A server thread listens; the coordinator keeps a duplicate so that
    /// a failed start can wake an `accept` that would otherwise wait.
    Listening {
        sock: Socket,
    },
    Ready {
        sock: Socket,
    },
    Batch(Box<ThreadBatch>),
    Failed(Error),
}

pub(crate) struct Report {
    pub role: Role,
    pub event: Event,
}

/// A timed stream batch reads the clock once per this many sends. It is also
/// how far ahead the batch promises its receiver more messages (header
/// bits 16–31), so the receiver's default low mark (16 KiB) is reached for
/// messages down to 256 B before a deadline check would cut the promise.
const DEADLINE_EVERY: u64 = 64;
/// ... or every so many bytes, whichever comes first: with large messages a
/// send takes long enough that 64 of them would overshoot a short batch by
/// milliseconds, and a clock read is nothing beside such a send.
const DEADLINE_BYTES: u64 = 256 << 10;

/// Sends between two reads of the clock in a timed stream batch.
fn deadline_every(message_bytes: u64) -> u64 {
    (DEADLINE_BYTES / message_bytes.max(1)).clamp(1, DEADLINE_EVERY)
}

/// How many messages a stream batch sends after its message `sent` (from 0)
/// whatever happens, as its header promises the receiver: none after the
/// last; a counted batch's rest; for a timed batch, those up to and including
/// the next one at which it reads the clock (every `check_every`-th, see
/// [`deadline_every`]), since only there can it end.
fn promised_after(sent: u64, last: bool, count: Option<u64>, check_every: u64) -> u64 {
    match (last, count) {
        (true, _) => 0,
        (false, Some(n)) => n.saturating_sub(sent + 1),
        (false, None) => check_every - sent % check_every,
    }
}

/// One worker thread: the client or the server end of one connection.
pub(crate) struct Worker {
    pub conn: usize,
    pub role: Role,
    cfg: Config,
    /// The strategies this end's sender holds: the cell's, or a block's
    /// arms that share the connection ([`Worker::arms`]).
    strategies: Vec<StrategyKind>,
    reports: ChanSender<Report>,
    plan: Option<&'static CounterPlan>,
}

impl Worker {
    pub(crate) fn new(
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
            strategies: vec![cfg.strategy],
            reports,
            plan: cfg.counters.then_some(plan),
        }
    }

    /// Sends with each of `strategies` in turn, as the coordinator's
    /// commands (client) or the headers (rr server) say, instead of the
    /// cell's one.
    pub(crate) fn arms(mut self, strategies: &[StrategyKind]) -> Worker {
        self.strategies = strategies.to_vec();
        self
    }

    pub(crate) fn report(&self, event: Event) {
        let _ = self.reports.send(Report {
            role: self.role,
            event,
        });
    }

    /// Moves this thread onto its CPU, when the experiment pins.
    fn pin(&self) -> Result<()> {
        if let Some(pin) = &self.cfg.pin {
            let cpu = pin.cpu(self.role, self.conn);
            crate::engine::config::pin_thread(cpu)
                .map_err(|e| self.socket_failed(format!("pinning to CPU {cpu}"), e))?;
        }
        Ok(())
    }

    fn no_such_arm(&self, arm: usize) -> Error {
        self.fail(Cause::NoSuchArm {
            arm,
            held: self.strategies.len(),
        })
    }

    fn fail(&self, cause: Cause) -> Error {
        Error::Connection {
            conn: self.conn,
            role: self.role,
            cause,
        }
    }

    fn read_failed(&self, e: ReadError) -> Error {
        self.fail(Cause::Read(e))
    }

    /// A set-up step failed: say which, and what to do about a known cause.
    fn socket_failed(&self, op: impl Into<String>, source: std::io::Error) -> Error {
        let op = op.into();
        let veth = &self.cfg.transport.veth;
        if source.raw_os_error() == Some(libc::EADDRNOTAVAIL)
            && self.cfg.transport.kind == TransportKind::Veth
        {
            return Error::usage(format!(
                "--server-addr {}: no interface in namespace '{}' has this address ({op}: {source}); netns-setup.sh gives the server {}",
                veth.server_addr,
                veth.server_ns,
                crate::engine::netns::DEFAULT_SERVER_ADDR,
            ));
        }
        self.fail(Cause::Socket {
            op: format!("{op}{}", fd_hint(&source)),
            source,
        })
    }

    fn send_failed(&self, e: SendError) -> Error {
        match e {
            e if e.is_unsupported() => self.fail(Cause::SendUnsupported(e)),
            SendError::Io(ref io)
                if io.raw_os_error() == Some(libc::EPIPE)
                    || io.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                self.fail(Cause::PeerClosed(e))
            }
            e => self.fail(Cause::Send(e)),
        }
    }

    fn verify_failed(&self, e: VerifyError) -> Error {
        self.fail(Cause::Verify(e))
    }

    fn sender(&self) -> Sender {
        Sender::new(
            &self.strategies,
            self.cfg.shape,
            self.cfg.layout,
            self.cfg.pool_slots(),
            self.cfg.transport.timeout,
        )
        .refill(self.cfg.refill)
    }

    /// This end's receiver, as `--receive` and `--rcvlowat` ask.
    fn receiver(&self, fd: BorrowedFd<'_>) -> Result<Rx> {
        let msg_len = self.cfg.shape.message_bytes();
        // Without --rcvlowat, a copying TCP receiver keeps a mark of its own
        // while a batch promises more, where segments are large (engine::recv);
        // AF_UNIX's poll ignores marks; the mapping receiver maps what is queued.
        let lowat = match self.cfg.rcvlowat {
            Some(n) => Lowat::new(fd, n).map(Some),
            None if self.cfg.keeps_default_mark() => Lowat::auto(fd),
            None => Ok(None),
        }
        .map_err(|e| self.socket_failed("setsockopt(SO_RCVLOWAT)", e))?;
        Ok(match self.cfg.receive {
            ReceiveKind::Copy => Rx::Copy(Reader::new(msg_len).lowat(lowat)),
            ReceiveKind::Zerocopy => Rx::Map(Box::new(
                MapReader::new(fd, msg_len, lowat)
                    .map_err(|e| self.socket_failed("mmap of the socket's receive window", e))?,
            )),
        })
    }

    fn ready(&self, sock: &Socket) -> Result<()> {
        let dup = sock.try_clone().map_err(|e| self.socket_failed("dup", e))?;
        self.report(Event::Ready { sock: dup });
        Ok(())
    }

    /// The server thread: accept, then verify (and, for rr, answer) until
    /// the client goes away.
    pub(crate) fn serve(
        &mut self,
        sock: Option<Socket>,
        addr_tx: mpsc::SyncSender<SocketAddr>,
    ) -> Result<()> {
        let t = &self.cfg.transport;
        t.enter(Role::Server)?;
        self.pin()?;
        let sock = match sock {
            Some(s) => s,
            None => {
                let (listener, addr) = t.listen().map_err(|e| self.socket_failed("listen", e))?;
                let dup = listener
                    .try_clone()
                    .map_err(|e| self.socket_failed("dup", e))?;
                self.report(Event::Listening { sock: dup });
                addr_tx.send(addr).map_err(|_| {
                    self.fail(Cause::PeerThread(
                        "the client thread ended before connecting",
                    ))
                })?;
                t.accept(&listener)
                    .map_err(|e| self.socket_failed("accept", e))?
            }
        };
        match self.cfg.workload {
            WorkloadKind::Rr => {
                let mut sender = self.sender();
                sender
                    .prepare(sock.as_fd())
                    .map_err(|e| self.send_failed(e))?;
                self.serve_with(&sock, RrServer { sender })
            }
            WorkloadKind::Stream => self.serve_with(&sock, Stream),
        }
    }

    /// Receives, checks and hands `part` the next message; the header.
    fn next_message<W: ServerPart>(
        &self,
        rx: &mut Rx,
        verifier: &mut Verifier,
        part: &mut W,
        fd: BorrowedFd<'_>,
    ) -> Result<std::result::Result<Header, ReadError>> {
        match rx.next(fd, verifier, |msg| part.on_message(self, fd, msg)) {
            Ok(h) => Ok(Ok(h)),
            Err(NextError::Read(e)) => Ok(Err(e)),
            Err(NextError::Verify(e)) => Err(self.verify_failed(e)),
            Err(NextError::Step(e)) => Err(e),
        }
    }

    fn serve_with<W: ServerPart>(&mut self, sock: &Socket, mut part: W) -> Result<()> {
        let fd = sock.as_fd();
        let mut rx = self.receiver(fd)?;
        let mut verifier = verifier(&self.cfg);
        let mut meter = Meter::new(self.plan);
        self.ready(sock)?;

        let msg_bytes = self.cfg.shape.message_bytes() as u64;
        let (mut messages, mut total) = (0u64, 0u64);
        let mut idle_since = Instant::now();
        meter.start();
        loop {
            if let Some(Fault::ServerStalls(every)) = self.cfg.fault {
                if total % every.max(1) == 0 {
                    std::thread::sleep(STALL);
                }
            }
            let header = match self.next_message(&mut rx, &mut verifier, &mut part, fd)? {
                Ok(h) => h,
                // The client closed between batches: the experiment is stopping.
                Err(ReadError::Closed { partial: 0 }) if messages == 0 => break,
                // Idle between batches; the timeout only matters mid-batch,
                // unless this server cannot trust its client to come back.
                Err(ReadError::TimedOut { partial: 0, .. }) if messages == 0 => {
                    match self.cfg.idle_limit {
                        Some(limit) if idle_since.elapsed() >= limit => {
                            return Err(self.fail(Cause::Idle {
                                seconds: idle_since.elapsed().as_secs_f64(),
                            }))
                        }
                        _ => continue,
                    }
                }
                Err(e) => return Err(self.read_failed(e)),
            };
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
                let ended = Instant::now();
                // Idle from here until the next batch's first message; only
                // the time between batches counts (mid-batch, the socket's
                // own timeout does), so no clock is read per message.
                idle_since = ended;
                let zerocopy = part.end_batch(self, fd)?;
                let stats = meter.stop();
                self.report(Event::Batch(Box::new(ThreadBatch {
                    after_traffic_ns: ended.elapsed().as_nanos() as u64,
                    messages,
                    bytes: messages * msg_bytes,
                    stats,
                    latency_ns: None,
                    zerocopy,
                    rx: rx.take_stats(),
                })));
                messages = 0;
                meter.start();
            }
        }
        part.end_batch(self, fd)?;
        // The FIN the client waits for; a close alone sends none while the
        // coordinator still holds a duplicate of this socket.
        let _ = sock.shutdown(std::net::Shutdown::Write);
        Ok(())
    }

    /// The client thread: connect, then run batches as the coordinator asks.
    pub(crate) fn drive(
        &mut self,
        sock: Option<Socket>,
        addr_rx: Receiver<SocketAddr>,
        cmds: Receiver<Command>,
    ) -> Result<()> {
        let t = &self.cfg.transport;
        t.enter(Role::Client)?;
        self.pin()?;
        let sock = match sock {
            Some(s) => s,
            None => {
                let addr = addr_rx.recv_timeout(t.timeout).map_err(|_| {
                    self.fail(Cause::PeerThread(
                        "the server thread did not start listening",
                    ))
                })?;
                t.connect(addr)
                    .map_err(|e| self.socket_failed(format!("connect to {addr}"), e))?
            }
        };
        let damage = match self.cfg.fault {
            Some(Fault::ClientDamages(seq)) => Some(seq),
            _ => None,
        };
        let damage_slot = match self.cfg.fault {
            Some(Fault::ClientDamagesSlot(slot)) => Some(slot),
            _ => None,
        };
        let mut sender = self.sender().damage(damage).damage_slot(damage_slot);
        sender
            .prepare(sock.as_fd())
            .map_err(|e| self.send_failed(e))?;
        match self.cfg.workload {
            WorkloadKind::Rr => {
                let part = RrClient::new(&self.cfg, self.receiver(sock.as_fd())?);
                self.drive_with(&sock, sender, cmds, part)
            }
            WorkloadKind::Stream => self.drive_with(&sock, sender, cmds, Stream),
        }
    }

    fn drive_with<W: ClientPart>(
        &mut self,
        sock: &Socket,
        mut sender: Sender,
        cmds: Receiver<Command>,
        mut part: W,
    ) -> Result<()> {
        let mut meter = Meter::new(self.plan);
        self.ready(sock)?;

        let fd = sock.as_fd();
        let msg_bytes = self.cfg.shape.message_bytes() as u64;
        let check_every = deadline_every(msg_bytes);
        while let Ok(Command::Run {
            messages: count,
            duration,
            arm,
        }) = cmds.recv()
        {
            if !sender.select(arm) {
                return Err(self.no_such_arm(arm));
            }
            let arm_flags = arm_flags(arm);
            let promises = sender_promises(self.cfg.workload, self.strategies[arm]);
            let until = duration.map(|d| Instant::now() + d);
            meter.start();
            let mut sent = 0u64;
            loop {
                // The clock is read only where it is needed: rr times every
                // round trip; a timed stream batch checks its deadline every
                // deadline_every() messages (16; fewer when messages are
                // large), which overshoots it by a few
                // sends at most (the batch's own wall time is what counts).
                let t0 = W::TIMES_EACH.then(Instant::now);
                let last = match (count, until) {
                    (Some(n), _) => sent + 1 >= n,
                    (None, Some(deadline)) => match t0 {
                        Some(now) => now >= deadline,
                        None => sent % check_every == 0 && Instant::now() >= deadline,
                    },
                    (None, None) => true,
                };
                // What the batch sends after this message whatever happens,
                // for the receiver's low mark (message::promise_flags): a
                // counted batch's rest, a timed one's messages up to and
                // including its next deadline check; nothing where the sender
                // does not promise (message::sender_promises).
                let promised = if promises {
                    promised_after(sent, last, count, check_every)
                } else {
                    0
                };
                let flags =
                    arm_flags | promise_flags(promised) | if last { FLAG_BATCH_END } else { 0 };
                sender
                    .send_next(fd, flags)
                    .map_err(|e| self.send_failed(e))?;
                part.after_send(self, fd, t0)?;
                sent += 1;
                if last {
                    break;
                }
            }
            if W::TIMES_EACH {
                // Acknowledge the batch's last reply now rather than after the
                // delayed-ACK timer (~40 ms): a zero-copy server waits for that
                // ACK before it can report the batch, and short batches (the
                // samples of a sweep cell) would time the timer. Fails on
                // AF_UNIX, which has no ACKs to delay.
                let _ = sock.set_quickack(true);
            } else if !self.cfg.transport.nodelay {
                // Push the batch's tail out now: Nagle holds a last partial
                // segment while data is unacknowledged, until the receiver's
                // delayed ACK (~40 ms), and a short batch (the 5 ms samples
                // of `sweep --quick`) would time that timer. Setting
                // TCP_NODELAY sends what is queued; clearing it again keeps
                // Nagle for the next batch. AF_UNIX has no Nagle (both fail there).
                let _ = sock.set_nodelay(true);
                let _ = sock.set_nodelay(false);
            }
            let ended = Instant::now();
            // The CPU meter runs on through the drain: reaping the last
            // completions is part of what the batch's sends cost.
            sender.drain(fd).map_err(|e| self.send_failed(e))?;
            let stats = meter.stop();
            let zerocopy = sender.zerocopy_since_last();
            self.report(Event::Batch(Box::new(ThreadBatch {
                after_traffic_ns: ended.elapsed().as_nanos() as u64,
                messages: sent,
                bytes: if W::COUNTS_BYTES { sent * msg_bytes } else { 0 },
                stats,
                latency_ns: part.latency(),
                zerocopy,
                rx: part.rx(),
            })));
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

/// The check of what the peer's sender sends: both ends use the same pool
/// plan, so every header's slot and generation are checked against its sequence.
fn verifier(cfg: &Config) -> Verifier {
    let pool = PoolPlan::new(cfg.pool_slots(), cfg.refill != Refill::Never);
    Verifier::new(cfg.shape, cfg.verify, pool)
}

/// The client's part of a workload: what it does around each send. One
/// implementation per workload, chosen once per thread and called through
/// generics, so the loop has no per-message branch on the workload.
trait ClientPart {
    /// Whether each message is timed (rr's round trip); a timed stream batch
    /// reads the clock only every [`DEADLINE_EVERY`] sends.
    const TIMES_EACH: bool;
    /// Whether the client's messages count as verified bytes (rr: the
    /// replies it verifies).
    const COUNTS_BYTES: bool;
    /// After one message went out; `t0` is when it was sent if `TIMES_EACH`.
    fn after_send(&mut self, w: &Worker, fd: BorrowedFd<'_>, t0: Option<Instant>) -> Result<()>;
    /// The batch's round-trip times, if it has them.
    fn latency(&mut self) -> Option<Histogram<u64>>;
    /// The mapping receiver's bookkeeping since the last call, if it maps.
    fn rx(&mut self) -> Option<RxStats>;
}

/// A receiver: copying or mapping (`--receive`).
enum Rx {
    Copy(Reader),
    Map(Box<MapReader>),
}

impl Rx {
    /// The next message, checked; `step` runs once it is all in (see
    /// [`Reader::next`] and [`MapReader::next`] for when, against the check).
    fn next<E>(
        &mut self,
        fd: BorrowedFd<'_>,
        verifier: &mut Verifier,
        step: impl FnOnce(&[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<Header, NextError<E>> {
        match self {
            Rx::Copy(r) => r.next(fd, verifier, step),
            Rx::Map(m) => m.next(fd, verifier, step),
        }
    }

    fn take_stats(&mut self) -> Option<RxStats> {
        match self {
            Rx::Copy(_) => None,
            Rx::Map(m) => Some(m.take_stats()),
        }
    }
}

/// The server's part of a workload: what it does with each message.
trait ServerPart {
    /// Called once a message is all in, with the message, or its header
    /// bytes where the receiver fed it in pieces: before the check of a
    /// message that lies whole in the copying reader's buffer, after the
    /// pieces of any other were checked (engine::recv).
    fn on_message(&mut self, w: &Worker, fd: BorrowedFd<'_>, msg: &[u8]) -> Result<()>;
    /// At a batch's end (and when the client leaves): the role's zero-copy
    /// bookkeeping for the batch, once its last completion is in.
    fn end_batch(&mut self, w: &Worker, fd: BorrowedFd<'_>) -> Result<Option<ZeroCopyStats>>;
}

/// `stream`: one way, the client sends, the server verifies.
struct Stream;

impl ClientPart for Stream {
    const TIMES_EACH: bool = false;
    const COUNTS_BYTES: bool = false;
    #[inline(always)]
    fn after_send(&mut self, _: &Worker, _: BorrowedFd<'_>, _: Option<Instant>) -> Result<()> {
        Ok(())
    }
    fn latency(&mut self) -> Option<Histogram<u64>> {
        None
    }
    fn rx(&mut self) -> Option<RxStats> {
        None
    }
}

impl ServerPart for Stream {
    #[inline(always)]
    fn on_message(&mut self, _: &Worker, _: BorrowedFd<'_>, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn end_batch(&mut self, _: &Worker, _: BorrowedFd<'_>) -> Result<Option<ZeroCopyStats>> {
        Ok(None)
    }
}

/// `rr`, the client's part: time each round trip, verify the reply.
struct RrClient {
    rx: Rx,
    verifier: Verifier,
    latency: Histogram<u64>,
}

impl RrClient {
    fn new(cfg: &Config, rx: Rx) -> RrClient {
        RrClient {
            rx,
            verifier: verifier(cfg),
            latency: new_histogram(),
        }
    }
}

impl ClientPart for RrClient {
    const TIMES_EACH: bool = true;
    const COUNTS_BYTES: bool = true;

    #[inline]
    fn after_send(&mut self, w: &Worker, fd: BorrowedFd<'_>, t0: Option<Instant>) -> Result<()> {
        // The round trip ends when the whole reply is in: before the check
        // of a reply that lies whole in the copying reader's buffer (always,
        // one message in flight), which is copybench's work, not the
        // socket's; after it where a reader checks pieces as they come (the
        // mapping one, engine::recv).
        let mut rtt = 0;
        self.rx
            .next(fd, &mut self.verifier, |_| {
                rtt = t0.map_or(0, |t| t.elapsed().as_nanos() as u64);
                Ok::<(), Error>(())
            })
            .map_err(|e| match e {
                NextError::Read(e) => w.read_failed(e),
                NextError::Verify(e) => w.verify_failed(e),
                NextError::Step(e) => e,
            })?;
        self.latency.saturating_record(rtt);
        Ok(())
    }

    fn latency(&mut self) -> Option<Histogram<u64>> {
        Some(std::mem::replace(&mut self.latency, new_histogram()))
    }

    fn rx(&mut self) -> Option<RxStats> {
        self.rx.take_stats()
    }
}

/// `rr`, the server's part: answer each request with a message of its own.
struct RrServer {
    sender: Sender,
}

impl ServerPart for RrServer {
    /// rr answers first and checks after, so the check is not part of the
    /// client's round trip (sockperf, too, checks after timing). A bad
    /// request still fails the cell before its batch is counted.
    #[inline]
    fn on_message(&mut self, w: &Worker, fd: BorrowedFd<'_>, msg: &[u8]) -> Result<()> {
        let flags = Header::decode(msg).map_err(|e| w.verify_failed(e))?.flags;
        // The reply goes out by the strategy the request names (a block's
        // arms take turns on one connection).
        let arm = arm_of(flags);
        if !self.sender.select(arm) {
            return Err(w.no_such_arm(arm));
        }
        self.sender
            .send_next(fd, (flags & FLAG_BATCH_END) | arm_flags(arm))
            .map_err(|e| w.send_failed(e))?;
        Ok(())
    }

    fn end_batch(&mut self, w: &Worker, fd: BorrowedFd<'_>) -> Result<Option<ZeroCopyStats>> {
        self.sender.drain(fd).map_err(|e| w.send_failed(e))?;
        Ok(self.sender.zerocopy_since_last())
    }
}

/// A hint for the errors that mean "out of file descriptors".
pub(crate) fn fd_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EMFILE) => {
            " (out of file descriptors: raise the limit with ulimit -n, or use fewer --threads)"
        }
        Some(libc::ENFILE) => " (the system is out of file descriptors: use fewer --threads)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_messages_read_the_clock_more_often() {
        assert_eq!(deadline_every(96), DEADLINE_EVERY);
        assert_eq!(deadline_every(4128), 63);
        assert_eq!(deadline_every(65568), 3);
        assert_eq!(deadline_every(8 * 65536 + 32), 1);
    }

    #[test]
    fn a_batch_promises_only_messages_it_sends_whatever_happens() {
        // Counted: the rest of the batch, nothing after the last.
        assert_eq!(promised_after(0, false, Some(10), 16), 9);
        assert_eq!(promised_after(8, false, Some(10), 16), 1);
        assert_eq!(promised_after(9, true, Some(10), 16), 0);
        // Timed, the clock read at messages 0, 4, 8, ...: from message 5 the
        // batch may end at 8 at the earliest, so 6, 7 and 8 are promised.
        assert_eq!(promised_after(5, false, None, 4), 3);
        assert_eq!(promised_after(4, false, None, 4), 4);
        assert_eq!(promised_after(0, false, None, 4), 4);
        assert_eq!(promised_after(8, true, None, 4), 0);
        // Each promise ends at a message that will be sent: simulate timed
        // batches ending at every possible check and see no promise overrun.
        for end_check in 0..6u64 {
            let last_msg = end_check * 4;
            for sent in 0..=last_msg {
                let p = promised_after(sent, sent == last_msg, None, 4);
                assert!(
                    sent + p <= last_msg,
                    "message {sent} promised {p} past {last_msg}"
                );
            }
        }
    }
}
