//! f32 linear layers (`x @ w + b`) on the flex backend, written straight into their output.
//!
//! The model holds f32 weights in the checkpoint's `[out, in]` order, seen as `[in, out]`
//! through a transposed view (`weights::matrix`). Two products read that order as it is:
//!
//! - Many rows: one gemm call computes the output column-major, where gemm streams the
//!   `[out, in]` rows without packing them and packs only the activations; a tiled pass
//!   then writes it row-major with the bias added. Asked for a row-major output instead,
//!   gemm transposes the problem and packs the whole weight, element by element, on every
//!   call: 18.6 against 15.4 ms for a 128-row 2048 x 11008 product on 2 cores.
//! - One row (decoding): the speed is how fast the weights stream from memory. Each output
//!   is the dot product of the row with one weight row, four outputs at a time, on fixed
//!   blocks of outputs spread over the cores. Every dot product runs in a fixed order (16
//!   lanes, then a fixed tree) without fused multiply-adds, so the bits depend on neither
//!   the thread count nor the CPU's vector width.
//!
//! Weights in any other strides (burn's own `[in, out]` layout) take one gemm call with a
//! row-major output pre-filled with the bias.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::half_matmul::f32_operands;

/// Outputs per task of a one-row product.
const DOT_BLOCK: usize = 64;
/// Output rows per task of the column-major to row-major pass.
const ROW_BLOCK: usize = 16;
/// Output columns per tile of that pass.
const COL_TILE: usize = 64;
/// Multiply-adds above which a product is spread over the cores (burn-flex's choice).
const PARALLEL_WORK: usize = 192 * 192 * 192;

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
    let (xp, bp) = f32_operands(x, b)?;
    let xs = xp.as_slice::<f32>()?;
    let bias = match &bp {
        Some(p) => Some(p.as_slice::<f32>()?),
        None => None,
    };
    if xs.len() != rows * k || bias.is_some_and(|b| b.len() != n) {
        return None;
    }
    let y = if let Some((wp, at)) = stored_rows(w) {
        let stored = &wp.storage::<f32>()[at];
        if rows == 1 {
            row_dots(xs, stored, k, bias)
        } else {
            rows_times_stored(xs, rows, k, stored, bias)
        }
    } else {
        let wp = w.clone().try_into_primitive::<Flex>().ok()?;
        let (rs, cs) = (wp.layout().strides()[0], wp.layout().strides()[1]);
        let (urs, ucs) = (usize::try_from(rs).ok()?, usize::try_from(cs).ok()?);
        let start = wp.layout().start_offset();
        let storage = wp.storage::<f32>();
        // Every element the product reads must lie in the storage.
        if start + (k - 1) * urs + (n - 1) * ucs >= storage.len() {
            return None;
        }
        let w = StridedWeight {
            ptr: storage[start..].as_ptr(),
            row_stride: rs,
            col_stride: cs,
        };
        // SAFETY: every offset the product reads lies in the storage, checked above.
        unsafe { rows_times_matrix(xs, rows, k, n, w, bias) }
    };
    dims[D - 1] = n;
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(
        TensorData::new(y, dims.to_vec()),
    )))
}

fn parallelism(rows: usize, k: usize, n: usize) -> gemm::Parallelism {
    if rows * n * k >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// `bias + x @ w^T` for `x` `[rows, k]` and `w` `[n, k]`, both row-major.
fn rows_times_stored(
    x: &[f32],
    rows: usize,
    k: usize,
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let t = column_major_product(
        Rows {
            data: x,
            rows,
            k,
            column_major: false,
        },
        w,
    );
    rows_from_column_major(&t, rows, w.len() / k, bias)
}

/// `[rows, k]` activations, stored row-major or column-major.
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub k: usize,
    pub column_major: bool,
}

