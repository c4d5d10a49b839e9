//! Memory model of a GRPO step on one device: bytes for weights, f32 master weights,
//! gradients, AdamW state, the KL reference, training activations (with and without
//! gradient checkpointing), the log-prob head, and the KV cache of a rollout call, for a
//! Qwen2.5-VL configuration and the run's batch settings (the `memory_plan` example prints the table for 3B and 7B).
//!
//! The counts follow this implementation, not PyTorch's: parameters as the model crate
//! builds them (projection matrices and the token embedding in the held dtype; biases,
//! norms and the patch embedding in f32), activations and the KV cache in f32 (a narrow
//! weight is widened for its own product), gradients widened to f32 and accumulated in
//! f32 ([`widen_grads`](crate::widen_grads)), and burn's autodiff keeping every tensor a
//! backward step reads. The step's peak is the largest of its phases: rollout (KV cache),
//! behaviour/reference log-probs (no graph), the update (gradients plus the graph of one
//! micro-batch or, with tied embeddings, the embedding's second gradient at the backward's
//! end) and the optimiser step (a second copy of the weights while they are replaced).
//! Checked against the peak resident set of real-width CPU steps (`tests/memory.rs`).

use serde::Serialize;
use spatial_ssrl_model::{Qwen2_5VlConfig, WeightDtype};

use crate::config::ModelConfig;
use crate::error::Result;
use crate::grpo::GrpoConfig;

/// Parameter counts of a Qwen2.5-VL model, split as the model crate holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ParamCounts {
    /// Language-model projection matrices and the token embedding (and an untied LM head):
    /// held in `model.dtype`.
    pub text_matrices: u64,
    /// Language-model biases and norm weights (always f32).
    pub text_other: u64,
    /// Vision tower and merger projection matrices (held in `model.dtype`).
    pub vision_matrices: u64,
    /// Vision biases, norms and the patch embedding (always f32).
    pub vision_other: u64,
}

impl ParamCounts {
    /// Counts the parameters `config` builds.
    pub fn of(config: &Qwen2_5VlConfig) -> ParamCounts {
        let t = &config.text;
        let (h, i, v) = (
            t.hidden_size as u64,
            t.intermediate_size as u64,
            t.vocab_size as u64,
        );
        let kv = (t.num_key_value_heads * t.head_dim()) as u64;
        let layers = t.num_hidden_layers as u64;
        // q, k, v (with bias), o (no bias), gate/up/down (no bias); two norms.
        let layer_matrices = h * h + 2 * h * kv + h * h + 3 * h * i;
        let layer_other = h + 2 * kv + 2 * h;
        let head = if t.tie_word_embeddings { 0 } else { v * h };
        let vis = &config.vision;
        let (hv, iv) = (vis.hidden_size as u64, vis.intermediate_size as u64);
        let blocks = vis.depth as u64;
        let merged = hv * vis.merge_unit() as u64;
        let out = vis.out_hidden_size as u64;
        // qkv + proj, gate/up/down, all with bias; two norms.
        let block_matrices = 3 * hv * hv + hv * hv + 3 * hv * iv;
        let block_other = 3 * hv + hv + 2 * iv + hv + 2 * hv;
        ParamCounts {
            text_matrices: v * h + layers * layer_matrices + head,
            text_other: layers * layer_other + h,
            vision_matrices: blocks * block_matrices + merged * merged + merged * out,
            vision_other: vis.patch_dim() as u64 * hv + blocks * block_other + hv + merged + out,
        }
    }

    /// Every parameter.
    pub fn total(&self) -> u64 {
        self.text_matrices + self.text_other + self.vision_matrices + self.vision_other
    }

    /// Parameters held in `model.dtype` (the rest are f32).
    pub fn matrices(&self) -> u64 {
        self.text_matrices + self.vision_matrices
    }
}

