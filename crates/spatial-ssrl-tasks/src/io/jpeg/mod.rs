//! Baseline JPEG encoder for the exported sample images: 8-bit YCbCr, 4:2:0 chroma, the
//! standard (ITU T.81 Annex K) quantisation tables scaled by quality as libjpeg does, and
//! its standard Huffman tables (one pass, no table optimisation).
//!
//! Integers only (colour conversion, the Loeffler-Ligtenberg-Moschytz DCT, quantisation by
//! reciprocal), so the output is a pure function of the pixels: the same bytes on every CPU
//! and thread count. The inner loops are written over fixed-size arrays so the compiler
//! vectorises them; on x86-64 the same code is also compiled for AVX2 and picked at run
//! time, with explicit AVX2 for the colour conversion, the DCT (two blocks at a time in
//! 16-bit lanes, `dct_avx2`) and the Huffman coder's per-coefficient sizes: that changes the
//! instructions, not the integer results (`avx2_and_baseline_agree`).
//!
//! The parts: `colour` (RGB to level-shifted Y/Cb/Cr, chroma subsampled; areas of one
//! colour), `dct` and `dct_avx2` (transform, quantisation, zig-zag mask), `huffman` (coding
//! and the bit writer), `tables` (Annex K), and `reuse`: MCUs whose pixels and DC
//! predictions match this thread's previous encode of the same size are copied from it, bit
//! for bit, which is what a fresh encode would write (`reuse_changes_no_byte`).

mod colour;
mod dct;
#[cfg(target_arch = "x86_64")]
mod dct_avx2;
mod huffman;
mod reuse;
mod tables;
#[cfg(target_arch = "x86_64")]
mod zigzag_avx512;

use colour::Strip;
use dct::{transform_mcu, zigzag_mask};
use huffman::{BitWriter, HuffCodes};
use tables::{CHROMA_AC, CHROMA_DC, CHROMA_QUANT, HuffSpec, LUMA_AC, LUMA_DC, LUMA_QUANT, ZIGZAG};

/// Largest width or height a baseline JPEG frame header can hold.
pub(crate) const MAX_SIDE: u32 = 65_535;

/// One component's tables: quantiser reciprocals in the DCT's output layout, Huffman codes.
struct Component {
    /// Half the divisor per coefficient (for rounding), transposed natural order.
    half: [u16; 64],
    /// `2^RECIP_BITS / divisor`, rounded up, in the same order (at most `2^15`: divisors
    /// are at least 8).
    recip: [u16; 64],
    dc: HuffCodes,
    ac: HuffCodes,
}

/// Fixed-point shift of the quantisation reciprocals.
const RECIP_BITS: u32 = 18;

impl Component {
    fn new(table: &[u16; 64], dc: &HuffSpec, ac: &HuffSpec) -> Self {
        let (mut half, mut recip) = ([0; 64], [0; 64]);
        for (n, &q) in table.iter().enumerate() {
            // The DCT below leaves every coefficient scaled by 8.
            let d = 8 * u32::from(q);
            let t = (n % 8) * 8 + n / 8;
            (half[t], recip[t]) = ((d / 2) as u16, (1u32 << RECIP_BITS).div_ceil(d) as u16);
        }
        Self {
            half,
            recip,
            dc: HuffCodes::new(dc),
            ac: HuffCodes::new(ac),
        }
    }
}

/// libjpeg's quality scaling of a quality-50 table, entries clamped to 1..=255.
fn scaled_table(base: &[u16; 64], quality: u8) -> [u16; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|b| ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// Encodes packed RGB8 pixels (`width * height * 3` bytes) as a baseline JPEG.
///
/// The caller checks the sizes: both sides in `1..=MAX_SIDE` and `rgb` exactly that long.
pub(crate) fn encode_rgb(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has just been checked for every feature `encode_avx512` enables.
        return unsafe { encode_avx512(rgb, width, height, quality) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has just been checked for every feature `encode_avx2` enables.
        return unsafe { encode_avx2(rgb, width, height, quality) };
    }
    encode_portable(rgb, width, height, quality)
}

/// Whether the CPU runs [`encode_avx512`]: [`has_avx2`]'s features plus AVX-512F/BW for
/// the zig-zag permutes.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has_avx2() && has!("avx512f") && has!("avx512bw")
}

