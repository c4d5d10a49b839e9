//! Integer-only drawing on `RgbImage`s: labels in an embedded bitmap font, borders, discs,
//! rings and rectangles.
//!
//! Everything here is pixel-exact and deterministic on every machine: the font is the public
//! domain 8x8 bitmap font of the `font8x8` crate, scaled with nearest-neighbour sampling in
//! integer arithmetic, and shapes use integer distance tests. No system fonts, no
//! anti-aliasing, no floating point. All functions clip to the image, so callers may draw
//! partly (or wholly) outside it.
//!
//! ```
//! use spatial_ssrl_tasks::draw::{self, RED, WHITE};
//! let mut img = image::RgbImage::new(64, 48);
//! let h = draw::label_height(img.width(), img.height());
//! draw::draw_label(&mut img, 32, 24, "3", h, RED, Some(WHITE));
//! draw::draw_border(&mut img, 2, RED);
//! assert_eq!(img.get_pixel(0, 0), &RED);
//! ```

use image::{Rgb, RgbImage};

/// Pure red.
pub const RED: Rgb<u8> = Rgb([255, 0, 0]);
/// Pure green.
pub const GREEN: Rgb<u8> = Rgb([0, 255, 0]);
/// Pure blue.
pub const BLUE: Rgb<u8> = Rgb([0, 0, 255]);
/// White.
pub const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
/// Black.
pub const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
/// Yellow.
pub const YELLOW: Rgb<u8> = Rgb([255, 255, 0]);

/// Smallest glyph height [`label_height`] returns: below this digits stop being legible
/// to a vision encoder working on 14 px patches.
pub const MIN_LABEL_HEIGHT: u32 = 12;

/// Side of one glyph cell of the embedded font, in font pixels.
const CELL: u32 = 8;

/// Legible label glyph height (px) for an image of this size (scaled to the image, >= 12 px).
///
/// One tenth of the shorter side, rounded down to a multiple of 8 once it reaches 16 px so
/// every font pixel becomes an equal square block; never below [`MIN_LABEL_HEIGHT`].
///
/// ```
/// use spatial_ssrl_tasks::draw::label_height;
/// assert_eq!(label_height(50, 50), 12);
/// assert_eq!(label_height(480, 640), 48);
/// assert_eq!(label_height(1186, 902), 88);
/// ```
pub fn label_height(width: u32, height: u32) -> u32 {
    let h = width.min(height) / 10;
    if h >= 16 {
        h - h % CELL
    } else {
        h.max(MIN_LABEL_HEIGHT)
    }
}

/// Size (w, h) in px that [`draw_label`]'s text (without background padding) occupies.
///
/// Glyphs are square cells of `height_px` side, one per character (monospace).
///
/// ```
/// use spatial_ssrl_tasks::draw::label_size;
/// assert_eq!(label_size("12", 16), (32, 16));
/// assert_eq!(label_size("", 16), (0, 16));
/// ```
pub fn label_size(text: &str, height_px: u32) -> (u32, u32) {
    let n = text.chars().count() as u32;
    (n.saturating_mul(height_px), height_px)
}

/// Padding (px) around the text inside a label's background box.
fn label_padding(height_px: u32) -> u32 {
    (height_px / 6).max(1)
}

/// The 8x8 bitmap of a character; characters outside ASCII render as `?`.
fn glyph(c: char) -> [u8; 8] {
    let code = if c.is_ascii() {
        c as usize
    } else {
        '?' as usize
    };
    font8x8::legacy::BASIC_LEGACY[code]
}

