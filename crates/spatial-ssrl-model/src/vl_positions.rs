//! Batched M-RoPE positions of a [`VlBatch`] through the rope index ([`get_rope_index`],
//! HF `get_rope_index`): positions over the real tokens only, padding slots 1, per-row deltas;
//! videos advance the temporal axis by their `second_per_grid_t`.

use crate::config::Qwen2_5VlConfig;
use crate::error::{Error, Result};
use crate::rope_index::{RopeIndexConfig, VisionGrids, get_rope_index};
use crate::vl::VlBatch;

/// Positions `[3, batch, seq]` and rope deltas `[batch]` for `batch`.
pub(crate) fn rope_positions(
    cfg: &Qwen2_5VlConfig,
    batch: &VlBatch,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let ids: Vec<u32> = batch
        .input_ids
        .iter()
        .map(|&t| {
            u32::try_from(t).map_err(|_| Error::BadInput(format!("token id {t} out of range")))
        })
        .collect::<Result<_>>()?;
    let grid = |i: &crate::vision::ImageInput| i.grid_thw.map(|g| g as u32);
    let grids: Vec<[u32; 3]> = batch.images.iter().map(grid).collect();
    let video_grids: Vec<[u32; 3]> = batch.videos.iter().map(|v| grid(&v.patches)).collect();
    let seconds: Vec<f32> = batch.videos.iter().map(|v| v.second_per_grid_t).collect();
    let rope_cfg = RopeIndexConfig {
        spatial_merge_size: cfg.vision.spatial_merge_size as u32,
        image_token_id: cfg.image_token_id as u32,
        video_token_id: cfg.video_token_id as u32,
        vision_start_token_id: cfg.vision_start_token_id as u32,
        tokens_per_second: cfg.vision.tokens_per_second as i64,
    };
    let r = get_rope_index(
        &rope_cfg,
        &ids,
        batch.batch,
        batch.seq_len,
        batch.attention_mask.as_deref(),
        VisionGrids {
            image_grid_thw: &grids,
            video_grid_thw: &video_grids,
            second_per_grid_ts: &seconds,
        },
    )?;
    Ok((r.position_ids, r.rope_deltas))
}
