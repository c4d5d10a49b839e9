//! `PatchMerger`: RMSNorm (`ln_q`), join each 2x2 group of consecutive patch rows, then
//! Linear -> GELU (exact) -> Linear into the language model's width.
//!
//! Ports `Qwen2_5_VLPatchMerger`, transformers `modeling_qwen2_5_vl.py` (v4.57).

use burn::module::Module;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use crate::dtype::apply_linear;
use crate::error::Result;
use crate::qwen2_5_vl::config::VisionConfig;
use crate::weights::{TensorSink, TensorSource, linear, rms_norm};

#[derive(Module, Debug)]
pub(crate) struct PatchMerger {
    ln_q: RmsNorm,
    /// HF `mlp.0`.
    mlp0: Linear,
    /// HF `mlp.2` (index 1 is the parameter-free GELU).
    mlp2: Linear,
    merged_dim: usize,
}

impl PatchMerger {
    pub fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &VisionConfig,
        device: &Device,
    ) -> Result<Self> {
        let merged = cfg.hidden_size * cfg.merge_unit();
        Ok(PatchMerger {
            ln_q: rms_norm(
                src,
                &format!("{prefix}.ln_q"),
                cfg.hidden_size,
                1e-6,
                device,
            )?,
            mlp0: linear(
                src,
                &format!("{prefix}.mlp.0"),
                merged,
                merged,
                true,
                device,
            )?,
            mlp2: linear(
                src,
                &format!("{prefix}.mlp.2"),
                merged,
                cfg.out_hidden_size,
                true,
                device,
            )?,
            merged_dim: merged,
        })
    }

    pub fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        sink.put_norm(&format!("{prefix}.ln_q"), &self.ln_q)?;
        sink.put_linear(&format!("{prefix}.mlp.0"), &self.mlp0)?;
        sink.put_linear(&format!("{prefix}.mlp.2"), &self.mlp2)
    }

    /// `[patches, hidden]` -> `[patches / merge_unit, out_hidden]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, h] = x.dims();
        let groups = n * h / self.merged_dim;
        let x = self.ln_q.forward(x).reshape([groups, self.merged_dim]);
        apply_linear(&self.mlp2, gelu(apply_linear(&self.mlp0, x)))
    }
}
