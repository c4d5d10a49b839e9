//! The gated activation of the SwiGLU MLPs: `silu(gate) * up`.
//!
//! burn composes it from three elementwise ops (sigmoid on a shared copy, then two
//! multiplies), each a single-threaded pass with its own buffer; at 1,024 tokens of a 3B
//! decoder that is three 45 MB passes on one core. On the flex backend outside autodiff the
//! same arithmetic runs here in one pass over the cores, written into `gate`'s own buffer.

use burn::tensor::Tensor;
use burn::tensor::activation::silu;

/// `silu(gate) * up` for tensors of one shape.
pub(crate) fn silu_gate<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let (gate, up) = match flex::silu_gate(gate, up) {
        Ok(t) => return t,
        Err(pair) => pair,
    };
    silu(gate) * up
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Flex;
    use burn::tensor::{DType, Tensor};
    use rayon::prelude::*;

    /// Elements per parallel task.
    const CHUNK: usize = 1 << 14;

    /// The fused pass, or both tensors back when it does not apply (another backend,
    /// autodiff, another dtype, a shared or strided `gate`, a strided `up`).
    pub(super) fn silu_gate<const D: usize>(
        gate: Tensor<D>,
        up: Tensor<D>,
    ) -> Result<Tensor<D>, (Tensor<D>, Tensor<D>)> {
        if gate.dtype() != DType::F32 || up.dtype() != DType::F32 || gate.dims() != up.dims() {
            return Err((gate, up));
        }
        let Ok(up_p) = up.clone().try_into_primitive::<Flex>() else {
            return Err((gate, up));
        };
        let Some(u) = up_p.as_slice::<f32>() else {
            return Err((gate, up));
        };
        let Ok(mut g) = gate.clone().try_into_primitive::<Flex>() else {
            return Err((gate, up));
        };
        // `gate` itself still holds a reference: drop it so the buffer can be unique.
        drop(gate);
        let n = u.len();
        let whole = g.layout().is_contiguous() && g.layout().start_offset() == 0;
        match g.try_storage_mut::<f32>() {
            Some(s) if whole && s.len() >= n => {
                s[..n]
                    .par_chunks_mut(CHUNK)
                    .zip(u.par_chunks(CHUNK))
                    .for_each(|(s, u)| {
                        for (g, u) in s.iter_mut().zip(u) {
                            *g = *g * sigmoid(*g) * u;
                        }
                    });
                Ok(Tensor::from_primitive::<Flex>(g))
            }
            _ => Err((Tensor::from_primitive::<Flex>(g), up)),
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
}
