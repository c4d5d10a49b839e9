//! The seeded draws the built-in tasks make: a uniform permutation and a weighted pick.

use rand::Rng;

use crate::task::TaskRng;

/// Shuffles `items` uniformly (Fisher-Yates) with draws from `rng`.
///
/// Written out rather than taken from `rand::seq` so the permutation a seed gives can only
/// change when this crate changes it.
pub fn shuffle<T>(items: &mut [T], rng: &mut TaskRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// Picks an index with probability proportional to its integer weight; `None` when all are 0.
///
/// ```
/// use spatial_ssrl_tasks::{TaskRng, rand::SeedableRng, tasks::grid::pick_weighted};
/// let mut rng = TaskRng::seed_from_u64(1);
/// assert_eq!(pick_weighted(&[0, 5, 0], &mut rng), Some(1));
/// assert_eq!(pick_weighted(&[0, 0], &mut rng), None);
/// ```
pub fn pick_weighted(weights: &[u32], rng: &mut TaskRng) -> Option<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut t = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if t < u64::from(w) {
            return Some(i);
        }
        t -= u64::from(w);
    }
    unreachable!("t < total")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shuffle_is_uniform_over_permutations() {
        let mut rng = TaskRng::seed_from_u64(1);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..24_000 {
            let mut v = [0u8, 1, 2, 3];
            shuffle(&mut v, &mut rng);
            *counts.entry(v).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 24);
        // Expected 1000 each; 5 sigma is about 155.
        assert!(
            counts.values().all(|&c| (840..=1160).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn weighted_pick_respects_zero_weights() {
        let mut rng = TaskRng::seed_from_u64(2);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[pick_weighted(&[1, 0, 2], &mut rng).unwrap()] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > seen[0] + 500, "{seen:?}");
        assert_eq!(pick_weighted(&[0, 0], &mut rng), None);
    }
}
