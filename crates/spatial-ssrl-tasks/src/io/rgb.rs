//! RGB image decoding and encoding.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::io::integrity;

/// Reads a JPEG or PNG file as RGB8: alpha dropped, EXIF orientation applied.
///
/// ```no_run
/// let img = spatial_ssrl_tasks::load_rgb("examples/data/street.jpg")?;
/// println!("{}x{}", img.width(), img.height());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn load_rgb(path: impl AsRef<Path>) -> Result<RgbImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Decodes JPEG or PNG bytes as RGB8 (alpha dropped, EXIF orientation applied); `path` only
/// names the source in errors.
///
/// The file must be whole: a JPEG that ends before its end-of-image marker or a PNG with a
/// missing or corrupted chunk is an [`Error::Image`] (decoders would show it half grey).
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let bad = |e: image::ImageError| Error::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(message) = container_problem(bytes) {
        return Err(Error::Image {
            path: path.to_path_buf(),
            message,
        });
    }
    if bytes.starts_with(PNG_SIGNATURE)
        && let Some(img) = super::png::decode_common_rgb(bytes)
    {
        return Ok(img);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut decoder = reader.into_decoder().map_err(bad)?;
    // Cameras store portrait shots sideways plus an EXIF tag; the tasks must see them upright.
    let orientation = decoder.orientation().map_err(bad)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::Image {
            path: path.to_path_buf(),
            message: "image is empty".into(),
        });
    }
    Ok(img.into_rgb8())
}

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Why `bytes` are not a whole JPEG or PNG file, judged by their signature; `None` for
/// other formats (the decoder judges those).
pub(crate) fn container_problem(bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        integrity::jpeg_problem(bytes)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        integrity::png_problem(bytes)
    } else {
        None
    }
}

/// How sample images are encoded in the exported dataset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Lossless PNG (default compression, adaptive filter): byte-identical on every machine.
    #[default]
    Png,
    /// Baseline JPEG at quality 90 with 4:2:0 chroma subsampling: smaller, still
    /// byte-identical on every machine (pure-Rust encoder, integer arithmetic).
    Jpeg,
}

impl ImageFormat {
    /// The file extension, without dot.
    ///
    /// ```
    /// assert_eq!(spatial_ssrl_tasks::ImageFormat::Jpeg.extension(), "jpg");
    /// ```
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
        }
    }

    /// Encodes an image; `path` names the destination in errors.
    ///
    /// ```
    /// use spatial_ssrl_tasks::ImageFormat;
    /// let img = image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]));
    /// let png = ImageFormat::Png.encode(&img, "x.png".as_ref()).unwrap();
    /// assert_eq!(&png[1..4], b"PNG");
    /// ```
    pub fn encode(self, img: &RgbImage, path: &Path) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let res = match self {
            ImageFormat::Png => {
                use image::ImageEncoder;
                image::codecs::png::PngEncoder::new_with_quality(
                    &mut out,
                    image::codecs::png::CompressionType::Fast,
                    image::codecs::png::FilterType::Adaptive,
                )
                .write_image(
                    img.as_raw(),
                    img.width(),
                    img.height(),
                    image::ExtendedColorType::Rgb8,
                )
            }
            ImageFormat::Jpeg => return encode_jpeg(img, path),
        };
        res.map_err(|e| Error::Export {
            path: path.to_path_buf(),
            message: format!("cannot encode image: {e}"),
        })?;
        Ok(out)
    }
}

/// JPEG quality of [`ImageFormat::Jpeg`], as the reference exporter writes its images.
const JPEG_QUALITY: u8 = 90;

/// Baseline JPEG, quality 90, 4:2:0 chroma subsampling (what PIL and OpenCV write by
/// default, so the puzzles look like the reference's), through the crate's own integer
/// encoder ([`super::jpeg`]): the same bytes on every machine and thread count.
fn encode_jpeg(img: &RgbImage, path: &Path) -> Result<Vec<u8>> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 || w > super::jpeg::MAX_SIDE || h > super::jpeg::MAX_SIDE {
        return Err(Error::Export {
            path: path.to_path_buf(),
            message: format!(
                "cannot encode image: {w}x{h} is not within JPEG's 1..={} px",
                super::jpeg::MAX_SIDE
            ),
        });
    }
    Ok(super::jpeg::encode_rgb(img.as_raw(), w, h, JPEG_QUALITY))
}

