//! HF safetensors checkpoints: memory-mapped reading (single file or sharded), conversion to
//! the dtype the weights are held in, shape checks, and saving back under the HF key names.
//!
//! Parameters are read one at a time straight from the mapping into their final buffer
//! (`layout`: conversion and transpose in one pass); the pages of that tensor are then
//! released (`MADV_DONTNEED`), so resident memory stays close to the size of the held model
//! instead of model + file. We read the file ourselves rather than through `burn-store`
//! because a loaded burn parameter keeps the file's dtype (bf16 stays bf16) and the HF Conv3d
//! patch weight and `[out, in]` linear weights need reshaping/transposing into burn's
//! `[in, out]` layout, both of which are simplest to do on the host buffer.

mod checkpoint;
mod layout;

use burn::module::Param;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
pub(crate) use crate::shard_writer::TensorSink;
pub use checkpoint::Checkpoint;
use layout::Stored;

/// Where parameters come from while a model is built: a checkpoint or a seeded random init.
pub(crate) trait TensorSource {
    /// The f32 values of tensor `name`, row-major, checked against `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;

    /// The dtype large matrices are held in once loaded.
    fn held_dtype(&self) -> DType {
        DType::F32
    }

    /// The stored values of `name`, checked against `shape`, when the source keeps them
    /// (a checkpoint's mapped bytes); `None` for a source that computes them.
    fn stored(&self, name: &str, shape: &[usize]) -> Result<Option<Stored<'_>>> {
        let _ = (name, shape);
        Ok(None)
    }

    /// Called once `name`'s values have been copied out (a checkpoint drops their pages).
    fn release(&self, name: &str) {
        let _ = name;
    }
}

/// A source whose large matrices are held as `dtype` (see [`crate::dtype`]).
pub(crate) struct Held<'a> {
    pub src: &'a dyn TensorSource,
    pub dtype: DType,
}

impl TensorSource for Held<'_> {
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.src.read(name, shape)
    }

    fn held_dtype(&self) -> DType {
        self.dtype
    }

    fn stored(&self, name: &str, shape: &[usize]) -> Result<Option<Stored<'_>>> {
        self.src.stored(name, shape)
    }

    fn release(&self, name: &str) {
        self.src.release(name)
    }
}

/// Deterministic random parameters (uniform in `[-scale, scale]`, norm weights near 1), for
/// benchmarks and shape tests; every tensor's stream is seeded from (seed, name).
pub(crate) struct RandomSource {
    pub seed: u64,
    pub scale: f32,
}

/// FNV-1a over the bytes of `name`, mixed with `seed` through splitmix64: a stable hash.
pub(crate) fn stable_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

impl TensorSource for RandomSource {
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        let mut rng = ChaCha8Rng::seed_from_u64(stable_seed(self.seed, name));
        let is_norm = name.contains("norm") || name.contains("ln_q");
        Ok((0..n)
            .map(|_| {
                let u: f32 = rng.random_range(-self.scale..self.scale);
                if is_norm { 1.0 + u } else { u }
            })
            .collect())
    }
}

/// Reads `name` as a tensor of rank `D` in f32.
pub(crate) fn tensor<const D: usize>(
    src: &dyn TensorSource,
    name: &str,
    shape: [usize; D],
    device: &Device,
) -> Result<Tensor<D>> {
    let values = src.read(name, &shape)?;
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Reads a Conv3d patch-embedding kernel `[hidden, channels, t, p, p]` as the
/// `[channels * t * p * p, hidden]` matrix of a linear layer: with stride = kernel size the
/// convolution of flattened patches is `pixels @ matrix`.
pub(crate) fn patch_kernel(
    src: &dyn TensorSource,
    name: &str,
    shape: [usize; 5],
    device: &Device,
) -> Result<Tensor<2>> {
    let kernel = src.read(name, &shape)?;
    let h = shape[0];
    let pd = shape[1..].iter().product::<usize>();
    let mut w = vec![0f32; kernel.len()];
    for o in 0..h {
        for i in 0..pd {
            w[i * h + o] = kernel[o * pd + i];
        }
    }
    Ok(Tensor::from_data(TensorData::new(w, [pd, h]), device))
}

/// Reads a large matrix `name` (stored `[rows, cols]`) in the source's held dtype,
/// transposed to `[cols, rows]` when `transposed`. A bf16/f16 tensor held in its own dtype
/// never passes through f32.
///
/// An f32 matrix keeps the stored order and is transposed as a view (a stride swap):
/// `f32_linear` reads the `[out, in]` rows as they are, and laying a 3B model's f32
/// weights out transposed tripled its load time. The half kernels (`half_matmul`) read
/// `[in, out]` rows, so half matrices are laid out transposed here, in the same pass as
/// the copy.
pub(crate) fn matrix(
    src: &dyn TensorSource,
    name: &str,
    [rows, cols]: [usize; 2],
    transposed: bool,
    device: &Device,
) -> Result<Tensor<2>> {
    let held = src.held_dtype();
    let half = matches!(held, DType::BF16 | DType::F16);
    let copy_transposed = transposed && half;
    let data = match src.stored(name, &[rows, cols])? {
        Some(stored) => {
            let data = layout::matrix_data(name, stored, [rows, cols], copy_transposed, held)?;
            src.release(name);
            data
        }
        None => {
            let values = src.read(name, &[rows, cols])?;
            let stored = Stored::F32(&values);
            layout::matrix_data(name, stored, [rows, cols], copy_transposed, held)?
        }
    };
    let dtype = data.dtype();
    let t = Tensor::from_data(data, (device, dtype));
    Ok(if transposed && !half {
        t.transpose()
    } else {
        t
    })
}

/// Reads an HF `nn.Linear` (`{prefix}.weight` `[out, in]`, optional `{prefix}.bias`) into
/// burn's `[in, out]` layout.
pub(crate) fn linear(
    src: &dyn TensorSource,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &Device,
) -> Result<Linear> {
    let w = matrix(
        src,
        &format!("{prefix}.weight"),
        [d_out, d_in],
        true,
        device,
    )?;
    let weight = Param::from_tensor(w);
    let bias = if bias {
        Some(Param::from_tensor(tensor(
            src,
            &format!("{prefix}.bias"),
            [d_out],
            device,
        )?))
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

/// Reads an HF `RMSNorm` (`{prefix}.weight`).
pub(crate) fn rms_norm(
    src: &dyn TensorSource,
    prefix: &str,
    dim: usize,
    eps: f64,
    device: &Device,
) -> Result<RmsNorm> {
    Ok(RmsNorm {
        gamma: Param::from_tensor(tensor(src, &format!("{prefix}.weight"), [dim], device)?),
        epsilon: eps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_seed_is_stable() {
        assert_eq!(stable_seed(0, "a"), stable_seed(0, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(1, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(0, "b"));
    }
}
