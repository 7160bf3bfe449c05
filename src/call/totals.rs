//! A call's running cost, kept per catalog entry so that a track call makes one atomic add.
//!
//! A call uses a handful of entries (a telephony line, an STT model, one or two LLMs, a voice). Each gets
//! a slot the first time it is used; the category and provider totals are derived from the entries when
//! they are read. A call that uses more distinct entries than there are slots keeps the rest in per-category
//! and per-provider counters.
//!
//! Slots are claimed in order: a track call takes slot `i` only after it saw slots `0..i` held by other
//! entries, and a claimed slot is never freed. The claimed slots are therefore always a prefix, and
//! [`Totals::total`] and [`Totals::split`] stop at the first empty slot. The orderings follow the hot
//! path's rule (`call`'s module docs): entries are claim-once keys (acquired, so the prefix holds for
//! every reader), costs are running sums (`Relaxed`).

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use once_cell::race::OnceBox;

use crate::base::usage::Category;
use crate::pricing::Catalog;

/// Distinct catalog entries a call keeps in slots.
pub(crate) const SLOTS: usize = 12;

const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    entry: AtomicU32,
    nanos: AtomicI64,
}

/// Cost of the entries past the slots, per category and per provider index.
#[derive(Debug)]
struct Overflow {
    category: [AtomicI64; Category::COUNT],
    provider: Box<[AtomicI64]>,
}

/// Running cost of one call.
#[derive(Debug)]
pub(crate) struct Totals {
    slots: [Slot; SLOTS],
    /// Made by the first entry that finds every slot taken (rare: a call of more than [`SLOTS`]
    /// distinct entries), without a lock: racing threads each build one and all but the first drop
    /// theirs.
    overflow: OnceBox<Overflow>,
}

impl Totals {
    pub(crate) fn new() -> Self {
        Totals {
            slots: std::array::from_fn(|_| Slot {
                entry: AtomicU32::new(EMPTY),
                nanos: AtomicI64::new(0),
            }),
            overflow: OnceBox::new(),
        }
    }

    /// Adds `nanos` to `entry` of `catalog`.
    pub(crate) fn add(&self, catalog: &Catalog, entry: u32, nanos: i64) {
        if nanos == 0 {
            return;
        }
        for slot in &self.slots {
            let mut current = slot.entry.load(Ordering::Acquire);
            if current == EMPTY {
                current = match slot.entry.compare_exchange(
                    EMPTY,
                    entry,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => entry,
                    Err(other) => other,
                };
            }
            if current == entry {
                slot.nanos.fetch_add(nanos, Ordering::Relaxed);
                return;
            }
        }
        let overflow = self.overflow.get_or_init(|| {
            Box::new(Overflow {
                category: Default::default(),
                provider: (0..catalog.provider_count())
                    .map(|_| AtomicI64::new(0))
                    .collect(),
            })
        });
        let category = catalog.entry_price(entry).category();
        overflow.category[category.index()].fetch_add(nanos, Ordering::Relaxed);
        if let Some(p) = overflow.provider.get(catalog.entry_provider(entry)) {
            p.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// The call's total.
    pub(crate) fn total(&self) -> i64 {
        let mut sum = 0_i64;
        for slot in &self.slots {
            if slot.entry.load(Ordering::Acquire) == EMPTY {
                break;
            }
            sum = sum.wrapping_add(slot.nanos.load(Ordering::Relaxed));
        }
        match self.overflow.get() {
            Some(o) => o
                .category
                .iter()
                .fold(sum, |s, c| s.wrapping_add(c.load(Ordering::Relaxed))),
            None => sum,
        }
    }

    /// Cost per category and per provider index.
    pub(crate) fn split(&self, catalog: &Catalog) -> ([i64; Category::COUNT], Vec<i64>) {
        let mut by_category = [0_i64; Category::COUNT];
        let mut by_provider = vec![0_i64; catalog.provider_count()];
        if let Some(o) = self.overflow.get() {
            for (sum, c) in by_category.iter_mut().zip(&o.category) {
                *sum = c.load(Ordering::Relaxed);
            }
            for (sum, p) in by_provider.iter_mut().zip(o.provider.iter()) {
                *sum = p.load(Ordering::Relaxed);
            }
        }
        for slot in &self.slots {
            let entry = slot.entry.load(Ordering::Acquire);
            if entry == EMPTY {
                break;
            }
            let nanos = slot.nanos.load(Ordering::Relaxed);
            by_category[catalog.entry_price(entry).category().index()] += nanos;
            if let Some(p) = by_provider.get_mut(catalog.entry_provider(entry)) {
                *p += nanos;
            }
        }
        (by_category, by_provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_entries_than_slots_still_add_up() -> crate::Result<()> {
        use crate::{ModelPrice, Rate, UsageKind, Usd};
        let catalog = (0..SLOTS + 9)
            .fold(Catalog::builder(), |b, i| {
                b.insert(
                    ModelPrice::new(format!("p{}", i % 3), format!("m{i}"), Category::ALL[i % 4])
                        .rate(
                            UsageKind::Characters,
                            Rate::per_character(Usd::from_nanos(1)),
                        ),
                )
            })
            .build()?;
        let totals = Totals::new();
        let n = catalog.len() as u32;
        let mut expected = 0;
        // Use every entry repeatedly, more distinct entries than slots if the catalog has them.
        for round in 1..=3_i64 {
            for e in 0..n {
                totals.add(&catalog, e, round * (i64::from(e) + 1));
                expected += round * (i64::from(e) + 1);
            }
        }
        assert!(n as usize > SLOTS, "the test must overflow the slots");
        assert_eq!(totals.total(), expected);
        let (by_category, by_provider) = totals.split(&catalog);
        assert_eq!(by_category.iter().sum::<i64>(), expected);
        assert_eq!(by_provider.iter().sum::<i64>(), expected);
        Ok(())
    }
}
