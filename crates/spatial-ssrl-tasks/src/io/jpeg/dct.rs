//! Forward DCT (Loeffler-Ligtenberg-Moschytz, integer), quantisation, and the zig-zag
//! non-zero mask the Huffman coder reads a block through.

use super::colour::Strip;
use super::tables::ZIGZAG_T;
use super::{Component, RECIP_BITS};

/// 13-bit fixed-point constants of the LLM DCT.
pub(super) const C0_298: i32 = 2446;
pub(super) const C0_390: i32 = 3196;
pub(super) const C0_541: i32 = 4433;
pub(super) const C0_765: i32 = 6270;
pub(super) const C0_899: i32 = 7373;
pub(super) const C1_175: i32 = 9633;
pub(super) const C1_501: i32 = 12299;
pub(super) const C1_847: i32 = 15137;
pub(super) const C1_961: i32 = 16069;
pub(super) const C2_053: i32 = 16819;
pub(super) const C2_562: i32 = 20995;
pub(super) const C3_072: i32 = 25172;
pub(super) const CONST_BITS: u32 = 13;
/// Extra precision kept between the two passes.
pub(super) const PASS1_BITS: u32 = 2;

/// Eight `i32` lanes: the DCT runs on eight columns (then eight rows) at once, and each
/// operation is a plain loop over the lanes, which compiles to one vector instruction.
#[derive(Clone, Copy)]
pub(super) struct Lanes(pub(super) [i32; 8]);

impl Lanes {
    #[inline(always)]
    fn map2(self, o: Self, f: impl Fn(i32, i32) -> i32) -> Self {
        Self(std::array::from_fn(|i| f(self.0[i], o.0[i])))
    }

    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.map2(o, |a, b| a + b)
    }

    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self.map2(o, |a, b| a - b)
    }

    #[inline(always)]
    fn mul(self, k: i32) -> Self {
        Self(self.0.map(|a| a * k))
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        Self(self.0.map(|a| a << n))
    }

    #[inline(always)]
    fn descale(self, n: u32) -> Self {
        Self(self.0.map(|a| (a + (1 << (n - 1))) >> n))
    }
}

/// One 8-point DCT (LLM) per lane. Pass 1 (`last == false`) keeps `PASS1_BITS` of extra
/// precision; pass 2 removes it and leaves the coefficients scaled by 8.
#[inline(always)]
pub(super) fn dct8(d: [Lanes; 8], last: bool) -> [Lanes; 8] {
    let down = if last {
        CONST_BITS + PASS1_BITS
    } else {
        CONST_BITS - PASS1_BITS
    };
    let (t0, t7) = (d[0].add(d[7]), d[0].sub(d[7]));
    let (t1, t6) = (d[1].add(d[6]), d[1].sub(d[6]));
    let (t2, t5) = (d[2].add(d[5]), d[2].sub(d[5]));
    let (t3, t4) = (d[3].add(d[4]), d[3].sub(d[4]));
    let (t10, t13) = (t0.add(t3), t0.sub(t3));
    let (t11, t12) = (t1.add(t2), t1.sub(t2));
    let (o0, o4) = if last {
        (
            t10.add(t11).descale(PASS1_BITS),
            t10.sub(t11).descale(PASS1_BITS),
        )
    } else {
        (t10.add(t11).shl(PASS1_BITS), t10.sub(t11).shl(PASS1_BITS))
    };
    let z1 = t12.add(t13).mul(C0_541);
    let o2 = z1.add(t13.mul(C0_765)).descale(down);
    let o6 = z1.sub(t12.mul(C1_847)).descale(down);

    let (z1, z2, z3, z4) = (t4.add(t7), t5.add(t6), t4.add(t6), t5.add(t7));
    let z5 = z3.add(z4).mul(C1_175);
    let (t4, t5, t6, t7) = (
        t4.mul(C0_298),
        t5.mul(C2_053),
        t6.mul(C3_072),
        t7.mul(C1_501),
    );
    let (z1, z2) = (z1.mul(-C0_899), z2.mul(-C2_562));
    let (z3, z4) = (z5.sub(z3.mul(C1_961)), z5.sub(z4.mul(C0_390)));
    [
        o0,
        t7.add(z1).add(z4).descale(down),
        o2,
        t6.add(z2).add(z3).descale(down),
        o4,
        t5.add(z2).add(z4).descale(down),
        o6,
        t4.add(z1).add(z3).descale(down),
    ]
}

