//! Qwen3-VL vision tower: 16 px patches (Conv3d with bias), a learned position table
//! bilinearly resampled to the patch grid, LayerNorm blocks with full attention and a 2-D
//! rotary embedding, a tanh-GELU MLP, the main 2x2 merger and the DeepStack mergers.
//!
//! Ports `Qwen3VLVisionModel`, transformers `modeling_qwen3_vl.py` (v4.57), eager attention.
//! Rows stay in the processor's block order throughout, so the four patches a merger joins
//! are consecutive.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, gelu_approximate};
use burn::tensor::{Device, Tensor, TensorData};

use crate::batch::{ImageInput, index_tensor};
use crate::dtype::apply_linear;
use crate::error::{Error, Result};
use crate::layers::rotary::apply_rotary;
use crate::layers::sdpa::attend;
use crate::qwen3_vl::config::Qwen3VlVisionConfig;
use crate::qwen3_vl::position::{PositionResampling, block_order, vision_rotary_angles};
use crate::weights::{Checkpoint, TensorSink, TensorSource, linear, patch_kernel, tensor};

const LAYER_NORM_EPS: f64 = 1e-6;

/// Reads an HF `nn.LayerNorm` (`{prefix}.weight`, `{prefix}.bias`).
fn layer_norm(
    src: &dyn TensorSource,
    prefix: &str,
    dim: usize,
    device: &Device,
) -> Result<LayerNorm> {
    let mut norm = LayerNormConfig::new(dim)
        .with_epsilon(LAYER_NORM_EPS)
        .init(device);
    norm.gamma = Param::from_tensor(tensor(src, &format!("{prefix}.weight"), [dim], device)?);
    norm.beta = Some(Param::from_tensor(tensor(
        src,
        &format!("{prefix}.bias"),
        [dim],
        device,
    )?));
    Ok(norm)
}

#[derive(Module, Debug)]
struct Qwen3VisionBlock {
    norm1: LayerNorm,
    norm2: LayerNorm,
    qkv: Linear,
    proj: Linear,
    fc1: Linear,
    fc2: Linear,
    num_heads: usize,
}

impl Qwen3VisionBlock {
    fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &Qwen3VlVisionConfig,
        device: &Device,
    ) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Qwen3VisionBlock {
            norm1: layer_norm(src, &format!("{prefix}.norm1"), h, device)?,
            norm2: layer_norm(src, &format!("{prefix}.norm2"), h, device)?,
            qkv: linear(src, &format!("{prefix}.attn.qkv"), h, 3 * h, true, device)?,
            proj: linear(src, &format!("{prefix}.attn.proj"), h, h, true, device)?,
            fc1: linear(src, &format!("{prefix}.mlp.linear_fc1"), h, i, true, device)?,
            fc2: linear(src, &format!("{prefix}.mlp.linear_fc2"), i, h, true, device)?,
            num_heads: cfg.num_heads,
        })
    }

    fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        sink.put_layer_norm(&format!("{prefix}.norm1"), &self.norm1)?;
        sink.put_layer_norm(&format!("{prefix}.norm2"), &self.norm2)?;
        sink.put_linear(&format!("{prefix}.attn.qkv"), &self.qkv)?;
        sink.put_linear(&format!("{prefix}.attn.proj"), &self.proj)?;
        sink.put_linear(&format!("{prefix}.mlp.linear_fc1"), &self.fc1)?;
        sink.put_linear(&format!("{prefix}.mlp.linear_fc2"), &self.fc2)
    }

    /// `x`: `[patches, hidden]`; `cos`/`sin`: `[patches, 1, head_dim]`; `frames`: row spans
    /// that attend to each other (one per frame, as HF's `cu_seqlens`).
    fn forward(
        &self,
        x: Tensor<2>,
        cos: &Tensor<3>,
        sin: &Tensor<3>,
        frames: &[(usize, usize)],
    ) -> Tensor<2> {
        let [n, h] = x.dims();
        let nh = self.num_heads;
        let hd = h / nh;
        let qkv = apply_linear(&self.qkv, self.norm1.forward(x.clone())).reshape([n, 3, nh, hd]);
        let q = qkv.clone().narrow(1, 0, 1).reshape([n, nh, hd]);
        let k = qkv.clone().narrow(1, 1, 1).reshape([n, nh, hd]);
        let v = qkv.narrow(1, 2, 1).reshape([n, nh, hd]);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos.clone(), sin.clone());
        let as_batch = |t: &Tensor<3>, s: usize, len: usize| {
            t.clone()
                .narrow(0, s, len)
                .reshape([1, len, nh, hd])
                .swap_dims(1, 2)
        };
        let outs = frames
            .iter()
            .map(|&(s, e)| {
                let len = e - s;
                attend(
                    as_batch(&q, s, len),
                    as_batch(&k, s, len),
                    as_batch(&v, s, len),
                    None,
                    false,
                )
                .swap_dims(1, 2)
                .reshape([len, h])
            })
            .collect();
        let x = x + apply_linear(&self.proj, Tensor::cat(outs, 0));
        let y = gelu_approximate(apply_linear(&self.fc1, self.norm2.forward(x.clone())));
        x + apply_linear(&self.fc2, y)
    }
}

