//! Decoding: KV-cached generation (greedy, temperature, top-k, top-p with a seeded RNG),
//! stop tokens, batched prompts with left padding, a streaming callback; and teacher-forced
//! log-probs of given responses for RL. Token choice itself lives in [`crate::sampling`].

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::batch::ImageInput;
use crate::batch::{VideoPatches, VlBatch};
use crate::error::{Error, Result};
use crate::family::ModelFamily;
use crate::layers::cache::KvCache;
use crate::sampling::{argmax_rows, host_rows, penalize, sample_row};
use crate::weights::stable_seed;

/// One prompt: token ids (image and video pads expanded) and the images and videos they
/// refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Prompt ids, `<|image_pad|>` already repeated once per merged image token.
    pub input_ids: Vec<i64>,
    /// The prompt's images, in order of appearance.
    pub images: Vec<ImageInput>,
    /// The prompt's videos, in order of appearance.
    pub videos: Vec<VideoPatches>,
}

/// How to pick tokens and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Upper bound on generated tokens per prompt.
    pub max_new_tokens: usize,
    /// Softmax temperature; `0.0` means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens before sampling.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`.
    pub top_p: Option<f32>,
    /// Seed of the sampler; row `i` draws from its own stream derived from (seed, i)
    /// unless [`row_seeds`](Self::row_seeds) is set.
    pub seed: u64,
    /// One seed per row of the call: row `i` then draws from a stream derived from
    /// `row_seeds[i]` alone, so its tokens do not depend on which other rows share the call
    /// or where it sits in it (RL rollouts split into micro-batches). `None` (the default)
    /// seeds rows from ([`seed`](Self::seed), row index).
    pub row_seeds: Option<Vec<u64>>,
    /// Tokens that end a sequence (kept as its last token).
    pub stop_tokens: Vec<i64>,
    /// Id written into padding slots.
    pub pad_token_id: i64,
    /// transformers' `repetition_penalty` over prompt + generated ids; `1.0` is off.
    pub repetition_penalty: f32,
}

impl GenerationConfig {
    /// Greedy decoding of at most `max_new_tokens`, stopping at Qwen's `<|im_end|>` and
    /// `<|endoftext|>`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        GenerationConfig {
            max_new_tokens,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            row_seeds: None,
            stop_tokens: vec![151645, 151643],
            pad_token_id: 151643,
            repetition_penalty: 1.0,
        }
    }

    /// Sampling at `temperature` with `seed` (no top-k/top-p filter).
    pub fn sampling(max_new_tokens: usize, temperature: f32, seed: u64) -> Self {
        GenerationConfig {
            temperature,
            seed,
            ..Self::greedy(max_new_tokens)
        }
    }

    fn validate(&self) -> Result<()> {
        if self.temperature.is_nan() || self.temperature < 0.0 || self.temperature.is_infinite() {
            return Err(Error::BadInput(format!(
                "temperature {} must be >= 0",
                self.temperature
            )));
        }
        if let Some(p) = self.top_p
            && (p.is_nan() || p <= 0.0 || p > 1.0)
        {
            return Err(Error::BadInput(format!("top_p {p} must be in (0, 1]")));
        }
        if self.top_k == Some(0) {
            return Err(Error::BadInput("top_k must be positive".into()));
        }
        let rp = self.repetition_penalty;
        if !rp.is_finite() || rp <= 0.0 {
            return Err(Error::BadInput(format!(
                "repetition_penalty {rp} must be a positive number"
            )));
        }
        Ok(())
    }
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token was produced (it is the last of `tokens`).
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// The output for one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// New tokens (prompt excluded).
    pub tokens: Vec<i64>,
    /// Why generation ended.
    pub finish: FinishReason,
}

