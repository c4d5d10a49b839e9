//! One vision block: RMSNorm -> (window or full) attention with 2-D rotary -> residual,
//! RMSNorm -> SwiGLU MLP with biases -> residual.
//!
//! Ports `Qwen2_5_VLVisionBlock` / `Qwen2_5_VLVisionAttention` / `Qwen2_5_VLMLP`,
//! transformers `modeling_qwen2_5_vl.py` (v4.57), eager attention.

use burn::module::Module;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor};

use crate::config::VisionConfig;
use crate::error::Result;
use crate::weights::{TensorSink, TensorSource, linear, rms_norm};

/// `x * cos + rotate_half(x) * sin`, with `rotate_half(x) = cat(-x2, x1)` over the last dim.
pub(crate) fn apply_rotary<const D: usize>(
    x: Tensor<D>,
    cos: Tensor<D>,
    sin: Tensor<D>,
) -> Tensor<D> {
    let d = x.dims()[D - 1];
    let x1 = x.clone().narrow(D - 1, 0, d / 2);
    let x2 = x.clone().narrow(D - 1, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], D - 1);
    x * cos + rotated * sin
}

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
        let y = m
            .down_proj
            .forward(silu(m.gate_proj.forward(y.clone())) * m.up_proj.forward(y));
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
        let qkv = self.qkv.forward(x).reshape([n, 3, nh, hd]);
        let q = qkv.clone().narrow(1, 0, 1).reshape([n, nh, hd]);
        let k = qkv.clone().narrow(1, 1, 1).reshape([n, nh, hd]);
        let v = qkv.narrow(1, 2, 1).reshape([n, nh, hd]);
        let q = apply_rotary(q, cos.clone(), sin.clone()).swap_dims(0, 1);
        let k = apply_rotary(k, cos.clone(), sin.clone()).swap_dims(0, 1);
        let v = v.swap_dims(0, 1);
        let scale = (hd as f64).powf(-0.5);
        let outs: Vec<Tensor<3>> = segments
            .iter()
            .map(|&(s, e)| {
                let qs = q.clone().narrow(1, s, e - s);
                let ks = k.clone().narrow(1, s, e - s);
                let vs = v.clone().narrow(1, s, e - s);
                let w = softmax(qs.matmul(ks.swap_dims(1, 2)) * scale, 2);
                w.matmul(vs)
            })
            .collect();
        let o = if outs.len() == 1 {
            outs.into_iter().next().expect("one segment")
        } else {
            Tensor::cat(outs, 1)
        };
        self.proj.forward(o.swap_dims(0, 1).reshape([n, nh * hd]))
    }
}