/// A patch merger: LayerNorm, join each `merge x merge` group of consecutive rows, then
/// Linear -> GELU (exact) -> Linear. The DeepStack mergers normalise after joining
/// (`use_postshuffle_norm`), the main one before.
#[derive(Module, Debug)]
struct Qwen3Merger {
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    postshuffle: bool,
    merged_dim: usize,
}

impl Qwen3Merger {
    fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &Qwen3VlVisionConfig,
        postshuffle: bool,
        device: &Device,
    ) -> Result<Self> {
        let merged = cfg.hidden_size * cfg.merge_unit();
        let norm_dim = if postshuffle { merged } else { cfg.hidden_size };
        Ok(Qwen3Merger {
            norm: layer_norm(src, &format!("{prefix}.norm"), norm_dim, device)?,
            fc1: linear(
                src,
                &format!("{prefix}.linear_fc1"),
                merged,
                merged,
                true,
                device,
            )?,
            fc2: linear(
                src,
                &format!("{prefix}.linear_fc2"),
                merged,
                cfg.out_hidden_size,
                true,
                device,
            )?,
            postshuffle,
            merged_dim: merged,
        })
    }

    fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        sink.put_layer_norm(&format!("{prefix}.norm"), &self.norm)?;
        sink.put_linear(&format!("{prefix}.linear_fc1"), &self.fc1)?;
        sink.put_linear(&format!("{prefix}.linear_fc2"), &self.fc2)
    }

    /// `[patches, hidden]` (block order) -> `[patches / merge_unit, out_hidden]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, h] = x.dims();
        let groups = n * h / self.merged_dim;
        let x = if self.postshuffle {
            self.norm.forward(x.reshape([groups, self.merged_dim]))
        } else {
            self.norm.forward(x).reshape([groups, self.merged_dim])
        };
        apply_linear(&self.fc2, gelu(apply_linear(&self.fc1, x)))
    }
}

/// Intermediate results of the Qwen3-VL vision tower, for parity tests and debugging.
/// Patch rows are in block order; merged tokens in raster order over the merged grid.
#[derive(Debug, Clone)]
pub struct Qwen3VisionTrace {
    /// Conv3d patch embeddings `[patches, hidden]`.
    pub patch_embeds: Tensor<2>,
    /// Resampled position embeddings `[patches, hidden]`.
    pub pos_embeds: Tensor<2>,
    /// Output of every block `[patches, hidden]`.
    pub block_outputs: Vec<Tensor<2>>,
    /// One `[merged tokens, out_hidden]` feature per `deepstack_visual_indexes` entry.
    pub deepstack_features: Vec<Tensor<2>>,
    /// Main merger output `[merged tokens, out_hidden]`.
    pub image_embeds: Tensor<2>,
}

/// The Qwen3-VL vision tower (HF `model.visual.*`).
#[derive(Module, Debug)]
pub struct Qwen3VisionTower {
    /// Conv3d kernel as a `[patch_dim, hidden]` linear map with the conv bias.
    patch_embed: Linear,
    /// Learned `[side * side, hidden]` position table.
    pos_embed: Param<Tensor<2>>,
    blocks: Vec<Qwen3VisionBlock>,
    merger: Qwen3Merger,
    deepstack_mergers: Vec<Qwen3Merger>,
    #[module(skip)]
    config: Qwen3VlVisionConfig,
}

