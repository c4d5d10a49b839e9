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

/// Parses `.npy` bytes as `f32` values; `path` only names the file in errors.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Array2> {
    let (header, data) = split(bytes, path)?;
    let flat = header.dtype.decode_f32(data);
    Ok(header.into_array(flat))
}

/// Parses `.npy` bytes as a validity mask in one pass over the data: nonzero is `true`,
/// NaN and zero are `false`. Returns `(width, height, row-major mask)`.
pub(crate) fn parse_mask(bytes: &[u8], path: &Path) -> Result<(u32, u32, Vec<bool>)> {
    let (header, data) = split(bytes, path)?;
    let d = header.dtype;
    let flat: Vec<bool> = match (d.kind, d.size) {
        // One byte per value: no conversion, and byte order is moot.
        (Kind::U | Kind::I | Kind::B, 1) => data.iter().map(|&b| b != 0).collect(),
        // Integers are nonzero exactly when some byte is.
        (Kind::U | Kind::I, n) => data
            .chunks_exact(n)
            .map(|c| c.iter().any(|&b| b != 0))
            .collect(),
        // Floats go through f32 so a mask reads as the same depth values would (an f64
        // subnormal that rounds to 0 is "invalid" either way).
        _ => d
            .decode_f32(data)
            .into_iter()
            .map(|v| v != 0.0 && !v.is_nan())
            .collect(),
    };
    let (w, h) = (header.width, header.height);
    Ok((w, h, header.reorder(flat)))
}

/// What the header says about the array that follows it.
#[derive(Debug, Clone, Copy)]
struct Header {
    dtype: Dtype,
    fortran: bool,
    width: u32,
    height: u32,
}

impl Header {
    /// Row-major values from the on-disk order.
    fn reorder<T: Copy + Default>(&self, flat: Vec<T>) -> Vec<T> {
        let (w, h) = (self.width as usize, self.height as usize);
        if !(self.fortran && h > 1 && w > 1) {
            return flat;
        }
        // Column-major on disk: element (r, c) sits at c * h + r.
        let mut out = vec![T::default(); flat.len()];
        for (c, col) in flat.chunks_exact(h).enumerate() {
            for (r, &v) in col.iter().enumerate() {
                out[r * w + c] = v;
            }
        }
        out
    }

    fn into_array(self, flat: Vec<f32>) -> Array2 {
        Array2 {
            width: self.width,
            height: self.height,
            values: self.reorder(flat),
        }
    }
}

/// Validates the header and returns it with exactly the data bytes the shape needs.
fn split<'a>(bytes: &'a [u8], path: &Path) -> Result<(Header, &'a [u8])> {
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
    // Too few bytes is a truncated file; too many, a file that is not what its header says.
    if data.len() != need {
        let what = if data.len() < need {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "data holds {} bytes, shape {shape} needs {need} ({what})",
            data.len()
        )));
    }
    let (width, height) = (
        u32::try_from(w).map_err(|_| bad("too wide".into()))?,
        u32::try_from(h).map_err(|_| bad("too tall".into()))?,
    );
    let header = Header {
        dtype,
        fortran,
        width,
        height,
    };
    Ok((header, &data[..need]))
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

    /// Converts the whole data block (`n * size` bytes) to `f32`. Each dtype and byte
    /// order gets its own tight loop over fixed-size chunks, which the compiler vectorises:
    /// the branching happens once per file, not once per value.
    fn decode_f32(self, data: &[u8]) -> Vec<f32> {
        match (self.kind, self.size, self.big_endian) {
            (Kind::F, 4, false) => convert(data, f32::from_le_bytes),
            (Kind::F, 4, true) => convert(data, f32::from_be_bytes),
            (Kind::F, 8, false) => convert(data, |b| f64::from_le_bytes(b) as f32),
            (Kind::F, 8, true) => convert(data, |b| f64::from_be_bytes(b) as f32),
            (Kind::F, _, false) => convert(data, |b| f16_to_f32(u16::from_le_bytes(b))),
            (Kind::F, _, true) => convert(data, |b| f16_to_f32(u16::from_be_bytes(b))),
            (Kind::U | Kind::B, 1, _) => data.iter().map(|&b| f32::from(b)).collect(),
            (Kind::I, 1, _) => data.iter().map(|&b| f32::from(b as i8)).collect(),
            (Kind::U, 2, false) => convert(data, |b| f32::from(u16::from_le_bytes(b))),
            (Kind::U, 2, true) => convert(data, |b| f32::from(u16::from_be_bytes(b))),
            (Kind::I, 2, false) => convert(data, |b| f32::from(i16::from_le_bytes(b))),
            (Kind::I, 2, true) => convert(data, |b| f32::from(i16::from_be_bytes(b))),
            (Kind::U, 4, false) => convert(data, |b| u32::from_le_bytes(b) as f32),
            (Kind::U, 4, true) => convert(data, |b| u32::from_be_bytes(b) as f32),
            (Kind::I, 4, false) => convert(data, |b| i32::from_le_bytes(b) as f32),
            (Kind::I, 4, true) => convert(data, |b| i32::from_be_bytes(b) as f32),
            (Kind::U | Kind::B, _, false) => convert(data, |b| u64::from_le_bytes(b) as f32),
            (Kind::U | Kind::B, _, true) => convert(data, |b| u64::from_be_bytes(b) as f32),
            (Kind::I, _, false) => convert(data, |b| i64::from_le_bytes(b) as f32),
            (Kind::I, _, true) => convert(data, |b| i64::from_be_bytes(b) as f32),
        }
    }
}

