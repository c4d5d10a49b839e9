//! Pillow-exact convolution resampling of 8-bit RGB images.
//!
//! transformers' `Qwen2VLImageProcessor` resizes with `PIL.Image.resize(size, BICUBIC)` on the
//! uint8 image. This module reproduces Pillow's `ImagingResample` (`libImaging/Resample.c`)
//! bit for bit rather than approximating it:
//! - separable filter, horizontal pass first (only over the rows the vertical pass reads), then
//!   vertical, each pass rounding and clamping to `u8`;
//! - when shrinking, the filter is stretched by the scale factor (antialiasing), with support
//!   `filter_support * max(scale, 1)` and taps at `(x + xmin - center + 0.5) / max(scale, 1)`;
//! - tap weights normalised to sum 1 in `f64`, then turned into fixed point with 22 fractional
//!   bits (rounded half away from zero); accumulators start at one half.
//!
//! Bicubic uses Keys' cubic with `a = -0.5` (not OpenCV's -0.75).
//!
//! The video path resizes like torchvision's uint8 antialiased kernel instead
//! ([`FixedPoint::TorchInt16`]): the same taps, but int16 weights whose fractional bits are
//! chosen per axis from the largest weight, so sums round differently on some pixels.

/// Pillow's fixed-point precision for 8-bit images: 32 bits - 8 bits of value - 2 bits of headroom.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// How normalised `f64` tap weights become integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FixedPoint {
    /// Pillow's `normalize_coeffs_8bpc`: 22 fractional bits (the image processor).
    Pillow,
    /// torch's `_compute_index_ranges_int16_weights` (torchvision `resize` of uint8 tensors,
    /// the video processor): the most fractional bits (at most 22) that keep twice the
    /// largest weight of the axis below `2^15`.
    TorchInt16,
}

impl FixedPoint {
    fn bits(self, max_weight: f64) -> u32 {
        match self {
            Self::Pillow => PRECISION_BITS,
            Self::TorchInt16 => {
                let mut bits = 0;
                while bits < PRECISION_BITS
                    && ((0.5 + max_weight * f64::from(1u32 << (bits + 1))) as i64) < (1 << 15)
                {
                    bits += 1;
                }
                bits
            }
        }
    }
}

/// A Pillow resampling filter (the `resample` codes of `preprocessor_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResampleFilter {
    /// `Image.NEAREST` (0): nearest neighbour, no interpolation.
    Nearest,
    /// `Image.LANCZOS` (1): windowed sinc, support 3.
    Lanczos,
    /// `Image.BILINEAR` (2): triangle, support 1.
    Bilinear,
    /// `Image.BICUBIC` (3): Keys cubic with a = -0.5, support 2. Qwen2-VL's default.
    Bicubic,
    /// `Image.BOX` (4): box, support 0.5.
    Box,
    /// `Image.HAMMING` (5): Hamming-windowed sinc, support 1.
    Hamming,
}

