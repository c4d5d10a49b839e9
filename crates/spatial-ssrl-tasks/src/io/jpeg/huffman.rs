//! Huffman coding of quantised blocks and the entropy-coded segment's bit writer.

use super::Component;
use super::tables::{HuffSpec, ZIGZAG_T};

/// Canonical codes of a table by symbol, each with room for the magnitude bits that follow
/// it (as many as the symbol's low four bits say): `(code << size, length + size)`, so a
/// coefficient is one OR and one write. Length 0 for absent symbols.
pub(super) struct HuffCodes(pub(super) [(u32, u32); 256]);

impl HuffCodes {
    pub(super) fn new(spec: &HuffSpec) -> Self {
        let mut codes = [(0, 0); 256];
        let (mut code, mut next) = (0u32, 0usize);
        for (len, &count) in (1..=16u32).zip(&spec.counts) {
            for &sym in &spec.symbols[next..next + usize::from(count)] {
                let size = u32::from(sym & 15);
                codes[usize::from(sym)] = (code << size, len + size);
                code += 1;
            }
            next += usize::from(count);
            code <<= 1;
        }
        Self(codes)
    }
}

/// Entropy-coded segment writer. Bits collect in a 64-bit register and leave it a whole
/// register at a time, unstuffed; [`BitWriter::finish`] then inserts the 0x00 after every
/// 0xFF byte in one pass. Keeping the stuffing out of the per-symbol path halves how often
/// the register is emptied and removes its data-dependent branch.
pub(super) struct BitWriter {
    acc: u64,
    /// Bits still free in `acc` (1..=64); the pending bits sit at its low end.
    free: u32,
    /// Full registers, oldest first: the coded stream before byte stuffing.
    words: Vec<u64>,
    /// Registers not yet moved to `words`: they join it a few kilobytes at a time.
    buf: BlockWords,
}

impl BitWriter {
    /// A writer for about `bytes` coded bytes.
    pub(super) fn new(bytes: usize) -> Self {
        Self {
            acc: 0,
            free: 64,
            words: Vec::with_capacity(bytes / 8 + 1),
            buf: BlockWords::default(),
        }
    }

    /// Huffman-codes one quantised block as baseline JPEG does: `q` in the DCT's transposed
    /// natural order, or in zig-zag order when `ZIGZAG`, and `nonzero` its non-zero mask in
    /// zig-zag order ([`zigzag_mask`](super::dct::zigzag_mask)). `AVX2` is true only in the
    /// encoder's AVX2 and AVX-512 builds, `ZIGZAG` only in the AVX-512 one.
    #[inline(always)]
    pub(super) fn block<const AVX2: bool, const ZIGZAG: bool>(
        &mut self,
        q: &[i16; 64],
        nonzero: u64,
        prev_dc: &mut i32,
        comp: &Component,
    ) {
        // The register and its fill stay in locals for the whole block; the buffer always has
        // room for one more block.
        if self.buf.len > BUF_WORDS - BLOCK_WORDS {
            self.words
                .extend_from_slice(&self.buf.words[..self.buf.len]);
            self.buf.len = 0;
        }
        let mut bits = Bits {
            acc: self.acc,
            free: self.free,
            out: &mut self.buf,
        };
        let dc = i32::from(q[0]);
        let diff = dc - *prev_dc;
        *prev_dc = dc;
        let size = magnitude_bits(diff);
        let (code, len) = comp.dc.0[size as usize];
        bits.put(u64::from(code | magnitude(diff, size)), len);

        let mut nonzero = nonzero & !1;
        let mut last = 0u32;
        // Every coefficient's magnitude bits and size at once, so the serial loop below
        // only looks codes up and writes them.
        let mut prepared = Prepared::default();
        if nonzero != 0 {
            prepared.fill::<AVX2>(q);
        }
        // `& 63` is a no-op that spares the bounds check.
        let at = |k: u32| if ZIGZAG { k as usize } else { ZIGZAG_T[k as usize] } & 63;
        // A coefficient's code and magnitude bits, with its run of zeros before it
        // (`run < 16`, `size <= 11`: the cast to a byte only spares a bounds check).
        let symbol = |run: u32, at: usize| {
            let (code, len) =
                comp.ac.0[usize::from((run << 4 | u32::from(prepared.size[at])) as u8)];
            (u64::from(code | u32::from(prepared.magnitude[at])), len)
        };
        while nonzero != 0 {
            let k = nonzero.trailing_zeros();
            nonzero &= nonzero - 1;
            let run = k - last - 1;
            let next = nonzero.trailing_zeros();
            // Two symbols without zero-run codes (the usual case) go in one write: half the
            // register checks, and the two table lookups overlap.
            if nonzero != 0 && run < 16 && next - k - 1 < 16 {
                nonzero &= nonzero - 1;
                let (a, a_len) = symbol(run, at(k));
                let (b, b_len) = symbol(next - k - 1, at(next));
                bits.put(a << b_len | b, a_len + b_len);
                last = next;
                continue;
            }
            let mut run = run;
            if run >= 16 {
                // Sixteen zeros at a time (ZRL): rare, so tested once.
                let (code, len) = comp.ac.0[0xf0];
                while run >= 16 {
                    bits.put(u64::from(code), len);
                    run -= 16;
                }
            }
            let (v, len) = symbol(run, at(k));
            bits.put(v, len);
            last = k;
        }
        if last != 63 {
            let (code, len) = comp.ac.0[0x00];
            bits.put(u64::from(code), len);
        }
        (self.acc, self.free) = (bits.acc, bits.free);
    }

