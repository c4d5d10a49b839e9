//! f32 activations times bf16/f16 weights, accumulated in f32, without widening the weights
//! in memory.
//!
//! burn's CPU backend multiplies a bf16 matrix by converting both operands to fresh f32
//! buffers, so a bf16-held model paid a full f32 copy of every weight on every token (6x
//! slower decoding than f32 on the 3B). These kernels read the 2-byte weights once and widen
//! them in registers (AVX2 + FMA + F16C when the CPU has them, a portable loop otherwise),
//! so decoding reads half the bytes of the f32 model.
//!
//! Arithmetic is fixed per output element: the products are accumulated with fused
//! multiply-adds in ascending `k` order ([`matmul`]), or in 8 interleaved lanes summed by a
//! fixed tree ([`matmul_transposed`]). Work is split over output columns only, so the bits
//! never depend on the thread count, and the SIMD and portable paths agree exactly.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;

#[cfg(feature = "flex")]
mod flex;

#[cfg(feature = "flex")]
pub(crate) use flex::{f32_operands, flex_linear, flex_tied_logits};

use rayon::prelude::*;

/// The 16-bit float format of a weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HalfKind {
    /// bfloat16: the upper half of an f32.
    Bf16,
    /// IEEE 754 binary16.
    F16,
}

impl HalfKind {
    /// The f32 value of one stored element.
    #[inline]
    pub(crate) fn widen(self, bits: u16) -> f32 {
        match self {
            HalfKind::Bf16 => f32::from_bits(u32::from(bits) << 16),
            HalfKind::F16 => half::f16::from_bits(bits).to_f32(),
        }
    }
}

/// A row-major `[rows, cols]` matrix of 16-bit floats.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HalfMatrix<'a> {
    /// `rows * cols` raw elements.
    pub bits: &'a [u16],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns (the row stride).
    pub cols: usize,
    /// Element format.
    pub kind: HalfKind,
}

/// Output columns per parallel task of [`matmul`] (a multiple of the 16-column panel).
const COLS_PER_TASK: usize = 256;
/// Weight rows per parallel task of [`matmul_transposed`].
const ROWS_PER_TASK: usize = 512;

/// `y[m, n] = bias[n] + sum_k x[m, k] * w[k, n]` for `x` `[m, w.rows]` and `w` `[k, n]` (the
/// layout burn's `Linear` holds). Returns `[m, w.cols]` row-major.
pub(crate) fn matmul(x: &[f32], m: usize, w: HalfMatrix<'_>, bias: Option<&[f32]>) -> Vec<f32> {
    let (k, n) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k, "activation length");
    assert_eq!(w.bits.len(), k * n, "weight length");
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "bias length");
    }
    let simd = avx2_available();
    let tasks: Vec<(usize, usize)> = (0..n)
        .step_by(COLS_PER_TASK)
        .map(|c0| (c0, (c0 + COLS_PER_TASK).min(n)))
        .collect();
    let blocks: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(c0, c1)| {
            let mut out = vec![0f32; m * (c1 - c0)];
            column_block(x, m, w, c0, c1, &mut out, simd);
            out
        })
        .collect();
    let mut y = vec![0f32; m * n];
    for (&(c0, c1), block) in tasks.iter().zip(&blocks) {
        let width = c1 - c0;
        for (row, src) in y.chunks_exact_mut(n).zip(block.chunks_exact(width)) {
            let dst = &mut row[c0..c1];
            match bias {
                Some(b) => {
                    for ((d, s), b) in dst.iter_mut().zip(src).zip(&b[c0..c1]) {
                        *d = s + b;
                    }
                }
                None => dst.copy_from_slice(src),
            }
        }
    }
    y
}

/// `y[m, r] = sum_k x[m, k] * w[r, k]` for `x` `[m, w.cols]` and `w` `[r, k]` (an embedding
/// used as a tied LM head). Returns `[m, w.rows]` row-major.
pub(crate) fn matmul_transposed(x: &[f32], m: usize, w: HalfMatrix<'_>) -> Vec<f32> {
    let (r, k) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k, "activation length");
    assert_eq!(w.bits.len(), r * k, "weight length");
    let simd = avx2_available();
    let tasks: Vec<(usize, usize)> = (0..r)
        .step_by(ROWS_PER_TASK)
        .map(|r0| (r0, (r0 + ROWS_PER_TASK).min(r)))
        .collect();
    let blocks: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(r0, r1)| {
            let mut out = vec![0f32; m * (r1 - r0)];
            row_block(x, m, w, r0, r1, &mut out, simd);
            out
        })
        .collect();
    let mut y = vec![0f32; m * r];
    for (&(r0, r1), block) in tasks.iter().zip(&blocks) {
        for (row, src) in y.chunks_exact_mut(r).zip(block.chunks_exact(r1 - r0)) {
            row[r0..r1].copy_from_slice(src);
        }
    }
    y
}

/// Columns `c0..c1` of [`matmul`] (without bias) into `out` `[m, c1 - c0]`.
fn column_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    c0: usize,
    c1: usize,
    out: &mut [f32],
    simd: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `avx2_available` confirmed AVX2, FMA and F16C at run time.
        unsafe { avx2::column_block(x, m, w, c0, c1, out) };
        return;
    }
    let _ = simd;
    portable::column_block(x, m, w, c0, c1, out);
}

/// Weight rows `r0..r1` of [`matmul_transposed`] into `out` `[m, r1 - r0]`.
fn row_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    r0: usize,
    r1: usize,
    out: &mut [f32],
    simd: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `avx2_available` confirmed AVX2, FMA and F16C at run time.
        unsafe { avx2::row_block(x, m, w, r0, r1, out) };
        return;
    }
    let _ = simd;
    portable::row_block(x, m, w, r0, r1, out);
}

/// Whether the AVX2 kernels can run on this CPU.
fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests;