/// Draws `text` centred at (cx, cy) with glyph height `height_px`, colour `fg`, on an
/// optional filled background box `bg` (with a small padding).
///
/// The text box is [`label_size`]; the background extends `max(1, height_px / 6)` px beyond
/// it on every side. Clipped to the image.
///
/// ```
/// use spatial_ssrl_tasks::draw::{draw_label, label_size, BLACK, WHITE};
/// let mut img = image::RgbImage::new(40, 20);
/// draw_label(&mut img, 20, 10, "A", 16, BLACK, Some(WHITE));
/// // The background box fills the corner of the padded area...
/// assert_eq!(img.get_pixel(20 - 8 - 2, 10 - 8 - 2), &WHITE);
/// // ...and glyph pixels are drawn in the foreground colour.
/// assert!(img.pixels().any(|p| *p == BLACK));
/// ```
pub fn draw_label(
    img: &mut RgbImage,
    cx: i32,
    cy: i32,
    text: &str,
    height_px: u32,
    fg: Rgb<u8>,
    bg: Option<Rgb<u8>>,
) {
    if height_px == 0 {
        return;
    }
    let (tw, th) = label_size(text, height_px);
    let x0 = i64::from(cx) - i64::from(tw / 2);
    let y0 = i64::from(cy) - i64::from(th / 2);
    if let Some(bg) = bg {
        let pad = i64::from(label_padding(height_px));
        fill_rect_i64(
            img,
            x0 - pad,
            y0 - pad,
            x0 + i64::from(tw) + pad,
            y0 + i64::from(th) + pad,
            bg,
        );
    }
    let h = i64::from(height_px);
    for (i, c) in text.chars().enumerate() {
        let bits = glyph(c);
        let gx = x0 + i as i64 * h;
        // Visit only the on-screen part of the cell; each output pixel samples the font
        // pixel under it (nearest neighbour, integer division).
        let (xa, xb) = clip_span(gx, gx + h, img.width());
        let (ya, yb) = clip_span(y0, y0 + h, img.height());
        for y in ya..yb {
            let row = bits[((y - y0) * i64::from(CELL) / h) as usize];
            if row == 0 {
                continue;
            }
            for x in xa..xb {
                let col = (x - gx) * i64::from(CELL) / h;
                // font8x8 stores the leftmost pixel in the lowest bit.
                if row >> col & 1 == 1 {
                    img.put_pixel(x as u32, y as u32, fg);
                }
            }
        }
    }
}

/// Draws a border of `thickness` px inside the image edges.
///
/// ```
/// use spatial_ssrl_tasks::draw::{draw_border, RED};
/// let mut img = image::RgbImage::new(10, 10);
/// draw_border(&mut img, 2, RED);
/// assert_eq!(img.get_pixel(1, 5), &RED);
/// assert_eq!(img.get_pixel(2, 5), &image::Rgb([0, 0, 0]));
/// assert_eq!(img.get_pixel(9, 9), &RED);
/// ```
pub fn draw_border(img: &mut RgbImage, thickness: u32, color: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let t = i64::from(thickness);
    if t == 0 {
        return;
    }
    fill_rect_i64(img, 0, 0, w, t, color);
    fill_rect_i64(img, 0, h - t, w, h, color);
    fill_rect_i64(img, 0, 0, t, h, color);
    fill_rect_i64(img, w - t, 0, w, h, color);
}

/// Fills a disc of the given radius (pixels with `dx² + dy² <= radius²`); clipped to the image.
///
/// ```
/// use spatial_ssrl_tasks::draw::{fill_circle, GREEN};
/// let mut img = image::RgbImage::new(20, 20);
/// fill_circle(&mut img, 10, 10, 3, GREEN);
/// assert_eq!(img.get_pixel(13, 10), &GREEN);
/// assert_eq!(img.get_pixel(13, 13), &image::Rgb([0, 0, 0]));
/// assert_eq!(img.pixels().filter(|p| **p == GREEN).count(), 29);
/// ```
pub fn fill_circle(img: &mut RgbImage, cx: i32, cy: i32, radius: u32, color: Rgb<u8>) {
    disc_band(img, cx, cy, -1, i64::from(radius), color);
}