/// The sampler stream of every row of a `b`-row call (see [`GenerationConfig::row_seeds`]).
fn row_rngs(cfg: &GenerationConfig, b: usize) -> Result<Vec<ChaCha8Rng>> {
    match &cfg.row_seeds {
        None => Ok((0..b)
            .map(|r| ChaCha8Rng::seed_from_u64(stable_seed(cfg.seed, &format!("row{r}"))))
            .collect()),
        Some(seeds) if seeds.len() == b => Ok(seeds
            .iter()
            .map(|&s| ChaCha8Rng::seed_from_u64(stable_seed(s, "row_seed")))
            .collect()),
        Some(seeds) => Err(Error::BadInput(format!(
            "row_seeds has {} seed(s) for a batch of {b} row(s)",
            seeds.len()
        ))),
    }
}

/// Logits materialised at once by [`ModelFamily::token_log_probs`] (64 Mi values:
/// 256 MB in f32, about 55 positions of a batch of 8 at Qwen's 152k vocabulary).
const LOGIT_CHUNK: usize = 1 << 26;

/// [`ModelFamily::prefill`].
pub(crate) fn prefill<M: ModelFamily + ?Sized>(
    model: &M,
    batch: &VlBatch,
    cache: &mut KvCache,
) -> Result<(Tensor<2>, Vec<i64>)> {
    cache.clear();
    let (out, deltas) = model.forward_batch(batch, Some(cache), false)?;
    let [b, s, _] = out.last_hidden.dims();
    let last = out.last_hidden.narrow(1, s - 1, 1);
    let logits = model.logits(last).reshape([b, model.vocab_size()]);
    Ok((logits, deltas))
}

/// [`ModelFamily::forward_step`]: text positions continue at `past + delta` on all three
/// M-RoPE rows in every family.
pub(crate) fn forward_step<M: ModelFamily + ?Sized>(
    model: &M,
    ids: &[i64],
    key_mask: &[Vec<i64>],
    rope_deltas: &[i64],
    cache: &mut KvCache,
) -> Result<Tensor<2>> {
    let b = ids.len();
    let past = cache.len();
    if key_mask.len() != b || rope_deltas.len() != b || key_mask.iter().any(|m| m.len() != past + 1)
    {
        return Err(Error::BadInput(format!(
            "forward_step: {b} ids need {b} masks of length {} and {b} rope deltas",
            past + 1
        )));
    }
    let pos: Vec<i64> = (0..3)
        .flat_map(|_| rope_deltas.iter().map(move |d| past as i64 + d))
        .collect();
    let hidden = model.forward_tokens(ids, &pos, key_mask, cache)?;
    Ok(model.logits(hidden).reshape([b, model.vocab_size()]))
}

/// [`ModelFamily::generate`].
pub(crate) fn generate<M: ModelFamily + ?Sized>(
    model: &M,
    prompts: &[Prompt],
    cfg: &GenerationConfig,
    on_token: impl FnMut(usize, i64),
) -> Result<Vec<Generated>> {
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    if prompts.iter().any(|p| p.input_ids.is_empty()) {
        return Err(Error::BadInput("empty prompt".into()));
    }
    let rows: Vec<Vec<i64>> = prompts.iter().map(|p| p.input_ids.clone()).collect();
    let images: Vec<ImageInput> = prompts.iter().flat_map(|p| p.images.clone()).collect();
    let videos = prompts.iter().flat_map(|p| p.videos.clone()).collect();
    let batch = VlBatch::left_padded(&rows, images, cfg.pad_token_id).with_videos(videos);
    generate_batch(model, &batch, cfg, on_token)
}

