//! A direct PNG path for the common case: 8-bit RGB or RGBA, not interlaced, no animation,
//! no EXIF. Rows are decoded straight into the final RGB buffer (alpha dropped as it goes),
//! skipping `image`'s full-size RGBA intermediate and its second conversion pass.
//!
//! Everything else, and any file this path cannot decode, goes back to `image` (see
//! [`super::rgb::decode_rgb`]), so pixels, accepted files and error messages stay those of
//! `image`'s decoder.

use std::io::Cursor;

use image::RgbImage;

/// Decodes `bytes` (a whole PNG file) as RGB8 when it is the common case; `None` sends the
/// caller to the general decoder (other layouts, EXIF orientation, APNG, or a decode error,
/// which the general decoder then reports in its own words).
pub(crate) fn decode_common_rgb(bytes: &[u8]) -> Option<RgbImage> {
    // The same reader settings as `image`'s PNG decoder: no allocation limit, text chunks
    // parsed, sub-byte samples and tRNS expanded. With them a header it refuses is refused
    // here too.
    let mut decoder =
        ::png::Decoder::new_with_limits(Cursor::new(bytes), ::png::Limits { bytes: usize::MAX });
    decoder.set_ignore_text_chunk(false);
    decoder.set_transformations(::png::Transformations::EXPAND);
    let mut reader = decoder.read_info().ok()?;
    let info = reader.info();
    // An eXIf chunk may rotate the picture and an animation may replace it: `image` handles both.
    if info.interlaced || info.animation_control.is_some() || info.exif_metadata.is_some() {
        return None;
    }
    let (width, height) = info.size();
    let channels = match reader.output_color_type() {
        (::png::ColorType::Rgb, ::png::BitDepth::Eight) => 3,
        (::png::ColorType::Rgba, ::png::BitDepth::Eight) => 4,
        _ => return None,
    };
    let (w, h) = (width as usize, height as usize);
    // Zeroed by the allocator (fresh pages), not by a pass over the buffer.
    let mut out = vec![0u8; w.checked_mul(h)?.checked_mul(3)?];
    let mut rgba = vec![0u8; w * channels];
    for dst in out.chunks_exact_mut(w * 3) {
        if channels == 3 {
            reader.read_row(dst).ok()??;
        } else {
            reader.read_row(&mut rgba).ok()??;
            for (d, s) in dst.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
                d.copy_from_slice(&s[..3]);
            }
        }
    }
    // Past the last row the reader skips what is left of the image data, checking its CRCs,
    // as `image` does after a whole frame.
    match reader.read_row(&mut rgba) {
        Ok(None) => RgbImage::from_raw(width, height, out),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of pseudo-random, locally smooth pixels (so every filter type gets chosen).
    fn encode(
        (w, h): (u32, u32),
        color: ::png::ColorType,
        filter: ::png::Filter,
        extra: impl FnOnce(&mut ::png::Encoder<'_, &mut Vec<u8>>),
    ) -> Vec<u8> {
        let samples = match color {
            ::png::ColorType::Rgb => 3,
            ::png::ColorType::Rgba => 4,
            ::png::ColorType::GrayscaleAlpha => 2,
            _ => 1,
        };
        let mut s = u64::from(w * 31 + h * 7 + samples);
        let data: Vec<u8> = (0..w * h * samples)
            .map(|i| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (i / 5) as u8 ^ ((s >> 60) as u8)
            })
            .collect();
        let mut out = Vec::new();
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_filter(filter);
        extra(&mut enc);
        enc.write_header().unwrap().write_image_data(&data).unwrap();
        out
    }

    fn through_image(bytes: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .unwrap()
            .into_rgb8()
    }

    #[test]
    fn rgb_and_rgba_match_image_for_every_filter() {
        use ::png::{ColorType, Filter};
        for size in [(1, 1), (2, 7), (17, 5), (64, 33)] {
            for color in [ColorType::Rgb, ColorType::Rgba] {
                for filter in [
                    Filter::NoFilter,
                    Filter::Sub,
                    Filter::Up,
                    Filter::Avg,
                    Filter::Paeth,
                    Filter::Adaptive,
                ] {
                    let png = encode(size, color, filter, |_| {});
                    let ours = decode_common_rgb(&png).expect("common case");
                    assert_eq!(ours, through_image(&png), "{size:?} {color:?} {filter:?}");
                }
            }
        }
    }

    #[test]
    fn palette_and_transparency_expand_like_image() {
        let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
        let png = encode((9, 4), ::png::ColorType::Indexed, ::png::Filter::Sub, |e| {
            e.set_palette(palette);
            e.set_trns(vec![0u8, 128, 255]);
        });
        assert_eq!(decode_common_rgb(&png).unwrap(), through_image(&png));
        let png = encode((9, 4), ::png::ColorType::Rgb, ::png::Filter::Up, |e| {
            e.set_trns(vec![0u8, 1, 0, 2, 0, 3]);
        });
        assert_eq!(decode_common_rgb(&png).unwrap(), through_image(&png));
    }

    #[test]
    fn other_layouts_and_exif_go_to_image() {
        let grey = encode(
            (5, 5),
            ::png::ColorType::Grayscale,
            ::png::Filter::Sub,
            |_| {},
        );
        assert!(decode_common_rgb(&grey).is_none());
        let mut exif = Vec::new();
        let mut enc = ::png::Encoder::new(&mut exif, 2, 2);
        enc.set_color(::png::ColorType::Rgb);
        let mut writer = enc.write_header().unwrap();
        // A little-endian TIFF header whose one IFD entry says "rotate 90° clockwise".
        let tiff = [
            b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
            0,
        ];
        writer.write_chunk(::png::chunk::eXIf, &tiff).unwrap();
        writer.write_image_data(&[7; 12]).unwrap();
        drop(writer);
        assert!(decode_common_rgb(&exif).is_none());
    }

    #[test]
    fn corrupt_or_short_image_data_is_left_to_image() {
        let png = encode(
            (40, 30),
            ::png::ColorType::Rgb,
            ::png::Filter::Paeth,
            |_| {},
        );
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let mut bad = png.clone();
        bad[idat + 30] ^= 0x40; // inside the image data: its chunk's CRC no longer holds
        assert!(decode_common_rgb(&bad).is_none());
        assert!(decode_common_rgb(&png[..idat + 40]).is_none());
    }

    #[test]
    fn fixture_pngs_match_image() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/reference_inputs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            {
                let bytes = std::fs::read(&path).unwrap();
                let ours = decode_common_rgb(&bytes).expect("8-bit RGB(A) fixture");
                assert!(ours == through_image(&bytes), "{path:?}");
                seen += 1;
            }
        }
        assert!(seen > 0, "no PNG fixture in {dir:?}");
    }
}
