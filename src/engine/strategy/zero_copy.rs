//! `zero-copy`: the one-copy iovecs, sent with `MSG_ZEROCOPY` on a socket with
//! `SO_ZEROCOPY`. The kernel pins the fields' pages instead of copying them and
//! later reports, on the socket's error queue, which sends it is done with.
//!
//! Contract: a slot's buffers are not handed back to the [`super::Sender`] for
//! rewriting until every send that covered them has completed. The error queue
//! is reaped without blocking every [`REAP_EVERY`] sends and whenever a slot
//! is needed back; waiting happens only when the pool is exhausted, and is
//! bounded by the deadline the sender gives. `ENOBUFS` (the socket's optmem
//! budget for pinned pages is spent) means: reap, then retry; each is counted.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::{
    own_wait_limit, send_all, send_failed, CompletionStats, Completions, SendError, Strategy,
    ZeroCopyStats,
};
use crate::engine::message::Message;
use crate::sys::{self, ErrQueue};

/// Non-blocking reaps happen at least this often, in sends.
pub const REAP_EVERY: u32 = 16;
/// Longest single sleep in `poll` while waiting for completions, so deadlines are honoured.
const POLL_SLICE_MS: i32 = 50;

#[derive(Default)]
pub struct ZeroCopy {
    completions: Completions,
    stats: CompletionStats,
    since_reap: u32,
    /// The socket's send timeout, read once: how long `ENOBUFS` retries may last.
    timeout: Duration,
}

impl ZeroCopy {
    /// Drains whatever the error queue holds, without blocking.
    fn reap(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        self.since_reap = 0;
        let before = self.completions.completed();
        loop {
            match sys::recv_errqueue(fd)? {
                ErrQueue::Empty => break,
                ErrQueue::Completion(n) => {
                    let was = self.completions.completed();
                    self.completions.complete(n.lo, n.hi, n.copied)?;
                    self.stats
                        .notified(self.completions.completed() - was, n.copied);
                }
                ErrQueue::Error(e) => return Err(SendError::Queued(e)),
                ErrQueue::Other => {}
            }
        }
        if self.completions.completed() != before {
            let c = &self.completions;
            self.stats.timed_done(|id| c.is_done(id));
        }
        Ok(())
    }

    /// Reaps until `done` holds, sleeping in `poll` for `POLLERR` between reaps.
    fn wait_until(
        &mut self,
        fd: BorrowedFd<'_>,
        deadline: Instant,
        done: impl Fn(&Completions) -> bool,
    ) -> Result<(), SendError> {
        let start = Instant::now();
        loop {
            self.reap(fd)?;
            if done(&self.completions) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SendError::CompletionsLate {
                    in_flight: self.completions.in_flight(),
                    waited: now - start,
                });
            }
            let left = (deadline - now).as_millis().min(POLL_SLICE_MS as u128) as i32;
            sys::poll_one(fd, 0, left.max(1))?;
        }
    }

    /// After `ENOBUFS`: give the kernel a chance to release pinned pages.
    fn back_off(&mut self, fd: BorrowedFd<'_>, deadline: Instant) -> Result<(), SendError> {
        self.stats.enobufs();
        if Instant::now() >= deadline {
            return Err(SendError::Io(io::Error::from_raw_os_error(libc::ENOBUFS)));
        }
        let before = self.completions.completed();
        if self.completions.in_flight() > 0 {
            let soon = (Instant::now() + Duration::from_millis(10)).min(deadline);
            match self.wait_until(fd, soon, |c| c.completed() > before) {
                Err(SendError::CompletionsLate { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
    }
}

impl Strategy for ZeroCopy {
    fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), SendError> {
        sys::set_zerocopy(fd).map_err(SendError::ZeroCopyRefused)?;
        self.timeout = own_wait_limit(fd)?;
        Ok(())
    }

    fn reclaim(
        &mut self,
        fd: BorrowedFd<'_>,
        slot: usize,
        timeout: Duration,
    ) -> Result<(), SendError> {
        match self.completions.holding(slot) {
            Some(last) => {
                let start = Instant::now();
                let res = self.wait_until(fd, start + timeout, |c| c.done_through(last));
                self.stats.reclaim_waited(start.elapsed());
                res
            }
            None => Ok(()),
        }
    }

    fn send(&mut self, fd: BorrowedFd<'_>, msg: &Message, slot: usize) -> Result<(), SendError> {
        // Only ENOBUFS retries need a deadline; no clock read on the common path.
        let timeout = self.timeout;
        let mut deadline = None;
        let mut last = None;
        msg.with_io_slices(|bufs| {
            send_all(fd, bufs, libc::MSG_ZEROCOPY, |res| match res {
                Ok(_) => {
                    let id = self.completions.issue();
                    self.stats.sent(id);
                    last = Some(id);
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                    self.back_off(fd, deadline)
                }
                Err(e) => Err(send_failed(fd, e)),
            })
        })?;
        self.completions.lent(slot, last);
        self.since_reap += 1;
        if self.since_reap >= REAP_EVERY {
            self.reap(fd)?;
        }
        Ok(())
    }

    fn drain(&mut self, fd: BorrowedFd<'_>, timeout: Duration) -> Result<(), SendError> {
        self.wait_until(fd, Instant::now() + timeout, Completions::all_done)
    }

    fn take_stats(&mut self) -> Option<ZeroCopyStats> {
        Some(self.stats.take())
    }
}
