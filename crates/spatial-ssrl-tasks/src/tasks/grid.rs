//! Rectangular patches of an RGB image, shared by the shuffle, flip and crop tasks: a grid
//! of equal tiles, rectangle copies, in-place flips, quarter turns and a fixed-point bilinear
//! resize.
//!
//! Everything works on whole rows of the raw buffer (`copy_from_slice`, `fill`) rather than
//! per-pixel `get_pixel`/`put_pixel`: these loops are the tasks' entire cost.
//!
//! The public part: [`Grid`] (fit, [`Grid::split`], [`Grid::compose`]), [`TileStyle`]
//! (numbered tile borders), [`resize_bilinear`], and the seeded [`shuffle`] and
//! [`pick_weighted`] the built-ins draw with.
//!
//! ```
//! use spatial_ssrl_tasks::tasks::grid::{Grid, shuffle};
//! use spatial_ssrl_tasks::prelude::*;
//! let img = RgbImage::from_fn(90, 60, |x, y| Rgb([x as u8, y as u8, 0]));
//! let grid = Grid::fit("strips", img.width(), img.height(), 1, 3, 8)?; // three 30x60 strips
//! let mut order: Vec<usize> = (0..grid.len()).collect();
//! shuffle(&mut order, &mut TaskRng::seed_from_u64(3));
//! let puzzle = grid.compose(&img, &order)?; // slot k shows strip order[k]
//! assert_eq!(grid.split(&puzzle)?[0], grid.split(&img)?[order[0]]);
//! # Ok::<(), spatial_ssrl_tasks::Error>(())
//! ```

use image::{Rgb, RgbImage};
use rand::Rng;

use crate::error::{Error, Result};
use crate::task::TaskRng;

/// Bytes per RGB pixel.
const PX: usize = 3;

/// A `rows x cols` grid of equal tiles laid over the top-left corner of an image.
///
/// As in the reference, tiles are `width / cols` by `height / rows` (rounded down) and the
/// few leftover pixels at the right and bottom edges are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Tile rows.
    pub rows: u32,
    /// Tile columns.
    pub cols: u32,
    /// Tile width in pixels.
    pub tile_w: u32,
    /// Tile height in pixels.
    pub tile_h: u32,
}

impl Grid {
    /// Fits the grid to a `width x height` image, or [`Error::TooSmall`] when a tile would
    /// be narrower or shorter than `min_tile` px.
    pub fn fit(
        task: &'static str,
        width: u32,
        height: u32,
        rows: u32,
        cols: u32,
        min_tile: u32,
    ) -> Result<Self> {
        let min_tile = min_tile.max(1);
        let (tile_w, tile_h) = (width / cols.max(1), height / rows.max(1));
        if rows == 0 || cols == 0 || tile_w < min_tile || tile_h < min_tile {
            return Err(Error::TooSmall {
                task,
                w: width,
                h: height,
                min_w: cols.max(1).saturating_mul(min_tile),
                min_h: rows.max(1).saturating_mul(min_tile),
            });
        }
        Ok(Self {
            rows,
            cols,
            tile_w,
            tile_h,
        })
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.rows as usize * self.cols as usize
    }

    /// Whether the grid has no tile (only a hand-built one can).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tiles of `src` in reading order; [`Error::TooSmall`] when `src` is smaller than
    /// the grid.
    pub fn split(&self, src: &RgbImage) -> Result<Vec<RgbImage>> {
        self.check_source(src)?;
        Ok((0..self.len())
            .map(|k| {
                let (x, y) = self.origin(k);
                crop(src, x, y, self.tile_w, self.tile_h)
            })
            .collect())
    }

    /// The grid assembled from `src`'s tiles, slot `k` showing tile `order[k]`;
    /// [`Error::TooSmall`] when `src` is smaller than the grid, [`Error::InvalidConfig`]
    /// when `order` is not one tile index per slot.
    pub fn compose(&self, src: &RgbImage, order: &[usize]) -> Result<RgbImage> {
        self.check_source(src)?;
        if order.len() != self.len() || order.iter().any(|&t| t >= self.len()) {
            return Err(Error::InvalidConfig {
                task: "grid",
                message: format!("order {order:?} is not {} tile indices", self.len()),
            });
        }
        Ok(compose(src, self, order))
    }

