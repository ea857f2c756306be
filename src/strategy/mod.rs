//! How a sender hands one message to a connected socket.
//!
//! One trait, five strategies (four implementations: `uring` and `uring-zc`
//! share one). Drivers, counters and reports talk to
//! [`Strategy`] only; nothing outside this module branches on which one runs.
//! A [`Sender`] owns a pool of pre-filled messages and a strategy, and asks
//! the strategy before it rewrites a pool slot, which is where zero-copy waits
//! for the kernel to let go of the slot's buffers.

mod completions;
mod one_copy;
mod two_copy;
mod uring;
mod zero_copy;

pub(crate) use completions::Completions;
pub use completions::RangeError;
pub(crate) use one_copy::OneCopy;
pub(crate) use two_copy::TwoCopy;
#[cfg(test)]
pub(crate) use uring::explain_setup_error;
pub use uring::UringSupport;
pub(crate) use uring::{memlock_text, support as uring_support, Uring};
pub(crate) use zero_copy::ZeroCopy;

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::{Message, Shape};
use crate::transport::TransportKind;

/// The strategies copybench knows, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    TwoCopy,
    OneCopy,
    ZeroCopy,
    /// `IORING_OP_SENDMSG` through an io_uring: the copying baseline of `uring-zc`.
    Uring,
    /// `IORING_OP_SENDMSG_ZC` through an io_uring.
    UringZc,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::TwoCopy,
        StrategyKind::OneCopy,
        StrategyKind::ZeroCopy,
        StrategyKind::Uring,
        StrategyKind::UringZc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::TwoCopy => "two-copy",
            StrategyKind::OneCopy => "one-copy",
            StrategyKind::ZeroCopy => "zero-copy",
            StrategyKind::Uring => "uring",
            StrategyKind::UringZc => "uring-zc",
        }
    }

    /// Whether this host can run the strategy, and if not, why (probed once
    /// per process: the io_uring strategies make a ring and ask it).
    pub fn host_support(self) -> Result<(), String> {
        match self {
            StrategyKind::Uring => uring::support().sendmsg.clone().map(drop),
            StrategyKind::UringZc => uring::support().sendmsg_zc.clone().map(drop),
            _ => Ok(()),
        }
    }

    /// The strategies this host can run: the default of sweeps and benches.
    pub fn host_default() -> Vec<StrategyKind> {
        StrategyKind::ALL
            .into_iter()
            .filter(|s| s.host_support().is_ok())
            .collect()
    }

    pub fn from_name(name: &str) -> Option<StrategyKind> {
        StrategyKind::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether this strategy can run over `transport` at all: a strategy
    /// with completions needs a socket the kernel takes zero-copy sends on,
    /// which AF_UNIX sockets are not (`SO_ZEROCOPY` is refused, and
    /// `IORING_OP_SENDMSG_ZC` answers `EOPNOTSUPP`).
    pub fn supports(self, transport: TransportKind) -> bool {
        !self.has_completions() || transport.has_zerocopy()
    }

    /// Whether a send's buffer is free only at its completion (and so the
    /// strategy has zero-copy bookkeeping: completions, copied, ENOBUFS).
    pub fn has_completions(self) -> bool {
        match self {
            StrategyKind::TwoCopy | StrategyKind::OneCopy | StrategyKind::Uring => false,
            StrategyKind::ZeroCopy | StrategyKind::UringZc => true,
        }
    }

    /// Whether a strategy named `name` has completions (`false` for a name
    /// this build does not know): for reports read from a results.csv.
    pub fn named_has_completions(name: &str) -> bool {
        StrategyKind::from_name(name).is_some_and(StrategyKind::has_completions)
    }

    /// A fresh strategy for one connection.
    pub(crate) fn build(self, shape: Shape) -> Box<dyn Strategy> {
        match self {
            StrategyKind::TwoCopy => Box::new(TwoCopy::new(shape)),
            StrategyKind::OneCopy => Box::new(OneCopy),
            StrategyKind::ZeroCopy => Box::new(ZeroCopy::default()),
            StrategyKind::Uring => Box::new(Uring::copying()),
            StrategyKind::UringZc => Box::new(Uring::zero_copy()),
        }
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Zero-copy bookkeeping of one or more senders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroCopyStats {
    /// `sendmsg(MSG_ZEROCOPY)` calls that took data (`uring-zc`: requests
    /// that got a notification).
    pub sends: u64,
    /// Sends whose completion arrived.
    pub completions: u64,
    /// Completions the kernel flagged `SO_EE_CODE_ZEROCOPY_COPIED` (`uring-zc`:
    /// `IORING_NOTIF_USAGE_ZC_COPIED`): it copied after all.
    pub copied: u64,
    /// `ENOBUFS` answers (optmem exhausted), each followed by a reap and a retry.
    pub enobufs: u64,
}

impl ZeroCopyStats {
    pub fn add(&mut self, o: &ZeroCopyStats) {
        self.sends += o.sends;
        self.completions += o.completions;
        self.copied += o.copied;
        self.enobufs += o.enobufs;
    }

    pub fn delta(&self, since: &ZeroCopyStats) -> ZeroCopyStats {
        ZeroCopyStats {
            sends: self.sends - since.sends,
            completions: self.completions - since.completions,
            copied: self.copied - since.copied,
            enobufs: self.enobufs - since.enobufs,
        }
    }

    /// Share of completions the kernel copied, when there were any.
    pub fn copied_share(&self) -> Option<f64> {
        (self.completions > 0).then(|| self.copied as f64 / self.completions as f64)
    }
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "the socket refuses SO_ZEROCOPY ({0}); zero-copy needs a TCP socket on Linux 4.14 or later"
    )]
    ZeroCopyRefused(io::Error),
    /// The host cannot run the strategy (io_uring refused or missing).
    #[error("{0}")]
    Unavailable(String),
    #[error("send timed out after {0:?}: the peer stopped reading")]
    TimedOut(Duration),
    #[error("zero-copy completions for {in_flight} sends did not arrive within {waited:?}")]
    CompletionsLate { in_flight: u64, waited: Duration },
    #[error("the error queue reported a socket error: {0}")]
    Queued(io::Error),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One way of sending a message. A strategy is made per connection and used
/// by the one thread that owns that connection.
pub(crate) trait Strategy: Send {
    /// Called once on the connected socket, before the first send. Zero-copy
    /// enables `SO_ZEROCOPY` here, so a socket that refuses it fails up front.
    fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError>;

    /// Called before the sender rewrites the buffers of the message it last
    /// sent from `slot`; returns once the kernel no longer reads them, or
    /// fails after waiting `timeout`. Called for every send once the pool has
    /// wrapped, so a strategy reads the clock only when it has to wait.
    /// Copying strategies return at once.
    fn reclaim(
        &mut self,
        fd: BorrowedFd<'_>,
        slot: usize,
        timeout: Duration,
    ) -> Result<(), SendError>;

    /// Sends the whole of `msg` (from pool slot `slot`), however many calls that takes.
    fn send(&mut self, fd: BorrowedFd<'_>, msg: &Message, slot: usize) -> Result<(), SendError>;

    /// Called at the end of a batch and before the connection closes: waits,
    /// `timeout` at most, for every send still held by the kernel.
    fn drain(&mut self, fd: BorrowedFd<'_>, timeout: Duration) -> Result<(), SendError>;

    /// Zero-copy bookkeeping so far; `None` for strategies that copy.
    fn zerocopy(&self) -> Option<ZeroCopyStats>;
}

impl SendError {
    /// Whether the host, not the run, is at fault: exit 2, not 1.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            SendError::ZeroCopyRefused(_) | SendError::Unavailable(_)
        )
    }
}

/// Maps a failed send call to the error a user reads: a blocking socket
/// answers `EAGAIN` when its send timeout expires.
fn send_failed(fd: BorrowedFd<'_>, e: io::Error) -> SendError {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        let timeout = socket2::SockRef::from(&fd).write_timeout().ok().flatten();
        SendError::TimedOut(timeout.unwrap_or_default())
    } else {
        SendError::Io(e)
    }
}

