//! A call's cumulative quantities, one per catalog line that is priced on the whole (billing increments,
//! prices that are not a whole number of nano-dollars per unit).
//!
//! A catalog can have thousands of such lines (an imported price database); a call uses a few. Each call
//! therefore keeps a small fixed table that lines claim on first use, without a lock; a call that uses
//! more distinct lines than the table holds keeps the rest in a map behind a mutex.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use once_cell::race::OnceBox;
use rustc_hash::FxHashMap;

use crate::pricing::{Running, add_to_line};

/// log2 of the lines a call keeps without locking.
const FAST_BITS: u32 = 4;
/// Lines a call keeps without locking.
pub(crate) const FAST_LINES: usize = 1 << FAST_BITS;

/// The slot a line's probe starts at: Fibonacci hashing, the *high* bits of the line number times
/// 2^32 / φ, so that lines that differ only above the low bits (every
/// `FAST_LINES`-th line of a large catalog)
/// still spread over the table.
fn home(line: u32) -> usize {
    (line.wrapping_mul(0x9E37_79B9) >> (u32::BITS - FAST_BITS)) as usize
}

/// The cumulative quantity of each line a call has used.
#[derive(Debug)]
pub(crate) struct Cumulative {
    /// Line number + 1 of each slot; 0 while free.
    keys: [AtomicU32; FAST_LINES],
    values: [AtomicU64; FAST_LINES],
    /// Made by the first line that finds the table full (rare), without a lock.
    overflow: OnceBox<Mutex<FxHashMap<u32, u64>>>,
}

impl Default for Cumulative {
    fn default() -> Self {
        Cumulative {
            keys: std::array::from_fn(|_| AtomicU32::new(0)),
            values: std::array::from_fn(|_| AtomicU64::new(0)),
            overflow: OnceBox::new(),
        }
    }
}

impl Running for Cumulative {
    fn fetch_add(&self, line: u32, qty: u64) -> u64 {
        let key = line.wrapping_add(1);
        let start = home(line);
        for probe in 0..FAST_LINES {
            let i = (start + probe) % FAST_LINES;
            let mut k = self.keys[i].load(Ordering::Acquire);
            if k == 0 {
                k = match self.keys[i].compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => key,
                    Err(current) => current,
                };
            }
            if k == key {
                // A running sum: `Relaxed` (the hot path's ordering rule, `call`'s module docs).
                return self.values[i].fetch_add(qty, Ordering::Relaxed);
            }
        }
        let mut map = crate::base::sync::lock(self.overflow.get_or_init(Box::default));
        add_to_line(&mut map, line, qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_a_table_apart_start_in_different_slots() {
        // Lines that differ only in the bits above the table's size: a low-bit hash sends them all to
        // one slot.
        let homes: std::collections::BTreeSet<usize> =
            (0..8_u32).map(|k| home(k * FAST_LINES as u32)).collect();
        assert!(homes.len() >= 6, "{homes:?}");
        assert!((0..10_000).all(|line| home(line) < FAST_LINES));
    }

    #[test]
    fn each_line_counts_on_its_own_even_past_the_fast_table() {
        let c = Cumulative::default();
        let lines = (FAST_LINES as u32) * 3;
        for round in 0..3_u64 {
            for line in 0..lines {
                assert_eq!(
                    c.fetch_add(line * 7919, u64::from(line) + 1),
                    round * (u64::from(line) + 1)
                );
            }
        }
    }

    #[test]
    fn concurrent_adds_take_disjoint_intervals() {
        let c = Cumulative::default();
        let mut seen: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| c.fetch_add(5, 1)).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        seen.sort_unstable();
        assert_eq!(seen, (0..4000).collect::<Vec<u64>>());
    }
}
