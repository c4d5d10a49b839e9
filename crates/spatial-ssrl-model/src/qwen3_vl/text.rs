//! Qwen3-VL language model: a Qwen3 decoder (bias-free projections, per-head q/k RMSNorm
//! before the rotary embedding, `head_dim * heads` independent of `hidden_size`) with
//! interleaved M-RoPE, DeepStack features added to the image-token rows after the first
//! layers, and a tied or separate output head.
//!
//! Ports `Qwen3VLTextModel` / `Qwen3VLTextDecoderLayer`, transformers `modeling_qwen3_vl.py`
//! (v4.57). The decoder layer, attention, KV cache and M-RoPE tables are the crate's shared
//! ones (`crate::layers`), configured for Qwen3.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::index_tensor;
use crate::error::{Error, Result};
use crate::layers::cache::KvCache;
use crate::layers::decoder::{
    DecoderLayer, DecoderStack, LayerDims, embed_ids, lm_head_logits, load_lm_head, run_layers,
    save_stack,
};
use crate::layers::mrope::MropeLayout;
use crate::qwen3_vl::config::Qwen3VlTextConfig;
use crate::weights::{Checkpoint, TensorSink, TensorSource};

/// DeepStack features to add inside the decoder: `features[k]` (`[rows, hidden]`) is added
/// after layer `k` to the flattened `batch * seq` rows listed in `rows`, in order.
#[derive(Debug, Clone)]
pub struct DeepstackInput {
    /// Flat indices (`row * seq + position`) of the image tokens, in feature order.
    pub rows: Vec<usize>,
    /// One feature matrix per DeepStack level, `[rows.len(), hidden]` each.
    pub features: Vec<Tensor<2>>,
}

/// Hidden states of one Qwen3 decoder forward.
#[derive(Debug, Clone)]
pub struct Qwen3TextOutput {
    /// After the final RMSNorm, `[batch, seq, hidden]`.
    pub last_hidden: Tensor<3>,
    /// When requested: each layer's output BEFORE its DeepStack addition.
    pub layer_outputs: Vec<Tensor<3>>,
    /// When requested: HF `output_hidden_states` (the input embeddings, then the residual
    /// stream after each layer including DeepStack; the last one not normed, as in 4.57).
    pub hidden_states: Vec<Tensor<3>>,
}

/// The Qwen3-VL language model (HF `model.language_model.*` plus `lm_head`).
#[derive(Module, Debug)]
pub struct Qwen3TextModel {
    /// `[vocab, hidden]`.
    embed_tokens: Param<Tensor<2>>,
    layers: Vec<DecoderLayer>,
    norm: burn::nn::RmsNorm,
    /// `None` when the head is tied to `embed_tokens`.
    lm_head: Option<Linear>,
    #[module(skip)]
    config: Qwen3VlTextConfig,
}

