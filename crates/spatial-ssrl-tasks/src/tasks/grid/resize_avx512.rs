//! The AVX-512 build of [`resize_window`](super::resize_window) (F/BW/VBMI): the horizontal
//! pass runs first, straight on the source bytes, sixteen output values per byte permute,
//! and the vertical pass blends two such rows sixteen values at a time.
//!
//! Per sixteen output values, one masked load brings the source bytes they read (at most
//! 64), one `vpermb` lays each value's left and right tap out as a pair of 16-bit lanes,
//! and one `pmaddwd` weights the pair: no gathers and no 32-bit multiplications in the
//! costly pass. Both passes are exact, as in the AVX2 build, so the order does not change a
//! byte; a resize whose taps spread too far for one load (a downscale by more than about
//! three) is left to that build.

use std::arch::x86_64::{
    __m128i, __m512i, _mm_storeu_si128, _mm512_add_epi32, _mm512_cvtepi32_epi8, _mm512_loadu_si512,
    _mm512_madd_epi16, _mm512_maskz_loadu_epi8, _mm512_maskz_permutexvar_epi8, _mm512_mullo_epi32,
    _mm512_set1_epi32, _mm512_slli_epi32, _mm512_srli_epi32, _mm512_storeu_si512, _mm512_sub_epi32,
};

use image::RgbImage;

use super::PX;
use super::resize::{ONE, ROUND, Taps, WEIGHT_BITS, linear_taps};

/// Sixteen consecutive output values of a row's horizontal pass.
struct Group {
    /// First window-row byte they read.
    start: usize,
    /// How many bytes from `start` on they read (at most 64).
    bytes: usize,
    /// Per output value `t`, bytes `4t` and `4t + 2`: its left and right tap, from `start`
    /// (bytes `4t + 1` and `4t + 3` are zeroed by the permute's mask).
    index: [u8; 64],
    /// Per output value, `(ONE - f, f)`.
    weight: [i16; 32],
}

/// The groups of a row of `len` output values, or `None` if some group's taps span more
/// than one 64-byte load.
fn groups(taps: &Taps, len: usize) -> Option<Vec<Group>> {
    (0..len)
        .step_by(16)
        .map(|k0| {
            let ks = k0..(k0 + 16).min(len);
            // An upscale's next pixel can start left of this one's later values.
            let start = ks.clone().map(|k| taps.index[k] as usize).min()?;
            let end = ks.clone().map(|k| taps.index[k] as usize + PX + 1).max()?;
            let bytes = end - start;
            if bytes > 64 {
                return None;
            }
            let (mut index, mut weight) = ([0u8; 64], [0i16; 32]);
            for (t, k) in ks.enumerate() {
                let left = taps.index[k] as usize - start;
                (index[4 * t], index[4 * t + 2]) = (left as u8, (left + PX) as u8);
                let f = taps.weight[k];
                (weight[2 * t], weight[2 * t + 1]) = ((ONE - f) as i16, f as i16);
            }
            Some(Group {
                start,
                bytes,
                index,
                weight,
            })
        })
        .collect()
}

/// Resizes the `(x, y, w, h)` window of `src` to `width x height` (all non-zero), or
/// returns `None` when the taps spread too far (see the module notes).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(super) fn resize(
    src: &RgbImage,
    (wx, wy, ww, wh): (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> Option<RgbImage> {
    let taps = Taps::new(ww, width);
    let row_len = width as usize * PX;
    let groups = groups(&taps, row_len)?;
    let padded = groups.len() * 16;
    let sstride = src.width() as usize * PX;
    let s: &[u8] = src;
    // A window row and every byte after it: a zero-weight tap may read just past its end.
    let window_row = |y: usize| &s[(wy as usize + y) * sstride + wx as usize * PX..];
    let last = wh as usize - 1;
    // The two horizontally filtered rows at hand, and which window rows they are.
    let mut rows = [vec![0u32; padded], vec![0u32; padded]];
    let mut held = [usize::MAX; 2];
    let mut line = vec![0u8; padded];
    let mut raw = Vec::with_capacity(row_len * height as usize);
    for (y0, fy) in linear_taps(wh, height) {
        // A zero weight needs no second row.
        let y1 = if fy == 0 { y0 } else { (y0 + 1).min(last) };
        if held[0] != y0 {
            if held[1] == y0 {
                rows.swap(0, 1);
                held.swap(0, 1);
            } else {
                horizontal(window_row(y0), &groups, &mut rows[0]);
                held[0] = y0;
            }
        }
        if y1 != y0 && held[1] != y1 {
            horizontal(window_row(y1), &groups, &mut rows[1]);
            held[1] = y1;
        }
        let bottom = if y1 == y0 { &rows[0] } else { &rows[1] };
        vertical(&rows[0], bottom, fy, &mut line);
        raw.extend_from_slice(&line[..row_len]);
    }
    RgbImage::from_raw(width, height, raw)
}

/// Horizontal pass of one row (`out` holds sixteen values per group): per value
/// `row[l] * (ONE - f) + row[r] * f`, exact in 32 bits.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn horizontal(row: &[u8], groups: &[Group], out: &mut [u32]) {
    // The low byte of every 16-bit lane comes from the source, the high byte is zero.
    const LOW_BYTES: u64 = 0x5555_5555_5555_5555;
    for (g, o) in groups.iter().zip(out.chunks_exact_mut(16)) {
        // Bytes past the image are not loaded (they only meet zero weights).
        let n = g.bytes.min(row.len() - g.start);
        let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        // SAFETY: the masked load touches only the `n` bytes from `start`, inside `row`;
        // `index` and `weight` are 64 bytes each, and `o` sixteen `u32`.
        unsafe {
            let v = _mm512_maskz_loadu_epi8(mask, row.as_ptr().add(g.start).cast::<i8>());
            let index = _mm512_loadu_si512(g.index.as_ptr().cast::<__m512i>());
            let pairs = _mm512_maskz_permutexvar_epi8(LOW_BYTES, index, v);
            let weight = _mm512_loadu_si512(g.weight.as_ptr().cast::<__m512i>());
            _mm512_storeu_si512(
                o.as_mut_ptr().cast::<__m512i>(),
                _mm512_madd_epi16(pairs, weight),
            );
        }
    }
}