/// What a GRPO step holds: the model, its precision and the batch shapes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryInputs {
    /// Parameter counts ([`ParamCounts::of`]).
    pub params: ParamCounts,
    /// Language-model shape: hidden size, intermediate size, layers, heads, KV heads, head
    /// dim, vocabulary.
    pub text: LayerShape,
    /// The LM head is the token embedding (`tie_word_embeddings`), so its gradient is the sum
    /// of the head's and the lookup's.
    pub tied_embeddings: bool,
    /// Vision shape (same fields; `vocab` unused).
    pub vision: LayerShape,
    /// Bytes of one held matrix element (2 for bf16/f16, 4 for f32).
    pub weight_bytes: u64,
    /// The vision tower is frozen (no gradients or optimiser state for it).
    pub freeze_vision_tower: bool,
    /// A KL reference copy is held (`use_kl_loss`).
    pub kl_reference: bool,
    /// Gradient checkpointing (burn's balanced strategy).
    pub gradient_checkpointing: bool,
    /// Prompt tokens per sequence (text plus merged image tokens).
    pub prompt_tokens: u64,
    /// Vision patches per prompt (before the 2x2 merge; 0 without images).
    pub image_patches: u64,
    /// Response tokens per sequence (`max_new_tokens`).
    pub response_tokens: u64,
    /// Sequences per generation call (`rollout_micro_batch_size`, or the whole rollout).
    pub rollout_batch: u64,
    /// Responses per backward pass (`micro_batch_size`).
    pub micro_batch: u64,
    /// Rows per behaviour/reference log-prob forward (the trainer scores 4 micro-batches).
    pub log_prob_batch: u64,
    /// Micro-batches accumulated per optimiser step (more than one keeps an accumulator).
    pub micro_batches_per_update: u64,
}

impl MemoryInputs {
    /// The inputs of a GRPO run: `model` (its `dtype` as held, `freeze_vision_tower`,
    /// `enable_gradient_checkpointing`) of shape `config`, with `grpo`'s batch settings, for
    /// prompts of `prompt_tokens` tokens of which `image_tokens` are merged image tokens.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown `model.dtype`.
    pub fn for_run(
        config: &Qwen2_5VlConfig,
        model: &ModelConfig,
        grpo: &GrpoConfig,
        prompt_tokens: u64,
        image_tokens: u64,
    ) -> Result<MemoryInputs> {
        let weight_bytes = match model.weight_dtype()? {
            WeightDtype::F32 => 4,
            WeightDtype::Bf16 | WeightDtype::F16 => 2,
            // The released checkpoints store bf16.
            WeightDtype::Auto => match config.torch_dtype.as_deref() {
                Some("float32") => 4,
                _ => 2,
            },
        };
        let sequences = (grpo.rollout_batch_size * grpo.n) as u64;
        let micro = grpo.micro_batch_size.max(1) as u64;
        let mini = (grpo.global_batch_size * grpo.n) as u64;
        Ok(MemoryInputs {
            params: ParamCounts::of(config),
            text: LayerShape::text(config),
            tied_embeddings: config.text.tie_word_embeddings,
            vision: LayerShape::vision(config),
            weight_bytes,
            freeze_vision_tower: model.freeze_vision_tower,
            kl_reference: grpo.use_kl_loss,
            gradient_checkpointing: model.enable_gradient_checkpointing,
            prompt_tokens,
            image_patches: image_tokens * config.vision.merge_unit() as u64,
            response_tokens: grpo.sampling.max_new_tokens as u64,
            rollout_batch: grpo
                .rollout_micro_batch_size
                .map_or(sequences, |m| m as u64)
                .min(sequences),
            micro_batch: micro.min(mini),
            log_prob_batch: (4 * micro).min(sequences),
            micro_batches_per_update: mini.div_ceil(micro),
        })
    }
}

/// The dimensions of one transformer stack that its activations scale with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerShape {
    /// Hidden size.
    pub hidden: u64,
    /// MLP intermediate size.
    pub intermediate: u64,
    /// Layers (blocks).
    pub layers: u64,
    /// Query heads.
    pub heads: u64,
    /// Key/value heads.
    pub kv_heads: u64,
    /// Head dimension.
    pub head_dim: u64,
    /// Vocabulary (the log-prob head's width; 0 for the vision tower).
    pub vocab: u64,
}