impl Qwen3TextModel {
    /// Loads the decoder from an opened checkpoint (HF names under
    /// `model.language_model.`, `lm_head.weight` unless `tied`), shapes checked.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        cfg: &Qwen3VlTextConfig,
        tied: bool,
        device: &Device,
    ) -> Result<Self> {
        Self::load(checkpoint, "model.language_model", tied, cfg, device)
    }

    pub(crate) fn load(
        src: &dyn TensorSource,
        prefix: &str,
        tied: bool,
        cfg: &Qwen3VlTextConfig,
        device: &Device,
    ) -> Result<Self> {
        let dims = LayerDims {
            hidden: cfg.hidden_size,
            intermediate: cfg.intermediate_size,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            eps: cfg.rms_norm_eps,
            qkv_bias: false,
            qk_norm: true,
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
        let lm_head = load_lm_head(src, tied, cfg.hidden_size, cfg.vocab_size, device)?;
        Ok(Qwen3TextModel {
            embed_tokens,
            layers,
            norm,
            lm_head,
            config: cfg.clone(),
        })
    }

    /// Writes the decoder under `prefix` (and `lm_head` when untied) with the names
    /// [`load`](Self::load) reads.
    pub(crate) fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        save_stack(sink, prefix, &self.embed_tokens, &self.layers, &self.norm)?;
        match &self.lm_head {
            Some(head) => sink.put_linear("lm_head", head),
            None => Ok(()),
        }
    }

    /// The parameters' device.
    pub(crate) fn device(&self) -> Device {
        self.embed_tokens.val().device()
    }

    /// The dtype the embedding (and the projection matrices) are held in.
    pub(crate) fn weight_dtype(&self) -> burn::tensor::DType {
        self.embed_tokens.val().dtype()
    }

    /// The text configuration.
    pub fn config(&self) -> &Qwen3VlTextConfig {
        &self.config
    }

    /// Token embeddings `[batch, seq, hidden]` of ids `[batch, seq]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        embed_ids(&self.embed_tokens, ids)
    }

    /// Interleaved M-RoPE `cos`/`sin` tables `[batch, 1, seq, head_dim]` for positions
    /// `[3, batch, seq]` (row-major).
    pub fn rope_tables(
        &self,
        positions: &[i64],
        batch: usize,
        seq: usize,
        device: &Device,
    ) -> Result<(Tensor<4>, Tensor<4>)> {
        if positions.len() != 3 * batch * seq {
            return Err(Error::BadInput(format!(
                "{} position ids for 3 x {batch} x {seq}",
                positions.len()
            )));
        }
        let cfg = &self.config;
        let layout = MropeLayout {
            head_dim: cfg.head_dim,
            theta: cfg.rope_theta,
            section: cfg.mrope_section,
            interleaved: cfg.mrope_interleaved,
        };
        Ok(layout.tables(positions, batch, seq, device))
    }

    /// Runs the decoder over `embeds` `[batch, seq, hidden]` at M-RoPE `positions`
    /// `[3, batch, seq]`; `key_mask[row]` flags the `past + seq` keys (0 = padding),
    /// queries are causal; an optional cache is written at its end. DeepStack features are
    /// added after the first layers; `keep_layers` also returns per-layer states.
    pub fn forward(
        &self,
        embeds: Tensor<3>,
        positions: &[i64],
        key_mask: &[Vec<i64>],
        deepstack: Option<&DeepstackInput>,
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> Result<Qwen3TextOutput> {
        let [b, s, h] = embeds.dims();
        let device = embeds.device();
        let cfg = &self.config;
        if key_mask.len() != b {
            return Err(Error::BadInput(format!(
                "{} key-mask rows for a batch of {b}",
                key_mask.len()
            )));
        }
        let deep_rows = match deepstack {
            Some(d) => {
                if d.features.len() > self.layers.len() || d.rows.iter().any(|&r| r >= b * s) {
                    return Err(Error::BadInput(format!(
                        "{} DeepStack levels / rows beyond {b} x {s} tokens",
                        d.features.len()
                    )));
                }
                if let Some(f) = d.features.iter().find(|f| f.dims() != [d.rows.len(), h]) {
                    return Err(Error::BadInput(format!(
                        "DeepStack feature {:?} for {} image rows of width {h}",
                        f.dims(),
                        d.rows.len()
                    )));
                }
                Some(index_tensor(&d.rows, &device))
            }
            None => None,
        };
        let (cos, sin) = self.rope_tables(positions, b, s, &device)?;
        let kv_shape = [b, cfg.num_key_value_heads, cfg.head_dim];
        let mut layer_outputs = Vec::new();
        let mut hidden_states = Vec::new();
        if keep_layers {
            hidden_states.push(embeds.clone());
        }
        let after_layer = |l: usize, mut x: Tensor<3>| {
            if keep_layers {
                layer_outputs.push(x.clone());
            }
            if let (Some(d), Some(idx)) = (deepstack, &deep_rows)
                && let Some(f) = d.features.get(l)
            {
                let flat = x.reshape([b * s, h]).select_assign(
                    0,
                    idx.clone(),
                    f.clone(),
                    burn::tensor::IndexingUpdateOp::Add,
                );
                x = flat.reshape([b, s, h]);
            }
            if keep_layers {
                hidden_states.push(x.clone());
            }
            x
        };
        let x = run_layers(
            &self.layers,
            embeds,
            (&cos, &sin),
            key_mask,
            kv_shape,
            cache,
            after_layer,
        );
        Ok(Qwen3TextOutput {
            last_hidden: self.norm.forward(x),
            layer_outputs,
            hidden_states,
        })
    }

    /// Projects hidden states `[batch, seq, hidden]` to logits `[batch, seq, vocab]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        lm_head_logits(self.lm_head.as_ref(), &self.embed_tokens, hidden)
    }

    /// Token embeddings of `ids` (one row) with `image_embeds` written, in order, over the
    /// positions holding `image_token_id`; also returns those flat positions.
    pub fn splice_image_embeds(
        &self,
        ids: &[i64],
        image_token_id: i64,
        image_embeds: Tensor<2>,
    ) -> Result<(Tensor<3>, Vec<usize>)> {
        let device = image_embeds.device();
        let rows: Vec<usize> = (0..ids.len())
            .filter(|&i| ids[i] == image_token_id)
            .collect();
        let [m, h] = image_embeds.dims();
        if rows.len() != m || h != self.config.hidden_size {
            return Err(Error::BadInput(format!(
                "{} image tokens in the prompt but {m} image embeddings of width {h}",
                rows.len()
            )));
        }
        let ids_t =
            Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
        let x = self.embed(ids_t).reshape([ids.len(), h]);
        let x = x.select_assign(
            0,
            index_tensor(&rows, &device),
            image_embeds,
            burn::tensor::IndexingUpdateOp::Assign,
        );
        Ok((x.reshape([1, ids.len(), h]), rows))
    }
}
