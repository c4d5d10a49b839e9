//! Colour conversion and chroma subsampling: one MCU row of RGB8 pixels as level-shifted
//! Y, Cb and Cr planes.

/// Asks the CPU to start loading the pixels of MCU column `m` in the MCU row at `y0` (the
/// cache line where each of its 16 rows starts; consecutive MCUs start 48 bytes apart, so
/// every line of a row is asked for), so that converting or comparing that row later finds
/// them in cache: the hardware prefetcher follows one row well, but an MCU row starts 16 of
/// them at once. `rgb` has rows of `w` pixels; rows past its end are skipped. Only a hint;
/// nothing is read into the program.
#[inline(always)]
pub(super) fn prefetch_mcu(rgb: &[u8], w: usize, y0: usize, m: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let (row_bytes, x) = (3 * w, 48 * m);
        if x >= row_bytes {
            return;
        }
        let rows = rgb.get(y0 * row_bytes + x..).unwrap_or_default();
        for p in rows.iter().step_by(row_bytes).take(16) {
            // SAFETY: a prefetch of an address inside `rgb`; it never faults or writes.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((p as *const u8).cast::<i8>()) };
        }
    }
}

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
    /// `x1 <= stride`) of the 16 rows from `y0` on. `AVX2` is true only in the encoder's
    /// AVX2 build, which converts most columns sixteen pixels at a time.
    #[inline(always)]
    pub(super) fn fill<const AVX2: bool>(
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
        #[cfg(target_arch = "x86_64")]
        let x0 = if AVX2 {
            // SAFETY: `AVX2` is only true in `encode_avx2`, which runs on CPUs with AVX2.
            unsafe { self.fill_avx2(rgb, (w, h), y0, x0, real) }
        } else {
            x0
        };
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

#[cfg(target_arch = "x86_64")]
impl Strip {
    /// [`Strip::fill`]'s conversion of columns `x0..` in groups of sixteen pixels, as far as
    /// `real` and the row end allow (each group of eight reads four bytes past its last
    /// pixel); returns the first column not converted. The same integers as [`luma`] and
    /// [`chroma`], regrouped for `pmaddwd`: `38470 * g` is `65536 * g - 27066 * g`, and the
    /// `65536 * g` leaves the shift exactly as `+ g`; the rounding terms ride on a constant
    /// second lane (`256 * 128`) or are added in 32 bits.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn fill_avx2(
        &mut self,
        rgb: &[u8],
        (w, h): (usize, usize),
        y0: usize,
        x0: usize,
        real: usize,
    ) -> usize {
        use std::arch::x86_64::{
            __m128i, __m256i, _mm_loadu_si128, _mm_storeu_si128, _mm256_add_epi32,
            _mm256_and_si256, _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_hadd_epi32,
            _mm256_madd_epi16, _mm256_mullo_epi32, _mm256_or_si256, _mm256_packs_epi32,
            _mm256_permute4x64_epi64, _mm256_set_m128i, _mm256_set1_epi32, _mm256_setr_epi8,
            _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_srai_epi32, _mm256_storeu_si256,
            _mm256_sub_epi32,
        };
        let groups = (real.saturating_sub(x0) / 16).min((3 * w).saturating_sub(3 * x0 + 4) / 48);
        let end = x0 + 16 * groups;
        if groups == 0 {
            return x0;
        }
        let row = |y: usize| &rgb[y.min(h - 1) * w * 3..][..w * 3];
        let z = -128i8; // a shuffle index that writes zero
        // Per 128-bit lane, four pixels: (r, g) as a pair of i16 per i32; b and g alone.
        let rg_of = _mm256_setr_epi8(
            0, z, 1, z, 3, z, 4, z, 6, z, 7, z, 9, z, 10, z, 0, z, 1, z, 3, z, 4, z, 6, z, 7, z, 9,
            z, 10, z,
        );
        let b_of = _mm256_setr_epi8(
            2, z, z, z, 5, z, z, z, 8, z, z, z, 11, z, z, z, 2, z, z, z, 5, z, z, z, 8, z, z, z,
            11, z, z, z,
        );
        let g_of = _mm256_setr_epi8(
            1, z, z, z, 4, z, z, z, 7, z, z, z, 10, z, z, z, 1, z, z, z, 4, z, z, z, 7, z, z, z,
            10, z, z, z,
        );
        let pair = |a: i32, b: i32| _mm256_set1_epi32((b << 16) | (a & 0xffff));
        let (k_rg, k_b) = (pair(19595, -27066), pair(7471, 128));
        let (b_lane, shift_back) = (_mm256_set1_epi32(256 << 16), _mm256_set1_epi32(128));
        let (k_cb, k_cr) = (pair(-11059, -21709), pair(0, -27439));
        let (k_cr_b, half, low) = (
            _mm256_set1_epi32(-5329),
            _mm256_set1_epi32(1 << 17),
            _mm256_set1_epi32(0xffff),
        );
        // Eight pixels from `x`: lane 0 holds the first four, lane 1 the next four.
        let load = |src: &[u8], x: usize| -> (__m256i, __m256i, __m256i) {
            let p = &src[3 * x..][..28];
            // SAFETY: `p` is 28 bytes; the two loads read bytes 0..16 and 12..28.
            let v = unsafe {
                _mm256_set_m128i(
                    _mm_loadu_si128(p[12..].as_ptr().cast::<__m128i>()),
                    _mm_loadu_si128(p.as_ptr().cast::<__m128i>()),
                )
            };
            (
                _mm256_shuffle_epi8(v, rg_of),
                _mm256_shuffle_epi8(v, b_of),
                _mm256_shuffle_epi8(v, g_of),
            )
        };
        let luma8 = |(rg, b, g): (__m256i, __m256i, __m256i)| {
            let sum = _mm256_add_epi32(
                _mm256_madd_epi16(rg, k_rg),
                _mm256_madd_epi16(_mm256_or_si256(b, b_lane), k_b),
            );
            _mm256_sub_epi32(
                _mm256_add_epi32(_mm256_srai_epi32::<16>(sum), g),
                shift_back,
            )
        };
        // Sixteen i32 lanes (two registers, pixel order per lane) to sixteen i16 in order.
        let narrow =
            |a: __m256i, b: __m256i| _mm256_permute4x64_epi64::<0xd8>(_mm256_packs_epi32(a, b));
        let half_stride = self.stride / 2;
        let (ys, cbs, crs) = (&mut self.y, &mut self.cb, &mut self.cr);
        for r in 0..8 {
            let (ra, rb) = (row(y0 + 2 * r), row(y0 + 2 * r + 1));
            for x in (x0..end).step_by(16) {
                let a = [load(ra, x), load(ra, x + 8)];
                let b = [load(rb, x), load(rb, x + 8)];
                for (k, px) in [a, b].iter().enumerate() {
                    let out = &mut ys[(2 * r + k) * self.stride + x..][..16];
                    let v = narrow(luma8(px[0]), luma8(px[1]));
                    // SAFETY: `out` is sixteen `i16`, the 32 bytes written.
                    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v) };
                }
                // 2x2 sums: the two rows added, then neighbouring pixels (adjacent i32 lanes;
                // r and g sums stay within their 16-bit halves, at most 4 * 255).
                let rows = |i: usize, f: fn((__m256i, __m256i, __m256i)) -> __m256i| {
                    _mm256_add_epi32(f(a[i]), f(b[i]))
                };
                let both = |f: fn((__m256i, __m256i, __m256i)) -> __m256i| {
                    let s = _mm256_hadd_epi32(rows(0, f), rows(1, f));
                    _mm256_permute4x64_epi64::<0xd8>(s)
                };
                let (s_rg, s_b) = (both(|p| p.0), both(|p| p.1));
                let cb = _mm256_add_epi32(
                    _mm256_madd_epi16(s_rg, k_cb),
                    _mm256_add_epi32(_mm256_slli_epi32::<15>(s_b), half),
                );
                let cr = _mm256_add_epi32(
                    _mm256_add_epi32(
                        _mm256_slli_epi32::<15>(_mm256_and_si256(s_rg, low)),
                        _mm256_madd_epi16(s_rg, k_cr),
                    ),
                    _mm256_add_epi32(_mm256_mullo_epi32(s_b, k_cr_b), half),
                );
                let c = narrow(_mm256_srai_epi32::<18>(cb), _mm256_srai_epi32::<18>(cr));
                let at = r * half_stride + x / 2;
                let (cb_out, cr_out) = (&mut cbs[at..][..8], &mut crs[at..][..8]);
                // SAFETY: each destination is eight `i16`, the 16 bytes written.
                unsafe {
                    _mm_storeu_si128(
                        cb_out.as_mut_ptr().cast::<__m128i>(),
                        _mm256_castsi256_si128(c),
                    );
                    _mm_storeu_si128(
                        cr_out.as_mut_ptr().cast::<__m128i>(),
                        _mm256_extracti128_si256::<1>(c),
                    );
                }
            }
        }
        end
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
