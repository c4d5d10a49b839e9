//! Baseline JPEG encoder for the exported sample images: 8-bit YCbCr, 4:2:0 chroma, the
//! standard (ITU T.81 Annex K) quantisation tables scaled by quality as libjpeg does, and
//! its standard Huffman tables (one pass, no table optimisation).
//!
//! Integers only (colour conversion, the Loeffler-Ligtenberg-Moschytz DCT, quantisation by
//! reciprocal), so the output is a pure function of the pixels: the same bytes on every CPU
//! and thread count. The inner loops are written over fixed-size arrays so the compiler
//! vectorises them; on x86-64 the same code is also compiled for AVX2 and picked at run time,
//! which changes the instructions, not the integer results (`avx2_and_baseline_agree`).

/// Largest width or height a baseline JPEG frame header can hold.
pub(crate) const MAX_SIDE: u32 = 65_535;

/// Natural (row-major) index of each zig-zag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Index into the DCT's transposed output (`f[u][v]` = coefficient (v, u)) of each zig-zag
/// position.
const ZIGZAG_T: [usize; 64] = {
    let mut t = [0; 64];
    let mut k = 0;
    while k < 64 {
        t[k] = (ZIGZAG[k] % 8) * 8 + ZIGZAG[k] / 8;
        k += 1;
    }
    t
};

/// Annex K.1 luminance quantisation table, natural order, for quality 50.
const LUMA_QUANT: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// Annex K.1 chrominance quantisation table, natural order, for quality 50.
const CHROMA_QUANT: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// A Huffman table as a DHT segment holds it: code counts per length 1..=16, then symbols.
struct HuffSpec {
    counts: [u8; 16],
    symbols: &'static [u8],
}

/// The twelve DC categories, in order (both Annex K.3 DC tables list them so).
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

const LUMA_DC: HuffSpec = HuffSpec {
    counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    symbols: &DC_SYMBOLS,
};

const CHROMA_DC: HuffSpec = HuffSpec {
    counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    symbols: &DC_SYMBOLS,
};

