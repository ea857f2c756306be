//! The wire protocol between `copybench serve` and `run`/`sweep --connect`.
//!
//! Contract: every control message is one frame, a 4-byte big-endian length
//! followed by that many bytes of JSON (one serde value). A frame longer than
//! the reader's bound is refused before anything is allocated for it, and
//! every read of a frame finishes by a deadline, however slowly its bytes
//! arrive. PROTOCOL.md (at the top of the repository) describes the session;
//! keep the two in step.
//!
//! Every connection starts the same way. The server speaks first with a
//! [`Challenge`] (its protocol version and a fresh random nonce); the client
//! answers with a [`Hello`] (its version, the session cookie it chose, which
//! kind of connection this is, and, when it has a token, an HMAC-SHA256 proof
//! over the nonce, the cookie and the connection kind). The token itself
//! never crosses the wire, and a recorded proof is useless against a fresh
//! nonce.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::model::kinds::WorkloadKind;
use crate::model::kinds::{Layout, ReceiveKind, StrategyKind};
use crate::model::measured::RoleStats;
use crate::model::measured::RxStats;
use crate::model::measured::ZeroCopyStats;

/// The protocol's name, the first thing in every challenge and hello.
pub const PROTOCOL: &str = "copybench";

/// The protocol version this build speaks. A peer of another version is refused.
pub const VERSION: u32 = 2;

/// The TCP port `serve` listens on by default (control and data alike).
pub const DEFAULT_PORT: u16 = 7202;

/// The largest frame a server reads from a client. Everything a client sends
/// (hello, a cell's configuration, a batch) is a few hundred bytes.
pub const MAX_CLIENT_FRAME: usize = 64 << 10;

/// The largest frame a client reads from a server (its host facts and role
/// results are a few KiB).
pub const MAX_SERVER_FRAME: usize = 1 << 20;

/// Random bytes identifying one session; data connections present it.
pub type Cookie = [u8; 16];

/// A server's fresh random challenge for one connection.
pub type Nonce = [u8; 16];

/// HMAC-SHA256 of the hello's fields under the token.
pub type Proof = [u8; 32];

/// Fills an array from the operating system's random source.
pub fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| io::Error::other(format!("getrandom: {e}")))?;
    Ok(out)
}

/// The server's first frame on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub protocol: String,
    pub version: u32,
    pub nonce: Nonce,
    /// Whether the server wants a proof of its token.
    pub token_required: bool,
}

/// Which connection of a session a hello opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The session's control connection: cells, batches and results.
    Control,
    /// Data connection `index` (0-based) of the session's current cell.
    Data { index: u32 },
}

/// The client's first frame on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: String,
    pub version: u32,
    pub cookie: Cookie,
    pub channel: Channel,
    /// [`prove`] of the token over the challenge's nonce; `None` without a token.
    pub proof: Option<Proof>,
}

/// The bytes a proof covers: a fixed label, the nonce, the cookie, the channel.
fn proof_input(nonce: &Nonce, cookie: &Cookie, channel: Channel) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"copybench hello v1\0");
    m.extend_from_slice(nonce);
    m.extend_from_slice(cookie);
    match channel {
        Channel::Control => m.push(0),
        Channel::Data { index } => {
            m.push(1);
            m.extend_from_slice(&index.to_be_bytes());
        }
    }
    m
}

fn keyed(token: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any length")
}

/// The proof a client holding `token` sends for this nonce, cookie and channel.
pub fn prove(token: &str, nonce: &Nonce, cookie: &Cookie, channel: Channel) -> Proof {
    let mut mac = keyed(token);
    mac.update(&proof_input(nonce, cookie, channel));
    mac.finalize().into_bytes().into()
}

/// Whether `proof` was made with `token` for this nonce, cookie and channel
/// (compared in constant time).
pub(crate) fn check_proof(
    token: &str,
    nonce: &Nonce,
    cookie: &Cookie,
    channel: Channel,
    proof: &Proof,
) -> bool {
    let mut mac = keyed(token);
    mac.update(&proof_input(nonce, cookie, channel));
    mac.verify_slice(proof).is_ok()
}

