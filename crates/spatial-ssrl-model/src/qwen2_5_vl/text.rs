//! Qwen2 decoder with M-RoPE (the Qwen2.5-VL language model): token embedding,
//! `num_hidden_layers` shared [`DecoderLayer`]s with biased q/k/v, final RMSNorm.
//!
//! Ports `Qwen2_5_VLTextModel`, transformers `modeling_qwen2_5_vl.py` (v4.57).

use burn::module::{Module, Param};
use burn::nn::RmsNorm;
use burn::tensor::{Device, Int, Tensor};

use crate::error::Result;
use crate::layers::cache::KvCache;
use crate::layers::decoder::{
    DecoderLayer, DecoderStack, LayerDims, TextOutput, embed_ids, run_layers, save_stack,
};
use crate::qwen2_5_vl::config::TextConfig;
use crate::weights::{TensorSink, TensorSource};

/// The language model body (HF `model.*` / `model.language_model.*`).
#[derive(Module, Debug)]
pub struct TextModel {
    /// `[vocab, hidden]`.
    pub(crate) embed_tokens: Param<Tensor<2>>,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    #[module(skip)]
    config: TextConfig,
}

impl TextModel {
    pub(crate) fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &TextConfig,
        device: &Device,
    ) -> Result<Self> {
        let dims = LayerDims {
            hidden: cfg.hidden_size,
            intermediate: cfg.intermediate_size,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim(),
            eps: cfg.rms_norm_eps,
            qkv_bias: true,
            qk_norm: false,
        };
        let DecoderStack {
            embed_tokens,
            layers,
            norm,
        } = DecoderStack::load(
            src,
            prefix,
            cfg.vocab_size,
            cfg.num_hidden_layers,
            &dims,
            device,
        )?;
        Ok(TextModel {
            embed_tokens,
            layers,
            norm,
            config: cfg.clone(),
        })
    }

    pub(crate) fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        save_stack(sink, prefix, &self.embed_tokens, &self.layers, &self.norm)
    }

    /// The text configuration.
    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Token embeddings `[batch, seq, hidden]` of ids `[batch, seq]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        embed_ids(&self.embed_tokens, ids)
    }

    /// Runs the decoder over `embeds` `[batch, seq, hidden]` with M-RoPE tables
    /// `[batch, 1, seq, head_dim]`; `key_mask[row]` flags the `past + seq` keys (0 =
    /// padding), queries are causal; an optional cache is written at its end.
    pub(crate) fn forward(
        &self,
        embeds: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        key_mask: &[Vec<i64>],
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> TextOutput {
        let [b, _, _] = embeds.dims();
        let cfg = &self.config;
        let kv_shape = [b, cfg.num_key_value_heads, cfg.head_dim()];
        let mut layer_outputs = Vec::new();
        if keep_layers {
            layer_outputs.push(embeds.clone());
        }
        let x = run_layers(
            &self.layers,
            embeds,
            (cos, sin),
            key_mask,
            kv_shape,
            cache,
            |_, x| {
                if keep_layers {
                    layer_outputs.push(x.clone());
                }
                x
            },
        );
        TextOutput {
            last_hidden: self.norm.forward(x),
            layer_outputs,
        }
    }
}
