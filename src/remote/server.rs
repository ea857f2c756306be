//! `copybench serve`: the server ends of a remote client's cells.
//!
//! Contract: one TCP port carries every connection. Each accepted connection
//! gets its own short-lived thread for the hello (at most
//! [`MAX_HANDSHAKES`] at once; more are closed at once), so a slow or
//! malicious peer never holds up the accept loop. One session runs at a
//! time; a second control hello is answered [`Reply::Busy`]. A data hello is
//! handed to the running session only when its cookie (and, with a token, its
//! proof) matches. Every read has a deadline of `--timeout`; a client that
//! vanishes or goes silent frees the server within it (workers that hear
//! nothing between batches for `--timeout` give up, and a silent control
//! connection ends the session). The server never writes a file and allocates
//! per cell only what the command line's limits allow, and at most
//! [`MEMORY_LIMIT`] in all. Each session is one line on stderr.
//!
//! A connection that goes away without sending a byte (a TCP readiness
//! probe, a port scan) is closed quietly: the first one is logged, the rest
//! only counted, in the line `serve` logs when it stops. It never holds the
//! session, so an orchestrator can probe the port as often as it likes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::proto::{
    self, BatchSpec, CellSpec, Challenge, Channel, Cookie, FrameError, Reply, Request, RoleResult,
    MAX_CLIENT_FRAME,
};
use crate::engine::config::{Config, MAX_THREADS};
use crate::engine::error::{Error, Result};
use crate::engine::experiment::{Batch, Ends, Experiment};
use crate::engine::limits;
use crate::engine::message::{Shape, Verify};
use crate::model::kinds::{Role, TransportKind};
use crate::model::measured::BatchReport;

/// Hellos being read at once; connections beyond this are closed unanswered.
pub(crate) const MAX_HANDSHAKES: usize = 32;

/// The most memory one cell may ask the server to allocate for its messages
/// (pools and receive buffers), on top of the command line's own limits.
pub const MEMORY_LIMIT: u64 = 4 << 30;

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Clients must prove this token (never sent); `None` serves anyone.
    pub token: Option<String>,
    /// Deadline of every read, and how long a silent client may hold the server.
    pub timeout: Duration,
    /// Serve one session, then return.
    pub once: bool,
}

/// The running session, as the accept loop sees it.
struct Active {
    cookie: Cookie,
    data: SyncSender<(u32, Socket)>,
    /// Second handles on the control connection and the current cell's data
    /// connections, to end the session at once on a signal.
    control: Socket,
    data_socks: Vec<Socket>,
}

struct Shared {
    opts: ServeOptions,
    active: Mutex<Option<Active>>,
    handshakes: AtomicUsize,
    /// Connections that went away without a word (see [`Shared::note_wordless`]).
    wordless: AtomicU64,
    stop: Arc<AtomicBool>,
    /// A second handle on the listening socket: each cell sets its
    /// congestion control there before asking for its data connections,
    /// which take the listener's at their handshake (`None`: no handle).
    listener: Option<Socket>,
}

impl Shared {
    /// The running session; a thread that panicked holding the lock left nothing half-written here.
    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection that went away without sending a byte: a TCP
    /// readiness probe (connect, close) or a port scan. Only the first is
    /// logged, so a probe every few seconds does not flood the log.
    fn note_wordless(&self, peer: &str) {
        if self.wordless.fetch_add(1, Ordering::Relaxed) == 0 {
            log(&format!(
                "{peer} closed without a word (a TCP readiness probe or a port scan?); such connections are counted, not logged, from now on"
            ));
        }
    }
}

fn log(line: &str) {
    use std::io::Write;
    // One line per event; a closed stderr must not stop the server.
    let _ = writeln!(std::io::stderr(), "copybench serve: {line}");
}

