//! In-place edits of a rectangle of an RGB image (fill, flips, symmetry tests) and quarter
//! turns, on whole rows of the raw buffer.

use image::{Rgb, RgbImage};

use super::PX;

/// Fills the `w x h` rectangle at `(x, y)` with one colour.
pub(crate) fn fill_rect(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: Rgb<u8>) {
    let stride = img.width() as usize * PX;
    let d: &mut [u8] = img;
    for r in 0..h as usize {
        let o = (y as usize + r) * stride + x as usize * PX;
        for px in d[o..o + w as usize * PX].chunks_exact_mut(PX) {
            px.copy_from_slice(&color.0);
        }
    }
}

/// A copy of `src` with the `w x h` rectangle at `(x, y)` (inside it) painted `color`:
/// [`fill_rect`] on a clone, built in one pass so the painted pixels are neither read nor
/// written twice.
pub(crate) fn with_rect(
    src: &RgbImage,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    color: Rgb<u8>,
) -> RgbImage {
    let stride = src.width() as usize * PX;
    let (left, run) = (x as usize * PX, w as usize * PX);
    let paint: Vec<u8> = color.0.iter().copied().cycle().take(run).collect();
    let mut raw = Vec::with_capacity(src.as_raw().len());
    for (r, row) in src.as_raw().chunks_exact(stride).enumerate() {
        if (y as usize..(y + h) as usize).contains(&r) {
            raw.extend_from_slice(&row[..left]);
            raw.extend_from_slice(&paint);
            raw.extend_from_slice(&row[left + run..]);
        } else {
            raw.extend_from_slice(row);
        }
    }
    RgbImage::from_raw(src.width(), src.height(), raw).expect("one pixel per source pixel")
}

/// Turns the `w x h` rectangle at `(x, y)` upside down (rows reversed), in place.
pub(crate) fn flip_vertical(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32) {
    let stride = img.width() as usize * PX;
    let len = w as usize * PX;
    let d: &mut [u8] = img;
    let (mut top, mut bottom) = (y as usize, (y + h) as usize);
    while top + 1 < bottom {
        bottom -= 1;
        // Split so the two rows can be borrowed mutably at once.
        let (head, tail) = d.split_at_mut(bottom * stride);
        let a = &mut head[top * stride + x as usize * PX..][..len];
        let b = &mut tail[x as usize * PX..][..len];
        a.swap_with_slice(b);
        top += 1;
    }
}

/// Mirrors the `w x h` rectangle at `(x, y)` left to right, in place.
pub(crate) fn mirror(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32) {
    let stride = img.width() as usize * PX;
    let len = w as usize * PX;
    let d: &mut [u8] = img;
    for r in 0..h as usize {
        let o = (y as usize + r) * stride + x as usize * PX;
        let row = &mut d[o..o + len];
        let n = w as usize;
        for i in 0..n / 2 {
            let j = n - 1 - i;
            let (l, rgt) = row.split_at_mut(j * PX);
            l[i * PX..i * PX + PX].swap_with_slice(&mut rgt[..PX]);
        }
    }
}

