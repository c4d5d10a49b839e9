//! Container checks that run before decoding: a JPEG must reach its end-of-image marker, a
//! PNG must be a complete chain of chunks with valid CRCs ending in `IEND`, an HDF5 file
//! must be as long as its superblock says.
//!
//! Decoders are lenient on purpose (a browser shows what it can of a half-downloaded
//! photo); `image`'s JPEG decoder fills the missing part of a truncated file with grey and
//! reports success. A training set must not contain such pictures, so a file that is not
//! whole is refused here with the reason.

/// Why bytes that start like a JPEG are not a complete JPEG file, if they are not.
///
/// Walks the marker segments (skipping each by its length, so EXIF thumbnails inside
/// `APP1` are never mistaken for the end) and the entropy-coded data of every scan (where a
/// `0xFF` byte is stuffed or a restart marker) until the `EOI` marker.
pub(crate) fn jpeg_problem(bytes: &[u8]) -> Option<String> {
    const TRUNCATED: &str = "truncated JPEG: the file ends before its end-of-image marker";
    let n = bytes.len();
    let mut i = 2; // past SOI
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if i >= n || bytes[i] != 0xFF {
            return Some(if i >= n {
                TRUNCATED.into()
            } else {
                format!("corrupt JPEG: expected a marker at byte {i}")
            });
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return Some(TRUNCATED.into());
        };
        i += 1;
        match marker {
            0xD9 => return None,
            // Standalone markers: no length field.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2) else {
            return Some(TRUNCATED.into());
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Some(format!("corrupt JPEG: segment length {len} at byte {i}"));
        }
        i += len;
        if i > n {
            return Some(TRUNCATED.into());
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00
            // nor a restart marker.
            loop {
                match bytes[i..].iter().position(|&b| b == 0xFF) {
                    None => return Some(TRUNCATED.into()),
                    Some(at) => i += at,
                }
                match bytes.get(i + 1) {
                    None => return Some(TRUNCATED.into()),
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Why bytes that start with the PNG signature are not a complete PNG file, if they are not:
/// a chunk cut short, a CRC mismatch (a corrupted byte), or no `IEND` chunk at the end.
pub(crate) fn png_problem(bytes: &[u8]) -> Option<String> {
    let n = bytes.len();
    let mut i = 8; // past the signature
    while i < n {
        let Some(head) = bytes.get(i..i + 8) else {
            return Some("truncated PNG: a chunk header is cut short".into());
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        let end = (i + 8).checked_add(len).and_then(|e| e.checked_add(4));
        let Some(end) = end.filter(|&e| e <= n) else {
            return Some(format!(
                "truncated PNG: chunk {} at byte {i} is cut short",
                String::from_utf8_lossy(kind)
            ));
        };
        let stored = u32::from_be_bytes([
            bytes[end - 4],
            bytes[end - 3],
            bytes[end - 2],
            bytes[end - 1],
        ]);
        // Image data is most of the file and the decoder checks its CRCs as it reads it;
        // checking it here too would cost as much as a third of the decode.
        if kind != b"IDAT" && crc32(&bytes[i + 4..end - 4]) != stored {
            return Some(format!(
                "corrupt PNG: CRC mismatch in chunk {} at byte {i}",
                String::from_utf8_lossy(kind)
            ));
        }
        if kind == b"IEND" {
            return None;
        }
        i = end;
    }
    Some("truncated PNG: no IEND chunk".into())
}

/// Why bytes that start with the HDF5 signature are shorter than the file they claim to be:
/// the superblock records the end-of-file address, and a truncated copy falls short of it
/// (parts of a dataset would otherwise read as the fill value).
pub(crate) fn hdf5_problem(bytes: &[u8]) -> Option<String> {
    const SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        return None; // not at offset 0 (a user block); the reader judges it
    }
    let version = *bytes.get(8)?;
    // Where "size of offsets" sits, and how far past it the base address starts.
    let (size_at, base_at) = match version {
        0 => (13, 24),
        1 => (13, 28),
        2 | 3 => (9, 12),
        _ => return None,
    };
    let size = usize::from(*bytes.get(size_at)?);
    if !matches!(size, 2 | 4 | 8) {
        return Some(format!("corrupt HDF5: size of offsets {size}"));
    }
    let read = |at: usize| -> Option<u64> {
        let b = bytes.get(at..at + size)?;
        Some(b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x)))
    };
    // v0/v1: base, free-space, end-of-file; v2/v3: base, superblock extension, end-of-file.
    let base = read(base_at)?;
    let eof = read(base_at + 2 * size)?;
    let need = base.saturating_add(eof);
    (need > bytes.len() as u64).then(|| {
        format!(
            "truncated HDF5: the file holds {} bytes, its superblock says {need}",
            bytes.len()
        )
    })
}

/// CRC-32 (ISO-HDLC, the PNG/zlib polynomial), slicing-by-one table.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut k = 0;
        while k < 256 {
            let mut c = k as u32;
            let mut j = 0;
            while j < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                j += 1;
            }
            t[k] = c;
            k += 1;
        }
        t
    };
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn png_walk_checks_header_crcs_and_iend() {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(5, 4, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(png_problem(&png), None);
        let mut bad = png.clone();
        bad[16 + 3] ^= 1; // the width, inside IHDR
        assert!(png_problem(&bad).is_some_and(|m| m.contains("CRC mismatch in chunk IHDR")));
        assert!(png_problem(&png[..png.len() - 12]).is_some_and(|m| m.contains("IEND")));
    }

    #[test]
    fn jpeg_walk_skips_segments_and_stuffed_bytes() {
        // SOI, APP1 whose payload holds a fake EOI, SOS with 0xFF00 and RST0 in the scan, EOI.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0xFF, 0xD9];
        j.extend([
            0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56,
        ]);
        assert!(jpeg_problem(&j).is_some_and(|m| m.contains("truncated")));
        j.extend([0xFF, 0xD9]);
        assert_eq!(jpeg_problem(&j), None);
        assert!(jpeg_problem(&j[..7]).is_some());
    }
}
