//! libjpeg-turbo's accurate integer inverse DCT (`jidctint.c`, `JDCT_ISLOW`), bit for bit.

pub(super) const CONST_BITS: u32 = 13;
pub(super) const PASS1_BITS: u32 = 2;

#[inline]
pub(super) fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's `jpeg_idct_islow`: dequantise and inverse-transform one block into `out`
/// (`stride` apart), adding 128 and clamping.
pub(super) fn idct_islow(coef: &[i32; 64], q: &[u16; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 64];
    for col in 0..8 {
        let c = |r: usize| i64::from(coef[r * 8 + col]) * i64::from(q[r * 8 + col]);
        let (even, odd) = butterfly([c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)]);
        for i in 0..4 {
            ws[i * 8 + col] = descale(even[i] + odd[3 - i], CONST_BITS - PASS1_BITS);
            ws[(7 - i) * 8 + col] = descale(even[i] - odd[3 - i], CONST_BITS - PASS1_BITS);
        }
    }
    for row in 0..8 {
        let w = &ws[row * 8..row * 8 + 8];
        let (even, odd) = butterfly([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let o = &mut out[row * stride..row * stride + 8];
        for i in 0..4 {
            let n = CONST_BITS + PASS1_BITS + 3;
            o[i] = range_limit(descale(even[i] + odd[3 - i], n));
            o[7 - i] = range_limit(descale(even[i] - odd[3 - i], n));
        }
    }
}

#[inline]
pub(super) fn range_limit(x: i64) -> u8 {
    (x + 128).clamp(0, 255) as u8
}

/// Even part `[tmp10, tmp11, tmp12, tmp13]` and odd part `[tmp0, tmp1, tmp2, tmp3]` of
/// libjpeg's islow pass, so that output `i` is `even[i] + odd[3 - i]` and output `7 - i` is
/// `even[i] - odd[3 - i]`.
#[inline]
pub(super) fn butterfly(x: [i64; 8]) -> ([i64; 4], [i64; 4]) {
    const F0_298: i64 = 2446;
    const F0_390: i64 = 3196;
    const F0_541: i64 = 4433;
    const F0_765: i64 = 6270;
    const F0_899: i64 = 7373;
    const F1_175: i64 = 9633;
    const F1_501: i64 = 12299;
    const F1_847: i64 = 15137;
    const F1_961: i64 = 16069;
    const F2_053: i64 = 16819;
    const F2_562: i64 = 20995;
    const F3_072: i64 = 25172;
    let (z2, z3) = (x[2], x[6]);
    let z1 = (z2 + z3) * F0_541;
    let tmp2 = z1 - z3 * F1_847;
    let tmp3 = z1 + z2 * F0_765;
    let tmp0 = (x[0] + x[4]) << CONST_BITS;
    let tmp1 = (x[0] - x[4]) << CONST_BITS;
    let even = [tmp0 + tmp3, tmp1 + tmp2, tmp1 - tmp2, tmp0 - tmp3];
    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * F1_175;
    let (t0, t1, t2, t3) = (t0 * F0_298, t1 * F2_053, t2 * F3_072, t3 * F1_501);
    let z1 = -z1 * F0_899;
    let z2 = -z2 * F2_562;
    let z3 = -z3 * F1_961 + z5;
    let z4 = -z4 * F0_390 + z5;
    // odd[0] = tmp0 (pairs with even[3]), ..., odd[3] = tmp3 (pairs with even[0]).
    let odd = [t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4];
    (even, odd)
}
