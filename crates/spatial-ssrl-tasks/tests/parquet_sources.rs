//! Sources read from a parquet image dataset in Hugging Face layout (`image` and `depth` as
//! `struct{bytes, path}`), written here with two row groups and one page per value.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use spatial_ssrl_tasks::prelude::*;
use spatial_ssrl_tasks::{Pipeline, RunConfig, generate, read_parquet_sources, save_depth_npy};

const SCHEMA: &str = "
message schema {
  optional group image { optional binary bytes; optional binary path (STRING); }
  optional group depth { optional binary bytes; optional binary path (STRING); }
}";

/// One row: image file bytes and name, depth file bytes and (maybe) name.
struct Row {
    image: (Vec<u8>, &'static str),
    depth: (Vec<u8>, Option<&'static str>),
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, spatial_ssrl_tasks::image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn npy(dir: &Path, d: &DepthMap) -> Vec<u8> {
    let p = dir.join("tmp.npy");
    save_depth_npy(&p, d).unwrap();
    std::fs::read(p).unwrap()
}

fn write_parquet(path: &Path, groups: &[&[Row]]) {
    let schema = Arc::new(parse_message_type(SCHEMA).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_data_page_size_limit(1)
            .set_write_batch_size(1)
            .build(),
    );
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    for rows in groups {
        let mut rg = w.next_row_group().unwrap();
        let leaves: [Vec<Option<Vec<u8>>>; 4] = [
            // Empty image bytes stand for a null cell (the image is a file beside the dataset).
            rows.iter()
                .map(|r| Some(r.image.0.clone()).filter(|b| !b.is_empty()))
                .collect(),
            rows.iter()
                .map(|r| Some(r.image.1.as_bytes().to_vec()))
                .collect(),
            rows.iter().map(|r| Some(r.depth.0.clone())).collect(),
            rows.iter()
                .map(|r| r.depth.1.map(|p| p.as_bytes().to_vec()))
                .collect(),
        ];
        for leaf in leaves {
            let mut col = rg.next_column().unwrap().unwrap();
            let def: Vec<i16> = leaf
                .iter()
                .map(|v| if v.is_some() { 2 } else { 1 })
                .collect();
            let values: Vec<ByteArray> = leaf.into_iter().flatten().map(ByteArray::from).collect();
            col.typed::<ByteArrayType>()
                .write_batch(&values, Some(&def), None)
                .unwrap();
            col.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

fn picture(w: u32, h: u32, salt: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ salt;
        Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
}

fn ramp(w: u32, h: u32, step: f32) -> DepthMap {
    DepthMap::from_values(
        w,
        h,
        (0..w * h).map(|k| 1.0 + (k % w) as f32 * step).collect(),
    )
    .unwrap()
}

#[test]
fn parquet_rows_are_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let pictures: Vec<RgbImage> = (0..5).map(|i| picture(64 + 8 * i, 48, i)).collect();
    let depths: Vec<DepthMap> = (0..5)
        .map(|i| ramp(64 + 8 * i, 48, 0.05 * (i + 1) as f32))
        .collect();
    let row = |i: usize| Row {
        image: (png(&pictures[i]), "photo.png"),
        // The last row stores its depth without a file name: the bytes tell the format.
        depth: (npy(tmp.path(), &depths[i]), (i < 4).then_some("depth.npy")),
    };
    let mut rows: Vec<Row> = (0..5).map(row).collect();
    rows[2].image.0.truncate(100); // a cut-short PNG: that source fails, the others do not
    std::fs::write(data.join("photo3.png"), &rows[3].image.0).unwrap();
    rows[3].image = (Vec::new(), "photo3.png");
    let (first, second) = rows.split_at(3);
    let file = data.join("train-00000.parquet");
    write_parquet(&file, &[first, second]);

    let specs = read_parquet_sources(&file, "image", Some("depth")).unwrap();
    let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        (0..5)
            .map(|i| format!("train-00000/{i:06}"))
            .collect::<Vec<_>>()
    );
    for (i, spec) in specs.iter().enumerate() {
        if i == 2 {
            let e = spec.load().unwrap_err();
            assert_eq!(e.kind(), "image", "{e}");
            assert!(e.to_string().contains("row group 0 row 2"), "{e}");
            continue;
        }
        let scene = spec.load().unwrap();
        assert_eq!(*scene.rgb, pictures[i], "row {i}");
        assert_eq!(scene.depth.as_deref(), Some(&depths[i]), "row {i}");
    }
    // A folder of parquet files: ids are relative to it.
    let listed = read_parquet_sources(tmp.path(), "image", None).unwrap();
    assert_eq!(listed[4].id, "data/train-00000/000004");
    assert!(listed.iter().all(|s| s.depth.is_none()));
    let missing = read_parquet_sources(&file, "picture", None).unwrap_err();
    assert!(missing.to_string().contains("picture"), "{missing}");

    let registry = Registry::builtin(&TasksConfig::default());
    let pipeline = Pipeline::new(&registry, &["flip", "depth"], 3, 1).unwrap();
    let run = RunConfig::new(tmp.path().join("out"));
    let summary = generate(&pipeline, &specs, &run, &()).unwrap();
    assert_eq!(summary.samples["flip"]["train"], 4);
    assert!(summary.samples["depth"]["train"] > 0, "{summary:?}");
    assert_eq!(summary.failures[0].source, "train-00000/000002");
}
