//! The receiving side, two ways (`--receive`):
//!
//! - `copy` ([`Reader`]): plain `recv` into one reusable buffer, cut into
//!   whole messages, each checked in place.
//! - `zerocopy` ([`MapReader`]): `getsockopt(TCP_ZEROCOPY_RECEIVE)` maps whole
//!   received pages into a window of this process; the bytes the kernel
//!   cannot map (its `recv_skip_hint`) are read with `recv` and counted as
//!   copied.
//!
//! **Framing and pages.** A message is a 32-byte header and its fields, back
//! to back on the stream, so message boundaries fall anywhere in a page: a
//! page the kernel maps may hold the tail of one message and the head of the
//! next, and a message may run across several mapping calls and the bytes
//! `recv`ed between them. The mapping receiver never copies to make a message
//! contiguous. It verifies **piecewise**: it feeds each run of stream bytes,
//! mapped or `recv`ed, to the verifier as it comes. The header is gathered
//! into a 32-byte array (it may straddle two pieces), checked by
//! [`Verifier::begin`] (sequence, shape, origin), and each piece of the body
//! by [`Verifier::check_piece`], which checks exactly the bytes the whole
//! check would (the ends of every field, or in full every byte), so every
//! byte of a mapped page is reachable by a full check. The message is done,
//! and a request answered (rr), when its last byte has been checked; the
//! mapped pages of a call are released (`MADV_DONTNEED`) once all of them
//! have been checked, before the next call, as the kernel's selftest does.
//!
//! **`SO_RCVLOWAT`** (`--rcvlowat`, either receiver): a receiver waits until
//! that many bytes are queued, but never for more than the rest of the message
//! it is in, or the batch's last message would wait for bytes the sender never
//! sends, until the receive timeout. Both readers lower the mark to what the
//! message still needs before a wait (and raise it back after), and wait for
//! it in `poll` ([`Lowat::wait`] says why not in the `recv`); the mapping
//! reader then also peeks with `recv(MSG_PEEK | MSG_TRUNC)` (it copies
//! nothing, and does not wake for zero-copy completions on the error queue).
//! The kernel wakes a waiting reader only when `SO_RCVLOWAT` bytes are
//! queued, whatever the call's own length, so the mark itself must come down.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::engine::message::{Header, Pending, Verifier, VerifyError, HEADER_LEN};
use crate::model::measured::RxStats;
use crate::sys;

/// Bytes the reader asks the kernel for at most per call when messages are small.
pub const READ_AHEAD: usize = 256 << 10;

/// A partial message up to this size is moved to the front before each read.
const SMALL_PARTIAL: usize = 8 << 10;

/// Why no whole message could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the peer closed the connection{}", mid(*partial))]
    Closed { partial: usize },
    #[error("no data for {timeout:?} (receive timeout){}", mid(*partial))]
    TimedOut {
        partial: usize,
        timeout: std::time::Duration,
    },
    #[error("recv failed: {0}")]
    Io(io::Error),
}

fn mid(partial: usize) -> String {
    if partial == 0 {
        String::new()
    } else {
        format!(" in the middle of a message ({partial} bytes of it had arrived)")
    }
}

/// `SO_RCVLOWAT` as a receiver keeps it: `--rcvlowat`, lowered to what the
/// current message still needs before a wait (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lowat {
    want: usize,
    current: usize,
    /// The socket's receive timeout, read once: how long [`Lowat::wait`]
    /// polls before it fails as a `recv` would.
    timeout: Duration,
}

impl Lowat {
    /// Sets the socket's low mark to `want` (`--rcvlowat`); the socket's
    /// receive timeout must be set already.
    pub fn new(fd: BorrowedFd<'_>, want: usize) -> io::Result<Lowat> {
        sys::set_rcvlowat(fd, want.max(1))?;
        Ok(Lowat {
            want: want.max(1),
            current: want.max(1),
            timeout: socket2::SockRef::from(&fd)
                .read_timeout()?
                .unwrap_or_default(),
        })
    }

