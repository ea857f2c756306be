//! `run --connect` and `sweep --connect`: the client ends here, the server
//! ends in a `copybench serve` on another host.
//!
//! Contract: a [`Remote`] holds one session (a control connection) with the
//! server. Each cell ([`Remote::start`]) sends its configuration, opens its
//! data connections to the same port, and runs the same client workers as a
//! local run over them; each batch is announced on the control connection, so
//! both sides run it in step, and the server's results (its CPU time,
//! counters and zero-copy stats) are merged into the batch's report. A batch's
//! wall time runs from its announcement to the server's results, so it spans
//! every message the server verified (and one trip of the control
//! connection). After any failure the session is dropped and the next cell
//! opens a new one, so requests and replies can never get out of step.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::proto::{
    self, BatchSpec, CellSpec, Challenge, Channel, Cookie, FrameError, Hello, Reply, Request,
    RoleResult, MAX_SERVER_FRAME,
};
use crate::engine::config::Config;
use crate::engine::error::{Error, Result};
use crate::engine::experiment::{Batch, Ends, Experiment, SocketBuffers};
use crate::engine::message::Verify;
use crate::engine::session::Session;
use crate::model::host::HostFacts;
use crate::model::kinds::ReceiveKind;
use crate::model::kinds::StrategyKind;
use crate::model::measured::BatchReport;
use crate::model::measured::RxStats;
use crate::model::measured::ZeroCopyStats;

/// `HOST[:PORT]` (IPv6 as `[ADDR]:PORT`) to one socket address; the port defaults to 7202.
pub fn resolve(target: &str) -> Result<SocketAddr> {
    let bad = |why: String| Error::usage(format!("--connect {target}: {why}"));
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, proto::DEFAULT_PORT));
    }
    let with_port = if target.starts_with('[') && target.ends_with(']') {
        format!("{target}:{}", proto::DEFAULT_PORT)
    } else if let Some((_, port)) = target.rsplit_once(':') {
        port.parse::<u16>()
            .map_err(|_| bad(format!("port {port:?} is not 0 to 65535")))?;
        target.to_string()
    } else {
        format!("{target}:{}", proto::DEFAULT_PORT)
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the name has no address".into()))
}

fn remote_error(addr: SocketAddr, what: impl std::fmt::Display) -> Error {
    Error::io(
        format!("server {addr}"),
        std::io::Error::other(what.to_string()),
    )
}

fn frame_error(addr: SocketAddr, what: &str, e: FrameError) -> Error {
    remote_error(addr, format!("{what}: {e}"))
}

