//! Bilinear resize in 11-bit fixed point (OpenCV `INTER_LINEAR` semantics), of a whole image
//! or of a window read in place.

use image::RgbImage;

use super::PX;

/// Fixed-point precision of the resize weights (11 bits, as OpenCV uses for 8-bit images).
pub(super) const WEIGHT_BITS: u32 = 11;
pub(super) const ONE: u32 = 1 << WEIGHT_BITS;

/// For each output coordinate: the left/top source index and the weight of the next one,
/// with pixel centres aligned (`src = (dst + 0.5) * scale - 0.5`) and edges clamped, in
/// exact integer arithmetic so every platform gets the same bytes.
pub(super) fn linear_taps(src: u32, dst: u32) -> Vec<(usize, u32)> {
    let (s, d) = (i64::from(src), i64::from(dst));
    (0..d)
        .map(|i| {
            // Position numerator over denominator 2d.
            let num = (2 * i + 1) * s - d;
            let den = 2 * d;
            if num <= 0 {
                return (0, 0);
            }
            let i0 = num / den;
            if i0 >= s - 1 {
                return ((s - 1) as usize, 0);
            }
            let frac = ((num - i0 * den) * i64::from(ONE) + den / 2) / den;
            (i0 as usize, frac as u32)
        })
        .collect()
}

/// Bilinear resize (OpenCV `INTER_LINEAR` semantics, no antialiasing) in 11-bit fixed point.
///
/// Deterministic and exact: an identity resize returns the input unchanged.
///
/// ```
/// let img = image::RgbImage::from_pixel(40, 30, image::Rgb([10, 20, 30]));
/// let small = spatial_ssrl_tasks::tasks::grid::resize_bilinear(&img, 20, 15);
/// assert_eq!(small.get_pixel(7, 7).0, [10, 20, 30]); // flat stays flat
/// ```
pub fn resize_bilinear(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    resize_window(src, (0, 0, src.width(), src.height()), width, height)
}

