#[cfg(target_arch = "x86_64")]
use super::dct::zigzag_mask_avx2;
use super::dct::{Lanes, dct8, quantise, transform, transpose};
use super::tables::ZIGZAG_T;
use super::*;
use image::RgbImage;

/// A deterministic photo-like test picture: smooth gradients plus xorshift noise and edges.
fn picture(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed | 1;
    RgbImage::from_fn(w, h, |x, y| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let n = (s >> 59) as u32;
        let edge = if (x / 13 + y / 9) % 3 == 0 { 90 } else { 0 };
        image::Rgb([
            ((x * 255 / w.max(1)) + n + edge).min(255) as u8,
            ((y * 255 / h.max(1)) + 2 * n) as u8,
            (((x + y) * 3) as u8).wrapping_add(edge as u8),
        ])
    })
}

fn decode(bytes: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .expect("decodable JPEG")
        .into_rgb8()
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let se: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

fn encode(img: &RgbImage) -> Vec<u8> {
    encode_rgb(img.as_raw(), img.width(), img.height(), 90)
}

/// The integer DCT against the textbook formula: within one quantisation step of 1.
#[test]
fn dct_matches_the_float_formula() {
    let unit = Component::new(&[1; 64], &LUMA_DC, &LUMA_AC);
    let img = picture(8, 8, 7);
    let plane: Vec<i16> = img.pixels().map(|p| i16::from(p[1]) - 128).collect();
    let mut q = [0i16; 64];
    transform(&plane, 8, &unit, &mut q);
    let c = |k: usize| if k == 0 { 0.5f64.sqrt() } else { 1.0 };
    for (k, &n) in ZIGZAG.iter().enumerate() {
        let (v, u) = (n / 8, n % 8);
        let mut sum = 0.0;
        for (i, &s) in plane.iter().enumerate() {
            let (y, x) = ((i / 8) as f64, (i % 8) as f64);
            sum += f64::from(s)
                * ((2.0 * x + 1.0) * u as f64 * std::f64::consts::PI / 16.0).cos()
                * ((2.0 * y + 1.0) * v as f64 * std::f64::consts::PI / 16.0).cos();
        }
        let want = 0.25 * c(u) * c(v) * sum;
        assert!(
            (f64::from(q[ZIGZAG_T[k]]) - want).abs() <= 1.0,
            "coefficient ({v},{u}): {} vs {want:.2}",
            q[ZIGZAG_T[k]]
        );
    }
}

/// Every size class (1 px, odd, not a multiple of 8 or 16, wide, tall) decodes to the right
/// size and close colours.
#[test]
fn odd_sizes_decode_close_to_the_input() {
    for (w, h) in [
        (1, 1),
        (2, 3),
        (7, 5),
        (17, 9),
        (33, 16),
        (16, 33),
        (100, 3),
    ] {
        let img = picture(w, h, u64::from(w * 31 + h));
        let back = decode(&encode(&img));
        assert_eq!(back.dimensions(), (w, h));
        let flat = RgbImage::from_pixel(w, h, image::Rgb([200, 30, 60]));
        let flat_back = decode(&encode(&flat));
        for p in flat_back.pixels() {
            for (a, b) in p.0.iter().zip([200u8, 30, 60]) {
                assert!(a.abs_diff(b) <= 3, "{w}x{h}: {:?}", p.0);
            }
        }
    }
}

/// Quality against `jpeg-encoder` (the encoder this one replaced; same tables, quality 90,
/// 4:2:0) on every picture in the reference fixtures and a synthetic one: PSNR within
/// 0.3 dB or better, size within 10%.
#[test]
fn quality_matches_the_previous_encoder() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut pictures = vec![picture(203, 117, 3)];
    for dir in ["reference_inputs", "reference_inputs/rgbd-small"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
            .collect();
        files.sort();
        for f in files {
            pictures.push(image::open(&f).expect("fixture image").into_rgb8());
        }
    }
    assert!(pictures.len() > 2, "no fixture pictures found");
    for img in &pictures {
        let ours = encode(img);
        let mut theirs = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut theirs, 90);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        enc.encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("jpeg-encoder");
        let (p_ours, p_theirs) = (psnr(img, &decode(&ours)), psnr(img, &decode(&theirs)));
        let size = ours.len() as f64 / theirs.len() as f64;
        eprintln!(
            "{}x{}: PSNR {p_ours:.2} vs {p_theirs:.2} dB, size {} vs {}",
            img.width(),
            img.height(),
            ours.len(),
            theirs.len()
        );
        assert!(
            p_ours > p_theirs - 0.3 && (0.9..1.1).contains(&size),
            "{}x{}: PSNR {p_ours:.2} vs {p_theirs:.2} dB, size {} vs {}",
            img.width(),
            img.height(),
            ours.len(),
            theirs.len()
        );
    }
}

