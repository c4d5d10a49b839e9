//! Qwen3-VL as a causal LM (HF `Qwen3VLForConditionalGeneration`): the vision tower's image
//! and video embeddings spliced into the pad tokens, DeepStack features added after the
//! first decoder layers, interleaved M-RoPE positions, tied or separate head.
//!
//! Ports `Qwen3VLModel.forward` / `get_rope_index` of transformers `modeling_qwen3_vl.py`
//! (v4.57). Decoding, generation and log-probs are the crate's shared ones
//! ([`ModelFamily`]).

use std::path::Path;

use burn::module::Module;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::batch::VlBatch;
use crate::dtype::WeightDtype;
use crate::error::{Error, Result};
use crate::family::{Family, ModelFamily, VisionTokenIds};
use crate::layers::cache::KvCache;
use crate::layers::decoder::TextOutput;
use crate::qwen3_vl::config::Qwen3VlConfig;
use crate::qwen3_vl::text::{DeepstackInput, Qwen3TextModel};
use crate::qwen3_vl::vision::Qwen3VisionTower;
use crate::rope_index::RopeIndexConfig;
use crate::vl_positions::{VideoPositions, rope_positions};
use crate::weights::{Checkpoint, Held, TensorSink, TensorSource};

/// Qwen3-VL with its output head (HF `Qwen3VLForConditionalGeneration`).
#[derive(Module, Debug)]
pub struct Qwen3VlForCausalLm {
    visual: Qwen3VisionTower,
    language_model: Qwen3TextModel,
    #[module(skip)]
    config: Qwen3VlConfig,
}

