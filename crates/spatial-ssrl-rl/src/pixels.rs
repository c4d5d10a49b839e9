//! EasyR1's image size limits (`data.min_pixels` / `data.max_pixels`): before the processor
//! sees an image, one with too many pixels is scaled down and one with too few scaled up, each
//! side by `sqrt(limit / (w h))` truncated to an integer, as `process_image` does.

use image::DynamicImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

/// Pixel-count bounds applied to every prompt image (either may be absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PixelLimits {
    /// Fewer pixels than this: upscale to about this many.
    pub min_pixels: Option<u64>,
    /// More pixels than this: downscale to about this many.
    pub max_pixels: Option<u64>,
}

impl PixelLimits {
    /// The size an image of `width x height` is resized to (unchanged inside the limits).
    ///
    /// ```
    /// use spatial_ssrl_rl::PixelLimits;
    /// let lim = PixelLimits { min_pixels: Some(262_144), max_pixels: Some(4_194_304) };
    /// assert_eq!(lim.target_size(4000, 3000), (2364, 1773)); // 12 MP down to ~4.19 MP
    /// assert_eq!(lim.target_size(256, 128), (724, 362)); // up to ~262k pixels
    /// assert_eq!(lim.target_size(640, 480), (640, 480));
    /// ```
    pub fn target_size(&self, width: u32, height: u32) -> (u32, u32) {
        let (mut w, mut h) = (width, height);
        let scale = |w: u32, h: u32, limit: u64| {
            let f = (limit as f64 / (f64::from(w) * f64::from(h))).sqrt();
            // Python's int() truncates; a side never drops to 0.
            (
                ((f64::from(w) * f).floor() as u32).max(1),
                ((f64::from(h) * f).floor() as u32).max(1),
            )
        };
        if let Some(max) = self.max_pixels
            && u64::from(w) * u64::from(h) > max
        {
            (w, h) = scale(w, h, max);
        }
        if let Some(min) = self.min_pixels
            && u64::from(w) * u64::from(h) < min
        {
            (w, h) = scale(w, h, min);
        }
        (w, h)
    }

    /// Resizes `image` into the limits (bicubic, as PIL's default `resize`), or returns it
    /// unchanged.
    pub fn apply(&self, image: DynamicImage) -> DynamicImage {
        let (w, h) = self.target_size(image.width(), image.height());
        if (w, h) == (image.width(), image.height()) {
            image
        } else {
            image.resize_exact(w, h, FilterType::CatmullRom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_bound_the_pixel_count() {
        let lim = PixelLimits {
            min_pixels: Some(1000),
            max_pixels: Some(5000),
        };
        for (w, h) in [(10, 10), (500, 3), (100, 100), (7, 300), (50, 60)] {
            let (tw, th) = lim.target_size(w, h);
            let px = u64::from(tw) * u64::from(th);
            assert!(px <= 5000, "{w}x{h} -> {tw}x{th}");
            // Truncation can land a little under the minimum, as in EasyR1.
            assert!(px as f64 >= 1000.0 * 0.8, "{w}x{h} -> {tw}x{th}");
        }
        assert_eq!(PixelLimits::default().target_size(3, 4), (3, 4));
        let img = DynamicImage::new_rgb8(200, 100);
        let out = lim.apply(img);
        assert_eq!((out.width(), out.height()), (100, 50));
    }
}
