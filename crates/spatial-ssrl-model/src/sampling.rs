//! Choosing the next token from a batch of logits `[batch, vocab]`.
//!
//! The logits stay on the device for the repetition penalty (a gather/scatter over the ids
//! each row has seen) and for greedy choice (`argmax`: only one id per row comes back).
//! Sampling reads the rows to the host and never sorts the whole vocabulary: top-k is a
//! linear-time selection followed by a sort of the `k` survivors, and top-p grows a sorted
//! prefix (64, 256, ... candidates) until it holds the requested mass.

use burn::tensor::ops::IndexingUpdateOp;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// transformers' `RepetitionPenaltyLogitsProcessor` on the device: in row `r`, every id of
/// `history[r]` (once, however often it occurs; ids outside the vocabulary ignored) has a
/// negative logit multiplied and a non-negative one divided by `penalty`.
pub(crate) fn penalize(logits: Tensor<2>, history: &[Vec<i64>], penalty: f32) -> Tensor<2> {
    let [b, vocab] = logits.dims();
    if penalty == 1.0 || history.len() != b {
        return logits;
    }
    let rows: Vec<Vec<i64>> = history
        .iter()
        .map(|h| {
            let mut ids: Vec<i64> = h
                .iter()
                .copied()
                .filter(|&i| usize::try_from(i).is_ok_and(|i| i < vocab))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        })
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return logits;
    }
    // Rows with fewer ids repeat their first one (or use id 0 with its own value written
    // back unchanged when the row saw nothing): assigning a value twice is harmless.
    let mut idx = Vec::with_capacity(b * width);
    let mut live = Vec::with_capacity(b * width);
    for r in &rows {
        for j in 0..width {
            idx.push(r.get(j).or(r.first()).copied().unwrap_or(0));
            live.push(!r.is_empty());
        }
    }
    let device = logits.device();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [b, width]), &device);
    let live =
        Tensor::<2, burn::tensor::Bool>::from_data(TensorData::new(live, [b, width]), &device);
    let seen = logits.clone().gather(1, idx.clone());
    let negative = seen.clone().lower_elem(0.0);
    let scaled = seen
        .clone()
        .div_scalar(penalty)
        .mask_where(negative, seen.clone().mul_scalar(penalty));
    let updated = seen.mask_where(live, scaled);
    logits.scatter(1, idx, updated, IndexingUpdateOp::Assign)
}

/// Greedy choice per row, computed on the device: the first maximum (as `torch.argmax`).
pub(crate) fn argmax_rows(logits: Tensor<2>) -> Result<Vec<i64>> {
    let [b, _] = logits.dims();
    let ids = logits.argmax(1).reshape([b]).into_data();
    ids.convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| Error::BadInput(format!("cannot read token ids: {e:?}")))
}

/// Reads `[batch, vocab]` logits to one host vector per row.
pub(crate) fn host_rows(logits: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [b, v] = logits.dims();
    let data = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::BadInput(format!("cannot read logits: {e:?}")))?;
    Ok(data
        .chunks_exact(v.max(1))
        .take(b)
        .map(<[f32]>::to_vec)
        .collect())
}