impl LayerShape {
    /// The language model's shape.
    pub fn text(config: &Qwen2_5VlConfig) -> LayerShape {
        let t = &config.text;
        LayerShape {
            hidden: t.hidden_size as u64,
            intermediate: t.intermediate_size as u64,
            layers: t.num_hidden_layers as u64,
            heads: t.num_attention_heads as u64,
            kv_heads: t.num_key_value_heads as u64,
            head_dim: t.head_dim() as u64,
            vocab: t.vocab_size as u64,
        }
    }

    /// The vision tower's shape (every query head has its own K/V).
    pub fn vision(config: &Qwen2_5VlConfig) -> LayerShape {
        let v = &config.vision;
        LayerShape {
            hidden: v.hidden_size as u64,
            intermediate: v.intermediate_size as u64,
            layers: v.depth as u64,
            heads: v.num_heads as u64,
            kv_heads: v.num_heads as u64,
            head_dim: v.head_dim() as u64,
            vocab: 0,
        }
    }

    /// f32 values autodiff keeps per token and layer, for a sequence of `seq` tokens.
    ///
    /// Read off the layer's forward: the residual input, RMSNorm's normalised value and
    /// scaled output (two norms), the q/k/v projections and their rotary copies, K/V
    /// repeated per query head (burn differentiates the decomposed attention), the scores,
    /// their softmax and its exp (`heads x seq` each), the attention output and o_proj input,
    /// the MLP's gate, up, activation and product (`4 x intermediate`), and the second
    /// residual. With balanced checkpointing the memory-bound values (norms, rotary copies,
    /// softmax internals, activation and product) are recomputed: the matmul inputs stay.
    fn saved_per_token(&self, seq: u64, checkpointing: bool) -> u64 {
        let (h, i) = (self.hidden, self.intermediate);
        let q = self.heads * self.head_dim;
        let kv = self.kv_heads * self.head_dim;
        let scores = self.heads * seq;
        if checkpointing {
            // Matmul inputs: normed inputs (2h), q/k/v (q + 2kv), repeated K/V (2q), softmax
            // output (scores), attention output (q), MLP input to down (i) and gate/up (2i).
            2 * h + 3 * q + 2 * kv + 2 * q + scores + 3 * i + h
        } else {
            // Residuals and norms (6h), q/k/v and rotary copies (2q + 4kv), repeated K/V
            // (2q), three score-sized tensors, attention out + o_proj input (2q), MLP (4i).
            6 * h + 2 * q + 4 * kv + 2 * q + 3 * scores + 2 * q + 4 * i
        }
    }
}

/// Bytes per part of a GRPO step, and the peak ([`MemoryEstimate::peak`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemoryEstimate {
    /// The policy's weights (matrices in the held dtype, the rest f32).
    pub weights: u64,
    /// f32 master copies of the narrow trainable weights (0 for an f32 policy).
    pub master_weights: u64,
    /// AdamW first and second moments (f32) of the trainable weights.
    pub optimizer: u64,
    /// f32 gradients of the trainable weights (one copy: the accumulated gradients the
    /// optimiser steps with).
    pub gradients: u64,
    /// The micro-batch's own gradients while they are added to the accumulator (0 when one
    /// micro-batch makes the whole update).
    pub gradient_accumulation: u64,
    /// The KL reference copy (0 without a KL term).
    pub reference: u64,
    /// Activations autodiff keeps for one micro-batch (decoder plus vision tower).
    pub activations: u64,
    /// The log-prob head of one micro-batch: logits over the vocabulary for every response
    /// position, the log-softmax and what its backward reads.
    pub log_prob_head: u64,
    /// KV cache of one rollout call (f32 keys and values for every layer and position).
    pub kv_cache: u64,
    /// Tied embeddings only: the lookup's dense `vocab x hidden` f32 gradient, held at the end
    /// of each backward while it is added to the head's (the activations are gone by then).
    pub embedding_grad_sum: u64,
    /// Rollout: the last-position logits and one layer's prefill intermediates.
    pub rollout_transient: u64,
    /// Behaviour/reference scoring (no graph): the head's log-softmax and the entropy's
    /// `exp(logp)` for `log_prob_batch` rows, plus one layer's intermediates.
    pub scoring_transient: u64,
}

