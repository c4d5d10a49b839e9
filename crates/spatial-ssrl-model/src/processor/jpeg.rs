//! Baseline JPEG decoding that reproduces libjpeg-turbo's output (what Pillow uses).
//!
//! transformers opens images with Pillow, whose JPEG decoder is libjpeg-turbo with its
//! defaults: the accurate integer IDCT (`jidctint.c`, `JDCT_ISLOW`), "fancy" triangle-filter
//! chroma upsampling (`jdsample.c`) and fixed-point YCbCr to RGB (`jdcolor.c`). Other decoders
//! (the `image` crate's zune-jpeg) round differently and move pixels by a few levels. This
//! module implements exactly those libjpeg-turbo paths for the common case: 8-bit baseline or
//! extended sequential Huffman JPEGs with 1 (grey) or 3 (YCbCr) components, chroma sampled
//! 1x1, 2x1 or 2x2 relative to luma. Anything else (progressive, arithmetic coding, CMYK,
//! Adobe RGB, other sampling) returns `None` and the caller falls back to the `image` crate.

/// Natural-order index of the `k`-th zigzag coefficient.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Largest image (in pixels) decoded here.
const MAX_PIXELS: usize = 1 << 26;

/// A decoded image: `components` interleaved 8-bit samples per pixel (1 grey, 3 RGB).
pub(crate) struct Decoded {
    pub width: usize,
    pub height: usize,
    pub components: usize,
    pub data: Vec<u8>,
}

/// Bits looked up at once when decoding Huffman codes.
const LOOKAHEAD: u32 = 9;

#[derive(Clone)]
struct Huffman {
    /// Canonical-code tables as in libjpeg: largest code of each length and the offset from a
    /// code to its value index.
    maxcode: [i32; 18],
    valoffset: [i32; 17],
    values: Vec<u8>,
    /// For each `LOOKAHEAD`-bit prefix: `(code length, value)`, length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
}

