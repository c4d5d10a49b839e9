//! Rectangular patches of an RGB image, shared by the shuffle, flip and crop tasks: a grid
//! of equal tiles, rectangle copies, in-place flips, quarter turns and a fixed-point bilinear
//! resize.
//!
//! Everything works on whole rows of the raw buffer (`copy_from_slice`, `fill`) rather than
//! per-pixel `get_pixel`/`put_pixel`: these loops are the tasks' entire cost.
//!
//! This file holds the grid and its tile copies; `rect.rs` the in-place rectangle edits and
//! quarter turns, `resize.rs` the bilinear resize, `pick.rs` the seeded draws.
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

mod pick;
mod rect;
mod resize;
#[cfg(target_arch = "x86_64")]
mod resize_avx512;
#[cfg(target_arch = "x86_64")]
mod turn_avx512;

pub use pick::{pick_weighted, shuffle};
pub(crate) use rect::{
    fill_rect, flip_vertical, is_symmetric_horizontally, is_symmetric_vertically, mirror,
    rotate_left, rotate_right, with_rect,
};
pub use resize::resize_bilinear;
pub(crate) use resize::resize_window;

use image::{Rgb, RgbImage};

use crate::error::{Error, Result};

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

/// Whether the CPU runs the AVX-512 builds of the resize (`resize_avx512`) and of quarter
/// turns (`turn_avx512`): F, BW and VBMI.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512bw") && has!("avx512vbmi")
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

    /// A small picture with no symmetry, shared by the grid modules' tests.
    pub(super) fn ramp(w: u32, h: u32) -> RgbImage {
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
}
