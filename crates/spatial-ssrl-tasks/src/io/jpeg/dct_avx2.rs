//! The AVX2 build's forward DCT: two 8x8 blocks at once, one in each 128-bit half of a
//! register, in 16-bit lanes, with `pmaddwd` doing each pair of multiplications; the
//! coefficients are quantised in the same registers before they are stored.
//!
//! The integers are those of the portable [`dct8`](super::dct::dct8) (the same LLM
//! transform and rounding), so the coefficients are equal: every product-sum is the
//! portable one with its terms regrouped, e.g. `z1 + t13 * C0_765` with
//! `z1 = (t12 + t13) * C0_541` becomes `t12 * C0_541 + t13 * (C0_541 + C0_765)`, which is
//! the same integer (no intermediate leaves `i32`). What goes into 16 bits fits there:
//! samples are within `-128..=128` (chroma of pure blue or red reaches 128), so pass 1's
//! sums are at most 8 * 128 and its outputs about 4 * 1024; pass 2's sums of two or four of
//! those stay below `2^15`, and its DC sums of eight, which can reach `2^15` exactly, are
//! formed in 32 bits. `avx2_pair_equals_the_portable_transform` checks extreme blocks.

use std::arch::x86_64::{
    __m128i, __m256i, _mm_cvtsi32_si128, _mm_loadu_si128, _mm_storeu_si128, _mm256_abs_epi16,
    _mm256_add_epi16, _mm256_add_epi32, _mm256_broadcastsi128_si256, _mm256_castsi256_si128,
    _mm256_extracti128_si256, _mm256_madd_epi16, _mm256_min_epu16, _mm256_mulhi_epu16,
    _mm256_packs_epi32, _mm256_set_m128i, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_sign_epi16,
    _mm256_slli_epi16, _mm256_sra_epi32, _mm256_srli_epi16, _mm256_sub_epi16,
    _mm256_unpackhi_epi16, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi16,
    _mm256_unpacklo_epi32, _mm256_unpacklo_epi64,
};

use super::Component;
use super::RECIP_BITS;
use super::dct::{
    C0_298, C0_390, C0_541, C0_765, C0_899, C1_175, C1_501, C1_847, C1_961, C2_053, C2_562, C3_072,
    CONST_BITS, PASS1_BITS,
};

/// Transforms and quantises the blocks at the start of `a` and `b` (each a plane and its
/// row stride) with one component's tables; outputs in the DCT's transposed natural order,
/// as [`transform`](super::dct::transform) writes them.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn transform_pair(
    (a, a_stride): (&[i16], usize),
    (b, b_stride): (&[i16], usize),
    comp: &Component,
    out: [&mut [i16; 64]; 2],
) {
    let rows: [__m256i; 8] = std::array::from_fn(|r| {
        let (ra, rb) = (&a[r * a_stride..][..8], &b[r * b_stride..][..8]);
        // SAFETY: `ra` and `rb` are eight `i16` each, the 16 bytes read.
        let (la, lb) = unsafe {
            (
                _mm_loadu_si128(ra.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(rb.as_ptr().cast::<__m128i>()),
            )
        };
        _mm256_set_m128i(lb, la)
    });
    // Pass 1 down the columns, pass 2 along the rows: `f[u]` lane `v` of each half is
    // coefficient (v, u) of its block.
    let f = pass::<true>(transpose(pass::<false>(rows)));
    let [oa, ob] = out;
    for (u, &fu) in f.iter().enumerate() {
        let q = quantise(fu, &comp.half[8 * u..][..8], &comp.recip[8 * u..][..8]);
        let (lo, hi) = (_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
        // SAFETY: each destination is eight `i16`, the 16 bytes written.
        unsafe {
            _mm_storeu_si128(oa[8 * u..][..8].as_mut_ptr().cast::<__m128i>(), lo);
            _mm_storeu_si128(ob[8 * u..][..8].as_mut_ptr().cast::<__m128i>(), hi);
        }
    }
}

/// [`quantise`](super::dct::quantise) of sixteen coefficients (eight of each block) by
/// the eight divisors whose `half` and `recip` are given: `|x| + half` (at most 2^15, so
/// unsigned 16 bits), the high half of its product with `recip`, the last shift, the clamp
/// at 1023, and `x`'s sign (0 stays 0: `half * recip >> 18` is 0). The same integers.
#[target_feature(enable = "avx2")]
#[inline]
fn quantise(x: __m256i, half: &[u16], recip: &[u16]) -> __m256i {
    // SAFETY: `half` and `recip` are eight `u16` each, the 16 bytes read.
    let (half, recip) = unsafe {
        (
            _mm256_broadcastsi128_si256(_mm_loadu_si128(half.as_ptr().cast::<__m128i>())),
            _mm256_broadcastsi128_si256(_mm_loadu_si128(recip.as_ptr().cast::<__m128i>())),
        )
    };
    let a = _mm256_add_epi16(_mm256_abs_epi16(x), half);
    let m = _mm256_srli_epi16::<{ (RECIP_BITS - 16) as i32 }>(_mm256_mulhi_epu16(a, recip));
    _mm256_sign_epi16(_mm256_min_epu16(m, _mm256_set1_epi16(1023)), x)
}

/// Two registers interleaved lane by lane as `(a, b)` pairs of `i16`, low and high halves:
/// the operand layout of `pmaddwd`.
#[derive(Clone, Copy)]
struct Pairs(__m256i, __m256i);

impl Pairs {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn of(a: __m256i, b: __m256i) -> Self {
        Self(_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b))
    }

    /// `a * ka + b * kb` per lane, in 32 bits (low lanes, high lanes).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn dot(self, ka: i32, kb: i32) -> Wide {
        let k = _mm256_set1_epi32((kb << 16) | (ka & 0xffff));
        Wide(_mm256_madd_epi16(self.0, k), _mm256_madd_epi16(self.1, k))
    }
}

