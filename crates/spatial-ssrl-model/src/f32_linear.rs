//! f32 linear layers (`x @ w + b`) on the flex backend, written straight into their output.
//!
//! Many rows: one gemm call whose output buffer is allocated here, pre-filled with the bias
//! so gemm adds the product to it. burn's matmul allocates its output as zeroed bytes and
//! then copies them once more to align them, and the bias is another pass after it.
//!
//! One row (decoding): the speed is how fast the weights stream from memory, and gemm
//! answers a one-row product with a single-threaded kernel that walks the `[k, n]` weight
//! in column blocks. Here the weight is cut into bands of whole rows, each read front to
//! back by one rayon task into its own partial sum; the partials are then added in band
//! order. The bands are fixed (not derived from the thread count), and every sum runs in a
//! fixed order without fused multiply-adds, so the bits depend on neither the thread count
//! nor the CPU's vector width.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::half_matmul::f32_operands;

/// Weight rows per band (one task's rows, and one partial sum).
const BAND_ROWS: usize = 128;
/// Output columns per task: a band's partial of this width stays in the L1/L2 cache.
const BAND_COLS: usize = 16384;
/// Below this many weights one generic call is cheaper than spreading a row over bands.
const MIN_WEIGHTS: usize = 1 << 18;

/// `x @ w + b` for f32 `x` `[.., k]` and an f32 flex `w` `[k, n]` in non-negative strides;
/// `None` sends the caller to the generic path (another backend, autodiff, other dtypes).
pub(crate) fn flex_linear<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<2>,
    b: Option<Tensor<1>>,
) -> Option<Tensor<D>> {
    let [k, n] = w.dims();
    let mut dims = x.dims();
    let rows: usize = dims[..D - 1].iter().product();
    if w.dtype() != DType::F32 || x.dtype() != DType::F32 || dims[D - 1] != k {
        return None;
    }
    if rows == 0 || k == 0 || n == 0 {
        return None;
    }
    let wp = w.clone().try_into_primitive::<Flex>().ok()?;
    let (rs, cs) = (wp.layout().strides()[0], wp.layout().strides()[1]);
    let (urs, ucs) = (usize::try_from(rs).ok()?, usize::try_from(cs).ok()?);
    let start = wp.layout().start_offset();
    let storage = wp.storage::<f32>();
    // Every element the kernels read must lie in the storage.
    let last = start + (k - 1) * urs + (n - 1) * ucs;
    if last >= storage.len() {
        return None;
    }
    let (xp, bp) = f32_operands(x, b)?;
    let xs = xp.as_slice::<f32>()?;
    let bias = match &bp {
        Some(p) => Some(p.as_slice::<f32>()?),
        None => None,
    };
    if xs.len() != rows * k || bias.is_some_and(|b| b.len() != n) {
        return None;
    }
    let y = if rows == 1 && k * n >= MIN_WEIGHTS && (urs, ucs) == (n, 1) {
        row_times_matrix(xs, &storage[start..start + k * n], n, bias)
    } else {
        let w = StridedWeight {
            ptr: storage[start..].as_ptr(),
            row_stride: rs,
            col_stride: cs,
        };
        // SAFETY: every offset the product reads is at most `last`, checked above.
        unsafe { rows_times_matrix(xs, rows, k, n, w, bias) }
    };
    dims[D - 1] = n;
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(
        TensorData::new(y, dims.to_vec()),
    )))
}

/// A `[k, n]` weight somewhere in memory.
struct StridedWeight {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

/// `bias + x @ w` for `x` `[rows, k]` row-major.
///
/// # Safety
/// `w.ptr` offset by `r * row_stride + c * col_stride` must be readable for every
/// `r < k`, `c < n`.
unsafe fn rows_times_matrix(
    x: &[f32],
    rows: usize,
    k: usize,
    n: usize,
    w: StridedWeight,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let len = rows * n;
    let mut y = Vec::with_capacity(len);
    if let Some(b) = bias {
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
    }
    let parallelism = if rows * n * k >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `y` has room for `rows * n` values; with a bias they are initialised and
    // read (`read_dst`), without one gemm writes every one of them (`k > 0`) before
    // `set_len`. `x` is `[rows, k]` row-major; the weight's offsets are the caller's.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            bias.is_some(),
            x.as_ptr(),
            1,
            k as isize,
            w.ptr,
            w.col_stride,
            w.row_stride,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        y.set_len(len);
    }
    y
}

/// Multiply-adds above which a product is spread over the cores (burn-flex's choice).
const PARALLEL_WORK: usize = 192 * 192 * 192;

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

    fn assert_close(want: Tensor<2>, got: Tensor<2>) {
        assert_eq!(want.dims(), got.dims());
        let want = want.into_data().try_to_vec::<f32>().unwrap();
        let got = got.into_data().try_to_vec::<f32>().unwrap();
        for (j, (a, g)) in want.iter().zip(&got).enumerate() {
            assert!(
                (a - g).abs() <= 1e-4 * (1.0 + a.abs()),
                "element {j}: {a} vs {g}"
            );
        }
    }

    #[test]
    fn one_row_and_many_rows_equal_the_matmul_in_both_weight_layouts() {
        let device = Device::flex();
        for (rows, k, n) in [(1, K, N), (1, 40, 30), (5, 96, 70)] {
            let x =
                Tensor::<2>::from_data(TensorData::new(values(rows * k, 1), [rows, k]), &device);
            let b = Tensor::<1>::from_data(TensorData::new(values(n, 2), [n]), &device);
            let laid_out =
                Tensor::<2>::from_data(TensorData::new(values(k * n, 3), [k, n]), &device);
            // The same values as a transposed view of an `[n, k]` buffer.
            let view = Tensor::<2>::from_data(laid_out.clone().transpose().into_data(), &device)
                .transpose();
            for w in [laid_out, view] {
                let plain = x.clone().matmul(w.clone());
                let got = flex_linear(&x, &w, None).expect("taken");
                assert_close(plain.clone(), got);
                let got = flex_linear(&x, &w, Some(b.clone())).expect("taken");
                assert_close(plain + b.clone().unsqueeze::<2>(), got);
            }
        }
    }

    #[test]
    fn one_row_bits_depend_on_neither_threads_nor_vector_width() {
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
    fn mismatched_shapes_and_other_dtypes_are_left_to_the_caller() {
        let device = Device::flex();
        let w = Tensor::<2>::zeros([600, 1100], &device);
        let wrong = Tensor::<2>::zeros([2, 599], &device);
        assert!(flex_linear(&wrong, &w, None).is_none());
        let half = Tensor::<2>::zeros([600, 1100], (&device, DType::BF16));
        let one = Tensor::<2>::zeros([1, 600], &device);
        assert!(flex_linear(&one, &half, None).is_none());
        assert!(flex_linear(&one, &w, None).is_some());
        // Autodiff must see burn's own ops to record them.
        let train = device.autodiff();
        let w = Tensor::<2>::zeros([600, 1100], &train);
        let x = Tensor::<2>::zeros([3, 600], &train);
        assert!(flex_linear(&x, &w, None).is_none());
    }
}
