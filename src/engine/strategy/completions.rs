//! Zero-copy completion bookkeeping, kept apart from the socket so its
//! arithmetic can be tested on its own.
//!
//! The kernel numbers every `sendmsg(MSG_ZEROCOPY)` call that took data with a
//! per-socket u32 counter, starting at 0 and wrapping, and reports finished
//! calls as inclusive ranges `lo..=hi` of that counter. Here every call gets a
//! u64 id instead (the count of calls made before it); a reported u32 range is
//! mapped onto the outstanding ids, which never span more than 2^31 calls.

use std::collections::VecDeque;

use crate::engine::error::RangeError;

/// Which zero-copy sends are still in flight.
#[derive(Debug, Default)]
pub struct Completions {
    /// Lowest id not yet completed.
    low: u64,
    /// Id the next send will get.
    next: u64,
    /// `done[i]` tells whether id `low + i` has completed; ids past `low` can
    /// complete out of order.
    done: VecDeque<bool>,
    completed: u64,
    copied: u64,
    /// Id of the last send made from each pool slot (`None`: none took data),
    /// which must complete before the slot's buffers are rewritten.
    slot_last: Vec<Option<u64>>,
}

impl Completions {
    /// Records one successful zero-copy `sendmsg` and returns its id.
    pub fn issue(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        self.done.push_back(false);
        id
    }

    /// Applies one notification: kernel counter values `lo..=hi`, wrapping.
    pub fn complete(&mut self, lo: u32, hi: u32, copied: bool) -> Result<(), RangeError> {
        let outside = || RangeError::Outside {
            lo,
            hi,
            low: self.low,
            next: self.next,
        };
        let start = self.low + u64::from(lo.wrapping_sub(self.low as u32));
        let len = u64::from(hi.wrapping_sub(lo)) + 1;
        if start + len > self.next {
            return Err(outside());
        }
        let first = (start - self.low) as usize;
        let slots = self.done.range_mut(first..first + len as usize);
        let mut fresh = 0;
        for d in slots {
            fresh += u64::from(!*d);
            *d = true;
        }
        if fresh != len {
            return Err(outside());
        }
        self.completed += len;
        if copied {
            self.copied += len;
        }
        while self.done.front() == Some(&true) {
            self.done.pop_front();
            self.low += 1;
        }
        Ok(())
    }

    /// Whether send `id` has completed.
    pub fn is_done(&self, id: u64) -> bool {
        id < self.low || (id < self.next && self.done[(id - self.low) as usize])
    }

    /// Whether every send up to and including `id` has completed.
    pub fn done_through(&self, id: u64) -> bool {
        id < self.low
    }

    pub fn in_flight(&self) -> u64 {
        self.next - self.low - self.done.iter().filter(|d| **d).count() as u64
    }

    pub fn all_done(&self) -> bool {
        self.low == self.next
    }

    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Records that the sends of one message from pool slot `slot` ended
    /// with send `last` (`None`: none took data).
    pub fn lent(&mut self, slot: usize, last: Option<u64>) {
        if self.slot_last.len() <= slot {
            self.slot_last.resize(slot + 1, None);
        }
        self.slot_last[slot] = last;
    }

    /// The send that must complete before `slot`'s buffers may be rewritten,
    /// or `None` when the kernel holds none of them.
    pub fn holding(&self, slot: usize) -> Option<u64> {
        self.slot_last
            .get(slot)
            .copied()
            .flatten()
            .filter(|&last| !self.done_through(last))
    }

    #[cfg(test)]
    pub fn copied(&self) -> u64 {
        self.copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(n: u64) -> Completions {
        let mut c = Completions::default();
        for _ in 0..n {
            c.issue();
        }
        c
    }

    #[test]
    fn a_slot_is_held_until_its_last_send_and_all_before_it_complete() {
        let mut c = issued(4);
        c.lent(1, Some(2));
        c.lent(3, None);
        assert_eq!(c.holding(0), None, "never lent");
        assert_eq!(c.holding(3), None, "no send took data");
        assert_eq!(c.holding(1), Some(2));
        // Out of order: send 2 is done but 1 is not, so the slot stays held.
        c.complete(2, 2, false).unwrap();
        assert_eq!(c.holding(1), Some(2));
        c.complete(0, 1, false).unwrap();
        assert_eq!(c.holding(1), None);
    }

    #[test]
    fn ranges_are_inclusive() {
        let mut c = issued(5);
        c.complete(0, 2, false).unwrap();
        assert!(c.done_through(2));
        assert!(!c.done_through(3));
        assert_eq!(c.completed(), 3);
        c.complete(3, 4, true).unwrap();
        assert!(c.all_done());
        assert_eq!((c.completed(), c.copied()), (5, 2));
    }

    #[test]
    fn out_of_order_ranges_hold_back_the_low_mark() {
        let mut c = issued(6);
        c.complete(3, 5, false).unwrap();
        assert!(!c.done_through(0));
        assert_eq!(c.in_flight(), 3);
        c.complete(0, 2, false).unwrap();
        assert!(c.all_done());
    }

    #[test]
    fn the_kernel_counter_wraps_at_u32() {
        // Pretend 2^32 - 2 sends have already completed.
        let mut c = Completions {
            low: u32::MAX as u64 - 1,
            next: u32::MAX as u64 - 1,
            ..Default::default()
        };
        for _ in 0..5 {
            c.issue();
        }
        // The kernel reports u32::MAX - 1 ..= 2 (wrapped).
        c.complete(u32::MAX - 1, 2, true).unwrap();
        assert!(c.all_done());
        assert_eq!(c.completed(), 5);
        assert!(c.done_through(u32::MAX as u64 + 3));
    }

    #[test]
    fn a_single_id_range_counts_once() {
        let mut c = issued(1);
        c.complete(0, 0, false).unwrap();
        assert_eq!(c.completed(), 1);
    }

    #[test]
    fn ranges_beyond_what_was_sent_or_repeated_are_errors() {
        let mut c = issued(3);
        assert!(c.complete(0, 3, false).is_err());
        c.complete(0, 1, false).unwrap();
        assert!(c.complete(1, 1, false).is_err(), "already completed");
        assert!(c.complete(2, 2, false).is_ok());
    }
}
