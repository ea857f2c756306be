//! The receiving side, two ways (`--receive`):
//!
//! - `copy` ([`Reader`]): plain `recv` into one reusable buffer; a message
//!   that lies whole in it is checked in place, one that runs past the end
//!   of a read is checked in pieces (below), never moved.
//! - `zerocopy` ([`MapReader`]): `getsockopt(TCP_ZEROCOPY_RECEIVE)` maps whole
//!   received pages into a window of this process; the bytes the kernel
//!   cannot map (its `recv_skip_hint`) are read with `recv` and counted as
//!   copied.
//!
//! **Framing and pages.** A message is a 32-byte header and its fields, back
//! to back on the stream, so message boundaries fall anywhere in a page: a
//! page the kernel maps may hold the tail of one message and the head of the
//! next, and a message may run across several mapping calls and the bytes
//! `recv`ed between them; a copying reader's read may end anywhere in one.
//! Neither receiver copies to make a message contiguous. The mapping
//! receiver verifies **piecewise** ([`Pieces`]): it feeds each run of stream
//! bytes, mapped or `recv`ed, to the verifier as it comes; the copying one
//! does so for a message that runs past the end of a read. The header is gathered
//! into a 32-byte array (it may straddle two pieces), checked by
//! [`Verifier::begin`] (sequence, shape, origin), and each piece of the body
//! by [`Verifier::check_piece`], which checks exactly the bytes the whole
//! check would (the ends of every field, or in full every byte), so every
//! byte of a mapped page is reachable by a full check. The message is done,
//! and a request answered (rr), when its last byte has been checked; the
//! mapped pages of a call are released (`MADV_DONTNEED`) once all of them
//! have been checked, before the next call, as the kernel's selftest does.
//!
//! **`SO_RCVLOWAT`** (either receiver): a receiver waits until that many
//! bytes are queued, but never for more than the sender has promised to
//! send, or the batch's last message would wait for bytes that never come,
//! until the receive timeout. What is promised: the rest of the message the
//! reader is in, and the messages its sender promised in the last header it
//! read ([`promise_in_header`]: a counted batch's rest, a timed batch's messages
//! up to the sender's next deadline check). Both readers set the mark to
//! what is promised when that is less (and raise it back after), and wait for
//! it in `poll` ([`Lowat::wait`] says why not in the `recv`); the mapping
//! reader, where `poll` did not find the socket readable (no mark, or only
//! zero-copy completions on the error queue), peeks with `recv(MSG_PEEK |
//! MSG_TRUNC)` (it copies nothing, and does not wake for the error queue).
//! The kernel wakes a waiting reader only when `SO_RCVLOWAT` bytes are
//! queued, whatever the call's own length, so the mark itself must come down.
//!
//! **The mark by default** (no `--rcvlowat`; the copying receiver on TCP
//! with segments of at least [`AUTO_MIN_MSS`], i.e. loopback):
//! [`default_mark`] ([`AUTO_LOWAT`], 16 KiB), and only while the sender has
//! promised bytes beyond the current message (a stream batch); otherwise the
//! kernel's 1 and no `poll` (rr: one call per message, as before). Why:
//! without a mark the kernel wakes the reader for every segment that finds
//! it asleep, and on loopback the *sender's* thread pays for that wake-up
//! (the receive path runs in its softirq). A reader that drains each
//! wake-up's bytes in one call sleeps again at once, so a fast reader made
//! the sender slow: on this project's VM (where a cross-CPU wake-up costs
//! tens of µs) the 4 KiB stream woke the receiver 13.4 thousand times per
//! GB against iperf3's 6.8 thousand (whose slower reader is asleep less),
//! and the mark took the 4 KiB and 64 KiB one-copy streams from about 10 to
//! about 18 Gbit/s (docs/comparison.md). Zero-copy senders promise nothing
//! (a mark held back the acknowledgements their completions wait for, and
//! their last segments are small), so their receivers keep no mark; nor do
//! AF_UNIX (its `poll` ignores `SO_RCVLOWAT`) and the mapping receiver
//! (its own waits, below). `--rcvlowat 1` is the kernel's default: no mark.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::engine::message::{
    promise_in_header, Header, Pending, Verifier, VerifyError, HEADER_LEN,
};
use crate::model::measured::RxStats;
use crate::sys;

