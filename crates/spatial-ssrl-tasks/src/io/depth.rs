//! Depth maps and validity masks: `.npy`, MegaDepth-style HDF5 (pure Rust), 16-bit PNG.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::npy::{self, Array2};
use crate::task::DepthMap;

/// Scale applied to 16-bit PNG depth when none is given: millimetres to metres, the
/// convention of NYU, ScanNet and most RGB-D cameras.
pub const DEFAULT_PNG_DEPTH_SCALE: f32 = 0.001;

/// Reads a depth map: `.npy` (`HxW` or `HxWx1`; float, unsigned or signed integers),
/// `.h5`/`.hdf5` (dataset `depth`, as MegaDepth ships it) or a grayscale PNG (16-bit
/// usually). Every value is multiplied by `scale` (default 1, or
/// [`DEFAULT_PNG_DEPTH_SCALE`] for PNG); zero, negative, NaN and infinite values become
/// invalid. A depth map with no valid pixel at all is an [`Error::EmptyDepth`].
///
/// ```no_run
/// let d = spatial_ssrl_tasks::load_depth("examples/data/room.npy", None)?;
/// println!("{} valid pixels", d.valid_count());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn load_depth(path: impl AsRef<Path>, scale: Option<f32>) -> Result<DepthMap> {
    let path = path.as_ref();
    decode_depth(read(path)?, path, scale)
}

/// [`load_depth`] of a depth file's bytes (from an archive or a parquet cell); `path` gives
/// the format by its extension and names the source in errors.
pub(crate) fn decode_depth(bytes: Vec<u8>, path: &Path, scale: Option<f32>) -> Result<DepthMap> {
    let (arr, default_scale) = match extension(path).as_str() {
        "npy" => (npy::parse(&bytes, path)?, 1.0),
        "h5" | "hdf5" => (read_hdf5(bytes, path)?, 1.0),
        "png" => (read_png(&bytes, path)?, DEFAULT_PNG_DEPTH_SCALE),
        other => {
            return Err(Error::Depth {
                path: path.to_path_buf(),
                message: format!("unsupported depth format {other:?}"),
            });
        }
    };
    let scale = scale.unwrap_or(default_scale);
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::Depth {
            path: path.to_path_buf(),
            message: format!("depth scale {scale} is not positive"),
        });
    }
    let Array2 {
        width,
        height,
        mut values,
    } = arr;
    if scale != 1.0 {
        values.iter_mut().for_each(|v| *v *= scale);
    }
    let depth = DepthMap::from_values(width, height, values)
        .expect("npy/hdf5/png readers return width*height values");
    if depth.valid_count() == 0 {
        return Err(Error::EmptyDepth {
            path: path.to_path_buf(),
        });
    }
    Ok(depth)
}

/// Reads a validity mask (`.npy` of any numeric or bool dtype, or a grayscale PNG):
/// nonzero marks a valid pixel. Returns `(width, height, row-major mask)`.
///
/// ```no_run
/// let (w, h, mask) = spatial_ssrl_tasks::load_mask("examples/data/room_depth_mask.npy")?;
/// assert_eq!(mask.len(), (w * h) as usize);
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn load_mask(path: impl AsRef<Path>) -> Result<(u32, u32, Vec<bool>)> {
    let path = path.as_ref();
    match extension(path).as_str() {
        // NaN counts as "not valid" too: `NaN != 0` would otherwise keep it.
        "npy" => npy::parse_mask(&read(path)?, path),
        "png" => {
            let arr = read_png(&read(path)?, path)?;
            let mask = arr.values.iter().map(|&v| v != 0.0).collect();
            Ok((arr.width, arr.height, mask))
        }
        other => Err(Error::Depth {
            path: path.to_path_buf(),
            message: format!("unsupported mask format {other:?}"),
        }),
    }
}