/// Calls `sendmsg` until every byte of `bufs` is written, advancing over
/// partial writes. `on_call` sees the outcome of every call but `EINTR`; an
/// error it returns ends the send, `Ok` after a failed call means "retry".
fn send_all(
    fd: BorrowedFd<'_>,
    mut bufs: &mut [IoSlice<'_>],
    flags: libc::c_int,
    mut on_call: impl FnMut(io::Result<usize>) -> Result<(), SendError>,
) -> Result<(), SendError> {
    let mut left: usize = bufs.iter().map(|b| b.len()).sum();
    while left > 0 {
        match crate::sys::sendmsg(fd, bufs, flags | libc::MSG_NOSIGNAL) {
            Ok(n) => {
                on_call(Ok(n))?;
                left -= n;
                // The usual case, everything taken at once, skips the advance.
                if left > 0 {
                    IoSlice::advance_slices(&mut bufs, n);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => on_call(Err(e))?,
        }
    }
    Ok(())
}

/// A pool of messages and the strategy that sends them over one connection.
pub(crate) struct Sender {
    strategy: Box<dyn Strategy>,
    pool: Vec<Message>,
    next_seq: u64,
    /// `next_seq % pool.len()`, kept rather than divided out per send.
    next_slot: usize,
    refill_on_reuse: bool,
    /// Test-only: the sequence number of a message to damage before sending.
    damage: Option<u64>,
    timeout: Duration,
    /// Zero-copy figures at the end of the previous batch.
    zc_mark: ZeroCopyStats,
}

impl Sender {
    /// `slots` pre-filled messages; the fill happens here, before anything is measured.
    pub fn new(kind: StrategyKind, shape: Shape, slots: usize, timeout: Duration) -> Sender {
        Sender {
            strategy: kind.build(shape),
            pool: (0..slots.max(1) as u32)
                .map(|s| Message::new(shape, s))
                .collect(),
            next_seq: 0,
            next_slot: 0,
            refill_on_reuse: false,
            damage: None,
            timeout,
            zc_mark: ZeroCopyStats::default(),
        }
    }

    /// Test-only pressure: rewrite a slot's fields with a new pattern each
    /// time it is reused, so early reuse shows up as corruption at the receiver.
    pub fn refill_on_reuse(mut self, on: bool) -> Sender {
        self.refill_on_reuse = on;
        self
    }

    /// Test-only fault: damage the message with sequence number `seq` (its
    /// last byte) before it is sent, so the receiver must catch it.
    pub fn damage(mut self, seq: Option<u64>) -> Sender {
        self.damage = seq;
        self
    }

    pub fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        self.strategy.prepare(fd)
    }

    /// Sends the next message of the sequence with header `flags`.
    pub fn send_next(&mut self, fd: BorrowedFd<'_>, flags: u32) -> Result<u64, SendError> {
        let seq = self.next_seq;
        let slot = self.next_slot;
        let slots = self.pool.len();
        if seq >= slots as u64 {
            self.strategy.reclaim(fd, slot, self.timeout)?;
            if self.refill_on_reuse {
                self.pool[slot].refill((seq / slots as u64) as u32);
            }
        }
        let msg = &mut self.pool[slot];
        msg.stamp(seq, flags);
        if self.damage == Some(seq) {
            msg.damage();
        }
        self.strategy.send(fd, msg, slot)?;
        self.next_seq += 1;
        self.next_slot = if slot + 1 == slots { 0 } else { slot + 1 };
        Ok(seq)
    }

    pub fn drain(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        self.strategy.drain(fd, self.timeout)
    }

    /// Zero-copy figures since the previous call (the batch that just ended).
    pub fn zerocopy_since_last(&mut self) -> Option<ZeroCopyStats> {
        let now = self.strategy.zerocopy()?;
        let delta = now.delta(&self.zc_mark);
        self.zc_mark = now;
        Some(delta)
    }
}
