//! From stored values to the host buffer a parameter is built from, in one pass: dtype
//! conversion and, for linear weights, the `[out, in]` to `[in, out]` transpose.
//!
//! Loading a real checkpoint is mostly memory traffic: converting into one buffer and
//! transposing into a second doubled the pages the kernel had to clear, and at 3B size
//! clearing pages took a fifth of the load. Here every element is read once and written
//! once, into a buffer that asks for huge pages. The work is spread over the cores in
//! fixed bands, and each output element is a pure function of one input element, so the
//! values are the same on any thread count.

use burn::tensor::DType;
use rayon::prelude::*;
use safetensors::tensor::Dtype;

use crate::error::{Error, Result};

/// Values of one tensor as a source holds them.
#[derive(Clone, Copy)]
pub(crate) enum Stored<'a> {
    /// Little-endian bytes of a checkpoint, in their stored dtype.
    Bytes { dtype: Dtype, bytes: &'a [u8] },
    /// Values already in f32 (a seeded random source).
    F32(&'a [f32]),
}

/// Source columns per parallel band of a transpose (output rows a task writes): wide
/// enough that each source row is read as a run of whole cache lines the prefetcher
/// follows; a narrow band made every source line a separate wait on memory.
const BAND: usize = 256;
/// Source rows per tile of a transpose: a run of 16 outputs fills a cache line in f32.
const TILE: usize = 16;
/// Elements per parallel chunk of a plain conversion.
const CHUNK: usize = 1 << 16;

/// Writes `f(element)` for every `group`-sized element of `src` into a new buffer, in
/// stored order, or transposed when `transpose` gives the stored `[rows, cols]`.
fn gather<S, T, F>(src: &[S], group: usize, transpose: Option<[usize; 2]>, f: F) -> Vec<T>
where
    S: Sync,
    T: Copy + Default + Send + Sync,
    F: Fn(&[S]) -> T + Sync,
{
    let n = src.len() / group;
    // A zero fill of a fresh large allocation only maps zero pages; they are touched once,
    // below, by the task that writes them.
    let mut out = vec![T::default(); n];
    prefer_huge_pages(&mut out);
    match transpose {
        Some([rows, cols]) if rows > 0 && cols > 0 => {
            debug_assert_eq!(rows * cols, n);
            // Output row c (source column c) gets every source row's element c. A task
            // owns BAND output rows; it converts TILE source rows of its columns into a
            // small tile (read in order), then writes the tile's columns as whole runs of
            // TILE outputs. Writing element by element straight to the output, 64 rows of
            // a power-of-two stride apart, made every store compete for one cache set.
            out.par_chunks_mut(BAND * rows)
                .enumerate()
                .for_each(|(band, dst)| {
                    let c0 = band * BAND;
                    let width = dst.len() / rows;
                    let mut tile = [T::default(); TILE * BAND];
                    for r0 in (0..rows).step_by(TILE) {
                        let h = TILE.min(rows - r0);
                        for i in 0..h {
                            let at = ((r0 + i) * cols + c0) * group;
                            let row = &src[at..at + width * group];
                            for (k, e) in row.chunks_exact(group).enumerate() {
                                tile[k * TILE + i] = f(e);
                            }
                        }
                        for k in 0..width {
                            dst[k * rows + r0..k * rows + r0 + h]
                                .copy_from_slice(&tile[k * TILE..k * TILE + h]);
                        }
                    }
                });
        }
        _ => out
            .par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK * group))
            .for_each(|(dst, s)| {
                for (x, e) in dst.iter_mut().zip(s.chunks_exact(group)) {
                    *x = f(e);
                }
            }),
    }
    out
}

