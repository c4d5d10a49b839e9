//! 3-D M-RoPE position ids for text + vision tokens (`get_rope_index`).
//!
//! Ports `Qwen2_5_VLModel.get_rope_index` from transformers 4.57
//! (`models/qwen2_5_vl/modeling_qwen2_5_vl.py`). Each row of the batch is processed over its
//! unmasked tokens only:
//! - text tokens get the same position on all three axes (temporal, height, width), counting
//!   on from the previous chunk's maximum + 1;
//! - the `t * h/m * w/m` pad tokens of an image/video starting at text offset `s` get
//!   `(s + t_pos, s + row, s + col)` over the merged grid, where `t_pos` is 0 for images and
//!   `t * trunc(second_per_grid_t) * tokens_per_second` for videos (transformers converts
//!   `second_per_grid_t` to an integer tensor before multiplying; we keep that behaviour);
//! - masked (padding) positions hold 1;
//! - the rope delta of a row is `max position + 1 - padded length`; while decoding, the token
//!   at cache position `k` (0-based over the padded sequence) has position `k + delta` on
//!   every axis.
//!
//! Without any vision token and grids, positions are `cumsum(mask) - 1` (1 where masked).

use crate::processor::{ProcessorError, Result};

/// Token ids and sizes `get_rope_index` depends on (Qwen2.5-VL values by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeIndexConfig {
    /// Patches per merged token along each side (`vision_config.spatial_merge_size`, 2).
    pub spatial_merge_size: u32,
    /// `<|image_pad|>` id (151655).
    pub image_token_id: u32,
    /// `<|video_pad|>` id (151656).
    pub video_token_id: u32,
    /// `<|vision_start|>` id (151652).
    pub vision_start_token_id: u32,
    /// Temporal positions per second of video (`vision_config.tokens_per_second`, 2).
    pub tokens_per_second: i64,
}

impl Default for RopeIndexConfig {
    fn default() -> Self {
        Self {
            spatial_merge_size: 2,
            image_token_id: 151_655,
            video_token_id: 151_656,
            vision_start_token_id: 151_652,
            tokens_per_second: 2,
        }
    }
}

/// The vision inputs of a batch, in the order their pad tokens appear (row by row).
#[derive(Debug, Clone, Copy, Default)]
pub struct VisionGrids<'a> {
    /// `[t, h, w]` patch grid per image.
    pub image_grid_thw: &'a [[u32; 3]],
    /// `[t, h, w]` patch grid per video.
    pub video_grid_thw: &'a [[u32; 3]],
    /// Seconds per temporal patch per video (1.0 when empty, as in transformers).
    pub second_per_grid_ts: &'a [f32],
}

/// Output of [`get_rope_index`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopeIndex {
    /// `[3, batch, seq]` row-major: axis (temporal, height, width), then batch row, then token.
    pub position_ids: Vec<i64>,
    /// `[batch]`: `max position + 1 - seq` per row.
    pub rope_deltas: Vec<i64>,
    /// Batch size.
    pub batch: usize,
    /// Padded sequence length.
    pub seq_len: usize,
}

impl RopeIndex {
    /// Position of axis `axis` (0 temporal, 1 height, 2 width) for token `pos` of row `row`.
    pub fn get(&self, axis: usize, row: usize, pos: usize) -> i64 {
        self.position_ids[(axis * self.batch + row) * self.seq_len + pos]
    }

    /// Positions `[3, batch, n]` of `n` new tokens appended after `cache_len` cached ones
    /// while decoding: `cache_len + i + rope_delta[row]` on all three axes.
    pub fn decode_positions(&self, cache_len: usize, n: usize) -> Vec<i64> {
        decode_position_ids(&self.rope_deltas, cache_len, n)
    }
}

/// Decoding positions `[3, batch, n]` for `n` tokens at cache positions `cache_len..cache_len+n`:
/// `k + rope_deltas[row]` on all three axes (transformers' decode branch).
///
/// ```
/// let p = spatial_ssrl_model::decode_position_ids(&[-45], 133, 1);
/// assert_eq!(p, vec![88, 88, 88]);
/// ```
pub fn decode_position_ids(rope_deltas: &[i64], cache_len: usize, n: usize) -> Vec<i64> {
    let b = rope_deltas.len();
    let mut out = Vec::with_capacity(3 * b * n);
    for _axis in 0..3 {
        for &d in rope_deltas {
            out.extend((0..n).map(|i| (cache_len + i) as i64 + d));
        }
    }
    out
}

