//! Multimodal rotary position embedding (M-RoPE): the `head_dim / 2` frequencies are split
//! by `mrope_section` into a temporal, a height and a width group, and each group turns with
//! its own row of the 3-D position ids.
//!
//! Follows `Qwen2_5_VLRotaryEmbedding` + `apply_multimodal_rotary_pos_emb`, transformers
//! `modeling_qwen2_5_vl.py` (v4.57): angles are computed in f32 like the reference.

use burn::tensor::{Device, Tensor, TensorData};

use crate::config::TextConfig;

/// `cos`/`sin` tables `[batch, 1, seq, head_dim]` for 3-D positions laid out
/// `[3, batch, seq]` (row-major, rows temporal/height/width).
pub(crate) fn mrope_tables(
    cfg: &TextConfig,
    positions: &[i64],
    batch: usize,
    seq: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let hd = cfg.head_dim();
    let half = hd / 2;
    let base = cfg.rope_theta as f32;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0f32 / base.powf((2 * i) as f32 / hd as f32))
        .collect();
    let [st, sh, _] = cfg.mrope_section;
    let section = |f: usize| {
        if f < st {
            0
        } else if f < st + sh {
            1
        } else {
            2
        }
    };
    let mut cos = Vec::with_capacity(batch * seq * hd);
    let mut sin = Vec::with_capacity(batch * seq * hd);
    let mut angles = vec![0f32; half];
    for b in 0..batch {
        for i in 0..seq {
            for (f, a) in angles.iter_mut().enumerate() {
                let p = positions[section(f) * batch * seq + b * seq + i];
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
