//! Host-side index bookkeeping of the vision tower: patch coordinates in 2x2 merge order,
//! window partition (and its inverse), attention segments. Pure functions on integers.
//!
//! Follows `Qwen2_5_VisionTransformerPretrainedModel.rot_pos_emb` / `get_window_index` in
//! transformers `modeling_qwen2_5_vl.py` (v4.57).

use crate::error::{Error, Result};
use crate::qwen2_5_vl::config::VisionConfig;

/// Index plan for one forward over a set of images.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VisionLayout {
    /// Per patch (in `pixel_values` order): (row, column) on the patch grid.
    pub patch_pos: Vec<(usize, usize)>,
    /// Merged-token permutation into window order (HF `window_index`).
    pub window_index: Vec<usize>,
    /// Patch spans `[start, end)` of the windows, over window-ordered rows.
    pub window_segments: Vec<(usize, usize)>,
    /// Patch spans of whole frames, for the full-attention blocks.
    pub full_segments: Vec<(usize, usize)>,
}

impl VisionLayout {
    /// Plans the forward for images with the given `(t, h, w)` patch grids.
    pub fn new(cfg: &VisionConfig, grids: &[[usize; 3]]) -> Result<Self> {
        let sm = cfg.spatial_merge_size;
        let unit = cfg.merge_unit();
        let vws = cfg.window_size / sm / cfg.patch_size;
        let mut patch_pos = Vec::new();
        let mut window_index = Vec::new();
        let mut window_segments = Vec::new();
        let mut full_segments = Vec::new();
        let mut token_base = 0usize;
        let mut patch_base = 0usize;
        for &[t, h, w] in grids {
            if t == 0 || h == 0 || w == 0 || h % sm != 0 || w % sm != 0 {
                return Err(Error::BadInput(format!(
                    "image grid {t}x{h}x{w} is empty or not divisible by the merge size {sm}"
                )));
            }
            // Patch rows run over (frame, block row, block column, row in block, col in block).
            for _ in 0..t {
                for br in 0..h / sm {
                    for bc in 0..w / sm {
                        for r in 0..sm {
                            for c in 0..sm {
                                patch_pos.push((br * sm + r, bc * sm + c));
                            }
                        }
                    }
                }
            }
            let (lh, lw) = (h / sm, w / sm);
            for f in 0..t {
                for wr in 0..lh.div_ceil(vws) {
                    for wc in 0..lw.div_ceil(vws) {
                        let start = window_index.len();
                        for r in wr * vws..((wr + 1) * vws).min(lh) {
                            for c in wc * vws..((wc + 1) * vws).min(lw) {
                                window_index.push(token_base + f * lh * lw + r * lw + c);
                            }
                        }
                        window_segments.push((start * unit, window_index.len() * unit));
                    }
                }
                full_segments.push((patch_base + f * h * w, patch_base + (f + 1) * h * w));
            }
            token_base += t * lh * lw;
            patch_base += t * h * w;
        }
        Ok(VisionLayout {
            patch_pos,
            window_index,
            window_segments,
            full_segments,
        })
    }

    /// Patch permutation into window order: merged token groups moved as a whole.
    pub fn patch_permutation(&self, unit: usize) -> Vec<usize> {
        self.window_index
            .iter()
            .flat_map(|&g| (0..unit).map(move |k| g * unit + k))
            .collect()
    }

    /// Inverse of `window_index` (HF `argsort(window_index)`).
    pub fn reverse_index(&self) -> Vec<usize> {
        let mut rev = vec![0; self.window_index.len()];
        for (i, &g) in self.window_index.iter().enumerate() {
            rev[g] = i;
        }
        rev
    }

    /// `cos`/`sin` tables `[patches, head_dim]` of the 2-D rotary embedding, rows in window
    /// order: the first quarter of frequencies turns with the row, the second with the column,
    /// and the half is repeated (HF `cat((freqs, freqs))`).
    pub fn rotary(&self, cfg: &VisionConfig, unit: usize) -> (Vec<f32>, Vec<f32>) {
        let hd = cfg.head_dim();
        let dim = hd / 2;
        let inv: Vec<f32> = (0..dim / 2)
            .map(|i| 1.0f32 / 10000f32.powf((2 * i) as f32 / dim as f32))
            .collect();
        let perm = self.patch_permutation(unit);
        let mut cos = Vec::with_capacity(perm.len() * hd);
        let mut sin = Vec::with_capacity(perm.len() * hd);
        let mut row = vec![0f32; dim];
        for &p in &perm {
            let (r, c) = self.patch_pos[p];
            for (i, f) in inv.iter().enumerate() {
                row[i] = r as f32 * f;
                row[dim / 2 + i] = c as f32 * f;
            }
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos()));
                sin.extend(row.iter().map(|a| a.sin()));
            }
        }
        (cos, sin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qwen2_5_vl::config::Qwen2_5VlConfig;

    #[test]
    fn tiny_grid_windows_match_hf() {
        let cfg = Qwen2_5VlConfig::tiny().vision;
        let l = VisionLayout::new(&cfg, &[[1, 18, 12]]).unwrap();
        let cu: Vec<usize> = std::iter::once(0)
            .chain(l.window_segments.iter().map(|s| s.1))
            .collect();
        assert_eq!(cu, vec![0, 64, 96, 160, 192, 208, 216]);
        assert_eq!(l.full_segments, vec![(0, 216)]);
        assert_eq!(&l.window_index[..6], &[0, 1, 2, 3, 6, 7]);
        let rev = l.reverse_index();
        for (i, &g) in l.window_index.iter().enumerate() {
            assert_eq!(rev[g], i);
        }
        assert!(VisionLayout::new(&cfg, &[[1, 17, 12]]).is_err());
    }
}
