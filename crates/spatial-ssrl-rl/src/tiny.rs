//! A tiny autoregressive policy for tests, benches and the learning test: prompt, previous
//! token and position embeddings, one ReLU layer, a softmax over a toy vocabulary.
//!
//! A prompt record's `problem` is the prompt id in decimal; responses are space-separated token
//! ids; token 0 ends a response. Weights come from a seeded ChaCha stream, so two policies built
//! with the same config and seed are identical on any thread.

use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::masked::to_host;
use crate::policy::{
    Policy, PromptRecord, SamplingConfig, TokenLogProbs, check_one_response_per_prompt,
    check_one_seed_per_prompt,
};
use crate::sampling::sample_token;

/// End-of-response token of the tiny policy.
pub const TINY_EOS: u32 = 0;

/// Size of the tiny policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TinyPolicyConfig {
    /// Number of distinct prompts.
    pub n_prompts: usize,
    /// Vocabulary size (token 0 is the end token).
    pub vocab: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Longest response.
    pub max_len: usize,
    /// Weight-initialisation seed.
    pub seed: u64,
}

impl Default for TinyPolicyConfig {
    fn default() -> Self {
        TinyPolicyConfig {
            n_prompts: 4,
            vocab: 8,
            hidden: 32,
            max_len: 4,
            seed: 0,
        }
    }
}

impl TinyPolicyConfig {
    /// Builds the policy on `device` with weights from `seed`.
    pub fn init(&self, device: &Device) -> TinyPolicy {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut mat = |rows: usize, cols: usize, scale: f32| {
            let v: Vec<f32> = (0..rows * cols)
                .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
                .collect();
            Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(v, [rows, cols]),
                device,
            ))
        };
        let h = self.hidden;
        let emb_scale = 0.5;
        let lin_scale = 1.0 / (h as f32).sqrt();
        TinyPolicy {
            prompt_emb: mat(self.n_prompts, h, emb_scale),
            // Row `vocab` is the begin-of-response input.
            token_emb: mat(self.vocab + 1, h, emb_scale),
            pos_emb: mat(self.max_len, h, emb_scale),
            w1: mat(h, h, lin_scale),
            b1: Param::from_tensor(Tensor::zeros([h], device)),
            w2: mat(h, self.vocab, lin_scale),
            b2: Param::from_tensor(Tensor::zeros([self.vocab], device)),
            vocab: self.vocab,
            max_len: self.max_len,
        }
    }
}

/// The tiny policy (see the module docs).
#[derive(Module, Debug)]
pub struct TinyPolicy {
    prompt_emb: Param<Tensor<2>>,
    token_emb: Param<Tensor<2>>,
    pos_emb: Param<Tensor<2>>,
    w1: Param<Tensor<2>>,
    b1: Param<Tensor<1>>,
    w2: Param<Tensor<2>>,
    b2: Param<Tensor<1>>,
    vocab: usize,
    max_len: usize,
}

impl TinyPolicy {
    /// Logits `[batch, len, vocab]` for prompt ids `[batch]` and previous tokens `[batch, len]`.
    fn logits(&self, prompts: &[u32], prev: &[Vec<u32>], len: usize) -> Tensor<3> {
        let device = self.w1.val().device();
        let b = prompts.len();
        let h = self.w1.dims()[0];
        let ids =
            |v: Vec<i64>, n: usize| Tensor::<1, Int>::from_data(TensorData::new(v, [n]), &device);
        let p = self
            .prompt_emb
            .val()
            .select(0, ids(prompts.iter().map(|&p| p as i64).collect(), b))
            .reshape([b, 1, h]);
        let flat: Vec<i64> = prev
            .iter()
            .flat_map(|row| (0..len).map(move |t| row.get(t).copied().unwrap_or(TINY_EOS) as i64))
            .collect();
        let tok = self
            .token_emb
            .val()
            .select(0, ids(flat, b * len))
            .reshape([b, len, h]);
        let pos = self.pos_emb.val().narrow(0, 0, len).reshape([1, len, h]);
        let x = tok + p + pos;
        let hid = relu(x.matmul(self.w1.val().unsqueeze()) + self.b1.val().unsqueeze());
        hid.matmul(self.w2.val().unsqueeze()) + self.b2.val().unsqueeze()
    }

    fn bos(&self) -> u32 {
        self.vocab as u32
    }
}

impl Policy for TinyPolicy {
    type Prompt = u32;