/// Vertical pass and rounding: `(top * (ONE - f) + bottom * f + half) >> shift` per value,
/// as one multiplication (`top * ONE + (bottom - top) * f`, exact modulo 2^32 and below
/// 2^31), narrowed to bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn vertical(top: &[u32], bottom: &[u32], f: u32, out: &mut [u8]) {
    let (f, half) = (
        _mm512_set1_epi32(f as i32),
        _mm512_set1_epi32(ROUND.0 as i32),
    );
    let rows = top.chunks_exact(16).zip(bottom.chunks_exact(16));
    for ((a, b), o) in rows.zip(out.chunks_exact_mut(16)) {
        // SAFETY: sixteen `u32` read from each row, sixteen bytes written.
        unsafe {
            let a = _mm512_loadu_si512(a.as_ptr().cast::<__m512i>());
            let b = _mm512_loadu_si512(b.as_ptr().cast::<__m512i>());
            let sum = _mm512_add_epi32(
                _mm512_slli_epi32::<WEIGHT_BITS>(a),
                _mm512_mullo_epi32(_mm512_sub_epi32(b, a), f),
            );
            let v = _mm512_srli_epi32::<{ 2 * WEIGHT_BITS }>(_mm512_add_epi32(sum, half));
            _mm_storeu_si128(o.as_mut_ptr().cast::<__m128i>(), _mm512_cvtepi32_epi8(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::grid::resize::resize_body;
    use image::Rgb;

    /// The baseline build's pixels, for upscales (whose groups start left of their first
    /// value), downscales, odd sizes, windows on the image's right and bottom edges (taps
    /// of zero weight past the last byte) and extreme values.
    #[test]
    fn avx512_equals_the_baseline_build() {
        if !crate::tasks::grid::has_avx512() {
            return;
        }
        let ramp = RgbImage::from_fn(97, 61, |x, y| {
            Rgb([(x * 13 + y) as u8, (y * 29) as u8, (x * y * 7) as u8])
        });
        let checker = RgbImage::from_fn(97, 61, |x, y| {
            let v = if (x + y) % 2 == 0 { 255 } else { 0 };
            Rgb([v, 255 - v, v])
        });
        for src in [&ramp, &checker] {
            for (window, (w, h)) in [
                ((0, 0, 97, 61), (48, 30)),
                ((0, 0, 97, 61), (200, 131)),
                ((5, 7, 45, 45), (90, 90)),
                ((3, 2, 40, 30), (17, 11)),
                ((60, 40, 37, 21), (50, 30)),
                ((96, 60, 1, 1), (3, 2)),
                ((10, 10, 33, 20), (33, 20)),
                ((1, 1, 2, 2), (5, 5)),
            ] {
                let want = resize_body::<false>(src, window, w, h);
                // SAFETY: the CPU has the features (checked above).
                let got = unsafe { resize(src, window, w, h) }.expect("taps within one load");
                assert_eq!(got, want, "{window:?} -> {w}x{h}");
            }
        }
        // A downscale by more than about three is left to the AVX2 build.
        // SAFETY: as above.
        assert!(unsafe { resize(&ramp, (0, 0, 97, 61), 9, 20) }.is_none());
    }
}
