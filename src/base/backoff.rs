//! Exponential backoff: the waits between attempts at something that fails for now (a write to a
//! busy or full disk, a shipment to an unreachable database, a webhook), doubling from a first wait
//! up to a longest one.

use std::time::Duration;

/// The waits before the next attempts: `first`, then twice the last, never more than `max`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits from `first`, doubling up to `max`.
    pub(crate) const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The wait before the next attempt; the one after it is twice as long (up to the longest).
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// After a success: the next failure waits the first wait again.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_longest_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
        let waits: Vec<u128> = (0..4).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [10, 20, 35, 35]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(10));
    }
}
