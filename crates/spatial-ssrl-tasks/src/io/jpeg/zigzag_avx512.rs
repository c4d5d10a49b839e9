//! The AVX-512 build's zig-zag reordering: a quantised block moved into zig-zag order by two
//! 64-lane word permutes, and its non-zero mask read by two lane tests.
//!
//! With the block in zig-zag order the Huffman coder reads each coefficient's size and bits
//! at its zig-zag position directly, instead of looking the position up first: one load
//! less on the chain from one non-zero coefficient to the next. The values coded are the
//! same, so the bytes are too (`avx512_avx2_and_baseline_agree`).

use std::arch::x86_64::{
    __m512i, _mm512_loadu_si512, _mm512_permutex2var_epi16, _mm512_storeu_si512,
    _mm512_test_epi16_mask,
};

use super::tables::ZIGZAG_T;

/// Permute indices: lane `k` of the output takes lane `ZIGZAG_T[k]` of the 64-lane block
/// (bit 5 picks the second register).
const INDEX: [[i16; 32]; 2] = {
    let mut t = [[0i16; 32]; 2];
    let mut k = 0;
    while k < 64 {
        t[k / 32][k % 32] = ZIGZAG_T[k] as i16;
        k += 1;
    }
    t
};

/// Reorders `q` (the DCT's transposed natural order) into zig-zag order in place and
/// returns its non-zero mask, bit `k` for zig-zag position `k`: the mask
/// [`zigzag_mask`](super::dct::zigzag_mask) gives for the block before reordering.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
pub(super) fn to_zigzag(q: &mut [i16; 64]) -> u64 {
    // SAFETY: every access is 32 `i16` (64 bytes) inside a 64-entry array.
    unsafe {
        let (lo, hi) = (
            _mm512_loadu_si512(q.as_ptr().cast::<__m512i>()),
            _mm512_loadu_si512(q[32..].as_ptr().cast::<__m512i>()),
        );
        let (ia, ib) = (
            _mm512_loadu_si512(INDEX[0].as_ptr().cast::<__m512i>()),
            _mm512_loadu_si512(INDEX[1].as_ptr().cast::<__m512i>()),
        );
        let a = _mm512_permutex2var_epi16(lo, ia, hi);
        let b = _mm512_permutex2var_epi16(lo, ib, hi);
        _mm512_storeu_si512(q.as_mut_ptr().cast::<__m512i>(), a);
        _mm512_storeu_si512(q[32..].as_mut_ptr().cast::<__m512i>(), b);
        u64::from(_mm512_test_epi16_mask(a, a)) | u64::from(_mm512_test_epi16_mask(b, b)) << 32
    }
}
