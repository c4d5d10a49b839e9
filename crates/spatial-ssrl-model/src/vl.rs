//! The vision-language model: vision tower + Qwen2 decoder, image embeddings spliced into the
//! `<|image_pad|>` positions, M-RoPE positions, LM head (tied or not).
//!
//! Ports `Qwen2_5_VLModel` / `Qwen2_5_VLForConditionalGeneration`, transformers
//! `modeling_qwen2_5_vl.py` (v4.57).

use std::path::Path;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::Qwen2_5VlConfig;
use crate::dtype::{WeightDtype, apply_linear};
use crate::error::{Error, Result};
use crate::text::cache::KvCache;
use crate::text::mrope::mrope_tables;
use crate::text::{TextModel, TextOutput, tied_logits};
use crate::vision::{ImageInput, VisionTower, index_tensor};
use crate::weights::{Checkpoint, Held, RandomSource, TensorSink, TensorSource, linear};

/// The patches of one video as the vision tower reads them, with its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPatches {
    /// `pixel_values_videos` rows of this video and its `[t, h, w]` grid (HF
    /// `video_grid_thw`); `t` counts temporal patches of `temporal_patch_size` frames.
    pub patches: ImageInput,
    /// Seconds one temporal patch spans (HF `second_per_grid_ts`); the M-RoPE index uses
    /// `trunc(second_per_grid_t) * tokens_per_second` temporal positions per temporal patch.
    pub second_per_grid_t: f32,
}

/// A (possibly padded) batch of token sequences with their images and videos.
#[derive(Debug, Clone, PartialEq)]
pub struct VlBatch {
    /// Token ids `[batch, seq]`, row-major, `<|image_pad|>` already expanded.
    pub input_ids: Vec<i64>,
    /// Rows.
    pub batch: usize,
    /// Columns (padded length).
    pub seq_len: usize,
    /// `[batch, seq]`: 1 for real tokens, 0 for padding; `None` = all real.
    pub attention_mask: Option<Vec<i64>>,
    /// Images in the order their `<|image_pad|>` runs appear, row 0 first.
    pub images: Vec<ImageInput>,
    /// Videos in the order their `<|video_pad|>` runs appear, row 0 first.
    pub videos: Vec<VideoPatches>,
    /// M-RoPE positions `[3, batch, seq]` (HF `position_ids`); `None` = computed from the
    /// ids, images and mask like HF `get_rope_index`.
    pub position_ids: Option<Vec<i64>>,
}

impl VlBatch {
    /// One unpadded sequence.
    pub fn single(input_ids: Vec<i64>, images: Vec<ImageInput>) -> Self {
        VlBatch {
            seq_len: input_ids.len(),
            input_ids,
            batch: 1,
            attention_mask: None,
            images,
            videos: Vec::new(),
            position_ids: None,
        }
    }

    /// Left-pads `rows` to a common length with `pad_id` (mask 0), the layout batched
    /// generation and RL use.
    pub fn left_padded(rows: &[Vec<i64>], images: Vec<ImageInput>, pad_id: i64) -> Self {
        let seq_len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut input_ids = Vec::with_capacity(rows.len() * seq_len);
        let mut mask = Vec::with_capacity(rows.len() * seq_len);
        for r in rows {
            let pad = seq_len - r.len();
            input_ids.extend(std::iter::repeat_n(pad_id, pad));
            input_ids.extend_from_slice(r);
            mask.extend(std::iter::repeat_n(0, pad));
            mask.extend(std::iter::repeat_n(1, r.len()));
        }
        VlBatch {
            input_ids,
            batch: rows.len(),
            seq_len,
            attention_mask: Some(mask),
            images,
            videos: Vec::new(),
            position_ids: None,
        }
    }

    /// The same batch with `videos` (in the order of their `<|video_pad|>` runs).
    pub fn with_videos(mut self, videos: Vec<VideoPatches>) -> Self {
        self.videos = videos;
        self
    }