/// [`resize_bilinear`] of the `(x, y, w, h)` window of `src` (inside it), read in place
/// rather than cropped out first.
pub(crate) fn resize_window(
    src: &RgbImage,
    window: (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> RgbImage {
    let (_, _, ww, wh) = window;
    if width == 0 || height == 0 || ww == 0 || wh == 0 {
        return RgbImage::new(width, height);
    }
    #[cfg(target_arch = "x86_64")]
    if super::has_avx512() {
        // SAFETY: the CPU has just been checked for every feature `resize` enables.
        if let Some(img) = unsafe { super::resize_avx512::resize(src, window, width, height) } {
            return img;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been checked for AVX2.
        return unsafe { resize_avx2(src, window, width, height) };
    }
    resize_body::<false>(src, window, width, height)
}

/// [`resize_body`] compiled with AVX2: the vertical pass in eight lanes, the horizontal
/// one with gathers. Integer arithmetic either way, so the same bytes as the baseline build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn resize_avx2(src: &RgbImage, window: (u32, u32, u32, u32), width: u32, height: u32) -> RgbImage {
    resize_body::<true>(src, window, width, height)
}

/// The horizontal taps of every output value `k = 3j + c`: the window-row index of its left
/// source value (`3 * x0 + c`) and the weight of the value [`PX`] further on. Where the
/// weight is 0 (edges clamped) that value is read but does not count, so rows carry [`PX`]
/// values of padding, and one more for the AVX2 pass's whole-register reads.
pub(super) struct Taps {
    pub(super) index: Vec<u32>,
    pub(super) weight: Vec<u32>,
    /// The shortest row the taps read inside: past the largest index plus [`PX`].
    reads: usize,
}

impl Taps {
    pub(super) fn new(src_w: u32, dst_w: u32) -> Self {
        let taps = linear_taps(src_w, dst_w);
        let each = |f: &dyn Fn(usize, u32, usize) -> u32| -> Vec<u32> {
            taps.iter()
                .flat_map(|&(x0, fx)| (0..PX).map(move |c| (x0, fx, c)))
                .map(|(x0, fx, c)| f(x0, fx, c))
                .collect()
        };
        let index = each(&|x0, _, c| (x0 * PX + c) as u32);
        let reads = index.iter().max().map_or(0, |&i| i as usize + PX + 1);
        Self {
            index,
            weight: each(&|_, fx, _| fx),
            reads,
        }
    }
}

/// Bilinear resize of a window; `AVX2` only inside [`resize_avx2`].
#[inline(always)]
pub(super) fn resize_body<const AVX2: bool>(
    src: &RgbImage,
    (wx, wy, ww, wh): (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> RgbImage {
    let taps = Taps::new(ww, width);
    let ys = linear_taps(wh, height);
    let sstride = src.width() as usize * PX;
    let s: &[u8] = src;
    let window_row = |y: usize| {
        let start = (wy as usize + y) * sstride + wx as usize * PX;
        &s[start..start + ww as usize * PX]
    };
    let last = wh as usize - 1;
    let (row_len, in_len) = (width as usize * PX, ww as usize * PX);
    // Filled row by row in order, so never zeroed first (a fresh zeroed buffer of the
    // output's size costs about as much as one of the passes).
    let mut raw = Vec::with_capacity(row_len * height as usize);
    // A window row as `u32`, with the padding the taps read past its end.
    let mut wide = vec![0u32; in_len + PX + 1];
    let mut filtered = vec![0u32; row_len];
    // Both passes are exact (no rounding until the end), so their order does not change a
    // byte: `sum(wy * sum(wx * p))` either way. The horizontal pass is the costly one (two
    // scattered reads per value), so it runs on whichever side has fewer rows: on the
    // source rows an upscale needs, or on the output rows of a downscale.
    if wh > height {
        for &(y0, fy) in &ys {
            let (top, bottom) = (window_row(y0), window_row((y0 + 1).min(last)));
            vertical::<AVX2>(top, bottom, fy, &mut wide);
            horizontal::<AVX2>(&wide, &taps, ROUND, &mut filtered);
            raw.extend(filtered.iter().map(|&v| v as u8));
        }
    } else {
        // Two cached horizontally filtered rows: consecutive output rows mostly share them.
        let mut bottom = vec![0u32; row_len];
        let (mut top_y, mut bottom_y) = (usize::MAX, usize::MAX);
        let mut filter = |y: usize, into: &mut [u32]| {
            for (v, &p) in wide.iter_mut().zip(window_row(y)) {
                *v = u32::from(p);
            }
            horizontal::<AVX2>(&wide, &taps, (0, 0), into);
        };
        for &(y0, fy) in &ys {
            let y1 = (y0 + 1).min(last);
            if top_y != y0 {
                if bottom_y == y0 {
                    std::mem::swap(&mut filtered, &mut bottom);
                    std::mem::swap(&mut top_y, &mut bottom_y);
                } else {
                    filter(y0, &mut filtered);
                    top_y = y0;
                }
            }
            if bottom_y != y1 {
                filter(y1, &mut bottom);
                bottom_y = y1;
            }
            let rows = filtered.iter().zip(&bottom);
            raw.extend(rows.map(|(&a, &b)| (blend(a, b, fy, ROUND.0) >> ROUND.1) as u8));
        }
    }
    RgbImage::from_raw(width, height, raw).expect("one pixel per output position")
}

/// What brings a sum weighted twice (by up to `ONE^2` in all, so below `2^31`) back to a
/// byte: half the divisor, and the shift.
pub(super) const ROUND: (u32, u32) = (1 << (2 * WEIGHT_BITS - 1), 2 * WEIGHT_BITS);

/// `a * (ONE - f) + b * f + add` with one multiplication: `a * ONE + (b - a) * f + add`,
/// in wrapping arithmetic. Equal modulo 2^32, and the true value is below 2^31 (weighted
/// sums of bytes by at most `ONE^2` in all), so equal.
#[inline(always)]
fn blend(a: u32, b: u32, f: u32, add: u32) -> u32 {
    (a << WEIGHT_BITS)
        .wrapping_add(b.wrapping_sub(a).wrapping_mul(f))
        .wrapping_add(add)
}

/// Vertical pass of one window row pair: `out[k] = top[k] * (ONE - f) + bottom[k] * f`.
#[inline(always)]
fn vertical<const AVX2: bool>(top: &[u8], bottom: &[u8], f: u32, out: &mut [u32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true in `resize_avx2`, which runs on CPUs with AVX2.
        done = unsafe { vertical_avx2(top, bottom, f, out) };
    }
    let rest = out[done..]
        .iter_mut()
        .zip(&top[done..])
        .zip(&bottom[done..]);
    for ((v, &a), &b) in rest {
        *v = blend(u32::from(a), u32::from(b), f, 0);
    }
}

/// [`vertical`] sixteen values at a time: each (top, bottom) pair of bytes widened into one
/// 32-bit lane and weighted by `(ONE - f, f)` in one `pmaddwd` (the same sum, exact in
/// 32 bits). Returns how many values it wrote (a multiple of sixteen).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn vertical_avx2(top: &[u8], bottom: &[u8], f: u32, out: &mut [u32]) -> usize {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_loadu_si128, _mm256_cvtepu8_epi16, _mm256_madd_epi16,
        _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi16,
        _mm256_unpacklo_epi16,
    };
    let n = out.len().min(top.len()).min(bottom.len()) / 16 * 16;
    // Each 32-bit lane holds (ONE - f) in its low half and f in its high half.
    let weights = _mm256_set1_epi32(((f << 16) | (ONE - f)) as i32);
    for k in (0..n).step_by(16) {
        // SAFETY: `k + 16 <= n`, within all three slices.
        unsafe {
            let t = _mm256_cvtepu8_epi16(_mm_loadu_si128(top[k..].as_ptr().cast::<__m128i>()));
            let b = _mm256_cvtepu8_epi16(_mm_loadu_si128(bottom[k..].as_ptr().cast::<__m128i>()));
            // Per 128-bit half: values 0-3 and 8-11 (low), 4-7 and 12-15 (high).
            let low = _mm256_madd_epi16(_mm256_unpacklo_epi16(t, b), weights);
            let high = _mm256_madd_epi16(_mm256_unpackhi_epi16(t, b), weights);
            let dst = out[k..].as_mut_ptr().cast::<__m256i>();
            _mm256_storeu_si256(dst, _mm256_permute2x128_si256::<0x20>(low, high));
            _mm256_storeu_si256(dst.add(1), _mm256_permute2x128_si256::<0x31>(low, high));
        }
    }
    n
}

/// Horizontal pass of one padded row: `out[k] = (row[i] * (ONE - f) + row[i + PX] * f +
/// add) >> shift` for tap `k = (i, f)`.
#[inline(always)]
fn horizontal<const AVX2: bool>(
    row: &[u32],
    taps: &Taps,
    (add, shift): (u32, u32),
    out: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true in `resize_avx2`, which runs on CPUs with AVX2.
        return unsafe { horizontal_avx2(row, taps, (add, shift), out) };
    }
    horizontal_scalar(row, (&taps.index, &taps.weight), (add, shift), out);
}

/// [`horizontal`] one value at a time, over the taps given.
#[inline(always)]
fn horizontal_scalar(
    row: &[u32],
    (index, weight): (&[u32], &[u32]),
    (add, shift): (u32, u32),
    out: &mut [u32],
) {
    for ((o, &i), &f) in out.iter_mut().zip(index).zip(weight) {
        let i = i as usize;
        *o = blend(row[i], row[i + PX], f, add) >> shift;
    }
}

/// [`horizontal`] two output pixels at a time: each pixel's three values and the three
/// [`PX`] further on are two 128-bit loads at its left tap (one value past each is read and
/// dropped), both pixels share one 256-bit register, and their six results are packed
/// together for one store. The same integers as the scalar form ([`blend`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_avx2(row: &[u32], taps: &Taps, (add, shift): (u32, u32), out: &mut [u32]) {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_cvtsi32_si128, _mm_loadu_si128, _mm256_add_epi32,
        _mm256_castsi128_si256, _mm256_inserti128_si256, _mm256_loadu_si256, _mm256_mullo_epi32,
        _mm256_permutevar8x32_epi32, _mm256_set1_epi32, _mm256_setr_epi32, _mm256_slli_epi32,
        _mm256_srl_epi32, _mm256_storeu_si256, _mm256_sub_epi32,
    };
    let n = out.len().min(taps.index.len());
    // Every read is inside `row`: the largest left tap's pixel plus its neighbour's four
    // values (one check here: the loads below are unchecked).
    assert!(taps.reads < row.len(), "row shorter than its taps");
    let (half, count) = (
        _mm256_set1_epi32(add as i32),
        _mm_cvtsi32_si128(shift as i32),
    );
    // Weights of the two pixels, each over its four lanes; results packed to six lanes.
    let spread = _mm256_setr_epi32(0, 0, 0, 0, 3, 3, 3, 3);
    let pack = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    let load = |i: usize| -> __m128i {
        // SAFETY: `i + 4 <= row.len()`: `i` is at most a pixel's left tap plus PX, and
        // the assertion above leaves room for four values there.
        unsafe { _mm_loadu_si128(row.as_ptr().add(i).cast::<__m128i>()) }
    };
    // Pixels `j` and `j + 1` (values `3j..3j + 6`); the store writes two values more.
    let mut k = 0;
    while k + 8 <= n {
        let (i0, i1) = (taps.index[k] as usize, taps.index[k + PX] as usize);
        // SAFETY: `k + 8 <= n`, inside `taps.weight` and `out`; loads as above.
        unsafe {
            let a = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(load(i0)), load(i1));
            let b =
                _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(load(i0 + PX)), load(i1 + PX));
            let f = _mm256_loadu_si256(taps.weight[k..].as_ptr().cast::<__m256i>());
            let f = _mm256_permutevar8x32_epi32(f, spread);
            let sum = _mm256_add_epi32(
                _mm256_slli_epi32::<{ WEIGHT_BITS as i32 }>(a),
                _mm256_mullo_epi32(_mm256_sub_epi32(b, a), f),
            );
            let v = _mm256_srl_epi32(_mm256_add_epi32(sum, half), count);
            let v = _mm256_permutevar8x32_epi32(v, pack);
            _mm256_storeu_si256(out[k..].as_mut_ptr().cast::<__m256i>(), v);
        }
        k += 2 * PX;
    }
    let tail = (&taps.index[k..n], &taps.weight[k..n]);
    horizontal_scalar(row, tail, (add, shift), &mut out[k..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::grid::{crop, tests::ramp};
    use image::Rgb;

    #[test]
    fn resize_is_exact_on_identity_and_constant() {
        let src = ramp(17, 11);
        assert_eq!(resize_bilinear(&src, 17, 11), src);
        let flat = RgbImage::from_pixel(9, 5, Rgb([10, 200, 77]));
        let up = resize_bilinear(&flat, 31, 23);
        assert!(up.pixels().all(|p| *p == Rgb([10, 200, 77])));
        let down = resize_bilinear(&flat, 3, 2);
        assert!(down.pixels().all(|p| *p == Rgb([10, 200, 77])));
    }

    #[test]
    fn resize_interpolates_like_opencv() {
        // 2 -> 4 px: centres at -0.25, 0.25, 0.75, 1.25 => 0, 25%, 75%, 100% of the way.
        let src = RgbImage::from_fn(2, 1, |x, _| Rgb([(x * 200) as u8, 0, 0]));
        let out = resize_bilinear(&src, 4, 1);
        let got: Vec<u8> = out.pixels().map(|p| p[0]).collect();
        assert_eq!(got, vec![0, 50, 150, 200]);
        // 4 -> 2 px: centres at 0.5 and 2.5 (average of neighbours, no antialiasing).
        let src = RgbImage::from_fn(4, 1, |x, _| Rgb([(x * 60) as u8, 0, 0]));
        let got: Vec<u8> = resize_bilinear(&src, 2, 1).pixels().map(|p| p[0]).collect();
        assert_eq!(got, vec![30, 150]);
    }

    /// Upscales (horizontal pass first) and downscales (vertical pass first) give the
    /// direct two-tap formula, rounded once, in both builds.
    #[test]
    fn either_pass_order_gives_the_direct_formula() {
        let src = RgbImage::from_fn(61, 47, |x, y| {
            Rgb([(x * 13 + y) as u8, (y * 29) as u8, (x * y * 7) as u8])
        });
        for (window, (w, h)) in [
            ((2, 3, 50, 40), (21, 17)),
            ((0, 0, 61, 47), (30, 47)),
            ((5, 1, 20, 12), (41, 30)),
            ((7, 9, 33, 30), (33, 11)),
        ] {
            let (wx, wy, ww, wh) = window;
            let (xs, ys) = (linear_taps(ww, w), linear_taps(wh, h));
            let got = resize_window(&src, window, w, h);
            // The baseline build (the one `resize_window` picks without AVX2) agrees.
            assert_eq!(resize_body::<false>(&src, window, w, h), got, "{window:?}");
            for (oy, &(y0, fy)) in ys.iter().enumerate() {
                for (ox, &(x0, fx)) in xs.iter().enumerate() {
                    let p = |dx: usize, dy: usize, c: usize| {
                        let x = (x0 + dx).min(ww as usize - 1) as u32 + wx;
                        let y = (y0 + dy).min(wh as usize - 1) as u32 + wy;
                        u64::from(src.get_pixel(x, y)[c])
                    };
                    for c in 0..PX {
                        let (fx, fy) = (u64::from(fx), u64::from(fy));
                        let one = u64::from(ONE);
                        let sum = (p(0, 0, c) * (one - fx) + p(1, 0, c) * fx) * (one - fy)
                            + (p(0, 1, c) * (one - fx) + p(1, 1, c) * fx) * fy;
                        let want = ((sum + (1 << 21)) >> 22) as u8;
                        assert_eq!(got.get_pixel(ox as u32, oy as u32)[c], want, "{window:?}");
                    }
                }
            }
        }
    }

    /// The AVX2 passes (pairs of bytes in one `pmaddwd`; two pixels per register) give the
    /// scalar passes' integers, over every tail length and the extreme values.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_passes_equal_the_scalar_ones() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let byte = |i: usize| (i * 97 % 256) as u8;
        for len in [1, 15, 16, 17, 31, 48, 100] {
            let top: Vec<u8> = (0..len).map(byte).collect();
            let bottom: Vec<u8> = (0..len).map(|i| 255 - byte(i + 5)).collect();
            for f in [0, 1, 777, ONE - 1] {
                let (mut want, mut got) = (vec![0; len], vec![0; len]);
                vertical::<false>(&top, &bottom, f, &mut want);
                // SAFETY: the CPU has AVX2 (checked above).
                let done = unsafe { vertical_avx2(&top, &bottom, f, &mut got) };
                assert_eq!(done, len / 16 * 16);
                vertical::<false>(&top[done..], &bottom[done..], f, &mut got[done..]);
                assert_eq!(got, want, "{len} {f}");
            }
        }
        let max = 255 * ONE;
        for (src_w, dst_w) in [
            (1, 1),
            (2, 5),
            (7, 3),
            (13, 13),
            (40, 17),
            (17, 40),
            (902, 451),
        ] {
            let taps = Taps::new(src_w, dst_w);
            let n = src_w as usize * PX;
            for (row, round) in [
                (
                    (0..n).map(|i| u32::from(byte(i))).collect::<Vec<_>>(),
                    (0, 0),
                ),
                (
                    (0..n).map(|i| (i as u32 * 7919) % (max + 1)).collect(),
                    ROUND,
                ),
                (
                    (0..n).map(|i| if i % 2 == 0 { max } else { 0 }).collect(),
                    ROUND,
                ),
            ] {
                let mut row = row;
                row.resize(n + PX + 1, 0);
                let out_len = dst_w as usize * PX;
                let (mut want, mut got) = (vec![0; out_len], vec![0; out_len]);
                horizontal_scalar(&row, (&taps.index, &taps.weight), round, &mut want);
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { horizontal_avx2(&row, &taps, round, &mut got) };
                assert_eq!(got, want, "{src_w} -> {dst_w}");
            }
        }
    }

    /// A window is resized as if cropped out first, at the edges of the image too.
    #[test]
    fn resize_window_equals_crop_then_resize() {
        let src = RgbImage::from_fn(37, 29, |x, y| {
            Rgb([(x * 7) as u8, (y * 9) as u8, (x * y) as u8])
        });
        for (window, (w, h)) in [
            ((3, 4, 20, 11), (9, 17)),
            ((0, 0, 37, 29), (50, 8)),
            ((30, 20, 7, 9), (7, 9)),
            ((36, 28, 1, 1), (3, 2)),
        ] {
            let (x, y, ww, wh) = window;
            let want = resize_bilinear(&crop(&src, x, y, ww, wh), w, h);
            assert_eq!(resize_window(&src, window, w, h), want, "{window:?}");
        }
    }
}
