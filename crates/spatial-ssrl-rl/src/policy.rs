//! What the trainers need from a model: the [`Policy`] trait, the prompt records it encodes,
//! and the sampling settings of rollouts.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One image of a prompt record, as the dataset export stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// Encoded image bytes (PNG/JPEG).
    Bytes(Vec<u8>),
    /// A path to an image file.
    Path(PathBuf),
}

/// One training prompt: the columns `spatial-ssrl generate` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    /// Row id (stable across epochs; also the GRPO group id).
    pub id: u64,
    /// Question with `<image>` placeholders (the format instruction is added by the loader).
    pub problem: String,
    /// Ground-truth answer the reward compares against.
    pub answer: String,
    /// Images in placeholder order.
    pub images: Vec<ImageSource>,
    /// Pretext task id (`"shuffle"`, `"depth"`, ...), used for per-task metrics.
    pub task: String,
}

/// Rollout sampling settings (EasyR1 `worker.rollout.*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Softmax temperature (1.0).
    pub temperature: f32,
    /// Nucleus sampling mass (1.0 = off).
    pub top_p: f32,
    /// Longest response in tokens (2048 in the paper's run).
    pub max_new_tokens: usize,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 2048,
        }
    }
}

/// Teacher-forced per-token statistics of given responses, `[batch, max_len]` each, padded
/// with zeros past each response.
#[derive(Debug, Clone)]
pub struct TokenLogProbs {
    /// `log p(token_t | prompt, tokens_<t)`; carries gradients on an autodiff device.
    pub log_probs: Tensor<2>,
    /// Entropy of the next-token distribution at each position (detached, for metrics).
    pub entropy: Tensor<2>,
}

/// A trainable language policy over prompts with images.
///
/// The trainers call it in two modes: on an inference copy (`module.valid()`) to sample
/// rollouts and score behaviour/reference log-probs, and on the autodiff copy to get
/// differentiable log-probs for the loss. Parameters, optimiser state and checkpoints go
/// through burn's [`Module`] (`save_file` / `load_file`, `ParamId`s persist).
///
/// It is generic rather than object-safe: burn's optimiser steps a concrete module type.
pub trait Policy: Module + 'static {
    /// A prompt encoded for this model (token ids plus image inputs).
    type Prompt: Clone + Send;

    /// Encodes a dataset record into a prompt (chat template, image preprocessing).
    fn encode_prompt(&self, record: &PromptRecord) -> Result<Self::Prompt>;

    /// Prompt length in tokens, for the `max_prompt_length` filter.
    fn prompt_len(&self, prompt: &Self::Prompt) -> usize;

    /// Tokenises a target response for SFT (ends with the end-of-turn token).
    fn encode_response(&self, text: &str) -> Result<Vec<u32>>;

    /// Samples one response per prompt (token ids, ending at the stop token or at
    /// `max_new_tokens`), `seeds[i]` seeding row `i`: the trainers derive it from (step,
    /// prompt, sample index), so a policy whose rows draw only from their own seed gives the
    /// same responses however the rollout is split into calls.
    fn generate(
        &self,
        prompts: &[Self::Prompt],
        sampling: &SamplingConfig,
        seeds: &[u64],
    ) -> Result<Vec<Vec<u32>>>;

    /// Text of a response (special tokens removed).
    fn decode(&self, tokens: &[u32]) -> Result<String>;

    /// Teacher-forced log-probs of `responses` given `prompts`, padded to `max_len`
    /// (`max_len >= ` the longest response). Uses the same temperature as sampling, as
    /// EasyR1 divides logits by it before the log-softmax.
    fn response_log_probs(
        &self,
        prompts: &[Self::Prompt],
        responses: &[Vec<u32>],
        max_len: usize,
        temperature: f32,
    ) -> Result<TokenLogProbs>;
}

/// The shape check of [`Policy::generate`]: one seed per prompt.
pub(crate) fn check_one_seed_per_prompt(prompts: usize, seeds: usize) -> Result<()> {
    if seeds == prompts {
        Ok(())
    } else {
        Err(Error::Shape {
            what: "seeds",
            expected: vec![prompts],
            got: vec![seeds],
        })
    }
}

/// The shape check every [`Policy::response_log_probs`] starts with: one response per prompt.
pub(crate) fn check_one_response_per_prompt(prompts: usize, responses: usize) -> Result<()> {
    if responses == prompts {
        Ok(())
    } else {
        Err(Error::Shape {
            what: "responses",
            expected: vec![prompts],
            got: vec![responses],
        })
    }
}
