//! The SwiGLU MLP, `down(silu(gate(x)) * up(x))`, and its gated activation.
//!
//! burn composes `silu(gate) * up` from three elementwise ops (sigmoid on a shared copy,
//! then two multiplies), each a single-threaded pass with its own buffer; at 1,024 tokens
//! of a 3B decoder that is three 45 MB passes on one core. On the flex backend outside
//! autodiff the same arithmetic runs here in one pass over the cores, written into
//! `gate`'s own buffer. With f32 weights in checkpoint order and no biases (the decoder's
//! MLP), the whole MLP stays column-major from the two projections to the third
//! (`f32_linear`), so only its `[rows, hidden]` output is laid out row-major again.

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

use crate::dtype::apply_linear;

/// `down(silu(gate(x)) * up(x))`.
pub(crate) fn swiglu<const D: usize>(
    gate: &Linear,
    up: &Linear,
    down: &Linear,
    x: Tensor<D>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::swiglu(gate, up, down, &x) {
        return y;
    }
    let g = silu_gate(apply_linear(gate, x.clone()), apply_linear(up, x));
    apply_linear(down, g)
}

/// `silu(gate) * up` for tensors of one shape.
pub(crate) fn silu_gate<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let (gate, up) = match flex::silu_gate(gate, up) {
        Ok(t) => return t,
        Err(pair) => *pair,
    };
    silu(gate) * up
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::nn::Linear;
    use burn::tensor::{DType, Tensor, TensorData};
    use rayon::prelude::*;

    use crate::f32_linear::{Rows, column_major_product, rows_from_column_major, stored_rows};
    use crate::half_matmul::f32_operands;

    /// The column-major MLP, or `None` when it does not apply (one row, biases, other
    /// dtypes or weight layouts, autodiff, another backend).
    pub(super) fn swiglu<const D: usize>(
        gate: &Linear,
        up: &Linear,
        down: &Linear,
        x: &Tensor<D>,
    ) -> Option<Tensor<D>> {
        if gate.bias.is_some() || up.bias.is_some() || down.bias.is_some() {
            return None;
        }
        let mut dims = x.dims();
        let rows: usize = dims[..D - 1].iter().product();
        let (gw, uw, dw) = (gate.weight.val(), up.weight.val(), down.weight.val());
        let [h, i] = gw.dims();
        if rows < 2 || x.dtype() != DType::F32 || dims[D - 1] != h {
            return None;
        }
        if uw.dims() != [h, i] || dw.dims() != [i, h] {
            return None;
        }
        let (gp, g_at) = stored_rows(&gw)?;
        let (up_p, u_at) = stored_rows(&uw)?;
        let (dp, d_at) = stored_rows(&dw)?;
        let (xp, _) = f32_operands(x, None)?;
        let xs = xp.as_slice::<f32>()?;
        if xs.len() != rows * h {
            return None;
        }
        let input = |column_major| Rows {
            data: xs,
            rows,
            k: h,
            column_major,
        };
        let mut g = column_major_product(input(false), &gp.storage::<f32>()[g_at]);
        let u = column_major_product(input(false), &up_p.storage::<f32>()[u_at]);
        silu_times(&mut g, &u);
        let inner = Rows {
            data: &g,
            rows,
            k: i,
            column_major: true,
        };
        let t = column_major_product(inner, &dp.storage::<f32>()[d_at]);
        let y = rows_from_column_major(&t, rows, h, None);
        dims[D - 1] = h;
        Some(Tensor::from_primitive::<Flex>(FlexTensor::from_data(
            TensorData::new(y, dims.to_vec()),
        )))
    }

    /// `g = silu(g) * u`, elementwise, over the cores.
    fn silu_times(g: &mut [f32], u: &[f32]) {
        g.par_chunks_mut(CHUNK)
            .zip(u.par_chunks(CHUNK))
            .for_each(|(s, u)| {
                for (g, u) in s.iter_mut().zip(u) {
                    *g = *g * sigmoid(*g) * u;
                }
            });
    }

    /// Elements per parallel task.
    const CHUNK: usize = 1 << 14;

    /// The fused pass, or both tensors back when it does not apply (another backend,
    /// autodiff, another dtype, a shared or strided `gate`, a strided `up`).
    pub(super) fn silu_gate<const D: usize>(
        gate: Tensor<D>,
        up: Tensor<D>,
    ) -> Result<Tensor<D>, Box<(Tensor<D>, Tensor<D>)>> {
        if gate.dtype() != DType::F32 || up.dtype() != DType::F32 || gate.dims() != up.dims() {
            return Err(Box::new((gate, up)));
        }
        let Ok(up_p) = up.clone().try_into_primitive::<Flex>() else {
            return Err(Box::new((gate, up)));
        };
        let Some(u) = up_p.as_slice::<f32>() else {
            return Err(Box::new((gate, up)));
        };
        let Ok(mut g) = gate.clone().try_into_primitive::<Flex>() else {
            return Err(Box::new((gate, up)));
        };
        // `gate` itself still holds a reference: drop it so the buffer can be unique.
        drop(gate);
        let n = u.len();
        let whole = g.layout().is_contiguous() && g.layout().start_offset() == 0;
        match g.try_storage_mut::<f32>() {
            Some(s) if whole && s.len() >= n => {
                silu_times(&mut s[..n], u);
                Ok(Tensor::from_primitive::<Flex>(g))
            }
            _ => Err(Box::new((Tensor::from_primitive::<Flex>(g), up))),
        }
    }

    /// burn-flex's f32 sigmoid, so the fused pass gives the same bits as the composed ops.
    #[inline]
    fn sigmoid(x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn fused_pass_equals_the_composed_ops_bit_for_bit() {
        let device = Device::default();
        let gate = Tensor::<3>::random([2, 70, 300], Distribution::Normal(0.0, 3.0), &device);
        let up = Tensor::<3>::random([2, 70, 300], Distribution::Normal(0.0, 1.0), &device);
        let want = (silu(gate.clone()) * up.clone()).into_data();
        // `gate` shared with `kept`: the fused pass must not write into it.
        let kept = gate.clone();
        let shared = silu_gate(gate.clone(), up.clone()).into_data();
        assert_eq!(shared, want);
        assert_eq!(kept.clone().into_data(), gate.into_data());
        // A uniquely held gate (as a linear's fresh output is) takes the fused pass.
        let got = silu_gate(kept.clone() * 1.0, up.clone()).into_data();
        assert_eq!(got, want);
        #[cfg(feature = "flex")]
        assert!(
            flex::silu_gate(kept * 1.0, up).is_ok(),
            "fused pass not taken"
        );
    }

    /// A bias-free linear whose f32 weight is a view of its `[out, in]` checkpoint order.
    fn stored_order_linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
        let w = Tensor::<2>::random([d_out, d_in], Distribution::Normal(0.0, 0.2), device);
        Linear {
            weight: burn::module::Param::from_tensor(w.transpose()),
            bias: None,
        }
    }

    #[test]
    fn column_major_mlp_equals_the_composed_layers() {
        let device = Device::default();
        let (h, i) = (48, 136);
        let (gate, up) = (
            stored_order_linear(h, i, &device),
            stored_order_linear(h, i, &device),
        );
        let down = stored_order_linear(i, h, &device);
        for rows in [1, 2, 37] {
            let x = Tensor::<3>::random([1, rows, h], Distribution::Normal(0.0, 1.0), &device);
            let composed = apply_linear(
                &down,
                silu(apply_linear(&gate, x.clone())) * apply_linear(&up, x.clone()),
            );
            #[cfg(feature = "flex")]
            assert_eq!(flex::swiglu(&gate, &up, &down, &x).is_some(), rows > 1);
            let got = swiglu(&gate, &up, &down, x);
            let err = (got - composed).abs().max().into_scalar::<f32>();
            assert!(err < 1e-5, "{rows} rows: {err}");
        }
    }
}