impl std::str::FromStr for ImageFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(ImageFormat::Png),
            "jpg" | "jpeg" => Ok(ImageFormat::Jpeg),
            _ => Err(Error::InvalidOption {
                option: "image-format",
                message: format!("{s:?} is not png or jpeg"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_png_loses_alpha_and_keeps_colour() {
        let mut rgba = image::RgbaImage::new(3, 2);
        rgba.put_pixel(1, 1, image::Rgba([9, 8, 7, 0]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgba8(rgba)
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        let rgb = decode_rgb(&bytes, Path::new("a.png")).unwrap();
        assert_eq!((rgb.width(), rgb.height()), (3, 2));
        assert_eq!(rgb.get_pixel(1, 1).0, [9, 8, 7]);
    }

    #[test]
    fn corrupt_image_names_the_file() {
        let e = decode_rgb(b"\x89PNG\r\n\x1a\nbroken", Path::new("dir/broken.png")).unwrap_err();
        assert!(matches!(e, Error::Image { .. }));
        assert!(e.to_string().contains("dir/broken.png"), "{e}");
    }

    #[test]
    fn encoders_are_deterministic_and_lossless_png() {
        let img = RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, (x ^ y) as u8])
        });
        let p = Path::new("x");
        let a = ImageFormat::Png.encode(&img, p).unwrap();
        assert_eq!(a, ImageFormat::Png.encode(&img, p).unwrap());
        assert_eq!(decode_rgb(&a, p).unwrap(), img);
        let j = ImageFormat::Jpeg.encode(&img, p).unwrap();
        assert_eq!(j, ImageFormat::Jpeg.encode(&img, p).unwrap());
        assert_eq!(decode_rgb(&j, p).unwrap().dimensions(), (37, 23));
    }

    /// FNV-1a, 64 bit: a fixed digest to pin encoder output across machines and versions.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The exported JPEG bytes are part of the dataset's reproducibility promise. The crate's
    /// encoder computes in integers only, so the digest is the same on every CPU (on x86-64
    /// with or without AVX2, see `jpeg::tests::avx2_and_baseline_agree`) and thread count; it
    /// fails when the encoder's output changes, which must then be a deliberate re-pin.
    /// Re-pinned when `jpeg-encoder` was replaced (was 1972 bytes, 5706339763361604367).
    #[test]
    fn jpeg_bytes_are_pinned() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let img = RgbImage::from_fn(67, 45, |x, y| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let n = (s >> 56) as u8 / 8;
            image::Rgb([(x * 3) as u8 ^ n, (y * 5) as u8 + n, ((x + y) * 2) as u8])
        });
        let j = ImageFormat::Jpeg.encode(&img, Path::new("x.jpg")).unwrap();
        assert_eq!((j.len(), fnv1a(&j)), (1869, 6_950_308_945_115_385_313));
    }

    #[test]
    fn jpeg_is_quality_90_with_420_chroma() {
        let img = RgbImage::from_pixel(40, 24, image::Rgb([200, 30, 60]));
        let j = ImageFormat::Jpeg.encode(&img, Path::new("x.jpg")).unwrap();
        // SOF0: FFC0, length, precision, height, width, 3 components (id, HxV, table).
        let sof = j.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        let f = &j[sof + 2..sof + 19];
        assert_eq!(u16::from_be_bytes([f[3], f[4]]), 24);
        assert_eq!(u16::from_be_bytes([f[5], f[6]]), 40);
        assert_eq!((f[7], f[9], f[12], f[15]), (3, 0x22, 0x11, 0x11));
        let back = decode_rgb(&j, Path::new("x.jpg")).unwrap();
        let px = back.get_pixel(20, 12).0;
        for (a, b) in px.iter().zip([200u8, 30, 60]) {
            assert!(a.abs_diff(b) <= 3, "{px:?}");
        }
        let wide = RgbImage::new(70_000, 1);
        assert!(matches!(
            ImageFormat::Jpeg.encode(&wide, Path::new("w.jpg")),
            Err(Error::Export { .. })
        ));
    }
}
