//! [`VlModel`]: a model of any supported family, chosen from the folder's `config.json`.
//!
//! It is a burn [`Module`] (an enum of the family models), so the trainer's optimiser and
//! autodiff treat it like either model; every [`ModelFamily`] method dispatches to the held
//! family.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};

use crate::batch::VlBatch;
use crate::dtype::WeightDtype;
use crate::error::Result;
use crate::family::{Family, ModelFamily, VisionTokenIds};
use crate::layers::cache::KvCache;
use crate::layers::decoder::TextOutput;
use crate::qwen2_5_vl::model::Qwen2_5VlForCausalLm;
use crate::qwen3_vl::Qwen3VlForCausalLm;

/// A vision-language causal LM of any supported [`Family`].
///
/// ```no_run
/// use spatial_ssrl_model::{Family, GenerationConfig, Prompt, VlModel};
/// let device = spatial_ssrl_model::burn::tensor::Device::default();
/// let model = VlModel::from_pretrained("tests/fixtures/tiny-qwen3-vl", &device)?;
/// assert_eq!(model.family(), Family::Qwen3Vl);
/// let prompt = Prompt { input_ids: vec![151644, 872, 198], images: vec![], videos: vec![] };
/// let out = model.generate(&[prompt], &GenerationConfig::greedy(4), |_row, _tok| {})?;
/// println!("{:?}", out[0].tokens);
/// # Ok::<(), spatial_ssrl_model::Error>(())
/// ```
// One model is held per process, so the size gap between the variants costs nothing;
// burn's derive takes the family models as they are (no `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum VlModel {
    /// Qwen2.5-VL.
    Qwen2_5Vl(Qwen2_5VlForCausalLm),
    /// Qwen3-VL.
    Qwen3Vl(Qwen3VlForCausalLm),
}

/// Runs `$body` with `$m` bound to the held family model.
macro_rules! dispatch {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            VlModel::Qwen2_5Vl($m) => $body,
            VlModel::Qwen3Vl($m) => $body,
        }
    };
}

impl VlModel {
    /// Loads the HF model folder `dir` in f32, as the family its `config.json` names.
    ///
    /// # Errors
    /// [`crate::Error::UnsupportedConfig`] for an unknown `model_type`, and every loading
    /// error of the family's `from_pretrained`.
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
        Ok(match Family::detect(dir)? {
            Family::Qwen2_5Vl => Self::Qwen2_5Vl(Qwen2_5VlForCausalLm::from_pretrained_dtype(
                dir, device, dtype,
            )?),
            Family::Qwen3Vl => Self::Qwen3Vl(Qwen3VlForCausalLm::from_pretrained_dtype(
                dir, device, dtype,
            )?),
        })
    }

    /// The Qwen2.5-VL model, when that is the family.
    pub fn as_qwen2_5_vl(&self) -> Option<&Qwen2_5VlForCausalLm> {
        match self {
            Self::Qwen2_5Vl(m) => Some(m),
            Self::Qwen3Vl(_) => None,
        }
    }

    /// The Qwen3-VL model, when that is the family.
    pub fn as_qwen3_vl(&self) -> Option<&Qwen3VlForCausalLm> {
        match self {
            Self::Qwen3Vl(m) => Some(m),
            Self::Qwen2_5Vl(_) => None,
        }
    }
}

impl From<Qwen2_5VlForCausalLm> for VlModel {
    fn from(m: Qwen2_5VlForCausalLm) -> Self {
        Self::Qwen2_5Vl(m)
    }
}

impl From<Qwen3VlForCausalLm> for VlModel {
    fn from(m: Qwen3VlForCausalLm) -> Self {
        Self::Qwen3Vl(m)
    }
}

impl ModelFamily for VlModel {
    fn family(&self) -> Family {
        dispatch!(self, m => m.family())
    }

    fn vocab_size(&self) -> usize {
        dispatch!(self, m => ModelFamily::vocab_size(m))
    }

    fn num_hidden_layers(&self) -> usize {
        dispatch!(self, m => ModelFamily::num_hidden_layers(m))
    }

    fn vision_token_ids(&self) -> VisionTokenIds {
        dispatch!(self, m => ModelFamily::vision_token_ids(m))
    }

    fn eos_token_id(&self) -> Option<i64> {
        dispatch!(self, m => ModelFamily::eos_token_id(m))
    }

    fn device(&self) -> Device {
        dispatch!(self, m => ModelFamily::device(m))
    }

    fn weight_dtype(&self) -> DType {
        dispatch!(self, m => ModelFamily::weight_dtype(m))
    }

    fn positions(&self, batch: &VlBatch) -> Result<(Vec<i64>, Vec<i64>)> {
        dispatch!(self, m => ModelFamily::positions(m, batch))
    }

    fn forward_batch(
        &self,
        batch: &VlBatch,
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> Result<(TextOutput, Vec<i64>)> {
        dispatch!(self, m => m.forward_batch(batch, cache, keep_layers))
    }

    fn forward_tokens(
        &self,
        ids: &[i64],
        positions: &[i64],
        key_mask: &[Vec<i64>],
        cache: &mut KvCache,
    ) -> Result<Tensor<3>> {
        dispatch!(self, m => m.forward_tokens(ids, positions, key_mask, cache))
    }

    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        dispatch!(self, m => ModelFamily::logits(m, hidden))
    }

    fn save_pretrained_sharded(&self, dir: impl AsRef<Path>, max_shard_bytes: usize) -> Result<()> {
        dispatch!(self, m => ModelFamily::save_pretrained_sharded(m, dir, max_shard_bytes))
    }
}

crate::family::inherent_family_api!(VlModel);