/// The first exchange of every connection: challenge, hello, the server's answer.
fn handshake(
    sock: &mut Socket,
    addr: SocketAddr,
    token: Option<&str>,
    cookie: &Cookie,
    channel: Channel,
    timeout: Duration,
) -> Result<Reply> {
    let deadline = Instant::now() + timeout;
    let challenge: Challenge = proto::read_frame(sock, MAX_SERVER_FRAME, deadline)
        .map_err(|e| frame_error(addr, "waiting for the server's challenge", e))?;
    if challenge.protocol != proto::PROTOCOL {
        return Err(Error::Unsupported(format!(
            "--connect {addr}: not a copybench server (it says {:?})",
            challenge.protocol
        )));
    }
    if challenge.version != proto::VERSION {
        return Err(Error::Unsupported(format!(
            "--connect {addr}: the server speaks protocol version {}, this copybench version {}; run the same copybench version on both hosts",
            challenge.version,
            proto::VERSION
        )));
    }
    if challenge.token_required && token.is_none() {
        return Err(Error::usage(format!(
            "--connect {addr}: the server needs a token: pass --token or set COPYBENCH_TOKEN"
        )));
    }
    let hello = Hello {
        protocol: proto::PROTOCOL.into(),
        version: proto::VERSION,
        cookie: *cookie,
        channel,
        proof: token.map(|t| proto::prove(t, &challenge.nonce, cookie, channel)),
    };
    proto::write_frame(sock, &hello).map_err(|e| remote_error(addr, format!("hello: {e}")))?;
    let reply = proto::read_frame(sock, MAX_SERVER_FRAME, deadline)
        .map_err(|e| frame_error(addr, "waiting for the server's answer to our hello", e))?;
    match reply {
        Reply::Refused { reason } => Err(Error::usage(format!(
            "--connect {addr}: the server refused us: {reason}"
        ))),
        Reply::Error { message } => Err(remote_error(addr, message)),
        r => Ok(r),
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<Socket> {
    let fail = |e: std::io::Error| remote_error(addr, format!("control connection: {e}"));
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    sock.connect_timeout(&addr.into(), timeout).map_err(fail)?;
    sock.set_write_timeout(Some(timeout)).map_err(fail)?;
    Ok(sock)
}

struct Control {
    control: Socket,
    cookie: Cookie,
}

/// A session with a `copybench serve`. A handle: the cell it starts
/// ([`Remote::start`]) holds the session too, so that a block can start its
/// cell again after a failure while the sweep still holds the `Remote`.
pub struct Remote {
    inner: Rc<RefCell<Inner>>,
}

/// The session itself; the server runs one cell of it at a time.
struct Inner {
    addr: SocketAddr,
    token: Option<String>,
    timeout: Duration,
    /// `None` after a failure: the next cell opens a new session.
    session: Option<Control>,
    server_host: Option<Arc<HostFacts>>,
}

impl Remote {
    /// Opens a session with the server at `addr`.
    pub fn connect(addr: SocketAddr, token: Option<String>, timeout: Duration) -> Result<Remote> {
        let mut r = Inner {
            addr,
            token,
            timeout,
            session: None,
            server_host: None,
        };
        r.open(false)?;
        Ok(Remote {
            inner: Rc::new(RefCell::new(r)),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.borrow().addr
    }

    /// The server's host facts (`copybench doctor --json` there), as it
    /// sent them when the session opened; shared with the cells it serves.
    pub fn server_host(&self) -> Option<Arc<HostFacts>> {
        self.inner.borrow().server_host.clone()
    }

    /// Sets up one cell on both hosts. One at a time: stop the last one first.
    pub fn start(&self, cfg: &Config) -> Result<RemoteExperiment> {
        self.start_arms(std::slice::from_ref(cfg))
    }

    /// Sets up one cell for several arms, alike but for their strategy (a
    /// block's: [`Experiment::start_arms`]); the server's ends hold every
    /// arm's strategy too, and an rr server answers each batch by the arm
    /// its requests name.
    pub fn start_arms(&self, cfgs: &[Config]) -> Result<RemoteExperiment> {
        let started = self.inner.borrow_mut().start_cell(cfgs);
        match started {
            Ok(exp) => Ok(RemoteExperiment {
                remote: Rc::clone(&self.inner),
                cfg: exp.config().clone(),
                exp: Some(exp),
            }),
            Err(e) => {
                self.inner.borrow_mut().session = None;
                Err(e)
            }
        }
    }

    /// Ends the session politely.
    pub fn close(self) {
        let mut r = self.inner.borrow_mut();
        if r.session.is_some() {
            let _ = r.request(&Request::Bye);
        }
    }
}

impl Inner {
    /// Opens the control connection; with `wait_busy`, a busy server (the
    /// end of our own last session, still tearing down) is retried until the timeout.
    fn open(&mut self, wait_busy: bool) -> Result<()> {
        // The server may take up to its timeout to notice our last session is gone.
        let deadline = Instant::now() + self.timeout * 2 + Duration::from_secs(5);
        loop {
            let mut control = connect(self.addr, self.timeout)?;
            let cookie: Cookie = proto::random().map_err(|e| Error::io("cookie", e))?;
            let reply = handshake(
                &mut control,
                self.addr,
                self.token.as_deref(),
                &cookie,
                Channel::Control,
                self.timeout,
            )?;
            match reply {
                Reply::Welcome { host } => {
                    self.server_host = Some(Arc::from(host));
                    self.session = Some(Control { control, cookie });
                    return Ok(());
                }
                Reply::Busy if wait_busy && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Reply::Busy => {
                    return Err(remote_error(
                        self.addr,
                        "busy: it is serving another session; try again when that one ends",
                    ))
                }
                other => return Err(remote_error(self.addr, format!("unexpected {other:?}"))),
            }
        }
    }

    fn control(&mut self) -> Result<&mut Control> {
        if self.session.is_none() {
            self.open(true)?;
        }
        Ok(self.session.as_mut().expect("just opened"))
    }

    fn request(&mut self, req: &Request) -> Result<()> {
        let addr = self.addr;
        let s = self.control()?;
        proto::write_frame(&mut s.control, req).map_err(|e| {
            self.session = None;
            remote_error(addr, format!("control connection: {e}"))
        })
    }

    fn reply(&mut self, within: Duration) -> Result<Reply> {
        let addr = self.addr;
        let Some(s) = self.session.as_mut() else {
            return Err(remote_error(addr, "no session"));
        };
        match proto::read_frame(&mut s.control, MAX_SERVER_FRAME, Instant::now() + within) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.session = None;
                Err(frame_error(addr, "control connection", e))
            }
        }
    }

    /// Expects `want`; anything else drops the session.
    fn expect(&mut self, within: Duration, want: fn(&Reply) -> bool, what: &str) -> Result<Reply> {
        let r = self.reply(within)?;
        if want(&r) {
            return Ok(r);
        }
        self.session = None;
        Err(match r {
            Reply::Error { message } => remote_error(self.addr, message),
            other => remote_error(self.addr, format!("expected {what}, got {other:?}")),
        })
    }

    fn start_cell(&mut self, cfgs: &[Config]) -> Result<Experiment> {
        let cfg = cfgs
            .first()
            .ok_or_else(|| Error::usage("a cell needs a configuration"))?;
        let arms = crate::engine::experiment::distinct_strategies(cfgs)?;
        cfg.validate()?;
        let mut spec = spec_of(cfg);
        if arms.len() > 1 {
            spec.arms = arms.clone();
        }
        self.request(&Request::Cell(spec))?;
        let t = self.timeout;
        self.expect(t, |r| matches!(r, Reply::CellAccepted), "cell accepted")?;
        let cookie = self.session.as_ref().expect("session is open").cookie;
        let mut socks = Vec::with_capacity(cfg.threads);
        for index in 0..cfg.threads {
            let conn = |e: std::io::Error| {
                remote_error(self.addr, format!("data connection {index}: {e}"))
            };
            let mut sock = cfg.transport.connect(self.addr).map_err(conn)?;
            let reply = handshake(
                &mut sock,
                self.addr,
                self.token.as_deref(),
                &cookie,
                Channel::Data {
                    index: index as u32,
                },
                self.timeout,
            )?;
            if reply != Reply::DataAccepted {
                return Err(remote_error(
                    self.addr,
                    format!("data connection {index}: expected acceptance, got {reply:?}"),
                ));
            }
            // The hello moved the read timeout; put the cell's options back.
            cfg.transport.configure(&sock).map_err(conn)?;
            socks.push(sock);
        }
        self.expect(
            t + Duration::from_secs(5),
            |r| matches!(r, Reply::CellReady),
            "cell ready",
        )?;
        Experiment::start_ends_arms(cfg, Ends::Clients(socks), Default::default(), &arms)
    }
}

/// The configuration a server needs for its ends of a cell.
pub(crate) fn spec_of(cfg: &Config) -> CellSpec {
    let t = &cfg.transport;
    CellSpec {
        strategy: cfg.strategy,
        workload: cfg.workload,
        field_size: cfg.shape.field_size as u64,
        fields: cfg.shape.fields as u64,
        threads: cfg.threads as u64,
        verify: match cfg.verify {
            Verify::Sampled => "sampled",
            Verify::Full => "full",
        }
        .into(),
        pool_slots: cfg.pool_slots.map(|p| p as u64),
        counters: cfg.counters,
        sndbuf: t.sndbuf.map(|b| b as u64),
        rcvbuf: t.rcvbuf.map(|b| b as u64),
        timeout_ms: t.timeout.as_millis().min(u128::from(u64::MAX)) as u64,
        layout: cfg.layout,
        arms: Vec::new(),
        receive: cfg.receive,
        rcvlowat: cfg.rcvlowat.map(|n| n as u64),
        maxseg: t.maxseg,
        congestion: t.congestion.clone(),
    }
}

/// Adds the server role's results to a batch the client ends measured, as
/// a local coordinator adds its server threads' reports.
pub(crate) fn absorb(r: &mut BatchReport, s: &RoleResult) {
    r.messages += s.messages;
    r.bytes += s.bytes;
    r.server.add(&s.stats);
    if let Some(z) = &s.zerocopy {
        r.zerocopy.get_or_insert_with(ZeroCopyStats::default).add(z);
    }
    if let Some(x) = &s.rx {
        r.rx.get_or_insert_with(RxStats::default).add(x);
    }
}

/// One cell running on both hosts; the remote twin of [`Experiment`].
pub struct RemoteExperiment {
    remote: Rc<RefCell<Inner>>,
    exp: Option<Experiment>,
    /// The cell, kept for [`Session::config`] after a failed batch.
    cfg: Config,
}

impl RemoteExperiment {
    /// The local client sockets' buffers as the kernel set them (the
    /// server's receive buffer is on the other host: `None`).
    pub fn socket_buffers(&self) -> SocketBuffers {
        self.exp.as_ref().map_or(
            SocketBuffers {
                sndbuf: None,
                rcvbuf: None,
                mss: None,
                default_rcvlowat: None,
                congestion: None,
            },
            Experiment::socket_buffers,
        )
    }

    /// Runs one batch on both hosts and returns both roles' figures.
    pub fn run(&mut self, batch: Batch) -> Result<BatchReport> {
        let mut remote = self.remote.borrow_mut();
        let exp = self.exp.as_mut().ok_or_else(|| {
            remote_error(remote.addr, "an earlier batch failed; start a new cell")
        })?;
        let cfg = exp.config().clone();
        let spec = match batch {
            Batch::Messages(n) => {
                if n < cfg.threads as u64 {
                    // A connection with no share would sit idle past the server's limit.
                    return Err(Error::usage(format!(
                        "--messages {n}: with --connect, must be at least --threads ({})",
                        cfg.threads
                    )));
                }
                BatchSpec::Messages(n)
            }
            Batch::Duration(d) => BatchSpec::DurationMs(d.as_millis().max(1) as u64),
        };
        let t0 = Instant::now();
        remote.request(&Request::Batch(spec))?;
        let local_start = t0.elapsed().as_secs_f64();
        let local = exp.run(batch);
        match local {
            Ok(mut r) => {
                let wait = cfg.transport.timeout + Duration::from_secs(5);
                let reply =
                    remote.expect(wait, |r| matches!(r, Reply::BatchDone(_)), "batch results");
                match reply {
                    Ok(Reply::BatchDone(s)) => {
                        // The batch ends with the later end of traffic: the
                        // client's (its run's clock) or the server's (its
                        // reply, less what it did after, such as draining
                        // zero-copy completions).
                        let local_end = local_start + r.seconds;
                        let server_end =
                            t0.elapsed().as_secs_f64() - s.after_traffic_ns as f64 / 1e9;
                        // A server from before receive strategies went on
                        // the wire ignores `receive` and copies: never a
                        // mapped share it did not measure.
                        if cfg.receive == ReceiveKind::Zerocopy && s.bytes > 0 && s.rx.is_none() {
                            self.exp = None;
                            return Err(remote_error(
                                remote.addr,
                                "--receive zerocopy: the server reported no mapping receivers (a copybench serve from before receive strategies went on the wire copies instead); upgrade it".to_string(),
                            ));
                        }
                        absorb(&mut r, &s);
                        r.seconds = local_end.max(server_end);
                        Ok(r)
                    }
                    Ok(_) => unreachable!("expect() checked the reply"),
                    Err(e) => {
                        self.exp = None;
                        Err(e)
                    }
                }
            }
            Err(e) => {
                self.exp = None;
                // The server saw the failure too; its account may say more.
                let said = match remote.reply(Duration::from_secs(2)) {
                    Ok(Reply::Error { message }) => format!("; the server says: {message}"),
                    _ => String::new(),
                };
                remote.session = None;
                if said.is_empty() {
                    Err(e)
                } else {
                    Err(remote_error(remote.addr, format!("{e}{said}")))
                }
            }
        }
    }

    /// Tears the cell down on both hosts.
    pub fn stop(mut self) -> Result<()> {
        let Some(exp) = self.exp.take() else {
            return Ok(());
        };
        let mut remote = self.remote.borrow_mut();
        let timeout = exp.config().transport.timeout;
        if let Err(e) = remote.request(&Request::EndCell) {
            drop(exp);
            return Err(e);
        }
        let local = exp.stop();
        if let Err(e) = local {
            remote.session = None;
            return Err(e);
        }
        remote
            .expect(
                timeout + Duration::from_secs(5),
                |r| matches!(r, Reply::CellDone),
                "cell done",
            )
            .map(|_| ())
    }
}

impl Session for RemoteExperiment {
    fn config(&self) -> &Config {
        self.exp.as_ref().map_or(&self.cfg, Experiment::config)
    }

    fn run(&mut self, batch: Batch) -> Result<BatchReport> {
        RemoteExperiment::run(self, batch)
    }

    fn run_as(&mut self, strategy: StrategyKind, batch: Batch) -> Result<BatchReport> {
        if let Some(exp) = self.exp.as_mut() {
            exp.select(strategy)?;
        }
        RemoteExperiment::run(self, batch)
    }

    fn socket_buffers(&self) -> SocketBuffers {
        RemoteExperiment::socket_buffers(self)
    }

    fn server_host(&self) -> Option<Arc<HostFacts>> {
        self.remote.borrow().server_host.clone()
    }

    fn stop(self: Box<Self>) -> Result<()> {
        RemoteExperiment::stop(*self)
    }
}

impl Drop for RemoteExperiment {
    fn drop(&mut self) {
        if self.exp.take().is_some() {
            // Abandoned mid-cell: a fresh session keeps the two sides in step.
            self.remote.borrow_mut().session = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_targets_take_the_default_port() {
        let p = proto::DEFAULT_PORT;
        assert_eq!(
            resolve("127.0.0.1").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], p))
        );
        assert_eq!(
            resolve("127.0.0.1:9").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9))
        );
        assert_eq!(resolve("::1").unwrap().port(), p);
        assert_eq!(resolve("[::1]").unwrap().port(), p);
        assert_eq!(resolve("[::1]:9").unwrap().port(), 9);
        assert_eq!(resolve("localhost").unwrap().port(), p);
        assert!(resolve("127.0.0.1:99999").is_err());
    }
}
