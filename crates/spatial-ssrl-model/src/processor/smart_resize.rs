//! `smart_resize`: the target size Qwen2-VL / Qwen2.5-VL resize an image to.
//!
//! Follows `smart_resize` in transformers' `image_processing_qwen2_vl.py` (4.57): both sides
//! become multiples of `factor` (patch size x merge size = 28), the pixel count is brought into
//! `[min_pixels, max_pixels]` while keeping the aspect ratio, and images more elongated than
//! 200:1 are rejected.

use super::error::{ProcessorError, Result};

/// The largest accepted ratio between the long and the short side (transformers' limit).
pub const MAX_ASPECT_RATIO: f64 = 200.0;

/// Target `(height, width)` for an image of `height x width` pixels, both multiples of `factor`.
///
/// The same arithmetic as transformers (Python `round` ties to even, `floor`/`ceil` on `f64`):
/// 1. round each side to the nearest multiple of `factor`;
/// 2. if that exceeds `max_pixels`, scale both sides by `sqrt(h*w / max_pixels)` and round
///    down (at least `factor`);
/// 3. else if it is below `min_pixels`, scale by `sqrt(min_pixels / (h*w))` and round up.
///
/// As in transformers, the result can leave `[min_pixels, max_pixels]` for very elongated
/// images (a side clamped to `factor`).
///
/// # Errors
/// [`ProcessorError::BadImageSize`] for a zero side, an aspect ratio above 200
/// ([`MAX_ASPECT_RATIO`]) or a result with a zero side (only possible with `min_pixels` 0);
/// [`ProcessorError::BadConfig`] for `factor` 0.
///
/// # Example
/// ```
/// use spatial_ssrl_model::smart_resize;
/// // 375 wide, 500 high, with the tiny fixture's limits (3136..=50176 pixels).
/// assert_eq!(smart_resize(500, 375, 28, 3136, 50176).unwrap(), (252, 168));
/// // Qwen2.5-VL defaults keep a 640x480 photo's rounded size.
/// assert_eq!(smart_resize(480, 640, 28, 56 * 56, 28 * 28 * 1280).unwrap(), (476, 644));
/// assert!(smart_resize(10, 2500, 28, 3136, 50176).is_err()); // 250:1
/// ```
pub fn smart_resize(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(u32, u32)> {
    if factor == 0 {
        return Err(ProcessorError::BadConfig {
            field: "patch_size",
            message: "patch_size * merge_size must be positive".into(),
        });
    }
    if height == 0 || width == 0 {
        return Err(ProcessorError::BadImageSize {
            height,
            width,
            reason: "a side is zero".into(),
        });
    }
    let (h, w, f) = (f64::from(height), f64::from(width), f64::from(factor));
    let ratio = h.max(w) / h.min(w);
    if ratio > MAX_ASPECT_RATIO {
        return Err(ProcessorError::BadImageSize {
            height,
            width,
            reason: format!("absolute aspect ratio must be smaller than 200, got {ratio}"),
        });
    }
    // Python: round(height / factor) * factor, with round-half-to-even.
    let mut h_bar = (h / f).round_ties_even() * f;
    let mut w_bar = (w / f).round_ties_even() * f;
    // Pixel counts are integers below 2^53, so the f64 products and quotients below are the
    // same correctly rounded values Python computes from its ints.
    let area = f64::from(height) * f64::from(width);
    if h_bar * w_bar > max_pixels as f64 {
        let beta = (area / max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < min_pixels as f64 {
        let beta = (min_pixels as f64 / area).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    if h_bar < 1.0 || w_bar < 1.0 || h_bar > f64::from(u32::MAX) || w_bar > f64::from(u32::MAX) {
        return Err(ProcessorError::BadImageSize {
            height,
            width,
            reason: format!("the resized size {h_bar}x{w_bar} is out of range"),
        });
    }
    Ok((h_bar as u32, w_bar as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_round_to_even() {
        // 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2 (Python's round), no pixel limits in play.
        assert_eq!(smart_resize(42, 70, 28, 0, u64::MAX).unwrap(), (56, 56));
    }

    #[test]
    fn tiny_images_grow_to_min_pixels() {
        let (h, w) = smart_resize(10, 10, 28, 3136, 50176).unwrap();
        assert_eq!((h, w), (56, 56));
    }

    #[test]
    fn zero_sides_and_extreme_ratios_are_errors() {
        assert!(matches!(
            smart_resize(0, 10, 28, 3136, 50176),
            Err(ProcessorError::BadImageSize { .. })
        ));
        assert!(smart_resize(1, 200, 28, 3136, 50176).is_ok());
        let err = smart_resize(1, 201, 28, 3136, 50176).unwrap_err();
        assert!(
            err.to_string()
                .contains("absolute aspect ratio must be smaller than 200")
        );
        assert!(smart_resize(5, 5, 28, 0, 50176).is_err());
        assert!(smart_resize(5, 5, 0, 0, 50176).is_err());
    }
}
