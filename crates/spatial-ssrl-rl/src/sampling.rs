//! Token sampling from logits with temperature and nucleus (top-p) truncation, driven by a
//! caller-owned seeded RNG.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Samples a token id from one row of logits. `temperature <= 0` means greedy.
pub fn sample_token(logits: &[f32], temperature: f32, top_p: f32, rng: &mut ChaCha8Rng) -> u32 {
    if temperature <= 0.0 {
        return argmax(logits);
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i, (((l - max) / temperature) as f64).exp()))
        .collect();
    if top_p < 1.0 {
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: f64 = probs.iter().map(|p| p.1).sum();
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (k, p) in probs.iter().enumerate() {
            acc += p.1 / total;
            if acc >= top_p as f64 {
                keep = k + 1;
                break;
            }
        }
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().map(|p| p.1).sum();
    let mut u = rng.random::<f64>() * total;
    for &(i, p) in &probs {
        if u < p {
            return i as u32;
        }
        u -= p;
    }
    probs.last().map(|p| p.0 as u32).unwrap_or(0)
}

/// Index of the largest logit (first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_and_top_p_truncation() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(sample_token(&[0.0, 3.0, 1.0], 0.0, 1.0, &mut rng), 1);
        // top_p small: only the most likely token survives.
        for _ in 0..50 {
            assert_eq!(sample_token(&[0.0, 3.0, 1.0], 1.0, 0.1, &mut rng), 1);
        }
        // Frequencies follow the softmax.
        let mut counts = [0usize; 2];
        for _ in 0..4000 {
            counts[sample_token(&[0.0, (3.0f32).ln()], 1.0, 1.0, &mut rng) as usize] += 1;
        }
        let frac = counts[1] as f64 / 4000.0;
        assert!((frac - 0.75).abs() < 0.03, "{frac}");
    }
}