/// Bytes the reader asks the kernel for at most per call when messages are small.
pub const READ_AHEAD: usize = 256 << 10;

/// The default mark, at most. Measured on this project's VM (loopback,
/// one-copy, one field, alternating, 1.5 s runs), Gbit/s without a mark →
/// with 16 KiB → with 256 KiB: 256 B 4.4 → 4.9 → 4.8; 1 KiB 13.8 → 13.9 →
/// 11.0–13.1; 2 KiB 8.6–9.2 → 17.6–18.8 → 10.0–10.9; 4 KiB 10.3 → 18.1–19.4 →
/// 15.9–21.9; 64 KiB 10.3–10.7 → 18.3–18.5 → 26.0–29.6. Larger marks pay
/// for large messages and cost small ones; 16 KiB never cost.
pub const AUTO_LOWAT: usize = 16 << 10;

/// The default mark is kept only on connections whose MSS is at least this
/// (loopback's 64 KiB). With smaller segments the kernel ACKs every second
/// segment while fewer bytes than the mark are queued (`__tcp_ack_snd_check`),
/// and the sender processes those ACKs: on veth (MSS 1448) a mark of 16 to
/// 256 KiB cost the 4 KiB stream a quarter to a half (1.8–1.9 → 1.3–1.5
/// Gbit/s, alternating, idle), and with `--maxseg 4108` a fifth.
pub const AUTO_MIN_MSS: u32 = 32 << 10;

/// The default mark is at most the receive buffer over this (a buffer set
/// small with `--rcvbuf`; the kernel's own starts at 128 KiB): setting
/// `SO_RCVLOWAT` to a mark whose buffer space (about twice the mark) is more
/// than the socket's receive buffer grows the buffer *and clamps the window
/// to the mark* (`tcp_set_rcvlowat`), and the sender would stop at every mark.
const AUTO_BUFFER_SHARE: usize = 4;

/// The default mark a copy receiver keeps on the connected TCP socket `fd`
/// while the sender has promised that many bytes: [`AUTO_LOWAT`], at most a
/// quarter of the receive buffer; `None` when the connection's MSS is below
/// [`AUTO_MIN_MSS`] (no mark). Read once, when the receiver starts; the
/// overhead bench's bare receiver keeps the same mark.
pub fn default_mark(fd: BorrowedFd<'_>) -> io::Result<Option<usize>> {
    if sys::maxseg(fd)? < AUTO_MIN_MSS {
        return Ok(None);
    }
    let rcvbuf = socket2::SockRef::from(&fd).recv_buffer_size()?;
    Ok(Some(AUTO_LOWAT.min(rcvbuf / AUTO_BUFFER_SHARE).max(1)))
}

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

