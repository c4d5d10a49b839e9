//! The AVX-512 build of a quarter turn's inner blocks (F/BW/VBMI): sixteen source runs of
//! sixteen pixels become sixteen output runs, as a transpose of 32-bit pixels.
//!
//! Each run's 48 bytes are loaded at once and spread to one pixel per 32-bit lane (a byte
//! permute, which also reverses the run for a counter-clockwise turn); the sixteen
//! registers are transposed (four rounds of interleaves) and each result is packed back to
//! 48 bytes and stored: about half an instruction per pixel instead of a three-byte copy.

use std::arch::x86_64::{
    __m512i, _mm512_loadu_si512, _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8,
    _mm512_maskz_permutexvar_epi8, _mm512_shuffle_i32x4, _mm512_unpackhi_epi32,
    _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64,
};

use super::PX;

/// The 48 bytes of sixteen pixels.
const RUN: u64 = (1 << (16 * PX)) - 1;

/// Byte permutes: `SPREAD[rev]` puts pixel `j` (or `15 - j`) of a run in 32-bit lane `j`
/// (its fourth byte is masked to zero), `PACK` packs sixteen such lanes back to 48 bytes.
const SPREAD: [[u8; 64]; 2] = {
    let mut t = [[0u8; 64]; 2];
    let mut j = 0;
    while j < 16 {
        let mut c = 0;
        while c < PX {
            t[0][4 * j + c] = (PX * j + c) as u8;
            t[1][4 * j + c] = (PX * (15 - j) + c) as u8;
            c += 1;
        }
        j += 1;
    }
    t
};
const PACK: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut b = 0;
    while b < 16 * PX {
        t[b] = (4 * (b / PX) + b % PX) as u8;
        b += 1;
    }
    t
};
/// Every fourth byte (a lane's spare one) cleared by the spreading permute.
const PIXEL_BYTES: u64 = 0x7777_7777_7777_7777;

/// Writes the 16x16 pixel block at `(column, row)` of the turned picture: output row
/// `first + r`, columns `column..column + 16`, takes pixel `r` (or `15 - r` when `reversed`)
/// of the source runs starting at `runs[k]` (byte offsets in `src`, one per output column
/// `column + k`). `out_row` is the output's row length in bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(super) fn block(
    src: &[u8],
    runs: &[usize; 16],
    reversed: bool,
    out: &mut [u8],
    (out_row, first, column): (usize, usize, usize),
) {
    // SAFETY: each load reads the 48 bytes of a run, which the caller keeps inside `src`;
    // each store writes 48 bytes of an output row inside `out` (checked below); the
    // tables are 64 bytes.
    unsafe {
        let spread = _mm512_loadu_si512(SPREAD[usize::from(reversed)].as_ptr().cast::<__m512i>());
        let rows: [__m512i; 16] = std::array::from_fn(|k| {
            let run = &src[runs[k]..runs[k] + 16 * PX];
            let v = _mm512_maskz_loadu_epi8(RUN, run.as_ptr().cast::<i8>());
            _mm512_maskz_permutexvar_epi8(PIXEL_BYTES, spread, v)
        });
        let cols = transpose(rows);
        let pack = _mm512_loadu_si512(PACK.as_ptr().cast::<__m512i>());
        for (r, &c) in cols.iter().enumerate() {
            let at = (first + r) * out_row + column * PX;
            let dst = &mut out[at..at + 16 * PX];
            let v = _mm512_maskz_permutexvar_epi8(u64::MAX, pack, c);
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().cast::<i8>(), RUN, v);
        }
    }
}

/// Transposes sixteen registers of sixteen 32-bit lanes: lane `k` of result `j` is lane `j`
/// of register `k`.
#[target_feature(enable = "avx512f")]
fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
    // Within each 128-bit lane: pairs of rows interleaved, then quadruples, so that `u[4q + c]`
    // holds, per lane `l`, column `4l + c` of rows `4q..4q + 4`.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (x, y) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(x, y)
        } else {
            _mm512_unpackhi_epi32(x, y)
        }
    });
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        // `t[4q..4q + 4]` are (lo, hi) of rows 4q, 4q + 1 and of rows 4q + 2, 4q + 3.
        let (q, c) = (i / 4, i % 4);
        let (x, y) = (t[4 * q + c / 2], t[4 * q + 2 + c / 2]);
        if c % 2 == 0 {
            _mm512_unpacklo_epi64(x, y)
        } else {
            _mm512_unpackhi_epi64(x, y)
        }
    });
    // Across lanes: lanes 0 and 2, or 1 and 3, of rows 0-3 with those of rows 4-7 (and
    // 8-11 with 12-15), then of those halves together.
    let v: [__m512i; 16] = std::array::from_fn(|i| {
        let (half, odd, c) = (i / 8, (i / 4) % 2, i % 4);
        let (x, y) = (u[8 * half + c], u[8 * half + 4 + c]);
        if odd == 0 {
            _mm512_shuffle_i32x4::<0x88>(x, y)
        } else {
            _mm512_shuffle_i32x4::<0xdd>(x, y)
        }
    });
    std::array::from_fn(|j| {
        // Column j takes lanes 0 and 2 (j < 8) or 1 and 3 of v[j % 8] and v[8 + j % 8].
        let (x, y) = (v[j % 8], v[8 + j % 8]);
        if j < 8 {
            _mm512_shuffle_i32x4::<0x88>(x, y)
        } else {
            _mm512_shuffle_i32x4::<0xdd>(x, y)
        }
    })
}