/// Binds the listening socket (so the caller can report its address), without serving yet.
pub fn bind(addr: SocketAddr) -> Result<Socket> {
    let ctx = || format!("--listen {addr}");
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io(ctx(), e))?;
    sock.set_reuse_address(true)
        .map_err(|e| Error::io(ctx(), e))?;
    sock.bind(&SockAddr::from(addr))
        .map_err(|e| Error::io(ctx(), e))?;
    sock.listen(128).map_err(|e| Error::io(ctx(), e))?;
    // Linux honours SO_RCVTIMEO in accept(): the loop looks at the stop flag this often.
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| Error::io(ctx(), e))?;
    Ok(sock)
}

/// Serves sessions on `listener` until `stop` is raised (or, with `once`,
/// after one session), then ends any running session and returns.
pub fn serve(listener: Socket, opts: ServeOptions, stop: Arc<AtomicBool>) -> Result<()> {
    let local = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or_else(|| opts.listen.to_string(), |a| a.to_string());
    log(&format!(
        "listening on {local} ({}), protocol version {}",
        if opts.token.is_some() {
            "clients must prove the token"
        } else {
            "no token: anyone who can reach this port may run cells"
        },
        proto::VERSION
    ));
    let shared = Arc::new(Shared {
        opts,
        active: Mutex::new(None),
        handshakes: AtomicUsize::new(0),
        wordless: AtomicU64::new(0),
        stop,
        listener: listener.try_clone().ok(),
    });
    while !shared.stop.load(Ordering::SeqCst) {
        let (sock, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                // EMFILE and friends: say so, back off, keep serving.
                log(&format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let peer = peer
            .as_socket()
            .map_or_else(|| "an unknown peer".to_string(), |a| a.to_string());
        if shared.handshakes.fetch_add(1, Ordering::SeqCst) >= MAX_HANDSHAKES {
            shared.handshakes.fetch_sub(1, Ordering::SeqCst);
            log(&format!(
                "refused {peer}: {MAX_HANDSHAKES} hellos already in progress"
            ));
            continue;
        }
        let s = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("cb-serve-conn".into())
            .spawn(move || connection(&s, sock, &peer));
        if let Err(e) = spawned {
            shared.handshakes.fetch_sub(1, Ordering::SeqCst);
            log(&format!("spawning a connection thread: {e}"));
        }
    }
    // Stopping: end the running session, and give it the time to tear down.
    if let Some(a) = shared.active().as_ref() {
        let _ = a.control.shutdown(std::net::Shutdown::Both);
        // The client may keep sending: reset its data connections, which wakes our workers.
        for s in &a.data_socks {
            let _ = crate::sys::disconnect(std::os::fd::AsFd::as_fd(s));
        }
    }
    let deadline = Instant::now() + shared.opts.timeout + Duration::from_secs(5);
    while shared.active().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    match shared.wordless.load(Ordering::Relaxed) {
        0 => log("stopped"),
        n => log(&format!(
            "stopped; {n} connection(s) closed without a word (readiness probes, port scans)"
        )),
    }
    Ok(())
}

/// A write or read that failed because the peer closed or reset the connection.
fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionAborted
    )
}

/// Waits (until `deadline`) for the peer's first byte, without taking it:
/// true when the peer closed or reset the connection without sending one.
/// Anything else (a byte, a timeout, an error) is left to [`read_hello`],
/// which says what went wrong.
fn said_nothing(sock: &Socket, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
        return false;
    }
    let mut first = [std::mem::MaybeUninit::<u8>::uninit()];
    loop {
        match sock.peek(&mut first) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return gone(&e),
        }
    }
}

/// Sends a last reply and closes; the peer may already be gone.
fn reply_and_close(sock: &mut Socket, reply: &Reply) {
    let _ = proto::write_frame(sock, reply);
    let _ = sock.shutdown(std::net::Shutdown::Write);
}