    /// Before a wait for `needed` more bytes of a message of which
    /// `partial` are in: lowers (or raises back) the mark to what the
    /// message still needs, then waits in `poll` until that many bytes are
    /// queued (or the peer closed, or the receive timeout passed). Returns
    /// whether it had to set the mark (a call of its own).
    ///
    /// Why `poll` and not the `recv` that follows: a `recv` (or a peek)
    /// that goes to sleep with some bytes queued but fewer than the mark
    /// can miss its wake-up. It waits for a new buffer at the tail of the
    /// receive queue, and TCP may append the bytes it waits for to the
    /// buffer already there (receive coalescing). Measured on this
    /// project's VM (Linux 6.18, loopback, 16 KiB messages, `--rcvlowat`
    /// 64 KiB or 512 KiB, 5 ms batches): such a `recv` slept through a
    /// queued message until the receive timeout (10 s), in 2 to 3 cells of a
    /// 20-cell sweep. `poll` asks whether the mark is reached at every
    /// wake-up, as the kernel selftest's loop does. When the error queue
    /// holds zero-copy completions (rr, where this end also sends), `poll`
    /// answers at once with `POLLERR`; the call after it then waits as it
    /// did.
    fn wait(
        &mut self,
        fd: BorrowedFd<'_>,
        needed: usize,
        partial: usize,
    ) -> Result<bool, ReadError> {
        let target = self.want.min(needed).max(1);
        let set = target != self.current;
        if set {
            sys::set_rcvlowat(fd, target).map_err(ReadError::Io)?;
            self.current = target;
        }
        let ms = if self.timeout.is_zero() {
            -1
        } else {
            i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
        };
        loop {
            match sys::poll_one(fd, libc::POLLIN | libc::POLLRDHUP, ms) {
                Ok(0) => {
                    return Err(ReadError::TimedOut {
                        partial,
                        timeout: self.timeout,
                    })
                }
                Ok(_) => return Ok(set),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

/// The reader's buffer for `msg_len`-byte messages: [`READ_AHEAD`], or one
/// message when that is larger (0 for a reader never used).
///
/// A buffer of whole messages only (3 of 64 KiB + 32 B instead of 256 KiB)
/// would spare the reader moving a large partial message to the front
/// (3–4 % of a 64 KiB stream's CPU samples in a profile), but with that
/// buffer and its moves only of small partials, `--rcvlowat` above the
/// message size stalled the end of a 5 ms batch for the whole receive
/// timeout (10 s) in 6 runs of 6 on this project's VM (Linux 6.18,
/// loopback, 16 KiB messages), the reader asleep in `recv` with a message
/// already queued; with this buffer and the moves below, in none of 8. The
/// cause was not found, so the reader keeps the layout that never stalled.
fn buffer_len(msg_len: usize) -> usize {
    if msg_len == 0 {
        return 0;
    }
    msg_len.max(READ_AHEAD)
}

/// Reads a stream of fixed-size messages.
pub(crate) struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    msg_len: usize,
    lowat: Option<Lowat>,
}

impl Reader {
    /// A reader of `msg_len`-byte messages (0: a reader that is never used).
    pub fn new(msg_len: usize) -> Reader {
        let cap = buffer_len(msg_len);
        Reader {
            buf: vec![0; cap],
            start: 0,
            end: 0,
            msg_len,
            lowat: None,
        }
    }

    /// With `SO_RCVLOWAT` kept as [`Lowat`] says.
    pub fn lowat(mut self, lowat: Option<Lowat>) -> Reader {
        self.lowat = lowat;
        self
    }

    /// The next whole message. Reads more than one message's worth when the
    /// peer has sent it, so a stream of small messages costs few calls.
    pub fn next(&mut self, fd: BorrowedFd<'_>) -> Result<&[u8], ReadError> {
        // Before reading, move a partial message to the front when it is
        // small (a plain reader's data would land at the front too, in memory
        // the last read just warmed), when the next message would not fit,
        // or when less than half the buffer is left: each read then offers
        // the kernel at least half the buffer, at the price of copying under
        // one message.
        let partial = self.end - self.start;
        let short = self.buf.len() - self.end < self.buf.len() / 2;
        if partial < self.msg_len
            && self.start > 0
            && (partial <= SMALL_PARTIAL || short || self.start + self.msg_len > self.buf.len())
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < self.msg_len {
            let partial = self.end - self.start;
            if let Some(l) = &mut self.lowat {
                l.wait(fd, self.msg_len - partial, partial)?;
            }
            match sys::recv(fd, &mut self.buf[self.end..], 0) {
                Ok(0) => return Err(ReadError::Closed { partial }),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let timeout = socket2::SockRef::from(&fd)
                        .read_timeout()
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    return Err(ReadError::TimedOut { partial, timeout });
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(ReadError::Closed { partial })
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        let msg = &self.buf[self.start..self.start + self.msg_len];
        self.start += self.msg_len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(msg)
    }
}

/// Why the mapping receiver could not deliver a checked message.
#[derive(Debug)]
pub(crate) enum MapError<E> {
    Read(ReadError),
    Verify(VerifyError),
    /// What the caller's per-message step (rr: the answer) returned.
    Step(E),
}

/// Bytes one `TCP_ZEROCOPY_RECEIVE` call asks to map at most, and so the
/// window's size: 512 KiB, as the bare loop used.
pub const MAP_WINDOW: usize = 512 << 10;

/// The alignment the kernel's selftest gives its window: the default huge
/// page size (`Hugepagesize` in /proc/meminfo), else 2 MiB.
pub fn map_align() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Hugepagesize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(2 << 20, |kib| kib << 10)
}

/// Receives fixed-size messages by mapping (see the module doc).
pub(crate) struct MapReader {
    window: sys::SocketWindow,
    /// The mapped bytes not yet fed: `pos..end` of the window.
    pos: usize,
    end: usize,
    /// `recv`ed bytes not yet fed: `bpos..bend` of `buf`.
    buf: Vec<u8>,
    bpos: usize,
    bend: usize,
    /// Bytes the kernel said it cannot map, not yet read.
    skip_left: usize,
    msg_len: usize,
    /// Bytes of the current message fed so far.
    msg_off: usize,
    header: [u8; HEADER_LEN],
    pending: Option<Pending>,
    timeout: Duration,
    lowat: Option<Lowat>,
    stats: RxStats,
}

impl MapReader {
    /// A mapping reader on `fd` (a connected TCP socket) of `msg_len`-byte
    /// messages. Fails as `mmap` does on a socket that cannot be mapped.
    pub fn new(fd: BorrowedFd<'_>, msg_len: usize, lowat: Option<Lowat>) -> io::Result<MapReader> {
        let window = sys::SocketWindow::map(fd, MAP_WINDOW, map_align())?;
        let timeout = socket2::SockRef::from(&fd)
            .read_timeout()
            .ok()
            .flatten()
            .unwrap_or(Duration::from_secs(10));
        Ok(MapReader {
            window,
            pos: 0,
            end: 0,
            // A skip hint is at most a window's worth: one recv takes it,
            // as the selftest reads it into a window-sized buffer.
            buf: vec![0; MAP_WINDOW],
            bpos: 0,
            bend: 0,
            skip_left: 0,
            msg_len,
            msg_off: 0,
            header: [0; HEADER_LEN],
            pending: None,
            timeout,
            lowat,
            stats: RxStats::default(),
        })
    }

    /// What it did since the last call.
    pub fn take_stats(&mut self) -> RxStats {
        std::mem::take(&mut self.stats)
    }

    /// Receives the next message, checking each piece as it comes, then
    /// calls `step` with its header bytes (rr answers there) and returns the
    /// header.
    pub fn next<E>(
        &mut self,
        fd: BorrowedFd<'_>,
        verifier: &mut Verifier,
        step: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<Header, MapError<E>> {
        loop {
            // The next run of stream bytes: recv'd ones first (they come
            // before any page mapped after them), then mapped ones.
            let piece: &[u8] = if self.bpos < self.bend {
                &self.buf[self.bpos..self.bend]
            } else if self.pos < self.end {
                self.window.mapped(self.pos, self.end - self.pos)
            } else {
                self.fill(fd).map_err(MapError::Read)?;
                continue;
            };
            let want = self.msg_len - self.msg_off;
            let n = want.min(piece.len());
            let piece = &piece[..n];
            let mut used = 0;
            if self.msg_off < HEADER_LEN {
                let h = (HEADER_LEN - self.msg_off).min(n);
                self.header[self.msg_off..self.msg_off + h].copy_from_slice(&piece[..h]);
                used = h;
                if self.msg_off + h == HEADER_LEN {
                    self.pending = Some(verifier.begin(&self.header).map_err(MapError::Verify)?);
                }
            }
            if used < n {
                let p = self.pending.as_ref().expect("the header came first");
                let at = self.msg_off + used - HEADER_LEN;
                verifier
                    .check_piece(p, at, &piece[used..])
                    .map_err(MapError::Verify)?;
            }
            if self.bpos < self.bend {
                self.bpos += n;
            } else {
                self.pos += n;
            }
            self.msg_off += n;
            if self.msg_off == self.msg_len {
                self.msg_off = 0;
                let p = self.pending.take().expect("a whole message has a header");
                step(&self.header).map_err(MapError::Step)?;
                return Ok(p.header);
            }
        }
    }

    /// Gets more stream bytes: the rest of a skip hint by `recv`, else a
    /// mapping call. With a low mark (`--rcvlowat`) it first waits for the
    /// mark, as the kernel's selftest polls before each call: every call
    /// zaps the window it maps into (a TLB flush on every CPU the process
    /// runs on), so a call should map what the mark lets queue up, not the
    /// page or two that came since the last (the overhead bench's
    /// `-page-rx` cases measured that cost). Without a mark it maps
    /// whatever is queued and waits only when nothing is.
    fn fill(&mut self, fd: BorrowedFd<'_>) -> Result<(), ReadError> {
        let partial = self.msg_off;
        let closed = ReadError::Closed { partial };
        // Every mapped byte has been checked: release the pages now
        // (`MADV_DONTNEED`), as the selftest does, rather than leave them to
        // the next mapping call, which would zap them (a TLB flush on every
        // CPU the process runs on) while it holds the socket lock, so that
        // the segments arriving meanwhile wait in the backlog and are
        // processed in this thread when the call returns.
        if self.end > 0 {
            self.stats.calls += 1;
            self.window.release(0, self.end).map_err(ReadError::Io)?;
            (self.pos, self.end) = (0, 0);
        }
        if self.skip_left > 0 {
            let n = self.skip_left.min(self.buf.len());
            let got = loop {
                self.stats.calls += 1;
                match sys::recv(fd, &mut self.buf[..n], 0) {
                    Ok(0) => return Err(closed),
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(read_error(e, partial, self.timeout)),
                }
            };
            self.skip_left -= got;
            self.stats.copied_bytes += got as u64;
            (self.bpos, self.bend) = (0, got);
            return Ok(());
        }
        let mut waited = self.lowat.is_none();
        loop {
            if !waited {
                self.wait(fd)?;
                waited = true;
            }
            self.stats.calls += 1;
            let zc = match self.window.receive(fd, 0, self.window.len()) {
                Ok(zc) => zc,
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Err(closed),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e, partial, self.timeout)),
            };
            if zc.err != 0 {
                return Err(read_error(
                    io::Error::from_raw_os_error(zc.err.abs()),
                    partial,
                    self.timeout,
                ));
            }
            if zc.recv_skip_hint > 0 {
                self.stats.skip_hints += 1;
                self.skip_left = zc.recv_skip_hint as usize;
            }
            if zc.length > 0 {
                self.stats.mapped_bytes += u64::from(zc.length);
                (self.pos, self.end) = (0, zc.length as usize);
                return Ok(());
            }
            if self.skip_left > 0 {
                return self.fill(fd);
            }
            self.wait(fd)?;
        }
    }

    /// Waits for the low mark, never for more than the rest of the message.
    /// The kernel wakes a waiter only once SO_RCVLOWAT bytes are queued,
    /// whatever the call asks, so the mark itself is lowered; MSG_PEEK |
    /// MSG_TRUNC waits for min(mark, len) bytes and copies none.
    fn wait(&mut self, fd: BorrowedFd<'_>) -> Result<(), ReadError> {
        let partial = self.msg_off;
        if let Some(l) = &mut self.lowat {
            if l.wait(fd, self.msg_len - partial, partial)? {
                self.stats.calls += 1;
            }
        }
        loop {
            self.stats.calls += 1;
            match sys::wait_readable(fd, self.msg_len - partial) {
                Ok(0) => return Err(ReadError::Closed { partial }),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(e, partial, self.timeout)),
            }
        }
    }
}

/// What the host's probe of receive mapping found: one page sent over
/// loopback (MSS one page plus the timestamp option) and mapped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapProbe {
    /// Bytes the kernel mapped of the page sent.
    pub mapped: u32,
    /// The connection's MSS as the receiver read it back.
    pub mss: u32,
}

/// Whether this host maps received TCP pages (`TCP_ZEROCOPY_RECEIVE`): a
/// real probe, once per process. `Err` says why not.
pub fn map_support() -> &'static Result<MapProbe, String> {
    static PROBE: std::sync::OnceLock<Result<MapProbe, String>> = std::sync::OnceLock::new();
    PROBE.get_or_init(probe_map)
}

