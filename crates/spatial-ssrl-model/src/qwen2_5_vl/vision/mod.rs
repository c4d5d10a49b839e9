//! Qwen2.5-VL vision tower: 14 px patches (3 channels x 2 frames), 2-D rotary embedding,
//! window attention (112 px windows) with full attention at `fullatt_block_indexes`, and a
//! `PatchMerger` that turns each 2x2 group of patches into one language-model token.
//!
//! Ports `Qwen2_5_VisionTransformerPretrainedModel`, transformers `modeling_qwen2_5_vl.py`
//! (v4.57). The Conv3d patch embedding has stride = kernel, so it is one matmul of each
//! flattened `[3 * 2 * 14 * 14]` patch row with the reshaped kernel.

mod block;
mod layout;
mod merger;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use crate::batch::{ImageInput, index_tensor};
use crate::error::{Error, Result};
use crate::qwen2_5_vl::config::VisionConfig;
use crate::weights::{TensorSink, TensorSource, patch_kernel};

use block::VisionBlock;
use layout::VisionLayout;
use merger::PatchMerger;

/// Intermediate results of the vision tower, for parity tests and debugging.
#[derive(Debug, Clone)]
pub struct VisionTrace {
    /// Patch embeddings `[patches, hidden]`, processor order.
    pub patch_embeds: Tensor<2>,
    /// Output of every block `[patches, hidden]`, window order.
    pub block_outputs: Vec<Tensor<2>>,
    /// Merged-token permutation into window order.
    pub window_index: Vec<usize>,
    /// Final image embeddings `[merged tokens, out_hidden]`, raster order.
    pub embeds: Tensor<2>,
}

/// The vision tower (HF `visual.*`).
#[derive(Module, Debug)]
pub struct VisionTower {
    /// Conv3d kernel reshaped to `[patch_dim, hidden]`.
    patch_embed: Param<Tensor<2>>,
    blocks: Vec<VisionBlock>,
    merger: PatchMerger,
    #[module(skip)]
    config: VisionConfig,
}

impl VisionTower {
    pub(crate) fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &VisionConfig,
        device: &Device,
    ) -> Result<Self> {
        let (c, t, p, h) = (
            cfg.in_channels,
            cfg.temporal_patch_size,
            cfg.patch_size,
            cfg.hidden_size,
        );
        // The embedding is `pixels @ kernel`.
        let patch_embed = Param::from_tensor(patch_kernel(
            src,
            &format!("{prefix}.patch_embed.proj.weight"),
            [h, c, t, p, p],
            device,
        )?);
        let blocks = (0..cfg.depth)
            .map(|i| VisionBlock::load(src, &format!("{prefix}.blocks.{i}"), cfg, device))
            .collect::<Result<Vec<_>>>()?;
        let merger = PatchMerger::load(src, &format!("{prefix}.merger"), cfg, device)?;
        Ok(VisionTower {
            patch_embed,
            blocks,
            merger,
            config: cfg.clone(),
        })
    }

    pub(crate) fn save(&self, sink: &mut TensorSink) -> Result<()> {
        let cfg = &self.config;
        sink.put_patch_kernel(
            "visual.patch_embed.proj.weight",
            &self.patch_embed.val(),
            [
                cfg.hidden_size,
                cfg.in_channels,
                cfg.temporal_patch_size,
                cfg.patch_size,
                cfg.patch_size,
            ],
        )?;
        for (i, b) in self.blocks.iter().enumerate() {
            b.save(sink, &format!("visual.blocks.{i}"))?;
        }
        self.merger.save(sink, "visual.merger")
    }

    /// The tower's configuration.
    pub fn config(&self) -> &VisionConfig {
        &self.config
    }

    /// Image embeddings `[sum of merged tokens, out_hidden]`, images in order, each in raster
    /// order over its merged grid.
    ///
    /// Identical images (same grid and pixels, as GRPO's rollouts of one prompt carry) go
    /// through the tower once; their embeddings are copied to every place they occur.
    pub fn forward(&self, images: &[ImageInput], device: &Device) -> Result<Tensor<2>> {
        let (distinct, first_of) = distinct_images(images);
        if distinct.len() == images.len() {
            let all: Vec<&ImageInput> = images.iter().collect();
            return Ok(self.run(&all, device, false)?.embeds);
        }
        let embeds = self.run(&distinct, device, false)?.embeds;
        let unit = self.config.merge_unit();
        let mut start = Vec::with_capacity(distinct.len());
        let mut at = 0;
        for img in &distinct {
            start.push(at);
            at += img.merged_tokens(unit);
        }
        let rows: Vec<usize> = images
            .iter()
            .zip(&first_of)
            .flat_map(|(img, &d)| start[d]..start[d] + img.merged_tokens(unit))
            .collect();
        Ok(embeds.select(0, index_tensor(&rows, device)))
    }

    /// Like [`forward`](Self::forward), keeping the intermediate tensors (every image runs).
    pub fn forward_trace(&self, images: &[ImageInput], device: &Device) -> Result<VisionTrace> {
        let all: Vec<&ImageInput> = images.iter().collect();
        self.run(&all, device, true)
    }

    fn run(&self, images: &[&ImageInput], device: &Device, trace: bool) -> Result<VisionTrace> {
        let cfg = &self.config;
        let pd = cfg.patch_dim();
        let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
        let layout = VisionLayout::new(cfg, &grids)?;
        let n = layout.patch_pos.len();
        let mut pixels = Vec::with_capacity(n * pd);
        for img in images {
            let rows = img.grid_thw.iter().product::<usize>();
            if img.pixel_values.len() != rows * pd {
                return Err(Error::BadInput(format!(
                    "pixel_values has {} values, grid {:?} needs {} x {pd}",
                    img.pixel_values.len(),
                    img.grid_thw,
                    rows
                )));
            }
            pixels.extend_from_slice(&img.pixel_values);
        }
        let x = Tensor::<2>::from_data(TensorData::new(pixels, [n, pd]), device);
        let patch_embeds = x.matmul(self.patch_embed.val());
        let unit = cfg.merge_unit();
        let perm = layout.patch_permutation(unit);
        let perm_t = index_tensor(&perm, device);
        let mut x = patch_embeds.clone().select(0, perm_t);
        let hd = cfg.head_dim();
        let (cos, sin) = layout.rotary(cfg, unit);
        let cos = Tensor::<3>::from_data(TensorData::new(cos, [n, 1, hd]), device);
        let sin = Tensor::<3>::from_data(TensorData::new(sin, [n, 1, hd]), device);
        let mut block_outputs = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let segments = if cfg.fullatt_block_indexes.contains(&i) {
                &layout.full_segments
            } else {
                &layout.window_segments
            };
            x = block.forward(x, &cos, &sin, segments);
            if trace {
                block_outputs.push(x.clone());
            }
        }
        let merged = self.merger.forward(x);
        let embeds = merged.select(0, index_tensor(&layout.reverse_index(), device));
        Ok(VisionTrace {
            patch_embeds,
            block_outputs,
            window_index: layout.window_index,
            embeds,
        })
    }
}

