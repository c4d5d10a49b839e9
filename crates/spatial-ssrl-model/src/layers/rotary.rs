//! The rotary embedding in transformers' `rotate_half` convention, used by the vision
//! towers' 2-D rotary and the decoders' M-RoPE alike.

use burn::tensor::Tensor;

/// `x * cos + rotate_half(x) * sin`, with `rotate_half(x) = cat(-x2, x1)` over the last dim.
pub(crate) fn apply_rotary<const D: usize>(
    x: Tensor<D>,
    cos: Tensor<D>,
    sin: Tensor<D>,
) -> Tensor<D> {
    let d = x.dims()[D - 1];
    let x1 = x.clone().narrow(D - 1, 0, d / 2);
    let x2 = x.clone().narrow(D - 1, d / 2, d / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], D - 1);
    x * cos + rotated * sin
}