/// Whether two cookies are equal, in time that does not depend on where they differ.
pub(crate) fn same_cookie(a: &Cookie, b: &Cookie) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cell's configuration as the client sends it; the server checks it
/// against the same limits as the command line before it allocates anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellSpec {
    pub strategy: StrategyKind,
    pub workload: WorkloadKind,
    pub field_size: u64,
    pub fields: u64,
    pub threads: u64,
    /// `sampled` or `full`.
    pub verify: String,
    pub pool_slots: Option<u64>,
    pub counters: bool,
    pub sndbuf: Option<u64>,
    pub rcvbuf: Option<u64>,
    /// Every blocking socket call's timeout; the server uses at most its own.
    pub timeout_ms: u64,
    /// Where the messages' buffers lie (`heap` or `page`); rr replies use it
    /// too. A client that does not send it (copybench before layouts went on
    /// the wire) means `heap`.
    #[serde(default)]
    pub layout: Layout,
    /// A block's strategies, when its arms take turns on the cell's
    /// connections (the data messages' headers name the arm, by its index
    /// here; an rr server answers by the same one); empty: `strategy` alone.
    /// New in protocol version 2: a version-1 server would answer every
    /// arm by one strategy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<StrategyKind>,
    /// How the server's ends receive (`--receive`); absent (a client from
    /// before receive strategies went on the wire): `copy`.
    #[serde(default)]
    pub receive: ReceiveKind,
    /// `SO_RCVLOWAT` of the server's receiving sockets (`--rcvlowat`).
    #[serde(default)]
    pub rcvlowat: Option<u64>,
    /// `TCP_MAXSEG` of the server's data sockets (`--maxseg`, or a page + 12
    /// for a mapping receiver); the client sets it on its own before each
    /// handshake, which is what limits the segments both ways.
    #[serde(default)]
    pub maxseg: Option<u32>,
    /// `TCP_CONGESTION` of the server's data sockets (`--congestion`), the
    /// congestion control of an rr server's replies; the server host's
    /// default when `None` (and from a client that does not send it). A
    /// name is checked where it is read, and against the server host's list.
    #[serde(default)]
    pub congestion: Option<crate::model::kinds::Congestion>,
}

/// One batch, as both sides run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSpec {
    /// Exactly this many messages (rr: exchanges), split over the connections.
    Messages(u64),
    /// For this long on every connection.
    DurationMs(u64),
}

/// What the server's role measured in one batch, summed over its threads:
/// the same values a local run's server threads report to their coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleResult {
    /// Messages the server verified (stream); 0 for rr, where the client counts.
    pub messages: u64,
    /// Bytes the server verified.
    pub bytes: u64,
    /// Its CPU time and counters (a counter unavailable there is `None`).
    pub stats: RoleStats,
    /// The server's rr replies, when they were zero-copy sends.
    pub zerocopy: Option<Box<ZeroCopyStats>>,
    /// Time from the end of the server's traffic to this reply: mostly its
    /// wait for the last zero-copy completions, which a batch's wall time
    /// leaves out (as a local run does).
    pub after_traffic_ns: u64,
    /// The server's mapping receivers' bookkeeping (`receive` zerocopy);
    /// absent from a server that does not map (one from before receive
    /// strategies went on the wire, which the client then refuses).
    #[serde(default)]
    pub rx: Option<Box<RxStats>>,
}

/// Client to server, on the control connection after the hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Set up a cell: the server waits for `threads` data connections.
    Cell(CellSpec),
    /// Run one batch of the current cell.
    Batch(BatchSpec),
    /// The current cell is over; the client closes its data connections.
    EndCell,
    /// The session is over.
    Bye,
}