/// One accepted connection: the hello, then a session, a data connection or a refusal.
fn connection(shared: &Arc<Shared>, mut sock: Socket, peer: &str) {
    let opts = &shared.opts;
    let hello = (|| {
        sock.set_nonblocking(false)?;
        sock.set_write_timeout(Some(opts.timeout))?;
        let nonce: proto::Nonce = proto::random()?;
        let challenge = Challenge {
            protocol: proto::PROTOCOL.into(),
            version: proto::VERSION,
            nonce,
            token_required: opts.token.is_some(),
        };
        proto::write_frame(&mut sock, &challenge)?;
        Ok::<_, std::io::Error>(nonce)
    })();
    let nonce = match hello {
        Ok(n) => n,
        Err(e) => {
            shared.handshakes.fetch_sub(1, Ordering::SeqCst);
            if gone(&e) {
                // Closed before our challenge went out: it said nothing.
                shared.note_wordless(peer);
            } else {
                log(&format!("refused {peer}: {e}"));
            }
            return;
        }
    };
    let deadline = Instant::now() + opts.timeout;
    if said_nothing(&sock, deadline) {
        shared.handshakes.fetch_sub(1, Ordering::SeqCst);
        shared.note_wordless(peer);
        return;
    }
    let outcome = read_hello(shared, &mut sock, &nonce, deadline);
    shared.handshakes.fetch_sub(1, Ordering::SeqCst);
    let hello = match outcome {
        Ok(h) => h,
        Err(reply) => {
            let why = match &reply {
                Reply::Refused { reason } => reason.clone(),
                Reply::Error { message } => message.clone(),
                other => format!("{other:?}"),
            };
            log(&format!("refused {peer}: {why}"));
            reply_and_close(&mut sock, &reply);
            return;
        }
    };
    match hello.channel {
        Channel::Control => {
            let (data_tx, data_rx) = mpsc::sync_channel(MAX_THREADS);
            {
                let mut active = shared.active();
                if active.is_some() {
                    drop(active);
                    log(&format!("busy: refused a session from {peer}"));
                    reply_and_close(&mut sock, &Reply::Busy);
                    return;
                }
                let control = match sock.try_clone() {
                    Ok(c) => c,
                    Err(e) => {
                        log(&format!("refused {peer}: dup: {e}"));
                        return;
                    }
                };
                *active = Some(Active {
                    cookie: hello.cookie,
                    data: data_tx,
                    control,
                    data_socks: Vec::new(),
                });
            }
            // Frees the server however the session ends, a panic included.
            let _free = Freed { shared };
            let mut session = ClientSession {
                shared,
                control: sock,
                data: data_rx,
                cell: None,
                cells: 0,
                cell_error: None,
            };
            let outcome = session.run();
            let cells = session.cells;
            drop(session);
            let what = match outcome {
                Ok(()) => "ok".to_string(),
                Err(e) if shared.stop.load(Ordering::SeqCst) => format!("stopped by signal ({e})"),
                Err(e) => format!("failed: {e}"),
            };
            log(&format!("session from {peer}: {cells} cell(s), {what}"));
        }
        Channel::Data { index } => {
            let active = shared.active();
            let Some(a) = active
                .as_ref()
                .filter(|a| proto::same_cookie(&a.cookie, &hello.cookie))
            else {
                drop(active);
                let reason = "no session with this cookie".to_string();
                log(&format!("refused a data connection from {peer}: {reason}"));
                reply_and_close(&mut sock, &Reply::Refused { reason });
                return;
            };
            match a.data.try_send((index, sock)) {
                Ok(()) => {}
                Err(TrySendError::Full((_, mut s)) | TrySendError::Disconnected((_, mut s))) => {
                    drop(active);
                    reply_and_close(
                        &mut s,
                        &Reply::Refused {
                            reason: "the session is not expecting data connections".into(),
                        },
                    );
                }
            }
        }
    }
}

/// Ends the running session's hold on the server when dropped (and, with
/// `--once`, the server).
struct Freed<'a> {
    shared: &'a Shared,
}

