//! Decoding: KV-cached generation (greedy, temperature, top-k, top-p with a seeded RNG),
//! stop tokens, batched prompts with left padding, a streaming callback; and teacher-forced
//! log-probs of given responses for RL.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::vision::ImageInput;
use crate::vl::{Qwen2_5VlForCausalLm, VlBatch};
use crate::weights::stable_seed;

/// One prompt: token ids (image pads expanded) and the images they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Prompt ids, `<|image_pad|>` already repeated once per merged image token.
    pub input_ids: Vec<i64>,
    /// The prompt's images, in order of appearance.
    pub images: Vec<ImageInput>,
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
    /// Seed of the sampler; row `i` draws from its own stream derived from (seed, i).
    pub seed: u64,
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

/// transformers' `RepetitionPenaltyLogitsProcessor` on one row of raw logits: every id seen
/// in `history` (once, however often it occurs) has a negative logit multiplied and a
/// non-negative one divided by `penalty`.
pub(crate) fn apply_repetition_penalty(logits: &mut [f32], history: &[i64], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = vec![false; logits.len()];
    for &id in history {
        let Some(i) = usize::try_from(id).ok().filter(|&i| i < logits.len()) else {
            continue;
        };
        if !std::mem::replace(&mut seen[i], true) {
            let v = logits[i];
            logits[i] = if v < 0.0 { v * penalty } else { v / penalty };
        }
    }
}

/// Picks the next token from one row of logits.
pub(crate) fn pick(logits: &[f32], cfg: &GenerationConfig, rng: &mut ChaCha8Rng) -> i64 {
    if cfg.temperature == 0.0 {
        // First maximum, as torch.argmax.
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        return best as i64;
    }
    let mut cand: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, v / cfg.temperature))
        .collect();
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(k) = cfg.top_k {
        cand.truncate(k.max(1));
    }
    let max = cand[0].1;
    let mut probs: Vec<f32> = cand.iter().map(|&(_, v)| (v - max).exp()).collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(p) = cfg.top_p {
        let mut cum = 0.0;
        let mut keep = 0;
        for q in &probs {
            keep += 1;
            cum += q;
            if cum >= p {
                break;
            }
        }
        probs.truncate(keep);
        cand.truncate(keep);
        let t: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= t);
    }
    let u: f32 = rng.random();
    let mut acc = 0.0;
    for (i, q) in probs.iter().enumerate() {
        acc += q;
        if u < acc {
            return cand[i].0 as i64;
        }
    }
    cand[probs.len() - 1].0 as i64
}

fn rows_of(t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [b, v] = t.dims();
    let data = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::BadInput(format!("cannot read logits: {e:?}")))?;
    Ok((0..b).map(|r| data[r * v..(r + 1) * v].to_vec()).collect())
}

impl Qwen2_5VlForCausalLm {
    /// Generates continuations of `prompts` (batched, left-padded, KV-cached).
    /// `on_token(row, token)` is called for every new token as soon as it is chosen.
    pub fn generate(
        &self,
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
        let batch = VlBatch::left_padded(&rows, images, cfg.pad_token_id);
        self.generate_batch(&batch, cfg, on_token)
    }

    /// Like [`generate`](Self::generate) for an already assembled, left-padded batch (for
    /// example from `Processor::prepare_batch` through [`VlBatch::from_processed`]).
    pub fn generate_batch(
        &self,
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
        let mut rngs: Vec<ChaCha8Rng> = (0..b)
            .map(|r| ChaCha8Rng::seed_from_u64(stable_seed(cfg.seed, &format!("row{r}"))))
            .collect();
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
        let mut cache = self.new_cache();
        let (mut logits, deltas) = self.prefill(batch, &mut cache)?;
        for step in 0..cfg.max_new_tokens {
            let mut rows = rows_of(logits)?;
            let mut next = Vec::with_capacity(b);
            let slots = out.iter_mut().zip(done.iter_mut()).zip(rngs.iter_mut());
            for (r, ((o, d), rng)) in slots.enumerate() {
                if *d {
                    next.push(cfg.pad_token_id);
                    continue;
                }
                apply_repetition_penalty(&mut rows[r], &history[r], cfg.repetition_penalty);
                let t = pick(&rows[r], cfg, rng);
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
            logits = self.forward_step(&next, &key_mask, &deltas, &mut cache)?;
        }
        Ok(out)
    }

    /// Teacher-forced log-probabilities `[batch, response_len]` of the last `response_len`
    /// tokens of every row of `batch` (prompt left-padded, response right-aligned), i.e.
    /// `log_softmax(logits[t - 1])[ids[t]]`. Differentiable on an autodiff device; the RL
    /// crate masks response padding itself.
    pub fn token_log_probs(&self, batch: &VlBatch, response_len: usize) -> Result<Tensor<2>> {
        let (b, s) = (batch.batch, batch.seq_len);
        if response_len == 0 || response_len >= s {
            return Err(Error::BadInput(format!(
                "response_len {response_len} must be in 1..{s}"
            )));
        }
        let hidden = self.forward_hidden(batch, false)?.last_hidden;
        let h = hidden.narrow(1, s - response_len - 1, response_len);
        let logp = log_softmax(self.logits(h), 2);
        let targets: Vec<i64> = (0..b)
            .flat_map(|r| batch.input_ids[r * s + s - response_len..(r + 1) * s].to_vec())
            .collect();
        let idx = Tensor::<3, Int>::from_data(
            TensorData::new(targets, [b, response_len, 1]),
            &self.device(),
        );
        Ok(logp.gather(2, idx).reshape([b, response_len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_first_argmax() {
        let cfg = GenerationConfig::greedy(1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(pick(&[0.1, 3.0, 3.0, -1.0], &cfg, &mut rng), 1);
    }

    #[test]
    fn top_k_one_is_greedy_and_sampling_is_seeded() {
        let mut cfg = GenerationConfig::sampling(1, 1.0, 7);
        cfg.top_k = Some(1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(pick(&[0.1, 0.2, 5.0, 0.0], &cfg, &mut rng), 2);
        cfg.top_k = None;
        cfg.top_p = Some(0.5);
        let logits = [2.0, 1.0, 0.0, -1.0];
        // p(0) = 0.64 >= 0.5: top-p keeps only token 0.
        for _ in 0..20 {
            assert_eq!(pick(&logits, &cfg, &mut rng), 0);
        }
        cfg.top_p = None;
        let draw = |seed| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| pick(&logits, &cfg, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let d = draw(3);
        assert!(d.contains(&0) && d.contains(&1), "sampling explores: {d:?}");
    }

    #[test]
    fn repetition_penalty_scales_each_seen_id_once() {
        let mut row = [2.0, -2.0, 1.0, 4.0];
        // Id 0 twice, id 1 once, an out-of-vocabulary id ignored, id 3 unseen.
        apply_repetition_penalty(&mut row, &[0, 1, 0, 99, -1], 2.0);
        assert_eq!(row, [1.0, -4.0, 1.0, 4.0]);
        let mut cfg = GenerationConfig::greedy(1);
        cfg.repetition_penalty = 0.0;
        assert!(cfg.validate().is_err());
    }
}
