//! The decoder layer both families share: RMSNorm -> grouped-query attention (q/k/v bias
//! for Qwen2, per-head q/k RMSNorm for Qwen3) -> residual, RMSNorm -> SwiGLU -> residual;
//! the key mask every layer of one forward reads; hidden-state output. Around it, what both
//! decoders do alike: loading and saving the embedding + layers + norm stack, the token
//! lookup, the layer loop with its KV-cache bookkeeping, and the (tied or separate) head.
//!
//! Ports `Qwen2_5_VLDecoderLayer` / `Qwen2MLP` (`modeling_qwen2_5_vl.py`) and
//! `Qwen3VLTextDecoderLayer` (`modeling_qwen3_vl.py`), transformers v4.57.

use burn::module::{Module, Param};
use burn::nn::{Linear, RmsNorm};
use burn::tensor::{Bool, Device, Int, Tensor};

use crate::dtype::{apply_linear, widen};
use crate::error::Result;
use crate::layers::attention::Attention;
use crate::layers::cache::KvCache;
use crate::layers::gated::swiglu;
use crate::layers::sdpa::hidden_mask;
use crate::weights::{TensorSink, TensorSource, linear, matrix, rms_norm};

#[derive(Module, Debug)]
pub(crate) struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

#[derive(Module, Debug)]
pub(crate) struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: Mlp,
    pub input_layernorm: RmsNorm,
    pub post_attention_layernorm: RmsNorm,
}

/// Sizes and variant switches of one decoder layer, as both families store it.
pub(crate) struct LayerDims {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f64,
    /// Qwen2: biased q/k/v projections.
    pub qkv_bias: bool,
    /// Qwen3: per-head RMSNorm on q and k before rope.
    pub qk_norm: bool,
}

/// What both families' decoders load the same way under `prefix`: the token embedding
/// (`[vocab, hidden]`, in the held dtype), `layers` decoder layers and the final norm.
pub(crate) struct DecoderStack {
    pub embed_tokens: Param<Tensor<2>>,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
}

impl DecoderStack {
    pub(crate) fn load(
        src: &dyn TensorSource,
        prefix: &str,
        vocab: usize,
        layers: usize,
        dims: &LayerDims,
        device: &Device,
    ) -> Result<Self> {
        let embed_tokens = Param::from_tensor(matrix(
            src,
            &format!("{prefix}.embed_tokens.weight"),
            [vocab, dims.hidden],
            false,
            device,
        )?);
        let layers = (0..layers)
            .map(|l| DecoderLayer::load(src, &format!("{prefix}.layers.{l}"), dims, device))
            .collect::<Result<Vec<_>>>()?;
        let norm = rms_norm(
            src,
            &format!("{prefix}.norm"),
            dims.hidden,
            dims.eps,
            device,
        )?;
        Ok(DecoderStack {
            embed_tokens,
            layers,
            norm,
        })
    }
}

/// Writes a decoder's token embedding, layers and final norm under `prefix` with the names
/// [`DecoderStack::load`] reads.
pub(crate) fn save_stack(
    sink: &mut TensorSink,
    prefix: &str,
    embed_tokens: &Param<Tensor<2>>,
    layers: &[DecoderLayer],
    norm: &RmsNorm,
) -> Result<()> {
    sink.put(format!("{prefix}.embed_tokens.weight"), &embed_tokens.val())?;
    for (l, layer) in layers.iter().enumerate() {
        layer.save(sink, &format!("{prefix}.layers.{l}"))?;
    }
    sink.put_norm(&format!("{prefix}.norm"), norm)
}

/// Token embeddings `[batch, seq, hidden]` of ids `[batch, seq]`, widened to f32 from
/// whatever dtype `embed_tokens` (`[vocab, hidden]`) is held in.
pub(crate) fn embed_ids(embed_tokens: &Param<Tensor<2>>, ids: Tensor<2, Int>) -> Tensor<3> {
    let [b, s] = ids.dims();
    let table = embed_tokens.val();
    let [_, h] = table.dims();
    widen(table.select(0, ids.reshape([b * s]))).reshape([b, s, h])
}