impl Drop for Freed<'_> {
    fn drop(&mut self) {
        *self.shared.active() = None;
        if self.shared.opts.once {
            self.shared.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Reads and checks the client's hello; the `Err` is the reply that refuses it.
fn read_hello(
    shared: &Shared,
    sock: &mut Socket,
    nonce: &proto::Nonce,
    deadline: Instant,
) -> std::result::Result<proto::Hello, Reply> {
    let opts = &shared.opts;
    let body =
        proto::read_frame_bytes(sock, MAX_CLIENT_FRAME, deadline).map_err(|e| Reply::Error {
            message: format!("hello: {e}"),
        })?;
    let hello = proto::parse_hello(&body).map_err(|reason| Reply::Refused { reason })?;
    if let Some(token) = &opts.token {
        let ok = hello
            .proof
            .is_some_and(|p| proto::check_proof(token, nonce, &hello.cookie, hello.channel, &p));
        if !ok {
            let reason = if hello.proof.is_none() {
                "this server needs a token: pass --token or set COPYBENCH_TOKEN"
            } else {
                "wrong token"
            };
            return Err(Reply::Refused {
                reason: reason.into(),
            });
        }
    }
    Ok(hello)
}

/// Turns a client's cell into the server's configuration, checked against the
/// command line's limits and [`MEMORY_LIMIT`].
pub(crate) fn cell_config(spec: &CellSpec, server_timeout: Duration) -> Result<Config> {
    let (strategy, workload) = (spec.strategy, spec.workload);
    let size = |flag: &str, v: u64| {
        usize::try_from(v).map_err(|_| Error::usage(format!("{flag} {v}: out of range")))
    };
    let shape = Shape {
        fields: size("--fields", spec.fields)?,
        field_size: size("--field-size", spec.field_size)?,
    };
    let mut cfg = Config::new(strategy, TransportKind::Tcp, workload, shape);
    cfg.threads = size("--threads", spec.threads)?;
    cfg.layout = spec.layout;
    cfg.receive = spec.receive;
    cfg.rcvlowat = spec.rcvlowat.map(|n| size("--rcvlowat", n)).transpose()?;
    cfg.transport.maxseg = spec.maxseg;
    cfg.transport.congestion = spec.congestion.clone();
    // Whether this host has the client's congestion control, before any
    // thread starts.
    cfg.transport.check()?;
    cfg.pool_slots = spec.pool_slots.map(|p| size("--pool", p)).transpose()?;
    cfg.counters = spec.counters;
    cfg.verify = match spec.verify.as_str() {
        "sampled" => Verify::Sampled,
        "full" => Verify::Full,
        other => return Err(Error::usage(format!("verify {other:?}: unknown"))),
    };
    cfg.transport.sndbuf = spec.sndbuf.map(|b| size("--sndbuf", b)).transpose()?;
    cfg.transport.rcvbuf = spec.rcvbuf.map(|b| size("--rcvbuf", b)).transpose()?;
    // The client's timeout, but never longer than the server's own.
    cfg.transport.timeout = Duration::from_millis(spec.timeout_ms).min(server_timeout);
    cfg.idle_limit = Some(server_timeout);
    cfg.validate()?;
    let need = server_memory(&cfg);
    if need > MEMORY_LIMIT {
        return Err(Error::usage(format!(
            "this cell needs about {} MiB of message buffers on the server, over its limit of {} MiB: fewer --threads, a smaller --pool or smaller messages",
            need >> 20,
            MEMORY_LIMIT >> 20
        )));
    }
    Ok(cfg)
}

/// Bytes of message buffers the server's workers allocate for `cfg`: the
/// engine's one formula for the server ends ([`limits::buffer_bytes`]).
fn server_memory(cfg: &Config) -> u64 {
    limits::buffer_bytes(cfg, &[Role::Server])
}

/// The server role's part of one batch, as it goes on the wire.
pub(crate) fn role_result(r: &BatchReport) -> RoleResult {
    RoleResult {
        messages: r.messages,
        bytes: r.bytes,
        stats: r.server.clone(),
        zerocopy: r.zerocopy.clone().map(Box::new),
        after_traffic_ns: 0,
        rx: r.rx.map(Box::new),
    }
}

struct ClientSession<'a> {
    shared: &'a Shared,
    control: Socket,
    data: Receiver<(u32, Socket)>,
    cell: Option<Experiment>,
    cells: u64,
    /// Why the last cell failed, for the session's log line.
    cell_error: Option<String>,
}

impl ClientSession<'_> {
    fn timeout(&self) -> Duration {
        self.shared.opts.timeout
    }

    /// Gives the listener the cell's congestion control (`--congestion`, or
    /// this host's default), so that its data connections have it from
    /// their handshake: set after `accept`, a connection established under
    /// a default that paces (`bbr`) stays paced. One session runs at a time,
    /// so no other cell's connections are in the handshake.
    fn listener_congestion(&self, cfg: &Config) -> Result<()> {
        let Some(listener) = &self.shared.listener else {
            return Ok(());
        };
        let name = match &cfg.transport.congestion {
            Some(cc) => cc.as_str().to_string(),
            None => match crate::engine::transport::default_congestion() {
                Ok(host) => host,
                Err(_) => return Ok(()),
            },
        };
        listener
            .set_tcp_congestion(name.as_bytes())
            .map_err(|e| Error::io("listener (TCP_CONGESTION)", e))
    }

    fn reply(&mut self, r: &Reply) -> std::io::Result<()> {
        proto::write_frame(&mut self.control, r)
    }

    /// Drops the signal handler's handles on the cell's data connections
    /// (while they live, closing ours sends no FIN).
    fn forget_data_socks(&self) {
        if let Some(a) = self.shared.active().as_mut() {
            a.data_socks.clear();
        }
    }

    /// Ends the current cell, if any.
    fn end_cell(&mut self) -> Result<()> {
        self.forget_data_socks();
        match self.cell.take() {
            Some(exp) => {
                let (result, forced) = exp.stop_within(self.timeout());
                result?;
                if forced {
                    return Err(Error::io(
                        "ending the cell",
                        std::io::Error::other(format!(
                            "the client did not close its data connections within {:.1} s",
                            self.timeout().as_secs_f64()
                        )),
                    ));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Ends the session after the control connection failed, with why
    /// (and why the last cell failed, if it did).
    fn lost_control(&mut self, e: FrameError) -> Error {
        let what = match e {
            FrameError::Closed if self.cell.is_some() => {
                "the client went away in the middle of a cell".to_string()
            }
            FrameError::Closed => "the client closed without saying bye".to_string(),
            e => {
                let _ = self.reply(&Reply::Error {
                    message: format!("control: {e}"),
                });
                let _ = self.control.shutdown(std::net::Shutdown::Write);
                e.to_string()
            }
        };
        self.cell = None;
        let what = match self.cell_error.take() {
            Some(cell) => format!("{what}, after its cell failed: {cell}"),
            None => what,
        };
        Error::io("control", std::io::Error::other(what))
    }

    fn run(&mut self) -> Result<()> {
        let host = Box::new(crate::engine::probe::gather());
        self.reply(&Reply::Welcome { host })
            .map_err(|e| Error::io("welcome", e))?;
        loop {
            let deadline = Instant::now() + self.timeout();
            let req: Request =
                match proto::read_frame(&mut self.control, MAX_CLIENT_FRAME, deadline) {
                    Ok(r) => r,
                    Err(e) => return Err(self.lost_control(e)),
                };
            match req {
                Request::Cell(spec) => {
                    // A cell the client abandoned goes first.
                    if let Err(e) = self.end_cell() {
                        log(&format!("ending an abandoned cell: {e}"));
                    }
                    let reply = match self.start_cell(&spec) {
                        Ok(exp) => {
                            self.cell = Some(exp);
                            self.cell_error = None;
                            Reply::CellReady
                        }
                        Err(e) => {
                            self.cell_error = Some(e.to_string());
                            Reply::Error {
                                message: e.to_string(),
                            }
                        }
                    };
                    self.reply(&reply).map_err(|e| Error::io("control", e))?;
                }
                Request::Batch(spec) => {
                    let reply = match self.cell.as_mut() {
                        None => Reply::Error {
                            message: "no cell is set up".into(),
                        },
                        Some(exp) => {
                            let batch = match spec {
                                BatchSpec::Messages(n) => Batch::Messages(n),
                                BatchSpec::DurationMs(ms) => {
                                    Batch::Duration(Duration::from_millis(ms))
                                }
                            };
                            let began = Instant::now();
                            match exp.run(batch) {
                                Ok(r) => {
                                    let mut result = role_result(&r);
                                    // The run's own clock started after `began`, so this is
                                    // at least the time since the server's traffic ended.
                                    let traffic = Duration::from_secs_f64(r.seconds);
                                    result.after_traffic_ns =
                                        began.elapsed().saturating_sub(traffic).as_nanos() as u64;
                                    Reply::BatchDone(result)
                                }
                                Err(e) => {
                                    // The experiment is spent; drop it (it joins its threads).
                                    self.cell = None;
                                    self.cell_error = Some(e.to_string());
                                    Reply::Error {
                                        message: e.to_string(),
                                    }
                                }
                            }
                        }
                    };
                    self.reply(&reply).map_err(|e| Error::io("control", e))?;
                }
                Request::EndCell => {
                    let had = self.cell.is_some();
                    let reply = match self.end_cell() {
                        Ok(()) if had => {
                            self.cells += 1;
                            Reply::CellDone
                        }
                        Ok(()) => Reply::Error {
                            message: "no cell is set up".into(),
                        },
                        Err(e) => Reply::Error {
                            message: e.to_string(),
                        },
                    };
                    self.reply(&reply).map_err(|e| Error::io("control", e))?;
                }
                Request::Bye => {
                    self.end_cell()?;
                    return Ok(());
                }
            }
        }
    }

    /// Checks the cell, takes its data connections and starts its server workers.
    fn start_cell(&mut self, spec: &CellSpec) -> Result<Experiment> {
        self.forget_data_socks();
        let cfg = cell_config(spec, self.timeout())?;
        // A block's arms (protocol 2): each checked as a cell of its own,
        // held in the client's order, which the data headers' arm index means.
        let arms = if spec.arms.is_empty() {
            vec![spec.strategy]
        } else {
            crate::engine::experiment::check_arms(&spec.arms)?;
            if spec.arms[0] != spec.strategy {
                return Err(Error::usage(
                    "a block's first arm must be the cell's strategy",
                ));
            }
            for &arm in &spec.arms[1..] {
                cell_config(
                    &CellSpec {
                        strategy: arm,
                        ..spec.clone()
                    },
                    self.timeout(),
                )?;
            }
            spec.arms.clone()
        };
        // Anything queued before the cell was accepted belongs to no cell.
        while let Ok((_, mut s)) = self.data.try_recv() {
            reply_and_close(
                &mut s,
                &Reply::Refused {
                    reason: "no cell was expecting this data connection".into(),
                },
            );
        }
        self.listener_congestion(&cfg)?;
        self.reply(&Reply::CellAccepted)
            .map_err(|e| Error::io("control", e))?;
        let mut socks: Vec<Option<Socket>> = (0..cfg.threads).map(|_| None).collect();
        let mut have = 0;
        let deadline = Instant::now() + self.timeout();
        while have < cfg.threads {
            let left = deadline.saturating_duration_since(Instant::now());
            let (index, mut sock) = match self.data.recv_timeout(left) {
                Ok(d) => d,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Error::io(
                        "data connections",
                        std::io::Error::other(format!(
                            "{have} of {} arrived within {:.1} s",
                            cfg.threads,
                            self.timeout().as_secs_f64()
                        )),
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::io(
                        "data connections",
                        std::io::Error::other("the server is stopping"),
                    ))
                }
            };
            let slot = socks.get_mut(index as usize).filter(|s| s.is_none());
            let Some(slot) = slot else {
                reply_and_close(
                    &mut sock,
                    &Reply::Refused {
                        reason: format!(
                            "data connection {index}: not expected (the cell has {} connections)",
                            cfg.threads
                        ),
                    },
                );
                continue;
            };
            cfg.transport
                .configure(&sock)
                .map_err(|e| Error::io(format!("data connection {index}"), e))?;
            let dup = sock
                .try_clone()
                .map_err(|e| Error::io(format!("data connection {index}"), e))?;
            if let Some(a) = self.shared.active().as_mut() {
                a.data_socks.push(dup);
            }
            proto::write_frame(&mut sock, &Reply::DataAccepted)
                .map_err(|e| Error::io(format!("data connection {index}"), e))?;
            *slot = Some(sock);
            have += 1;
        }
        let socks = socks.into_iter().flatten().collect();
        Experiment::start_ends_arms(&cfg, Ends::Servers(socks), Default::default(), &arms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::{StrategyKind, WorkloadKind};

    fn spec() -> CellSpec {
        CellSpec {
            strategy: StrategyKind::OneCopy,
            workload: WorkloadKind::Rr,
            field_size: 4096,
            fields: 8,
            threads: 2,
            verify: "sampled".into(),
            pool_slots: None,
            counters: true,
            sndbuf: None,
            rcvbuf: None,
            timeout_ms: 60_000,
            ..Default::default()
        }
    }

    #[test]
    fn a_cell_is_checked_against_the_command_lines_limits() {
        let t = Duration::from_secs(5);
        let cfg = cell_config(&spec(), t).unwrap();
        assert_eq!(cfg.transport.kind, TransportKind::Tcp);
        // Never longer than the server's own timeout; idle for no longer either.
        assert_eq!(cfg.transport.timeout, t);
        assert_eq!(cfg.idle_limit, Some(t));
        for (bad, flag) in [
            (
                CellSpec {
                    threads: 0,
                    ..spec()
                },
                "--threads 0",
            ),
            (
                CellSpec {
                    threads: 5000,
                    ..spec()
                },
                "--threads 5000",
            ),
            (
                CellSpec {
                    fields: 0,
                    ..spec()
                },
                "--fields 0",
            ),
            (
                CellSpec {
                    field_size: 1 << 40,
                    ..spec()
                },
                "--field-size",
            ),
            (
                CellSpec {
                    pool_slots: Some(0),
                    ..spec()
                },
                "--pool 0",
            ),
            (
                CellSpec {
                    verify: "some".into(),
                    ..spec()
                },
                "verify",
            ),
            (
                CellSpec {
                    timeout_ms: 0,
                    ..spec()
                },
                "--timeout",
            ),
            (
                CellSpec {
                    maxseg: Some(40),
                    ..spec()
                },
                "--maxseg 40: must be 88 to 65535",
            ),
            (
                CellSpec {
                    rcvlowat: Some(0),
                    ..spec()
                },
                "--rcvlowat 0",
            ),
            (
                CellSpec {
                    congestion: Some(crate::model::kinds::Congestion::parse("nosuchcc").unwrap()),
                    ..spec()
                },
                "--congestion nosuchcc: not available",
            ),
        ] {
            let err = cell_config(&bad, t).unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn a_cell_may_not_ask_for_more_than_the_memory_limit() {
        // 1024 threads x (a 64 MiB reader + 64 slots of 64 MiB replies): far over 4 GiB.
        let greedy = CellSpec {
            threads: 1024,
            fields: 1,
            field_size: 64 << 20,
            pool_slots: Some(64),
            ..spec()
        };
        let err = cell_config(&greedy, Duration::from_secs(5)).unwrap_err();
        assert!(
            err.to_string().contains("over its limit of 4096 MiB"),
            "{err}"
        );
        let stream = CellSpec {
            workload: WorkloadKind::Stream,
            threads: 8,
            ..spec()
        };
        let cfg = cell_config(&stream, Duration::from_secs(5)).unwrap();
        assert_eq!(server_memory(&cfg), 8 * (256 << 10));
    }
}
