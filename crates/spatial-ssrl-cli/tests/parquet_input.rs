//! `generate --parquet`: a Hugging Face style image dataset (an `image` column of
//! `struct<bytes, path>`) as the sources, one per row.

use std::io::Cursor;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use spatial_ssrl_tasks::image::{ImageFormat, Rgb, RgbImage};

use crate::util::{cmd, run_ok};

#[test]
fn generate_reads_a_parquet_image_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("train-00000-of-00001.parquet");
    let schema = "message schema { optional group image { optional binary bytes; optional binary path (STRING); } }";
    let mut w = SerializedFileWriter::new(
        std::fs::File::create(&file).unwrap(),
        Arc::new(parse_message_type(schema).unwrap()),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let pngs: Vec<ByteArray> = (0..3u32)
        .map(|i| {
            let img = RgbImage::from_fn(56 + 8 * i, 40, |x, y| {
                let v = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ i;
                Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
            });
            let mut bytes = Cursor::new(Vec::new());
            img.write_to(&mut bytes, ImageFormat::Png).unwrap();
            ByteArray::from(bytes.into_inner())
        })
        .collect();
    let names: Vec<ByteArray> = (0..3)
        .map(|i| ByteArray::from(format!("{i}.png").as_str()))
        .collect();
    let mut rg = w.next_row_group().unwrap();
    for values in [pngs, names] {
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&values, Some(&[2, 2, 2]), None)
            .unwrap();
        col.close().unwrap();
    }
    rg.close().unwrap();
    w.close().unwrap();

    let out = tmp.path().join("out");
    let log = run_ok(
        cmd()
            .args(["generate", "--tasks", "flip", "--parquet"])
            .arg(&file)
            .arg("--out")
            .arg(&out),
    );
    assert!(log.contains("3 sources -> 3 samples"), "{log}");
    let rows = spatial_ssrl_tasks::read_dataset(&out).unwrap();
    let sources: Vec<&str> = rows.iter().map(|(_, r)| r.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "train-00000-of-00001/000000",
            "train-00000-of-00001/000001",
            "train-00000-of-00001/000002"
        ]
    );
    // A column that is not there is refused up front.
    let mut bad = cmd();
    bad.args(["generate", "--parquet"])
        .arg(&file)
        .args(["--image-column", "photo", "--out"])
        .arg(tmp.path().join("bad"));
    let res = bad.output().unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("photo"));
}