/// Draws a ring (circle outline) of given thickness; clipped.
///
/// `radius` is the outer radius: the ring covers pixels whose distance `d` from the centre
/// satisfies `radius - thickness < d <= radius` (compared squared, in integers). A thickness
/// at least `radius + 1` fills the disc.
///
/// ```
/// use spatial_ssrl_tasks::draw::{draw_ring, YELLOW};
/// let mut img = image::RgbImage::new(30, 30);
/// draw_ring(&mut img, 15, 15, 10, 2, YELLOW);
/// assert_eq!(img.get_pixel(25, 15), &YELLOW);
/// assert_eq!(img.get_pixel(24, 15), &YELLOW);
/// assert_eq!(img.get_pixel(23, 15), &image::Rgb([0, 0, 0]));
/// assert_eq!(img.get_pixel(15, 15), &image::Rgb([0, 0, 0]));
/// ```
pub fn draw_ring(
    img: &mut RgbImage,
    cx: i32,
    cy: i32,
    radius: u32,
    thickness: u32,
    color: Rgb<u8>,
) {
    if thickness == 0 {
        return;
    }
    let inner = i64::from(radius) - i64::from(thickness);
    disc_band(img, cx, cy, inner, i64::from(radius), color);
}

/// Draws an axis-aligned rectangle outline; clipped.
///
/// The corners `(x0, y0)` and `(x1, y1)` are inclusive (in either order); the outline grows
/// `thickness` px inwards from them.
///
/// ```
/// use spatial_ssrl_tasks::draw::{draw_rect, BLUE};
/// let mut img = image::RgbImage::new(10, 10);
/// draw_rect(&mut img, 2, 2, 7, 7, 1, BLUE);
/// assert_eq!(img.get_pixel(2, 5), &BLUE);
/// assert_eq!(img.get_pixel(7, 7), &BLUE);
/// assert_eq!(img.get_pixel(5, 5), &image::Rgb([0, 0, 0]));
/// assert_eq!(img.pixels().filter(|p| **p == BLUE).count(), 20);
/// ```
pub fn draw_rect(
    img: &mut RgbImage,
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    thickness: u32,
    color: Rgb<u8>,
) {
    if thickness == 0 {
        return;
    }
    let (xa, xb) = (i64::from(x0.min(x1)), i64::from(x0.max(x1)) + 1);
    let (ya, yb) = (i64::from(y0.min(y1)), i64::from(y0.max(y1)) + 1);
    let t = i64::from(thickness);
    fill_rect_i64(img, xa, ya, xb, (ya + t).min(yb), color);
    fill_rect_i64(img, xa, (yb - t).max(ya), xb, yb, color);
    fill_rect_i64(img, xa, ya, (xa + t).min(xb), yb, color);
    fill_rect_i64(img, (xb - t).max(xa), ya, xb, yb, color);
}

/// Fills the axis-aligned rectangle `[x0, x1) x [y0, y1)`; clipped.
///
/// ```
/// use spatial_ssrl_tasks::draw::{fill_rect, WHITE};
/// let mut img = image::RgbImage::new(10, 10);
/// fill_rect(&mut img, -5, -5, 3, 2, WHITE);
/// assert_eq!(img.pixels().filter(|p| **p == WHITE).count(), 6);
/// ```
pub fn fill_rect(img: &mut RgbImage, x0: i32, y0: i32, x1: i32, y1: i32, color: Rgb<u8>) {
    fill_rect_i64(img, x0.into(), y0.into(), x1.into(), y1.into(), color);
}

/// Half-open `[a, b)` clipped to `[0, limit)`; empty spans come back with `a >= b`.
fn clip_span(a: i64, b: i64, limit: u32) -> (i64, i64) {
    (a.max(0), b.min(i64::from(limit)))
}