/// `x @ w^T` for `w` `[n, k]` row-major, returned column-major (`t[j * rows + r]`).
pub(crate) fn column_major_product(x: Rows<'_>, w: &[f32]) -> Vec<f32> {
    let Rows {
        data,
        rows,
        k,
        column_major,
    } = x;
    let n = w.len() / k;
    assert!(rows > 0 && k > 0 && data.len() == rows * k && w.len() == n * k);
    let (lhs_cs, lhs_rs) = if column_major {
        (rows as isize, 1)
    } else {
        (1, k as isize)
    };
    let mut t = Vec::with_capacity(rows * n);
    // SAFETY: `t` has room for `rows * n` values, gemm writes every one of them (`k > 0`,
    // `read_dst` false) before `set_len`; `data` is `[rows, k]` in the strides given, and
    // `w` `[n, k]` row-major is read as the `[k, n]` view `w^T` (unit row stride).
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            t.as_mut_ptr(),
            rows as isize,
            1,
            false,
            data.as_ptr(),
            lhs_cs,
            lhs_rs,
            w.as_ptr(),
            k as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism(rows, k, n),
        );
        t.set_len(rows * n);
    }
    t
}

/// The row-major `[rows, n]` of a column-major `t`, plus `bias` on every row.
pub(crate) fn rows_from_column_major(
    t: &[f32],
    rows: usize,
    n: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    assert_eq!(t.len(), rows * n);
    let mut y: Vec<f32> = Vec::with_capacity(rows * n);
    y.spare_capacity_mut()
        .par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, out)| {
            let r0 = blk * ROW_BLOCK;
            let h = out.len() / n;
            for j0 in (0..n).step_by(COL_TILE) {
                let j1 = (j0 + COL_TILE).min(n);
                for r in 0..h {
                    let dst = &mut out[r * n + j0..r * n + j1];
                    for (j, d) in (j0..j1).zip(dst) {
                        let v = t[j * rows + r0 + r];
                        d.write(bias.map_or(v, |b| v + b[j]));
                    }
                }
            }
        });
    // SAFETY: the chunks cover all `rows * n` slots and every slot was written above.
    unsafe { y.set_len(rows * n) };
    y
}

/// The storage of an f32 flex weight `[k, n]` held as a view of its `[n, k]` checkpoint
/// order, or `None` for any other layout.
pub(crate) fn stored_rows(w: &Tensor<2>) -> Option<(FlexTensor, std::ops::Range<usize>)> {
    let [k, n] = w.dims();
    if w.dtype() != DType::F32 || k == 0 || n == 0 {
        return None;
    }
    let wp = w.clone().try_into_primitive::<Flex>().ok()?;
    if wp.layout().strides() != [1, k as isize] {
        return None;
    }
    let start = wp.layout().start_offset();
    let range = start..start + n * k;
    (range.end <= wp.storage::<f32>().len()).then_some((wp, range))
}

/// `bias + w x` for one row `x` `[k]` and `w` `[n, k]` row-major.
fn row_dots(x: &[f32], w: &[f32], k: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let n = w.len() / k;
    let mut y = vec![0f32; n];
    y.par_chunks_mut(DOT_BLOCK)
        .enumerate()
        .for_each(|(blk, out)| {
            let j0 = blk * DOT_BLOCK;
            dot_block(x, &w[j0 * k..(j0 + out.len()) * k], out);
            if let Some(b) = bias {
                for (o, b) in out.iter_mut().zip(&b[j0..]) {
                    *o += b;
                }
            }
        });
    y
}

/// `out[j] = x . w[j]` for the rows of `w` (`out.len()` rows of `x.len()`).
fn dot_block(x: &[f32], w: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been checked for AVX2.
        return unsafe { dot_block_avx2(x, w, out) };
    }
    dot_block_portable(x, w, out);
}

/// [`dot_block`] compiled for AVX2: the same operations in the same order, so the same
/// bits (Rust never fuses the multiply and the add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_block_avx2(x: &[f32], w: &[f32], out: &mut [f32]) {
    dot_block_portable(x, w, out);
}

/// Lanes of one dot product's partial sums.
const LANES: usize = 16;

