//! What the models read: [`ImageInput`] (patch rows + grid), [`VideoPatches`], and a
//! [`VlBatch`] of (padded) token rows with their media; splicing media embeddings into the
//! pad tokens is done here once for every family.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::family::VisionTokenIds;

/// Pixels of one or more images, as the processor lays them out.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    /// `[t * h * w, 3 * 2 * 14 * 14]` row-major: one row per patch, rows in 2x2 merge order.
    pub pixel_values: Vec<f32>,
    /// Patch grid `(t, h, w)` (HF `image_grid_thw`).
    pub grid_thw: [usize; 3],
}

impl ImageInput {
    /// Number of language-model tokens this image becomes (`t * h * w / 4`).
    pub fn merged_tokens(&self, merge_unit: usize) -> usize {
        self.grid_thw.iter().product::<usize>() / merge_unit
    }
}

/// Indices as an int tensor (for `select`).
pub(crate) fn index_tensor(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

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

    /// The token ids as a `[batch, seq]` tensor on `device`.
    pub(crate) fn ids_tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.input_ids.clone(), [self.batch, self.seq_len]),
            device,
        )
    }

    /// Runs `encode` (a family's vision tower) over the images, then over the videos'
    /// patches, each only when the prompt has pad tokens for them; the pad counts are
    /// checked first ([`Self::media_tokens`]). Returns the `(image, video)` encodings.
    pub(crate) fn encode_media<T>(
        &self,
        pads: VisionTokenIds,
        merge_unit: usize,
        mut encode: impl FnMut(&[ImageInput]) -> Result<T>,
    ) -> Result<(Option<T>, Option<T>)> {
        let (n_img, n_vid) = self.media_tokens(pads, merge_unit)?;
        let image = (n_img > 0).then(|| encode(&self.images)).transpose()?;
        let video = if n_vid > 0 {
            let videos: Vec<ImageInput> = self.videos.iter().map(|v| v.patches.clone()).collect();
            Some(encode(&videos)?)
        } else {
            None
        };
        Ok((image, video))
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
