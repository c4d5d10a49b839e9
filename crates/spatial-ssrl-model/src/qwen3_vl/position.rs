//! Where each Qwen3-VL patch sits: the bilinear resampling of the learned position table to
//! the patch grid, and the row/column angles of the 2-D vision rotary embedding.
//!
//! Follows `fast_pos_embed_interpolate` and `rot_pos_emb` of transformers
//! `modeling_qwen3_vl.py` (v4.57), computed on the host because the values must match
//! `torch.linspace` to the last bit (see [`linspace`]).

/// `torch.linspace(start, end, n)` in f32 as the CPU kernel computes it: the first half
/// counts up from `start`, the second half down from `end`, each with one rounding (a
/// fused multiply-add). A plain `start + step * i` is one ulp off at some indices, which
/// moves the bilinear weights.
pub fn linspace(start: f32, end: f32, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((n - 1 - i) as f32, end)
            }
        })
        .collect()
}

/// The bilinear (align-corners) resampling of a `side x side` position table to a
/// `grid_h x grid_w` patch grid.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionResampling {
    /// Source row coordinate of each patch row (`linspace(0, side - 1, grid_h)`).
    pub h_coords: Vec<f32>,
    /// Source column coordinate of each patch column.
    pub w_coords: Vec<f32>,
    /// Table rows of the four corners (top-left, top-right, bottom-left, bottom-right),
    /// each `grid_h * grid_w` long in raster order.
    pub indices: [Vec<usize>; 4],
    /// Weights of those corners, in the same order.
    pub weights: [Vec<f32>; 4],
}

impl PositionResampling {
    /// The corners and weights for a `grid_h x grid_w` grid over a `side x side` table.
    pub fn new(side: usize, grid_h: usize, grid_w: usize) -> Self {
        let last = side.saturating_sub(1) as f32;
        let h_coords = linspace(0.0, last, grid_h);
        let w_coords = linspace(0.0, last, grid_w);
        // Truncated corner, its clamped neighbour and the fraction toward it.
        let split = |c: f32| {
            let f = c as usize;
            (f, (f + 1).min(side - 1), c - f as f32)
        };
        let hs: Vec<_> = h_coords.iter().map(|&c| split(c)).collect();
        let ws: Vec<_> = w_coords.iter().map(|&c| split(c)).collect();
        let n = grid_h * grid_w;
        let mut indices: [Vec<usize>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        let mut weights: [Vec<f32>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        for &(hf, hc, dh) in &hs {
            for &(wf, wc, dw) in &ws {
                let corners = [
                    (hf * side + wf, (1.0 - dh) * (1.0 - dw)),
                    (hf * side + wc, (1.0 - dh) * dw),
                    (hc * side + wf, dh * (1.0 - dw)),
                    (hc * side + wc, dh * dw),
                ];
                for (k, (i, w)) in corners.into_iter().enumerate() {
                    indices[k].push(i);
                    weights[k].push(w);
                }
            }
        }
        PositionResampling {
            h_coords,
            w_coords,
            indices,
            weights,
        }
    }
}

/// Raster index (`row * grid_w + col`) of each patch in block order: frames, then rows of
/// `merge x merge` blocks, then blocks left to right, then the patches inside a block.
pub fn block_order(grid_thw: [usize; 3], merge: usize) -> Vec<usize> {
    let [t, h, w] = grid_thw;
    let mut out = Vec::with_capacity(t * h * w);
    for frame in 0..t {
        for br in 0..h / merge {
            for bc in 0..w / merge {
                for r in 0..merge {
                    for c in 0..merge {
                        out.push(frame * h * w + (br * merge + r) * w + bc * merge + c);
                    }
                }
            }
        }
    }
    out
}

/// Rotary angles of each patch (block order): `head_dim / 4` row frequencies times the
/// patch row, then as many column frequencies times the patch column; `[patches,
/// head_dim / 2]` row-major (HF `rot_pos_emb`, before `cat(x, x)`).
pub fn vision_rotary_angles(grid_thw: [usize; 3], merge: usize, head_dim: usize) -> Vec<f32> {
    let [_, _, w] = grid_thw;
    let dim = head_dim / 2;
    let inv_freq: Vec<f32> = (0..dim)
        .step_by(2)
        .map(|i| 1.0 / 10000f32.powf(i as f32 / dim as f32))
        .collect();
    let mut out = Vec::with_capacity(grid_thw.iter().product::<usize>() * dim);
    for raster in block_order(grid_thw, merge) {
        let within = raster % (grid_thw[1] * w);
        let (row, col) = (within / w, within % w);
        out.extend(inv_freq.iter().map(|f| row as f32 * f));
        out.extend(inv_freq.iter().map(|f| col as f32 * f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_hits_both_ends_and_single_point() {
        let v = linspace(0.0, 15.0, 18);
        assert_eq!((v[0], v[17]), (0.0, 15.0));
        assert!(v.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(linspace(0.0, 15.0, 1), vec![0.0]);
    }

    #[test]
    fn corner_weights_sum_to_one_and_stay_in_the_table() {
        let r = PositionResampling::new(4, 5, 3);
        for p in 0..15 {
            let s: f32 = (0..4).map(|k| r.weights[k][p]).sum();
            assert!((s - 1.0).abs() < 1e-6);
            assert!((0..4).all(|k| r.indices[k][p] < 16));
        }
    }

    #[test]
    fn block_order_groups_each_two_by_two_block() {
        assert_eq!(&block_order([1, 2, 4], 2)[..8], &[0, 1, 4, 5, 2, 3, 6, 7]);
    }
}
