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
use crate::family::{Family, ModelFamily, VisionTokenIds};
use crate::rope_index::RopeIndexConfig;
use crate::text::cache::KvCache;
use crate::text::mrope::mrope_tables;
use crate::text::{TextModel, TextOutput, tied_logits};
use crate::vision::{ImageInput, VisionTower, index_tensor};
use crate::vl_positions::{VideoPositions, rope_positions};
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

    /// Checks that the ids, mask and positions agree with `batch x seq_len`.
    pub(crate) fn check(&self) -> Result<()> {
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

    /// The per-row key mask (1 = real token) the decoder reads.
    pub(crate) fn key_mask(&self) -> Vec<Vec<i64>> {
        (0..self.batch)
            .map(|r| {
                (0..self.seq_len)
                    .map(|j| i64::from(self.mask_at(r, j)))
                    .collect()
            })
            .collect()
    }

    /// Counts the `<|image_pad|>` and `<|video_pad|>` tokens and checks them against the
    /// merged tokens the images and videos give (`merge_unit` patches per token).
    pub(crate) fn media_tokens(
        &self,
        pads: VisionTokenIds,
        merge_unit: usize,
    ) -> Result<(usize, usize)> {
        let count = |pad: i64| self.input_ids.iter().filter(|&&t| t == pad).count();
        let n_img: usize = self
            .images
            .iter()
            .map(|i| i.merged_tokens(merge_unit))
            .sum();
        let n_vid: usize = self
            .videos
            .iter()
            .map(|v| v.patches.merged_tokens(merge_unit))
            .sum();
        for (token, media, n_pad, n) in [
            ("<|image_pad|>", "images", count(pads.image_pad), n_img),
            ("<|video_pad|>", "videos", count(pads.video_pad), n_vid),
        ] {
            if n_pad != n {
                return Err(Error::BadInput(format!(
                    "{n_pad} {token} tokens but the {media} give {n} embeddings"
                )));
            }
        }
        Ok((n_img, n_vid))
    }

    /// Token embeddings `text` `[batch, seq, hidden]` with the rows of `image` written, in
    /// order, over the `<|image_pad|>` tokens and those of `video` over the `<|video_pad|>`
    /// tokens (differentiable in all three; counts checked by [`Self::media_tokens`]).
    pub(crate) fn splice_media(
        &self,
        text: Tensor<3>,
        pads: VisionTokenIds,
        image: Option<Tensor<2>>,
        video: Option<Tensor<2>>,
    ) -> Tensor<3> {
        if image.is_none() && video.is_none() {
            return text;
        }
        let [b, s, h] = text.dims();
        let device = text.device();
        // Rows of `all`: the b * s token embeddings, then image, then video embeddings.
        let n_img = image.as_ref().map_or(0, |t| t.dims()[0]);
        let mut all = vec![text.reshape([b * s, h])];
        all.extend(image);
        all.extend(video);
        let (mut next_img, mut next_vid) = (b * s, b * s + n_img);
        let idx: Vec<usize> = self
            .input_ids
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let slot = if t == pads.image_pad {
                    &mut next_img
                } else if t == pads.video_pad {
                    &mut next_vid
                } else {
                    return i;
                };
                *slot += 1;
                *slot - 1
            })
            .collect();
        Tensor::cat(all, 0)
            .select(0, index_tensor(&idx, &device))
            .reshape([b, s, h])
    }

    /// Flat indices (`row * seq + position`) of the image tokens, then of the video tokens:
    /// the order DeepStack features are added in.
    pub(crate) fn media_rows(&self, pads: VisionTokenIds) -> Vec<usize> {
        let at = |pad: i64| {
            self.input_ids
                .iter()
                .enumerate()
                .filter(move |&(_, &t)| t == pad)
                .map(|(i, _)| i)
        };
        at(pads.image_pad).chain(at(pads.video_pad)).collect()
    }

    /// Rope deltas of given `position_ids` `[3, batch, seq]`: `max position + 1 - seq` per row.
    pub(crate) fn given_rope_deltas(&self, pos: &[i64]) -> Vec<i64> {
        let (b, s) = (self.batch, self.seq_len);
        (0..b)
            .map(|r| {
                let max = (0..3)
                    .flat_map(|d| (0..s).map(move |j| pos[d * b * s + r * s + j]))
                    .max()
                    .unwrap_or(-1);
                max + 1 - s as i64
            })
            .collect()
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

    /// The configuration.
    pub fn config(&self) -> &Qwen2_5VlConfig {
        &self.config
    }

    /// The vision tower.
    pub fn vision(&self) -> &VisionTower {
        &self.model.visual
    }

    /// Input embeddings `[batch, seq, hidden]`: token embeddings with the image embeddings
    /// written into the `<|image_pad|>` positions and the video embeddings into the
    /// `<|video_pad|>` positions (differentiable in all three).
    pub fn embed_inputs(&self, batch: &VlBatch) -> Result<Tensor<3>> {
        batch.check()?;
        let device = self.device();
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(batch.input_ids.clone(), [batch.batch, batch.seq_len]),
            &device,
        );
        let text = self.model.language_model.embed(ids);
        let pads = self.vision_token_ids();
        let (n_img, n_vid) = batch.media_tokens(pads, self.config.vision.merge_unit())?;
        let image = (n_img > 0)
            .then(|| self.model.visual.forward(&batch.images, &device))
            .transpose()?;
        let video = if n_vid > 0 {
            let videos: Vec<ImageInput> = batch.videos.iter().map(|v| v.patches.clone()).collect();
            Some(self.model.visual.forward(&videos, &device)?)
        } else {
            None
        };
        Ok(batch.splice_media(text, pads, image, video))
    }
}

