//! Qwen2 decoder with M-RoPE (the Qwen2.5-VL language model): token embedding,
//! `num_hidden_layers` shared [`DecoderLayer`]s with biased q/k/v, final RMSNorm.
//!
//! Ports `Qwen2_5_VLTextModel`, transformers `modeling_qwen2_5_vl.py` (v4.57).

use burn::module::{Module, Param};
use burn::nn::RmsNorm;
use burn::tensor::{Device, Int, Tensor};

use crate::dtype::widen;
use crate::error::Result;
use crate::layers::cache::KvCache;
use crate::layers::decoder::{DecoderLayer, DecoderStack, KeyMask, LayerDims, TextOutput};
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
        let (h, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim());
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let eps = cfg.rms_norm_eps;
        let dims = LayerDims {
            hidden: h,
            intermediate: i,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            eps,
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
        sink.put(
            format!("{prefix}.embed_tokens.weight"),
            &self.embed_tokens.val(),
        )?;
        for (l, layer) in self.layers.iter().enumerate() {
            layer.save(sink, &format!("{prefix}.layers.{l}"))?;
        }
        sink.put_norm(&format!("{prefix}.norm"), &self.norm)
    }

    /// The text configuration.
    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Token embeddings `[batch, seq, hidden]` of ids `[batch, seq]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, s] = ids.dims();
        let h = self.config.hidden_size;
        widen(self.embed_tokens.val().select(0, ids.reshape([b * s]))).reshape([b, s, h])
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
        mut cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> TextOutput {
        let [b, s, _] = embeds.dims();
        let device = embeds.device();
        let cfg = &self.config;
        let (past, kv_len) = match cache.as_deref_mut() {
            Some(c) => {
                let shape = [b, cfg.num_key_value_heads, cfg.head_dim()];
                (c.len(), c.reserve(s, shape, &device))
            }
            None => (0, s),
        };
        let mask = KeyMask::new(key_mask, past, s, kv_len, &device);
        let mut layer_outputs = Vec::new();
        if keep_layers {
            layer_outputs.push(embeds.clone());
        }
        let mut x = embeds;
        for (l, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, l));
            x = layer.forward(x, cos, sin, &mask, c);
            if keep_layers {
                layer_outputs.push(x.clone());
            }
        }
        if let Some(c) = cache {
            c.advance(s);
        }
        TextOutput {
            last_hidden: self.norm.forward(x),
            layer_outputs,
        }
    }
}
