//! The element type the large weights are held in, and how layers compute with them.
//!
//! The projection matrices and the token embedding (all but a few MB of a Qwen2.5-VL
//! checkpoint) are held in the chosen dtype; biases, norm weights and the patch embedding
//! stay f32. Activations are f32. A layer whose weight is held in bf16/f16 multiplies on
//! the CPU with the weight widened in registers (`half_matmul`, f32 accumulation, as on CPU
//! PyTorch); on a GPU backend that computes in the dtype, its input is narrowed and the
//! product runs in bf16/f16 (`half_linear`); under autodiff it widens the weight to a
//! temporary, so memory holds the checkpoint once plus one widened matrix at a time.

use std::fmt;
use std::str::FromStr;

use burn::nn::Linear;
use burn::tensor::module::linear;
use burn::tensor::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Element type of the weights in memory (`--dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// What the checkpoint stores (bf16 for the released Qwen2.5-VL weights).
    #[default]
    Auto,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
    /// f32 (every weight widened on load).
    F32,
}

impl FromStr for WeightDtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(WeightDtype::Auto),
            "bf16" | "bfloat16" => Ok(WeightDtype::Bf16),
            "f16" | "fp16" | "float16" => Ok(WeightDtype::F16),
            "f32" | "fp32" | "float32" => Ok(WeightDtype::F32),
            _ => Err(Error::BadInput(format!(
                "unknown dtype {s:?}: expected auto, bf16, f16 or f32"
            ))),
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightDtype::Auto => "auto",
            WeightDtype::Bf16 => "bf16",
            WeightDtype::F16 => "f16",
            WeightDtype::F32 => "f32",
        })
    }
}

impl WeightDtype {
    /// The concrete dtype for a checkpoint whose large tensors are stored as `stored`
    /// (`None`: a random or unknown source, held in f32 under `Auto`), checked against what
    /// `device` can hold.
    pub fn resolve(self, stored: Option<DType>, device: &Device) -> Result<DType> {
        let dtype = match self {
            WeightDtype::Auto => match stored {
                Some(d @ (DType::BF16 | DType::F16)) => d,
                _ => DType::F32,
            },
            WeightDtype::Bf16 => DType::BF16,
            WeightDtype::F16 => DType::F16,
            WeightDtype::F32 => DType::F32,
        };
        if !device.supports_dtype(dtype) {
            return Err(Error::UnsupportedDeviceDtype {
                dtype: format!("{dtype:?}"),
                device: format!("{device:?}"),
            });
        }
        Ok(dtype)
    }
}

/// `x @ W + b` with f32 accumulation when `W` is held narrower than `x`: on the CPU the
/// 16-bit weight is widened in registers (`half_matmul`), elsewhere (GPU backends, autodiff)
/// it is widened to a temporary tensor.
pub(crate) fn apply_linear<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    let w = l.weight.val();
    if w.dtype() == x.dtype() {
        #[cfg(feature = "flex")]
        if let Some(y) = crate::f32_linear::flex_linear(&x, &w, l.bias.as_ref().map(|b| b.val())) {
            return y;
        }
        return folded_linear(x, w, l.bias.as_ref().map(|b| b.val()));
    }
    #[cfg(feature = "flex")]
    if let Some(y) = crate::half_matmul::flex_linear(&x, &w, l.bias.as_ref().map(|b| b.val())) {
        return y;
    }
    if computes_in_half(&x.device(), w.dtype()) {
        return half_linear(l, x);
    }
    let dt = x.dtype();
    linear(x, w.cast(dt), l.bias.as_ref().map(|b| b.val().cast(dt)))
}

/// Whether a layer with a `half` weight multiplies in that dtype: on a GPU backend (wgpu,
/// cuda) that computes in it, outside autodiff. CPU backends and training widen instead.
fn computes_in_half(device: &Device, half: DType) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return false;
    }
    // burn marks the ndarray backend deprecated, but the feature is still offered.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return false;
    }
    cfg!(any(feature = "wgpu", feature = "cuda"))
        && !device.is_autodiff()
        && device.supports_dtype(half)
}

/// `x @ W + b` in the weight's 16-bit dtype (a GPU's tensor cores accumulate it in f32),
/// with `x` narrowed on the way in and the result widened back to `x`'s dtype: no f32 copy
/// of the weight is made.
fn half_linear<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    let w = l.weight.val();
    let (half, dt) = (w.dtype(), x.dtype());
    let b = l.bias.as_ref().map(|b| b.val().cast(half));
    linear(x.cast(half), w, b).cast(dt)
}

/// `x @ w + b` as one 2-D matmul over x's leading dims folded into rows. burn's
/// `Linear::forward` broadcasts `w` to x's rank instead, and the flex backend copies a
/// broadcast weight on every call.
fn folded_linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, b: Option<Tensor<1>>) -> Tensor<D> {
    let mut dims = x.dims();
    let [d_in, d_out] = w.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = x.reshape([rows, d_in]).matmul(w);
    let y = match b {
        Some(b) => y + b.unsqueeze::<2>(),
        None => y,
    };
    dims[D - 1] = d_out;
    y.reshape(dims)
}

/// `t` in f32 (a no-op when it already is).
pub(crate) fn widen<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(DType::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_product_stays_within_bf16_of_the_widened_one() {
        use burn::tensor::Distribution;
        let device = Device::default();
        let w = Tensor::<2>::random([64, 48], Distribution::Normal(0.0, 0.3), &device);
        let b = Tensor::<1>::random([48], Distribution::Normal(0.0, 0.3), &device);
        let l = Linear {
            weight: burn::module::Param::from_tensor(w.cast(DType::BF16)),
            bias: Some(burn::module::Param::from_tensor(b)),
        };
        let x = Tensor::<3>::random([2, 5, 64], Distribution::Normal(0.0, 1.0), &device);
        let wide = linear(
            x.clone(),
            l.weight.val().cast(DType::F32),
            l.bias.as_ref().map(|b| b.val()),
        );
        let got = half_linear(&l, x);
        assert_eq!(got.dtype(), DType::F32);
        let scale = wide.clone().abs().max().into_scalar::<f32>();
        let err = (got - wide).abs().max().into_scalar::<f32>();
        // bf16 keeps 8 significant bits: a few units of 2^-8 of the output scale.
        assert!(err <= 2e-2 * (1.0 + scale), "{err} at scale {scale}");
        #[cfg(feature = "flex")]
        assert!(!computes_in_half(&Device::flex(), DType::BF16));
    }

    #[test]
    fn parses_resolves_and_displays() {
        let device = Device::default();
        assert_eq!("BF16".parse::<WeightDtype>().unwrap(), WeightDtype::Bf16);
        assert_eq!("float32".parse::<WeightDtype>().unwrap(), WeightDtype::F32);
        assert!("int8".parse::<WeightDtype>().is_err());
        let auto = WeightDtype::Auto;
        assert_eq!(
            auto.resolve(Some(DType::BF16), &device).unwrap(),
            DType::BF16
        );
        assert_eq!(auto.resolve(None, &device).unwrap(), DType::F32);
        assert_eq!(
            WeightDtype::F32
                .resolve(Some(DType::BF16), &device)
                .unwrap(),
            DType::F32
        );
        assert_eq!(WeightDtype::F16.to_string(), "f16");
    }
}