/// Full-vocabulary tensors per response position the training head keeps: logits, the
/// tempered logits, the log-softmax (its max-shifted input, exp and output) and the
/// entropy's `exp(logp)` and product.
const HEAD_COPIES: u64 = 6;

/// Full-vocabulary tensors per position alive at once when scoring without a graph: the
/// log-softmax and the entropy's `exp(logp)`. Without a graph nothing else holds the logits,
/// so burn's flex backend writes the tempering, the shift and the product in place (it
/// reuses a uniquely held buffer); measured on the real-width check (`tests/memory.rs`).
const SCORING_COPIES: u64 = 2;

impl MemoryInputs {
    /// The estimate for these inputs.
    pub fn estimate(&self) -> MemoryEstimate {
        let p = &self.params;
        let vision_trainable = !self.freeze_vision_tower;
        let trainable_matrices = p.text_matrices
            + if vision_trainable {
                p.vision_matrices
            } else {
                0
            };
        let trainable =
            trainable_matrices + p.text_other + if vision_trainable { p.vision_other } else { 0 };
        let weights = p.matrices() * self.weight_bytes + (p.total() - p.matrices()) * 4;
        let master_weights = if self.weight_bytes < 4 {
            trainable_matrices * 4
        } else {
            0
        };
        let seq = self.prompt_tokens + self.response_tokens;
        let rows = self.micro_batch;
        let ck = self.gradient_checkpointing;
        let text = rows * seq * self.text.layers * self.text.saved_per_token(seq, ck);
        let patches = self.image_patches;
        let vision = rows * patches * self.vision.layers * self.vision.saved_per_token(patches, ck);
        let head = rows * self.response_tokens * self.text.vocab * HEAD_COPIES * 4;
        let t = &self.text;
        let kv_cache = 2 * t.layers * self.rollout_batch * t.kv_heads * t.head_dim * seq * 4;
        let prefill =
            self.rollout_batch * self.prompt_tokens * (3 * t.hidden + 3 * t.intermediate) * 4;
        MemoryEstimate {
            weights,
            master_weights,
            optimizer: trainable * 8,
            gradients: trainable * 4,
            gradient_accumulation: if self.micro_batches_per_update > 1 {
                trainable * 4
            } else {
                0
            },
            reference: if self.kl_reference { weights } else { 0 },
            activations: (text + vision) * 4,
            log_prob_head: head,
            kv_cache,
            embedding_grad_sum: if self.tied_embeddings {
                t.vocab * t.hidden * 4
            } else {
                0
            },
            rollout_transient: prefill + self.rollout_batch * t.vocab * 4 * 2,
            scoring_transient: self.log_prob_batch
                * (self.response_tokens * t.vocab * SCORING_COPIES
                    + seq * (3 * t.hidden + 3 * t.intermediate))
                * 4,
        }
    }
}

impl MemoryEstimate {
    /// What every phase holds: weights, master copies, AdamW state and the reference.
    pub fn resident(&self) -> u64 {
        self.weights + self.master_weights + self.optimizer + self.reference
    }

    /// Peak of the rollout phase.
    pub fn rollout_peak(&self) -> u64 {
        self.resident() + self.kv_cache + self.rollout_transient
    }

    /// Peak of the behaviour/reference log-prob phase.
    pub fn scoring_peak(&self) -> u64 {
        self.resident() + self.scoring_transient
    }

    /// Peak of the update phase: one micro-batch's gradients and the accumulator, with either
    /// the graph (early in the backward) or, with tied embeddings, the lookup's gradient being
    /// summed into the head's (its end; measured as the peak on the real-width check).
    pub fn update_peak(&self) -> u64 {
        self.resident()
            + self.gradients
            + self.gradient_accumulation
            + (self.activations + self.log_prob_head).max(self.embedding_grad_sum)
    }

