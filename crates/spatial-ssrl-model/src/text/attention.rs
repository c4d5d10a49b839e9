//! Grouped-query self-attention with biased q/k/v, M-RoPE and an optional KV cache.
//!
//! Ports `Qwen2_5_VLAttention` (eager path), transformers `modeling_qwen2_5_vl.py` (v4.57).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use crate::text::cache::KvCache;
use crate::vision::apply_rotary;

#[derive(Module, Debug)]
pub(crate) struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// `x`: `[batch, seq, hidden]`; `cos`/`sin`: `[batch, 1, seq, head_dim]`;
    /// `mask`: additive `[batch, 1, seq, kv_len]` (0 or a large negative), or none.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: Option<&Tensor<4>>,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let [b, s, _] = x.dims();
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let q = self
            .q_proj
            .forward(x.clone())
            .reshape([b, s, nh, hd])
            .swap_dims(1, 2);
        let k = self
            .k_proj
            .forward(x.clone())
            .reshape([b, s, nkv, hd])
            .swap_dims(1, 2);
        let v = self
            .v_proj
            .forward(x)
            .reshape([b, s, nkv, hd])
            .swap_dims(1, 2);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos.clone(), sin.clone());
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v),
            None => (k, v),
        };
        let kv_len = k.dims()[2];
        let rep = nh / nkv;
        // Query head j reads kv head j / rep (HF `repeat_kv`).
        let (k, v) = if rep > 1 {
            (
                k.unsqueeze_dim::<5>(2)
                    .repeat_dim(2, rep)
                    .reshape([b, nh, kv_len, hd]),
                v.unsqueeze_dim::<5>(2)
                    .repeat_dim(2, rep)
                    .reshape([b, nh, kv_len, hd]),
            )
        } else {
            (k, v)
        };
        let mut scores = q.matmul(k.swap_dims(2, 3)) * (hd as f64).powf(-0.5);
        if let Some(m) = mask {
            scores = scores + m.clone();
        }
        let o = softmax(scores, 3).matmul(v);
        self.o_proj
            .forward(o.swap_dims(1, 2).reshape([b, s, nh * hd]))
    }
}