    /// The batch of a processor output (ids, mask, images and videos split by grid,
    /// positions).
    pub fn from_processed(inputs: &crate::processor::ProcessedInputs) -> Result<Self> {
        let images = split_by_grid(
            "pixel_values",
            &inputs.pixel_values,
            inputs.pixel_shape[1],
            &inputs.image_grid_thw,
        )?;
        let videos = split_by_grid(
            "pixel_values_videos",
            &inputs.pixel_values_videos,
            inputs.video_pixel_shape[1],
            &inputs.video_grid_thw,
        )?;
        if videos.len() != inputs.second_per_grid_ts.len() {
            return Err(Error::BadInput(format!(
                "{} videos but {} second_per_grid_ts",
                videos.len(),
                inputs.second_per_grid_ts.len()
            )));
        }
        let videos = videos
            .into_iter()
            .zip(&inputs.second_per_grid_ts)
            .map(|(patches, &second_per_grid_t)| VideoPatches {
                patches,
                second_per_grid_t,
            })
            .collect();
        Ok(VlBatch {
            input_ids: inputs.input_ids.iter().map(|&t| i64::from(t)).collect(),
            batch: inputs.batch_size,
            seq_len: inputs.seq_len,
            attention_mask: Some(inputs.attention_mask.clone()),
            images,
            videos,
            position_ids: Some(inputs.position_ids.clone()),
        })
    }

    fn check(&self) -> Result<()> {
        let n = self.batch * self.seq_len;
        if self.input_ids.len() != n {
            return Err(Error::BadInput(format!(
                "input_ids has {} ids, batch {} x seq {} needs {n}",
                self.input_ids.len(),
                self.batch,
                self.seq_len
            )));
        }
        if let Some(m) = &self.attention_mask
            && m.len() != n
        {
            return Err(Error::BadInput(format!(
                "attention_mask has {} entries, expected {n}",
                m.len()
            )));
        }
        if let Some(p) = &self.position_ids
            && p.len() != 3 * n
        {
            return Err(Error::BadInput(format!(
                "position_ids has {} entries, expected 3 x {n}",
                p.len()
            )));
        }
        Ok(())
    }

    fn mask_at(&self, b: usize, j: usize) -> bool {
        self.attention_mask
            .as_ref()
            .is_none_or(|m| m[b * self.seq_len + j] != 0)
    }
}

/// Cuts `[patches, dim]` rows into one [`ImageInput`] per grid.
fn split_by_grid(
    what: &str,
    pixels: &[f32],
    dim: usize,
    grids: &[[u32; 3]],
) -> Result<Vec<ImageInput>> {
    let mut out = Vec::with_capacity(grids.len());
    let mut at = 0;
    for g in grids {
        let n = (g[0] * g[1] * g[2]) as usize * dim;
        let pixel_values = pixels
            .get(at..at + n)
            .ok_or_else(|| Error::BadInput(format!("{what} shorter than the grids")))?
            .to_vec();
        at += n;
        out.push(ImageInput {
            pixel_values,
            grid_thw: g.map(|v| v as usize),
        });
    }
    Ok(out)
}

/// The base model (HF `Qwen2_5_VLModel`): returns hidden states.
#[derive(Module, Debug)]
pub struct Qwen2_5VlModel {
    visual: VisionTower,
    language_model: TextModel,
}

/// Qwen2.5-VL with its LM head (HF `Qwen2_5_VLForConditionalGeneration`).
#[derive(Module, Debug)]
pub struct Qwen2_5VlForCausalLm {
    model: Qwen2_5VlModel,
    /// `None` when the head is tied to `embed_tokens`.
    lm_head: Option<Linear>,
    #[module(skip)]
    config: Qwen2_5VlConfig,
}

