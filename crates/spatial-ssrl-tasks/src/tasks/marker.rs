//! Numbered point markers for the RGB-D tasks: a white disc with a black ring and a black
//! digit, the look of the reference's matplotlib circle labels, drawn with [`crate::draw`].
//!
//! ```
//! use spatial_ssrl_tasks::tasks::marker::{draw_marker, marker_height, marker_radius};
//! let mut img = image::RgbImage::new(320, 240);
//! let h = marker_height(img.width(), img.height(), 1.0);
//! draw_marker(&mut img, 100, 120, "1", h);
//! let r = marker_radius(h);
//! let white = (100 - r / 2..100 + r / 2).filter(|&x| img.get_pixel(x, 120).0 == [255; 3]).count();
//! assert!(white > 0); // the disc behind the digit
//! assert_eq!(img.get_pixel(100 + r + 2, 120).0, [0, 0, 0]); // outside: untouched
//! ```

use image::RgbImage;

use crate::draw;

/// Glyph height of the markers on a `width x height` image: `scale` times
/// [`draw::label_height`], at least [`draw::MIN_LABEL_HEIGHT`], and a multiple of the 8 px font
/// cell once it reaches 16 px so every font pixel is an equal block.
pub fn marker_height(width: u32, height: u32, scale: f32) -> u32 {
    let full = draw::label_height(width, height) as f32;
    let h = (full * scale.max(0.0)).round() as u32;
    let h = if h >= 16 { h - h % 8 } else { h };
    h.max(draw::MIN_LABEL_HEIGHT)
}

/// Radius (px) of the disc drawn behind a one-character label of glyph height `height_px`:
/// large enough to hold the glyph square with a margin.
pub fn marker_radius(height_px: u32) -> u32 {
    height_px * 7 / 8 + 1
}

/// Draws a marker centred on pixel `(x, y)` showing `text`.
pub fn draw_marker(img: &mut RgbImage, x: u32, y: u32, text: &str, height_px: u32) {
    let (cx, cy) = (x as i32, y as i32);
    let r = marker_radius(height_px);
    draw::fill_circle(img, cx, cy, r, draw::WHITE);
    draw::draw_ring(img, cx, cy, r, (height_px / 12).max(1), draw::BLACK);
    draw::draw_label(img, cx, cy, text, height_px, draw::BLACK, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_white_disc_with_black_digit() {
        let mut img = RgbImage::from_pixel(100, 80, image::Rgb([0, 128, 0]));
        let h = marker_height(100, 80, 1.0);
        assert_eq!(h, draw::MIN_LABEL_HEIGHT);
        draw_marker(&mut img, 50, 40, "2", h);
        let r = marker_radius(h);
        let (mut white, mut black) = (0, 0);
        for y in 40 - r..=40 + r {
            for x in 50 - r..=50 + r {
                match img.get_pixel(x, y).0 {
                    [255, 255, 255] => white += 1,
                    [0, 0, 0] => black += 1,
                    _ => {}
                }
            }
        }
        assert!(white > 100 && black > 20, "white {white}, black {black}");
        assert_eq!(img.get_pixel(0, 0).0, [0, 128, 0]);
        assert_eq!(marker_height(1024, 768, 0.5), 32);
    }
}
