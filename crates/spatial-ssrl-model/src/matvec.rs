//! One-row f32 products (`x @ w + b` for a single row of `x`) on the flex backend, spread
//! over the cores.
//!
//! Decoding runs every linear layer on one row, so its speed is how fast the weights stream
//! from memory. gemm answers a one-row product with a single-threaded kernel that walks the
//! `[k, n]` weight in column blocks, one cache-line run per row. Here the weight is cut
//! into bands of whole rows, each read front to back by one rayon task into its own partial
//! sum; the partials are then added in band order. The bands are fixed (not derived from
//! the thread count), and every sum runs in a fixed order without fused multiply-adds, so
//! the bits depend on neither the thread count nor the CPU's vector width.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::half_matmul::f32_operands;

/// Weight rows per band (one task's rows, and one partial sum).
const BAND_ROWS: usize = 128;
/// Output columns per task: a band's partial of this width stays in the L1/L2 cache.
const BAND_COLS: usize = 16384;
/// Below this many weights one generic call is cheaper than spreading it.
const MIN_WEIGHTS: usize = 1 << 18;

/// `x @ w + b` when `x` holds one row and `w` is a large f32 `[k, n]` flex tensor laid out
/// row-major (how [`crate::weights`] holds linear weights); `None` sends the caller to the
/// generic path.
pub(crate) fn flex_row_linear<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<2>,
    b: Option<Tensor<1>>,
) -> Option<Tensor<D>> {
    let [k, n] = w.dims();
    let mut dims = x.dims();
    let rows: usize = dims[..D - 1].iter().product();
    if w.dtype() != DType::F32 || dims[D - 1] != k || rows != 1 || k * n < MIN_WEIGHTS {
        return None;
    }
    let wp = w.clone().try_into_primitive::<Flex>().ok()?;
    if wp.layout().strides() != [n as isize, 1] {
        return None;
    }
    let start = wp.layout().start_offset();
    let weights = wp.storage::<f32>().get(start..start + k * n)?;
    let (xp, bp) = f32_operands(x, b)?;
    let xs = xp.as_slice::<f32>()?;
    let bias = match &bp {
        Some(p) => Some(p.as_slice::<f32>()?),
        None => None,
    };
    if xs.len() != k || bias.is_some_and(|b| b.len() != n) {
        return None;
    }
    let y = row_times_matrix(xs, weights, n, bias);
    dims[D - 1] = n;
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(
        TensorData::new(y, dims.to_vec()),
    )))
}

/// `bias + x @ w` for `x` `[k]` and row-major `w` `[k, n]`.
fn row_times_matrix(x: &[f32], w: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let k = x.len();
    let bands = k.div_ceil(BAND_ROWS);
    // partials[band * n + j]: band's share of output j.
    let mut partials = vec![0f32; bands * n];
    partials
        .par_chunks_mut(n)
        .enumerate()
        .flat_map(|(band, part)| {
            part.par_chunks_mut(BAND_COLS)
                .enumerate()
                .map(move |(c, out)| (band, c * BAND_COLS, out))
        })
        .for_each(|(band, c0, out)| {
            let r0 = band * BAND_ROWS;
            let r1 = (r0 + BAND_ROWS).min(k);
            accumulate_band(&x[r0..r1], &w[r0 * n..r1 * n], n, c0, out);
        });
    let mut y = bias.map_or_else(|| vec![0f32; n], <[f32]>::to_vec);
    y.par_chunks_mut(BAND_COLS)
        .enumerate()
        .for_each(|(c, out)| {
            let c0 = c * BAND_COLS;
            for part in partials.chunks_exact(n) {
                for (o, p) in out.iter_mut().zip(&part[c0..]) {
                    *o += p;
                }
            }
        });
    y
}

/// `out[j] = sum_r x[r] * w[r, c0 + j]` over the band's rows, four rows per pass over `out`
/// so the partial is read and written once per four weight rows.
fn accumulate_band(x: &[f32], w: &[f32], n: usize, c0: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been checked for AVX2.
        return unsafe { accumulate_band_avx2(x, w, n, c0, out) };
    }
    accumulate_band_portable(x, w, n, c0, out);
}