/// Computes 3-D position ids and rope deltas for a batch of token rows.
///
/// `input_ids` is `[batch, seq]` row-major; `attention_mask` (same shape, 1 = token,
/// 0 = padding) defaults to all ones. Grids are consumed in order across the batch.
///
/// # Errors
/// [`ProcessorError::Inconsistent`] when shapes disagree, when a vision span has no grid left,
/// or when a span's pad tokens do not fit in the row (transformers would fail on the
/// assignment); [`ProcessorError::BadConfig`] for `spatial_merge_size` 0.
///
/// ```
/// use spatial_ssrl_model::{RopeIndexConfig, VisionGrids, get_rope_index};
/// let cfg = RopeIndexConfig::default();
/// // text, <|vision_start|>, 4 pads of a [1, 4, 4] grid (2x2 merged), text.
/// let ids = [10, cfg.vision_start_token_id, 151655, 151655, 151655, 151655, 11, 12];
/// let grids = VisionGrids { image_grid_thw: &[[1, 4, 4]], ..Default::default() };
/// let r = get_rope_index(&cfg, &ids, 1, 8, None, grids).unwrap();
/// assert_eq!(&r.position_ids[8..16], &[0, 1, 2, 2, 3, 3, 4, 5]); // height axis
/// assert_eq!(&r.position_ids[16..24], &[0, 1, 2, 3, 2, 3, 4, 5]); // width axis
/// assert_eq!(r.rope_deltas, vec![-2]);
/// ```
pub fn get_rope_index(
    cfg: &RopeIndexConfig,
    input_ids: &[u32],
    batch: usize,
    seq_len: usize,
    attention_mask: Option<&[i64]>,
    grids: VisionGrids<'_>,
) -> Result<RopeIndex> {
    if input_ids.len() != batch * seq_len {
        return Err(ProcessorError::Inconsistent(format!(
            "input_ids has {} values, expected batch {batch} x seq {seq_len}",
            input_ids.len()
        )));
    }
    if let Some(m) = attention_mask
        && m.len() != input_ids.len()
    {
        return Err(ProcessorError::Inconsistent(format!(
            "attention_mask has {} values, input_ids {}",
            m.len(),
            input_ids.len()
        )));
    }
    let m = i64::from(cfg.spatial_merge_size);
    if m == 0 {
        return Err(ProcessorError::BadConfig {
            field: "spatial_merge_size",
            message: "must be positive".into(),
        });
    }
    let has_vision = !grids.image_grid_thw.is_empty() || !grids.video_grid_thw.is_empty();
    let mut position_ids = vec![1i64; 3 * batch * seq_len];
    let mut rope_deltas = Vec::with_capacity(batch);
    let plane = batch * seq_len;
    let (mut image_index, mut video_index) = (0usize, 0usize);
    for row in 0..batch {
        let ids = &input_ids[row * seq_len..(row + 1) * seq_len];
        let mask = attention_mask.map(|m| &m[row * seq_len..(row + 1) * seq_len]);
        let kept: Vec<usize> = (0..seq_len)
            .filter(|&i| mask.is_none_or(|m| m[i] == 1))
            .collect();
        if !has_vision {
            // Text-only branch: cumsum(mask) - 1, masked positions 1.
            let mut max = i64::MIN;
            for (k, &i) in kept.iter().enumerate() {
                for axis in 0..3 {
                    position_ids[axis * plane + row * seq_len + i] = k as i64;
                }
                max = max.max(k as i64);
            }
            if kept.len() < seq_len {
                max = max.max(1);
            }
            let max = if seq_len == 0 { 0 } else { max };
            rope_deltas.push(if attention_mask.is_some() {
                max + 1 - seq_len as i64
            } else {
                0
            });
            continue;
        }
        let tokens: Vec<u32> = kept.iter().map(|&i| ids[i]).collect();
        // Count vision spans by the token right after each <|vision_start|>.
        let (mut n_images, mut n_videos) = (0usize, 0usize);
        for w in tokens.windows(2) {
            if w[0] == cfg.vision_start_token_id {
                if w[1] == cfg.image_token_id {
                    n_images += 1;
                } else if w[1] == cfg.video_token_id {
                    n_videos += 1;
                }
            }
        }
        let mut pos: [Vec<i64>; 3] = std::array::from_fn(|_| Vec::with_capacity(tokens.len()));
        let mut next = 0i64; // max position so far + 1
        let mut st = 0usize;
        let find = |tok: u32, from: usize| {
            tokens[from.min(tokens.len())..]
                .iter()
                .position(|&t| t == tok)
                .map(|p| p + from)
        };
        for _ in 0..n_images + n_videos {
            let ed_image = if n_images > 0 {
                find(cfg.image_token_id, st)
            } else {
                None
            };
            let ed_video = if n_videos > 0 {
                find(cfg.video_token_id, st)
            } else {
                None
            };
            let never = tokens.len() + 1;
            let (ei, ev) = (ed_image.unwrap_or(never), ed_video.unwrap_or(never));
            let (thw, t_scale, ed) = if ei < ev {
                let g = grids.image_grid_thw.get(image_index).ok_or_else(|| {
                    ProcessorError::Inconsistent(format!(
                        "image span {} has no image_grid_thw entry",
                        image_index + 1
                    ))
                })?;
                image_index += 1;
                n_images -= 1;
                (*g, 0i64, ei)
            } else {
                let g = grids.video_grid_thw.get(video_index).ok_or_else(|| {
                    ProcessorError::Inconsistent(format!(
                        "video span {} has no video_grid_thw entry",
                        video_index + 1
                    ))
                })?;
                let spg = grids
                    .second_per_grid_ts
                    .get(video_index)
                    .copied()
                    .unwrap_or(1.0);
                video_index += 1;
                n_videos -= 1;
                // transformers: torch.as_tensor(second_per_grid_t, dtype=int64) truncates.
                (*g, spg.trunc() as i64 * cfg.tokens_per_second, ev)
            };
            if ed >= never {
                return Err(ProcessorError::Inconsistent(
                    "a <|vision_start|> span has no pad token".into(),
                ));
            }
            let (gt, gh, gw) = (
                i64::from(thw[0]),
                i64::from(thw[1]) / m,
                i64::from(thw[2]) / m,
            );
            let text_len = ed - st;
            for k in 0..text_len as i64 {
                for p in &mut pos {
                    p.push(next + k);
                }
            }
            let base = next + text_len as i64;
            let mut max = base - 1;
            for t in 0..gt {
                for h in 0..gh {
                    for w in 0..gw {
                        let tp = base + t * t_scale;
                        pos[0].push(tp);
                        pos[1].push(base + h);
                        pos[2].push(base + w);
                        max = max.max(tp).max(base + h).max(base + w);
                    }
                }
            }
            next = max + 1;
            st = ed + (gt * gh * gw) as usize;
        }
        if st < tokens.len() {
            for k in 0..(tokens.len() - st) as i64 {
                for p in &mut pos {
                    p.push(next + k);
                }
            }
        }
        if pos[0].len() != kept.len() {
            return Err(ProcessorError::Inconsistent(format!(
                "row {row}: vision grids cover {} positions but the row has {} tokens",
                pos[0].len(),
                kept.len()
            )));
        }
        let max = pos.iter().flatten().copied().max().unwrap_or(-1);
        for (axis, p) in pos.iter().enumerate() {
            for (&i, &v) in kept.iter().zip(p) {
                position_ids[axis * plane + row * seq_len + i] = v;
            }
        }
        rope_deltas.push(max + 1 - seq_len as i64);
    }
    Ok(RopeIndex {
        position_ids,
        rope_deltas,
        batch,
        seq_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: u32 = 151_655;
    const VS: u32 = 151_652;

    #[test]
    fn left_padding_keeps_row_positions_and_fills_ones() {
        let cfg = RopeIndexConfig::default();
        // Row 0: 2 pads + [text, vs, 4 image tokens, text]; row 1: same without padding.
        let row = [5, VS, IMG, IMG, IMG, IMG, 6];
        let mut ids = vec![0, 0];
        ids.extend(row);
        ids.extend([7, 8]);
        ids.extend(row);
        let mask: Vec<i64> = [0, 0].into_iter().chain([1; 7]).chain([1; 9]).collect();
        let grids = [[1, 4, 4], [1, 4, 4]];
        let g = VisionGrids {
            image_grid_thw: &grids,
            ..Default::default()
        };
        let r = get_rope_index(&cfg, &ids, 2, 9, Some(&mask), g).unwrap();
        // Height axis of row 0: padding 1, then 0,1, image rows 2,2,3,3, then 4.
        let h0: Vec<i64> = (0..9).map(|i| r.get(1, 0, i)).collect();
        assert_eq!(h0, [1, 1, 0, 1, 2, 2, 3, 3, 4]);
        let w1: Vec<i64> = (0..9).map(|i| r.get(2, 1, i)).collect();
        assert_eq!(w1, [0, 1, 2, 3, 4, 5, 4, 5, 6]);
        assert_eq!(r.rope_deltas, vec![5 - 9, 7 - 9]);
        assert_eq!(r.decode_positions(9, 1), vec![5, 7, 5, 7, 5, 7]);
    }

    #[test]
    fn text_only_uses_cumsum_of_the_mask() {
        let cfg = RopeIndexConfig::default();
        let r = get_rope_index(
            &cfg,
            &[0, 1, 2],
            1,
            3,
            Some(&[0, 1, 1]),
            VisionGrids::default(),
        )
        .unwrap();
        assert_eq!(&r.position_ids[..3], &[1, 0, 1]);
        assert_eq!(r.rope_deltas, vec![-1]);
        let r = get_rope_index(&cfg, &[0, 1, 2], 1, 3, None, VisionGrids::default()).unwrap();
        assert_eq!(&r.position_ids[6..], &[0, 1, 2]);
        assert_eq!(r.rope_deltas, vec![0]);
    }

    #[test]
    fn video_time_axis_scales_by_truncated_seconds() {
        let cfg = RopeIndexConfig::default();
        let ids = [VS, 151_656, 151_656];
        let grids = [[2, 2, 2]];
        let g = VisionGrids {
            video_grid_thw: &grids,
            second_per_grid_ts: &[2.5],
            ..Default::default()
        };
        let r = get_rope_index(&cfg, &ids, 1, 3, None, g).unwrap();
        // Video frames at t = 0 and 1 * trunc(2.5) * 2 = 4, offset by the 1 text token.
        assert_eq!(&r.position_ids[..3], &[0, 1, 5]);
        assert_eq!(r.rope_deltas, vec![6 - 3]);
    }

    #[test]
    fn fractional_seconds_truncate_before_the_product() {
        // transformers casts second_per_grid_t to int64 first: 1.5 s steps by 1 * 2, not 3;
        // 0.5 s puts every temporal patch at the same temporal position.
        let cfg = RopeIndexConfig::default();
        let mut ids = vec![VS];
        ids.extend([151_656; 4]);
        let grids = [[4, 2, 2]];
        let temporal = |spg: f32| {
            let g = VisionGrids {
                video_grid_thw: &grids,
                second_per_grid_ts: &[spg],
                ..Default::default()
            };
            get_rope_index(&cfg, &ids, 1, 5, None, g)
                .unwrap()
                .position_ids[1..5]
                .to_vec()
        };
        assert_eq!(temporal(1.5), [1, 3, 5, 7]);
        assert_eq!(temporal(0.5), [1, 1, 1, 1]);
    }

    #[test]
    fn missing_grid_is_an_error() {
        let cfg = RopeIndexConfig::default();
        let g = VisionGrids {
            image_grid_thw: &[[1, 2, 2]],
            ..Default::default()
        };
        let ids = [VS, IMG, VS, IMG];
        assert!(get_rope_index(&cfg, &ids, 1, 4, None, g).is_err());
    }
}