/// Runs `layers` over `x` `[batch, seq, hidden]` with the rotary tables `rope` (`cos`,
/// `sin`, `[batch, 1, seq, head_dim]`). With a cache, `seq` positions for keys of
/// `kv_shape` (`[batch, kv_heads, head_dim]`) are reserved at its end first and it advances
/// after the last layer; `key_mask` is read as [`KeyMask::new`] reads it. `after_layer(l, x)`
/// sees each layer's output and returns what the next layer reads (where Qwen3-VL adds
/// DeepStack features, and both families record hidden states). Returns the last output,
/// before the final norm.
pub(crate) fn run_layers(
    layers: &[DecoderLayer],
    x: Tensor<3>,
    rope: (&Tensor<4>, &Tensor<4>),
    key_mask: &[Vec<i64>],
    kv_shape: [usize; 3],
    mut cache: Option<&mut KvCache>,
    mut after_layer: impl FnMut(usize, Tensor<3>) -> Tensor<3>,
) -> Tensor<3> {
    let [_, s, _] = x.dims();
    let device = x.device();
    let (past, kv_len) = match cache.as_deref_mut() {
        Some(c) => (c.len(), c.reserve(s, kv_shape, &device)),
        None => (0, s),
    };
    let mask = KeyMask::new(key_mask, past, s, kv_len, &device);
    let mut x = x;
    for (l, layer) in layers.iter().enumerate() {
        let c = cache.as_deref_mut().map(|c| (c, l));
        x = after_layer(l, layer.forward(x, rope.0, rope.1, &mask, c));
    }
    if let Some(c) = cache {
        c.advance(s);
    }
    x
}

/// The output projection: `Some` when the checkpoint has its own `lm_head.weight`
/// (`[vocab, hidden]`), `None` when it is tied to the token embedding.
pub(crate) fn load_lm_head(
    src: &dyn TensorSource,
    tied: bool,
    hidden: usize,
    vocab: usize,
    device: &Device,
) -> Result<Option<Linear>> {
    if tied {
        Ok(None)
    } else {
        linear(src, "lm_head", hidden, vocab, false, device).map(Some)
    }
}

/// Logits `[batch, seq, vocab]` of `hidden` through `lm_head`, or through the embedding
/// when the head is tied ([`load_lm_head`] gave `None`).
pub(crate) fn lm_head_logits(
    lm_head: Option<&Linear>,
    embed_tokens: &Param<Tensor<2>>,
    hidden: Tensor<3>,
) -> Tensor<3> {
    match lm_head {
        Some(head) => apply_linear(head, hidden),
        None => tied_logits(embed_tokens.val(), hidden),
    }
}

impl DecoderLayer {
    /// Loads the layer under `p` (`self_attn.*`, `mlp.*`, the two norms), shapes checked.
    pub(crate) fn load(
        src: &dyn TensorSource,
        p: &str,
        d: &LayerDims,
        device: &Device,
    ) -> Result<Self> {
        let (h, i, hd) = (d.hidden, d.intermediate, d.head_dim);
        let lin = |name: &str, d_in, d_out, bias| {
            linear(src, &format!("{p}.{name}"), d_in, d_out, bias, device)
        };
        let norm = |name: &str, width| rms_norm(src, &format!("{p}.{name}"), width, d.eps, device);
        let qk_norm = |name: &str| d.qk_norm.then(|| norm(name, hd)).transpose();
        Ok(DecoderLayer {
            self_attn: Attention {
                q_proj: lin("self_attn.q_proj", h, d.heads * hd, d.qkv_bias)?,
                k_proj: lin("self_attn.k_proj", h, d.kv_heads * hd, d.qkv_bias)?,
                v_proj: lin("self_attn.v_proj", h, d.kv_heads * hd, d.qkv_bias)?,
                o_proj: lin("self_attn.o_proj", d.heads * hd, h, false)?,
                q_norm: qk_norm("self_attn.q_norm")?,
                k_norm: qk_norm("self_attn.k_norm")?,
                num_heads: d.heads,
                num_kv_heads: d.kv_heads,
                head_dim: hd,
            },
            mlp: Mlp {
                gate_proj: lin("mlp.gate_proj", h, i, false)?,
                up_proj: lin("mlp.up_proj", h, i, false)?,
                down_proj: lin("mlp.down_proj", i, h, false)?,
            },
            input_layernorm: norm("input_layernorm", h)?,
            post_attention_layernorm: norm("post_attention_layernorm", h)?,
        })
    }
    /// Writes the layer under `p` with the names [`load`](Self::load) reads (biases and
    /// q/k norms when the layer has them).
    pub(crate) fn save(&self, sink: &mut TensorSink, p: &str) -> Result<()> {
        let a = &self.self_attn;
        sink.put_linear(&format!("{p}.self_attn.q_proj"), &a.q_proj)?;
        sink.put_linear(&format!("{p}.self_attn.k_proj"), &a.k_proj)?;
        sink.put_linear(&format!("{p}.self_attn.v_proj"), &a.v_proj)?;
        sink.put_linear(&format!("{p}.self_attn.o_proj"), &a.o_proj)?;
        if let Some(n) = &a.q_norm {
            sink.put_norm(&format!("{p}.self_attn.q_norm"), n)?;
        }
        if let Some(n) = &a.k_norm {
            sink.put_norm(&format!("{p}.self_attn.k_norm"), n)?;
        }
        sink.put_linear(&format!("{p}.mlp.gate_proj"), &self.mlp.gate_proj)?;
        sink.put_linear(&format!("{p}.mlp.up_proj"), &self.mlp.up_proj)?;
        sink.put_linear(&format!("{p}.mlp.down_proj"), &self.mlp.down_proj)?;
        sink.put_norm(&format!("{p}.input_layernorm"), &self.input_layernorm)?;
        sink.put_norm(
            &format!("{p}.post_attention_layernorm"),
            &self.post_attention_layernorm,
        )
    }

