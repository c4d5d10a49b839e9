//! Scaled dot-product attention shared by the decoder and the vision tower.
//!
//! Everything goes through burn's fused `module::attention`. On the flex CPU backend that
//! kernel never holds more than one tile of scores: below 256K query x key elements per head
//! it scores the head in one block, above that it streams 64-key tiles with an online
//! softmax. It also maps each query head onto its K/V head itself, so grouped-query
//! attention reads the cache as stored. Other backends (and autodiff, which differentiates
//! burn's decomposed reference) get K/V repeated per query head, as HF `repeat_kv` does.

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Whether the backend's fused kernel shares one K/V head between a group of query heads.
fn reads_grouped_kv(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        !device.is_autodiff() && *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// `softmax(q k^T / sqrt(head_dim) + mask) v`.
///
/// `q`: `[batch, heads, q_len, head_dim]`; `k`/`v`: `[batch, kv_heads, kv_len, head_dim]`
/// with `heads` a multiple of `kv_heads`; `hidden`: `[batch or 1, 1, q_len, kv_len]`, true
/// where a key must not be read; `causal`: query `i` reads keys `..= i` (only meaningful
/// when `q_len == kv_len`). A query row with every key hidden yields zeros.
pub(crate) fn attend(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    hidden: Option<Tensor<4, Bool>>,
    causal: bool,
) -> Tensor<4> {
    let [b, nh, sq, hd] = q.dims();
    let [_, nkv, skv, _] = k.dims();
    let fused_groups = reads_grouped_kv(&q.device());
    let (k, v) = if nh != nkv && !fused_groups {
        let rep = nh / nkv;
        // Query head j reads kv head j / rep (HF `repeat_kv`).
        let expand = |t: Tensor<4>| {
            t.unsqueeze_dim::<5>(2)
                .expand([b, nkv, rep, skv, hd])
                .reshape([b, nh, skv, hd])
        };
        (expand(k), expand(v))
    } else {
        (k, v)
    };
    // burn's decomposed reference masks by elementwise fill: give it the full shape.
    let hidden = hidden.map(|m| {
        if fused_groups {
            m
        } else {
            m.expand([b, nh, sq, skv])
        }
    });
    let options = AttentionModuleOptions {
        scale: Some((hd as f64).powf(-0.5)),
        softcap: None,
        is_causal: causal && sq > 1,
    };
    attention(q, k, v, hidden, None, options)
}

/// A `[rows, 1, q_len, kv_len]` "hidden key" mask from per-row predicates.
pub(crate) fn hidden_mask(
    rows: usize,
    q_len: usize,
    kv_len: usize,
    device: &Device,
    mut hide: impl FnMut(usize, usize, usize) -> bool,
) -> Tensor<4, Bool> {
    let mut m = Vec::with_capacity(rows * q_len * kv_len);
    for r in 0..rows {
        for i in 0..q_len {
            for j in 0..kv_len {
                m.push(hide(r, i, j));
            }
        }
    }
    Tensor::from_data(TensorData::new(m, [rows, 1, q_len, kv_len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::activation::softmax;

    /// The eager reference: full score matrix, masked entries at -1e9.
    fn eager(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, hidden: &[bool]) -> Tensor<4> {
        let [b, nh, sq, hd] = q.dims();
        let [_, nkv, skv, _] = k.dims();
        let rep = nh / nkv;
        let k = k
            .unsqueeze_dim::<5>(2)
            .repeat_dim(2, rep)
            .reshape([b, nh, skv, hd]);
        let v = v
            .unsqueeze_dim::<5>(2)
            .repeat_dim(2, rep)
            .reshape([b, nh, skv, hd]);
        let bias: Vec<f32> = hidden.iter().map(|&h| if h { -1e9 } else { 0.0 }).collect();
        let bias = Tensor::<4>::from_data(TensorData::new(bias, [b, 1, sq, skv]), &q.device());
        let s = q.matmul(k.swap_dims(2, 3)) * (hd as f64).powf(-0.5) + bias;
        softmax(s, 3).matmul(v)
    }

    fn max_err(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn grouped_masked_and_tiled_attention_match_the_eager_reference() {
        let device = Device::default();
        // 600 x 600 scores per head is above the single-block budget on flex, so the
        // streamed (online-softmax) path runs; 9 x 40 stays in one block.
        for (sq, skv) in [(9usize, 40usize), (600, 600)] {
            let (b, nh, nkv, hd) = (2, 4, 2, 8);
            let q = Tensor::<4>::random([b, nh, sq, hd], Distribution::Normal(0.0, 1.0), &device);
            let k = Tensor::<4>::random([b, nkv, skv, hd], Distribution::Normal(0.0, 1.0), &device);
            let v = Tensor::<4>::random([b, nkv, skv, hd], Distribution::Normal(0.0, 1.0), &device);
            let off = skv - sq;
            // Row 1 is left-padded by 3 keys; both rows causal (bottom-right aligned).
            let hide = |r: usize, i: usize, j: usize| j > i + off || (r == 1 && j < 3);
            let flags: Vec<bool> = (0..b)
                .flat_map(|r| (0..sq).flat_map(move |i| (0..skv).map(move |j| hide(r, i, j))))
                .collect();
            let mask = hidden_mask(b, sq, skv, &device, hide);
            let got = attend(q.clone(), k.clone(), v.clone(), Some(mask), false);
            // Rows with every key hidden (padding queries) come out as zeros.
            let seen: Vec<f32> = flags
                .chunks_exact(skv)
                .map(|row| if row.iter().all(|&h| h) { 0.0 } else { 1.0 })
                .collect();
            let seen = Tensor::<4>::from_data(TensorData::new(seen, [b, 1, sq, 1]), &device);
            let want = eager(q.clone(), k.clone(), v.clone(), &flags) * seen;
            let e = max_err(got, want.clone());
            assert!(e < 1e-5, "masked {sq}x{skv}: {e}");
            if sq == skv {
                let causal_only = |_r: usize, i: usize, j: usize| j > i;
                let flags: Vec<bool> = (0..b)
                    .flat_map(|r| {
                        (0..sq).flat_map(move |i| (0..skv).map(move |j| causal_only(r, i, j)))
                    })
                    .collect();
                let got = attend(q.clone(), k.clone(), v.clone(), None, true);
                let e = max_err(got, eager(q, k, v, &flags));
                assert!(e < 1e-5, "causal {sq}x{skv}: {e}");
            }
        }
    }
}