/// The guarantee the exporter relies on: on x86-64 the AVX2 build, the AVX-512 build (where
/// the CPU has it) and the baseline build write the same bytes (integer arithmetic, only the
/// instructions differ). Each build runs
/// on a fresh thread, so neither copies MCUs from the other's encode (`reuse`).
#[test]
fn avx2_and_baseline_agree() {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        for (w, h) in [(1, 1), (31, 17), (64, 48), (250, 130)] {
            let img = picture(w, h, 11);
            let fresh = |f: fn(&[u8], u32, u32, u8) -> Vec<u8>| {
                let raw = img.as_raw().clone();
                std::thread::spawn(move || f(&raw, w, h, 90))
                    .join()
                    .expect("encoder thread")
            };
            let base = fresh(encode_portable);
            // SAFETY: the features are present (checked above).
            let avx2 = fresh(|raw, w, h, q| unsafe { encode_avx2(raw, w, h, q) });
            assert_eq!(base, avx2, "{w}x{h}");
            if has_avx512() {
                // SAFETY: as above, and AVX-512F/BW checked too.
                let avx512 = fresh(|raw, w, h, q| unsafe { encode_avx512(raw, w, h, q) });
                assert_eq!(base, avx512, "{w}x{h}, AVX-512");
            }
        }
    }
    // Elsewhere there is one build, and the pinned digest in `rgb.rs` covers it.
}

/// Same bytes whichever thread, and however many threads, encode the pictures.
#[test]
fn bytes_do_not_depend_on_the_thread_count() {
    use rayon::prelude::*;
    let pictures: Vec<RgbImage> = (0..6)
        .map(|i| picture(40 + i * 9, 30 + i * 5, i.into()))
        .collect();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| pictures.par_iter().map(encode).collect::<Vec<_>>())
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, pictures.iter().map(encode).collect::<Vec<_>>());
}

/// 0xFF bytes in the entropy-coded data are followed by a stuffed 0x00.
#[test]
fn ff_bytes_are_stuffed() {
    let img = picture(96, 64, 5);
    let bytes = encode(&img);
    let sos = bytes
        .windows(2)
        .position(|w| w == [0xff, 0xda])
        .expect("SOS");
    let data = &bytes[sos + 2 + 12..bytes.len() - 2];
    for (i, w) in data.windows(2).enumerate() {
        if w[0] == 0xff {
            assert_eq!(w[1], 0, "unstuffed 0xFF at {i}");
        }
    }
    assert_eq!(&bytes[bytes.len() - 2..], &[0xff, 0xd9]);
}

/// The zig-zag mask of both builds marks exactly the non-zero coefficients.
#[test]
fn zigzag_mask_marks_the_nonzero_coefficients() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for density in [0u64, 1, 8, 32, 64] {
        let q: [i16; 64] = std::array::from_fn(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let r = state >> 33;
            if r % 64 < density {
                (r >> 8) as i16 | 1
            } else {
                0
            }
        });
        let want = (0..64).fold(0u64, |m, k| m | u64::from(q[ZIGZAG_T[k]] != 0) << k);
        assert_eq!(zigzag_mask::<false>(&q), want, "density {density}");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above).
            assert_eq!(unsafe { zigzag_mask_avx2(&q) }, want, "density {density}");
        }
    }
}

/// The 16-bit quantiser equals the 32-bit formula `((|x| + half) * recip) >> 18` over the
/// whole coefficient range and every table entry.
#[test]
fn quantise_matches_the_32_bit_formula() {
    let mut table = [0u16; 64];
    for (e, q) in table.iter_mut().zip((1..=255).step_by(4)) {
        *e = q;
    }
    let comp = Component::new(&table, &LUMA_DC, &LUMA_AC);
    for (&half, &recip) in comp.half.iter().zip(&comp.recip) {
        for x in -8 * 2048..=8 * 2048i32 {
            let m = (((x.abs() + i32::from(half)) * i32::from(recip)) >> RECIP_BITS).min(1023);
            let want = if x < 0 { -m } else { m };
            assert_eq!(
                i32::from(quantise(x as i16, half, recip)),
                want,
                "{x} {half}"
            );
        }
    }
}