impl Default for Huffman {
    fn default() -> Self {
        Self {
            maxcode: [0; 18],
            valoffset: [0; 17],
            values: Vec::new(),
            fast: vec![(0, 0); 1 << LOOKAHEAD],
        }
    }
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Option<Self> {
        let mut h = Huffman {
            values,
            ..Default::default()
        };
        let mut code = 0i32;
        let mut p = 0i32;
        for len in 1..=16 {
            let n = i32::from(counts[len - 1]);
            if n > 0 {
                h.valoffset[len] = p - code;
                code += n;
                p += n;
                h.maxcode[len] = code - 1;
            } else {
                h.maxcode[len] = -1;
            }
            if code > (1 << len) {
                return None;
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if p as usize > h.values.len() {
            return None;
        }
        // Fill the lookahead table from the canonical codes of length <= LOOKAHEAD.
        let mut code = 0u32;
        let mut k = 0usize;
        for len in 1..=LOOKAHEAD {
            for _ in 0..counts[len as usize - 1] {
                let shift = LOOKAHEAD - len;
                for fill in 0..(1u32 << shift) {
                    h.fast[((code << shift) | fill) as usize] = (len as u8, h.values[k]);
                }
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        Some(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// A marker was reached: further reads yield zeros (libjpeg does the same).
    hit_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            nbits: 0,
            hit_marker: false,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0u8;
            if !self.hit_marker && self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xFF {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0);
                    if next == 0x00 {
                        self.pos += 2;
                    } else {
                        self.hit_marker = true;
                        byte = 0;
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.nbits -= n;
        v
    }

    fn decode(&mut self, h: &Huffman) -> Option<u8> {
        if self.nbits < 16 {
            self.fill();
        }
        let (len, value) = h.fast[(self.acc >> (64 - LOOKAHEAD)) as usize];
        if len > 0 {
            self.acc <<= len;
            self.nbits -= u32::from(len);
            return Some(value);
        }
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bits(1) as i32;
            if code <= h.maxcode[len] {
                return h.values.get((code + h.valoffset[len]) as usize).copied();
            }
        }
        None
    }

    fn receive_extend(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.bits(s) as i32;
        if v < (1 << (s - 1)) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// Drops buffered bits and consumes the RSTn marker the decoder stopped at.
    fn restart(&mut self) -> Option<()> {
        self.acc = 0;
        self.nbits = 0;
        self.hit_marker = false;
        // Skip to the marker (fill stops right before it).
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return Some(());
            }
            self.pos += 1;
        }
        None
    }
}

#[derive(Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Blocks per line / column of the padded component plane.
    bw: usize,
    bh: usize,
    /// Samples, `bw * 8` wide.
    plane: Vec<u8>,
    dc_pred: i32,
}

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

#[inline]
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's `jpeg_idct_islow`: dequantise and inverse-transform one block into `out`
/// (`stride` apart), adding 128 and clamping.
fn idct_islow(coef: &[i32; 64], q: &[u16; 64], out: &mut [u8], stride: usize) {
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
fn range_limit(x: i64) -> u8 {
    (x + 128).clamp(0, 255) as u8
}

/// Even part `[tmp10, tmp11, tmp12, tmp13]` and odd part `[tmp0, tmp1, tmp2, tmp3]` of
/// libjpeg's islow pass, so that output `i` is `even[i] + odd[3 - i]` and output `7 - i` is
/// `even[i] - odd[3 - i]`.
#[inline]
fn butterfly(x: [i64; 8]) -> ([i64; 4], [i64; 4]) {
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

/// Decodes `bytes` if it is a JPEG this module reproduces exactly; `None` otherwise
/// (including malformed files: the caller's general decoder then reports the error).
pub(crate) fn decode(bytes: &[u8]) -> Option<Decoded> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return None;
    }
    let mut qt = [[0u16; 64]; 4];
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut comps: Vec<Component> = Vec::new();
    let (mut width, mut height) = (0usize, 0usize);
    let (mut hmax, mut vmax) = (1usize, 1usize);
    let mut restart_interval = 0usize;
    let mut adobe_transform: Option<u8> = None;
    let mut saw_jfif = false;
    let mut pos = 2;
    loop {
        // Find the next marker.
        while pos < bytes.len() && bytes[pos] != 0xFF {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        pos += 1;
        if marker == 0xD9 {
            break;
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        let seg = bytes.get(pos + 2..pos + len)?;
        match marker {
            0xC0 | 0xC1 => {
                if seg.len() < 6 || seg[0] != 8 || !comps.is_empty() {
                    return None;
                }
                height = usize::from(u16::from_be_bytes([seg[1], seg[2]]));
                width = usize::from(u16::from_be_bytes([seg[3], seg[4]]));
                let n = usize::from(seg[5]);
                // Beyond 64 Mpx leave the file to the general decoder and its memory limits.
                let too_big = width * height > MAX_PIXELS;
                if width == 0
                    || height == 0
                    || too_big
                    || !(n == 1 || n == 3)
                    || seg.len() < 6 + 3 * n
                {
                    return None;
                }
                for i in 0..n {
                    let c = &seg[6 + 3 * i..9 + 3 * i];
                    let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                    if !(1..=2).contains(&h) || !(1..=2).contains(&v) || c[2] > 3 {
                        return None;
                    }
                    comps.push(Component {
                        id: c[0],
                        h,
                        v,
                        tq: usize::from(c[2]),
                        bw: 0,
                        bh: 0,
                        plane: Vec::new(),
                        dc_pred: 0,
                    });
                }
                hmax = comps.iter().map(|c| c.h).max()?;
                vmax = comps.iter().map(|c| c.v).max()?;
                // Supported: luma at (hmax, vmax), chroma 1x1; 1x1, 2x1 or 2x2 ratios.
                if n == 3 {
                    let ok = comps[0].h == hmax
                        && comps[0].v == vmax
                        && comps[1..].iter().all(|c| c.h == 1 && c.v == 1)
                        && matches!((hmax, vmax), (1, 1) | (2, 1) | (2, 2));
                    if !ok {
                        return None;
                    }
                } else {
                    // Grey: libjpeg treats a lone component as 1x1.
                    comps[0].h = 1;
                    comps[0].v = 1;
                    hmax = 1;
                    vmax = 1;
                }
                let (mcux, mcuy) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
                for c in &mut comps {
                    c.bw = mcux * c.h;
                    c.bh = mcuy * c.v;
                    c.plane = vec![0; c.bw * 8 * c.bh * 8];
                }
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => {
                let mut p = 0;
                while p < seg.len() {
                    let tc = seg[p] >> 4;
                    let th = usize::from(seg[p] & 15);
                    let counts: [u8; 16] = seg.get(p + 1..p + 17)?.try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = seg.get(p + 17..p + 17 + total)?.to_vec();
                    if th > 3 {
                        return None;
                    }
                    let table = Huffman::new(&counts, values)?;
                    match tc {
                        0 => dc[th] = Some(table),
                        1 => ac[th] = Some(table),
                        _ => return None,
                    }
                    p += 17 + total;
                }
            }
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let pq = seg[p] >> 4;
                    let tq = usize::from(seg[p] & 15);
                    if tq > 3 || pq > 1 {
                        return None;
                    }
                    for k in 0..64 {
                        let v = if pq == 0 {
                            u16::from(*seg.get(p + 1 + k)?)
                        } else {
                            u16::from_be_bytes([*seg.get(p + 1 + 2 * k)?, *seg.get(p + 2 + 2 * k)?])
                        };
                        qt[tq][ZIGZAG[k]] = v;
                    }
                    p += 1 + if pq == 0 { 64 } else { 128 };
                }
            }
            0xDD => {
                restart_interval = usize::from(u16::from_be_bytes([*seg.first()?, *seg.get(1)?]));
            }
            0xE0 => saw_jfif |= seg.starts_with(b"JFIF\0"),
            0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => {
                adobe_transform = Some(seg[11]);
            }
            0xDA => {
                let ns = usize::from(*seg.first()?);
                if comps.is_empty() || seg.len() < 1 + 2 * ns {
                    return None;
                }
                let mut scan = Vec::with_capacity(ns);
                for i in 0..ns {
                    let cid = seg[1 + 2 * i];
                    let t = seg[2 + 2 * i];
                    let ci = comps.iter().position(|c| c.id == cid)?;
                    let (td, ta) = (usize::from(t >> 4), usize::from(t & 15));
                    if td > 3 || ta > 3 {
                        return None;
                    }
                    scan.push((ci, td, ta));
                }
                let tail = &seg[1 + 2 * ns..];
                // Sequential scans cover the full spectrum without successive approximation.
                if tail.len() < 3 || tail[0] != 0 || tail[1] != 63 || tail[2] != 0 {
                    return None;
                }
                let end = decode_scan(
                    bytes,
                    pos + len,
                    &mut comps,
                    &scan,
                    (&dc, &ac, &qt),
                    (width, height, hmax, vmax),
                    restart_interval,
                )?;
                pos = end;
                continue;
            }
            _ => {}
        }
        pos += len;
    }
    if comps.is_empty() || comps.iter().any(|c| c.plane.is_empty()) {
        return None;
    }
    if comps.len() == 1 {
        let c = &comps[0];
        let stride = c.bw * 8;
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            data.extend_from_slice(&c.plane[y * stride..y * stride + width]);
        }
        return Some(Decoded {
            width,
            height,
            components: 1,
            data,
        });
    }
    // libjpeg's colour-space guess: Adobe transform 0, or component ids 'R','G','B' without
    // a JFIF marker, mean RGB stored as is; leave those to the general decoder.
    let rgb_ids = comps.iter().map(|c| c.id).eq(*b"RGB");
    if adobe_transform == Some(0) || (adobe_transform.is_none() && !saw_jfif && rgb_ids) {
        return None;
    }
    let up: Vec<Vec<u8>> = comps[1..]
        .iter()
        .map(|c| upsample(c, width, height, hmax, vmax))
        .collect();
    let y = &comps[0];
    let ystride = y.bw * 8;
    let mut data = Vec::with_capacity(width * height * 3);
    let t = ColorTables::new();
    for row in 0..height {
        for col in 0..width {
            let yy = i32::from(y.plane[row * ystride + col]);
            let cb = usize::from(up[0][row * width + col]);
            let cr = usize::from(up[1][row * width + col]);
            data.push(clamp8(yy + t.cr_r[cr]));
            data.push(clamp8(yy + ((t.cb_g[cb] + t.cr_g[cr]) >> 16)));
            data.push(clamp8(yy + t.cb_b[cb]));
        }
    }
    Some(Decoded {
        width,
        height,
        components: 3,
        data,
    })
}

#[inline]
fn clamp8(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// `jdcolor.c`'s fixed-point YCbCr -> RGB tables (16 fractional bits).
struct ColorTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i32; 256],
    cb_g: [i32; 256],
}

impl ColorTables {
    fn new() -> Self {
        const ONE_HALF: i64 = 1 << 15;
        let fix = |x: f64| (x * 65536.0 + 0.5) as i64;
        let mut t = ColorTables {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        for i in 0..256 {
            let x = i as i64 - 128;
            t.cr_r[i] = ((fix(1.402_00) * x + ONE_HALF) >> 16) as i32;
            t.cb_b[i] = ((fix(1.772_00) * x + ONE_HALF) >> 16) as i32;
            t.cr_g[i] = (-fix(0.714_14) * x) as i32;
            t.cb_g[i] = (-fix(0.344_14) * x + ONE_HALF) as i32;
        }
        t
    }
}

/// Full-resolution chroma plane (`width * height`) with libjpeg-turbo's fancy upsampling
/// (`h2v1_fancy_upsample` / `h2v2_fancy_upsample`), or replication for narrow planes.
fn upsample(c: &Component, width: usize, height: usize, hmax: usize, vmax: usize) -> Vec<u8> {
    let stride = c.bw * 8;
    // The component's real size: ceil(image * samp / max_samp).
    let dw = (width * c.h).div_ceil(hmax);
    let dh = (height * c.v).div_ceil(vmax);
    let row = |r: usize| &c.plane[r * stride..r * stride + dw];
    let mut out = vec![0u8; width * height];
    let fancy = dw > 2;
    match (hmax / c.h, vmax / c.v) {
        (1, 1) => {
            for y in 0..height {
                out[y * width..(y + 1) * width].copy_from_slice(&row(y)[..width]);
            }
        }
        (2, 1) => {
            let mut line = vec![0u8; dw * 2];
            for y in 0..height {
                let inp = row(y);
                if fancy {
                    line[0] = inp[0];
                    line[1] = ((u32::from(inp[0]) * 3 + u32::from(inp[1]) + 2) >> 2) as u8;
                    for x in 1..dw - 1 {
                        let v = u32::from(inp[x]) * 3;
                        line[2 * x] = ((v + u32::from(inp[x - 1]) + 1) >> 2) as u8;
                        line[2 * x + 1] = ((v + u32::from(inp[x + 1]) + 2) >> 2) as u8;
                    }
                    let l = dw - 1;
                    line[2 * l] = ((u32::from(inp[l]) * 3 + u32::from(inp[l - 1]) + 1) >> 2) as u8;
                    line[2 * l + 1] = inp[l];
                } else {
                    for x in 0..dw {
                        line[2 * x] = inp[x];
                        line[2 * x + 1] = inp[x];
                    }
                }
                out[y * width..(y + 1) * width].copy_from_slice(&line[..width]);
            }
        }
        _ => {
            // 2x2. Context rows beyond the top / bottom repeat the first / last real row.
            let mut line = vec![0u8; dw * 2];
            for y in 0..height {
                let r = y / 2;
                let inp0 = row(r);
                if fancy {
                    let other = if y % 2 == 0 {
                        r.saturating_sub(1)
                    } else {
                        (r + 1).min(dh - 1)
                    };
                    let inp1 = row(other);
                    let colsum = |x: usize| u32::from(inp0[x]) * 3 + u32::from(inp1[x]);
                    let mut this = colsum(0);
                    let mut next = colsum(1);
                    line[0] = ((this * 4 + 8) >> 4) as u8;
                    line[1] = ((this * 3 + next + 7) >> 4) as u8;
                    let mut last = this;
                    this = next;
                    for x in 1..dw - 1 {
                        next = colsum(x + 1);
                        line[2 * x] = ((this * 3 + last + 8) >> 4) as u8;
                        line[2 * x + 1] = ((this * 3 + next + 7) >> 4) as u8;
                        last = this;
                        this = next;
                    }
                    let l = dw - 1;
                    line[2 * l] = ((this * 3 + last + 8) >> 4) as u8;
                    line[2 * l + 1] = ((this * 4 + 7) >> 4) as u8;
                } else {
                    for x in 0..dw {
                        line[2 * x] = inp0[x];
                        line[2 * x + 1] = inp0[x];
                    }
                }
                out[y * width..(y + 1) * width].copy_from_slice(&line[..width]);
            }
        }
    }
    out
}

type Tables<'a> = (
    &'a [Option<Huffman>; 4],
    &'a [Option<Huffman>; 4],
    &'a [[u16; 64]; 4],
);

/// Decodes one sequential scan starting at `start`; returns the offset after its entropy data.
fn decode_scan(
    bytes: &[u8],
    start: usize,
    comps: &mut [Component],
    scan: &[(usize, usize, usize)],
    (dc, ac, qt): Tables<'_>,
    (width, height, hmax, vmax): (usize, usize, usize, usize),
    restart_interval: usize,
) -> Option<usize> {
    let mut bits = Bits::new(bytes, start);
    for c in comps.iter_mut() {
        c.dc_pred = 0;
    }
    // Interleaved scans walk MCUs; a single-component scan walks that component's own blocks.
    let (units_x, units_y) = if scan.len() == 1 {
        let c = &comps[scan[0].0];
        (
            (width * c.h).div_ceil(hmax).div_ceil(8),
            (height * c.v).div_ceil(vmax).div_ceil(8),
        )
    } else {
        (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax))
    };
    let mut coef = [0i32; 64];
    let mut left_in_interval = restart_interval;
    for uy in 0..units_y {
        for ux in 0..units_x {
            if restart_interval > 0 {
                if left_in_interval == 0 {
                    bits.restart()?;
                    for c in comps.iter_mut() {
                        c.dc_pred = 0;
                    }
                    left_in_interval = restart_interval;
                }
                left_in_interval -= 1;
            }
            for &(ci, td, ta) in scan {
                let (bh, bv) = if scan.len() == 1 {
                    (1, 1)
                } else {
                    (comps[ci].h, comps[ci].v)
                };
                for by in 0..bv {
                    for bx in 0..bh {
                        coef.fill(0);
                        let dct = dc[td].as_ref()?;
                        let act = ac[ta].as_ref()?;
                        let s = u32::from(bits.decode(dct)?);
                        if s > 16 {
                            return None;
                        }
                        let c = &mut comps[ci];
                        c.dc_pred += bits.receive_extend(s);
                        coef[0] = c.dc_pred;
                        let mut k = 1;
                        while k < 64 {
                            let rs = bits.decode(act)?;
                            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
                            if s == 0 {
                                if r != 15 {
                                    break;
                                }
                                k += 16;
                                continue;
                            }
                            k += r;
                            if k > 63 {
                                return None;
                            }
                            coef[ZIGZAG[k]] = bits.receive_extend(s);
                            k += 1;
                        }
                        let (x, y) = if scan.len() == 1 {
                            (ux, uy)
                        } else {
                            (ux * c.h + bx, uy * c.v + by)
                        };
                        if x < c.bw && y < c.bh {
                            let stride = c.bw * 8;
                            let off = y * 8 * stride + x * 8;
                            idct_islow(&coef, &qt[c.tq], &mut c.plane[off..], stride);
                        }
                    }
                }
            }
        }
    }
    // Continue after the entropy-coded data: the next marker that is not RSTn or stuffing.
    let mut p = bits.pos;
    while p + 1 < bytes.len() {
        if bytes[p] == 0xFF && bytes[p + 1] != 0 && !(0xD0..=0xD7).contains(&bytes[p + 1]) {
            return Some(p);
        }
        p += 1;
    }
    Some(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eg1() -> Vec<u8> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/reference_inputs/eg1.jpg"
        );
        std::fs::read(p).expect("eg1.jpg fixture")
    }

