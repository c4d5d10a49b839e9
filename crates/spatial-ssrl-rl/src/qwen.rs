//! [`QwenPolicy`]: a Qwen2.5-VL or Qwen3-VL model of `spatial-ssrl-model` ([`VlModel`], the
//! family read from the folder's `config.json`) as a [`Policy`].
//!
//! Prompts go through the model folder's chat template (Qwen2.5-VL's adds a system turn,
//! Qwen3-VL's does not; one user turn whose `<image>` placeholders become image parts in order, generation prompt
//! appended), rollouts through KV-cached sampling, and log-probs through teacher forcing
//! with the logits divided by the rollout temperature, as EasyR1's actor does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use spatial_ssrl_model::{
    ContentPart, GenerationConfig, Message, Processor, Prompt, VlBatch, VlModel, WeightDtype,
    decode_image, load_image,
};

use crate::error::{Error, Result};
use crate::pixels::PixelLimits;
use crate::policy::{
    ImageSource, Policy, PromptRecord, SamplingConfig, TokenLogProbs,
    check_one_response_per_prompt, check_one_seed_per_prompt,
};

/// The dataset's image placeholder (EasyR1's `<image>`).
const IMAGE_PLACEHOLDER: &str = "<image>";

/// Files besides the weights that make a model folder loadable (copied by
/// [`QwenPolicy::save_pretrained`] when the source folder has them).
const PROCESSOR_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "chat_template.json",
    "generation_config.json",
];

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Policy(format!("vl model: {e}"))
}

/// Qwen2.5-VL or Qwen3-VL as a trainable policy: the model (parameters) plus its processor (tokenizer,
/// chat template, image preprocessing) loaded from the same HF folder.
///
/// ```no_run
/// use spatial_ssrl_rl::{Policy, PromptRecord, QwenPolicy};
/// let device = burn::tensor::Device::flex();
/// let policy = QwenPolicy::from_pretrained("tests/fixtures/tiny-qwen2_5-vl", &device)?;
/// let record = PromptRecord {
///     id: 0,
///     problem: "Is the sky above the ground?".into(),
///     answer: "yes".into(),
///     images: vec![],
///     task: "toy".into(),
/// };
/// let prompt = policy.encode_prompt(&record)?;
/// assert!(policy.prompt_len(&prompt) > 0);
/// # Ok::<(), spatial_ssrl_rl::Error>(())
/// ```
#[derive(Module, Debug)]
pub struct QwenPolicy {
    model: VlModel,
    #[module(skip)]
    processor: Arc<Processor>,
    /// The folder the model was loaded from (source of the processor files).
    #[module(skip)]
    source: PathBuf,
    /// EasyR1's `min_pixels` / `max_pixels`, applied before the processor.
    #[module(skip)]
    pixels: PixelLimits,
}

/// Marks every float parameter under a `visual` submodule (the vision tower of either family,
/// DeepStack mergers included) as not requiring gradients.
struct FreezeVisual {
    path: Vec<String>,
}

impl ModuleMapper for FreezeVisual {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.path.iter().any(|p| p == "visual") {
            param.set_require_grad(false)
        } else {
            param
        }
    }
}

