//! Grouped-query self-attention with biased q/k/v, M-RoPE and an optional KV cache.
//!
//! Ports `Qwen2_5_VLAttention`, transformers `modeling_qwen2_5_vl.py` (v4.57), and with
//! `q_norm`/`k_norm` set `Qwen3VLTextAttention` (`modeling_qwen3_vl.py`); the score
//! computation is [`crate::layers::sdpa::attend`] (fused, no `N x N` matrix, K/V not repeated).

use burn::module::Module;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::Tensor;

use crate::dtype::apply_linear;
use crate::layers::cache::KvCache;
use crate::layers::decoder::KeyMask;
use crate::layers::rotary::apply_rotary;
use crate::layers::sdpa::attend;

#[derive(Module, Debug)]
pub(crate) struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    /// Qwen3: RMSNorm over `head_dim` of every query head, before the rotary embedding.
    pub q_norm: Option<RmsNorm>,
    /// Qwen3: the same for every key head.
    pub k_norm: Option<RmsNorm>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// `x`: `[batch, seq, hidden]`; `cos`/`sin`: `[batch, 1, seq, head_dim]`; `mask` says
    /// which keys each query reads and whether they come from the cache buffers.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &KeyMask,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let [b, s, _] = x.dims();
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let heads = |t: Tensor<3>, n: usize| t.reshape([b, s, n, hd]).swap_dims(1, 2);
        let norm = |t: Tensor<4>, n: &Option<RmsNorm>| match n {
            Some(n) => n.forward(t),
            None => t,
        };
        let q = norm(
            heads(apply_linear(&self.q_proj, x.clone()), nh),
            &self.q_norm,
        );
        let k = norm(
            heads(apply_linear(&self.k_proj, x.clone()), nkv),
            &self.k_norm,
        );
        let v = heads(apply_linear(&self.v_proj, x), nkv);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos.clone(), sin.clone());
        let (k, v) = match cache {
            Some((c, layer)) => {
                let (ck, cv) = c.write(layer, k.clone(), v.clone());
                if mask.reads_cache { (ck, cv) } else { (k, v) }
            }
            None => (k, v),
        };
        let o = attend(q, k, v, mask.hidden.clone(), mask.causal);
        apply_linear(&self.o_proj, o.swap_dims(1, 2).reshape([b, s, nh * hd]))
    }
}