impl ModelFamily for Qwen2_5VlForCausalLm {
    fn family(&self) -> Family {
        Family::Qwen2_5Vl
    }

    fn vocab_size(&self) -> usize {
        self.config.text.vocab_size
    }

    fn num_hidden_layers(&self) -> usize {
        self.config.text.num_hidden_layers
    }

    fn vision_token_ids(&self) -> VisionTokenIds {
        VisionTokenIds {
            image_pad: self.config.image_token_id,
            video_pad: self.config.video_token_id,
            vision_start: self.config.vision_start_token_id,
            vision_end: self.config.vision_end_token_id,
        }
    }

    fn eos_token_id(&self) -> Option<i64> {
        self.config.eos_token_id
    }

    fn device(&self) -> Device {
        self.model.language_model.embed_tokens.val().device()
    }

    fn weight_dtype(&self) -> burn::tensor::DType {
        self.model.language_model.embed_tokens.val().dtype()
    }

    fn positions(&self, batch: &VlBatch) -> Result<(Vec<i64>, Vec<i64>)> {
        let c = &self.config;
        let rope = RopeIndexConfig {
            spatial_merge_size: c.vision.spatial_merge_size as u32,
            image_token_id: c.image_token_id as u32,
            video_token_id: c.video_token_id as u32,
            vision_start_token_id: c.vision_start_token_id as u32,
            tokens_per_second: c.vision.tokens_per_second as i64,
        };
        rope_positions(&rope, VideoPositions::Timed, batch)
    }

    fn forward_batch(
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
            &batch.key_mask(),
            cache,
            keep_layers,
        );
        Ok((out, deltas))
    }

    fn forward_tokens(
        &self,
        ids: &[i64],
        positions: &[i64],
        key_mask: &[Vec<i64>],
        cache: &mut KvCache,
    ) -> Result<Tensor<3>> {
        let b = ids.len();
        let device = self.device();
        let ids_t = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [b, 1]), &device);
        let embeds = self.model.language_model.embed(ids_t);
        let (cos, sin) = mrope_tables(&self.config.text, positions, b, 1, &device);
        let out =
            self.model
                .language_model
                .forward(embeds, &cos, &sin, key_mask, Some(cache), false);
        Ok(out.last_hidden)
    }

    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(h) => apply_linear(h, hidden),
            None => tied_logits(self.model.language_model.embed_tokens.val(), hidden),
        }
    }

    fn save_pretrained_sharded(&self, dir: impl AsRef<Path>, max_shard_bytes: usize) -> Result<()> {
        let dir = dir.as_ref();
        let mut sink = TensorSink::new(dir, max_shard_bytes)?;
        self.model.visual.save(&mut sink)?;
        self.model.language_model.save(&mut sink, "model")?;
        if let Some(h) = &self.lm_head {
            sink.put_linear("lm_head", h)?;
        }
        sink.finish()?;
        let mut cfg = self.config.to_hf_json();
        crate::shard_writer::write_config(dir, &mut cfg, self.weight_dtype())
    }
}

crate::family::inherent_family_api!(Qwen2_5VlForCausalLm);
