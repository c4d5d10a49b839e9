//! RGB image decoding and encoding.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};

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
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let bad = |e: image::ImageError| Error::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
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

/// How sample images are encoded in the exported dataset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Lossless PNG (default compression, adaptive filter): byte-identical on every machine.
    #[default]
    Png,
    /// Baseline JPEG at quality 90: smaller, still deterministic (pure-Rust encoder).
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
            ImageFormat::Jpeg => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(img)
            }
        };
        res.map_err(|e| Error::Export {
            path: path.to_path_buf(),
            message: format!("cannot encode image: {e}"),
        })?;
        Ok(out)
    }
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
}