impl Qwen3VisionTower {
    /// Loads the tower from an opened checkpoint (HF names under `model.visual.`), checking
    /// every shape against `cfg`; a missing or misshapen tensor is a typed [`Error`].
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        cfg: &Qwen3VlVisionConfig,
        device: &Device,
    ) -> Result<Self> {
        Self::load(checkpoint, "model.visual", cfg, device)
    }

    pub(crate) fn load(
        src: &dyn TensorSource,
        prefix: &str,
        cfg: &Qwen3VlVisionConfig,
        device: &Device,
    ) -> Result<Self> {
        let (c, t, p, h) = (
            cfg.in_channels,
            cfg.temporal_patch_size,
            cfg.patch_size,
            cfg.hidden_size,
        );
        // The embedding is `pixels @ kernel + b`.
        let kernel = patch_kernel(
            src,
            &format!("{prefix}.patch_embed.proj.weight"),
            [h, c, t, p, p],
            device,
        )?;
        let patch_embed = Linear {
            weight: Param::from_tensor(kernel),
            bias: Some(Param::from_tensor(tensor(
                src,
                &format!("{prefix}.patch_embed.proj.bias"),
                [h],
                device,
            )?)),
        };
        let pos_embed = Param::from_tensor(tensor(
            src,
            &format!("{prefix}.pos_embed.weight"),
            [cfg.num_position_embeddings, h],
            device,
        )?);
        let blocks = (0..cfg.depth)
            .map(|i| Qwen3VisionBlock::load(src, &format!("{prefix}.blocks.{i}"), cfg, device))
            .collect::<Result<Vec<_>>>()?;
        let merger = Qwen3Merger::load(src, &format!("{prefix}.merger"), cfg, false, device)?;
        let deepstack_mergers = (0..cfg.deepstack_visual_indexes.len())
            .map(|k| {
                let name = format!("{prefix}.deepstack_merger_list.{k}");
                Qwen3Merger::load(src, &name, cfg, true, device)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Qwen3VisionTower {
            patch_embed,
            pos_embed,
            blocks,
            merger,
            deepstack_mergers,
            config: cfg.clone(),
        })
    }

    /// Writes the tower under `prefix` with the names [`load`](Self::load) reads.
    pub(crate) fn save(&self, sink: &mut TensorSink, prefix: &str) -> Result<()> {
        let c = &self.config;
        let kernel = [
            c.hidden_size,
            c.in_channels,
            c.temporal_patch_size,
            c.patch_size,
            c.patch_size,
        ];
        let name = format!("{prefix}.patch_embed.proj.weight");
        sink.put_patch_kernel(&name, &self.patch_embed.weight.val(), kernel)?;
        if let Some(b) = &self.patch_embed.bias {
            sink.put(format!("{prefix}.patch_embed.proj.bias"), &b.val())?;
        }
        sink.put(format!("{prefix}.pos_embed.weight"), &self.pos_embed.val())?;
        for (i, b) in self.blocks.iter().enumerate() {
            b.save(sink, &format!("{prefix}.blocks.{i}"))?;
        }
        self.merger.save(sink, &format!("{prefix}.merger"))?;
        for (k, m) in self.deepstack_mergers.iter().enumerate() {
            m.save(sink, &format!("{prefix}.deepstack_merger_list.{k}"))?;
        }
        Ok(())
    }

    /// The tower's configuration.
    pub fn config(&self) -> &Qwen3VlVisionConfig {
        &self.config
    }

    /// Checks one image's grid and pixel buffer against the configuration.
    fn check(&self, img: &ImageInput) -> Result<()> {
        let cfg = &self.config;
        let [t, h, w] = img.grid_thw;
        let m = cfg.spatial_merge_size;
        if t == 0 || h == 0 || w == 0 || !h.is_multiple_of(m) || !w.is_multiple_of(m) {
            return Err(Error::BadInput(format!(
                "image grid {:?} must be non-empty with h and w divisible by {m}",
                img.grid_thw
            )));
        }
        let want = t * h * w * cfg.patch_dim();
        if img.pixel_values.len() != want {
            return Err(Error::BadInput(format!(
                "pixel_values holds {} values, grid {:?} needs {want}",
                img.pixel_values.len(),
                img.grid_thw
            )));
        }
        Ok(())
    }

    /// Runs the tower over `images` and returns the main image embeddings followed by the
    /// DeepStack features, all `[merged tokens of all images, out_hidden]`.
    pub fn forward(
        &self,
        images: &[ImageInput],
        device: &Device,
    ) -> Result<(Tensor<2>, Vec<Tensor<2>>)> {
        let mut embeds = Vec::with_capacity(images.len());
        let mut deep: Vec<Vec<Tensor<2>>> = vec![Vec::new(); self.deepstack_mergers.len()];
        for img in images {
            let trace = self.forward_trace(img, device)?;
            embeds.push(trace.image_embeds);
            for (k, f) in trace.deepstack_features.into_iter().enumerate() {
                deep[k].push(f);
            }
        }
        if embeds.is_empty() {
            return Err(Error::BadInput(
                "no images given to the vision tower".into(),
            ));
        }
        Ok((
            Tensor::cat(embeds, 0),
            deep.into_iter()
                .map(|parts| Tensor::cat(parts, 0))
                .collect(),
        ))
    }

    /// Runs the tower over one image, keeping every intermediate result.
    pub fn forward_trace(&self, img: &ImageInput, device: &Device) -> Result<Qwen3VisionTrace> {
        self.check(img)?;
        let cfg = &self.config;
        let [t, gh, gw] = img.grid_thw;
        let n = t * gh * gw;
        let hd = cfg.head_dim();
        let pixels = Tensor::<2>::from_data(
            TensorData::new(img.pixel_values.clone(), [n, cfg.patch_dim()]),
            device,
        );
        let patch_embeds = apply_linear(&self.patch_embed, pixels);
        let pos_embeds = self.position_embeddings(img.grid_thw, device);
        let mut x = patch_embeds.clone() + pos_embeds.clone();

        let angles = vision_rotary_angles(img.grid_thw, cfg.spatial_merge_size, hd);
        let angles = Tensor::<2>::from_data(TensorData::new(angles, [n, hd / 2]), device);
        let emb = Tensor::cat(vec![angles.clone(), angles], 1).reshape([n, 1, hd]);
        let (cos, sin) = (emb.clone().cos(), emb.sin());
        let frames: Vec<(usize, usize)> =
            (0..t).map(|f| (f * gh * gw, (f + 1) * gh * gw)).collect();

        let mut block_outputs = Vec::with_capacity(self.blocks.len());
        let mut deepstack_features = Vec::with_capacity(self.deepstack_mergers.len());
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x, &cos, &sin, &frames);
            block_outputs.push(x.clone());
            if let Some(k) = cfg.deepstack_visual_indexes.iter().position(|&d| d == i) {
                deepstack_features.push(self.deepstack_mergers[k].forward(x.clone()));
            }
        }
        let image_embeds = self.merger.forward(x);
        Ok(Qwen3VisionTrace {
            patch_embeds,
            pos_embeds,
            block_outputs,
            deepstack_features,
            image_embeds,
        })
    }

    /// The position table resampled to the grid, repeated per frame, in block order.
    fn position_embeddings(&self, grid_thw: [usize; 3], device: &Device) -> Tensor<2> {
        let [_, gh, gw] = grid_thw;
        let r = PositionResampling::new(self.config.position_side(), gh, gw);
        let table = self.pos_embed.val();
        let hw = gh * gw;
        // Summed corner by corner in HF's order, so the f32 rounding matches.
        let corner = |k: usize| {
            let rows = table.clone().select(0, index_tensor(&r.indices[k], device));
            let w = Tensor::<2>::from_data(TensorData::new(r.weights[k].clone(), [hw, 1]), device);
            rows * w
        };
        let raster = (1..4).fold(corner(0), |acc, k| acc + corner(k));
        let order: Vec<usize> = block_order(grid_thw, self.config.spatial_merge_size)
            .into_iter()
            .map(|i| i % hw)
            .collect();
        raster.select(0, index_tensor(&order, device))
    }
}