    /// Peak of the optimiser step: the new weights are built while the old are held, and
    /// each parameter's gradient is dropped as its new value is made (burn's optimiser
    /// takes the gradients out one by one), so gradients and new weights share a budget.
    pub fn step_peak(&self) -> u64 {
        self.resident() + self.gradients.max(self.weights)
    }

    /// The largest phase of a step once AdamW's state exists (every step after the first):
    /// what a run needs (bytes).
    pub fn peak(&self) -> u64 {
        self.rollout_peak()
            .max(self.scoring_peak())
            .max(self.update_peak())
            .max(self.step_peak())
    }

    /// The peak of a run's first step, before which AdamW's moments and master copies do
    /// not exist: they appear during its optimiser step.
    pub fn first_step_peak(&self) -> u64 {
        let state = self.optimizer + self.master_weights;
        (self.rollout_peak() - state)
            .max(self.scoring_peak() - state)
            .max(self.update_peak() - state)
            .max(self.step_peak())
    }
}

/// `bytes` in GiB.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_fixture_checkpoint() {
        // Every tensor of an HF checkpoint, counted from its safetensors header: the
        // 2-D ones are the matrices held in `model.dtype`.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/tiny-qwen2_5-vl");
        let cfg = Qwen2_5VlConfig::from_file(dir.join("config.json")).unwrap();
        let ckpt = spatial_ssrl_model::Checkpoint::open(dir.join("model.safetensors")).unwrap();
        let (mut matrices, mut total) = (0u64, 0u64);
        for name in ckpt.names() {
            let shape = ckpt.shape(&name).unwrap();
            let n: u64 = shape.iter().map(|&d| d as u64).product();
            total += n;
            if shape.len() == 2 {
                matrices += n;
            }
        }
        let counts = ParamCounts::of(&cfg);
        assert_eq!(counts.total(), total);
        assert_eq!(counts.matrices(), matrices);
    }

    #[test]
    fn tied_embeddings_hold_a_second_embedding_gradient_in_the_update() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hub-configs/qwen2_5_vl_3b_instruct.config.json");
        let cfg = Qwen2_5VlConfig::from_file(path).unwrap();
        let grpo = GrpoConfig::default();
        let model = ModelConfig::default();
        let mut inputs = MemoryInputs::for_run(&cfg, &model, &grpo, 100, 64).unwrap();
        assert_eq!(inputs.tied_embeddings, cfg.text.tie_word_embeddings);
        inputs.tied_embeddings = true;
        let tied = inputs.estimate();
        let (v, h) = (cfg.text.vocab_size as u64, cfg.text.hidden_size as u64);
        assert_eq!(tied.embedding_grad_sum, 4 * v * h);
        let base = tied.resident() + tied.gradients + tied.gradient_accumulation;
        assert!(tied.update_peak() >= base + tied.embedding_grad_sum);
        assert!(tied.update_peak() >= base + tied.activations + tied.log_prob_head);
        inputs.tied_embeddings = false;
        let untied = inputs.estimate();
        assert_eq!(untied.embedding_grad_sum, 0);
        assert_eq!(
            untied.update_peak(),
            base + untied.activations + untied.log_prob_head
        );
    }

    #[test]
    fn bf16_adds_master_weights_and_checkpointing_cuts_activations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hub-configs/qwen2_5_vl_3b_instruct.config.json");
        let cfg = Qwen2_5VlConfig::from_file(dir).unwrap();
        let model = ModelConfig::default();
        let mut inputs =
            MemoryInputs::for_run(&cfg, &model, &GrpoConfig::default(), 1024, 256).unwrap();
        let f32 = inputs.estimate();
        assert_eq!(f32.master_weights, 0);
        inputs.weight_bytes = 2;
        let bf16 = inputs.estimate();
        assert_eq!(bf16.master_weights, 4 * inputs.params.matrices());
        assert!(bf16.weights < f32.weights);
        inputs.gradient_checkpointing = true;
        assert!(inputs.estimate().activations < bf16.activations);
    }
}
