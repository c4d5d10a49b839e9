//! The kernels behind burn tensors on the flex (CPU) backend: the storage of a 16-bit
//! weight is read in place, the f32 result becomes a new tensor. Anything else (another
//! backend, autodiff-tracked tensors, an unexpected dtype or layout) answers `None` and the
//! caller takes burn's generic path.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Tensor, TensorData};
use half::slice::HalfFloatSliceExt;

use super::{HalfKind, HalfMatrix, matmul, matmul_transposed};

/// The raw elements of a contiguous 16-bit tensor.
fn half_bits(t: &FlexTensor) -> Option<(&[u16], HalfKind)> {
    match t.dtype() {
        DType::BF16 => Some((
            t.as_slice::<half::bf16>()?.reinterpret_cast(),
            HalfKind::Bf16,
        )),
        DType::F16 => Some((t.as_slice::<half::f16>()?.reinterpret_cast(), HalfKind::F16)),
        _ => None,
    }
}

/// The flex primitive of an f32 tensor, made contiguous (`None`: another backend, autodiff,
/// another dtype).
fn f32_primitive<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let p = t.clone().try_into_primitive::<Flex>().ok()?;
    Some(if p.is_contiguous() {
        p
    } else {
        p.to_contiguous()
    })
}

/// A linear layer's input and optional bias as contiguous f32 flex primitives (`None` when
/// either is not one).
pub(crate) fn f32_operands<const D: usize>(
    x: &Tensor<D>,
    b: Option<Tensor<1>>,
) -> Option<(FlexTensor, Option<FlexTensor>)> {
    let bias = match b {
        Some(b) => Some(f32_primitive(&b)?),
        None => None,
    };
    Some((f32_primitive(x)?, bias))
}

/// `x @ w + b` for f32 `x` `[.., k]`, 16-bit `w` `[k, n]` and f32 `b` `[n]`.
pub(crate) fn flex_linear<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<2>,
    b: Option<Tensor<1>>,
) -> Option<Tensor<D>> {
    let [k, n] = w.dims();
    let mut dims = x.dims();
    if dims[D - 1] != k {
        return None;
    }
    let wp = w.clone().try_into_primitive::<Flex>().ok()?;
    let (bits, kind) = half_bits(&wp)?;
    let (xp, bp) = f32_operands(x, b)?;
    let xs = xp.as_slice::<f32>()?;
    let bias = match &bp {
        Some(p) => Some(p.as_slice::<f32>()?),
        None => None,
    };
    let m = xs.len() / k.max(1);
    let w = HalfMatrix {
        bits,
        rows: k,
        cols: n,
        kind,
    };
    let y = matmul(xs, m, w, bias);
    dims[D - 1] = n;
    Some(from_vec(y, &dims))
}

/// `x @ embed^T` for f32 `x` `[m, k]` and a 16-bit `embed` `[vocab, k]`: `[m, vocab]`.
pub(crate) fn flex_tied_logits(x: &Tensor<2>, embed: &Tensor<2>) -> Option<Tensor<2>> {
    let [vocab, k] = embed.dims();
    let [m, kx] = x.dims();
    if kx != k {
        return None;
    }
    let ep = embed.clone().try_into_primitive::<Flex>().ok()?;
    let (bits, kind) = half_bits(&ep)?;
    let xp = f32_primitive(x)?;
    let w = HalfMatrix {
        bits,
        rows: vocab,
        cols: k,
        kind,
    };
    let y = matmul_transposed(xp.as_slice::<f32>()?, m, w);
    Some(from_vec(y, &[m, vocab]))
}

fn from_vec<const D: usize>(values: Vec<f32>, dims: &[usize]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(
        values,
        dims.to_vec(),
    )))
}