    #[test]
    fn decodes_the_fixture_as_rgb() {
        let d = decode(&eg1()).expect("baseline 4:2:0 JPEG");
        assert_eq!((d.width, d.height, d.components), (375, 500, 3));
        assert_eq!(d.data.len(), 375 * 500 * 3);
    }

    #[test]
    fn damaged_files_never_panic() {
        let bytes = eg1();
        assert!(decode(b"not a jpeg").is_none());
        assert!(decode(&bytes[..2]).is_none());
        // Truncations at many offsets and byte flips: any outcome but a panic.
        for cut in (3..bytes.len()).step_by(997) {
            let _ = decode(&bytes[..cut]);
        }
        let mut state = 7u64;
        for _ in 0..40 {
            let mut b = bytes.clone();
            for _ in 0..8 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (state >> 33) as usize % b.len();
                b[i] = (state >> 17) as u8;
            }
            let _ = decode(&b);
        }
    }

    #[test]
    fn idct_of_a_dc_only_block_is_flat() {
        let mut coef = [0i32; 64];
        coef[0] = 10;
        let q = [8u16; 64];
        let mut out = [0u8; 64];
        idct_islow(&coef, &q, &mut out, 8);
        // 10 * 8 / 8 = 10 above mid-grey.
        assert!(out.iter().all(|&v| v == 138));
    }
}
