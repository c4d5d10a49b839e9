//! How tile numbers are drawn: [`TileLabel`] (size and place of the digits) and
//! [`TileStyle::annotate_with`], the grid annotation in a given label look. The default
//! look is legible at any size; [`TileLabel::REFERENCE`] is the released data's.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::draw;
use crate::tasks::grid::{Grid, TileStyle};

impl TileStyle {
    /// Draws the border and label `k` on every tile `k` of `grid` in `img`, the label as
    /// `label` says.
    ///
    /// ```
    /// use spatial_ssrl_tasks::{draw, tasks::grid::{Grid, TileStyle}, tasks::tile_label::TileLabel};
    /// let mut img = image::RgbImage::new(120, 80);
    /// let grid = Grid::fit("demo", 120, 80, 2, 2, 8)?;
    /// let style = TileStyle { border_thickness: 2, border_color: draw::BLUE };
    /// style.annotate_with(&mut img, &grid, &TileLabel::REFERENCE);
    /// assert_eq!(*img.get_pixel(10, 10), draw::BLACK); // outline, left of the "0"
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn annotate_with(&self, img: &mut RgbImage, grid: &Grid, label: &TileLabel) {
        let height = match label.height {
            0 => draw::label_height(grid.tile_w, grid.tile_h),
            h => h,
        };
        let pad = (height / 6).max(1);
        for k in 0..grid.len() {
            let (x, y) = grid.origin(k);
            let (x1, y1) = (x + grid.tile_w - 1, y + grid.tile_h - 1);
            draw::draw_rect(
                img,
                x as i32,
                y as i32,
                x1 as i32,
                y1 as i32,
                self.border_thickness,
                self.border_color,
            );
            let text = k.to_string();
            let (tw, th) = draw::label_size(&text, height);
            // Text centre from its top-left corner at `offset` past the tile's origin.
            // (i64 and a clamp: a configured thickness can be anything up to u32::MAX.)
            let at = |origin: u32, offset: i64, half: u32| {
                (i64::from(origin) + offset + i64::from(half)).min(i64::from(i32::MAX)) as i32
            };
            match label.offset {
                None => {
                    // Inset by the border and the label's background padding, plus a gap.
                    let inset = i64::from(self.border_thickness) + i64::from(pad) + 2;
                    draw::draw_label(
                        img,
                        at(x, inset, tw / 2),
                        at(y, inset, th / 2),
                        &text,
                        height,
                        draw::WHITE,
                        Some(draw::BLACK),
                    );
                }
                Some([ox, oy]) => {
                    let (cx, cy) = (at(x, i64::from(ox), tw / 2), at(y, i64::from(oy), th / 2));
                    // White text over copies shifted up to `outline` px each way, in black,
                    // as the reference's `draw_text_with_outline` does.
                    let o = label.outline.min(64) as i32;
                    for dy in -o..=o {
                        for dx in -o..=o {
                            if (dx, dy) != (0, 0) {
                                draw::draw_label(
                                    img,
                                    cx.saturating_add(dx),
                                    cy.saturating_add(dy),
                                    &text,
                                    height,
                                    draw::BLACK,
                                    None,
                                );
                            }
                        }
                    }
                    draw::draw_label(img, cx, cy, &text, height, draw::WHITE, None);
                }
            }
        }
    }
}

/// How a tile's number is drawn: the default is legible at any size (glyphs scaled to the
/// tile, on a black box just inside the border); [`TileLabel::REFERENCE`] is the released
/// data's look (small white digits with a black outline, 10 px in from the tile's corner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TileLabel {
    /// Glyph height in px; 0 scales it to the tile ([`draw::label_height`]).
    pub height: u32,
    /// Where the text's top-left corner sits, in px from the tile's top-left corner. `None`
    /// (absent in TOML): just inside the border, on a black box.
    pub offset: Option<[u32; 2]>,
    /// Width in px of the black outline around the white digits when `offset` is set.
    pub outline: u32,
}

impl TileLabel {
    /// The look of `data_process/Shuffle.py` and `Flip.py`: Pillow's default font (about
    /// 8 px digits where `arial.ttf` is absent, as on the Linux machines the data was made
    /// on), drawn at (10, 10) in white with a 2 px black outline.
    pub const REFERENCE: TileLabel = TileLabel {
        height: 8,
        offset: Some([10, 10]),
        outline: 2,
    };
}

impl Default for TileLabel {
    fn default() -> Self {
        Self {
            height: 0,
            offset: None,
            outline: 2,
        }
    }
}