/// The distinct images (first occurrences, in order) and, per image, the index of its
/// distinct copy. Pixels compare bit for bit.
fn distinct_images(images: &[ImageInput]) -> (Vec<&ImageInput>, Vec<usize>) {
    let same = |a: &ImageInput, b: &ImageInput| {
        a.grid_thw == b.grid_thw
            && a.pixel_values.len() == b.pixel_values.len()
            && a.pixel_values
                .iter()
                .zip(&b.pixel_values)
                .all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let mut distinct: Vec<&ImageInput> = Vec::new();
    let mut first_of = Vec::with_capacity(images.len());
    for img in images {
        let d = match distinct.iter().position(|d| same(d, img)) {
            Some(d) => d,
            None => {
                distinct.push(img);
                distinct.len() - 1
            }
        };
        first_of.push(d);
    }
    (distinct, first_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qwen2_5_vl::config::Qwen2_5VlConfig;
    use crate::qwen2_5_vl::model::Qwen2_5VlForCausalLm;

    fn image(cfg: &VisionConfig, grid: [usize; 3], seed: u32) -> ImageInput {
        let n = grid.iter().product::<usize>() * cfg.patch_dim();
        let pixel_values = (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect();
        ImageInput {
            pixel_values,
            grid_thw: grid,
        }
    }

    #[test]
    fn repeated_images_run_once_and_embed_like_separate_runs() {
        let device = Device::default();
        let model =
            Qwen2_5VlForCausalLm::random(Qwen2_5VlConfig::tiny(), 3, 0.05, &device).unwrap();
        let tower = model.vision();
        let cfg = tower.config().clone();
        let a = image(&cfg, [1, 10, 12], 1);
        let b = image(&cfg, [1, 6, 4], 2);
        let three = [a.clone(), b.clone(), a.clone()];
        let (distinct, first_of) = distinct_images(&three);
        assert_eq!((distinct.len(), first_of), (2, vec![0, 1, 0]));
        let batched = tower
            .forward(&[a.clone(), b.clone(), a.clone()], &device)
            .unwrap();
        let one = |img: &ImageInput| tower.forward(std::slice::from_ref(img), &device).unwrap();
        let want = Tensor::cat(vec![one(&a), one(&b), one(&a)], 0);
        let err = (batched - want).abs().max().into_scalar::<f32>();
        assert!(err < 1e-5, "max abs err {err}");
    }
}