    /// Bits written so far.
    pub(super) fn position(&self) -> u64 {
        (self.words.len() + self.buf.len) as u64 * 64 + u64::from(64 - self.free)
    }

    /// Appends bits `from..to` of a stream that [`BitWriter::finish`] returned: the coded
    /// MCUs of an earlier picture, reused as they are. Whole registers join the output
    /// directly, each one funnel shift of two source registers (no carried state, so the
    /// loop vectorises); the last bits go through [`Bits::put`].
    pub(super) fn copy(&mut self, stream: &[u64], from: u64, to: u64) {
        let mut pos = from;
        let n = (to - from) / 64;
        if n > 0 {
            // Buffered registers go first, so the copied ones can join `words` directly.
            self.words
                .extend_from_slice(&self.buf.words[..self.buf.len]);
            self.buf.len = 0;
            let free = self.free;
            // The first register: the pending `64 - free` bits, then the top `free` bits of
            // the source's first 64 (all 64 when nothing is pending).
            let first = read_word(stream, pos);
            self.words.push(match free {
                64 => first,
                _ => (self.acc << free) | (first >> (64 - free)),
            });
            // Register k after it holds the 64 source bits from `pos + free + 64 (k - 1)`.
            let start = pos + u64::from(free);
            let (i, off, count) = ((start / 64) as usize, (start % 64) as u32, (n - 1) as usize);
            if off == 0 {
                self.words.extend_from_slice(&stream[i..i + count]);
            } else {
                // Those bits lie in the stream, so register `i + count` exists.
                let (a, b) = (&stream[i..i + count], &stream[i + 1..i + 1 + count]);
                self.words.extend(
                    a.iter()
                        .zip(b)
                        .map(|(&x, &y)| (x << off) | (y >> (64 - off))),
                );
            }
            // The last 64 source bits are pending after (bits above the `64 - free` pending
            // ones are stale, as `Bits::put` allows).
            self.acc = read_word(stream, pos + 64 * (n - 1));
            pos += 64 * n;
        }
        if pos < to {
            if self.buf.len > BUF_WORDS - BLOCK_WORDS {
                self.words
                    .extend_from_slice(&self.buf.words[..self.buf.len]);
                self.buf.len = 0;
            }
            let mut bits = Bits {
                acc: self.acc,
                free: self.free,
                out: &mut self.buf,
            };
            while pos < to {
                let n = (to - pos).min(32) as u32;
                bits.put(u64::from(read_bits(stream, pos, n)), n);
                pos += u64::from(n);
            }
            (self.acc, self.free) = (bits.acc, bits.free);
        }
    }