/// Descending by value, then ascending by id: the order a stable descending sort gives.
fn before(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `n` best of `cand` (reordered in place), sorted; linear selection + `n log n` sort.
fn best_prefix(cand: &mut [(usize, f32)], n: usize) -> &[(usize, f32)] {
    let n = n.min(cand.len());
    if n < cand.len() {
        cand.select_nth_unstable_by(n, before);
    }
    cand[..n].sort_unstable_by(before);
    &cand[..n]
}

/// Samples one id from a row of logits (already penalised): softmax at `temperature`
/// (> 0), restricted to the `top_k` most likely ids, then to the smallest most-likely set
/// whose probability reaches `top_p`; `u` in `[0, 1)` comes from `rng`.
pub(crate) fn sample_row(
    logits: &[f32],
    temperature: f32,
    top_k: Option<usize>,
    top_p: Option<f32>,
    rng: &mut ChaCha8Rng,
) -> i64 {
    let mut cand: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, v / temperature))
        .collect();
    if let Some(k) = top_k
        && k < cand.len()
    {
        best_prefix(&mut cand, k.max(1));
        cand.truncate(k.max(1));
    }
    let max = cand.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = cand.iter().map(|c| (c.1 - max).exp()).sum();
    // The ids that stay in play, in the order the draw walks them.
    let kept: &[(usize, f32)] = match top_p {
        Some(p) if p < 1.0 => {
            let mut n = 64;
            loop {
                let all = n >= cand.len();
                let prefix = best_prefix(&mut cand, n);
                let mut cum = 0.0;
                let reach = prefix.iter().position(|c| {
                    cum += (c.1 - max).exp() / total;
                    cum >= p
                });
                match reach {
                    Some(i) => break &cand[..=i],
                    None if all => break &cand[..],
                    None => n *= 4,
                }
            }
        }
        _ => &cand,
    };
    let weights: Vec<f32> = kept.iter().map(|c| (c.1 - max).exp()).collect();
    let sum: f32 = weights.iter().sum();
    let u: f32 = rng.random::<f32>() * sum;
    let mut acc = 0.0;
    for (c, w) in kept.iter().zip(&weights) {
        acc += w;
        if u < acc {
            return c.0 as i64;
        }
    }
    kept.last().map_or(0, |c| c.0 as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::SeedableRng;

    #[test]
    fn device_penalty_matches_the_host_rule_and_argmax_takes_the_first_maximum() {
        let device = Device::default();
        let rows = [[2.0f32, -2.0, 1.0, 4.0], [0.5, 0.5, -1.0, 3.0]];
        let logits = Tensor::<2>::from_data(TensorData::new(rows.concat(), [2, 4]), &device);
        // Row 0: id 0 twice, id 1 once, out-of-vocabulary ids ignored; row 1: only id 3.
        let history = vec![vec![0, 1, 0, 99, -1], vec![3]];
        let got = host_rows(penalize(logits.clone(), &history, 2.0)).unwrap();
        assert_eq!(
            got,
            vec![vec![1.0, -4.0, 1.0, 4.0], vec![0.5, 0.5, -1.0, 1.5]]
        );
        assert_eq!(argmax_rows(logits).unwrap(), vec![3, 3]);
        let ties = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, 3.0, 3.0], [1, 3]), &device);
        assert_eq!(argmax_rows(ties).unwrap(), vec![1]);
    }

    #[test]
    fn top_k_and_top_p_keep_the_right_candidates_and_draws_are_seeded() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(
            sample_row(&[0.1, 0.2, 5.0, 0.0], 1.0, Some(1), None, &mut rng),
            2
        );
        // p(0) = 0.64 >= 0.5: top-p keeps only id 0.
        let logits = [2.0, 1.0, 0.0, -1.0];
        for _ in 0..20 {
            assert_eq!(sample_row(&logits, 1.0, None, Some(0.5), &mut rng), 0);
        }
        // 300 ids, two of them far ahead: top-p 0.9 must grow past its first 64-id prefix
        // only when needed; here it keeps exactly the two leaders.
        let mut wide = vec![0.0f32; 300];
        wide[17] = 10.0;
        wide[250] = 10.0;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            seen.insert(sample_row(&wide, 1.0, None, Some(0.9), &mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![17, 250]);
        // A flat row with top-p 0.99 needs almost every id: the prefix grows to the end.
        let flat = vec![0.0f32; 300];
        let mut hit = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            hit.insert(sample_row(&flat, 1.0, None, Some(0.99), &mut rng));
        }
        assert!(
            hit.len() > 250 && hit.iter().all(|&i| i < 299),
            "{}",
            hit.len()
        );
        let draw = |seed| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| sample_row(&logits, 1.0, Some(3), None, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let d = draw(3);
        assert!(d.contains(&0) && d.contains(&1) && !d.contains(&3), "{d:?}");
    }
}