/// Whether the `w x h` rectangle at `(x, y)` reads the same upside down (row `r` equals row
/// `h - 1 - r`). Stops at the first difference, so photos answer almost at once.
pub(crate) fn is_symmetric_vertically(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> bool {
    let stride = img.width() as usize * PX;
    let len = w as usize * PX;
    let d: &[u8] = img;
    let row = |r: u32| {
        let o = (y + r) as usize * stride + x as usize * PX;
        &d[o..o + len]
    };
    (0..h / 2).all(|r| row(r) == row(h - 1 - r))
}

/// Whether the `w x h` rectangle at `(x, y)` reads the same mirrored (each row a palindrome
/// of pixels).
pub(crate) fn is_symmetric_horizontally(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> bool {
    let stride = img.width() as usize * PX;
    let len = w as usize * PX;
    let d: &[u8] = img;
    (0..h as usize).all(|r| {
        let o = (y as usize + r) * stride + x as usize * PX;
        let row = &d[o..o + len];
        row.chunks_exact(PX)
            .zip(row.chunks_exact(PX).rev())
            .take(w as usize / 2)
            .all(|(a, b)| a == b)
    })
}

/// The image turned a quarter turn counter-clockwise ("rotated 90 degrees left").
pub(crate) fn rotate_left(src: &RgbImage) -> RgbImage {
    quarter_turn(src, false)
}

/// The image turned a quarter turn clockwise ("rotated 90 degrees right").
pub(crate) fn rotate_right(src: &RgbImage) -> RgbImage {
    quarter_turn(src, true)
}

/// Output rows made per pass of [`quarter_turn`].
const TURN_ROWS: usize = 16;

/// The source turned a quarter turn (`h x w`), `TURN_ROWS` output rows at a time, so that
/// each source row is read once per pass for a short run of neighbouring pixels, instead of
/// one pixel per cache line down a column. Output row `r` is source column `r` read bottom
/// to top when `clockwise`, else source column `w - 1 - r` read top to bottom; so column `i`
/// of a pass's rows is one run of source row `h - 1 - i` (or `i`), in order (or reversed).
fn quarter_turn(src: &RgbImage, clockwise: bool) -> RgbImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let out_row = h * PX;
    if out_row == 0 || w == 0 {
        return RgbImage::new(h as u32, w as u32);
    }
    let s: &[u8] = src;
    // Each pass is made in a small buffer and appended, so the output is written once, in
    // order (never zeroed first).
    let mut raw = Vec::with_capacity(w * out_row);
    let mut pass_rows = vec![0u8; TURN_ROWS * out_row];
    #[cfg(target_arch = "x86_64")]
    let fast = super::has_avx512();
    for first in (0..w).step_by(TURN_ROWS) {
        let n = TURN_ROWS.min(w - first);
        let rows = &mut pass_rows[..n * out_row];
        // Whole 16x16 blocks of a pass in the AVX-512 build; the rest one pixel at a time.
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if fast && n == TURN_ROWS {
            while done + 16 <= h {
                let runs = std::array::from_fn(|k| {
                    let i = done + k;
                    let (y, x0) = if clockwise {
                        (h - 1 - i, first)
                    } else {
                        (i, w - first - n)
                    };
                    (y * w + x0) * PX
                });
                // SAFETY: the CPU has the features (checked above); every run is sixteen
                // pixels of a source row, and the block's rows are rows of this pass.
                unsafe {
                    super::turn_avx512::block(s, &runs, !clockwise, rows, (out_row, 0, done))
                };
                done += 16;
            }
        }
        for i in done..h {
            let (y, x0) = if clockwise {
                (h - 1 - i, first)
            } else {
                (i, w - first - n)
            };
            let run = s[(y * w + x0) * PX..][..n * PX].chunks_exact(PX);
            let slots = rows
                .chunks_exact_mut(out_row)
                .map(|row| &mut row[i * PX..][..PX]);
            if clockwise {
                slots.zip(run).for_each(|(d, p)| d.copy_from_slice(p));
            } else {
                slots.zip(run.rev()).for_each(|(d, p)| d.copy_from_slice(p));
            }
        }
        raw.extend_from_slice(rows);
    }
    RgbImage::from_raw(h as u32, w as u32, raw).expect("one pixel per source pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::grid::tests::ramp;

    #[test]
    fn flips_match_imageops_and_invert() {
        let src = ramp(13, 9);
        let mut a = src.clone();
        flip_vertical(&mut a, 0, 0, 13, 9);
        assert_eq!(a, image::imageops::flip_vertical(&src));
        let mut b = src.clone();
        mirror(&mut b, 0, 0, 13, 9);
        assert_eq!(b, image::imageops::flip_horizontal(&src));
        // A sub-rectangle flip leaves the rest alone and is its own inverse.
        let mut c = src.clone();
        mirror(&mut c, 2, 1, 5, 4);
        flip_vertical(&mut c, 2, 1, 5, 4);
        assert_ne!(c, src);
        assert_eq!(c.get_pixel(0, 0), src.get_pixel(0, 0));
        flip_vertical(&mut c, 2, 1, 5, 4);
        mirror(&mut c, 2, 1, 5, 4);
        assert_eq!(c, src);
    }

    #[test]
    fn painted_copy_equals_fill_on_a_clone() {
        let src = ramp(13, 9);
        // Inside, touching each edge, the whole picture, and empty.
        for (x, y, w, h) in [
            (2, 1, 5, 4),
            (0, 0, 3, 9),
            (10, 6, 3, 3),
            (0, 0, 13, 9),
            (4, 4, 0, 2),
        ] {
            let mut want = src.clone();
            fill_rect(&mut want, x, y, w, h, Rgb([9, 0, 200]));
            assert_eq!(
                with_rect(&src, x, y, w, h, Rgb([9, 0, 200])),
                want,
                "{x},{y} {w}x{h}"
            );
        }
    }

    #[test]
    fn symmetry_checks() {
        let src = ramp(13, 9);
        assert!(!is_symmetric_vertically(&src, 0, 0, 13, 9));
        assert!(!is_symmetric_horizontally(&src, 0, 0, 13, 9));
        let rows = RgbImage::from_fn(6, 5, |_, y| Rgb([y as u8, 0, 0]));
        assert!(is_symmetric_horizontally(&rows, 0, 0, 6, 5));
        assert!(!is_symmetric_vertically(&rows, 0, 0, 6, 5));
        let cols = RgbImage::from_fn(6, 5, |x, _| Rgb([0, x as u8, 0]));
        assert!(is_symmetric_vertically(&cols, 0, 0, 6, 5));
        assert!(!is_symmetric_horizontally(&cols, 0, 0, 6, 5));
        // A sub-rectangle of the ramp that is a single row is vertically symmetric.
        assert!(is_symmetric_vertically(&src, 2, 3, 5, 1));
    }

    #[test]
    fn rotations_match_imageops() {
        // Sides below, at and past the rows one pass makes (and whole 16x16 blocks).
        for (w, h) in [(7, 4), (16, 3), (37, 21), (1, 40), (64, 48), (50, 70)] {
            let src = ramp(w, h);
            assert_eq!(rotate_right(&src), image::imageops::rotate90(&src));
            assert_eq!(rotate_left(&src), image::imageops::rotate270(&src));
            assert_eq!(rotate_left(&rotate_right(&src)), src);
        }
    }
}