    fn encode_prompt(&self, record: &PromptRecord) -> Result<u32> {
        let n = self.prompt_emb.dims()[0];
        match record.problem.trim().parse::<u32>() {
            Ok(p) if (p as usize) < n => Ok(p),
            _ => Err(Error::Policy(format!(
                "tiny policy: prompt {:?} is not an id below {n}",
                record.problem
            ))),
        }
    }

    fn prompt_len(&self, _prompt: &u32) -> usize {
        1
    }

    fn encode_response(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for word in text.split_whitespace() {
            match word.parse::<u32>() {
                Ok(t) if (t as usize) < self.vocab => out.push(t),
                _ => return Err(Error::Policy(format!("tiny policy: bad token {word:?}"))),
            }
        }
        if out.len() < self.max_len {
            out.push(TINY_EOS);
        }
        Ok(out)
    }

    fn generate(
        &self,
        prompts: &[u32],
        sampling: &SamplingConfig,
        seeds: &[u64],
    ) -> Result<Vec<Vec<u32>>> {
        check_one_seed_per_prompt(prompts.len(), seeds.len())?;
        // Each row draws from its own seed only: results do not depend on batching.
        let mut rngs: Vec<ChaCha8Rng> = seeds
            .iter()
            .map(|&s| ChaCha8Rng::seed_from_u64(s))
            .collect();
        let steps = sampling.max_new_tokens.min(self.max_len);
        let b = prompts.len();
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        for t in 0..steps {
            // Inputs: BOS then the tokens so far; read the logits at position t.
            let prev: Vec<Vec<u32>> = out
                .iter()
                .map(|r| {
                    std::iter::once(self.bos())
                        .chain(r.iter().copied())
                        .collect()
                })
                .collect();
            let logits = self.logits(prompts, &prev, t + 1).slice([0..b, t..t + 1]);
            let logits = to_host(logits.reshape([b, self.vocab]));
            let rows = logits.chunks(self.vocab);
            for (((resp, fin), row), rng) in
                out.iter_mut().zip(done.iter_mut()).zip(rows).zip(&mut rngs)
            {
                if *fin {
                    continue;
                }
                let tok = sample_token(row, sampling.temperature, sampling.top_p, rng);
                resp.push(tok);
                *fin = tok == TINY_EOS;
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        Ok(tokens
            .iter()
            .take_while(|&&t| t != TINY_EOS)
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn response_log_probs(
        &self,
        prompts: &[u32],
        responses: &[Vec<u32>],
        max_len: usize,
        temperature: f32,
    ) -> Result<TokenLogProbs> {
        let b = prompts.len();
        check_one_response_per_prompt(b, responses.len())?;
        let len = max_len.min(self.max_len).max(1);
        if let Some(r) = responses.iter().find(|r| r.len() > len) {
            return Err(Error::Policy(format!(
                "tiny policy: response of {} tokens exceeds {len}",
                r.len()
            )));
        }
        let prev: Vec<Vec<u32>> = responses
            .iter()
            .map(|r| {
                std::iter::once(self.bos())
                    .chain(r.iter().copied())
                    .collect()
            })
            .collect();
        let logits = self.logits(prompts, &prev, len) / temperature;
        let logp = log_softmax(logits, 2);
        let device = logp.device();
        let targets: Vec<i64> = responses
            .iter()
            .flat_map(|r| (0..len).map(move |t| r.get(t).copied().unwrap_or(TINY_EOS) as i64))
            .collect();
        let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, len, 1]), &device);
        let token_lp = logp.clone().gather(2, targets).reshape([b, len]);
        let p = logp.clone().exp();
        let entropy = (p * logp).sum_dim(2).neg().reshape([b, len]).detach();
        // Zero past each response so padding never carries values.
        let mask: Vec<f32> = responses
            .iter()
            .flat_map(|r| (0..len).map(move |t| if t < r.len() { 1.0 } else { 0.0 }))
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, len]), &device);
        let pad = max_len - len;
        let (log_probs, entropy) = (token_lp * mask.clone(), entropy * mask);
        if pad == 0 {
            Ok(TokenLogProbs { log_probs, entropy })
        } else {
            let z = Tensor::<2>::zeros([b, pad], &device);
            Ok(TokenLogProbs {
                log_probs: Tensor::cat(vec![log_probs, z.clone()], 1),
                entropy: Tensor::cat(vec![entropy, z], 1),
            })
        }
    }
}