/// The bound `quantise` relies on: DCT outputs of the most extreme blocks (flat black and
/// white, checkerboards, stripes) stay within 8 * 2048 in magnitude.
#[test]
fn dct_outputs_stay_in_the_16_bit_range() {
    let patterns: [fn(usize, usize) -> bool; 5] = [
        |_, _| true,
        |_, _| false,
        |y, x| (x + y) % 2 == 0,
        |_, x| x % 2 == 0,
        |y, _| y < 4,
    ];
    for pattern in patterns {
        let rows = std::array::from_fn(|y| {
            Lanes(std::array::from_fn(
                |x| if pattern(y, x) { 127 } else { -128 },
            ))
        });
        let f = dct8(transpose(dct8(rows, false)), true);
        for v in f.iter().flat_map(|l| l.0) {
            assert!(v.abs() <= 8 * 2048, "{v}");
        }
    }
}

/// Reusing this thread's previous encode changes no byte: pictures that differ from the one
/// before in rectangles (edges included), in one pixel, or not at all, encode exactly as on
/// a fresh thread, which has nothing to reuse.
#[test]
fn reuse_changes_no_byte() {
    let fresh = |img: &RgbImage| {
        let img = img.clone();
        std::thread::spawn(move || encode(&img))
            .join()
            .expect("encoder thread")
    };
    for (w, h) in [(83, 61), (64, 32), (17, 40)] {
        let base = picture(w, h, u64::from(w));
        let mut img = base.clone();
        let mut sequence = vec![base.clone(), base.clone()];
        for (x0, y0, x1, y1) in [(5, 3, 40, 30), (w - 9, h - 20, w, h), (0, 0, w / 3, 1)] {
            for y in y0..y1.min(h) {
                for x in x0..x1.min(w) {
                    img.put_pixel(x, y, image::Rgb([0, 0, 0]));
                }
            }
            sequence.push(img.clone());
        }
        let mut one = base.clone();
        one.put_pixel(w / 2, h / 2, image::Rgb([255, 255, 255]));
        sequence.extend([one, base.clone(), picture(h, w, 1), base.clone()]);
        // Unrelated pictures in a row (the size rests between comparisons), then repeats.
        sequence.extend((2..14).map(|s| picture(w, h, s)));
        sequence.extend([base.clone(), base.clone(), base]);
        for img in &sequence {
            assert!(encode(img) == fresh(img), "{w}x{h}");
        }
    }
}

/// Crop's pattern against the held MCUs (`reuse`): a source with a black square that moves
/// each time, touching the picture's edges, overlapping the previous square or covering it,
/// with pictures of another size and of unrelated content in between. Every encode must equal
/// a fresh thread's.
#[test]
fn held_mcus_change_no_byte() {
    let fresh = |img: &RgbImage| {
        let img = img.clone();
        std::thread::spawn(move || encode(&img))
            .join()
            .expect("encoder thread")
    };
    let blacked = |base: &RgbImage, (x0, y0, side): (u32, u32, u32), colour: [u8; 3]| {
        let mut img = base.clone();
        for y in y0..(y0 + side).min(base.height()) {
            for x in x0..(x0 + side).min(base.width()) {
                img.put_pixel(x, y, image::Rgb(colour));
            }
        }
        img
    };
    for (w, h) in [(150, 97), (96, 64)] {
        let base = picture(w, h, 7);
        let other = picture(h, w, 8);
        let side = w.min(h) / 2;
        let squares = [
            (w - side, h - side, side),
            (0, 0, side),
            (5, 3, side),
            (20, 17, side),
            (w - side, 0, side),
            (0, h - side, side),
            (w - side - 1, h - side - 3, side),
            (0, 0, w.max(h)),
            (33, 21, side / 2),
            (w / 2, h / 2, 1),
        ];
        let mut sequence = Vec::new();
        for (k, &sq) in squares.iter().enumerate() {
            let colour = if k % 4 == 3 { [200, 40, 7] } else { [0, 0, 0] };
            sequence.push(blacked(&base, sq, colour));
            // Another size in between (crop's candidates), and now and then an unrelated
            // picture of the same size or the source itself.
            sequence.push(blacked(&other, sq, [0, 0, 0]));
            match k % 3 {
                0 => sequence.push(picture(w, h, k as u64 + 20)),
                1 => sequence.push(base.clone()),
                _ => {}
            }
        }
        for img in &sequence {
            assert!(encode(img) == fresh(img), "{w}x{h}");
        }
    }
}