fn fill_rect_i64(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb<u8>) {
    let (xa, xb) = clip_span(x0, x1, img.width());
    let (ya, yb) = clip_span(y0, y1, img.height());
    for y in ya..yb {
        for x in xa..xb {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// Paints pixels with `inner² < d² <= outer²` (all pixels with `d <= outer` when `inner < 0`).
fn disc_band(img: &mut RgbImage, cx: i32, cy: i32, inner: i64, outer: i64, color: Rgb<u8>) {
    let (cx, cy) = (i64::from(cx), i64::from(cy));
    let outer2 = outer * outer;
    let inner2 = if inner < 0 { -1 } else { inner * inner };
    let (xa, xb) = clip_span(cx - outer, cx + outer + 1, img.width());
    let (ya, yb) = clip_span(cy - outer, cy + outer + 1, img.height());
    for y in ya..yb {
        let dy = y - cy;
        for x in xa..xb {
            let dx = x - cx;
            let d2 = dx * dx + dy * dy;
            if d2 <= outer2 && d2 > inner2 {
                img.put_pixel(x as u32, y as u32, color);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, c: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == c).count()
    }

    #[test]
    fn label_pixels_match_the_font_scaled_exactly() {
        // At 8 px every glyph pixel maps to one image pixel; at 24 px to a 3x3 block.
        for (h, scale) in [(8u32, 1usize), (24, 3)] {
            let mut img = RgbImage::new(64, 64);
            draw_label(&mut img, 32, 32, "7", h, WHITE, None);
            let on: usize = glyph('7').iter().map(|r| r.count_ones() as usize).sum();
            assert_eq!(count(&img, WHITE), on * scale * scale, "height {h}");
        }
    }

    #[test]
    fn label_is_centred_and_in_reading_order() {
        let mut img = RgbImage::new(100, 40);
        draw_label(&mut img, 50, 20, "10", 16, WHITE, None);
        // "1" lands in the left cell, "0" in the right cell.
        let lit =
            |x0: u32, x1: u32| (x0..x1).any(|x| (0..40).any(|y| *img.get_pixel(x, y) == WHITE));
        assert!(lit(34, 50) && lit(50, 66));
        assert!(!lit(0, 34) && !lit(66, 100));
    }

    #[test]
    fn label_background_covers_padded_box() {
        let mut img = RgbImage::new(60, 60);
        draw_label(&mut img, 30, 30, "AB", 12, RED, Some(YELLOW));
        let pad = label_padding(12) as usize;
        let glyph_on: usize = "AB"
            .chars()
            .map(|c| {
                glyph(c)
                    .iter()
                    .map(|r| r.count_ones() as usize)
                    .sum::<usize>()
            })
            .sum();
        // 12 px glyphs sample font pixels unevenly, so count covered area instead.
        let total = (24 + 2 * pad) * (12 + 2 * pad);
        assert_eq!(count(&img, YELLOW) + count(&img, RED), total);
        assert!(count(&img, RED) >= glyph_on);
    }

    #[test]
    fn drawing_far_outside_is_a_no_op() {
        let mut img = RgbImage::new(8, 8);
        draw_label(&mut img, -1000, -1000, "xyz", 48, WHITE, Some(RED));
        fill_circle(&mut img, i32::MAX, i32::MIN, 5, WHITE);
        draw_ring(&mut img, 10_000, 4, 9000, 3, WHITE);
        draw_rect(&mut img, -50, -50, -20, -20, 4, WHITE);
        assert_eq!(count(&img, BLACK), 64);
        draw_border(&mut img, 100, RED);
        assert_eq!(count(&img, RED), 64);
    }

    #[test]
    fn ring_is_disc_minus_inner_disc() {
        let mut ring = RgbImage::new(41, 41);
        draw_ring(&mut ring, 20, 20, 15, 4, WHITE);
        let mut outer = RgbImage::new(41, 41);
        fill_circle(&mut outer, 20, 20, 15, WHITE);
        let mut inner = RgbImage::new(41, 41);
        fill_circle(&mut inner, 20, 20, 11, WHITE);
        assert_eq!(
            count(&ring, WHITE),
            count(&outer, WHITE) - count(&inner, WHITE)
        );
    }

    #[test]
    fn label_height_bounds() {
        assert_eq!(label_height(1, 1), MIN_LABEL_HEIGHT);
        assert_eq!(label_height(0, 5000), MIN_LABEL_HEIGHT);
        assert_eq!(label_height(150, 150), 15);
        assert_eq!(label_height(160, 1000), 16);
        assert!(label_height(u32::MAX, u32::MAX).is_multiple_of(8));
    }
}
