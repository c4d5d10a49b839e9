//! The kernels' arithmetic in plain Rust: the fallback on CPUs without AVX2/FMA/F16C and
//! the reference the SIMD path must equal bit for bit.

use super::HalfMatrix;

/// Columns `c0..c1` of `x @ w` into `out` `[m, c1 - c0]`: one fused multiply-add chain per
/// output, `k` ascending.
pub(super) fn column_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    c0: usize,
    c1: usize,
    out: &mut [f32],
) {
    let (k, n) = (w.rows, w.cols);
    let width = c1 - c0;
    for (xr, acc) in x.chunks_exact(k).zip(out.chunks_exact_mut(width)).take(m) {
        acc.fill(0.0);
        for (kk, &xv) in xr.iter().enumerate() {
            let wr = &w.bits[kk * n + c0..kk * n + c1];
            for (a, &b) in acc.iter_mut().zip(wr) {
                *a = xv.mul_add(w.kind.widen(b), *a);
            }
        }
    }
}

/// Rows `r0..r1` of `w` dotted with every row of `x`, into `out` `[m, r1 - r0]`.
pub(super) fn row_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    r0: usize,
    r1: usize,
    out: &mut [f32],
) {
    let k = w.cols;
    let width = r1 - r0;
    for r in r0..r1 {
        let wr = &w.bits[r * k..(r + 1) * k];
        for (mi, xr) in x.chunks_exact(k).take(m).enumerate() {
            out[mi * width + r - r0] = dot(xr, wr, w);
        }
    }
}

/// The dot product with the SIMD kernel's association: 8 interleaved lanes over the first
/// `k - k % 8` elements, summed `(l_i + l_{i+4})`, then `(s0 + s2) + (s1 + s3)`, then the
/// remaining elements chained on.
fn dot(x: &[f32], w: &[u16], m: HalfMatrix<'_>) -> f32 {
    let k8 = x.len() - x.len() % 8;
    let mut lanes = [0f32; 8];
    for (xc, wc) in x[..k8].chunks_exact(8).zip(w[..k8].chunks_exact(8)) {
        for l in 0..8 {
            lanes[l] = xc[l].mul_add(m.kind.widen(wc[l]), lanes[l]);
        }
    }
    let s: [f32; 4] = std::array::from_fn(|i| lanes[i] + lanes[i + 4]);
    let mut total = (s[0] + s[2]) + (s[1] + s[3]);
    for (&xv, &b) in x[k8..].iter().zip(&w[k8..]) {
        total = xv.mul_add(m.kind.widen(b), total);
    }
    total
}
