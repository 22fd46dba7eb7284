//! The lottery draw (抽選販売): a shuffle anyone can re-run from the revealed seed and the
//! published list of applications, and get the same winners.
//!
//! The rule, in full (the README's "Sale day" says it in words):
//! 1. The applications are put in the canonical order: by shopper id (the UUID's bytes).
//! 2. They are shuffled by Fisher–Yates, from the last position down; position `i` swaps
//!    with `j`, uniform in `0..=i`, drawn from a stream of 64-bit numbers:
//!    block `k` of the stream is `SHA-256(seed ‖ 0x00 ‖ round as u32 BE ‖ k as u64 BE)`,
//!    read as four big-endian u64. A number at or above the largest multiple of `i + 1`
//!    that fits in u64 is skipped (no modulo bias).
//! 3. Going through the shuffled list, an application wins whole if its sets fit in what is
//!    left of the budget; one that does not fit is passed over and the next is tried, so the
//!    budget is used as fully as whole applications allow and never exceeded.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Shortest and longest seed: long enough not to be guessed from its hash, short enough to
/// print on a notice.
pub const SEED_LEN_MIN: usize = 16;
pub const SEED_LEN_MAX: usize = 128;

/// One application as the draw sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Application {
    pub shopper_id: Uuid,
    pub units: u32,
}

/// The hex SHA-256 of a seed: what is published before the window closes.
pub fn seed_hash(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// A seed is 16 to 128 visible ASCII characters (so it can be printed and typed again).
pub fn check_seed(seed: &str) -> Result<(), String> {
    let ok = (SEED_LEN_MIN..=SEED_LEN_MAX).contains(&seed.len())
        && seed.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the seed must be {SEED_LEN_MIN} to {SEED_LEN_MAX} visible ASCII characters"
        ))
    }
}

/// A published seed hash is 64 lowercase hex digits.
pub fn check_seed_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The stream of 64-bit numbers of a (seed, round).
struct Stream<'s> {
    seed: &'s [u8],
    round: u32,
    block: u64,
    buffer: [u64; 4],
    used: usize,
}

impl<'s> Stream<'s> {
    fn new(seed: &'s str, round: u32) -> Self {
        Self {
            seed: seed.as_bytes(),
            round,
            block: 0,
            buffer: [0; 4],
            used: 4,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used == 4 {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update([0u8]);
            h.update(self.round.to_be_bytes());
            h.update(self.block.to_be_bytes());
            let digest = h.finalize();
            for (slot, chunk) in self.buffer.iter_mut().zip(digest.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *slot = u64::from_be_bytes(b);
            }
            self.block += 1;
            self.used = 0;
        }
        let v = self.buffer[self.used];
        self.used += 1;
        v
    }

    /// Uniform in `0..n` (n ≥ 1), by rejection.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// The applications in the draw's order for (seed, round): canonical order, then shuffled.
pub fn shuffled(seed: &str, round: u32, applications: &[Application]) -> Vec<Application> {
    let mut list = applications.to_vec();
    list.sort_by_key(|a| *a.shopper_id.as_bytes());
    let mut stream = Stream::new(seed, round);
    for i in (1..list.len()).rev() {
        let j = stream.below(i as u64 + 1) as usize;
        list.swap(i, j);
    }
    list
}

/// The winners of a draw, in the order they were drawn: whole applications, taken while they
/// fit in `budget_units`; their sets never add up to more than it.
pub fn draw(
    seed: &str,
    round: u32,
    applications: &[Application],
    budget_units: u64,
) -> Vec<Application> {
    let mut left = budget_units;
    let mut winners = Vec::new();
    for a in shuffled(seed, round, applications) {
        if left == 0 {
            break;
        }
        if u64::from(a.units) <= left {
            left -= u64::from(a.units);
            winners.push(a);
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apps(n: u128, units: impl Fn(u128) -> u32) -> Vec<Application> {
        (1..=n)
            .map(|i| Application {
                shopper_id: Uuid::from_u128(i * 7919),
                units: units(i),
            })
            .collect()
    }

    #[test]
    fn the_same_seed_and_list_give_the_same_winners_in_any_input_order() {
        let list = apps(50, |i| (i % 3 + 1) as u32);
        let first = draw("a-seed-of-sixteen-chars", 1, &list, 30);
        let mut reversed = list.clone();
        reversed.reverse();
        assert_eq!(first, draw("a-seed-of-sixteen-chars", 1, &reversed, 30));
        assert_ne!(first, draw("another-seed-0000000", 1, &list, 30));
        assert_ne!(first, draw("a-seed-of-sixteen-chars", 2, &list, 30));
    }

    #[test]
    fn the_stream_is_pinned() {
        // Changing the rule changes every published draw: this pins it.
        let list = apps(5, |_| 1);
        let order: Vec<u128> = shuffled("machipay-lottery-seed", 1, &list)
            .iter()
            .map(|a| a.shopper_id.as_u128() / 7919)
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            order,
            shuffled("machipay-lottery-seed", 1, &list)
                .iter()
                .map(|a| a.shopper_id.as_u128() / 7919)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn seeds_and_hashes_are_checked() {
        assert!(check_seed("short").is_err());
        assert!(
            check_seed("sixteen chars!!!").is_err(),
            "a space is not visible"
        );
        assert!(check_seed("sixteen-chars!!!").is_ok());
        let h = seed_hash("sixteen-chars!!!");
        assert!(check_seed_hash(&h));
        assert!(!check_seed_hash(&h.to_uppercase()));
        assert_eq!(
            seed_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_position_is_reachable() {
        // Over many seeds, each of 4 applications comes first at least once.
        let list = apps(4, |_| 1);
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..200 {
            let first = shuffled(&format!("seed-number-{s:08}"), 1, &list)[0];
            seen.insert(first.shopper_id);
        }
        assert_eq!(seen.len(), 4);
    }

    proptest! {
        #[test]
        fn a_draw_never_exceeds_the_budget_and_uses_it_when_it_can(
            units in proptest::collection::vec(1u32..=5, 0..60),
            budget in 0u64..200,
            seed in "[a-z0-9]{16,40}",
        ) {
            let list: Vec<Application> = units.iter().enumerate()
                .map(|(i, u)| Application { shopper_id: Uuid::from_u128(i as u128 + 1), units: *u })
                .collect();
            let winners = draw(&seed, 1, &list, budget);
            let given: u64 = winners.iter().map(|w| u64::from(w.units)).sum();
            prop_assert!(given <= budget);
            // Whole applications, each at most once.
            let ids: std::collections::BTreeSet<_> = winners.iter().map(|w| w.shopper_id).collect();
            prop_assert_eq!(ids.len(), winners.len());
            // Nobody who lost would still have fitted.
            for a in &list {
                if !ids.contains(&a.shopper_id) {
                    prop_assert!(u64::from(a.units) > budget - given);
                }
            }
            let total: u64 = list.iter().map(|a| u64::from(a.units)).sum();
            if total <= budget {
                prop_assert_eq!(winners.len(), list.len());
            }
        }
    }
}