#[inline(always)]
fn dot_block_portable(x: &[f32], w: &[f32], out: &mut [f32]) {
    let k = x.len();
    let mut quads = out.chunks_exact_mut(4);
    let mut j = 0;
    for o in quads.by_ref() {
        // Four weight rows share each load of `x`.
        let rows = [0, 1, 2, 3].map(|i| &w[(j + i) * k..(j + i + 1) * k]);
        let mut acc = [[0f32; LANES]; 4];
        let groups = x
            .chunks_exact(LANES)
            .zip(rows[0].chunks_exact(LANES))
            .zip(rows[1].chunks_exact(LANES))
            .zip(rows[2].chunks_exact(LANES))
            .zip(rows[3].chunks_exact(LANES));
        for ((((xs, w0), w1), w2), w3) in groups {
            for l in 0..LANES {
                acc[0][l] += xs[l] * w0[l];
                acc[1][l] += xs[l] * w1[l];
                acc[2][l] += xs[l] * w2[l];
                acc[3][l] += xs[l] * w3[l];
            }
        }
        for ((o, a), row) in o.iter_mut().zip(&acc).zip(&rows) {
            *o = finish_dot(a, x, row);
        }
        j += 4;
    }
    for o in quads.into_remainder() {
        let row = &w[j * k..(j + 1) * k];
        let mut a = [0f32; LANES];
        for (xs, ws) in x.chunks_exact(LANES).zip(row.chunks_exact(LANES)) {
            for l in 0..LANES {
                a[l] += xs[l] * ws[l];
            }
        }
        *o = finish_dot(&a, x, row);
        j += 1;
    }
}

/// Sums a dot product's lanes by a fixed tree, then adds the elements past the last whole
/// group of lanes.
#[inline(always)]
fn finish_dot(acc: &[f32; LANES], x: &[f32], row: &[f32]) -> f32 {
    let mut a = *acc;
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            a[l] += a[l + width];
        }
        width /= 2;
    }
    let whole = x.len() / LANES * LANES;
    x[whole..]
        .iter()
        .zip(&row[whole..])
        .fold(a[0], |s, (x, w)| s + x * w)
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
            parallelism(rows, k, n),
        );
        y.set_len(len);
    }
    y
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
    fn products_equal_the_matmul_in_both_weight_layouts() {
        let device = Device::flex();
        // One row (odd k: a lane remainder; outputs not a multiple of 4 or of a block),
        // and several row blocks with a partial one and a partial column tile.
        for (rows, k, n) in [
            (1, 37, DOT_BLOCK + 7),
            (1, 64, 8),
            (ROW_BLOCK * 2 + 3, 96, COL_TILE + 9),
        ] {
            let x =
                Tensor::<2>::from_data(TensorData::new(values(rows * k, 1), [rows, k]), &device);
            let b = Tensor::<1>::from_data(TensorData::new(values(n, 2), [n]), &device);
            let stored = Tensor::<2>::from_data(TensorData::new(values(n * k, 3), [n, k]), &device);
            // The checkpoint order seen through a view, and the same values laid out.
            let view = stored.transpose();
            let laid_out = Tensor::<2>::from_data(view.clone().into_data(), &device);
            for w in [view, laid_out] {
                let plain = x.clone().matmul(w.clone());
                assert_close(plain.clone(), flex_linear(&x, &w, None).expect("taken"));
                let got = flex_linear(&x, &w, Some(b.clone())).expect("taken");
                assert_close(plain + b.clone().unsqueeze::<2>(), got);
            }
        }
    }

    #[test]
    fn one_row_bits_depend_on_neither_threads_nor_vector_width() {
        let (k, n) = (300, 3 * DOT_BLOCK + 5);
        let (x, w, b) = (values(k, 4), values(n * k, 5), values(n, 6));
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| row_dots(&x, &w, k, Some(&b)))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        let mut want = vec![0f32; n];
        dot_block_portable(&x, &w, &mut want);
        for (o, b) in want.iter_mut().zip(&b) {
            *o += b;
        }
        assert_eq!(one, want);
    }

    #[test]
    fn mismatched_shapes_other_dtypes_and_autodiff_are_left_to_the_caller() {
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