/// 8x8 transpose as three rounds of swapping off-diagonal sub-blocks (4x4, 2x2, 1x1): each
/// new row is a fixed two-row shuffle, which compiles to a few vector shuffles instead of
/// 64 scalar moves.
#[inline(always)]
pub(super) fn transpose(m: [Lanes; 8]) -> [Lanes; 8] {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = m.map(|l| l.0);
    let (r0, r4) = swap_blocks::<4>(r0, r4);
    let (r1, r5) = swap_blocks::<4>(r1, r5);
    let (r2, r6) = swap_blocks::<4>(r2, r6);
    let (r3, r7) = swap_blocks::<4>(r3, r7);
    let (r0, r2) = swap_blocks::<2>(r0, r2);
    let (r1, r3) = swap_blocks::<2>(r1, r3);
    let (r4, r6) = swap_blocks::<2>(r4, r6);
    let (r5, r7) = swap_blocks::<2>(r5, r7);
    let (r0, r1) = swap_blocks::<1>(r0, r1);
    let (r2, r3) = swap_blocks::<1>(r2, r3);
    let (r4, r5) = swap_blocks::<1>(r4, r5);
    let (r6, r7) = swap_blocks::<1>(r6, r7);
    [r0, r1, r2, r3, r4, r5, r6, r7].map(Lanes)
}

/// Rows `a` and `b = a + S` after swapping their off-diagonal `S`-wide sub-blocks.
#[inline(always)]
fn swap_blocks<const S: usize>(a: [i32; 8], b: [i32; 8]) -> ([i32; 8], [i32; 8]) {
    (
        std::array::from_fn(|c| if c & S == 0 { a[c] } else { b[c - S] }),
        std::array::from_fn(|c| if c & S == 0 { a[c + S] } else { b[c] }),
    )
}

/// Forward DCT and quantisation of one MCU's six blocks (four luma, then Cb and Cr) from
/// the strip's columns `x..x + 16`; each block in the DCT's transposed natural order
/// (`ZIGZAG_T` maps zig-zag positions into it).
#[inline(always)]
pub(super) fn transform_mcu<const AVX2: bool>(
    strip: &Strip,
    x: usize,
    (luma, chroma): (&Component, &Component),
    out: &mut [[i16; 64]; 6],
) {
    let (stride, half) = (strip.stride, strip.stride / 2);
    let (y, cb, cr) = (&strip.y, &strip.cb[x / 2..], &strip.cr[x / 2..]);
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        let [y0, y1, y2, y3, b, r] = out;
        // SAFETY: `AVX2` is only true in `encode_avx2`, which runs on CPUs with AVX2.
        unsafe {
            use super::dct_avx2::transform_pair;
            transform_pair((&y[x..], stride), (&y[x + 8..], stride), luma, [y0, y1]);
            let (lower, right) = (&y[8 * stride + x..], &y[8 * stride + x + 8..]);
            transform_pair((lower, stride), (right, stride), luma, [y2, y3]);
            transform_pair((cb, half), (cr, half), chroma, [b, r]);
        }
        return;
    }
    let blocks: [(&[i16], usize, &Component); 6] = [
        (&y[x..], stride, luma),
        (&y[x + 8..], stride, luma),
        (&y[8 * stride + x..], stride, luma),
        (&y[8 * stride + x + 8..], stride, luma),
        (cb, half, chroma),
        (cr, half, chroma),
    ];
    for ((plane, stride, comp), out) in blocks.into_iter().zip(out) {
        transform(plane, stride, comp, out);
    }
}

/// Forward DCT and quantisation of the 8x8 block at the start of `plane`, portable build;
/// `out` is in the DCT's transposed natural order.
#[inline(always)]
pub(super) fn transform(plane: &[i16], stride: usize, comp: &Component, out: &mut [i16; 64]) {
    // Pass 1 down the columns: lanes are columns, `p[v]` is vertical frequency `v`.
    let rows = std::array::from_fn(|r| {
        let row = &plane[r * stride..][..8];
        Lanes(std::array::from_fn(|c| i32::from(row[c])))
    });
    let p = dct8(rows, false);
    // Pass 2 along the rows: lanes are rows, so `f[u]` lane `v` is coefficient (v, u), the
    // transposed layout of `Component::recip`.
    let f = dct8(transpose(p), true);
    let f = f.map(|l| l.0);
    let x: [i16; 64] = std::array::from_fn(|i| f.as_flattened()[i] as i16);
    quantise_block(&x, comp, out);
}

