//! One vision block: RMSNorm -> (window or full) attention with 2-D rotary -> residual,
//! RMSNorm -> SwiGLU MLP with biases -> residual.
//!
//! Ports `Qwen2_5_VLVisionBlock` / `Qwen2_5_VLVisionAttention` / `Qwen2_5_VLMLP`,
//! transformers `modeling_qwen2_5_vl.py` (v4.57), eager attention.

use burn::module::Module;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::{Device, Tensor};

use crate::batch::index_tensor;
use crate::dtype::apply_linear;
use crate::error::Result;
use crate::layers::gated::swiglu;
use crate::layers::rotary::apply_rotary;
use crate::layers::sdpa::{attend, hidden_mask};
use crate::qwen2_5_vl::config::VisionConfig;
use crate::weights::{TensorSink, TensorSource, linear, rms_norm};

#[derive(Module, Debug)]
pub(crate) struct VisionAttention {
    qkv: Linear,
    proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

#[derive(Module, Debug)]
pub(crate) struct VisionMlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

#[derive(Module, Debug)]
pub(crate) struct VisionBlock {
    norm1: RmsNorm,
    norm2: RmsNorm,
    attn: VisionAttention,
    mlp: VisionMlp,
}

impl VisionBlock {
    pub fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &VisionConfig,
        device: &Device,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        let i = cfg.intermediate_size;
        let eps = 1e-6;
        Ok(VisionBlock {
            norm1: rms_norm(src, &format!("{prefix}.norm1"), h, eps, device)?,
            norm2: rms_norm(src, &format!("{prefix}.norm2"), h, eps, device)?,
            attn: VisionAttention {
                qkv: linear(src, &format!("{prefix}.attn.qkv"), h, 3 * h, true, device)?,
                proj: linear(src, &format!("{prefix}.attn.proj"), h, h, true, device)?,
                num_heads: cfg.num_heads,
                head_dim: cfg.head_dim(),
            },
            mlp: VisionMlp {
                gate_proj: linear(src, &format!("{prefix}.mlp.gate_proj"), h, i, true, device)?,
                up_proj: linear(src, &format!("{prefix}.mlp.up_proj"), h, i, true, device)?,
                down_proj: linear(src, &format!("{prefix}.mlp.down_proj"), i, h, true, device)?,
            },
        })
    }

    pub fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        sink.put_norm(&format!("{prefix}.norm1"), &self.norm1)?;
        sink.put_norm(&format!("{prefix}.norm2"), &self.norm2)?;
        sink.put_linear(&format!("{prefix}.attn.qkv"), &self.attn.qkv)?;
        sink.put_linear(&format!("{prefix}.attn.proj"), &self.attn.proj)?;
        sink.put_linear(&format!("{prefix}.mlp.gate_proj"), &self.mlp.gate_proj)?;
        sink.put_linear(&format!("{prefix}.mlp.up_proj"), &self.mlp.up_proj)?;
        sink.put_linear(&format!("{prefix}.mlp.down_proj"), &self.mlp.down_proj)
    }

    /// `x`: `[patches, hidden]` in window order; `cos`/`sin`: `[patches, 1, head_dim]`;
    /// `segments`: row spans that attend to each other.
    pub fn forward(
        &self,
        x: Tensor<2>,
        cos: &Tensor<3>,
        sin: &Tensor<3>,
        segments: &[(usize, usize)],
    ) -> Tensor<2> {
        let h = self
            .attn
            .forward(self.norm1.forward(x.clone()), cos, sin, segments);
        let x = x + h;
        let m = &self.mlp;
        let y = self.norm2.forward(x.clone());
        let y = swiglu(&m.gate_proj, &m.up_proj, &m.down_proj, y);
        x + y
    }
}

impl VisionAttention {
    fn forward(
        &self,
        x: Tensor<2>,
        cos: &Tensor<3>,
        sin: &Tensor<3>,
        segments: &[(usize, usize)],
    ) -> Tensor<2> {
        let [n, _] = x.dims();
        let (nh, hd) = (self.num_heads, self.head_dim);
        // qkv output is laid out as [3, heads, head_dim].
        let qkv = apply_linear(&self.qkv, x).reshape([n, 3, nh, hd]);
        let q = qkv.clone().narrow(1, 0, 1).reshape([n, nh, hd]);
        let k = qkv.clone().narrow(1, 1, 1).reshape([n, nh, hd]);
        let v = qkv.narrow(1, 2, 1).reshape([n, nh, hd]);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos.clone(), sin.clone());
        let o = attend_segments(q, k, v, segments);
        apply_linear(&self.proj, o)
    }
}

/// Attention of `q`/`k`/`v` (`[rows, heads, head_dim]`) within each row span of
/// `segments` (ascending, covering every row); returns `[rows, heads * head_dim]`.
///
/// One span attends as a single sequence. Several spans of similar length (the windows
/// of window blocks, or same-sized frames) run as one batch, each padded to the longest
/// span with the padding keys hidden; spans too uneven for that run one after another.
fn attend_segments(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    segments: &[(usize, usize)],
) -> Tensor<2> {
    let [n, nh, hd] = q.dims();
    let longest = segments.iter().map(|&(s, e)| e - s).max().unwrap_or(0);
    let padded = longest * segments.len();
    let as_batch =
        |t: Tensor<3>, rows: usize, len: usize| t.reshape([rows, len, nh, hd]).swap_dims(1, 2);
    let merge = |o: Tensor<4>, rows: usize| o.swap_dims(1, 2).reshape([rows, nh * hd]);
    if segments.len() <= 1 {
        return merge(
            attend(
                as_batch(q, 1, n),
                as_batch(k, 1, n),
                as_batch(v, 1, n),
                None,
                false,
            ),
            n,
        );
    }
    if padded > 2 * n {
        let outs = segments
            .iter()
            .map(|&(s, e)| {
                let part = |t: &Tensor<3>| as_batch(t.clone().narrow(0, s, e - s), 1, e - s);
                merge(attend(part(&q), part(&k), part(&v), None, false), e - s)
            })
            .collect();
        return Tensor::cat(outs, 0);
    }
    let device = q.device();
    // Gather rows into [segments, longest] slots (padding slots repeat the span's first row)
    // and remember where each row landed.
    let mut gather = Vec::with_capacity(padded);
    let mut slot_of_row = vec![0; n];
    for (w, &(s, e)) in segments.iter().enumerate() {
        for j in 0..longest {
            let row = if s + j < e { s + j } else { s };
            gather.push(row);
            if s + j < e {
                slot_of_row[s + j] = w * longest + j;
            }
        }
    }
    let idx = index_tensor(&gather, &device);
    let part = |t: Tensor<3>| as_batch(t.select(0, idx.clone()), segments.len(), longest);
    let hidden = (padded > n).then(|| {
        hidden_mask(segments.len(), longest, longest, &device, |w, _, j| {
            j >= segments[w].1 - segments[w].0
        })
    });
    let o = attend(part(q), part(k), part(v), hidden, false);
    merge(o, padded).select(0, index_tensor(&slot_of_row, &device))
}