impl Qwen2_5VlForCausalLm {
    /// Loads `config.json` and the safetensors weights (single or sharded) of an HF model
    /// folder onto `device`.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Qwen2_5VlConfig::from_file(dir.join("config.json"))?;
        let ckpt = Checkpoint::open(dir)?;
        Self::from_checkpoint(config, &ckpt, device)
    }

    /// Like [`from_pretrained`](Self::from_pretrained), holding the projection matrices and
    /// the embedding in `dtype` (`Auto`: as the checkpoint stores them) instead of f32.
    ///
    /// ```no_run
    /// use spatial_ssrl_model::{Qwen2_5VlForCausalLm, WeightDtype};
    /// let device = spatial_ssrl_model::burn::tensor::Device::default();
    /// let model = Qwen2_5VlForCausalLm::from_pretrained_dtype("Qwen2.5-VL-3B-Instruct", &device, WeightDtype::Bf16)?;
    /// # Ok::<(), spatial_ssrl_model::Error>(())
    /// ```
    pub fn from_pretrained_dtype(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: WeightDtype,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Qwen2_5VlConfig::from_file(dir.join("config.json"))?;
        let ckpt = Checkpoint::open(dir)?;
        let held = dtype.resolve(ckpt.stored_dtype(), device)?;
        let src = Held {
            src: &ckpt,
            dtype: held,
        };
        Self::from_source(config, &ckpt, &src, device)
    }

    /// Builds the model from an opened checkpoint. Accepts the released key layout
    /// (`model.*`, `visual.*`) and the transformers >= 4.52 one (`model.language_model.*`,
    /// `model.visual.*`).
    pub fn from_checkpoint(
        config: Qwen2_5VlConfig,
        ckpt: &Checkpoint,
        device: &Device,
    ) -> Result<Self> {
        Self::from_source(config, ckpt, ckpt, device)
    }

    fn from_source(
        config: Qwen2_5VlConfig,
        ckpt: &Checkpoint,
        src: &dyn TensorSource,
        device: &Device,
    ) -> Result<Self> {
        let nested = ckpt.contains("model.language_model.embed_tokens.weight");
        let (text_prefix, vision_prefix) = if nested {
            ("model.language_model", "model.visual")
        } else {
            ("model", "visual")
        };
        Self::build(config, src, text_prefix, vision_prefix, device)
    }

    /// A model with deterministic random weights (uniform `[-scale, scale]`, norms near 1),
    /// for benchmarks and tests.
    pub fn random(config: Qwen2_5VlConfig, seed: u64, scale: f32, device: &Device) -> Result<Self> {
        Self::build(
            config,
            &RandomSource { seed, scale },
            "model",
            "visual",
            device,
        )
    }

    fn build(
        config: Qwen2_5VlConfig,
        src: &dyn TensorSource,
        text_prefix: &str,
        vision_prefix: &str,
        device: &Device,
    ) -> Result<Self> {
        let visual = VisionTower::load(src, vision_prefix, &config.vision, device)?;
        let language_model = TextModel::load(src, text_prefix, &config.text, device)?;
        let t = &config.text;
        let lm_head = if t.tie_word_embeddings {
            None
        } else {
            Some(linear(
                src,
                "lm_head",
                t.hidden_size,
                t.vocab_size,
                false,
                device,
            )?)
        };
        Ok(Qwen2_5VlForCausalLm {
            model: Qwen2_5VlModel {
                visual,
                language_model,
            },
            lm_head,
            config,
        })
    }

    /// Writes the weights (released HF key names, in the dtype they are held in) and
    /// `config.json` into `dir`, a folder transformers' `from_pretrained` reads (tokenizer
    /// files are not touched): `model.safetensors`, or shards of at most 2 GiB with
    /// `model.safetensors.index.json` when the weights are larger.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.save_pretrained_sharded(dir, crate::shard_writer::DEFAULT_SHARD_BYTES)
    }

    /// Like [`save_pretrained`](Self::save_pretrained) with shards of at most
    /// `max_shard_bytes` of tensor data (transformers' `max_shard_size`). Tensors are
    /// encoded one at a time, so at most one shard is buffered.
    pub fn save_pretrained_sharded(
        &self,
        dir: impl AsRef<Path>,
        max_shard_bytes: usize,
    ) -> Result<()> {
        let dir = dir.as_ref();
        let mut sink = TensorSink::new(dir, max_shard_bytes)?;
        self.model.visual.save(&mut sink)?;
        self.model.language_model.save(&mut sink, "model")?;
        if let Some(h) = &self.lm_head {
            sink.put_linear("lm_head", h)?;
        }
        sink.finish()?;
        let mut cfg = self.config.to_hf_json();
        let dtype = match self.weight_dtype() {
            burn::tensor::DType::BF16 => "bfloat16",
            burn::tensor::DType::F16 => "float16",
            _ => "float32",
        };
        if let Some(obj) = cfg.as_object_mut() {
            obj.insert("torch_dtype".into(), dtype.into());
        }
        let path = dir.join("config.json");
        let text = serde_json::to_string_pretty(&cfg).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }

    /// The configuration.
    pub fn config(&self) -> &Qwen2_5VlConfig {
        &self.config
    }

    /// The vision tower.
    pub fn vision(&self) -> &VisionTower {
        &self.model.visual
    }

    /// The dtype the projection matrices and the embedding are held in.
    pub fn weight_dtype(&self) -> burn::tensor::DType {
        self.model.language_model.embed_tokens.val().dtype()
    }

    /// The device of the parameters.
    pub fn device(&self) -> Device {
        self.model.language_model.embed_tokens.val().device()
    }

    /// A fresh cache sized for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.text.num_hidden_layers)
    }

    /// Input embeddings `[batch, seq, hidden]`: token embeddings with the image embeddings
    /// written into the `<|image_pad|>` positions and the video embeddings into the
    /// `<|video_pad|>` positions (differentiable in all three).
    pub fn embed_inputs(&self, batch: &VlBatch) -> Result<Tensor<3>> {
        batch.check()?;
        let device = self.device();
        let (b, s, h) = (batch.batch, batch.seq_len, self.config.text.hidden_size);
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(batch.input_ids.clone(), [b, s]), &device);
        let text = self.model.language_model.embed(ids);
        let (image_pad, video_pad) = (self.config.image_token_id, self.config.video_token_id);
        let count = |pad: i64| batch.input_ids.iter().filter(|&&t| t == pad).count();
        let unit = self.config.vision.merge_unit();
        let n_img: usize = batch.images.iter().map(|i| i.merged_tokens(unit)).sum();
        let n_vid: usize = batch
            .videos
            .iter()
            .map(|v| v.patches.merged_tokens(unit))
            .sum();
        for (token, media, n_pad, n) in [
            ("<|image_pad|>", "images", count(image_pad), n_img),
            ("<|video_pad|>", "videos", count(video_pad), n_vid),
        ] {
            if n_pad != n {
                return Err(Error::BadInput(format!(
                    "{n_pad} {token} tokens but the {media} give {n} embeddings"
                )));
            }
        }
        if n_img + n_vid == 0 {
            return Ok(text);
        }
        // Rows of `all`: the b * s token embeddings, then image, then video embeddings.
        let mut all = vec![text.reshape([b * s, h])];
        if n_img > 0 {
            all.push(self.model.visual.forward(&batch.images, &device)?);
        }
        if n_vid > 0 {
            let videos: Vec<ImageInput> = batch.videos.iter().map(|v| v.patches.clone()).collect();
            all.push(self.model.visual.forward(&videos, &device)?);
        }
        let (mut next_img, mut next_vid) = (b * s, b * s + n_img);
        let idx: Vec<usize> = batch
            .input_ids
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let slot = if t == image_pad {
                    &mut next_img
                } else if t == video_pad {
                    &mut next_vid
                } else {
                    return i;
                };
                *slot += 1;
                *slot - 1
            })
            .collect();
        Ok(Tensor::cat(all, 0)
            .select(0, index_tensor(&idx, &device))
            .reshape([b, s, h]))
    }

    /// M-RoPE positions `[3, batch, seq]` and per-row rope deltas of a batch: computed like
    /// HF `get_rope_index`, or the given `position_ids` with deltas derived from them
    /// (`max position + 1 - seq`).
    pub fn positions(&self, batch: &VlBatch) -> Result<(Vec<i64>, Vec<i64>)> {
        batch.check()?;
        let (b, s) = (batch.batch, batch.seq_len);
        let Some(pos) = &batch.position_ids else {
            return crate::vl_positions::rope_positions(&self.config, batch);
        };
        let deltas = (0..b)
            .map(|r| {
                let max = (0..3)
                    .flat_map(|d| (0..s).map(move |j| pos[d * b * s + r * s + j]))
                    .max()
                    .unwrap_or(-1);
                max + 1 - s as i64
            })
            .collect();
        Ok((pos.clone(), deltas))
    }

    fn key_mask(batch: &VlBatch) -> Vec<Vec<i64>> {
        (0..batch.batch)
            .map(|r| {
                (0..batch.seq_len)
                    .map(|j| i64::from(batch.mask_at(r, j)))
                    .collect()
            })
            .collect()
    }

    /// Runs the whole model over a batch; `keep_layers` also returns every layer's output.
    pub fn forward_hidden(&self, batch: &VlBatch, keep_layers: bool) -> Result<TextOutput> {
        self.run(batch, None, keep_layers).map(|(o, _)| o)
    }

    fn run(
        &self,
        batch: &VlBatch,
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> Result<(TextOutput, Vec<i64>)> {
        let embeds = self.embed_inputs(batch)?;
        let (pos, deltas) = self.positions(batch)?;
        let device = self.device();
        let (cos, sin) = mrope_tables(&self.config.text, &pos, batch.batch, batch.seq_len, &device);
        let out = self.model.language_model.forward(
            embeds,
            &cos,
            &sin,
            &Self::key_mask(batch),
            cache,
            keep_layers,
        );
        Ok((out, deltas))
    }

    /// Projects hidden states `[batch, seq, hidden]` to logits `[batch, seq, vocab]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(h) => apply_linear(h, hidden),
            None => tied_logits(self.model.language_model.embed_tokens.val(), hidden),
        }
    }

    /// Training forward: logits `[batch, seq, vocab]` of every position (causal, padding
    /// masked). Differentiable on an autodiff device.
    pub fn forward_logits(&self, batch: &VlBatch) -> Result<Tensor<3>> {
        Ok(self.logits(self.forward_hidden(batch, false)?.last_hidden))
    }

    /// Decoding prefill: runs the prompt batch into an empty `cache` and returns the logits of
    /// the last position `[batch, vocab]` and the per-row rope deltas.
    pub fn prefill(&self, batch: &VlBatch, cache: &mut KvCache) -> Result<(Tensor<2>, Vec<i64>)> {
        cache.clear();
        let (out, deltas) = self.run(batch, Some(cache), false)?;
        let [b, s, _] = out.last_hidden.dims();
        let last = out.last_hidden.narrow(1, s - 1, 1);
        let logits = self.logits(last).reshape([b, self.config.text.vocab_size]);
        Ok((logits, deltas))
    }

    /// One decoding step: `ids` holds one new token per row; `key_mask` is the per-row
    /// mask over all cached positions plus the new one (left padding stays 0); the new
    /// token's position on all three M-RoPE rows is `cache.len() + rope_deltas[row]`.
    /// Returns logits `[batch, vocab]` and appends to `cache`.
    pub fn forward_step(
        &self,
        ids: &[i64],
        key_mask: &[Vec<i64>],
        rope_deltas: &[i64],
        cache: &mut KvCache,
    ) -> Result<Tensor<2>> {
        let b = ids.len();
        let past = cache.len();
        if key_mask.len() != b
            || rope_deltas.len() != b
            || key_mask.iter().any(|m| m.len() != past + 1)
        {
            return Err(Error::BadInput(format!(
                "forward_step: {b} ids need {b} masks of length {} and {b} rope deltas",
                past + 1
            )));
        }
        let device = self.device();
        let ids_t = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [b, 1]), &device);
        let embeds = self.model.language_model.embed(ids_t);
        let pos: Vec<i64> = (0..3)
            .flat_map(|_| rope_deltas.iter().map(move |d| past as i64 + d))
            .collect();
        let (cos, sin) = mrope_tables(&self.config.text, &pos, b, 1, &device);
        let out =
            self.model
                .language_model
                .forward(embeds, &cos, &sin, key_mask, Some(cache), false);
        Ok(self
            .logits(out.last_hidden)
            .reshape([b, self.config.text.vocab_size]))
    }
}