/// Asks the kernel for transparent huge pages over a large buffer not yet touched: one
/// fault per 2 MiB instead of per 4 KiB. Advice only; the values are unaffected.
fn prefer_huge_pages<T>(buf: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let len = std::mem::size_of_val(buf);
        if len < 8 * HUGE {
            return;
        }
        let start = buf.as_mut_ptr() as usize;
        let from = start.next_multiple_of(HUGE);
        let to = (start + len) / HUGE * HUGE;
        if to > from {
            // SAFETY: [from, to) lies inside `buf`, which this function borrows mutably;
            // MADV_HUGEPAGE changes how its pages are backed, never their contents.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

fn bf16_to_f32(e: &[u8]) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes([e[0], e[1]])) << 16)
}

fn f16_to_f32(e: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([e[0], e[1]])).to_f32()
}

fn f32_of(e: &[u8]) -> f32 {
    f32::from_le_bytes([e[0], e[1], e[2], e[3]])
}

fn unsupported(name: &str, dtype: Dtype) -> Error {
    Error::UnsupportedDtype {
        name: name.to_string(),
        dtype: format!("{dtype:?}"),
    }
}

/// `name`'s values in f32 (stored order, or transposed from `[rows, cols]`).
pub(crate) fn to_f32(name: &str, s: Stored, transpose: Option<[usize; 2]>) -> Result<Vec<f32>> {
    Ok(match s {
        Stored::F32(v) => gather(v, 1, transpose, |e| e[0]),
        Stored::Bytes { dtype, bytes } => match dtype {
            Dtype::F32 => gather(bytes, 4, transpose, f32_of),
            Dtype::BF16 => gather(bytes, 2, transpose, bf16_to_f32),
            Dtype::F16 => gather(bytes, 2, transpose, f16_to_f32),
            other => return Err(unsupported(name, other)),
        },
    })
}

/// `name`'s values as the bits of `want` (bf16 or f16): copied when stored so, rounded to
/// nearest even from f32 otherwise.
fn to_half_bits(
    name: &str,
    s: Stored,
    transpose: Option<[usize; 2]>,
    want: DType,
) -> Result<Vec<u16>> {
    let bf16 = want == DType::BF16;
    let narrow = move |x: f32| {
        if bf16 {
            half::bf16::from_f32(x).to_bits()
        } else {
            half::f16::from_f32(x).to_bits()
        }
    };
    let bits = |e: &[u8]| u16::from_le_bytes([e[0], e[1]]);
    Ok(match s {
        Stored::F32(v) => gather(v, 1, transpose, |e| narrow(e[0])),
        Stored::Bytes { dtype, bytes } => match dtype {
            Dtype::BF16 if bf16 => gather(bytes, 2, transpose, bits),
            Dtype::F16 if !bf16 => gather(bytes, 2, transpose, bits),
            Dtype::BF16 => gather(bytes, 2, transpose, |e| narrow(bf16_to_f32(e))),
            Dtype::F16 => gather(bytes, 2, transpose, |e| narrow(f16_to_f32(e))),
            Dtype::F32 => gather(bytes, 4, transpose, |e| narrow(f32_of(e))),
            other => return Err(unsupported(name, other)),
        },
    })
}