/// [`accumulate_band`] compiled for AVX2: the same operations in the same order, so the
/// same bits (Rust never fuses the multiply and the add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_band_avx2(x: &[f32], w: &[f32], n: usize, c0: usize, out: &mut [f32]) {
    accumulate_band_portable(x, w, n, c0, out);
}

#[inline(always)]
fn accumulate_band_portable(x: &[f32], w: &[f32], n: usize, c0: usize, out: &mut [f32]) {
    let width = out.len();
    let row = |r: usize| &w[r * n + c0..r * n + c0 + width];
    let mut quads = x.chunks_exact(4);
    let mut r = 0;
    for q in quads.by_ref() {
        let (w0, w1, w2, w3) = (row(r), row(r + 1), row(r + 2), row(r + 3));
        let ws = w0.iter().zip(w1).zip(w2).zip(w3);
        for (o, (((a, b), c), d)) in out.iter_mut().zip(ws) {
            *o += q[0] * a + q[1] * b + q[2] * c + q[3] * d;
        }
        r += 4;
    }
    for &xr in quads.remainder() {
        for (o, wv) in out.iter_mut().zip(row(r)) {
            *o += xr * wv;
        }
        r += 1;
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    /// Several bands, a last band of odd height and a second column block.
    const K: usize = 2 * BAND_ROWS + 7;
    const N: usize = BAND_COLS + 100;

    #[test]
    fn one_row_equals_the_matmul() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(values(K, 1), [1, K]), &device);
        let b = Tensor::<1>::from_data(TensorData::new(values(N, 2), [N]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(values(K * N, 3), [K, N]), &device);
        let want = x.clone().matmul(w.clone()) + b.clone().unsqueeze::<2>();
        let got = flex_row_linear(&x, &w, Some(b)).expect("taken");
        let want = want.into_data().try_to_vec::<f32>().unwrap();
        let got = got.into_data().try_to_vec::<f32>().unwrap();
        for (j, (a, g)) in want.iter().zip(&got).enumerate() {
            assert!(
                (a - g).abs() <= 1e-4 * (1.0 + a.abs()),
                "column {j}: {a} vs {g}"
            );
        }
    }

    #[test]
    fn bits_depend_on_neither_threads_nor_vector_width() {
        let (x, w, b) = (values(K, 4), values(K * N, 5), values(N, 6));
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| row_times_matrix(&x, &w, N, Some(&b)))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        // The portable loop, band by band, as a single thread would add them.
        let mut want = b.clone();
        for (band, xs) in x.chunks(BAND_ROWS).enumerate() {
            let rows = &w[band * BAND_ROWS * N..(band * BAND_ROWS + xs.len()) * N];
            let mut part = vec![0f32; N];
            for (c, out) in part.chunks_mut(BAND_COLS).enumerate() {
                accumulate_band_portable(xs, rows, N, c * BAND_COLS, out);
            }
            for (o, p) in want.iter_mut().zip(&part) {
                *o += p;
            }
        }
        assert_eq!(one, want);
    }

    #[test]
    fn other_layouts_several_rows_and_small_weights_are_left_to_the_caller() {
        let device = Device::flex();
        let w = Tensor::<2>::zeros([600, 1100], &device);
        let two = Tensor::<2>::zeros([2, 600], &device);
        assert!(flex_row_linear(&two, &w, None).is_none());
        let one = Tensor::<2>::zeros([1, 600], &device);
        assert!(flex_row_linear(&one, &w, None).is_some());
        let view = Tensor::<2>::zeros([1100, 600], &device).transpose();
        assert!(flex_row_linear(&one, &view, None).is_none());
        let small = Tensor::<2>::zeros([8, 8], &device);
        let one = Tensor::<2>::zeros([1, 8], &device);
        assert!(flex_row_linear(&one, &small, None).is_none());
    }
}