/// The quantised block of an 8x8 area whose level-shifted samples all equal `v`: the
/// transform of a constant is its DC alone (`8 * v` per pass, so `64 * v` with the scaling
/// by 8) and every AC coefficient is exactly zero, so this is [`transform`]'s result.
#[inline(always)]
pub(super) fn flat_block(v: i16, comp: &Component) -> [i16; 64] {
    let mut q = [0i16; 64];
    q[0] = quantise(64 * v, comp.half[0], comp.recip[0]);
    q
}

/// Quantises a transformed block. In 16-bit lanes, twice as many per instruction: a
/// coefficient (scaled by 8) is at most 8 * 2048 in magnitude for 8-bit samples, so it and
/// `|x| + half` fit, and `(a * recip) >> 18` is the high half of the 16x16 product shifted
/// by 2, the same value.
#[inline(always)]
pub(super) fn quantise_block(x: &[i16; 64], comp: &Component, out: &mut [i16; 64]) {
    let scale = comp.half.iter().zip(&comp.recip);
    for ((q, &x), (&half, &recip)) in out.iter_mut().zip(x).zip(scale) {
        *q = quantise(x, half, recip);
    }
}

/// `x / divisor` rounded to nearest, for `|x| <= 8 * 2048`, from half the divisor and its
/// reciprocal ([`Component`]); at most 1023 in magnitude, as baseline AC symbols hold at most
/// 10 magnitude bits (and DC differences 11).
#[inline(always)]
pub(super) fn quantise(x: i16, half: u16, recip: u16) -> i16 {
    let a = x.unsigned_abs() + half;
    let m = ((u32::from(a) * u32::from(recip)) >> 16) as u16 >> (RECIP_BITS - 16);
    let m = m.min(1023) as i16;
    if x < 0 { -m } else { m }
}

/// Which coefficients of a quantised block are non-zero, bit `k` for zig-zag position `k`.
/// Reading the block in zig-zag order through this mask replaces reordering all 64 values.
#[inline(always)]
pub(super) fn zigzag_mask<const AVX2: bool>(q: &[i16; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true in `encode_avx2`, which runs on CPUs with AVX2.
        return unsafe { zigzag_mask_avx2(q) };
    }
    // One 0/1 byte per position, then a multiply gathers each 8 bytes' low bits into one
    // byte (bit i from byte i).
    // `& 63` is a no-op that spares the bounds check.
    let flags: [u8; 64] = std::array::from_fn(|k| u8::from(q[ZIGZAG_T[k] & 63] != 0));
    let mut mask = 0u64;
    for (i, eight) in flags.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(eight.try_into().unwrap_or([0; 8]));
        mask |= (word.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * i);
    }
    mask
}

/// Byte shuffles that move the natural-order flags into zig-zag order, 16 bytes at a time:
/// `[out chunk][source chunk]`, 0x80 where the output byte comes from another source chunk.
#[cfg(target_arch = "x86_64")]
const ZIGZAG_SHUFFLE: [[[u8; 16]; 4]; 4] = {
    let mut t = [[[0x80; 16]; 4]; 4];
    let mut k = 0;
    while k < 64 {
        let s = ZIGZAG_T[k];
        t[k / 16][s / 16][k % 16] = (s % 16) as u8;
        k += 1;
    }
    t
};

/// [`zigzag_mask`] with a vector compare, sixteen byte shuffles and four `movemask`s
/// instead of 64 scalar reads. Same mask, so the same bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn zigzag_mask_avx2(q: &[i16; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_movemask_epi8, _mm_or_si128, _mm_setzero_si128, _mm_shuffle_epi8,
    };
    let flags: [u8; 64] = std::array::from_fn(|i| if q[i] != 0 { 0xff } else { 0 });
    // SAFETY: `[u8; 16]` and `__m128i` are both 16 bytes of plain integers.
    let chunk = |b: [u8; 16]| unsafe { std::mem::transmute::<[u8; 16], __m128i>(b) };
    let src: [__m128i; 4] =
        std::array::from_fn(|c| chunk(flags[16 * c..][..16].try_into().unwrap_or([0; 16])));
    let mut mask = 0u64;
    for (o, tables) in ZIGZAG_SHUFFLE.iter().enumerate() {
        let mut acc = _mm_setzero_si128();
        for (&s, &t) in src.iter().zip(tables) {
            acc = _mm_or_si128(acc, _mm_shuffle_epi8(s, chunk(t)));
        }
        mask |= u64::from(_mm_movemask_epi8(acc) as u16) << (16 * o);
    }
    mask
}