/// Maps every `N`-byte chunk of `data` to a value (a trailing partial chunk is ignored;
/// callers pass whole elements).
fn convert<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    let (chunks, _) = data.as_chunks::<N>();
    chunks.iter().map(|&c| f(c)).collect()
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
    fn bulk_conversion_covers_every_width_and_byte_order() {
        let p = Path::new("x.npy");
        let be = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        let le64 = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert_eq!(
            parse(&npy(">u4", false, "(1, 2)", &be(&[7, 70_000])), p)
                .unwrap()
                .values,
            [7.0, 70_000.0]
        );
        assert_eq!(
            parse(&npy(">i4", false, "(1, 2)", &be(&[u32::MAX, 3])), p)
                .unwrap()
                .values,
            [-1.0, 3.0]
        );
        assert_eq!(
            parse(&npy("<i8", false, "(1, 2)", &le64(&[-5, 1 << 40])), p)
                .unwrap()
                .values,
            [-5.0, (1u64 << 40) as f32]
        );
        assert_eq!(
            parse(
                &npy(
                    ">f4",
                    false,
                    "(1, 2)",
                    &be(&[1.5f32.to_bits(), (-0.25f32).to_bits()])
                ),
                p
            )
            .unwrap()
            .values,
            [1.5, -0.25]
        );
        assert_eq!(
            parse(&npy("|i1", false, "(1, 2)", &[0xfe, 9]), p)
                .unwrap()
                .values,
            [-2.0, 9.0]
        );
    }

    #[test]
    fn masks_read_in_one_pass_with_the_same_rules() {
        let p = Path::new("m.npy");
        let f32s: Vec<u8> = [1.0f32, 0.0, f32::NAN, -3.0, 0.5, -0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = parse_mask(&npy("<f4", false, "(2, 3)", &f32s), p).unwrap();
        assert_eq!(m, (3, 2, vec![true, false, false, true, true, false]));
        // An f64 below f32's range rounds to 0 and is invalid, as the depth reader sees it.
        let tiny: Vec<u8> = [1e-300f64, 2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(
            parse_mask(&npy(">f8", false, "(1, 2)", &tiny), p)
                .unwrap()
                .2,
            [false, true]
        );
        let i2: Vec<u8> = [0i16, 256, -1, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            parse_mask(&npy("<i2", false, "(2, 2)", &i2), p).unwrap().2,
            [false, true, true, false]
        );
        // Fortran order: column-major on disk, row-major out.
        assert_eq!(
            parse_mask(&npy("|b1", true, "(2, 3)", &[1, 0, 0, 0, 1, 1]), p)
                .unwrap()
                .2,
            [true, false, true, false, false, true]
        );
        assert!(parse_mask(&npy("<u2", false, "(2, 2)", &[0; 6]), p).is_err());
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