    /// Pads the last byte with 1 bits and appends the stuffed segment to `out`. Returns the
    /// unpadded stream, the pending bits at the top of its last word, for [`BitWriter::copy`].
    pub(super) fn finish(mut self, out: &mut Vec<u8>) -> Vec<u64> {
        self.words
            .extend_from_slice(&self.buf.words[..self.buf.len]);
        let pending = 64 - self.free;
        let pad = (8 - pending % 8) % 8;
        let acc = (self.acc << pad) | ((1 << pad) - 1);
        // The padded pending bits, at most 64, moved to the top of the register.
        let tail_bytes = (pending + pad) / 8;
        let tail = acc
            .checked_shl(64 - 8 * tail_bytes)
            .unwrap_or(0)
            .to_be_bytes();
        out.reserve(self.words.len() * 8 + 16);
        // Four registers (32 bytes) at a time: most such runs hold no 0xFF byte and leave in
        // one append.
        let quads = self.words.chunks_exact(4);
        let rest = quads.remainder();
        for quad in quads {
            if quad.iter().any(|&w| has_ff(w)) {
                quad.iter().for_each(|&w| stuff_word(out, w));
            } else {
                let mut bytes = [0u8; 32];
                for (b, &w) in bytes.chunks_exact_mut(8).zip(quad) {
                    b.copy_from_slice(&w.to_be_bytes());
                }
                out.extend_from_slice(&bytes);
            }
        }
        rest.iter().for_each(|&w| stuff_word(out, w));
        for &b in &tail[..tail_bytes as usize] {
            out.push(b);
            if b == 0xff {
                out.push(0);
            }
        }
        if pending > 0 {
            self.words.push(self.acc << self.free);
        }
        self.words
    }
}

impl BitWriter {
    /// The bits written, unpadded and unstuffed, as [`BitWriter::finish`] returns them: a
    /// stream for [`BitWriter::copy`] that is never written out.
    pub(super) fn into_stream(mut self) -> Vec<u64> {
        self.words
            .extend_from_slice(&self.buf.words[..self.buf.len]);
        if self.free < 64 {
            self.words.push(self.acc << self.free);
        }
        self.words
    }
}

/// The `n` bits (`1..=32`) of `stream` from bit `pos` on, most significant first.
#[inline(always)]
fn read_bits(stream: &[u64], pos: u64, n: u32) -> u32 {
    let (i, off) = ((pos / 64) as usize, (pos % 64) as u32);
    let mut window = stream[i] << off;
    if off + n > 64 {
        window |= stream[i + 1] >> (64 - off);
    }
    (window >> (64 - n)) as u32
}

/// The 64 bits of `stream` from bit `pos` on (which must all lie in it).
#[inline(always)]
fn read_word(stream: &[u64], pos: u64) -> u64 {
    let (i, off) = ((pos / 64) as usize, (pos % 64) as u32);
    match off {
        0 => stream[i],
        _ => (stream[i] << off) | (stream[i + 1] >> (64 - off)),
    }
}

/// Whether a byte of `w` is 0xFF: those are the zero bytes of `!w` (the classic
/// has-zero-byte test, exact).
#[inline(always)]
fn has_ff(w: u64) -> bool {
    (!w).wrapping_sub(0x0101_0101_0101_0101) & w & 0x8080_8080_8080_8080 != 0
}

/// Appends the eight bytes of `w`, most significant first, each 0xFF followed by 0x00.
#[inline(always)]
fn stuff_word(out: &mut Vec<u8>, w: u64) {
    if !has_ff(w) {
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        for b in w.to_be_bytes() {
            out.push(b);
            if b == 0xff {
                out.push(0);
            }
        }
    }
}

/// Registers one block can fill: at most 64 symbols of at most 27 bits each and up to three
/// zero-run codes of 11 bits, under 1,800 bits, so 28 registers; with room to spare.
const BLOCK_WORDS: usize = 32;
/// Size of the register buffer.
const BUF_WORDS: usize = 32 * BLOCK_WORDS;
const _: () = assert!(
    BUF_WORDS.is_power_of_two(),
    "`Bits::put` masks indices with it"
);

/// Full registers on their way to the output.
struct BlockWords {
    words: [u64; BUF_WORDS],
    len: usize,
}

impl Default for BlockWords {
    fn default() -> Self {
        Self {
            words: [0; BUF_WORDS],
            len: 0,
        }
    }
}

/// The bit register of one block, held in locals.
struct Bits<'a> {
    acc: u64,
    free: u32,
    out: &'a mut BlockWords,
}

impl Bits<'_> {
    /// Appends the low `len` bits of `bits` (`len <= 63`, nothing above them); a full
    /// register moves to `out` and keeps the bits that did not fit.
    #[inline(always)]
    fn put(&mut self, bits: u64, len: u32) {
        if len < self.free {
            self.acc = (self.acc << len) | bits;
            self.free -= len;
        } else {
            // Here `1 <= free <= len <= 63`, so neither shift reaches 64. Bits of `acc` above
            // the pending ones are stale; they are shifted out before the register is full
            // again.
            let rest = len - self.free;
            let word = (self.acc << self.free) | (bits >> rest);
            // The mask keeps the index in bounds without a check; `block` and `copy` leave
            // room, so it never wraps.
            self.out.words[self.out.len & (BUF_WORDS - 1)] = word;
            self.out.len += 1;
            self.acc = bits;
            self.free = 64 - rest;
        }
    }
}

