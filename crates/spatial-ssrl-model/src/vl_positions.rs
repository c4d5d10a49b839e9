//! Batched M-RoPE positions of a [`VlBatch`] through the rope index ([`get_rope_index`],
//! HF `get_rope_index`): positions over the real tokens only, padding slots 1, per-row deltas.
//!
//! Images place positions the same way in every family; videos differ. Qwen2.5-VL advances
//! the temporal axis by `second_per_grid_t` per temporal patch of one pad run; Qwen3-VL
//! writes a timestamp before every temporal patch, so each is its own `[1, h, w]` run (HF
//! 4.57 `repeat_interleave(video_grid_thw, t)` with `t = 1`).

use crate::batch::VlBatch;
use crate::error::{Error, Result};
use crate::rope_index::{RopeIndexConfig, VisionGrids, get_rope_index};

/// How a family lays out the temporal positions of a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoPositions {
    /// One pad run per video; temporal patch `k` sits `k * second_per_grid_t *
    /// tokens_per_second` after the start (Qwen2.5-VL).
    Timed,
    /// One pad run per temporal patch, each a single frame (Qwen3-VL).
    PerFrame,
}

/// Positions `[3, batch, seq]` and rope deltas `[batch]` for `batch`: the given
/// `position_ids` (deltas derived from them), else computed by the rope index.
pub(crate) fn rope_positions(
    rope_cfg: &RopeIndexConfig,
    videos: VideoPositions,
    batch: &VlBatch,
) -> Result<(Vec<i64>, Vec<i64>)> {
    batch.check()?;
    if let Some(pos) = &batch.position_ids {
        return Ok((pos.clone(), batch.given_rope_deltas(pos)));
    }
    let ids: Vec<u32> = batch
        .input_ids
        .iter()
        .map(|&t| {
            u32::try_from(t).map_err(|_| Error::BadInput(format!("token id {t} out of range")))
        })
        .collect::<Result<_>>()?;
    let grid = |i: &crate::batch::ImageInput| i.grid_thw.map(|g| g as u32);
    let grids: Vec<[u32; 3]> = batch.images.iter().map(grid).collect();
    let (video_grids, seconds): (Vec<[u32; 3]>, Vec<f32>) = match videos {
        VideoPositions::Timed => batch
            .videos
            .iter()
            .map(|v| (grid(&v.patches), v.second_per_grid_t))
            .unzip(),
        VideoPositions::PerFrame => batch
            .videos
            .iter()
            .flat_map(|v| {
                let [t, h, w] = grid(&v.patches);
                std::iter::repeat_n(([1, h, w], 1.0), t as usize)
            })
            .unzip(),
    };
    let r = get_rope_index(
        rope_cfg,
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