/// Server to client, on any connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Control hello accepted: the session is yours. `host` is the server's
    /// facts (`copybench doctor --json`).
    Welcome {
        host: Box<crate::model::host::HostFacts>,
    },
    /// Data hello accepted: raw messages follow on this connection.
    DataAccepted,
    /// Another session is running; try again later.
    Busy,
    /// The hello was refused (version, token, cookie); the connection closes.
    Refused { reason: String },
    /// The cell's configuration is within limits: open its data connections.
    CellAccepted,
    /// The cell is set up: every data connection is in and the server's workers are ready.
    CellReady,
    /// The server's results for the batch.
    BatchDone(RoleResult),
    /// The cell is torn down.
    CellDone,
    /// Something the client sent, or the cell, failed; for a malformed
    /// message the connection closes after it.
    Error { message: String },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message of {len} bytes is over the bound of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("the peer closed the connection")]
    Closed,
    #[error("the peer closed the connection in the middle of a message ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("timed out waiting for a message")]
    TimedOut,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(io::Error),
}

/// Writes one frame: length, then the JSON of `msg`.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)?;
    w.flush()
}

/// A socket whose read timeout can be set: each read of a frame is given the
/// time left until the frame's deadline, so a trickle of bytes cannot stretch it.
pub trait Deadlined: Read {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
}

impl Deadlined for socket2::Socket {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        socket2::Socket::set_read_timeout(self, t)
    }
}

impl Deadlined for std::net::TcpStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, t)
    }
}

fn read_all<R: Deadlined>(r: &mut R, buf: &mut [u8], deadline: Instant) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FrameError::TimedOut);
        }
        r.set_read_timeout(Some(left)).map_err(FrameError::Io)?;
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    got,
                    want: buf.len(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(FrameError::TimedOut)
            }
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