/// Sixteen `i32` lanes in the order [`Pairs`] leaves them.
#[derive(Clone, Copy)]
struct Wide(__m256i, __m256i);

impl Wide {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn add(self, o: Self) -> Self {
        Self(_mm256_add_epi32(self.0, o.0), _mm256_add_epi32(self.1, o.1))
    }

    /// Divided by `2^n` rounding half up, as the portable `descale`, and narrowed back to
    /// sixteen `i16` lanes in their original order (every result fits: no saturation).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn descale(self, n: u32) -> __m256i {
        let (half, count) = (_mm256_set1_epi32(1 << (n - 1)), _mm_cvtsi32_si128(n as i32));
        let lo = _mm256_sra_epi32(_mm256_add_epi32(self.0, half), count);
        let hi = _mm256_sra_epi32(_mm256_add_epi32(self.1, half), count);
        _mm256_packs_epi32(lo, hi)
    }
}

/// One 8-point LLM DCT per lane: [`dct8`](super::dct::dct8) regrouped for `pmaddwd`.
#[target_feature(enable = "avx2")]
#[inline]
fn pass<const LAST: bool>(d: [__m256i; 8]) -> [__m256i; 8] {
    let (add, sub) = (_mm256_add_epi16, _mm256_sub_epi16);
    let down = if LAST {
        CONST_BITS + PASS1_BITS
    } else {
        CONST_BITS - PASS1_BITS
    };
    let (t0, t7) = (add(d[0], d[7]), sub(d[0], d[7]));
    let (t1, t6) = (add(d[1], d[6]), sub(d[1], d[6]));
    let (t2, t5) = (add(d[2], d[5]), sub(d[2], d[5]));
    let (t3, t4) = (add(d[3], d[4]), sub(d[3], d[4]));
    let (t10, t13) = (add(t0, t3), sub(t0, t3));
    let (t11, t12) = (add(t1, t2), sub(t1, t2));
    let (o0, o4) = if LAST {
        // Sums of eight pass-1 outputs: formed in 32 bits.
        let p = Pairs::of(t10, t11);
        (
            p.dot(1, 1).descale(PASS1_BITS),
            p.dot(1, -1).descale(PASS1_BITS),
        )
    } else {
        (
            _mm256_slli_epi16::<2>(add(t10, t11)),
            _mm256_slli_epi16::<2>(sub(t10, t11)),
        )
    };
    let even = Pairs::of(t12, t13);
    let o2 = even.dot(C0_541, C0_541 + C0_765).descale(down);
    let o6 = even.dot(C0_541 - C1_847, C0_541).descale(down);

    // z3 and z4 after the shared `z5 = (z3 + z4) * C1_175`.
    let z = Pairs::of(add(t4, t6), add(t5, t7));
    let z3 = z.dot(C1_175 - C1_961, C1_175);
    let z4 = z.dot(C1_175, C1_175 - C0_390);
    // The outer terms with `z1 = (t4 + t7) * -C0_899` and `z2 = (t5 + t6) * -C2_562` folded in.
    let (p47, p56) = (Pairs::of(t4, t7), Pairs::of(t5, t6));
    let o1 = p47.dot(-C0_899, C1_501 - C0_899).add(z4).descale(down);
    let o7 = p47.dot(C0_298 - C0_899, -C0_899).add(z3).descale(down);
    let o3 = p56.dot(-C2_562, C3_072 - C2_562).add(z3).descale(down);
    let o5 = p56.dot(C2_053 - C2_562, -C2_562).add(z4).descale(down);
    [o0, o1, o2, o3, o4, o5, o6, o7]
}

/// Transposes the 8x8 `i16` block in each 128-bit half: 16-, 32- then 64-bit interleaves,
/// which never cross the halves.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    let (lo16, hi16) = (_mm256_unpacklo_epi16, _mm256_unpackhi_epi16);
    let (lo32, hi32) = (_mm256_unpacklo_epi32, _mm256_unpackhi_epi32);
    let (lo64, hi64) = (_mm256_unpacklo_epi64, _mm256_unpackhi_epi64);
    let a = [
        lo16(r[0], r[1]),
        hi16(r[0], r[1]),
        lo16(r[2], r[3]),
        hi16(r[2], r[3]),
        lo16(r[4], r[5]),
        hi16(r[4], r[5]),
        lo16(r[6], r[7]),
        hi16(r[6], r[7]),
    ];
    let b = [
        lo32(a[0], a[2]),
        hi32(a[0], a[2]),
        lo32(a[1], a[3]),
        hi32(a[1], a[3]),
        lo32(a[4], a[6]),
        hi32(a[4], a[6]),
        lo32(a[5], a[7]),
        hi32(a[5], a[7]),
    ];
    [
        lo64(b[0], b[4]),
        hi64(b[0], b[4]),
        lo64(b[1], b[5]),
        hi64(b[1], b[5]),
        lo64(b[2], b[6]),
        hi64(b[2], b[6]),
        lo64(b[3], b[7]),
        hi64(b[3], b[7]),
    ]
}