/// `SO_RCVLOWAT` as a receiver keeps it: `--rcvlowat` or [`AUTO_LOWAT`],
/// lowered to what the sender has promised before a wait (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lowat {
    want: usize,
    /// The default mark ([`Lowat::auto`]): kept only while bytes beyond the
    /// current message are promised.
    auto: bool,
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
            auto: false,
            current: want.max(1),
            timeout: socket2::SockRef::from(&fd)
                .read_timeout()?
                .unwrap_or_default(),
        })
    }

    /// The mark a TCP receiver keeps without `--rcvlowat` (see the module
    /// doc), on a connected socket whose MSS is at least [`AUTO_MIN_MSS`];
    /// `None` on any other. The socket keeps the kernel's 1 until a sender
    /// promises more than the current message.
    pub fn auto(fd: BorrowedFd<'_>) -> io::Result<Option<Lowat>> {
        let Some(want) = default_mark(fd)? else {
            return Ok(None);
        };
        Ok(Some(Lowat {
            want,
            auto: true,
            current: 1,
            timeout: socket2::SockRef::from(&fd)
                .read_timeout()?
                .unwrap_or_default(),
        }))
    }

    /// The mark for a wait for `needed` more bytes of the current message
    /// when `promised` bytes (that message's rest included, once its header
    /// is in) are promised; `None`: no mark, the kernel's 1 and no `poll`
    /// (the default mark when it would ask for no more than the message).
    fn target(&self, needed: usize, promised: usize) -> Option<usize> {
        if !self.auto {
            return Some(self.want.min(needed.max(promised)).max(1));
        }
        let mark = self.want.min(promised);
        (mark > needed).then_some(mark)
    }

    /// Before a wait for `needed` more bytes of a message of which
    /// `partial` are in, when `promised` bytes are promised in all: lowers
    /// (or raises back) the mark to what is promised, then waits in `poll`
    /// until the socket is readable (or the receive timeout passed). Without
    /// a mark ([`Lowat::target`]) it puts the kernel's 1 back and leaves the
    /// wait to the call that follows. Returns what it did ([`Waited`]).
    ///
    /// Readable is not "the mark is reached": TCP also reports bytes as
    /// readable when no more can come before the reader takes some
    /// (`tcp_epollin_ready`: the receive buffer under memory pressure, or a
    /// window of at most one segment left), or when the peer closed. So the
    /// call after a readable `poll` must not wait for the mark again where
    /// the mark may never come: a peek takes nothing, and the window stays
    /// shut; a `recv` takes what is queued and then sleeps until a whole
    /// mark more is (below), which is sure to come only while at least
    /// twice the mark is promised ([`Waited::may_sleep`]).
    ///
    /// Why `poll` and not the `recv` that follows: TCP wakes a sleeping
    /// reader only when `SO_RCVLOWAT` bytes are queued *unread*
    /// (`tcp_data_ready`: `tcp_epollin_ready(sk, sk_rcvlowat)`), while a
    /// `recv` counts towards its own target the bytes it already took in
    /// this call. A `recv` that took part of a message and sleeps for the
    /// rest is woken only once a whole mark more is queued, which the
    /// sender, short of a promise, may never send (and a peek, which takes
    /// nothing, waits for a new buffer at the queue's tail, which TCP may
    /// not make: it appends to the buffer already there). Measured on this
    /// project's VM (Linux 6.18, loopback, 16 KiB messages, `--rcvlowat`
    /// 64 KiB or 512 KiB, 5 ms batches): such a `recv` slept through a
    /// queued message until the receive timeout (10 s), in 2 to 3 cells of a
    /// 20-cell sweep. `poll` asks whether the mark is reached at every
    /// wake-up, as the kernel selftest's loop does, and the call after a
    /// `poll` that found the socket readable does not wait where the mark
    /// may never come: a `recv` with `MSG_DONTWAIT`, a mapping call (which
    /// never waits). With a blocking `recv` there, a copying reader that
    /// `poll` woke before its mark (for a full buffer or a shut window) took
    /// what was queued and slept for the rest until the receive timeout:
    /// under two busy loops, 3 of 117 runs of
    /// `rcvlowat_works_with_either_receiver_and_never_stalls_a_batch` failed,
    /// the two whose case was recorded a copying one (a zero-copy rr server
    /// behind a 512 KiB mark; a zero-copy stream behind a 64 KiB mark with
    /// `--rcvbuf 32K`, caught asleep in `recvfrom` with the batch's last 32
    /// bytes queued); 0 of 300 since. When the error queue
    /// holds zero-copy completions (rr, where this end also sends), `poll`
    /// answers at once with `POLLERR`; the mark then drops to 1 for the call
    /// after it, which waits for any byte (with the mark kept, a zero-copy rr
    /// client behind `--rcvlowat 512K` slept through its reply until the
    /// receive timeout in 17 of 20 runs).
    fn wait(
        &mut self,
        fd: BorrowedFd<'_>,
        needed: usize,
        promised: usize,
        partial: usize,
    ) -> Result<Waited, ReadError> {
        let mark = self.target(needed, promised);
        let target = mark.unwrap_or(1);
        let set = target != self.current;
        if set {
            sys::set_rcvlowat(fd, target).map_err(ReadError::Io)?;
            self.current = target;
        }
        if target == 1 {
            // A mark of 1 cannot be missed: the recv itself waits.
            return Ok(Waited {
                set,
                ready: false,
                may_sleep: true,
            });
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
                Ok(revents) if revents & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP) == 0 => {
                    // Only POLLERR: zero-copy completions wait on the error
                    // queue (this end also sends, rr) and the mark is not
                    // reached. A recv under the mark could sleep through the
                    // bytes it waits for (above), so it waits for any byte:
                    // the mark comes back before the next wait.
                    sys::set_rcvlowat(fd, 1).map_err(ReadError::Io)?;
                    self.current = 1;
                    return Ok(Waited {
                        set: true,
                        ready: false,
                        may_sleep: true,
                    });
                }
                Ok(_) => {
                    return Ok(Waited {
                        set,
                        ready: true,
                        // Woken before its mark with A < mark bytes queued,
                        // a recv takes them and sleeps until `mark` more
                        // are; of what is sure to come, at least mark - A
                        // more is then left only when it is twice the mark.
                        may_sleep: needed.max(promised) >= target.saturating_mul(2),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

/// What [`Lowat::wait`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waited {
    /// It set the mark: a call of its own.
    set: bool,
    /// `poll` found the socket readable: bytes are queued (the mark reached,
    /// or the kernel holding back more until some are taken) or the peer
    /// closed. `false`: the call that follows must do the waiting.
    ready: bool,
    /// A `recv` after it may sleep: whatever woke `poll`, a sleeping `recv`
    /// will be woken (no mark, or at least twice the mark is promised).
    /// Where not, it takes what is queued without waiting (`MSG_DONTWAIT`).
    /// A blocking `recv` where it may keeps the kernel's handling of a busy
    /// connection: one that has taken its mark goes on to process the
    /// segments that came meanwhile (the socket's backlog) and take them
    /// too, where `MSG_DONTWAIT` returns at once; on this project's VM,
    /// `MSG_DONTWAIT` after every `poll` cost the loopback 4 KiB stream
    /// 13 % (×0.865 [0.810, 0.989], 12 alternating pairs).
    may_sleep: bool,
}

/// The reader's buffer for `msg_len`-byte messages: [`READ_AHEAD`], or one
/// message when that is larger (0 for a reader never used). A message that
/// fits lies whole in it after a read whenever a read starts with it (rr,
/// one message in flight, always), and is checked in place; one that runs
/// past the end of a read is fed in pieces, so the reader never moves bytes
/// to make a message contiguous. It used to move a partial message to the
/// front before a read: on this project's VM the zero-copy 64 KiB stream's
/// receiver spent 5 % of its CPU in that `memmove` (2.0 % of the run's
/// samples), and the overhead bench put its receiver +5 to +6 % above a bare
/// loop's.
///
/// A buffer of whole messages only (3 of 64 KiB + 32 B instead of 256 KiB)
/// stalled: with it and moves only of small partials, `--rcvlowat` above
/// the message size stalled the end of a 5 ms batch for the whole receive
/// timeout (10 s) in 6 runs of 6 on this project's VM (Linux 6.18,
/// loopback, 16 KiB messages), the reader asleep in `recv` with a message
/// already queued; so every read offers the whole buffer.
fn buffer_len(msg_len: usize) -> usize {
    if msg_len == 0 {
        return 0;
    }
    msg_len.max(READ_AHEAD)
}

/// Where the bytes a sender has promised end ([`promise_in_header`]), as an
/// offset into the stream a reader has read from its first byte.
#[derive(Debug, Default, Clone, Copy)]
struct Promise {
    end: u64,
}

impl Promise {
    /// The message of `msg_len` bytes at stream offset `at`, of which `head`
    /// has arrived: its rest, and what its header promises once its first 8
    /// bytes are in.
    fn saw(&mut self, at: u64, msg_len: usize, head: &[u8]) {
        if head.is_empty() {
            return;
        }
        let more = promise_in_header(head).unwrap_or(0);
        let len = msg_len as u64;
        self.end = self
            .end
            .max(at.saturating_add(len.saturating_mul(more.saturating_add(1))));
    }

    /// Promised bytes that have not arrived, `received` bytes into the stream.
    fn left(&self, received: u64) -> usize {
        usize::try_from(self.end.saturating_sub(received)).unwrap_or(usize::MAX)
    }
}

/// A message fed in pieces (module doc, "Framing and pages"): its header
/// gathered into an array, the check begun on it ([`Verifier::begin`]),
/// each piece of its body checked as it comes ([`Verifier::check_piece`]),
/// and where the stream is. The mapping reader feeds every message through
/// it; the copying reader the messages that do not lie whole in its buffer,
/// and tells it of the others ([`Pieces::whole`]), so both know the same
/// promise and the same position.
#[derive(Debug)]
struct Pieces {
    msg_len: usize,
    /// Bytes of the current message fed so far.
    off: usize,
    /// Stream bytes fed (or checked whole) so far.
    fed: u64,
    header: [u8; HEADER_LEN],
    pending: Option<Pending>,
    promise: Promise,
}

impl Pieces {
    fn new(msg_len: usize) -> Pieces {
        Pieces {
            msg_len,
            off: 0,
            fed: 0,
            header: [0; HEADER_LEN],
            pending: None,
            promise: Promise::default(),
        }
    }

    /// Feeds the start of `piece`, the stream bytes after those fed, up to
    /// the end of the current message. Returns how many bytes it took and,
    /// when they ended the message, its check (the header bytes are then
    /// in `self.header`).
    fn feed(
        &mut self,
        piece: &[u8],
        verifier: &mut Verifier,
    ) -> Result<(usize, Option<Pending>), VerifyError> {
        let n = self.needed().min(piece.len());
        let piece = &piece[..n];
        let mut used = 0;
        if self.off < HEADER_LEN {
            let h = (HEADER_LEN - self.off).min(n);
            self.header[self.off..self.off + h].copy_from_slice(&piece[..h]);
            used = h;
            if self.off + h == HEADER_LEN {
                self.pending = Some(verifier.begin(&self.header)?);
                let at = self.fed - self.off as u64;
                self.promise.saw(at, self.msg_len, &self.header);
            }
        }
        if used < n {
            let p = self.pending.as_ref().expect("the header came first");
            verifier.check_piece(p, self.off + used - HEADER_LEN, &piece[used..])?;
        }
        self.off += n;
        self.fed += n as u64;
        if self.off < self.msg_len {
            return Ok((n, None));
        }
        self.off = 0;
        Ok((
            n,
            Some(self.pending.take().expect("a whole message has a header")),
        ))
    }

    /// Bytes of the current message not yet fed (a whole message's between
    /// messages).
    fn needed(&self) -> usize {
        self.msg_len - self.off
    }

    /// Checks `msg`, the next message whole (between messages only).
    fn whole(&mut self, msg: &[u8], verifier: &mut Verifier) -> Result<Header, VerifyError> {
        debug_assert_eq!(self.off, 0);
        self.promise.saw(self.fed, self.msg_len, msg);
        self.fed += self.msg_len as u64;
        verifier.check(msg)
    }

    /// Promised bytes not yet fed: the rest of the current message once
    /// any of it is in, and what the last header read promised. Every byte
    /// received has been fed when a reader waits.
    fn promised(&self) -> usize {
        let rest = if self.off > 0 { self.needed() } else { 0 };
        self.promise.left(self.fed).max(rest)
    }
}

/// Reads a stream of fixed-size messages by copying (`recv`).
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// Received bytes not yet fed: `start..end` of `buf`.
    start: usize,
    end: usize,
    lowat: Option<Lowat>,
    pieces: Pieces,
}

impl Reader {
    /// A reader of `msg_len`-byte messages (0: a reader that is never used).
    pub fn new(msg_len: usize) -> Reader {
        Reader {
            buf: vec![0; buffer_len(msg_len)],
            start: 0,
            end: 0,
            lowat: None,
            pieces: Pieces::new(msg_len),
        }
    }

    /// With `SO_RCVLOWAT` kept as [`Lowat`] says.
    pub fn lowat(mut self, lowat: Option<Lowat>) -> Reader {
        self.lowat = lowat;
        self
    }

    /// Receives the next message and checks it; calls `step` once the whole
    /// message is in (rr: the answer, the end of a round trip), before a
    /// message that lies whole in the buffer is checked and after the
    /// pieces of one that did not were, and returns its header. Reads more
    /// than one message's worth when the peer has sent it, so a stream of
    /// small messages costs few calls. `step` gets the whole message, or
    /// its header bytes for one fed in pieces.
    pub fn next<E>(
        &mut self,
        fd: BorrowedFd<'_>,
        verifier: &mut Verifier,
        step: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<Header, NextError<E>> {
        loop {
            let queued = &self.buf[self.start..self.end];
            let msg_len = self.pieces.msg_len;
            if self.pieces.off == 0 && queued.len() >= msg_len {
                let msg = &queued[..msg_len];
                step(msg).map_err(NextError::Step)?;
                let h = self
                    .pieces
                    .whole(msg, verifier)
                    .map_err(NextError::Verify)?;
                self.start += msg_len;
                return Ok(h);
            }
            if !queued.is_empty() {
                let (n, done) = self
                    .pieces
                    .feed(queued, verifier)
                    .map_err(NextError::Verify)?;
                self.start += n;
                if let Some(p) = done {
                    step(&self.pieces.header).map_err(NextError::Step)?;
                    return Ok(p.header);
                }
                continue;
            }
            self.fill(fd).map_err(NextError::Read)?;
        }
    }

    /// Reads into the whole buffer once every byte in it has been fed,
    /// after waiting for the mark where one is kept.
    fn fill(&mut self, fd: BorrowedFd<'_>) -> Result<(), ReadError> {
        debug_assert_eq!(self.start, self.end);
        let partial = self.pieces.off;
        loop {
            // Where the mark may never come, the recv takes what is queued
            // and does not wait (`Waited::may_sleep`).
            let mut flags = 0;
            if let Some(l) = &mut self.lowat {
                let promised = self.pieces.promised();
                if !l
                    .wait(fd, self.pieces.needed(), promised, partial)?
                    .may_sleep
                {
                    flags = libc::MSG_DONTWAIT;
                }
            }
            match sys::recv(fd, &mut self.buf, flags) {
                Ok(0) => return Err(ReadError::Closed { partial }),
                Ok(n) => {
                    (self.start, self.end) = (0, n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Readable in `poll`, nothing queued now: wait again.
                Err(e) if flags != 0 && e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    let timeout = socket2::SockRef::from(&fd)
                        .read_timeout()
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    return Err(read_error(e, partial, timeout));
                }
            }
        }
    }
}

/// Why a receiver could not deliver a checked message.
#[derive(Debug)]
pub(crate) enum NextError<E> {
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
    pieces: Pieces,
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
            pieces: Pieces::new(msg_len),
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
    ) -> Result<Header, NextError<E>> {
        loop {
            // The next run of stream bytes: recv'd ones first (they come
            // before any page mapped after them), then mapped ones.
            let piece: &[u8] = if self.bpos < self.bend {
                &self.buf[self.bpos..self.bend]
            } else if self.pos < self.end {
                self.window.mapped(self.pos, self.end - self.pos)
            } else {
                self.fill(fd).map_err(NextError::Read)?;
                continue;
            };
            let (n, done) = self
                .pieces
                .feed(piece, verifier)
                .map_err(NextError::Verify)?;
            if self.bpos < self.bend {
                self.bpos += n;
            } else {
                self.pos += n;
            }
            if let Some(p) = done {
                step(&self.pieces.header).map_err(NextError::Step)?;
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
        let partial = self.pieces.off;
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
        // Without a mark (`--rcvlowat`), map whatever is queued first.
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

    /// Waits for the low mark, never for more than is promised. The kernel
    /// wakes a waiter only once SO_RCVLOWAT bytes are queued, whatever the
    /// call asks, so the mark itself is lowered. Where `poll` did not find
    /// the socket readable, MSG_PEEK | MSG_TRUNC waits for min(mark, len)
    /// bytes and copies none.
    fn wait(&mut self, fd: BorrowedFd<'_>) -> Result<(), ReadError> {
        let partial = self.pieces.off;
        let promised = self.pieces.promised();
        if let Some(l) = &mut self.lowat {
            let waited = l.wait(fd, self.pieces.needed(), promised, partial)?;
            if waited.set {
                self.stats.calls += 1;
            }
            if waited.ready {
                // Map what is queued. A peek would wait for the mark again,
                // and when poll woke because the receive buffer is full
                // (the kernel's accounting of a 4 KiB segment can be three
                // times its bytes) the window stays shut until this reader
                // takes bytes: measured at this build's parent, a zero-copy
                // stream of 64 KiB messages behind `--rcvlowat 64K` stalled
                // here until the sender's completion timeout in 3 runs of
                // 45 under load, with 40 KiB queued in a full 128 KiB buffer.
                return Ok(());
            }
        }
        loop {
            self.stats.calls += 1;
            match sys::wait_readable(fd, self.pieces.needed()) {
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
    use crate::engine::message::{promise_flags, Message, PoolPlan, Shape, Verify};
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// A lowat as `--rcvlowat want` keeps it (`auto`: the default mark).
    fn lowat(want: usize, auto: bool) -> Lowat {
        Lowat {
            want,
            auto,
            current: 1,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_mark_never_asks_for_more_than_is_promised() {
        // --rcvlowat: the mark, lowered to what is promised, never below the
        // message's own rest.
        let set = lowat(64 << 10, false);
        assert_eq!(set.target(100, 0), Some(100));
        assert_eq!(set.target(100, 40_000), Some(40_000));
        assert_eq!(set.target(100, 1 << 20), Some(64 << 10));
        assert_eq!(set.target(1 << 20, 0), Some(64 << 10));
        // The default mark: only for bytes promised beyond the message, else
        // none (the kernel's 1, no poll: rr's one call per message).
        let auto = lowat(AUTO_LOWAT, true);
        assert_eq!(auto.target(100, 100), None);
        assert_eq!(auto.target(100, 0), None);
        assert_eq!(auto.target(100, 5000), Some(5000));
        assert_eq!(auto.target(100, 1 << 20), Some(AUTO_LOWAT));
        assert_eq!(auto.target(AUTO_LOWAT * 2, 1 << 20), None);
    }

    #[test]
    fn a_promise_counts_from_the_message_that_made_it() {
        let mut header = [0u8; HEADER_LEN];
        Header {
            flags: crate::engine::message::promise_flags(3),
            seq: 0,
            slot: 0,
            generation: 0,
            fields: 1,
            field_size: 68,
        }
        .encode(&mut header);
        let mut p = Promise::default();
        // A message's first bytes promise its own rest before its flags are in.
        p.saw(1000, 100, &header[..4]);
        assert_eq!(p.left(1004), 96);
        // Then the three after it: 1000 + 4 × 100.
        p.saw(1000, 100, &header);
        assert_eq!(p.left(1008), 1400 - 1008);
        // An older message's smaller promise does not take it back.
        p.saw(900, 100, &header[..4]);
        assert_eq!(p.left(1100), 300);
        assert_eq!(p.left(5000), 0);
    }

    #[test]
    fn a_reader_waits_for_promised_messages_and_gets_every_one() {
        // Over loopback TCP: 40 messages of 1000 bytes, each header
        // promising the rest, with the default mark; all arrive in order.
        // The sender pauses often, and before each of the last five, so the
        // reader waits for them one by one: a mark above what is promised
        // (a promise one message too long) would wait for the receive
        // timeout there and fail.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tx = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        tx.set_nodelay(true).unwrap();
        let (rx, _) = listener.accept().unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let Some(mark) = Lowat::auto(rx.as_fd()).unwrap() else {
            // Loopback with an MTU below AUTO_MIN_MSS: no default mark here.
            return;
        };
        let field = 1000 - HEADER_LEN;
        let n = 40u64;
        let wire = stream(field, n, |i| n - i - 1);
        let sender = std::thread::spawn(move || {
            for (i, m) in wire.chunks(1000).enumerate() {
                if i % 10 == 0 || i as u64 >= n - 5 {
                    std::thread::sleep(Duration::from_millis(5));
                }
                tx.write_all(m).unwrap();
            }
            tx
        });
        let mut r = Reader::new(1000).lowat(Some(mark));
        let mut v = verifier(field, Verify::Full);
        let started = std::time::Instant::now();
        for i in 0..n {
            assert_eq!(next(&mut r, &rx, &mut v).unwrap().seq, i);
        }
        // Nothing waited for the receive timeout (3 s).
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(sender.join().unwrap());
    }

    /// `n` messages of one `field`-byte field from a pool of one slot, as
    /// a sender stamps them (message `i` promising `promise(i)` more), back
    /// to back as they go on the wire.
    fn stream(field: usize, n: u64, promise: impl Fn(u64) -> u64) -> Vec<u8> {
        let mut m = Message::new(shape(field), 0);
        let (mut out, mut one) = (Vec::new(), Vec::new());
        for i in 0..n {
            m.stamp(i, promise_flags(promise(i)));
            m.serialize_into(&mut one);
            out.extend_from_slice(&one);
        }
        out
    }

    fn shape(field: usize) -> Shape {
        Shape {
            fields: 1,
            field_size: field,
        }
    }

    fn verifier(field: usize, mode: Verify) -> Verifier {
        Verifier::new(shape(field), mode, PoolPlan::new(1, false))
    }

    /// The next message's header; panics if the step did not see the
    /// message's header (the whole message, or its header bytes).
    fn next(r: &mut Reader, fd: &impl AsFd, v: &mut Verifier) -> Result<Header, NextError<()>> {
        let mut stepped = None;
        let h = r.next(fd.as_fd(), v, |m| {
            stepped = Some(Header::decode(m).unwrap());
            Ok(())
        })?;
        assert_eq!(stepped, Some(h), "step saw the message's header");
        Ok(h)
    }

    #[test]
    fn splits_a_byte_stream_into_messages_across_reads() {
        // 5 messages of 7 + 32 bytes; the first read ends mid-message.
        let (mut a, b) = UnixStream::pair().unwrap();
        let data = stream(7, 5, |_| 0);
        a.write_all(&data[..50]).unwrap();
        let mut r = Reader::new(39);
        let mut v = verifier(7, Verify::Full);
        assert_eq!(next(&mut r, &b, &mut v).unwrap().seq, 0);
        a.write_all(&data[50..]).unwrap();
        drop(a);
        for i in 1..5 {
            assert_eq!(next(&mut r, &b, &mut v).unwrap().seq, i);
        }
        assert!(matches!(
            next(&mut r, &b, &mut v),
            Err(NextError::Read(ReadError::Closed { partial: 0 }))
        ));
    }

    #[test]
    fn large_messages_are_checked_wherever_reads_end() {
        // 64 KiB + 32 B messages in a 256 KiB buffer: odd-sized writes put
        // message boundaries anywhere in a read; each message is checked in
        // place or in pieces, every byte of it (Verify::Full).
        let len = 65_568;
        assert_eq!(buffer_len(len), READ_AHEAD);
        assert_eq!(buffer_len(READ_AHEAD + 1), READ_AHEAD + 1);
        assert_eq!(buffer_len(0), 0);
        let field = len - HEADER_LEN;
        let (mut a, b) = UnixStream::pair().unwrap();
        let data = stream(field, 7, |_| 0);
        let writer = std::thread::spawn(move || {
            for chunk in data.chunks(50_001) {
                a.write_all(chunk).unwrap();
            }
        });
        let mut r = Reader::new(len);
        let mut v = verifier(field, Verify::Full);
        for i in 0..7 {
            assert_eq!(next(&mut r, &b, &mut v).unwrap().seq, i);
        }
        writer.join().unwrap();
    }

    #[test]
    fn a_byte_damaged_where_a_read_ends_is_found() {
        // A message cut by the end of a read is checked in pieces: a byte
        // flipped in either piece, or in a header cut in two, fails the
        // message with the field offset of the byte.
        let field = 1000;
        let len = field + HEADER_LEN;
        for (cut, flip) in [(500, 100), (500, 900), (10, 20)] {
            let (mut a, b) = UnixStream::pair().unwrap();
            let mut data = stream(field, 3, |_| 0);
            data[len + flip] ^= 0x40;
            a.write_all(&data[..len + cut]).unwrap();
            let mut r = Reader::new(len);
            let mut v = verifier(field, Verify::Full);
            assert_eq!(next(&mut r, &b, &mut v).unwrap().seq, 0);
            a.write_all(&data[len + cut..]).unwrap();
            let err = next(&mut r, &b, &mut v).unwrap_err();
            match (flip, err) {
                (20, NextError::Verify(e)) => assert!(!e.to_string().is_empty()),
                (_, NextError::Verify(e)) => assert!(
                    e.to_string().contains(&format!("{}", flip - HEADER_LEN)),
                    "{flip}: {e}"
                ),
                (_, other) => panic!("{flip}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_close_mid_message_says_how_much_arrived() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&stream(8, 1, |_| 0)[..3]).unwrap();
        drop(a);
        let mut v = verifier(8, Verify::Full);
        let Err(NextError::Read(err)) = next(&mut Reader::new(40), &b, &mut v) else {
            panic!("a message cut short is an error");
        };
        assert!(matches!(err, ReadError::Closed { partial: 3 }));
        assert!(err.to_string().contains("3 bytes"));
    }
}
