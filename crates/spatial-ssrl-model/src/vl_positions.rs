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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ImageInput, VideoPatches};

    fn patches(grid_thw: [usize; 3]) -> ImageInput {
        ImageInput {
            pixel_values: Vec::new(),
            grid_thw,
        }
    }

    #[test]
    fn qwen3_video_frames_are_placed_like_single_frame_images_after_their_timestamps() {
        let rope = RopeIndexConfig::default();
        let (start, pad) = (
            i64::from(rope.vision_start_token_id),
            i64::from(rope.video_token_id),
        );
        let (frames, h, w) = (3usize, 4usize, 6usize);
        let per_frame = h * w / 4;
        // text, then per frame: a two-token timestamp, vision_start, the pads, vision_end.
        let mut ids = vec![10, 11, 12];
        for f in 0..frames as i64 {
            ids.extend([500 + f, 600]);
            ids.push(start);
            ids.extend(std::iter::repeat_n(pad, per_frame));
            ids.push(start + 1);
        }
        ids.extend([13, 14]);
        let video = VideoPatches {
            patches: patches([frames, h, w]),
            second_per_grid_t: 1.0,
        };
        let batch = VlBatch::single(ids.clone(), vec![]).with_videos(vec![video]);
        let (got, deltas) = rope_positions(&rope, VideoPositions::PerFrame, &batch).unwrap();
        // The same prompt with each frame given as a one-frame image.
        let image_pad = i64::from(rope.image_token_id);
        let as_images: Vec<i64> = ids
            .iter()
            .map(|&t| if t == pad { image_pad } else { t })
            .collect();
        let images = vec![patches([1, h, w]); frames];
        let want = rope_positions(
            &rope,
            VideoPositions::PerFrame,
            &VlBatch::single(as_images, images),
        )
        .unwrap();
        assert_eq!((got.clone(), deltas), want);
        // Each frame starts one past the previous text: temporal rows never advance in-frame.
        let first = ids.iter().position(|&t| t == pad).unwrap();
        assert_eq!(got[first], got[first + per_frame - 1]);
        // Qwen2.5-VL's rule reads the same ids as one timed run and refuses the split runs.
        assert!(rope_positions(&rope, VideoPositions::Timed, &batch).is_err());
    }
}
