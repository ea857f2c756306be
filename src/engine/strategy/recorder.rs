//! The recorder a strategy that lends its buffers to the kernel fills as it
//! goes (sends, notifications, reclaim waits, `ENOBUFS`): [`CompletionStats`].
//! What it yields per batch is a [`ZeroCopyStats`]. Any strategy that learns of
//! completions (MSG_ZEROCOPY's error queue, io_uring's notification CQEs)
//! records through the same calls, so every such strategy reports the same
//! figures. Strategies that copy record nothing and report `None`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::measured::{ZeroCopyStats, DELAY_SAMPLE};

/// The recorder a buffer-lending strategy fills; see the module doc.
#[derive(Debug, Default)]
pub struct CompletionStats {
    now: ZeroCopyStats,
    /// Sends issued and completions read since the strategy started, for
    /// the in-flight count (never reset).
    issued: u64,
    completed: u64,
    /// (send id, when it returned) of timed sends not yet completed, oldest first.
    timed: VecDeque<(u64, Instant)>,
}

impl CompletionStats {
    /// A send call with id `id` (0, 1, 2, ... in order) took data.
    pub fn sent(&mut self, id: u64) {
        self.now.sends += 1;
        self.issued += 1;
        self.now.max_in_flight = self.now.max_in_flight.max(self.issued - self.completed);
        if id % DELAY_SAMPLE == 0 {
            self.timed.push_back((id, Instant::now()));
        }
    }

    /// One notification covering `sends` sends was read.
    pub fn notified(&mut self, sends: u64, copied: bool) {
        self.now.notifications += 1;
        self.now.completions += sends;
        self.completed += sends;
        if copied {
            self.now.copied += sends;
        }
    }

    /// After a round of reading notifications: times the sampled sends that
    /// `done` says have completed. Called once per round, so one clock read.
    pub fn timed_done(&mut self, done: impl Fn(u64) -> bool) {
        if self.timed.front().is_none_or(|&(id, _)| !done(id)) {
            return;
        }
        let now = Instant::now();
        // Sends complete in order but for rare exceptions; a late one waits its turn.
        while let Some(&(id, t)) = self.timed.front() {
            if !done(id) {
                break;
            }
            self.timed.pop_front();
            self.now
                .delay_ns
                .saturating_record((now - t).as_nanos().max(1) as u64);
        }
    }

    pub fn enobufs(&mut self) {
        self.now.enobufs += 1;
    }

    pub fn reclaim_waited(&mut self, waited: Duration) {
        self.now.reclaim_waits += 1;
        self.now.reclaim_wait_ns += waited.as_nanos() as u64;
    }

    /// The figures since the previous call; the next batch starts from what
    /// is in flight now.
    pub fn take(&mut self) -> ZeroCopyStats {
        let out = std::mem::take(&mut self.now);
        self.now.max_in_flight = self.issued - self.completed;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_sends_and_notifications() {
        let mut c = CompletionStats::default();
        for id in 0..40 {
            c.sent(id);
        }
        c.notified(30, true);
        c.notified(5, false);
        c.timed_done(|id| id < 35);
        c.reclaim_waited(Duration::from_millis(2));
        let mut z = c.take();
        for _ in 0..4 {
            z.message(3);
        }
        assert_eq!(
            (z.sends, z.completions, z.copied, z.notifications),
            (40, 35, 30, 2)
        );
        assert_eq!(z.max_in_flight, 40);
        assert_eq!(z.sends_per_notification(), Some(17.5));
        assert_eq!(z.fragments_per_send(), Some(3.0));
        assert_eq!(z.delay_ns.len(), 3, "ids 0, 16 and 32 were timed");
        assert_eq!((z.reclaim_waits, z.reclaim_wait_ns), (1, 2_000_000));
        // The next batch starts with the five still in flight.
        let next = c.take();
        assert_eq!(next.max_in_flight, 5);
        assert_eq!(next.sends_per_notification(), None, "unavailable, not 0");
        assert_eq!(next.delay_us(0.5), None);
    }
}