    /// `x + attn(norm(x))`, then `x + mlp(norm(x))`; `cache` is `(cache, layer index)`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &KeyMask,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let h = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            cos,
            sin,
            mask,
            cache,
        );
        let x = x + h;
        let y = self.post_attention_layernorm.forward(x.clone());
        let m = &self.mlp;
        x + swiglu(&m.gate_proj, &m.up_proj, &m.down_proj, y)
    }
}

/// Which keys the queries of one forward read, shared by every layer.
pub(crate) struct KeyMask {
    /// `[batch, 1, seq, kv_len]`, true = not read; `None` = no padding, nothing cached.
    pub hidden: Option<Tensor<4, Bool>>,
    /// Causal over the new positions (set when `hidden` is `None`).
    pub causal: bool,
    /// Keys/values come from the cache buffers (something was cached before this forward).
    pub reads_cache: bool,
}

impl KeyMask {
    /// `key_mask[row]` flags the `past + seq` key positions (0 = padding); keys past
    /// `past + seq` (spare cache capacity up to `kv_len`) are always hidden.
    pub(crate) fn new(
        key_mask: &[Vec<i64>],
        past: usize,
        seq: usize,
        kv_len: usize,
        device: &Device,
    ) -> Self {
        let any_pad = key_mask.iter().any(|r| r.contains(&0));
        if past == 0 && !any_pad {
            return KeyMask {
                hidden: None,
                causal: true,
                reads_cache: false,
            };
        }
        let kv_len = if past == 0 { seq } else { kv_len };
        let hidden = hidden_mask(key_mask.len(), seq, kv_len, device, |r, i, j| {
            j > past + i || key_mask[r].get(j).is_none_or(|&keep| keep == 0)
        });
        KeyMask {
            hidden: Some(hidden),
            causal: false,
            reads_cache: past > 0,
        }
    }
}

/// Hidden states of one text forward.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// After the final RMSNorm, `[batch, seq, hidden]`.
    pub last_hidden: Tensor<3>,
    /// When requested: the input embeddings followed by each layer's output (before the
    /// final norm), `[batch, seq, hidden]` each.
    pub layer_outputs: Vec<Tensor<3>>,
}

/// Logits `[batch, seq, vocab]` through a head tied to the embedding `[vocab, hidden]`.
fn tied_logits(embed: Tensor<2>, hidden: Tensor<3>) -> Tensor<3> {
    // 2-D matmul against the transposed view: no copy of an f32 embedding matrix.
    let [vocab, _] = embed.dims();
    let [b, s, h] = hidden.dims();
    let x = hidden.reshape([b * s, h]);
    #[cfg(feature = "flex")]
    if embed.dtype() != x.dtype()
        && let Some(logits) = crate::half_matmul::flex_tied_logits(&x, &embed)
    {
        return logits.reshape([b, s, vocab]);
    }
    let logits = if embed.dtype() == x.dtype() {
        x.matmul(embed.transpose())
    } else {
        // A narrow-held embedding is widened a slab of rows at a time, so no second
        // full-size f32 copy of it ever exists.
        const ROWS: usize = 16_384;
        let parts = (0..vocab)
            .step_by(ROWS)
            .map(|at| {
                let slab = widen(embed.clone().narrow(0, at, ROWS.min(vocab - at)));
                x.clone().matmul(slab.transpose())
            })
            .collect();
        Tensor::cat(parts, 1)
    };
    logits.reshape([b, s, vocab])
}