    fn check_source(&self, src: &RgbImage) -> Result<()> {
        let need = |n: u32, side: u32| u64::from(n) * u64::from(side);
        if need(self.cols, self.tile_w) > u64::from(src.width())
            || need(self.rows, self.tile_h) > u64::from(src.height())
        {
            return Err(Error::TooSmall {
                task: "grid",
                w: src.width(),
                h: src.height(),
                min_w: self.width(),
                min_h: self.height(),
            });
        }
        Ok(())
    }

    /// Width of the assembled grid (a multiple of the tile width).
    pub fn width(&self) -> u32 {
        self.cols * self.tile_w
    }

    /// Height of the assembled grid.
    pub fn height(&self) -> u32 {
        self.rows * self.tile_h
    }

    /// Top-left corner of tile `index`, tiles numbered in reading order.
    pub fn origin(&self, index: usize) -> (u32, u32) {
        let (r, c) = (index as u32 / self.cols, index as u32 % self.cols);
        (c * self.tile_w, r * self.tile_h)
    }
}

/// The `w x h` rectangle at `(x, y)` as a new image.
pub(crate) fn crop(src: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> RgbImage {
    assemble(w, h, |r, out| {
        out.extend_from_slice(row_span(src, x, y + r, w));
    })
}

/// Assembles `grid` from `src`'s tiles: slot `k` of the result shows source tile `order[k]`.
pub(crate) fn compose(src: &RgbImage, grid: &Grid, order: &[usize]) -> RgbImage {
    let (cols, tile_h) = (grid.cols as usize, grid.tile_h);
    assemble(grid.width(), grid.height(), |r, out| {
        let slots = &order[(r / tile_h) as usize * cols..][..cols];
        for &tile in slots {
            let (x, y) = grid.origin(tile);
            out.extend_from_slice(row_span(src, x, y + r % tile_h, grid.tile_w));
        }
    })
}

/// The `w` pixels of row `y` of `img` from column `x` on, as raw bytes. The span must lie
/// inside the image (callers derive it from a [`Grid`] or a clamped window, so a violation
/// is a bug and panics).
fn row_span(img: &RgbImage, x: u32, y: u32, w: u32) -> &[u8] {
    let start = (y as usize * img.width() as usize + x as usize) * PX;
    &img.as_raw()[start..start + w as usize * PX]
}

/// A `w x h` image whose rows `row(r, out)` appends in order: written once, never zeroed
/// first (these images are several megabytes and made once per sample).
fn assemble(w: u32, h: u32, mut row: impl FnMut(u32, &mut Vec<u8>)) -> RgbImage {
    let mut raw = Vec::with_capacity(w as usize * h as usize * PX);
    for r in 0..h {
        row(r, &mut raw);
    }
    RgbImage::from_raw(w, h, raw).expect("every row appended exactly `w` pixels")
}

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
    let (w, h) = (src.width() as usize, src.height() as usize);
    let mut out = RgbImage::new(h as u32, w as u32);
    let s: &[u8] = src;
    let d: &mut [u8] = &mut out;
    // Output row r is source column w-1-r read top to bottom; writes stay sequential.
    for (r, row) in d.chunks_exact_mut(h * PX).enumerate() {
        let col = w - 1 - r;
        for (i, px) in row.chunks_exact_mut(PX).enumerate() {
            let o = (i * w + col) * PX;
            px.copy_from_slice(&s[o..o + PX]);
        }
    }
    out
}

/// The image turned a quarter turn clockwise ("rotated 90 degrees right").
pub(crate) fn rotate_right(src: &RgbImage) -> RgbImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let mut out = RgbImage::new(h as u32, w as u32);
    let s: &[u8] = src;
    let d: &mut [u8] = &mut out;
    // Output row r is source column r read bottom to top.
    for (r, row) in d.chunks_exact_mut(h * PX).enumerate() {
        for (i, px) in row.chunks_exact_mut(PX).enumerate() {
            let o = ((h - 1 - i) * w + r) * PX;
            px.copy_from_slice(&s[o..o + PX]);
        }
    }
    out
}

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