/// A quantised block's AC symbols apart from their run lengths: per coefficient (in the
/// block's layout) its magnitude bits and its size category. Coefficients are at most 1023
/// in magnitude (`quantise` clamps them), so both fit in 16 bits.
pub(super) struct Prepared {
    pub(super) magnitude: [u16; 64],
    pub(super) size: [u16; 64],
}

impl Default for Prepared {
    fn default() -> Self {
        Self {
            magnitude: [0; 64],
            size: [0; 64],
        }
    }
}

impl Prepared {
    #[inline(always)]
    pub(super) fn fill<const AVX2: bool>(&mut self, q: &[i16; 64]) {
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: `AVX2` is only true in `encode_avx2`, which runs on CPUs with AVX2.
            return unsafe { self.fill_avx2(q) };
        }
        for ((m, s), &v) in self.magnitude.iter_mut().zip(&mut self.size).zip(q) {
            let v = i32::from(v);
            *s = magnitude_bits(v) as u16;
            *m = magnitude(v, u32::from(*s)) as u16;
        }
    }

    /// [`Prepared::fill`] sixteen coefficients at a time: the size is the popcount of
    /// `|v|` with every bit below its highest set (`2^size - 1`), and a negative value's
    /// bits are that mask XOR `|v|`, the low bits of `v - 1`. Same values as the scalar form.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn fill_avx2(&mut self, q: &[i16; 64]) {
        use std::arch::x86_64::{
            __m256i, _mm256_abs_epi16, _mm256_add_epi8, _mm256_and_si256, _mm256_loadu_si256,
            _mm256_maddubs_epi16, _mm256_or_si256, _mm256_set1_epi8, _mm256_setr_epi8,
            _mm256_shuffle_epi8, _mm256_srai_epi16, _mm256_srli_epi16, _mm256_storeu_si256,
            _mm256_xor_si256,
        };
        let bits_in = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let (nibble, ones) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(1));
        for c in 0..4 {
            // SAFETY: each access is sixteen `i16` or `u16` inside a 64-entry array.
            let v = unsafe { _mm256_loadu_si256(q[16 * c..].as_ptr().cast::<__m256i>()) };
            let a = _mm256_abs_epi16(v);
            let mut mask = _mm256_or_si256(a, _mm256_srli_epi16::<1>(a));
            mask = _mm256_or_si256(mask, _mm256_srli_epi16::<2>(mask));
            mask = _mm256_or_si256(mask, _mm256_srli_epi16::<4>(mask));
            mask = _mm256_or_si256(mask, _mm256_srli_epi16::<8>(mask));
            let negative = _mm256_srai_epi16::<15>(v);
            let magnitude = _mm256_xor_si256(a, _mm256_and_si256(mask, negative));
            let low = _mm256_shuffle_epi8(bits_in, _mm256_and_si256(mask, nibble));
            let high = _mm256_shuffle_epi8(
                bits_in,
                _mm256_and_si256(_mm256_srli_epi16::<4>(mask), nibble),
            );
            // Per byte the two nibbles' counts, then the two bytes of each lane summed.
            let size = _mm256_maddubs_epi16(_mm256_add_epi8(low, high), ones);
            // SAFETY: as for the load.
            unsafe {
                _mm256_storeu_si256(
                    self.magnitude[16 * c..].as_mut_ptr().cast::<__m256i>(),
                    magnitude,
                );
                _mm256_storeu_si256(self.size[16 * c..].as_mut_ptr().cast::<__m256i>(), size);
            }
        }
    }
}

/// The `size` magnitude bits of `v` (negative values as `v - 1`, as JPEG stores them).
#[inline(always)]
fn magnitude(v: i32, size: u32) -> u32 {
    (v - i32::from(v < 0)) as u32 & ((1 << size) - 1)
}

