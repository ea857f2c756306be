//! Completion figures of strategies that lend their buffers to the kernel.
//!
//! [`CompletionStats`] is the recorder a zero-copy sender fills as it goes
//! (sends, notifications, reclaim waits, `ENOBUFS`); [`ZeroCopyStats`] is
//! what one batch measured, summed over connections. Any strategy that
//! learns of completions (MSG_ZEROCOPY's error queue, io_uring's notification
//! CQEs) records through the same calls, so every such strategy reports the
//! same figures. Strategies that copy record nothing and report `None`.
//!
//! The completion delay is timed for one send in [`DELAY_SAMPLE`], from the
//! return of its send call to the moment the sender read the notification
//! that covers it. The sender reads notifications without blocking every few
//! sends (and whenever it needs a slot back), so the figure includes up to
//! that many sends' time of reading lag: it is the delay as the sender sees
//! it, which is what bounds how soon a buffer can be reused.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One send in this many has its completion delay timed (two clock reads).
pub const DELAY_SAMPLE: u64 = 16;

/// What one batch of a buffer-lending strategy measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroCopyStats {
    /// Send calls that took data (`sendmsg(MSG_ZEROCOPY)` or SEND_ZC submissions).
    pub sends: u64,
    /// Sends whose completion arrived.
    pub completions: u64,
    /// Completions the kernel flagged as copied after all.
    pub copied: u64,
    /// `ENOBUFS` answers (optmem exhausted), each followed by a reap and a retry.
    pub enobufs: u64,
    /// Notifications read; each covers one or more sends.
    pub notifications: u64,
    /// The most sends in flight (sent, completion not yet read) at once.
    pub max_in_flight: u64,
    /// Times the sender had to wait for a slot's completion before reusing it.
    pub reclaim_waits: u64,
    /// Time spent in those waits, in all.
    pub reclaim_wait_ns: u64,
    /// Messages sent, and the pages (fragments) their iovecs spanned in all.
    pub messages: u64,
    pub fragments: u64,
    /// The most fragments one message needed.
    pub max_fragments: u64,
    /// Completion delay of sampled sends, ns (see the module doc).
    #[serde(with = "delay_serde")]
    pub delay_ns: Histogram<u64>,
}

impl Default for ZeroCopyStats {
    fn default() -> ZeroCopyStats {
        ZeroCopyStats {
            sends: 0,
            completions: 0,
            copied: 0,
            enobufs: 0,
            notifications: 0,
            max_in_flight: 0,
            reclaim_waits: 0,
            reclaim_wait_ns: 0,
            messages: 0,
            fragments: 0,
            max_fragments: 0,
            delay_ns: crate::figures::new_histogram(),
        }
    }
}

impl ZeroCopyStats {
    /// One message went out (over however many send calls), its iovecs
    /// spanning `pages` pages. The [`super::Sender`] counts these, as it is
    /// the one that knows the pool's layout.
    pub fn message(&mut self, pages: u64) {
        self.messages += 1;
        self.fragments += pages;
        self.max_fragments = self.max_fragments.max(pages);
    }

    /// Adds another connection's figures (the most in flight is the larger one's).
    pub fn add(&mut self, o: &ZeroCopyStats) {
        self.sends += o.sends;
        self.completions += o.completions;
        self.copied += o.copied;
        self.enobufs += o.enobufs;
        self.notifications += o.notifications;
        self.max_in_flight = self.max_in_flight.max(o.max_in_flight);
        self.reclaim_waits += o.reclaim_waits;
        self.reclaim_wait_ns += o.reclaim_wait_ns;
        self.messages += o.messages;
        self.fragments += o.fragments;
        self.max_fragments = self.max_fragments.max(o.max_fragments);
        self.delay_ns
            .add(&o.delay_ns)
            .expect("histograms share their bounds");
    }

    /// Share of completions the kernel copied, when there were any.
    pub fn copied_share(&self) -> Option<f64> {
        (self.completions > 0).then(|| self.copied as f64 / self.completions as f64)
    }

    /// Mean sends one notification covered, when any was read.
    pub fn sends_per_notification(&self) -> Option<f64> {
        (self.notifications > 0).then(|| self.completions as f64 / self.notifications as f64)
    }

    /// Mean pages (fragments) a message's iovecs spanned, when any was sent.
    pub fn fragments_per_send(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.fragments as f64 / self.messages as f64)
    }

    /// A completion-delay percentile in microseconds, when any send was timed.
    pub fn delay_us(&self, quantile: f64) -> Option<f64> {
        (!self.delay_ns.is_empty()).then(|| self.delay_ns.value_at_quantile(quantile) as f64 / 1e3)
    }

    pub fn reclaim_wait_ms(&self) -> f64 {
        self.reclaim_wait_ns as f64 / 1e6
    }
}

/// The delay histogram on the wire, as the latency one (`[[value, count], ...]`).
mod delay_serde {
    use hdrhistogram::Histogram;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        crate::figures::latency_serde::serialize(&Some(h.clone()), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        Ok(crate::figures::latency_serde::deserialize(d)?
            .unwrap_or_else(crate::figures::new_histogram))
    }
}

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
