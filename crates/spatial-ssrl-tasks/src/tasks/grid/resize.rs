//! Bilinear resize in 11-bit fixed point (OpenCV `INTER_LINEAR` semantics), of a whole image
//! or of a window read in place.

use image::RgbImage;

use super::PX;

/// Fixed-point precision of the resize weights (11 bits, as OpenCV uses for 8-bit images).
const WEIGHT_BITS: u32 = 11;
const ONE: u32 = 1 << WEIGHT_BITS;

/// For each output coordinate: the left/top source index and the weight of the next one,
/// with pixel centres aligned (`src = (dst + 0.5) * scale - 0.5`) and edges clamped, in
/// exact integer arithmetic so every platform gets the same bytes.
fn linear_taps(src: u32, dst: u32) -> Vec<(usize, u32)> {
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
    let (wx, wy, ww, wh) = window;
    if width == 0 || height == 0 || ww == 0 || wh == 0 {
        return RgbImage::new(width, height);
    }
    // Byte offsets of each output column's two source pixels within a window row.
    let xs: Vec<(usize, usize, u32)> = linear_taps(ww, width)
        .into_iter()
        .map(|(x0, fx)| (x0 * PX, (x0 + 1).min(ww as usize - 1) * PX, fx))
        .collect();
    let ys = linear_taps(wh, height);
    let sstride = src.width() as usize * PX;
    let s: &[u8] = src;
    let row_len = width as usize * PX;
    // Horizontal pass of one window row into `buf` (values scaled by ONE).
    let hpass = |y: usize, buf: &mut [u32]| {
        let start = (wy as usize + y) * sstride + wx as usize * PX;
        let row = &s[start..start + ww as usize * PX];
        for (px, &(a, b, fx)) in buf.chunks_exact_mut(PX).zip(&xs) {
            let (a, b) = (&row[a..a + PX], &row[b..b + PX]);
            for c in 0..PX {
                px[c] = u32::from(a[c]) * (ONE - fx) + u32::from(b[c]) * fx;
            }
        }
    };
    // Two cached horizontally filtered rows: consecutive output rows mostly share them.
    let (mut top, mut bottom) = (vec![0u32; row_len], vec![0u32; row_len]);
    let (mut top_y, mut bottom_y) = (usize::MAX, usize::MAX);
    let last = wh as usize - 1;
    let mut raw = Vec::with_capacity(row_len * height as usize);
    for &(y0, fy) in &ys {
        let y1 = (y0 + 1).min(last);
        if top_y != y0 {
            if bottom_y == y0 {
                std::mem::swap(&mut top, &mut bottom);
                std::mem::swap(&mut top_y, &mut bottom_y);
            } else {
                hpass(y0, &mut top);
                top_y = y0;
            }
        }
        if bottom_y != y1 {
            hpass(y1, &mut bottom);
            bottom_y = y1;
        }
        let round = 1u32 << (2 * WEIGHT_BITS - 1);
        // a, b <= 255 * 2^11, weights <= 2^11: the sum stays below 2^31.
        raw.extend(
            top.iter()
                .zip(&bottom)
                .map(|(&a, &b)| ((a * (ONE - fy) + b * fy + round) >> (2 * WEIGHT_BITS)) as u8),
        );
    }
    RgbImage::from_raw(width, height, raw).expect("one pixel per output position")
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
