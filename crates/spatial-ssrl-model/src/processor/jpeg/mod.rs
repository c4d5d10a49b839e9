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

mod color;
mod huffman;
mod idct;

use color::{ColorTables, clamp8, upsample};
use huffman::{Bits, Huffman};
use idct::idct_islow;

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