/// [`ModelFamily::generate_batch`].
pub(crate) fn generate_batch<M: ModelFamily + ?Sized>(
    model: &M,
    batch: &VlBatch,
    cfg: &GenerationConfig,
    mut on_token: impl FnMut(usize, i64),
) -> Result<Vec<Generated>> {
    cfg.validate()?;
    let b = batch.batch;
    if b == 0 || batch.seq_len == 0 {
        return Err(Error::BadInput("empty batch".into()));
    }
    let mut key_mask: Vec<Vec<i64>> = (0..b)
        .map(|r| match &batch.attention_mask {
            Some(m) => m[r * batch.seq_len..(r + 1) * batch.seq_len].to_vec(),
            None => vec![1; batch.seq_len],
        })
        .collect();
    if key_mask.iter().any(|m| m[batch.seq_len - 1] == 0) {
        return Err(Error::BadInput(
            "generation needs left padding: every row must end with a real token".into(),
        ));
    }
    let mut rngs = row_rngs(cfg, b)?;
    let mut out: Vec<Generated> = (0..b)
        .map(|_| Generated {
            tokens: Vec::new(),
            finish: FinishReason::Length,
        })
        .collect();
    let mut done = vec![false; b];
    // Ids the repetition penalty looks at: the padded prompt row (as transformers' input_ids,
    // pads included) plus everything generated so far.
    let mut history: Vec<Vec<i64>> = (0..b)
        .map(|r| batch.input_ids[r * batch.seq_len..(r + 1) * batch.seq_len].to_vec())
        .collect();
    if cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut cache = model.new_cache();
    let (mut logits, deltas) = prefill(model, batch, &mut cache)?;
    // Greedy (and top-k 1) stays on the device: only one id per row comes back.
    let greedy = cfg.temperature == 0.0 || cfg.top_k == Some(1);
    for step in 0..cfg.max_new_tokens {
        let logits_now = penalize(logits, &history, cfg.repetition_penalty);
        let mut picks = if greedy {
            argmax_rows(logits_now)?.into_iter()
        } else {
            let rows = host_rows(logits_now)?;
            rows.iter()
                .zip(rngs.iter_mut())
                .map(|(row, rng)| sample_row(row, cfg.temperature, cfg.top_k, cfg.top_p, rng))
                .collect::<Vec<_>>()
                .into_iter()
        };
        let mut next = Vec::with_capacity(b);
        let slots = out.iter_mut().zip(done.iter_mut()).enumerate();
        for (r, (o, d)) in slots {
            let t = picks.next().unwrap_or(cfg.pad_token_id);
            if *d {
                next.push(cfg.pad_token_id);
                continue;
            }
            history[r].push(t);
            o.tokens.push(t);
            on_token(r, t);
            if cfg.stop_tokens.contains(&t) {
                *d = true;
                o.finish = FinishReason::Stop;
            }
            next.push(t);
        }
        if done.iter().all(|&d| d) || step + 1 == cfg.max_new_tokens {
            break;
        }
        for m in key_mask.iter_mut() {
            m.push(1);
        }
        logits = forward_step(model, &next, &key_mask, &deltas, &mut cache)?;
    }
    Ok(out)
}

/// [`ModelFamily::token_log_probs`]; the RL crate masks response padding itself.
pub(crate) fn token_log_probs<M: ModelFamily + ?Sized>(
    model: &M,
    batch: &VlBatch,
    response_len: usize,
) -> Result<Tensor<2>> {
    log_probs_in_chunks(model, batch, response_len, LOGIT_CHUNK)
}