impl QwenPolicy {
    /// Loads the model (`config.json` + safetensors) and its processor (tokenizer, chat
    /// template, `preprocessor_config.json`) from an HF folder onto `device` (an autodiff
    /// device for training), every weight in f32.
    ///
    /// # Errors
    /// [`Error::Policy`] when a file is missing or invalid.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::from_pretrained_dtype(dir, device, WeightDtype::F32)
    }

    /// Like [`from_pretrained`](Self::from_pretrained), holding the projection matrices and
    /// the embedding in `dtype` (`model.dtype`; `Auto` keeps the checkpoint's dtype).
    ///
    /// # Errors
    /// [`Error::Policy`] when a file is missing or invalid, or `device` cannot hold `dtype`.
    pub fn from_pretrained_dtype(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: WeightDtype,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let model = VlModel::from_pretrained_dtype(dir, device, dtype).map_err(model_err)?;
        let processor = Processor::from_dir(dir).map_err(model_err)?;
        Ok(Self::new(model, processor, dir))
    }

    /// Wraps an already built model of either family (a [`VlModel`] or a family's own type)
    /// and its processor; `source` is the folder whose processor files
    /// [`save_pretrained`](Self::save_pretrained) copies.
    pub fn new(model: impl Into<VlModel>, processor: Processor, source: &Path) -> Self {
        QwenPolicy {
            model: model.into(),
            processor: Arc::new(processor),
            source: source.to_path_buf(),
            pixels: PixelLimits::default(),
        }
    }

    /// Resizes every prompt image into `limits` before the processor (EasyR1's
    /// `data.min_pixels` / `data.max_pixels`); no limits by default.
    pub fn with_pixel_limits(mut self, limits: PixelLimits) -> Self {
        self.pixels = limits;
        self
    }

    /// Stops gradients at the vision tower (ViT + merger): its parameters no longer require
    /// gradients, so the optimiser leaves them unchanged (`freeze_vision_tower`).
    pub fn freeze_vision_tower(self) -> Self {
        self.map(&mut FreezeVisual { path: Vec::new() })
    }

    /// The wrapped model.
    pub fn model(&self) -> &VlModel {
        &self.model
    }

    /// The processor (tokenizer, chat template, image preprocessing).
    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// Writes the weights in HF layout (`model.safetensors`, `config.json`) plus the source
    /// folder's tokenizer / processor / template files into `dir`, so that
    /// [`from_pretrained`](Self::from_pretrained) (or transformers) reads it back.
    ///
    /// # Errors
    /// [`Error::Policy`] when writing the weights fails, [`Error::Io`] when a file copy does.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        self.model.save_pretrained(dir).map_err(model_err)?;
        for name in PROCESSOR_FILES {
            let from = self.source.join(name);
            let to = dir.join(name);
            if from.is_file() && from != to {
                std::fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
            }
        }
        Ok(())
    }

    /// The user turn of `record`: text between `<image>` placeholders, one image part per
    /// placeholder in order (images first when the problem has no placeholder).
    fn user_turn(&self, record: &PromptRecord) -> Result<Message> {
        let mut images = Vec::with_capacity(record.images.len());
        for img in &record.images {
            let decoded = match img {
                ImageSource::Path(p) => load_image(p).map_err(model_err)?,
                ImageSource::Bytes(b) => decode_image(b).map_err(model_err)?,
            };
            images.push(Arc::new(self.pixels.apply(decoded)));
        }
        let segments: Vec<&str> = record.problem.split(IMAGE_PLACEHOLDER).collect();
        let placeholders = segments.len() - 1;
        let mut parts = Vec::with_capacity(segments.len() + images.len());
        if placeholders == 0 {
            parts.extend(images.into_iter().map(ContentPart::Image));
            parts.push(ContentPart::Text(record.problem.clone()));
        } else if placeholders == images.len() {
            let mut images = images.into_iter();
            for (i, text) in segments.into_iter().enumerate() {
                if i > 0 {
                    parts.extend(images.next().map(ContentPart::Image));
                }
                if !text.is_empty() {
                    parts.push(ContentPart::Text(text.to_owned()));
                }
            }
        } else {
            return Err(Error::Policy(format!(
                "record {}: {placeholders} {IMAGE_PLACEHOLDER} placeholder(s) for {} image(s)",
                record.id,
                images.len()
            )));
        }
        Ok(Message::user(parts))
    }

    fn pad_id(&self) -> i64 {
        i64::from(self.processor.pad_id())
    }
}

impl Policy for QwenPolicy {
    type Prompt = Prompt;

    fn encode_prompt(&self, record: &PromptRecord) -> Result<Prompt> {
        let messages = [self.user_turn(record)?];
        let inputs = self.processor.prepare(&messages, true).map_err(model_err)?;
        let batch = VlBatch::from_processed(&inputs).map_err(model_err)?;
        Ok(Prompt {
            input_ids: batch.input_ids,
            images: batch.images,
            videos: batch.videos,
        })
    }

    fn prompt_len(&self, prompt: &Prompt) -> usize {
        prompt.input_ids.len()
    }

    fn encode_response(&self, text: &str) -> Result<Vec<u32>> {
        let tok = self.processor.tokenizer();
        let mut ids = tok.encode(text).map_err(model_err)?;
        ids.push(tok.special().im_end);
        Ok(ids)
    }