impl ResampleFilter {
    /// The filter for a Pillow `resample` code, `None` for unknown codes.
    pub fn from_pil_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Nearest,
            1 => Self::Lanczos,
            2 => Self::Bilinear,
            3 => Self::Bicubic,
            4 => Self::Box,
            5 => Self::Hamming,
            _ => return None,
        })
    }

    /// Half-width of the filter kernel at scale 1.
    fn support(self) -> f64 {
        match self {
            Self::Nearest | Self::Box => 0.5,
            Self::Bilinear | Self::Hamming => 1.0,
            Self::Bicubic => 2.0,
            Self::Lanczos => 3.0,
        }
    }

    /// Kernel value at `x` (Pillow's filter functions, in `f64`).
    fn eval(self, x: f64) -> f64 {
        match self {
            Self::Nearest | Self::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Self::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            Self::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Self::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// Fixed-point taps of one pass: for output index `i`, `weights[i*ksize .. i*ksize + len[i]]`
/// apply to input indices `start[i] ..`.
struct Taps {
    ksize: usize,
    /// Fractional bits of `weights`.
    bits: u32,
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the full-image box (or torch's
/// int16 rounding of the same weights).
fn taps(in_size: usize, out_size: usize, filter: ResampleFilter, fixed: FixedPoint) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut start = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut normalized = vec![0f64; out_size * ksize];
    let mut k = vec![0f64; ksize];
    let ss = 1.0 / filterscale;
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero; negative values clamp to 0 either way.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.eval(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut normalized[xx * ksize..xx * ksize + n];
        for (dst, &w) in row.iter_mut().zip(&k[..n]) {
            *dst = if ww != 0.0 { w / ww } else { w };
        }
        start.push(xmin);
        len.push(n);
    }
    let bits = fixed.bits(normalized.iter().copied().fold(0.0, f64::max));
    let scale = f64::from(1u32 << bits);
    // Round half away from zero, then truncate, as Pillow and torch do.
    let weights = normalized
        .iter()
        .map(|&w| {
            let v = w * scale;
            if w < 0.0 {
                (v - 0.5) as i32
            } else {
                (v + 0.5) as i32
            }
        })
        .collect();
    Taps {
        ksize,
        bits,
        start,
        len,
        weights,
    }
}

#[inline]
fn clip8(acc: i64, bits: u32) -> u8 {
    (acc >> bits).clamp(0, 255) as u8
}

/// The rounding term accumulators start from: one half in `bits` fixed point.
fn half(bits: u32) -> i64 {
    (1i64 << bits) >> 1
}

/// Resizes an interleaved 8-bit image with `channels` values per pixel, as Pillow's
/// `Image.resize((out_width, out_height), filter)` does for `RGB` / `L` images.
///
/// `src` holds `height` rows of `width * channels` bytes. Returns `out_height` rows of
/// `out_width * channels` bytes. Sizes are not validated here beyond debug assertions: the
/// caller ([`super::ImageProcessor`]) guarantees non-zero sizes and a matching buffer.
pub(crate) fn resize_u8(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
    filter: ResampleFilter,
) -> Vec<u8> {
    let sizes = [width, height, out_width, out_height];
    resize_u8_fixed(src, sizes, channels, filter, FixedPoint::Pillow)
}

/// [`resize_u8`] with a choice of tap rounding; `sizes` is
/// `[width, height, out_width, out_height]`.
pub(crate) fn resize_u8_fixed(
    src: &[u8],
    sizes: [usize; 4],
    channels: usize,
    filter: ResampleFilter,
    fixed: FixedPoint,
) -> Vec<u8> {
    let [width, height, out_width, out_height] = sizes;
    debug_assert_eq!(src.len(), width * height * channels);
    debug_assert!(width > 0 && height > 0 && out_width > 0 && out_height > 0);
    if width == out_width && height == out_height {
        return src.to_vec();
    }
    if filter == ResampleFilter::Nearest {
        return resize_nearest(src, width, height, channels, out_width, out_height);
    }
    let need_h = width != out_width;
    let need_v = height != out_height;
    let vt = taps(height, out_height, filter, fixed);
    // Rows the vertical pass reads: only those are resampled horizontally.
    let (row0, row1) = if need_v {
        let last = out_height - 1;
        (vt.start[0], vt.start[last] + vt.len[last])
    } else {
        (0, height)
    };
    let tmp_owned;
    let (tmp, tmp_row0) = if need_h {
        let ht = taps(width, out_width, filter, fixed);
        tmp_owned = horizontal(src, width, channels, row0..row1, out_width, &ht);
        (tmp_owned.as_slice(), row0)
    } else {
        (src, 0)
    };
    if !need_v {
        return tmp.to_vec();
    }
    vertical(tmp, out_width, channels, tmp_row0, out_height, &vt)
}

fn horizontal(
    src: &[u8],
    width: usize,
    channels: usize,
    rows: std::ops::Range<usize>,
    out_width: usize,
    t: &Taps,
) -> Vec<u8> {
    let stride = width * channels;
    let out_stride = out_width * channels;
    let mut out = vec![0u8; rows.len() * out_stride];
    for (orow, y) in out.chunks_exact_mut(out_stride).zip(rows) {
        let srow = &src[y * stride..(y + 1) * stride];
        for xx in 0..out_width {
            let k = &t.weights[xx * t.ksize..xx * t.ksize + t.len[xx]];
            let base = t.start[xx] * channels;
            let o = &mut orow[xx * channels..(xx + 1) * channels];
            if channels == 3 {
                // RGB: one pass over the taps for all three channels.
                let px = &srow[base..base + k.len() * 3];
                let mut acc = [half(t.bits); 3];
                for (p, &w) in px.chunks_exact(3).zip(k) {
                    let w = i64::from(w);
                    acc[0] += i64::from(p[0]) * w;
                    acc[1] += i64::from(p[1]) * w;
                    acc[2] += i64::from(p[2]) * w;
                }
                for (o, a) in o.iter_mut().zip(acc) {
                    *o = clip8(a, t.bits);
                }
                continue;
            }
            for (c, o) in o.iter_mut().enumerate() {
                let mut acc = half(t.bits);
                for (i, &w) in k.iter().enumerate() {
                    acc += i64::from(srow[base + i * channels + c]) * i64::from(w);
                }
                *o = clip8(acc, t.bits);
            }
        }
    }
    out
}

fn vertical(
    src: &[u8],
    width: usize,
    channels: usize,
    src_row0: usize,
    out_height: usize,
    t: &Taps,
) -> Vec<u8> {
    let stride = width * channels;
    let mut out = vec![0u8; out_height * stride];
    let mut acc = vec![0i64; stride];
    for (yy, orow) in out.chunks_exact_mut(stride).enumerate() {
        let k = &t.weights[yy * t.ksize..yy * t.ksize + t.len[yy]];
        let first = t.start[yy] - src_row0;
        acc.fill(half(t.bits));
        // Row-major accumulation: same sums as Pillow's per-pixel loop, cache friendly.
        for (i, &w) in k.iter().enumerate() {
            let srow = &src[(first + i) * stride..(first + i + 1) * stride];
            let w = i64::from(w);
            for (a, &v) in acc.iter_mut().zip(srow) {
                *a += i64::from(v) * w;
            }
        }
        for (o, &a) in orow.iter_mut().zip(&acc) {
            *o = clip8(a, t.bits);
        }
    }
    out
}

/// Pillow's `ImagingResize` with NEAREST: source index `floor((x + 0.5) * in / out)`.
fn resize_nearest(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(out_width * out_height * channels);
    let sx = width as f64 / out_width as f64;
    let sy = height as f64 / out_height as f64;
    for yy in 0..out_height {
        let y = (((yy as f64 + 0.5) * sy) as usize).min(height - 1);
        for xx in 0..out_width {
            let x = (((xx as f64 + 0.5) * sx) as usize).min(width - 1);
            let p = (y * width + x) * channels;
            out.extend_from_slice(&src[p..p + channels]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(500, 252), (375, 168), (10, 37), (7, 7)] {
            let t = taps(i, o, ResampleFilter::Bicubic, FixedPoint::Pillow);
            for xx in 0..o {
                let s: i64 = t.weights[xx * t.ksize..xx * t.ksize + t.len[xx]]
                    .iter()
                    .map(|&w| i64::from(w))
                    .sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= t.ksize as i64,
                    "{i}->{o} {xx}: {s}"
                );
            }
        }
    }

    #[test]
    fn torch_int16_weights_use_the_most_bits_that_fit() {
        for (i, o) in [(500, 252), (140, 84), (10, 37), (1000, 28)] {
            let t = taps(i, o, ResampleFilter::Bicubic, FixedPoint::TorchInt16);
            let max = t.weights.iter().copied().max().unwrap();
            assert!(i16::try_from(max).is_ok() && t.weights.iter().all(|&w| w > -(1 << 15)));
            // One more bit would overflow int16 for twice the largest weight.
            assert!(
                t.bits == PRECISION_BITS || 2 * i64::from(max) + 1 >= 1 << 15,
                "{i}->{o}"
            );
            for xx in 0..o {
                let s: i64 = t.weights[xx * t.ksize..xx * t.ksize + t.len[xx]]
                    .iter()
                    .map(|&w| i64::from(w))
                    .sum();
                assert!((s - (1 << t.bits)).abs() <= t.ksize as i64, "{i}->{o} {xx}");
            }
        }
        // Both roundings resample a noisy image to within one level of each other.
        let src: Vec<u8> = (0..97 * 61 * 3).map(|i| (i * 7919 % 251) as u8).collect();
        let sizes = [97, 61, 56, 28];
        let f = ResampleFilter::Bicubic;
        let a = resize_u8_fixed(&src, sizes, 3, f, FixedPoint::Pillow);
        let b = resize_u8_fixed(&src, sizes, 3, f, FixedPoint::TorchInt16);
        assert!(a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= 1));
    }

    #[test]
    fn constant_images_stay_constant() {
        let src = vec![77u8; 31 * 17 * 3];
        for f in [
            ResampleFilter::Bicubic,
            ResampleFilter::Lanczos,
            ResampleFilter::Bilinear,
        ] {
            let out = resize_u8(&src, 31, 17, 3, 12, 40, f);
            assert_eq!(out.len(), 12 * 40 * 3);
            assert!(out.iter().all(|&v| v == 77), "{f:?}");
        }
    }

    #[test]
    fn bicubic_kernel_matches_keys_a_minus_half() {
        let f = ResampleFilter::Bicubic;
        assert_eq!(f.eval(0.0), 1.0);
        assert_eq!(f.eval(1.0), 0.0);
        assert_eq!(f.eval(0.5), 0.5625);
        assert_eq!(f.eval(1.5), -0.0625);
    }
}