impl Qwen3VlForCausalLm {
    /// Loads `config.json` and the safetensors weights (single or sharded) of an HF model
    /// folder onto `device`, in f32.
    ///
    /// ```no_run
    /// use spatial_ssrl_model::Qwen3VlForCausalLm;
    /// let device = spatial_ssrl_model::burn::tensor::Device::default();
    /// let model = Qwen3VlForCausalLm::from_pretrained("tests/fixtures/tiny-qwen3-vl", &device)?;
    /// # Ok::<(), spatial_ssrl_model::Error>(())
    /// ```
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::from_pretrained_dtype(dir, device, WeightDtype::F32)
    }

    /// Like [`from_pretrained`](Self::from_pretrained), holding the projection matrices and
    /// the embedding in `dtype` (`Auto`: as the checkpoint stores them).
    pub fn from_pretrained_dtype(
        dir: impl AsRef<Path>,
        device: &Device,
        dtype: WeightDtype,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Qwen3VlConfig::from_file(dir.join("config.json"))?;
        let ckpt = Checkpoint::open(dir)?;
        let held = dtype.resolve(ckpt.stored_dtype(), device)?;
        let src = Held {
            src: &ckpt,
            dtype: held,
        };
        Self::load(config, &src, device)
    }

    /// Builds the model from an opened checkpoint (HF names `model.visual.*`,
    /// `model.language_model.*`, `lm_head.weight` unless tied); every shape is checked.
    pub fn from_checkpoint(
        config: Qwen3VlConfig,
        checkpoint: &Checkpoint,
        device: &Device,
    ) -> Result<Self> {
        Self::load(config, checkpoint, device)
    }

    fn load(config: Qwen3VlConfig, src: &dyn TensorSource, device: &Device) -> Result<Self> {
        let visual = Qwen3VisionTower::load(src, "model.visual", &config.vision, device)?;
        let language_model = Qwen3TextModel::load(
            src,
            "model.language_model",
            config.tie_word_embeddings,
            &config.text,
            device,
        )?;
        Ok(Qwen3VlForCausalLm {
            visual,
            language_model,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Qwen3VlConfig {
        &self.config
    }

    /// The vision tower.
    pub fn vision(&self) -> &Qwen3VisionTower {
        &self.visual
    }

    /// The decoder (with the output head).
    pub fn text(&self) -> &Qwen3TextModel {
        &self.language_model
    }

    /// Input embeddings `[batch, seq, hidden]` (token embeddings with the image and video
    /// embeddings written over their pad tokens) and the DeepStack features of those tokens.
    pub fn embed_inputs(&self, batch: &VlBatch) -> Result<(Tensor<3>, Option<DeepstackInput>)> {
        batch.check()?;
        let device = self.device();
        let text = self.language_model.embed(batch.ids_tensor(&device));
        let pads = self.vision_token_ids();
        let (image, video) =
            batch.encode_media(pads, self.config.vision.merge_unit(), |media| {
                self.visual.forward(media, &device)
            })?;
        // DeepStack level k: image features then video features, the order of media_rows.
        let levels = self.config.vision.deepstack_visual_indexes.len();
        let has_media = image.is_some() || video.is_some();
        let deepstack = (has_media && levels > 0).then(|| DeepstackInput {
            rows: batch.media_rows(pads),
            features: (0..levels)
                .map(|k| {
                    let parts: Vec<Tensor<2>> = [&image, &video]
                        .into_iter()
                        .flatten()
                        .map(|(_, deep)| deep[k].clone())
                        .collect();
                    Tensor::cat(parts, 0)
                })
                .collect(),
        });
        let embeds = batch.splice_media(text, pads, image.map(|(e, _)| e), video.map(|(e, _)| e));
        Ok((embeds, deepstack))
    }
}

impl ModelFamily for Qwen3VlForCausalLm {
    fn family(&self) -> Family {
        Family::Qwen3Vl
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
        self.language_model.device()
    }

    fn weight_dtype(&self) -> DType {
        self.language_model.weight_dtype()
    }

    fn positions(&self, batch: &VlBatch) -> Result<(Vec<i64>, Vec<i64>)> {
        let c = &self.config;
        let id =
            |v: i64| u32::try_from(v).map_err(|_| Error::BadInput(format!("special token id {v}")));
        let rope = RopeIndexConfig {
            spatial_merge_size: c.vision.spatial_merge_size as u32,
            image_token_id: id(c.image_token_id)?,
            video_token_id: id(c.video_token_id)?,
            vision_start_token_id: id(c.vision_start_token_id)?,
            // Unused: every video run is a single temporal patch.
            tokens_per_second: 1,
        };
        rope_positions(&rope, VideoPositions::PerFrame, batch)
    }

    fn forward_batch(
        &self,
        batch: &VlBatch,
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> Result<(TextOutput, Vec<i64>)> {
        let (embeds, deepstack) = self.embed_inputs(batch)?;
        let (pos, deltas) = self.positions(batch)?;
        let out = self.language_model.forward(
            embeds,
            &pos,
            &batch.key_mask(),
            deepstack.as_ref(),
            cache,
            keep_layers,
        )?;
        let out = TextOutput {
            last_hidden: out.last_hidden,
            layer_outputs: out.hidden_states,
        };
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
        let ids_t =
            Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [b, 1]), &self.device());
        let embeds = self.language_model.embed(ids_t);
        let out =
            self.language_model
                .forward(embeds, positions, key_mask, None, Some(cache), false)?;
        Ok(out.last_hidden)
    }

    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.language_model.logits(hidden)
    }

    fn save_pretrained_sharded(&self, dir: impl AsRef<Path>, max_shard_bytes: usize) -> Result<()> {
        let dir = dir.as_ref();
        let mut sink = TensorSink::new(dir, max_shard_bytes)?;
        self.visual.save(&mut sink, "model.visual")?;
        self.language_model
            .save(&mut sink, "model.language_model")?;
        sink.finish()?;
        let mut cfg = self.config.to_hf_json();
        crate::shard_writer::write_config(dir, &mut cfg, self.weight_dtype())
    }
}

crate::family::inherent_family_api!(Qwen3VlForCausalLm);
