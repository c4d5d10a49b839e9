//! Parquet shards in the layout EasyR1 reads (and Hugging Face `datasets` writes):
//! `problem`, `answer` strings, `images` as `list<struct<bytes: binary, path: string>>`,
//! plus `task`, `source` and `metadata` strings.
//!
//! Written with parquet's column writers directly (no Arrow): the definition and repetition
//! levels of the one nested column are simple enough to compute by hand, and skipping Arrow
//! keeps the crate light. One row group per shard, no compression (the image bytes are
//! PNG/JPEG already), no statistics or dictionaries: every byte depends only on the rows.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::{Field, RowAccessor};
use parquet::schema::parser::parse_message_type;

use super::{EncodedImage, Record};
use crate::error::{Error, Result};

const SCHEMA: &str = "
message schema {
  optional binary problem (STRING);
  optional binary answer (STRING);
  optional group images (LIST) {
    repeated group list {
      optional group element {
        optional binary bytes;
        optional binary path (STRING);
      }
    }
  }
  optional binary task (STRING);
  optional binary source (STRING);
  optional binary metadata (STRING);
}";

/// Hugging Face `datasets` feature description, so `load_dataset("parquet", ...)` decodes
/// `images` as a sequence of `Image` features, as for the reference dataset.
const HF_FEATURES: &str = r#"{"info":{"features":{"problem":{"dtype":"string","_type":"Value"},"answer":{"dtype":"string","_type":"Value"},"images":{"feature":{"_type":"Image"},"_type":"Sequence"},"task":{"dtype":"string","_type":"Value"},"source":{"dtype":"string","_type":"Value"},"metadata":{"dtype":"string","_type":"Value"}}}}"#;

/// Levels of the nested `images` leaves: 1 = list present, 2 = one element, 4 = value present.
const DEF_EMPTY_LIST: i16 = 1;
const DEF_VALUE: i16 = 4;

/// A leaf column's values with its definition and (nested column only) repetition levels.
type Column<'a> = (Vec<ByteArray>, &'a [i16], Option<&'a [i16]>);

pub(super) fn to_bytes(mut records: Vec<Record>, path: &Path) -> Result<Vec<u8>> {
    let err = |e: parquet::errors::ParquetError| Error::Export {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(err)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_created_by("spatial-ssrl-tasks".to_string())
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "huggingface".to_string(),
                HF_FEATURES.to_string(),
            )]))
            .build(),
    );
    // Reserve the whole file up front: shards hold megabytes of image bytes, and growing the
    // buffer by doubling would copy them again and again.
    let payload: usize = records
        .iter()
        .flat_map(|r| &r.images)
        .map(|i| i.bytes.len() + i.path.len())
        .sum();
    let mut out = Vec::with_capacity(payload + 64 * 1024 + records.len() * 1024);
    let mut writer = SerializedFileWriter::new(&mut out, schema, props).map_err(err)?;
    let mut rg = writer.next_row_group().map_err(err)?;

    // Flatten the images column: one entry per image, a placeholder level for empty lists.
    let mut img_values: [Vec<ByteArray>; 2] = [Vec::new(), Vec::new()];
    let (mut def, mut rep) = (Vec::new(), Vec::new());
    for r in &mut records {
        if r.images.is_empty() {
            def.push(DEF_EMPTY_LIST);
            rep.push(0);
        }
        for (i, img) in r.images.iter_mut().enumerate() {
            // Moved, not copied: the records are consumed by the write.
            img_values[0].push(ByteArray::from(std::mem::take(&mut img.bytes)));
            img_values[1].push(ByteArray::from(img.path.as_bytes().to_vec()));
            def.push(DEF_VALUE);
            rep.push(i16::from(i > 0));
        }
    }
    let strings = |f: fn(&Record) -> &str| -> Vec<ByteArray> {
        records
            .iter()
            .map(|r| ByteArray::from(f(r).as_bytes().to_vec()))
            .collect()
    };
    let flat_def = vec![1i16; records.len()];
    let columns: [Column<'_>; 7] = [
        (strings(|r| &r.problem), &flat_def, None),
        (strings(|r| &r.answer), &flat_def, None),
        (std::mem::take(&mut img_values[0]), &def, Some(&rep)),
        (std::mem::take(&mut img_values[1]), &def, Some(&rep)),
        (strings(|r| &r.task), &flat_def, None),
        (strings(|r| &r.source), &flat_def, None),
        (strings(|r| &r.metadata), &flat_def, None),
    ];
    for (values, def, rep) in &columns {
        let mut col = rg
            .next_column()
            .map_err(err)?
            .expect("schema has seven leaf columns");
        col.typed::<ByteArrayType>()
            .write_batch(values, Some(def), *rep)
            .map_err(err)?;
        col.close().map_err(err)?;
    }
    rg.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(out)
}

pub(super) fn read(path: &Path) -> Result<Vec<Record>> {
    let err = |e: parquet::errors::ParquetError| Error::Malformed {
        what: "dataset shard",
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(err)?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::Malformed {
                what: "dataset shard",
                path: path.to_path_buf(),
                message: format!("no column {name:?}"),
            })
    };
    let [problem, answer, images, task, source] =
        ["problem", "answer", "images", "task", "source"].map(col);
    let (problem, answer, images, task, source) = (problem?, answer?, images?, task?, source?);
    let metadata = col("metadata").ok();
    let mut out = Vec::new();
    for row in reader.get_row_iter(None).map_err(err)? {
        let row = row.map_err(err)?;
        let text = |i: usize| row.get_string(i).cloned().unwrap_or_default();
        let mut imgs = Vec::new();
        if let Ok(list) = row.get_list(images) {
            for el in list.elements() {
                if let Field::Group(g) = el {
                    let bytes = g
                        .get_bytes(0)
                        .map(|b| b.data().to_vec())
                        .unwrap_or_default();
                    let path = g.get_string(1).cloned().unwrap_or_default();
                    imgs.push(EncodedImage { bytes, path });
                }
            }
        }
        out.push(Record {
            problem: text(problem),
            answer: text(answer),
            images: imgs,
            task: text(task),
            source: text(source),
            metadata: metadata.map(text).unwrap_or_default(),
        });
    }
    Ok(out)
}
