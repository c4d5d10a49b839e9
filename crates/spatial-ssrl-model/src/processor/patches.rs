//! Rescale, normalise and cut frames into the flattened patch rows the vision tower reads.
//!
//! Layout (transformers `Qwen2VLImageProcessor._preprocess`): frames are grouped in
//! `temporal_patch_size` steps; the array `[grid_t, T, C, gh/m, m, P, gw/m, m, P]` is transposed
//! to `(0, 3, 6, 4, 7, 2, 1, 5, 8)`, so rows run over (t, block row, block column, row in the
//! m x m block, column in the block) and each row holds (channel, frame, y, x).

/// Per-channel `f32` planes of one frame after rescale and normalisation, `[3][h * w]`.
pub(crate) struct NormalizedFrame {
    planes: [Vec<f32>; 3],
}

/// How pixel values are mapped to floats (mirrors the `do_rescale` / `do_normalize` settings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Normalization {
    pub rescale: Option<f64>,
    pub mean_std: Option<([f32; 3], [f32; 3])>,
    /// The torchvision ("fast", video) arithmetic: everything in `f32`, and with both steps on
    /// they are fused into `(x - mean / scale) / (std / scale)`; the last bits differ from
    /// the Pillow processor's `(x * scale - mean) / std`.
    pub torchvision: bool,
}

impl Normalization {
    /// The float value of byte `v` on channel `c`.
    fn apply(&self, c: usize, v: u8) -> f32 {
        if self.torchvision {
            let x = f32::from(v);
            return match (self.rescale, self.mean_std) {
                (Some(s), Some((mean, std))) => {
                    // transformers: float32 mean/std tensors times the float `1 / rescale_factor`.
                    let inv = (1.0 / s) as f32;
                    (x - mean[c] * inv) / (std[c] * inv)
                }
                (Some(s), None) => x * s as f32,
                (None, Some((mean, std))) => (x - mean[c]) / std[c],
                (None, None) => x,
            };
        }
        let x = match self.rescale {
            Some(s) => (f64::from(v) * s) as f32,
            None => f32::from(v),
        };
        match self.mean_std {
            Some((mean, std)) => (x - mean[c]) / std[c],
            None => x,
        }
    }
}

impl NormalizedFrame {
    /// `rgb`: interleaved `h * w * 3` bytes.
    ///
    /// Pillow path: rescaling multiplies in `f64` and rounds to `f32` (numpy
    /// `astype(float64) * scale`, then `astype(float32)`); normalising subtracts and divides in
    /// `f32`, as transformers does. See [`Normalization::torchvision`] for the video path.
    pub(crate) fn new(rgb: &[u8], norm: Normalization) -> Self {
        let n = rgb.len() / 3;
        // All 256 byte values map to 256 floats per channel: a lookup table is exact and fast.
        let lut: [[f32; 256]; 3] =
            std::array::from_fn(|c| std::array::from_fn(|v| norm.apply(c, v as u8)));
        let mut planes: [Vec<f32>; 3] = std::array::from_fn(|_| Vec::with_capacity(n));
        for px in rgb.chunks_exact(3) {
            for c in 0..3 {
                planes[c].push(lut[c][usize::from(px[c])]);
            }
        }
        Self { planes }
    }
}

/// Geometry of the patch grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatchGeometry {
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub merge_size: usize,
    /// Frame height and width in pixels (multiples of `patch_size * merge_size`).
    pub height: usize,
    pub width: usize,
}

impl PatchGeometry {
    /// Values per patch row: `3 * temporal_patch_size * patch_size^2`.
    pub(crate) fn patch_dim(&self) -> usize {
        3 * self.temporal_patch_size * self.patch_size * self.patch_size
    }
}

/// Flattens `frames` (already padded to a multiple of `temporal_patch_size` by the caller) into
/// `[grid_t * grid_h * grid_w, patch_dim]` rows, appended to `out`. Returns `(grid_h, grid_w)`.
pub(crate) fn patchify(
    frames: &[&NormalizedFrame],
    g: PatchGeometry,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (p, tp, m) = (g.patch_size, g.temporal_patch_size, g.merge_size);
    let (gh, gw) = (g.height / p, g.width / p);
    let grid_t = frames.len() / tp;
    out.reserve(grid_t * gh * gw * g.patch_dim());
    for t in 0..grid_t {
        let group = &frames[t * tp..(t + 1) * tp];
        for bh in 0..gh / m {
            for bw in 0..gw / m {
                for mh in 0..m {
                    for mw in 0..m {
                        let (py0, px0) = ((bh * m + mh) * p, (bw * m + mw) * p);
                        for c in 0..3 {
                            for frame in group {
                                let plane = &frame.planes[c];
                                for y in py0..py0 + p {
                                    let row = y * g.width + px0;
                                    out.extend_from_slice(&plane[row..row + p]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (gh, gw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_merge_block_order() {
        // 56x28 image, patch 14, merge 2: grid 4x2, one 2x2 block per block row.
        let (h, w) = (56, 28);
        // Encode (y, x, c) into the byte so every value says where it came from.
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i % 251) as u8).collect();
        let norm = Normalization {
            rescale: None,
            mean_std: None,
            torchvision: false,
        };
        let f = NormalizedFrame::new(&rgb, norm);
        let g = PatchGeometry {
            patch_size: 14,
            temporal_patch_size: 2,
            merge_size: 2,
            height: h,
            width: w,
        };
        let mut out = Vec::new();
        let (gh, gw) = patchify(&[&f, &f], g, &mut out);
        assert_eq!((gh, gw), (4, 2));
        assert_eq!(out.len(), 8 * 1176);
        let at = |y: usize, x: usize, c: usize| ((y * w + x) * 3 + c) % 251;
        // Row 3 = block (0,0), patch (1,1): starts at pixel (14, 14), channel 0.
        assert_eq!(out[3 * 1176] as usize, at(14, 14, 0));
        // Within a row: channel 1 starts after 2 frames x 196 values.
        assert_eq!(out[3 * 1176 + 392] as usize, at(14, 14, 1));
        // Second frame of channel 0 repeats the first.
        assert_eq!(out[3 * 1176 + 196 + 15] as usize, at(15, 15, 0));
        // Row 4 = block (1, 0), patch (0, 0): pixel (28, 0).
        assert_eq!(out[4 * 1176] as usize, at(28, 0, 0));
    }
}
