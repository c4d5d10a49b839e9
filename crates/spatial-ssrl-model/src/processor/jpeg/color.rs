//! Chroma upsampling (`jdsample.c` "fancy" triangle filter) and fixed-point YCbCr to RGB
//! (`jdcolor.c`), as libjpeg-turbo rounds them.

use super::Component;

#[inline]
pub(super) fn clamp8(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// `jdcolor.c`'s fixed-point YCbCr -> RGB tables (16 fractional bits).
pub(super) struct ColorTables {
    pub(super) cr_r: [i32; 256],
    pub(super) cb_b: [i32; 256],
    pub(super) cr_g: [i32; 256],
    pub(super) cb_g: [i32; 256],
}

impl ColorTables {
    pub(super) fn new() -> Self {
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
pub(super) fn upsample(
    c: &Component,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
) -> Vec<u8> {
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