/// The MSS a mapping receiver asks for over TCP: a page of payload plus the
/// 12 bytes of the timestamp option (the selftest's `-M 4108`), so that each
/// segment carries exactly one page.
pub fn map_mss() -> u32 {
    crate::engine::message::page_size() as u32 + 12
}

fn probe_map() -> Result<MapProbe, String> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::os::fd::AsFd;
    let step = |what: &str, e: io::Error| format!("{what}: {e}");
    let page = crate::engine::message::page_size();
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| step("socket", e))?;
    sys::set_maxseg(listener.as_fd(), map_mss()).map_err(|e| step("setsockopt(TCP_MAXSEG)", e))?;
    let any = SockAddr::from(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        0,
    ));
    listener.bind(&any).map_err(|e| step("bind 127.0.0.1", e))?;
    listener.listen(1).map_err(|e| step("listen", e))?;
    let addr = listener.local_addr().map_err(|e| step("getsockname", e))?;
    let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| step("socket", e))?;
    sys::set_maxseg(client.as_fd(), map_mss()).map_err(|e| step("setsockopt(TCP_MAXSEG)", e))?;
    client
        .connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| step("connect over loopback", e))?;
    let (server, _) = listener.accept().map_err(|e| step("accept", e))?;
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| step("SO_RCVTIMEO", e))?;
    let mss = sys::maxseg(server.as_fd()).map_err(|e| step("getsockopt(TCP_MAXSEG)", e))?;
    let mut window = sys::SocketWindow::map(server.as_fd(), page, page)
        .map_err(|e| step("mmap of a TCP socket (PROT_READ, MAP_SHARED)", e))?;
    // A MSG_ZEROCOPY send over loopback is copied into fresh, page-aligned
    // pages: what the kernel maps (a plain send's frags are not page-aligned
    // on this path). Fall back to a plain send where SO_ZEROCOPY is off.
    let data: Vec<u8> = (0..page).map(|i| i as u8).collect();
    let zc = sys::set_zerocopy(client.as_fd()).is_ok();
    let flags = if zc { libc::MSG_ZEROCOPY } else { 0 };
    let mut sent = 0;
    while sent < page {
        sent += sys::send(client.as_fd(), &data[sent..], flags).map_err(|e| {
            if zc && e.raw_os_error() == Some(libc::ENOBUFS) {
                pinning_refused(e)
            } else {
                step("send", e)
            }
        })?;
    }
    let mut mapped = 0u32;
    let give_up = std::time::Instant::now() + Duration::from_secs(2);
    let mut seen = 0usize;
    while seen < page && std::time::Instant::now() < give_up {
        let _ = sys::poll_one(server.as_fd(), libc::POLLIN, 100);
        let got = window
            .receive(server.as_fd(), 0, page)
            .map_err(|e| step("getsockopt(TCP_ZEROCOPY_RECEIVE)", e))?;
        if got.length > 0 {
            if window.mapped(0, got.length as usize) != &data[seen..seen + got.length as usize] {
                return Err("the mapped page does not hold the bytes sent".into());
            }
            mapped += got.length;
            seen += got.length as usize;
        }
        if got.recv_skip_hint > 0 {
            let mut rest = vec![0u8; got.recv_skip_hint as usize];
            let n = sys::recv(server.as_fd(), &mut rest, 0).map_err(|e| step("recv", e))?;
            seen += n;
        }
    }
    if mapped == 0 {
        return Err(format!(
            "a page sent over loopback (MSS {mss}) came back copied, not mapped (recv_skip_hint covered it)"
        ));
    }
    Ok(MapProbe { mapped, mss })
}