/// Reads one frame's bytes, at most `max` of them, by `deadline`.
pub(crate) fn read_frame_bytes<R: Deadlined>(
    r: &mut R,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match read_all(r, &mut len, deadline) {
        Err(FrameError::Truncated { got: 0, .. }) => return Err(FrameError::Closed),
        Err(FrameError::Truncated { got, .. }) => {
            return Err(FrameError::Truncated { got, want: 4 })
        }
        other => other?,
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    read_all(r, &mut body, deadline)?;
    Ok(body)
}

/// Reads and decodes one frame, at most `max` bytes, by `deadline`.
pub fn read_frame<R: Deadlined, T: DeserializeOwned>(
    r: &mut R,
    max: usize,
    deadline: Instant,
) -> Result<T, FrameError> {
    let body = read_frame_bytes(r, max, deadline)?;
    serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Decodes a client's hello, checking its protocol name and version before
/// its shape, so a peer of another version is told so rather than "malformed".
pub(crate) fn parse_hello(body: &[u8]) -> Result<Hello, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed hello: {e}"))?;
    if v.get("protocol").and_then(|p| p.as_str()) != Some(PROTOCOL) {
        return Err(format!(
            "not a copybench hello (expected protocol \"{PROTOCOL}\")"
        ));
    }
    match v.get("version").and_then(|p| p.as_u64()) {
        Some(n) if n == u64::from(VERSION) => {}
        Some(n) => {
            return Err(format!(
                "protocol version {n} is not spoken here: this server speaks version {VERSION}; run the same copybench version on both hosts"
            ))
        }
        None => return Err("hello without a protocol version".into()),
    }
    serde_json::from_value(v).map_err(|e| format!("malformed hello: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// An in-memory reader that hands out at most `chunk` bytes per read.
    struct Trickle {
        data: Cursor<Vec<u8>>,
        chunk: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.data.read(&mut buf[..n])
        }
    }

    impl Deadlined for Trickle {
        fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn trickle(data: Vec<u8>, chunk: usize) -> Trickle {
        Trickle {
            data: Cursor::new(data),
            chunk,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn a_frame_round_trips_even_a_byte_at_a_time() {
        let msg = Request::Batch(BatchSpec::DurationMs(150));
        let mut wire = Vec::new();
        write_frame(&mut wire, &msg).unwrap();
        assert_eq!(
            u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize,
            wire.len() - 4
        );
        let back: Request = read_frame(&mut trickle(wire, 1), MAX_CLIENT_FRAME, soon()).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading_the_body() {
        let mut wire = ((MAX_CLIENT_FRAME + 1) as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(b"{}");
        match read_frame_bytes(&mut trickle(wire, 64), MAX_CLIENT_FRAME, soon()) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!((len, max), (MAX_CLIENT_FRAME + 1, MAX_CLIENT_FRAME))
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_empty_streams_are_told_apart() {
        let empty = read_frame_bytes(&mut trickle(vec![], 8), 100, soon());
        assert!(matches!(empty, Err(FrameError::Closed)), "{empty:?}");
        let short_len = read_frame_bytes(&mut trickle(vec![0, 0], 8), 100, soon());
        assert!(
            matches!(short_len, Err(FrameError::Truncated { got: 2, want: 4 })),
            "{short_len:?}"
        );
        let mut wire = 10u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"{\"a\"");
        let short_body = read_frame_bytes(&mut trickle(wire, 8), 100, soon());
        assert!(
            matches!(short_body, Err(FrameError::Truncated { got: 4, want: 10 })),
            "{short_body:?}"
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let mut wire = 5u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"\xff\x00ab{");
        let r: Result<Request, _> = read_frame(&mut trickle(wire, 64), 100, soon());
        assert!(matches!(r, Err(FrameError::Malformed(_))), "{r:?}");
    }

    #[test]
    fn a_frame_past_its_deadline_times_out() {
        let mut wire = 2u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"{}");
        let past = Instant::now() - Duration::from_millis(1);
        let r = read_frame_bytes(&mut trickle(wire, 64), 100, past);
        assert!(matches!(r, Err(FrameError::TimedOut)), "{r:?}");
    }

    fn hello(version: u32) -> Hello {
        Hello {
            protocol: PROTOCOL.into(),
            version,
            cookie: [7; 16],
            channel: Channel::Data { index: 3 },
            proof: None,
        }
    }

    #[test]
    fn a_hello_of_another_version_is_refused_by_its_version() {
        let ok = serde_json::to_vec(&hello(VERSION)).unwrap();
        assert_eq!(parse_hello(&ok).unwrap(), hello(VERSION));
        let mut v = serde_json::to_value(hello(VERSION + 1)).unwrap();
        // A later version may change the hello's shape; the version is still read first.
        v["channel"] = serde_json::json!("something-new");
        let err = parse_hello(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            err.contains(&format!("protocol version {}", VERSION + 1)),
            "{err}"
        );
        let err = parse_hello(b"{\"protocol\":\"http\"}").unwrap_err();
        assert!(err.contains("not a copybench hello"), "{err}");
        let err = parse_hello(b"GET / HTTP/1.1").unwrap_err();
        assert!(err.starts_with("malformed hello"), "{err}");
    }

    #[test]
    fn a_proof_binds_the_token_nonce_cookie_and_channel() {
        let (nonce, cookie) = ([1u8; 16], [2u8; 16]);
        let ch = Channel::Control;
        let p = prove("s3cret", &nonce, &cookie, ch);
        assert!(check_proof("s3cret", &nonce, &cookie, ch, &p));
        assert!(!check_proof("s3cret!", &nonce, &cookie, ch, &p));
        assert!(!check_proof("s3cret", &[9; 16], &cookie, ch, &p));
        assert!(!check_proof("s3cret", &nonce, &[9; 16], ch, &p));
        assert!(!check_proof(
            "s3cret",
            &nonce,
            &cookie,
            Channel::Data { index: 0 },
            &p
        ));
        let d0 = prove("s3cret", &nonce, &cookie, Channel::Data { index: 0 });
        let d1 = prove("s3cret", &nonce, &cookie, Channel::Data { index: 1 });
        assert_ne!(d0, d1);
    }

    #[test]
    fn cookies_compare_by_every_byte() {
        let a = [5u8; 16];
        let mut b = a;
        assert!(same_cookie(&a, &b));
        b[15] ^= 1;
        assert!(!same_cookie(&a, &b));
    }

    #[test]
    fn random_values_differ() {
        let a: Cookie = random().unwrap();
        let b: Cookie = random().unwrap();
        assert_ne!(a, b);
    }
}
