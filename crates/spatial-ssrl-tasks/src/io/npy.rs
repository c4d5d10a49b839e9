//! A reader for NumPy `.npy` files holding 2-D depth maps and masks (`HxW` or `HxWx1`).
//!
//! Supports format versions 1-3, C and Fortran order, both byte orders, and the dtypes depth
//! data comes in: `f4`, `f8`, `f2`, `u1`, `u2`, `u4`, `i1`, `i2`, `i4`, `i8`, `u8` and `b1`.
//! Values are widened to `f32`.

use std::path::Path;

use crate::error::{Error, Result};

/// A decoded 2-D array: `height` rows of `width` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Array2 {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f32>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses `.npy` bytes; `path` only names the file in errors.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Array2> {
    let bad = |message: String| Error::Depth {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header".into()))?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("header is not text".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("header has no 'descr'".into()))?;
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| bad("header has no 'fortran_order'".into()))?;
    let shape = dict_value(header, "shape").ok_or_else(|| bad("header has no 'shape'".into()))?;

    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = Dtype::parse(descr).ok_or_else(|| bad(format!("unsupported dtype {descr:?}")))?;
    let fortran = match fortran {
        "True" => true,
        "False" => false,
        other => return Err(bad(format!("bad fortran_order {other:?}"))),
    };
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(format!("bad shape {shape}")))?;
    let (h, w) = match dims.as_slice() {
        [h, w] | [h, w, 1] => (*h, *w),
        _ => {
            return Err(bad(format!(
                "expected an HxW or HxWx1 array, got shape {shape}"
            )));
        }
    };
    let n = h
        .checked_mul(w)
        .ok_or_else(|| bad("shape overflows".into()))?;
    let data = &bytes[end..];
    let need = n
        .checked_mul(dtype.size)
        .ok_or_else(|| bad("shape overflows".into()))?;
    if data.len() < need {
        return Err(bad(format!(
            "data holds {} bytes, shape {shape} needs {need}",
            data.len()
        )));
    }
    let (width, height) = (
        u32::try_from(w).map_err(|_| bad("too wide".into()))?,
        u32::try_from(h).map_err(|_| bad("too tall".into()))?,
    );
    let flat: Vec<f32> = data[..need]
        .chunks_exact(dtype.size)
        .map(|c| dtype.read(c))
        .collect();
    let values = if fortran && h > 1 && w > 1 {
        // Column-major on disk: element (r, c) sits at c * h + r.
        let mut out = vec![0.0; n];
        for c in 0..w {
            for r in 0..h {
                out[r * w + c] = flat[c * h + r];
            }
        }
        out
    } else {
        flat
    };
    Ok(Array2 {
        width,
        height,
        values,
    })
}

/// The raw text of `key`'s value in the header's Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    F,
    U,
    I,
    B,
}

#[derive(Debug, Clone, Copy)]
struct Dtype {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        let mut chars = descr.chars();
        let (order, rest) = match chars.next()? {
            c @ ('<' | '>' | '|' | '=') => (c, chars.as_str()),
            _ => ('=', descr),
        };
        let (kind, size) = rest.split_at(1);
        let kind = match kind {
            "f" => Kind::F,
            "u" => Kind::U,
            "i" => Kind::I,
            "b" => Kind::B,
            _ => return None,
        };
        let size: usize = size.parse().ok()?;
        let ok = match kind {
            Kind::F => matches!(size, 2 | 4 | 8),
            Kind::U | Kind::I => matches!(size, 1 | 2 | 4 | 8),
            Kind::B => size == 1,
        };
        ok.then_some(Self {
            kind,
            size,
            big_endian: order == '>',
        })
    }

    fn read(&self, b: &[u8]) -> f32 {
        let mut buf = [0u8; 8];
        buf[..self.size].copy_from_slice(b);
        if self.big_endian {
            buf[..self.size].reverse();
        }
        match (self.kind, self.size) {
            (Kind::F, 2) => f16_to_f32(u16::from_le_bytes([buf[0], buf[1]])),
            (Kind::F, 4) => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]),
            (Kind::F, _) => f64::from_le_bytes(buf) as f32,
            (Kind::U | Kind::B, _) => u64::from_le_bytes(buf) as f32,
            (Kind::I, n) => {
                // Sign-extend from n bytes.
                let shift = 64 - 8 * n as u32;
                ((i64::from_le_bytes(buf) << shift) >> shift) as f32
            }
        }
    }
}

/// IEEE half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            return if sign != 0 { -(f as f32) } else { f as f32 } * (2.0f32).powi(-24);
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Serialises a row-major `f32` array as a version-1 little-endian `.npy` file
/// (tests and the sample data use it to write depth maps).
pub(crate) fn to_bytes_f32(width: u32, height: u32, values: &[f32]) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({height}, {width}), }}");
    // Pad so the data starts on a 64-byte boundary, header ends in '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trips_f32() {
        let v = [1.0, 2.5, 0.0, f32::NAN, 7.0, 8.0];
        let a = parse(&to_bytes_f32(3, 2, &v), Path::new("x.npy")).unwrap();
        assert_eq!((a.width, a.height), (3, 2));
        assert_eq!(a.values[..3], v[..3]);
        assert!(a.values[3].is_nan());
    }

    #[test]
    fn reads_dtypes_and_orders() {
        let p = Path::new("x.npy");
        let u16s: Vec<u8> = [1u16, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            parse(&npy("<u2", false, "(2, 3)", &u16s), p)
                .unwrap()
                .values,
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        // Fortran order: column-major on disk.
        assert_eq!(
            parse(&npy("<u2", true, "(2, 3)", &u16s), p).unwrap().values,
            [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
        );
        let f64s: Vec<u8> = [0.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(
            parse(&npy(">f8", false, "(1, 2, 1)", &f64s), p)
                .unwrap()
                .values,
            [0.5, -2.0]
        );
        assert_eq!(
            parse(&npy("<i2", false, "(1, 2)", &[0xff, 0xff, 5, 0]), p)
                .unwrap()
                .values,
            [-1.0, 5.0]
        );
        assert_eq!(
            parse(&npy("|b1", false, "(1, 3)", &[1, 0, 1]), p)
                .unwrap()
                .values,
            [1.0, 0.0, 1.0]
        );
        assert_eq!(
            parse(&npy("<f2", false, "(1, 2)", &[0x00, 0x3c, 0x00, 0xc0]), p)
                .unwrap()
                .values,
            [1.0, -2.0]
        );
    }

    #[test]
    fn rejects_bad_files_naming_them() {
        let p = Path::new("bad.npy");
        for bytes in [
            b"hello".to_vec(),
            npy("<f4", false, "(2, 3)", &[0; 8]),
            npy("<c8", false, "(1, 1)", &[0; 8]),
            npy("<f4", false, "(2, 3, 2)", &[0; 48]),
            npy("<f4", false, "(2,)", &[0; 8]),
        ] {
            let e = parse(&bytes, p).unwrap_err();
            assert!(e.to_string().contains("bad.npy"), "{e}");
        }
    }
}