/// The data of a large matrix stored `[rows, cols]`, held as `held` (bf16, f16, or f32 for
/// anything else), transposed to `[cols, rows]` when `transposed`.
pub(crate) fn matrix_data(
    name: &str,
    s: Stored,
    [rows, cols]: [usize; 2],
    transposed: bool,
    held: DType,
) -> Result<burn::tensor::TensorData> {
    use burn::tensor::TensorData;
    let t = transposed.then_some([rows, cols]);
    let shape = if transposed {
        [cols, rows]
    } else {
        [rows, cols]
    };
    // The half buffers are built as u16 bits and reinterpreted in place (same layout).
    Ok(match held {
        DType::BF16 => {
            let v: Vec<half::bf16> = to_half_bits(name, s, t, held)?
                .into_iter()
                .map(half::bf16::from_bits)
                .collect();
            TensorData::new(v, shape)
        }
        DType::F16 => {
            let v: Vec<half::f16> = to_half_bits(name, s, t, held)?
                .into_iter()
                .map(half::f16::from_bits)
                .collect();
            TensorData::new(v, shape)
        }
        _ => TensorData::new(to_f32(name, s, t)?, shape),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(v: &[f32], dtype: Dtype) -> Vec<u8> {
        v.iter()
            .flat_map(|&x| match dtype {
                Dtype::BF16 => half::bf16::from_f32(x).to_le_bytes().to_vec(),
                Dtype::F16 => half::f16::from_f32(x).to_le_bytes().to_vec(),
                _ => x.to_le_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn transpose_equals_the_definition_on_partial_bands() {
        // Partial bands and tiles, one row, one column, exact tiles, several bands.
        for (rows, cols) in [(130, 70), (1, 129), (65, 1), (64, 64), (3, 200), (33, 600)] {
            let v: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
            let t = to_f32("m", Stored::F32(&v), Some([rows, cols])).unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        v[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
            let back = to_f32("m", Stored::F32(&t), Some([cols, rows])).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn stored_dtypes_widen_exactly_and_transpose_alike() {
        let (rows, cols) = (70, 131);
        // Values exact in bf16 and f16 alike.
        let v: Vec<f32> = (0..rows * cols)
            .map(|x| (x % 97) as f32 * 0.25 - 8.0)
            .collect();
        for dtype in [Dtype::F32, Dtype::BF16, Dtype::F16] {
            let bytes = bytes_of(&v, dtype);
            let s = Stored::Bytes {
                dtype,
                bytes: &bytes,
            };
            assert_eq!(to_f32("m", s, None).unwrap(), v, "{dtype:?}");
            let t = to_f32("m", s, Some([rows, cols])).unwrap();
            let want = to_f32("m", Stored::F32(&v), Some([rows, cols])).unwrap();
            assert_eq!(t, want, "{dtype:?}");
        }
    }

    #[test]
    fn half_bits_are_copied_or_rounded_like_half() {
        let v: Vec<f32> = (0..300).map(|x| (x as f32).sin() * 3.7).collect();
        let bf = bytes_of(&v, Dtype::BF16);
        let f32b = bytes_of(&v, Dtype::F32);
        let copied = to_half_bits(
            "m",
            Stored::Bytes {
                dtype: Dtype::BF16,
                bytes: &bf,
            },
            None,
            DType::BF16,
        )
        .unwrap();
        let rounded = to_half_bits(
            "m",
            Stored::Bytes {
                dtype: Dtype::F32,
                bytes: &f32b,
            },
            None,
            DType::BF16,
        )
        .unwrap();
        let want: Vec<u16> = v
            .iter()
            .map(|&x| half::bf16::from_f32(x).to_bits())
            .collect();
        assert_eq!(copied, want);
        assert_eq!(rounded, want);
        let to_f16 = to_half_bits("m", Stored::F32(&v), Some([20, 15]), DType::F16).unwrap();
        assert_eq!(to_f16[1], half::f16::from_f32(v[15]).to_bits());
    }

    #[test]
    fn unknown_stored_dtype_is_a_typed_error() {
        let bytes = [0u8; 8];
        let s = Stored::Bytes {
            dtype: Dtype::I64,
            bytes: &bytes,
        };
        assert!(matches!(
            to_f32("x", s, None),
            Err(Error::UnsupportedDtype { .. })
        ));
        assert!(matches!(
            matrix_data("x", s, [1, 1], true, DType::BF16),
            Err(Error::UnsupportedDtype { .. })
        ));
    }

    #[test]
    fn large_buffers_take_the_huge_page_advice_unchanged() {
        // Past the size where the advice is given: values as for a small buffer.
        let (rows, cols) = (4096, 1100);
        let v: Vec<f32> = (0..rows * cols).map(|x| (x % 1013) as f32).collect();
        let t = to_f32("m", Stored::F32(&v), Some([rows, cols])).unwrap();
        assert_eq!(t[cols * rows - 1], v[rows * cols - 1]);
        assert_eq!(t[rows + 5], v[5 * cols + 1]);
    }
}
