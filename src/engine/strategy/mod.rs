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
mod recorder;
mod two_copy;
mod uring;
mod zero_copy;

pub use crate::model::kinds::StrategyKind;
pub use crate::model::measured::ZeroCopyStats;
pub(crate) use completions::Completions;
pub(crate) use one_copy::OneCopy;
pub(crate) use recorder::CompletionStats;
pub(crate) use two_copy::TwoCopy;
#[cfg(test)]
pub(crate) use uring::explain_setup_error;
pub use uring::UringSupport;
pub(crate) use uring::{memlock_text, support as uring_support, Uring};
pub(crate) use zero_copy::ZeroCopy;
// Where they lived before; defined in `error` so that the crate error does
// not depend on this module (which depends on `transport`, which depends on it).
pub use crate::engine::error::SendError;

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::message::{Message, Shape};

use crate::model::kinds::Layout;

/// How the engine runs each kind: whether this host can, and a fresh
/// strategy for one connection. Adding a strategy: its own file here, its
/// entry in [`StrategyKind`] (`model/kinds.rs`), and its arm in `build`.
impl StrategyKind {
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

    /// Completion figures since the previous call (see [`CompletionStats`],
    /// which a buffer-lending strategy fills and empties here); `None` for
    /// strategies that copy, which have no completions to report.
    fn take_stats(&mut self) -> Option<ZeroCopyStats>;
}

/// The socket's send timeout, which a strategy that waits outside `sendmsg`
/// gives those waits too (ENOBUFS retries, an io_uring send's result); 10 s,
/// the `--timeout` default, on a socket without one.
fn own_wait_limit(fd: BorrowedFd<'_>) -> io::Result<Duration> {
    Ok(socket2::SockRef::from(&fd)
        .write_timeout()?
        .unwrap_or(Duration::from_secs(10)))
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

/// Test-only pressure on the rule that a buffer is rewritten only after the
/// kernel let go of it: each time round the pool, a slot's fields get a new
/// generation's pattern, so a rewrite the kernel still reads arrives as
/// corruption. The check lives in the [`Sender`], above every strategy: a
/// strategy is tested through its own [`Strategy::reclaim`], so a new
/// zero-copy strategy is covered by adding it to the tests, nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Refill {
    #[default]
    Never,
    /// Just before a slot is reused (after `reclaim`), as a real application would.
    OnReuse,
    /// Right after a slot's send, as soon as `reclaim` lets go of it: the
    /// earliest rewrite the rule allows. This is what makes early reuse
    /// visible in rr too, where the reply otherwise proves the request was
    /// read long before its slot comes round again.
    AfterSend,
}

/// A pool of messages and the strategies that send them over one
/// connection: one, or (a block's arms sharing the connection) several,
/// of which one is active at a time. The active one changes only between
/// batches, after the previous one drained, so a slot it lent the kernel
/// is back before another strategy touches it; the sequence goes on across
/// the change, so the receiver's check is the same whichever sent.
pub(crate) struct Sender {
    strategies: Vec<Box<dyn Strategy>>,
    active: usize,
    pool: Vec<Message>,
    next_seq: u64,
    /// `next_seq % pool.len()`, kept rather than divided out per send.
    next_slot: usize,
    refill: Refill,
    /// Test-only: the sequence number of a message to damage before sending.
    damage: Option<u64>,
    timeout: Duration,
    /// Pages each slot's iovecs span: the fragments a zero-copy send of it pins.
    slot_pages: Vec<u64>,
    /// Messages sent and their pages since the last figures were taken.
    sent_pages: ZeroCopyStats,
}

impl Sender {
    /// `slots` pre-filled messages, sent by `kinds` (the first active); the
    /// fill happens here, before anything is measured.
    pub fn new(
        kinds: &[StrategyKind],
        shape: Shape,
        layout: Layout,
        slots: usize,
        timeout: Duration,
    ) -> Sender {
        let pool: Vec<Message> = (0..slots.max(1) as u32)
            .map(|s| Message::with_layout(shape, s, layout))
            .collect();
        Sender {
            strategies: kinds.iter().map(|k| k.build(shape)).collect(),
            active: 0,
            slot_pages: pool.iter().map(|m| m.pages() as u64).collect(),
            pool,
            next_seq: 0,
            next_slot: 0,
            refill: Refill::Never,
            damage: None,
            timeout,
            sent_pages: ZeroCopyStats::default(),
        }
    }

    /// Test-only pressure: see [`Refill`].
    pub fn refill(mut self, refill: Refill) -> Sender {
        self.refill = refill;
        self
    }

    /// Test-only fault: flip a byte in the middle of the first field of
    /// `slot`, for good, so only a full check of that slot can find it.
    pub(crate) fn damage_slot(mut self, slot: Option<usize>) -> Sender {
        if let Some(msg) = slot.and_then(|s| self.pool.get_mut(s)) {
            msg.damage_middle();
        }
        self
    }

    /// Test-only fault: damage the message with sequence number `seq` (its
    /// last byte) before it is sent, so the receiver must catch it.
    pub(crate) fn damage(mut self, seq: Option<u64>) -> Sender {
        self.damage = seq;
        self
    }

    /// Prepares every strategy on the socket (each once, before any send).
    pub fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        self.strategies.iter_mut().try_for_each(|s| s.prepare(fd))
    }

    /// Makes strategy `arm` (an index into the kinds given to
    /// [`Sender::new`]) the one that sends, from the next message on. Call
    /// it only between batches, after [`Sender::drain`]. Returns whether
    /// there is such a strategy.
    pub fn select(&mut self, arm: usize) -> bool {
        if arm >= self.strategies.len() {
            return false;
        }
        self.active = arm;
        true
    }

    /// Sends the next message of the sequence with header `flags`.
    pub fn send_next(&mut self, fd: BorrowedFd<'_>, flags: u32) -> Result<u64, SendError> {
        let seq = self.next_seq;
        let slot = self.next_slot;
        let slots = self.pool.len();
        if seq >= slots as u64 {
            self.strategies[self.active].reclaim(fd, slot, self.timeout)?;
            if self.refill == Refill::OnReuse {
                self.pool[slot].refill((seq / slots as u64) as u32);
            }
        }
        let msg = &mut self.pool[slot];
        msg.stamp(seq, flags);
        if self.damage == Some(seq) {
            msg.damage();
        }
        self.strategies[self.active].send(fd, msg, slot)?;
        self.sent_pages.message(self.slot_pages[slot]);
        if self.refill == Refill::AfterSend {
            self.strategies[self.active].reclaim(fd, slot, self.timeout)?;
            self.pool[slot].refill((seq / slots as u64 + 1) as u32);
        }
        self.next_seq += 1;
        self.next_slot = if slot + 1 == slots { 0 } else { slot + 1 };
        Ok(seq)
    }

    pub fn drain(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        self.strategies[self.active].drain(fd, self.timeout)
    }

    /// Completion figures since the previous call (the batch that just
    /// ended), with the fragments its messages spanned; `None` for copying strategies.
    pub(crate) fn zerocopy_since_last(&mut self) -> Option<ZeroCopyStats> {
        let pages = std::mem::take(&mut self.sent_pages);
        let mut z = self.strategies[self.active].take_stats()?;
        (z.messages, z.fragments, z.max_fragments) =
            (pages.messages, pages.fragments, pages.max_fragments);
        Some(z)
    }
}