    fn generate(
        &self,
        prompts: &[Prompt],
        sampling: &SamplingConfig,
        seeds: &[u64],
    ) -> Result<Vec<Vec<u32>>> {
        check_one_seed_per_prompt(prompts.len(), seeds.len())?;
        let special = self.processor.tokenizer().special();
        // Row i draws from seeds[i] alone, so a rollout's responses do not depend on how it
        // is split into calls (`rollout_micro_batch_size`).
        let mut cfg = GenerationConfig::sampling(sampling.max_new_tokens, sampling.temperature, 0);
        cfg.row_seeds = Some(seeds.to_vec());
        cfg.top_p = (sampling.top_p < 1.0).then_some(sampling.top_p);
        cfg.stop_tokens = vec![i64::from(special.im_end), i64::from(special.endoftext)];
        cfg.pad_token_id = self.pad_id();
        let out = self
            .model
            .generate(prompts, &cfg, |_, _| {})
            .map_err(model_err)?;
        out.into_iter()
            .map(|g| {
                g.tokens
                    .into_iter()
                    .map(|t| u32::try_from(t).map_err(|_| model_err(format!("token id {t}"))))
                    .collect()
            })
            .collect()
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.processor
            .tokenizer()
            .decode(tokens, true)
            .map_err(model_err)
    }

    fn response_log_probs(
        &self,
        prompts: &[Prompt],
        responses: &[Vec<u32>],
        max_len: usize,
        temperature: f32,
    ) -> Result<TokenLogProbs> {
        let b = prompts.len();
        check_one_response_per_prompt(b, responses.len())?;
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::Policy(format!(
                "temperature {temperature} must be positive to score log-probs"
            )));
        }
        let len = max_len.max(1);
        if let Some(r) = responses.iter().find(|r| r.len() > len) {
            return Err(Error::Policy(format!(
                "response of {} tokens exceeds max_len {len}",
                r.len()
            )));
        }
        if prompts.iter().any(|p| p.input_ids.is_empty()) {
            return Err(Error::Policy("empty prompt".into()));
        }
        // Layout: prompt left-padded to the longest, then the response right-padded to `len`.
        // Padding after a response is marked real: causal attention keeps it from touching the
        // scored positions, and its log-probs are masked by the trainer.
        let pad = self.pad_id();
        let p_len = prompts.iter().map(|p| p.input_ids.len()).max().unwrap_or(0);
        let seq = p_len + len;
        let mut ids = Vec::with_capacity(b * seq);
        let mut mask = Vec::with_capacity(b * seq);
        let mut targets = Vec::with_capacity(b * len);
        for (p, r) in prompts.iter().zip(responses) {
            let left = p_len - p.input_ids.len();
            ids.extend(std::iter::repeat_n(pad, left));
            mask.extend(std::iter::repeat_n(0, left));
            ids.extend_from_slice(&p.input_ids);
            let resp: Vec<i64> = (0..len)
                .map(|t| r.get(t).map_or(pad, |&x| i64::from(x)))
                .collect();
            ids.extend_from_slice(&resp);
            targets.extend_from_slice(&resp);
            mask.extend(std::iter::repeat_n(1, p.input_ids.len() + len));
        }
        let batch = VlBatch {
            input_ids: ids,
            batch: b,
            seq_len: seq,
            attention_mask: Some(mask),
            images: prompts.iter().flat_map(|p| p.images.clone()).collect(),
            videos: prompts.iter().flat_map(|p| p.videos.clone()).collect(),
            position_ids: None,
        };
        let hidden = self
            .model
            .forward_hidden(&batch, false)
            .map_err(model_err)?
            .last_hidden;
        // Position t - 1 predicts token t: the `len` hidden states before the last one.
        let h = hidden.narrow(1, p_len - 1, len);
        let logp = log_softmax(self.model.logits(h) / temperature, 2);
        let idx =
            Tensor::<3, Int>::from_data(TensorData::new(targets, [b, len, 1]), &logp.device());
        let log_probs = logp.clone().gather(2, idx).reshape([b, len]);
        let entropy = (logp.clone().exp() * logp)
            .sum_dim(2)
            .neg()
            .reshape([b, len])
            .detach();
        Ok(TokenLogProbs { log_probs, entropy })
    }
}