/// [`token_log_probs`] with at most `max_logits` logits at once.
fn log_probs_in_chunks<M: ModelFamily + ?Sized>(
    model: &M,
    batch: &VlBatch,
    response_len: usize,
    max_logits: usize,
) -> Result<Tensor<2>> {
    let (b, s) = (batch.batch, batch.seq_len);
    if response_len == 0 || response_len >= s {
        return Err(Error::BadInput(format!(
            "response_len {response_len} must be in 1..{s}"
        )));
    }
    let hidden = model.forward_hidden(batch, false)?.last_hidden;
    let h = hidden.narrow(1, s - response_len - 1, response_len);
    let targets: Vec<i64> = (0..b)
        .flat_map(|r| batch.input_ids[r * s + s - response_len..(r + 1) * s].to_vec())
        .collect();
    let idx = Tensor::<3, Int>::from_data(
        TensorData::new(targets, [b, response_len, 1]),
        &model.device(),
    );
    // log p = logit[target] - logsumexp(logits), over chunks of positions so at most
    // `max_logits` logits exist at once instead of the whole [b, R, vocab].
    let vocab = model.vocab_size();
    let chunk = (max_logits / (b * vocab).max(1)).clamp(1, response_len);
    let parts = (0..response_len)
        .step_by(chunk)
        .map(|start| {
            let len = chunk.min(response_len - start);
            let logits = model.logits(h.clone().narrow(1, start, len));
            let picked = logits.clone().gather(2, idx.clone().narrow(1, start, len));
            let max = logits.clone().max_dim(2).detach();
            let lse = (logits - max.clone()).exp().sum_dim(2).log() + max;
            (picked - lse).reshape([b, len])
        })
        .collect::<Vec<_>>();
    Ok(Tensor::cat(parts, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qwen2_5_vl::config::Qwen2_5VlConfig;
    use crate::qwen2_5_vl::model::Qwen2_5VlForCausalLm;
    use burn::tensor::Device;

    #[test]
    fn impossible_repetition_penalty_is_rejected() {
        let mut cfg = GenerationConfig::greedy(1);
        cfg.repetition_penalty = 0.0;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn a_rows_draws_follow_its_own_seed_wherever_it_sits() {
        let device = Device::default();
        let model = Qwen2_5VlForCausalLm::random(Qwen2_5VlConfig::tiny(), 3, 0.5, &device).unwrap();
        let vocab = model.config().text.vocab_size as i64;
        let prompt = |k: i64| Prompt {
            input_ids: (0..4 + k).map(|i| (i * 31 + k * 7 + 5) % vocab).collect(),
            images: vec![],
            videos: vec![],
        };
        let mut cfg = GenerationConfig::sampling(6, 1.0, 0);
        cfg.stop_tokens.clear();
        let run = |prompts: &[Prompt], seeds: &[u64]| {
            let cfg = GenerationConfig {
                row_seeds: Some(seeds.to_vec()),
                ..cfg.clone()
            };
            model.generate(prompts, &cfg, |_, _| {}).unwrap()
        };
        let (a, b) = (prompt(0), prompt(3));
        let together = run(&[a.clone(), b.clone()], &[11, 22]);
        let swapped = run(&[b.clone(), a.clone()], &[22, 11]);
        let alone = run(std::slice::from_ref(&b), &[22]);
        assert_eq!(together[0], swapped[1]);
        assert_eq!(together[1], swapped[0]);
        assert_eq!(together[1], alone[0]);
        // The seed, not the position, picks the stream: another seed gives other draws.
        let reseeded = run(&[a.clone(), b.clone()], &[12, 23]);
        assert_ne!(together, reseeded);
        let wrong = GenerationConfig {
            row_seeds: Some(vec![1]),
            ..cfg.clone()
        };
        assert!(matches!(
            model.generate(&[a, b], &wrong, |_, _| {}),
            Err(Error::BadInput(_))
        ));
    }

    #[test]
    fn chunked_log_probs_equal_the_one_shot_ones() {
        let device = Device::default();
        let model =
            Qwen2_5VlForCausalLm::random(Qwen2_5VlConfig::tiny(), 5, 0.05, &device).unwrap();
        let vocab = model.config().text.vocab_size as i64;
        let rows = vec![
            (0..9).map(|i| (i * 37 + 11) % vocab).collect::<Vec<i64>>(),
            (0..7).map(|i| (i * 53 + 3) % vocab).collect(),
        ];
        let batch = VlBatch::left_padded(&rows, vec![], 0);
        let whole = log_probs_in_chunks(&model, &batch, 5, usize::MAX).unwrap();
        // One position per chunk.
        let chunked = log_probs_in_chunks(&model, &batch, 5, 1).unwrap();
        let err = (whole.clone() - chunked).abs().max().into_scalar::<f32>();
        assert!(err < 1e-6, "max abs err {err}");
        let max = whole.max().into_scalar::<f32>();
        assert!(max <= 0.0, "log-probabilities are <= 0, got {max}");
    }
}