/// Writes a depth map as a little-endian `f32` `.npy` file (`HxW`); invalid pixels are
/// written as 0 so [`load_depth`] reads them back as invalid.
///
/// ```
/// use spatial_ssrl_tasks::{load_depth, save_depth_npy, DepthMap};
/// let dir = tempfile::tempdir()?;
/// let d = DepthMap::from_values(2, 1, vec![1.5, f32::NAN]).unwrap();
/// save_depth_npy(dir.path().join("d.npy"), &d)?;
/// let back = load_depth(dir.path().join("d.npy"), None)?;
/// assert_eq!((back.get(0, 0), back.get(1, 0)), (Some(1.5), None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_depth_npy(path: impl AsRef<Path>, depth: &DepthMap) -> Result<()> {
    let path = path.as_ref();
    let values: Vec<f32> = depth
        .values()
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    std::fs::write(
        path,
        npy::to_bytes_f32(depth.width(), depth.height(), &values),
    )
    .map_err(|e| Error::io(path, e))
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// The `depth` dataset (or the file's only dataset) of an HDF5 file, as `f32`.
fn read_hdf5(bytes: Vec<u8>, path: &Path) -> Result<Array2> {
    let bad = |message: String| Error::Depth {
        path: path.to_path_buf(),
        message,
    };
    if let Some(message) = crate::io::integrity::hdf5_problem(&bytes) {
        return Err(bad(message));
    }
    let file = hdf5_pure::File::from_bytes(bytes)
        .map_err(|e| bad(format!("not a readable HDF5 file: {e}")))?;
    let ds = match file.dataset("depth") {
        Ok(ds) => ds,
        Err(_) => {
            let names = file.root().datasets().map_err(|e| bad(e.to_string()))?;
            match names.as_slice() {
                [only] => file.dataset(only).map_err(|e| bad(e.to_string()))?,
                _ => {
                    return Err(bad(format!(
                        "no dataset 'depth' (datasets: {})",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let shape = ds.shape().map_err(|e| bad(e.to_string()))?;
    let (h, w) = match shape.as_slice() {
        [h, w] | [h, w, 1] => (*h, *w),
        _ => {
            return Err(bad(format!(
                "expected an HxW or HxWx1 dataset, got shape {shape:?}"
            )));
        }
    };
    let values = ds
        .read_f32()
        .map_err(|e| bad(format!("cannot read dataset: {e}")))?;
    let (width, height) = (
        u32::try_from(w).map_err(|_| bad("too wide".into()))?,
        u32::try_from(h).map_err(|_| bad("too tall".into()))?,
    );
    if values.len() as u64 != w * h {
        return Err(bad(format!(
            "dataset holds {} values, shape {shape:?}",
            values.len()
        )));
    }
    Ok(Array2 {
        width,
        height,
        values,
    })
}

/// A grayscale PNG (8 or 16 bit) as raw integer values.
fn read_png(bytes: &[u8], path: &Path) -> Result<Array2> {
    if let Some(message) = crate::io::rgb::container_problem(bytes) {
        return Err(Error::Depth {
            path: path.to_path_buf(),
            message,
        });
    }
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).map_err(|e| {
        Error::Depth {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    let (width, height) = (img.width(), img.height());
    let values = match img {
        image::DynamicImage::ImageLuma16(g) => g.into_raw().into_iter().map(f32::from).collect(),
        image::DynamicImage::ImageLuma8(g) => g.into_raw().into_iter().map(f32::from).collect(),
        other => {
            return Err(Error::Depth {
                path: path.to_path_buf(),
                message: format!("depth PNG must be grayscale, found {:?}", other.color()),
            });
        }
    };
    Ok(Array2 {
        width,
        height,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png16_is_scaled_and_zero_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d_depth.png");
        let img =
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(2, 1, vec![0u16, 1500]).unwrap();
        img.save(&p).unwrap();
        let d = load_depth(&p, None).unwrap();
        assert_eq!(d.get(0, 0), None);
        assert!((d.get(1, 0).unwrap() - 1.5).abs() < 1e-6);
        assert_eq!(load_depth(&p, Some(2.0)).unwrap().get(1, 0), Some(3000.0));
    }

    #[test]
    fn all_invalid_depth_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.npy");
        std::fs::write(
            &p,
            npy::to_bytes_f32(2, 2, &[0.0, f32::NAN, f32::INFINITY, -1.0]),
        )
        .unwrap();
        assert!(matches!(
            load_depth(&p, None),
            Err(Error::EmptyDepth { .. })
        ));
    }

    #[test]
    fn colour_png_and_unknown_extension_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        image::RgbImage::new(2, 2).save(&p).unwrap();
        assert!(matches!(load_depth(&p, None), Err(Error::Depth { .. })));
        let q = dir.path().join("c.exr");
        std::fs::write(&q, b"x").unwrap();
        assert!(
            load_depth(&q, None)
                .unwrap_err()
                .to_string()
                .contains("c.exr")
        );
        assert!(matches!(
            load_depth(dir.path().join("missing.npy"), None),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn corrupt_hdf5_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.h5");
        std::fs::write(&p, b"\x89HDF\r\n\x1a\ngarbage").unwrap();
        let e = load_depth(&p, None).unwrap_err();
        assert!(
            matches!(e, Error::Depth { .. }) && e.to_string().contains("bad.h5"),
            "{e}"
        );
    }
}
