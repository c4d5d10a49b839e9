//! One-row f32 products (`x @ w + b` for a single row of `x`) on the flex backend, spread
//! over the cores.
//!
//! Decoding runs every linear layer on one row. gemm answers a one-row product with a
//! single-threaded matrix-vector kernel, so decoding read the weights at one core's memory
//! bandwidth. Here the output columns are cut into fixed blocks, each its own gemm call on a
//! rayon task. The blocks do not depend on the thread count, so neither do the values.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::half_matmul::f32_operands;

/// Output columns per task.
const BLOCK: usize = 512;
/// Below this many weights one call is cheaper than spreading it.
const MIN_WEIGHTS: usize = 1 << 18;

/// `x @ w + b` when `x` holds one row and `w` is a large f32 `[k, n]` flex tensor in any
/// non-negative strides (a transposed view included); `None` sends the caller to the
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
    let (xp, bp) = f32_operands(x, b)?;
    let xs = xp.as_slice::<f32>()?;
    let bias = match &bp {
        Some(p) => Some(p.as_slice::<f32>()?),
        None => None,
    };
    let (rs, cs) = (wp.layout().strides()[0], wp.layout().strides()[1]);
    let start = wp.layout().start_offset();
    let storage = wp.storage::<f32>();
    // Every element the calls read must lie in the storage.
    let (urs, ucs) = (usize::try_from(rs).ok()?, usize::try_from(cs).ok()?);
    let last = start + (k - 1) * urs + (n - 1) * ucs;
    if xs.len() != k || bias.is_some_and(|b| b.len() != n) || last >= storage.len() {
        return None;
    }
    let mut y = vec![0f32; n];
    y.par_chunks_mut(BLOCK).enumerate().for_each(|(i, out)| {
        let c0 = i * BLOCK;
        // SAFETY: `out` is this task's own `[1, out.len()]` row; `xs` is `[1, k]`
        // contiguous; the weight block starts at column c0 and its largest offset is at
        // most `last`, checked above to lie inside `storage`. Nothing else writes them.
        unsafe {
            gemm::gemm(
                1,
                out.len(),
                k,
                out.as_mut_ptr(),
                1,
                out.len() as isize,
                false,
                xs.as_ptr(),
                1,
                k as isize,
                storage.as_ptr().add(start + c0 * ucs),
                cs,
                rs,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if let Some(b) = bias {
            for (o, b) in out.iter_mut().zip(&b[c0..]) {
                *o += b;
            }
        }
    });
    dims[D - 1] = n;
    Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(
        TensorData::new(y, dims.to_vec()),
    )))
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

    #[test]
    fn one_row_equals_the_matmul_in_both_weight_layouts() {
        let device = Device::flex();
        let (k, n) = (600, 1100);
        let x = Tensor::<2>::from_data(TensorData::new(values(k, 1), [1, k]), &device);
        let b = Tensor::<1>::from_data(TensorData::new(values(n, 2), [n]), &device);
        let stored = Tensor::<2>::from_data(TensorData::new(values(n * k, 3), [n, k]), &device);
        // The checkpoint order seen through a transposed view, and the same values laid out.
        let view = stored.transpose();
        let laid_out = Tensor::<2>::from_data(view.clone().into_data(), &device);
        for w in [view, laid_out] {
            let want = x.clone().matmul(w.clone()) + b.clone().unsqueeze::<2>();
            let got = flex_row_linear(&x, &w, Some(b.clone())).expect("taken");
            let want = want.into_data().try_to_vec::<f32>().unwrap();
            let got = got.into_data().try_to_vec::<f32>().unwrap();
            for (j, (a, g)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (a - g).abs() <= 1e-4 * (1.0 + a.abs()),
                    "column {j}: {a} vs {g}"
                );
            }
        }
    }

    #[test]
    fn several_rows_and_small_weights_are_left_to_the_caller() {
        let device = Device::flex();
        let w = Tensor::<2>::zeros([600, 1100], &device);
        let two = Tensor::<2>::zeros([2, 600], &device);
        assert!(flex_row_linear(&two, &w, None).is_none());
        let small = Tensor::<2>::zeros([8, 8], &device);
        let one = Tensor::<2>::zeros([1, 8], &device);
        assert!(flex_row_linear(&one, &small, None).is_none());
    }
}
