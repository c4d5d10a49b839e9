//! The vision-language model: vision tower + Qwen2 decoder, image embeddings spliced into the
//! `<|image_pad|>` positions, M-RoPE positions, LM head (tied or not).
//!
//! Ports `Qwen2_5_VLModel` / `Qwen2_5_VLForConditionalGeneration`, transformers
//! `modeling_qwen2_5_vl.py` (v4.57).

use std::path::Path;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::VlBatch;
use crate::dtype::WeightDtype;
use crate::error::Result;
use crate::family::{Family, ModelFamily, VisionTokenIds};
use crate::layers::cache::KvCache;
use crate::layers::decoder::{TextOutput, lm_head_logits, load_lm_head};
use crate::layers::mrope::mrope_tables;
use crate::qwen2_5_vl::config::Qwen2_5VlConfig;
use crate::qwen2_5_vl::text::TextModel;
use crate::qwen2_5_vl::vision::VisionTower;
use crate::rope_index::RopeIndexConfig;
use crate::vl_positions::{VideoPositions, rope_positions};
use crate::weights::{Checkpoint, Held, RandomSource, TensorSink, TensorSource};

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
        let lm_head = load_lm_head(
            src,
            t.tie_word_embeddings,
            t.hidden_size,
            t.vocab_size,
            device,
        )?;
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
        let text = self.model.language_model.embed(batch.ids_tensor(&device));
        let pads = self.vision_token_ids();
        let (image, video) =
            batch.encode_media(pads, self.config.vision.merge_unit(), |media| {
                self.model.visual.forward(media, &device)
            })?;
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
        lm_head_logits(
            self.lm_head.as_ref(),
            &self.model.language_model.embed_tokens,
            hidden,
        )
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
