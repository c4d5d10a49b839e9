//! Colour conversion and chroma subsampling: one MCU row of RGB8 pixels as level-shifted
//! Y, Cb and Cr planes.

/// One row of MCUs (16 pixel rows) as level-shifted planes; chroma at half size each way.
/// Rows and columns past the image repeat its last row and column, as libjpeg pads.
pub(super) struct Strip {
    pub(super) y: Vec<i16>,
    pub(super) cb: Vec<i16>,
    pub(super) cr: Vec<i16>,
    pub(super) stride: usize,
}

impl Strip {
    /// Converts pixel columns `x0..x1` (MCU boundaries: multiples of 16, `x0 < w`,
    /// `x1 <= stride`) of the 16 rows from `y0` on.
    #[inline(always)]
    pub(super) fn fill(
        &mut self,
        rgb: &[u8],
        (w, h): (usize, usize),
        y0: usize,
        x0: usize,
        x1: usize,
    ) {
        let row = |y: usize| &rgb[y.min(h - 1) * w * 3..][..w * 3];
        // Real columns, then the padding that repeats the last one.
        let real = x1.min(w);
        for (r, dst) in self.y.chunks_exact_mut(self.stride).enumerate() {
            let src = &row(y0 + r)[3 * x0..3 * real];
            for (d, p) in dst[x0..real].iter_mut().zip(src.chunks_exact(3)) {
                *d = luma(p[0], p[1], p[2]);
            }
            let last = dst[real - 1];
            dst[real..x1].fill(last);
        }
        let half = self.stride / 2;
        let (cw, pairs) = (w.div_ceil(2), w / 2);
        let (c0, c1) = (x0 / 2, x1 / 2);
        let real_pairs = c1.min(pairs);
        let rows = self
            .cb
            .chunks_exact_mut(half)
            .zip(self.cr.chunks_exact_mut(half));
        for (r, (cb, cr)) in rows.enumerate() {
            let (a, b) = (row(y0 + 2 * r), row(y0 + 2 * r + 1));
            let (a, b) = (
                &a[6 * c0..6 * real_pairs.max(c0)],
                &b[6 * c0..6 * real_pairs.max(c0)],
            );
            let quads = a.chunks_exact(6).zip(b.chunks_exact(6));
            let dst = cb[c0..c1].iter_mut().zip(cr[c0..c1].iter_mut());
            for ((cb, cr), (a, b)) in dst.zip(quads) {
                let s = |c: usize| {
                    i32::from(a[c]) + i32::from(a[c + 3]) + i32::from(b[c]) + i32::from(b[c + 3])
                };
                (*cb, *cr) = chroma(s(0), s(1), s(2));
            }
            if cw > pairs && (c0..c1).contains(&pairs) {
                // Odd width: the last column pairs with itself.
                let (a, b) = (row(y0 + 2 * r), row(y0 + 2 * r + 1));
                let s = |c: usize| 2 * (i32::from(a[3 * w - 3 + c]) + i32::from(b[3 * w - 3 + c]));
                (cb[pairs], cr[pairs]) = chroma(s(0), s(1), s(2));
            }
            if c1 > cw {
                let (lb, lr) = (cb[cw - 1], cr[cw - 1]);
                cb[cw..c1].fill(lb);
                cr[cw..c1].fill(lr);
            }
        }
    }
}

/// Level-shifted Y of one pixel.
#[inline(always)]
fn luma(r: u8, g: u8, b: u8) -> i16 {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    // BT.601 weights in 16-bit fixed point; they sum to exactly 65536.
    (((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128) as i16
}

/// Level-shifted Y, Cb and Cr of an area of one colour `px`, as [`Strip::fill`] computes
/// them for each of its pixels and 2x2 groups.
pub(super) fn ycbcr(px: [u8; 3]) -> (i16, i16, i16) {
    let [r, g, b] = px;
    let four = |c: u8| 4 * i32::from(c);
    let (cb, cr) = chroma(four(r), four(g), four(b));
    (luma(r, g, b), cb, cr)
}

/// The colour of the MCU at pixel `(x0, y0)` (multiples of 16, inside the `w x h` image)
/// when all its pixels have that one colour; the padding past the image edges repeats edge
/// pixels, so only the pixels inside count. Fails on the first differing row of a photo.
#[inline(always)]
pub(super) fn flat_mcu(
    rgb: &[u8],
    (w, h): (usize, usize),
    y0: usize,
    x0: usize,
) -> Option<[u8; 3]> {
    let start = 3 * (y0 * w + x0);
    let first = [rgb[start], rgb[start + 1], rgb[start + 2]];
    let span = 3 * (w - x0).min(16);
    let mut pattern = [0u8; 48];
    for px in pattern.chunks_exact_mut(3) {
        px.copy_from_slice(&first);
    }
    let flat = (y0..(y0 + 16).min(h)).all(|y| rgb[3 * (y * w + x0)..][..span] == pattern[..span]);
    flat.then_some(first)
}

/// Cb and Cr of a 2x2 pixel group from its channel sums (each up to 4 * 255): the colour
/// transform is linear, so transforming the mean equals averaging the transforms.
#[inline(always)]
fn chroma(r: i32, g: i32, b: i32) -> (i16, i16) {
    let cb = (-11059 * r - 21709 * g + 32768 * b + (1 << 17)) >> 18;
    let cr = (32768 * r - 27439 * g - 5329 * b + (1 << 17)) >> 18;
    (cb as i16, cr as i16)
}