/// Shuffles `items` uniformly (Fisher-Yates) with draws from `rng`.
///
/// Written out rather than taken from `rand::seq` so the permutation a seed gives can only
/// change when this crate changes it.
pub fn shuffle<T>(items: &mut [T], rng: &mut TaskRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// Picks an index with probability proportional to its integer weight; `None` when all are 0.
///
/// ```
/// use spatial_ssrl_tasks::{TaskRng, rand::SeedableRng, tasks::grid::pick_weighted};
/// let mut rng = TaskRng::seed_from_u64(1);
/// assert_eq!(pick_weighted(&[0, 5, 0], &mut rng), Some(1));
/// assert_eq!(pick_weighted(&[0, 0], &mut rng), None);
/// ```
pub fn pick_weighted(weights: &[u32], rng: &mut TaskRng) -> Option<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut t = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if t < u64::from(w) {
            return Some(i);
        }
        t -= u64::from(w);
    }
    unreachable!("t < total")
}

/// How a grid's tiles are decorated: a border inside each tile and its number in the
/// top-left corner (white digits on a black box, legible on any content).
///
/// ```
/// use spatial_ssrl_tasks::{draw, tasks::grid::{Grid, TileStyle}};
/// let mut img = image::RgbImage::new(120, 80);
/// let grid = Grid::fit("demo", 120, 80, 2, 2, 8)?;
/// TileStyle { border_thickness: 2, border_color: draw::BLUE }.annotate(&mut img, &grid);
/// assert_eq!(*img.get_pixel(0, 40), draw::BLUE); // top-left corner of tile 2
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TileStyle {
    /// Border thickness in pixels.
    pub border_thickness: u32,
    /// Border colour.
    pub border_color: Rgb<u8>,
}

impl TileStyle {
    /// Draws the border and label `k` on every tile `k` of `grid` in `img`, the label in
    /// the default look ([`TileLabel::default`](crate::tasks::tile_label::TileLabel)).
    pub fn annotate(&self, img: &mut RgbImage, grid: &Grid) {
        self.annotate_with(img, grid, &crate::tasks::tile_label::TileLabel::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 7 + y) as u8, (y * 5 + x * 3) as u8, (x ^ y) as u8])
        })
    }

    #[test]
    fn grid_fits_and_refuses() {
        let g = Grid::fit("t", 902, 1186, 2, 2, 16).unwrap();
        assert_eq!(
            (g.tile_w, g.tile_h, g.width(), g.height()),
            (451, 593, 902, 1186)
        );
        assert_eq!(g.origin(3), (451, 593));
        let g = Grid::fit("t", 100, 31, 3, 1, 10).unwrap();
        assert_eq!((g.tile_w, g.tile_h, g.height()), (100, 10, 30));
        match Grid::fit("t", 100, 29, 3, 1, 10) {
            Err(Error::TooSmall {
                min_h: 30,
                min_w: 10,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(Grid::fit("t", 100, 100, 0, 2, 1).is_err());
    }

    #[test]
    fn compose_places_tiles() {
        let src = ramp(40, 30);
        let g = Grid::fit("t", 40, 30, 2, 2, 1).unwrap();
        let out = compose(&src, &g, &[3, 2, 1, 0]);
        for y in 0..15 {
            for x in 0..20 {
                assert_eq!(out.get_pixel(x, y), src.get_pixel(x + 20, y + 15));
                assert_eq!(out.get_pixel(x + 20, y + 15), src.get_pixel(x, y));
                assert_eq!(out.get_pixel(x + 20, y), src.get_pixel(x, y + 15));
            }
        }
    }

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
        let src = ramp(7, 4);
        assert_eq!(rotate_right(&src), image::imageops::rotate90(&src));
        assert_eq!(rotate_left(&src), image::imageops::rotate270(&src));
        assert_eq!(rotate_left(&rotate_right(&src)), src);
    }

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

    #[test]
    fn shuffle_is_uniform_over_permutations() {
        let mut rng = TaskRng::seed_from_u64(1);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..24_000 {
            let mut v = [0u8, 1, 2, 3];
            shuffle(&mut v, &mut rng);
            *counts.entry(v).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 24);
        // Expected 1000 each; 5 sigma is about 155.
        assert!(
            counts.values().all(|&c| (840..=1160).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn weighted_pick_respects_zero_weights() {
        let mut rng = TaskRng::seed_from_u64(2);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[pick_weighted(&[1, 0, 2], &mut rng).unwrap()] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > seen[0] + 500, "{seen:?}");
        assert_eq!(pick_weighted(&[0, 0], &mut rng), None);
    }
}
