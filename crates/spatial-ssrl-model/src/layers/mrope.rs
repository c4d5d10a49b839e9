//! Multimodal rotary position embedding (M-RoPE): the `head_dim / 2` frequencies are split
//! by `mrope_section` into a temporal, a height and a width group, and each group turns with
//! its own row of the 3-D position ids; Qwen3-VL interleaves the groups instead
//! ([`MropeLayout::interleaved`]).
//!
//! Follows `Qwen2_5_VLRotaryEmbedding` + `apply_multimodal_rotary_pos_emb`, transformers
//! `modeling_qwen2_5_vl.py` (v4.57): angles are computed in f32 like the reference.

use burn::tensor::{Device, Tensor, TensorData};

use crate::qwen2_5_vl::config::TextConfig;

/// `cos`/`sin` tables `[batch, 1, seq, head_dim]` for 3-D positions laid out
/// `[3, batch, seq]` (row-major, rows temporal/height/width).
pub(crate) fn mrope_tables(
    cfg: &TextConfig,
    positions: &[i64],
    batch: usize,
    seq: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let layout = MropeLayout {
        head_dim: cfg.head_dim(),
        theta: cfg.rope_theta,
        section: cfg.mrope_section,
        interleaved: false,
    };
    layout.tables(positions, batch, seq, device)
}

/// How the rotary frequencies of one head follow the three position rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MropeLayout {
    /// Width of one head (`head_dim / 2` frequencies).
    pub head_dim: usize,
    /// RoPE base.
    pub theta: f64,
    /// Frequencies per row (temporal, height, width).
    pub section: [usize; 3],
    /// `false`: three contiguous chunks `TT..HH..WW..` (Qwen2/2.5-VL); `true`: the
    /// Qwen3-VL cycle `THWTHW...TTTT`, H at `1, 4, ..` (`section[1]` of them), W at
    /// `2, 5, ..` (`section[2]` of them), T elsewhere.
    pub interleaved: bool,
}

impl MropeLayout {
    /// The position row (0 = T, 1 = H, 2 = W) that drives frequency `f`.
    fn row(&self, f: usize) -> usize {
        let [st, sh, sw] = self.section;
        if self.interleaved {
            match f % 3 {
                1 if f < 3 * sh => 1,
                2 if f < 3 * sw => 2,
                _ => 0,
            }
        } else if f < st {
            0
        } else if f < st + sh {
            1
        } else {
            2
        }
    }

    /// `cos`/`sin` tables `[batch, 1, seq, head_dim]` for positions `[3, batch, seq]`.
    pub fn tables(
        &self,
        positions: &[i64],
        batch: usize,
        seq: usize,
        device: &Device,
    ) -> (Tensor<4>, Tensor<4>) {
        let hd = self.head_dim;
        let half = hd / 2;
        let base = self.theta as f32;
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0f32 / base.powf((2 * i) as f32 / hd as f32))
            .collect();
        let rows: Vec<usize> = (0..half).map(|f| self.row(f)).collect();
        let mut cos = Vec::with_capacity(batch * seq * hd);
        let mut sin = Vec::with_capacity(batch * seq * hd);
        let mut angles = vec![0f32; half];
        for b in 0..batch {
            for i in 0..seq {
                for (f, a) in angles.iter_mut().enumerate() {
                    let p = positions[rows[f] * batch * seq + b * seq + i];
                    *a = p as f32 * inv[f];
                }
                for _ in 0..2 {
                    cos.extend(angles.iter().map(|a| a.cos()));
                    sin.extend(angles.iter().map(|a| a.sin()));
                }
            }
        }
        (
            Tensor::from_data(TensorData::new(cos, [batch, 1, seq, hd]), device),
            Tensor::from_data(TensorData::new(sin, [batch, 1, seq, hd]), device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_layout_cycles_thw_then_fills_with_t() {
        let layout = MropeLayout {
            head_dim: 32,
            theta: 1e4,
            section: [8, 4, 4],
            interleaved: true,
        };
        let rows: String = (0..16).map(|f| ['T', 'H', 'W'][layout.row(f)]).collect();
        assert_eq!(rows, "THWTHWTHWTHWTTTT");
        let chunked = MropeLayout {
            interleaved: false,
            ..layout
        };
        let rows: String = (0..16).map(|f| ['T', 'H', 'W'][chunked.row(f)]).collect();
        assert_eq!(rows, "TTTTTTTTHHHHWWWW");
    }
}