/// Whether the CPU runs [`encode_avx2`]: AVX2 for the transform, and the bit-manipulation
/// sets (BMI1/BMI2/LZCNT) for the Huffman coder's shifts and counts. Every CPU with AVX2
/// that x86-64 compilers target has them too; the check keeps that an observation.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx2") && has!("bmi1") && has!("bmi2") && has!("lzcnt")
}

/// The encoder compiled for the baseline target (SSE2 on x86-64).
fn encode_portable(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    encode_body::<false, false>(rgb, width, height, quality)
}

/// The same encoder compiled with AVX2 and BMI1/BMI2/LZCNT instructions available (BMI2's
/// flag-free shifts and LZCNT shorten the Huffman coder's chain of variable shifts).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
fn encode_avx2(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    encode_body::<true, false>(rgb, width, height, quality)
}

/// The AVX2 build plus AVX-512F/BW, with which each quantised block is put in zig-zag
/// order before it is coded (`zigzag_avx512`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,avx512f,avx512bw")]
fn encode_avx512(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    encode_body::<true, true>(rgb, width, height, quality)
}

/// The encoder; `AVX2` is true only inside [`encode_avx2`] and [`encode_avx512`], where
/// the CPU has AVX2, and `ZIGZAG` only inside [`encode_avx512`].
#[inline(always)]
fn encode_body<const AVX2: bool, const ZIGZAG: bool>(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Vec<u8> {
    debug_assert_eq!(rgb.len(), width as usize * height as usize * 3);
    let luma_table = scaled_table(&LUMA_QUANT, quality);
    let chroma_table = scaled_table(&CHROMA_QUANT, quality);
    let luma = Component::new(&luma_table, &LUMA_DC, &LUMA_AC);
    let chroma = Component::new(&chroma_table, &CHROMA_DC, &CHROMA_AC);

    // About the compressed size of a photo at quality 90, to skip most reallocation.
    let coded = rgb.len() / 6;
    let mut out = Vec::with_capacity(coded + 1024);
    write_headers(&mut out, width, height, &luma_table, &chroma_table);

    let (w, h) = (width as usize, height as usize);
    let stride = w.div_ceil(16) * 16;
    let mut strip = Strip {
        y: vec![0; 16 * stride],
        cb: vec![0; 8 * stride / 2],
        cr: vec![0; 8 * stride / 2],
        stride,
    };
    let mut bits = BitWriter::new(coded);
    let mut dc = [0i32; 3];
    let mut q = [[0i16; 64]; 6];
    // What this thread last encoded at this size: unchanged MCUs are copied from it.
    let record = reuse::take((width, height, quality));
    let (mut old, spare) = if record.rest == 0 && record.is_complete() {
        (Some(record), None)
    } else {
        (None, Some(record))
    };
    let compared = old.is_some();
    let mut reused = 0;
    let per_row = stride / 16;
    let mut mcus = Vec::with_capacity(per_row * h.div_ceil(16));
    // Bits of the record's MCUs that this picture paints in one colour, kept for the next.
    let mut held = BitWriter::new(0);
    let (mut same, mut hold) = (vec![false; per_row], vec![false; per_row]);
    let mut run = reuse::Run::default();
    for (row, y0) in (0..h).step_by(16).enumerate() {
        if let Some(old) = &old {
            reuse::unchanged_mcus(rgb, &old.rgb, (w, h), y0, &mut same);
        }
        hold.fill(false);
        // Pixels are converted on demand, a run of changed MCUs at a time.
        let mut converted = 0;
        for m in 0..per_row {
            // The next MCU row's pixels start loading while this row is coded.
            colour::prefetch_mcu(rgb, w, y0 + 16, m);
            let i = row * per_row + m;
            let start = dc;
            let from = bits.position() + run.len();
            let kept = old.as_ref().map(|o| (o, o.mcus[i]));
            match kept {
                Some((o, c)) if same[m] && c.start == dc => {
                    run.extend(&c, o, &mut bits);
                    dc = c.after;
                    reused += 1;
                }
                _ => {
                    if let Some((o, _)) = kept {
                        run.flush(o, &mut bits);
                    }
                    if let Some(px) = colour::flat_mcu(rgb, (w, h), y0, 16 * m) {
                        // One colour (a blacked-out or masked region): each block is its DC
                        // alone.
                        let (y, cb, cr) = colour::ycbcr(px);
                        for (v, c) in [y, y, y, y, cb, cr].into_iter().zip([0, 0, 0, 0, 1, 2]) {
                            let comp = if c == 0 { &luma } else { &chroma };
                            let dc_only = dct::flat_block(v, comp);
                            bits.block::<AVX2, ZIGZAG>(&dc_only, 1, &mut dc[c], comp);
                        }
                        // The record keeps what was under the colour.
                        if let Some((o, c)) = kept.filter(|_| !same[m]) {
                            let at = held.position();
                            held.copy(o.bits_of(c.in_held), c.from, c.to);
                            let to = held.position();
                            mcus.push(reuse::Coded {
                                from: at,
                                to,
                                in_held: true,
                                ..c
                            });
                            hold[m] = true;
                            continue;
                        }
                    } else {
                        if m >= converted {
                            converted = (m + 1..per_row).find(|&j| same[j]).unwrap_or(per_row);
                            strip.fill::<AVX2>(rgb, (w, h), y0, 16 * m, 16 * converted);
                        }
                        // One MCU: four luma blocks, then Cb and Cr. A single call site keeps
                        // one copy of the inlined coder.
                        transform_mcu::<AVX2>(&strip, 16 * m, (&luma, &chroma), &mut q);
                        for (block, c) in q.iter_mut().zip([0, 0, 0, 0, 1, 2]) {
                            let comp = if c == 0 { &luma } else { &chroma };
                            let nonzero = zigzag::<AVX2, ZIGZAG>(block);
                            bits.block::<AVX2, ZIGZAG>(block, nonzero, &mut dc[c], comp);
                        }
                    }
                }
            }
            mcus.push(reuse::Coded {
                from,
                to: bits.position() + run.len(),
                start,
                after: dc,
                in_held: false,
            });
        }
        if let Some(old) = &mut old {
            run.flush(old, &mut bits);
            reuse::update_row(rgb, &mut old.rgb, (w, h), y0, &same, &hold);
        }
    }
    let stream = bits.finish(&mut out);
    out.extend_from_slice(&[0xff, 0xd9]);
    let mut record = old
        .or(spare)
        .unwrap_or_else(|| reuse::Previous::empty((width, height, quality)));
    record.settle(compared, reused, mcus.len(), rgb);
    (record.stream, record.held, record.mcus) = (stream, held.into_stream(), mcus);
    reuse::keep(record);
    out
}

/// The non-zero mask of a quantised block, bit `k` for zig-zag position `k`; when
/// `ZIGZAG` (the AVX-512 build) the block is also moved into zig-zag order.
#[inline(always)]
fn zigzag<const AVX2: bool, const ZIGZAG: bool>(block: &mut [i16; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if ZIGZAG {
        // SAFETY: `ZIGZAG` is only true in `encode_avx512`, which runs on CPUs with AVX-512F/BW.
        return unsafe { zigzag_avx512::to_zigzag(block) };
    }
    zigzag_mask::<AVX2>(block)
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(body);
}

fn write_headers(out: &mut Vec<u8>, width: u32, height: u32, luma: &[u16; 64], chroma: &[u16; 64]) {
    out.extend_from_slice(&[0xff, 0xd8]);
    // JFIF 1.01, no units, 1:1 pixel aspect, no thumbnail.
    segment(out, 0xe0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    let mut dqt = Vec::with_capacity(130);
    for (id, table) in [luma, chroma].into_iter().enumerate() {
        dqt.push(id as u8);
        dqt.extend(ZIGZAG.iter().map(|&n| table[n] as u8));
    }
    segment(out, 0xdb, &dqt);
    let (w, h) = ((width as u16).to_be_bytes(), (height as u16).to_be_bytes());
    // 8-bit samples; Y sampled 2x2 with table 0, Cb and Cr 1x1 with table 1.
    let sof = [
        8, h[0], h[1], w[0], w[1], 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
    ];
    segment(out, 0xc0, &sof);
    let mut dht = Vec::with_capacity(420);
    for (class_id, spec) in [
        (0x00, &LUMA_DC),
        (0x10, &LUMA_AC),
        (0x01, &CHROMA_DC),
        (0x11, &CHROMA_AC),
    ] {
        dht.push(class_id);
        dht.extend_from_slice(&spec.counts);
        dht.extend_from_slice(spec.symbols);
    }
    segment(out, 0xc4, &dht);
    // Three components (Y: tables 0/0, Cb and Cr: 1/1), full spectral range, no approximation.
    segment(out, 0xda, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

#[cfg(test)]
mod tests;