/// Bits needed for |v| (the JPEG size category).
#[inline(always)]
fn magnitude_bits(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stuffing pass (four registers at a time where none holds 0xFF) writes what a
    /// byte-by-byte pass writes: 0xFF at every position of a register, in a group of four and
    /// in the registers left over.
    #[test]
    fn stuffing_equals_a_byte_by_byte_pass() {
        let words: Vec<u64> = (0..23u64)
            .map(|i| match i % 5 {
                0 => 0x0123_4567_89ab_cdef,
                1 => 0xff00_0000_0000_0000 >> (8 * (i % 8)),
                2 => u64::MAX,
                3 => 0x00ff_00ff_1234_56fe,
                _ => i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            })
            .collect();
        for n in [0, 1, 3, 4, 5, 8, 11, 23] {
            let mut bits = BitWriter::new(0);
            bits.copy(&words, 0, 64 * n as u64);
            let mut out = Vec::new();
            bits.finish(&mut out);
            let mut want = Vec::new();
            for b in words[..n].iter().flat_map(|w| w.to_be_bytes()) {
                want.push(b);
                if b == 0xff {
                    want.push(0);
                }
            }
            assert_eq!(out, want, "{n} registers");
        }
    }

    /// Block coding (single symbols, the two-symbol writes, runs of sixteen zeros and more, the
    /// end-of-block code or none when position 63 is set) gives the bits of a direct,
    /// coefficient-by-coefficient coder, in the baseline build and, where the CPU has it, in
    /// the AVX-512 build's zig-zag order.
    #[test]
    fn block_coding_equals_a_direct_coder() {
        use super::super::dct::zigzag_mask;
        use super::super::tables::{LUMA_AC, LUMA_DC, LUMA_QUANT};
        use super::super::{Component, scaled_table};
        let comp = Component::new(&scaled_table(&LUMA_QUANT, 90), &LUMA_DC, &LUMA_AC);
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        // Blocks in the DCT's layout: mostly zeros, with long runs, extremes and full blocks.
        let mut blocks = vec![[0i16; 64], [1023; 64], [-1023; 64]];
        let mut last_only = [0i16; 64];
        last_only[ZIGZAG_T[63]] = -1;
        blocks.push(last_only);
        for i in 0..400 {
            let density = [2, 5, 12, 30, 64][i % 5];
            let mut q = [0i16; 64];
            for v in q.iter_mut() {
                if next() % 64 < density {
                    *v = ((next() % 2047) as i16) - 1023;
                }
            }
            blocks.push(q);
        }
        let direct = |q: &[i16; 64], prev: &mut i32, bits: &mut Vec<bool>| {
            let mut emit =
                |(v, len): (u32, u32)| bits.extend((0..len).rev().map(|b| v >> b & 1 == 1));
            let size = |v: i32| 32 - v.unsigned_abs().leading_zeros();
            let magnitude = |v: i32, n: u32| (v - i32::from(v < 0)) as u32 & ((1 << n) - 1);
            let diff = i32::from(q[0]) - *prev;
            *prev = i32::from(q[0]);
            let (code, len) = comp.dc.0[size(diff) as usize];
            emit((code | magnitude(diff, size(diff)), len));
            let mut run = 0;
            for &t in &ZIGZAG_T[1..] {
                let v = i32::from(q[t]);
                if v == 0 {
                    run += 1;
                    continue;
                }
                while run >= 16 {
                    emit(comp.ac.0[0xf0]);
                    run -= 16;
                }
                let (code, len) = comp.ac.0[(run << 4 | size(v)) as usize];
                emit((code | magnitude(v, size(v)), len));
                run = 0;
            }
            if run > 0 {
                emit(comp.ac.0[0]);
            }
        };
        let stream_bits = |w: BitWriter| {
            let n = w.position() as usize;
            let stream = w.into_stream();
            (0..n)
                .map(|p| (stream[p / 64] >> (63 - p % 64)) & 1 == 1)
                .collect::<Vec<_>>()
        };
        let (mut want, mut prev) = (Vec::new(), 0);
        let (mut base, mut base_prev) = (BitWriter::new(0), 0);
        for q in &blocks {
            direct(q, &mut prev, &mut want);
            base.block::<false, false>(q, zigzag_mask::<false>(q), &mut base_prev, &comp);
        }
        assert_eq!(stream_bits(base), want);
        #[cfg(target_arch = "x86_64")]
        if super::super::has_avx512() {
            let (mut fast, mut fast_prev) = (BitWriter::new(0), 0);
            for q in &blocks {
                let mut z = *q;
                // SAFETY: the CPU has AVX-512F/BW (checked above).
                let mask = unsafe { super::super::zigzag_avx512::to_zigzag(&mut z) };
                fast.block::<true, true>(&z, mask, &mut fast_prev, &comp);
            }
            assert_eq!(stream_bits(fast), want);
        }
    }
}