/// `BitWriter::copy` appends exactly the bits it is given, whatever the writer's fill and
/// the range's offset and length (whole registers, partial ones, across the buffer's end).
#[test]
fn copied_bits_equal_written_bits() {
    use super::huffman::BitWriter;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let source: Vec<u64> = (0..600).map(|_| next()).collect();
    let bit = |p: u64| (source[(p / 64) as usize] >> (63 - p % 64)) & 1;
    let (mut copied, mut bits) = (BitWriter::new(0), Vec::new());
    for _ in 0..400 {
        let from = next() % (64 * 590);
        let len = match next() % 4 {
            0 => next() % 70,
            1 => 64 * (next() % 3),
            _ => next() % 3000,
        };
        let to = (from + len).min(64 * 600);
        copied.copy(&source, from, to);
        bits.extend((from..to).map(bit));
    }
    let stream = copied.into_stream();
    assert_eq!(stream.len(), bits.len().div_ceil(64));
    for (p, &b) in bits.iter().enumerate() {
        assert_eq!((stream[p / 64] >> (63 - p % 64)) & 1, b, "bit {p}");
    }
}

/// The AVX2 pair transform gives the portable transform's coefficients on the extreme
/// blocks (flat -128 and 128, the chroma extremes; checkerboards, stripes, ramps) and on
/// random ones, for both tables.
#[test]
fn avx2_pair_equals_the_portable_transform() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let patterns: [fn(usize, usize) -> bool; 6] = [
            |_, _| true,
            |_, _| false,
            |y, x| (x + y) % 2 == 0,
            |_, x| x % 2 == 0,
            |y, _| y < 4,
            |y, x| (x < 4) != (y % 2 == 0),
        ];
        let mut blocks: Vec<[i16; 64]> = Vec::new();
        for (lo, hi) in [(-128, 127), (-127, 128), (-128, 128)] {
            for p in patterns {
                blocks.push(std::array::from_fn(
                    |i| if p(i / 8, i % 8) { hi } else { lo },
                ));
            }
        }
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            blocks.push(std::array::from_fn(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 257) as i16 - 128
            }));
        }
        let tables = [
            Component::new(&scaled_table(&LUMA_QUANT, 90), &LUMA_DC, &LUMA_AC),
            Component::new(&[1; 64], &CHROMA_DC, &CHROMA_AC),
        ];
        for comp in &tables {
            for pair in blocks.chunks_exact(2) {
                let want: Vec<[i16; 64]> = pair
                    .iter()
                    .map(|b| {
                        let mut q = [0i16; 64];
                        transform(b, 8, comp, &mut q);
                        q
                    })
                    .collect();
                let (mut a, mut b) = ([0i16; 64], [0i16; 64]);
                // SAFETY: AVX2 is present (checked above).
                unsafe {
                    super::dct_avx2::transform_pair(
                        (&pair[0], 8),
                        (&pair[1], 8),
                        comp,
                        [&mut a, &mut b],
                    )
                };
                assert_eq!(vec![a, b], want, "{:?}", pair[0]);
            }
        }
    }
}