const LUMA_AC: HuffSpec = HuffSpec {
    counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125],
    symbols: &[
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
        0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
        0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3,
        0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
        0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

const CHROMA_AC: HuffSpec = HuffSpec {
    counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119],
    symbols: &[
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
        0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18,
        0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
        0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
        0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
        0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

/// Canonical codes of a table by symbol: `(code, length)`, length 0 for absent symbols.
struct HuffCodes([(u32, u32); 256]);

impl HuffCodes {
    fn new(spec: &HuffSpec) -> Self {
        let mut codes = [(0, 0); 256];
        let (mut code, mut next) = (0u32, 0usize);
        for (len, &count) in (1..=16u32).zip(&spec.counts) {
            for &sym in &spec.symbols[next..next + usize::from(count)] {
                codes[usize::from(sym)] = (code, len);
                code += 1;
            }
            next += usize::from(count);
            code <<= 1;
        }
        Self(codes)
    }
}

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
    if has_avx2() {
        // SAFETY: the CPU has just been checked for every feature `encode_avx2` enables.
        return unsafe { encode_avx2(rgb, width, height, quality) };
    }
    encode_portable(rgb, width, height, quality)
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
    encode_body::<false>(rgb, width, height, quality)
}

/// The same encoder compiled with AVX2 and BMI1/BMI2/LZCNT instructions available (BMI2's
/// flag-free shifts and LZCNT shorten the Huffman coder's chain of variable shifts).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
fn encode_avx2(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    encode_body::<true>(rgb, width, height, quality)
}

/// The encoder; `AVX2` is true only inside [`encode_avx2`], where the CPU has AVX2.
#[inline(always)]
fn encode_body<const AVX2: bool>(rgb: &[u8], width: u32, height: u32, quality: u8) -> Vec<u8> {
    debug_assert_eq!(rgb.len(), width as usize * height as usize * 3);
    let luma_table = scaled_table(&LUMA_QUANT, quality);
    let chroma_table = scaled_table(&CHROMA_QUANT, quality);
    let luma = Component::new(&luma_table, &LUMA_DC, &LUMA_AC);
    let chroma = Component::new(&chroma_table, &CHROMA_DC, &CHROMA_AC);

    // About the compressed size of a photo at quality 90, to skip most reallocation.
    let mut out = Vec::with_capacity(rgb.len() / 6 + 1024);
    write_headers(&mut out, width, height, &luma_table, &chroma_table);

    let (w, h) = (width as usize, height as usize);
    let stride = w.div_ceil(16) * 16;
    let mut strip = Strip {
        y: vec![0; 16 * stride],
        cb: vec![0; 8 * stride / 2],
        cr: vec![0; 8 * stride / 2],
        stride,
    };
    let mut bits = BitWriter::new(out);
    let mut dc = [0i32; 3];
    let mut q = [0i16; 64];
    for y0 in (0..h).step_by(16) {
        strip.fill(rgb, w, h, y0);
        let half = stride / 2;
        for x in (0..stride).step_by(16) {
            // One MCU: four luma blocks, then Cb and Cr. A single call site keeps one copy
            // of the inlined transform and coder.
            let mcu: [(&[i16], usize, usize); 6] = [
                (&strip.y[x..], stride, 0),
                (&strip.y[x + 8..], stride, 0),
                (&strip.y[8 * stride + x..], stride, 0),
                (&strip.y[8 * stride + x + 8..], stride, 0),
                (&strip.cb[x / 2..], half, 1),
                (&strip.cr[x / 2..], half, 2),
            ];
            for (plane, plane_stride, c) in mcu {
                let comp = if c == 0 { &luma } else { &chroma };
                transform::<AVX2>(plane, plane_stride, comp, &mut q);
                bits.block(&q, zigzag_mask::<AVX2>(&q), &mut dc[c], comp);
            }
        }
    }
    let mut out = bits.finish();
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// One row of MCUs (16 pixel rows) as level-shifted planes; chroma at half size each way.
/// Rows and columns past the image repeat its last row and column, as libjpeg pads.
struct Strip {
    y: Vec<i16>,
    cb: Vec<i16>,
    cr: Vec<i16>,
    stride: usize,
}

impl Strip {
    #[inline(always)]
    fn fill(&mut self, rgb: &[u8], w: usize, h: usize, y0: usize) {
        let row = |y: usize| &rgb[y.min(h - 1) * w * 3..][..w * 3];
        for (r, dst) in self.y.chunks_exact_mut(self.stride).enumerate() {
            for (d, p) in dst[..w].iter_mut().zip(row(y0 + r).chunks_exact(3)) {
                let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
                // BT.601 weights in 16-bit fixed point; they sum to exactly 65536.
                *d = (((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128) as i16;
            }
            let last = dst[w - 1];
            dst[w..].fill(last);
        }
        let half = self.stride / 2;
        let (cw, pairs) = (w.div_ceil(2), w / 2);
        let rows = self
            .cb
            .chunks_exact_mut(half)
            .zip(self.cr.chunks_exact_mut(half));
        for (r, (cb, cr)) in rows.enumerate() {
            let (a, b) = (row(y0 + 2 * r), row(y0 + 2 * r + 1));
            let quads = a.chunks_exact(6).zip(b.chunks_exact(6));
            for ((cb, cr), (a, b)) in cb.iter_mut().zip(cr.iter_mut()).zip(quads) {
                let s = |c: usize| {
                    i32::from(a[c]) + i32::from(a[c + 3]) + i32::from(b[c]) + i32::from(b[c + 3])
                };
                (*cb, *cr) = chroma(s(0), s(1), s(2));
            }
            if cw > pairs {
                // Odd width: the last column pairs with itself.
                let s = |c: usize| 2 * (i32::from(a[3 * w - 3 + c]) + i32::from(b[3 * w - 3 + c]));
                (cb[pairs], cr[pairs]) = chroma(s(0), s(1), s(2));
            }
            let (lb, lr) = (cb[cw - 1], cr[cw - 1]);
            cb[cw..].fill(lb);
            cr[cw..].fill(lr);
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

/// 13-bit fixed-point constants of the LLM DCT.
const C0_298: i32 = 2446;
const C0_390: i32 = 3196;
const C0_541: i32 = 4433;
const C0_765: i32 = 6270;
const C0_899: i32 = 7373;
const C1_175: i32 = 9633;
const C1_501: i32 = 12299;
const C1_847: i32 = 15137;
const C1_961: i32 = 16069;
const C2_053: i32 = 16819;
const C2_562: i32 = 20995;
const C3_072: i32 = 25172;
const CONST_BITS: u32 = 13;
/// Extra precision kept between the two passes.
const PASS1_BITS: u32 = 2;

/// Eight `i32` lanes: the DCT runs on eight columns (then eight rows) at once, and each
/// operation is a plain loop over the lanes, which compiles to one vector instruction.
#[derive(Clone, Copy)]
struct Lanes([i32; 8]);

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

    /// Divides by `2^n`, rounding half up.
    #[inline(always)]
    fn descale(self, n: u32) -> Self {
        Self(self.0.map(|a| (a + (1 << (n - 1))) >> n))
    }
}

/// One 8-point DCT (LLM) per lane. Pass 1 (`last == false`) keeps `PASS1_BITS` of extra
/// precision; pass 2 removes it and leaves the coefficients scaled by 8.
#[inline(always)]
fn dct8(d: [Lanes; 8], last: bool) -> [Lanes; 8] {
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
fn transpose(m: [Lanes; 8]) -> [Lanes; 8] {
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

/// [`transpose`] in eight AVX2 shuffles per stage: 32-bit and 64-bit interleaves within
/// 128-bit halves, then the halves exchanged. Moves values only, so the result is the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose_avx2(m: [Lanes; 8]) -> [Lanes; 8] {
    use std::arch::x86_64::{
        __m256i, _mm256_permute2x128_si256 as halves, _mm256_unpackhi_epi32 as hi32,
        _mm256_unpackhi_epi64 as hi64, _mm256_unpacklo_epi32 as lo32,
        _mm256_unpacklo_epi64 as lo64,
    };
    // SAFETY: `[i32; 8]` and `__m256i` are both 32 bytes of plain integers.
    let r: [__m256i; 8] = m.map(|l| unsafe { std::mem::transmute::<[i32; 8], __m256i>(l.0) });
    let t = [
        lo32(r[0], r[1]),
        hi32(r[0], r[1]),
        lo32(r[2], r[3]),
        hi32(r[2], r[3]),
        lo32(r[4], r[5]),
        hi32(r[4], r[5]),
        lo32(r[6], r[7]),
        hi32(r[6], r[7]),
    ];
    let u = [
        lo64(t[0], t[2]),
        hi64(t[0], t[2]),
        lo64(t[1], t[3]),
        hi64(t[1], t[3]),
        lo64(t[4], t[6]),
        hi64(t[4], t[6]),
        lo64(t[5], t[7]),
        hi64(t[5], t[7]),
    ];
    let out = [
        halves::<0x20>(u[0], u[4]),
        halves::<0x20>(u[1], u[5]),
        halves::<0x20>(u[2], u[6]),
        halves::<0x20>(u[3], u[7]),
        halves::<0x31>(u[0], u[4]),
        halves::<0x31>(u[1], u[5]),
        halves::<0x31>(u[2], u[6]),
        halves::<0x31>(u[3], u[7]),
    ];
    // SAFETY: as above.
    out.map(|v| Lanes(unsafe { std::mem::transmute::<__m256i, [i32; 8]>(v) }))
}

/// Rows `a` and `b = a + S` after swapping their off-diagonal `S`-wide sub-blocks.
#[inline(always)]
fn swap_blocks<const S: usize>(a: [i32; 8], b: [i32; 8]) -> ([i32; 8], [i32; 8]) {
    (
        std::array::from_fn(|c| if c & S == 0 { a[c] } else { b[c - S] }),
        std::array::from_fn(|c| if c & S == 0 { a[c + S] } else { b[c] }),
    )
}

/// Forward DCT and quantisation of the 8x8 block at the start of `plane`; `out` is in the
/// DCT's transposed natural order (`ZIGZAG_T` maps zig-zag positions into it).
#[inline(always)]
fn transform<const AVX2: bool>(
    plane: &[i16],
    stride: usize,
    comp: &Component,
    out: &mut [i16; 64],
) {
    // Pass 1 down the columns: lanes are columns, `p[v]` is vertical frequency `v`.
    let rows = std::array::from_fn(|r| {
        let row = &plane[r * stride..][..8];
        Lanes(std::array::from_fn(|c| i32::from(row[c])))
    });
    let p = dct8(rows, false);
    // Pass 2 along the rows: lanes are rows, so `f[u]` lane `v` is coefficient (v, u), the
    // transposed layout of `Component::recip`.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `AVX2` is only true in `encode_avx2`, which runs on CPUs with AVX2.
    let t = if AVX2 {
        unsafe { transpose_avx2(p) }
    } else {
        transpose(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let t = transpose(p);
    let f = dct8(t, true);
    let f = f.map(|l| l.0);
    // In 16-bit lanes, twice as many per instruction: a coefficient (scaled by 8) is at most
    // 8 * 2048 in magnitude for 8-bit samples, so it and `|x| + half` fit, and
    // `(a * recip) >> 18` is the high half of the 16x16 product shifted by 2, the same value.
    let x: [i16; 64] = std::array::from_fn(|i| f.as_flattened()[i] as i16);
    let scale = comp.half.iter().zip(&comp.recip);
    for ((q, &x), (&half, &recip)) in out.iter_mut().zip(&x).zip(scale) {
        *q = quantise(x, half, recip);
    }
}

/// `x / divisor` rounded to nearest, for `|x| <= 8 * 2048`, from half the divisor and its
/// reciprocal ([`Component`]); at most 1023 in magnitude, as baseline AC symbols hold at most
/// 10 magnitude bits (and DC differences 11).
#[inline(always)]
fn quantise(x: i16, half: u16, recip: u16) -> i16 {
    let a = x.unsigned_abs() + half;
    let m = ((u32::from(a) * u32::from(recip)) >> 16) as u16 >> (RECIP_BITS - 16);
    let m = m.min(1023) as i16;
    if x < 0 { -m } else { m }
}

/// Which coefficients of a quantised block are non-zero, bit `k` for zig-zag position `k`.
/// Reading the block in zig-zag order through this mask replaces reordering all 64 values.
#[inline(always)]
fn zigzag_mask<const AVX2: bool>(q: &[i16; 64]) -> u64 {
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
fn zigzag_mask_avx2(q: &[i16; 64]) -> u64 {
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

/// Entropy-coded segment writer: bits collect in a 64-bit register and leave 32 at a time,
/// with a 0x00 stuffed after every 0xFF byte.
struct BitWriter {
    acc: u64,
    /// Bits in `acc` not yet written, at its low end.
    n: u32,
    out: Vec<u8>,
    /// Coded bytes not yet moved to `out`: they join it a few kilobytes at a time.
    buf: BlockBytes,
}

impl BitWriter {
    fn new(out: Vec<u8>) -> Self {
        Self {
            acc: 0,
            n: 0,
            out,
            buf: BlockBytes::default(),
        }
    }

    /// Huffman-codes one quantised block as baseline JPEG does: `q` in the DCT's transposed
    /// natural order, `nonzero` its [`zigzag_mask`].
    #[inline(always)]
    fn block(&mut self, q: &[i16; 64], nonzero: u64, prev_dc: &mut i32, comp: &Component) {
        // The register and its fill stay in locals for the whole block; the buffer always has
        // room for one more block.
        if self.buf.len > BUF_BYTES - BLOCK_BYTES {
            self.out.extend_from_slice(&self.buf.bytes[..self.buf.len]);
            self.buf.len = 0;
        }
        let (mut acc, mut n) = (self.acc, self.n);
        let out = &mut self.buf;
        let dc = i32::from(q[0]);
        let diff = dc - *prev_dc;
        *prev_dc = dc;
        let (code, len) = comp.dc.0[magnitude_bits(diff) as usize];
        put_value(&mut acc, &mut n, out, code, len, diff);

        let mut nonzero = nonzero & !1;
        let mut last = 0u32;
        while nonzero != 0 {
            let k = nonzero.trailing_zeros();
            nonzero &= nonzero - 1;
            let mut run = k - last - 1;
            while run >= 16 {
                let (code, len) = comp.ac.0[0xf0];
                put(&mut acc, &mut n, out, code, len);
                run -= 16;
            }
            let v = i32::from(q[ZIGZAG_T[k as usize] & 63]);
            let (code, len) = comp.ac.0[(run << 4 | magnitude_bits(v)) as usize];
            put_value(&mut acc, &mut n, out, code, len, v);
            last = k;
        }
        if last != 63 {
            let (code, len) = comp.ac.0[0x00];
            put(&mut acc, &mut n, out, code, len);
        }
        (self.acc, self.n) = (acc, n);
    }

    /// Pads the last byte with 1 bits and returns the output.
    fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&self.buf.bytes[..self.buf.len]);
        let pad = (8 - self.n % 8) % 8;
        self.acc = (self.acc << pad) | ((1 << pad) - 1);
        self.n += pad;
        while self.n >= 8 {
            self.n -= 8;
            let b = (self.acc >> self.n) as u8;
            self.out.push(b);
            if b == 0xff {
                self.out.push(0);
            }
        }
        self.out
    }
}

/// Room for one block's coded bytes: at most 64 symbols of at most 27 bits each (and up
/// to three zero-run codes, 11 bits each), every byte possibly stuffed: under 450 bytes.
const BLOCK_BYTES: usize = 512;
/// Size of the coded-byte buffer.
const BUF_BYTES: usize = 16 * BLOCK_BYTES;

/// Coded bytes on their way to the output.
struct BlockBytes {
    bytes: [u8; BUF_BYTES],
    len: usize,
}

impl Default for BlockBytes {
    fn default() -> Self {
        Self {
            bytes: [0; BUF_BYTES],
            len: 0,
        }
    }
}

/// Appends the low `len` bits of `bits` (`len <= 32`) to the register `acc` holding `n`
/// pending bits, moving 32 bits to `out` once there are that many.
#[inline(always)]
fn put(acc: &mut u64, n: &mut u32, out: &mut BlockBytes, bits: u32, len: u32) {
    *acc = (*acc << len) | u64::from(bits);
    *n += len;
    if *n >= 32 {
        *n -= 32;
        let word = (*acc >> *n) as u32;
        // Bytes equal to 0xFF: zero bytes of !word (the classic has-zero-byte test).
        let inv = !word;
        if inv.wrapping_sub(0x0101_0101) & word & 0x8080_8080 == 0 {
            out.bytes[out.len..out.len + 4].copy_from_slice(&word.to_be_bytes());
            out.len += 4;
        } else {
            for b in word.to_be_bytes() {
                out.bytes[out.len] = b;
                out.bytes[out.len + 1] = 0;
                out.len += 1 + usize::from(b == 0xff);
            }
        }
    }
}

/// A Huffman code followed by the value's magnitude bits (negative values as v - 1).
#[inline(always)]
fn put_value(acc: &mut u64, n: &mut u32, out: &mut BlockBytes, code: u32, len: u32, v: i32) {
    let nbits = magnitude_bits(v);
    let extra = (v - i32::from(v < 0)) as u32 & ((1 << nbits) - 1);
    put(acc, n, out, code << nbits | extra, len + nbits);
}

/// Bits needed for |v| (the JPEG size category).
#[inline(always)]
fn magnitude_bits(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
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
#[path = "jpeg_tests.rs"]
mod tests;