/// Why a `MSG_ZEROCOPY` send of one page failed with `ENOBUFS`: the kernel
/// pins the sender's pages and charges them to its locked memory
/// (`RLIMIT_MEMLOCK`) unless it has `CAP_IPC_LOCK` (root does); at a limit
/// too small for a page, every such send fails. Measured as uid 65534 with
/// `ulimit -l 0` on Linux 6.18 (tests/receive.rs).
fn pinning_refused(e: io::Error) -> String {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max locked memory"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .map_or("unknown".to_string(), |soft| match soft.parse::<u64>() {
            Ok(bytes) => format!("{} KiB", bytes / 1024),
            Err(_) => soft,
        });
    format!(
        "a MSG_ZEROCOPY send of one page over loopback (what gives a receiver pages it can map) failed: {e}: \
         the kernel pins zero-copy pages against the locked-memory limit (RLIMIT_MEMLOCK, now {limit}) \
         of a process without CAP_IPC_LOCK; raise it (ulimit -l) or run as root"
    )
}

fn read_error(e: io::Error, partial: usize, timeout: Duration) -> ReadError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ReadError::TimedOut { partial, timeout }
        }
        io::ErrorKind::ConnectionReset => ReadError::Closed { partial },
        _ => ReadError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn splits_a_byte_stream_into_messages_across_reads() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(7 * 5).collect();
        a.write_all(&data[..12]).unwrap();
        let mut r = Reader::new(7);
        assert_eq!(r.next(b.as_fd()).unwrap(), &data[..7]);
        a.write_all(&data[12..]).unwrap();
        drop(a);
        for i in 1..5 {
            assert_eq!(r.next(b.as_fd()).unwrap(), &data[i * 7..i * 7 + 7]);
        }
        assert!(matches!(
            r.next(b.as_fd()),
            Err(ReadError::Closed { partial: 0 })
        ));
    }

    #[test]
    fn large_messages_come_out_whole_wherever_reads_end() {
        // 64 KiB + 32 B messages in a 256 KiB buffer: odd-sized writes put
        // message boundaries anywhere in a read, partial messages are moved
        // to the front when the next would not fit, and each message still
        // comes out whole.
        let len = 65_568;
        assert_eq!(buffer_len(len), READ_AHEAD);
        assert_eq!(buffer_len(READ_AHEAD + 1), READ_AHEAD + 1);
        assert_eq!(buffer_len(0), 0);
        let (mut a, b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..7 * len).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            for chunk in sent.chunks(50_001) {
                a.write_all(chunk).unwrap();
            }
        });
        let mut r = Reader::new(len);
        for i in 0..7 {
            assert_eq!(
                r.next(b.as_fd()).unwrap(),
                &data[i * len..(i + 1) * len],
                "{i}"
            );
            assert!(r.end <= r.buf.len());
        }
        writer.join().unwrap();
    }

    #[test]
    fn a_close_mid_message_says_how_much_arrived() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&[1, 2, 3]).unwrap();
        drop(a);
        let err = Reader::new(8).next(b.as_fd()).unwrap_err();
        assert!(matches!(err, ReadError::Closed { partial: 3 }));
        assert!(err.to_string().contains("3 bytes"));
    }
}
