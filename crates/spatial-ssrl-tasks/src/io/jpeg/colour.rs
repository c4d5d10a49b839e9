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
                let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
                // BT.601 weights in 16-bit fixed point; they sum to exactly 65536.
                *d = (((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128) as i16;
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

/// Cb and Cr of a 2x2 pixel group from its channel sums (each up to 4 * 255): the colour
/// transform is linear, so transforming the mean equals averaging the transforms.
#[inline(always)]
fn chroma(r: i32, g: i32, b: i32) -> (i16, i16) {
    let cb = (-11059 * r - 21709 * g + 32768 * b + (1 << 17)) >> 18;
    let cr = (32768 * r - 27439 * g - 5329 * b + (1 << 17)) >> 18;
    (cb as i16, cr as i16)
}