/// A flat MCU's shortcut (its colour's Y/Cb/Cr, each block its DC alone) gives what the
/// strip conversion and the transform give for it, for every sample value, both tables, at
/// the image edge (odd sizes, padding) too; one different pixel anywhere disables it.
#[test]
fn flat_mcus_code_as_converted_and_transformed() {
    let tables = [
        Component::new(&scaled_table(&LUMA_QUANT, 90), &LUMA_DC, &LUMA_AC),
        Component::new(&scaled_table(&CHROMA_QUANT, 90), &CHROMA_DC, &CHROMA_AC),
    ];
    for v in -128..=128i16 {
        for comp in &tables {
            let mut want = [0i16; 64];
            transform(&[v; 64], 8, comp, &mut want);
            assert_eq!(dct::flat_block(v, comp), want, "{v}");
        }
    }
    for (w, h) in [(16, 16), (5, 3), (21, 17)] {
        for px in [
            [0, 0, 0],
            [255, 255, 255],
            [0, 0, 255],
            [255, 0, 0],
            [17, 200, 93],
        ] {
            let img = RgbImage::from_pixel(w, h, image::Rgb(px));
            let (w, h) = (w as usize, h as usize);
            assert_eq!(colour::flat_mcu(img.as_raw(), (w, h), 0, 0), Some(px));
            let stride = w.div_ceil(16) * 16;
            let mut strip = colour::Strip {
                y: vec![0; 16 * stride],
                cb: vec![0; 8 * stride / 2],
                cr: vec![0; 8 * stride / 2],
                stride,
            };
            strip.fill::<false>(img.as_raw(), (w, h), 0, 0, 16);
            let (y, cb, cr) = colour::ycbcr(px);
            let row = |plane: &[i16], r: usize| plane[r * stride / 2..][..8].to_vec();
            for r in 0..16 {
                assert!(
                    strip.y[r * stride..][..16].iter().all(|&s| s == y),
                    "{px:?}"
                );
            }
            for r in 0..8 {
                assert!(row(&strip.cb, r).iter().all(|&s| s == cb), "{px:?}");
                assert!(row(&strip.cr, r).iter().all(|&s| s == cr), "{px:?}");
            }
            for (x, y) in [(0, 0), (w.min(16) - 1, h.min(16) - 1), (w.min(16) / 2, 1)] {
                let mut spot = img.clone();
                spot.put_pixel(x as u32, y as u32, image::Rgb([px[0] ^ 1, px[1], px[2]]));
                assert_eq!(colour::flat_mcu(spot.as_raw(), (w, h), 0, 0), None);
            }
        }
    }
}

/// Both builds prepare the same magnitude bits and sizes for every coefficient value a
/// quantised block can hold (`-1023..=1023`).
#[test]
fn prepared_symbols_agree_between_builds() {
    use super::huffman::Prepared;
    let values: Vec<i16> = (-1023..=1023).collect();
    for chunk in values.chunks(64) {
        let q: [i16; 64] = std::array::from_fn(|i| chunk.get(i).copied().unwrap_or(0));
        let mut base = Prepared::default();
        base.fill::<false>(&q);
        for (i, &v) in q.iter().enumerate() {
            let size = 16 - v.unsigned_abs().leading_zeros();
            assert_eq!(u32::from(base.size[i]), size, "{v}");
            let bits = if v < 0 {
                (v - 1) as u16 & ((1 << size) - 1)
            } else {
                v as u16
            };
            assert_eq!(base.magnitude[i], bits, "{v}");
        }
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            let mut fast = Prepared::default();
            // SAFETY: AVX2 is present (checked above).
            unsafe { fast.fill_avx2(&q) };
            assert_eq!((fast.magnitude, fast.size), (base.magnitude, base.size));
        }
    }
}

/// The AVX2 colour conversion fills the strip exactly as the scalar one: every width class
/// (groups of sixteen, the scalar tail, odd widths, padding), runs starting mid-row, and MCU
/// rows that run past the bottom edge.
#[test]
fn avx2_colour_conversion_equals_the_scalar_one() {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        for (w, h) in [(18, 16), (33, 20), (47, 9), (64, 33), (101, 40), (250, 17)] {
            let img = picture(w, h, u64::from(w * 7 + h));
            let (w, h) = (w as usize, h as usize);
            let stride = w.div_ceil(16) * 16;
            let strip = || colour::Strip {
                y: vec![0; 16 * stride],
                cb: vec![0; 8 * stride / 2],
                cr: vec![0; 8 * stride / 2],
                stride,
            };
            for y0 in (0..h).step_by(16) {
                for (x0, x1) in [(0, stride), (16, stride), (0, 16), (16, 32.min(stride))] {
                    if x0 >= w || x1 <= x0 {
                        continue;
                    }
                    let (mut base, mut fast) = (strip(), strip());
                    base.fill::<false>(img.as_raw(), (w, h), y0, x0, x1);
                    // SAFETY: AVX2 is present (checked above); `fill::<true>` only adds
                    // the AVX2 conversion.
                    unsafe { fill_with_avx2(&mut fast, img.as_raw(), (w, h), y0, (x0, x1)) };
                    let what = format!("{w}x{h} rows {y0}.. columns {x0}..{x1}");
                    assert_eq!(base.y, fast.y, "Y {what}");
                    assert_eq!((base.cb, base.cr), (fast.cb, fast.cr), "chroma {what}");
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_with_avx2(
    strip: &mut colour::Strip,
    rgb: &[u8],
    size: (usize, usize),
    y0: usize,
    (x0, x1): (usize, usize),
) {
    strip.fill::<true>(rgb, size, y0, x0, x1);
}
