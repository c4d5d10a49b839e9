//! AVX2 + FMA + F16C kernels. The weights stay 16-bit in memory; each load of 8 elements
//! is widened to f32 in a register (bf16: zero-extend and shift into the high half; f16:
//! `vcvtph2ps`). Same association as `portable.rs`, so the results are identical.

use std::arch::x86_64::*;

use super::{HalfKind, HalfMatrix};

/// Weight rows per pass: a 16-column panel of them (256 cache lines) stays in L1 while it
/// is applied to the rows of `x`.
const KC: usize = 256;
/// Rows of `x` per pass (their `KC`-slice, 96 KiB, stays in L2 across panels).
const MC: usize = 96;
/// Rows of `x` per register tile: 6 x 2 accumulators + 2 weight registers + 1 broadcast fill
/// 15 of the 16 ymm registers.
const MR: usize = 6;
/// Columns per register tile.
const NR: usize = 16;

/// Eight 16-bit floats at `p` as f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn load8<const F16: bool>(p: *const u16) -> __m256 {
    // SAFETY: the caller guarantees 8 readable elements at `p`.
    let raw = unsafe { _mm_loadu_si128(p.cast()) };
    if F16 {
        _mm256_cvtph_ps(raw)
    } else {
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(raw)))
    }
}

/// See `portable::column_block`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `x` is `[m, w.rows]`, `out` `[m, c1 - c0]`,
/// `c0 <= c1 <= w.cols`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn column_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    c0: usize,
    c1: usize,
    out: &mut [f32],
) {
    assert!(x.len() >= m * w.rows && out.len() >= m * (c1 - c0) && c1 <= w.cols);
    // SAFETY: sizes checked above; features guaranteed by the caller.
    unsafe {
        match w.kind {
            HalfKind::Bf16 => columns::<false>(x, m, w, c0, c1, out),
            HalfKind::F16 => columns::<true>(x, m, w, c0, c1, out),
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn columns<const F16: bool>(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    c0: usize,
    c1: usize,
    out: &mut [f32],
) {
    let (k, n) = (w.rows, w.cols);
    let width = c1 - c0;
    let panels_end = c0 + width / NR * NR;
    let wp = w.bits.as_ptr();
    for kb in (0..k).step_by(KC) {
        let ke = (kb + KC).min(k);
        for mb in (0..m).step_by(MC) {
            let me = (mb + MC).min(m);
            for j in (c0..panels_end).step_by(NR) {
                let mut mt = mb;
                while mt < me {
                    let mr = (me - mt).min(MR);
                    // SAFETY: rows mt..mt+mr of x and out, columns j..j+16 of w and out
                    // are in bounds (checked by `column_block`).
                    unsafe {
                        let t = Tile {
                            x: x.as_ptr().add(mt * k),
                            ldx: k,
                            w: wp.add(j),
                            ldw: n,
                            out: out.as_mut_ptr().add(mt * width + j - c0),
                            ldo: width,
                        };
                        match mr {
                            1 => t.run::<1, F16>(kb, ke),
                            2 => t.run::<2, F16>(kb, ke),
                            3 => t.run::<3, F16>(kb, ke),
                            4 => t.run::<4, F16>(kb, ke),
                            5 => t.run::<5, F16>(kb, ke),
                            _ => t.run::<MR, F16>(kb, ke),
                        }
                    }
                    mt += mr;
                }
            }
        }
    }
    // Columns past the last full panel: the same chain, one element at a time.
    for (xr, acc) in x.chunks_exact(k).zip(out.chunks_exact_mut(width)).take(m) {
        for c in panels_end..c1 {
            let mut a = 0f32;
            for (kk, &xv) in xr.iter().enumerate() {
                a = xv.mul_add(w.kind.widen(w.bits[kk * n + c]), a);
            }
            acc[c - c0] = a;
        }
    }
}

/// One `MR x 16` block of the output and the matching rows of `x` / columns of `w`.
struct Tile {
    x: *const f32,
    ldx: usize,
    w: *const u16,
    ldw: usize,
    out: *mut f32,
    ldo: usize,
}

impl Tile {
    /// Adds the products of weight rows `kb..ke` to the block (which starts at zero when
    /// `kb == 0`).
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn run<const R: usize, const F16: bool>(&self, kb: usize, ke: usize) {
        // SAFETY (whole body): `Tile` points at R rows of x/out and 16 columns of w rows
        // kb..ke, all in bounds (see `columns`).
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            if kb > 0 {
                for (r, a) in acc.iter_mut().enumerate() {
                    let o = self.out.add(r * self.ldo);
                    *a = [_mm256_loadu_ps(o), _mm256_loadu_ps(o.add(8))];
                }
            }
            for kk in kb..ke {
                let wr = self.w.add(kk * self.ldw);
                // The next cache line of this weight row is read two panels later; the
                // rows are too far apart for the hardware prefetcher to follow.
                _mm_prefetch::<_MM_HINT_T0>(wr.wrapping_add(32).cast());
                let w0 = load8::<F16>(wr);
                let w1 = load8::<F16>(wr.add(8));
                for (r, a) in acc.iter_mut().enumerate() {
                    let b = _mm256_set1_ps(*self.x.add(r * self.ldx + kk));
                    a[0] = _mm256_fmadd_ps(b, w0, a[0]);
                    a[1] = _mm256_fmadd_ps(b, w1, a[1]);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                let o = self.out.add(r * self.ldo);
                _mm256_storeu_ps(o, a[0]);
                _mm256_storeu_ps(o.add(8), a[1]);
            }
        }
    }
}

/// See `portable::row_block`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `x` is `[m, w.cols]`, `out` `[m, r1 - r0]`,
/// `r0 <= r1 <= w.rows`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn row_block(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    r0: usize,
    r1: usize,
    out: &mut [f32],
) {
    assert!(x.len() >= m * w.cols && out.len() >= m * (r1 - r0) && r1 <= w.rows);
    // SAFETY: sizes checked above; features guaranteed by the caller.
    unsafe {
        match w.kind {
            HalfKind::Bf16 => rows::<false>(x, m, w, r0, r1, out),
            HalfKind::F16 => rows::<true>(x, m, w, r0, r1, out),
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows<const F16: bool>(
    x: &[f32],
    m: usize,
    w: HalfMatrix<'_>,
    r0: usize,
    r1: usize,
    out: &mut [f32],
) {
    let k = w.cols;
    let width = r1 - r0;
    let mut r = r0;
    // Four weight rows at a time: four independent FMA chains, and the rows stay in L1
    // while every row of x passes.
    while r < r1 {
        let group = (r1 - r).min(4);
        for (mi, xr) in x.chunks_exact(k).take(m).enumerate() {
            let mut sums = [0f32; 4];
            // SAFETY: rows r..r+group of w hold k elements each.
            unsafe {
                match group {
                    4 => dots::<4, F16>(xr, w.bits.as_ptr().add(r * k), k, w.kind, &mut sums),
                    3 => dots::<3, F16>(xr, w.bits.as_ptr().add(r * k), k, w.kind, &mut sums),
                    2 => dots::<2, F16>(xr, w.bits.as_ptr().add(r * k), k, w.kind, &mut sums),
                    _ => dots::<1, F16>(xr, w.bits.as_ptr().add(r * k), k, w.kind, &mut sums),
                }
            }
            out[mi * width + r - r0..mi * width + r - r0 + group].copy_from_slice(&sums[..group]);
        }
        r += group;
    }
}

/// Dot products of `x` with `G` consecutive weight rows of length `k` starting at `w`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots<const G: usize, const F16: bool>(
    x: &[f32],
    w: *const u16,
    k: usize,
    kind: HalfKind,
    sums: &mut [f32; 4],
) {
    let k8 = k - k % 8;
    // SAFETY: `w` holds G rows of k elements; x holds k.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); G];
        for base in (0..k8).step_by(8) {
            let xv = _mm256_loadu_ps(x.as_ptr().add(base));
            for (g, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(xv, load8::<F16>(w.add(g * k + base)), *a);
            }
        }
        for (g, a) in acc.iter().enumerate() {
            let lo = _mm256_castps256_ps128(*a);
            let hi = _mm256_extractf128_ps::<1>(*a);
            let s = _mm_add_ps(lo, hi);
            let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let mut total = _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<1>(t, t)));
            for (kk, &xv) in x.iter().enumerate().take(k).skip(k8) {
                total = xv.mul_add(kind.widen(*w.add(g * k + kk)), total);
            }
            sums[g] = total;
        }
    }
}
