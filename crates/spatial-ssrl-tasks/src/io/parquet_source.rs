//! Sources stored in a parquet image dataset, as Hugging Face `datasets` writes one: an image
//! column that is a struct of `{bytes, path}` (or plain binary) and, for RGB-D, a depth column
//! holding depth-file bytes (16-bit PNG, `.npy` or HDF5) the same way.
//!
//! Listing reads only the footer; each source's bytes are read when the pipeline decodes it,
//! by skipping to its row inside its row group, so a dataset of any size streams.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::get_typed_column_reader;
use parquet::data_type::ByteArrayType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::SourceSpec;

/// Where a source sits in a parquet dataset file: [`SourceSpec::image`] is the file and this
/// says which row and columns. Made by [`read_parquet_sources`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetRow {
    /// Row group of the file.
    pub row_group: usize,
    /// Row within the row group.
    pub row: usize,
    /// Column with the image: a struct with a binary `bytes` field, or binary.
    pub image_column: String,
    /// Column with the depth-file bytes, laid out like the image column, if any.
    pub depth_column: Option<String>,
}

/// Lists the sources of a parquet image dataset: `path` is a `.parquet` file or a folder
/// searched recursively for them (file-name order). Every row is a source with id
/// `<file stem>/<row index, 6 digits>` (relative to the folder); with `depth_column`, every
/// row is RGB-D, and a row whose depth cell is empty fails as an input. A cell with no
/// `bytes` but a `path` reads that file, relative to the parquet file's folder.
///
/// Errors when a file is not parquet or lacks the columns.
///
/// ```no_run
/// let sources = spatial_ssrl_tasks::read_parquet_sources("hf-dataset/data", "image", Some("depth"))?;
/// println!("{} sources, first {}", sources.len(), sources[0].id);
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn read_parquet_sources(
    path: impl AsRef<Path>,
    image_column: &str,
    depth_column: Option<&str>,
) -> Result<Vec<SourceSpec>> {
    let path = path.as_ref();
    let (root, files) = if path.is_dir() {
        let mut files = Vec::new();
        find_parquet(path, &mut files)?;
        files.sort();
        (path, files)
    } else {
        (
            path.parent().unwrap_or(Path::new("")),
            vec![path.to_path_buf()],
        )
    };
    let mut specs = Vec::new();
    for file in files {
        let reader = open(&file)?;
        leaf(&reader, &file, image_column)?;
        if let Some(d) = depth_column {
            leaf(&reader, &file, d)?;
        }
        let stem = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let mut index = 0usize;
        for (g, rg) in reader.metadata().row_groups().iter().enumerate() {
            for row in 0..usize::try_from(rg.num_rows()).unwrap_or(0) {
                specs.push(SourceSpec {
                    id: format!("{stem}/{index:06}"),
                    image: file.clone(),
                    depth: depth_column.map(|_| file.clone()),
                    mask: None,
                    depth_scale: None,
                    parquet: Some(ParquetRow {
                        row_group: g,
                        row,
                        image_column: image_column.to_string(),
                        depth_column: depth_column.map(String::from),
                    }),
                });
                index += 1;
            }
        }
    }
    Ok(specs)
}

/// The bytes in `column` of the row `at` of parquet file `file`, and a name for them
/// (`file[row group g row r]/<stored file name>`): its extension gives the format, from the
/// cell's stored `path` or else the bytes' signature.
pub(crate) fn read_cell(file: &Path, at: &ParquetRow, column: &str) -> Result<(Vec<u8>, PathBuf)> {
    let name = PathBuf::from(format!(
        "{}[row group {} row {}]",
        file.display(),
        at.row_group,
        at.row
    ));
    let reader = open(file)?;
    let bad = |message: String| Error::Malformed {
        what: "parquet source",
        path: name.clone(),
        message,
    };
    let leaves = leaf(&reader, file, column)?;
    let read = |leaf: usize| -> Result<Option<Vec<u8>>> {
        let rg = reader
            .get_row_group(at.row_group)
            .map_err(|e| bad(e.to_string()))?;
        let col = rg.get_column_reader(leaf).map_err(|e| bad(e.to_string()))?;
        let mut col = get_typed_column_reader::<ByteArrayType>(col);
        let skipped = col.skip_records(at.row).map_err(|e| bad(e.to_string()))?;
        if skipped != at.row {
            return Err(bad(format!("the row group has only {skipped} rows")));
        }
        let (mut def, mut values) = (Vec::new(), Vec::new());
        col.read_records(1, Some(&mut def), None, &mut values)
            .map_err(|e| bad(e.to_string()))?;
        Ok(values.into_iter().next().map(|v| v.data().to_vec()))
    };
    // The stored file name tells the depth format apart (`.png`, `.npy`, `.h5`).
    let stored = match leaves.path {
        Some(p) => read(p)?.map(|p| String::from_utf8_lossy(&p).into_owned()),
        None => None,
    };
    let bytes = match read(leaves.bytes)?.filter(|b| !b.is_empty()) {
        Some(bytes) => bytes,
        // `datasets` leaves `bytes` null when the image stays a file beside the dataset.
        None => match stored.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => {
                let on_disk = file.parent().unwrap_or(Path::new("")).join(p);
                std::fs::read(&on_disk).map_err(|e| Error::io(on_disk, e))?
            }
            None => return Err(bad(format!("column {column:?} is empty in this row"))),
        },
    };
    let stored = stored
        .as_deref()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some())
        .unwrap_or_else(|| format!("{column}.{}", sniff(&bytes)));
    Ok((bytes, name.join(stored)))
}

/// The leaf columns of an image-like column: its bytes and, for a struct, its path.
struct Leaves {
    bytes: usize,
    path: Option<usize>,
}

fn leaf(reader: &SerializedFileReader<File>, file: &Path, column: &str) -> Result<Leaves> {
    let schema = reader.metadata().file_metadata().schema_descr();
    let find = |name: &str| {
        schema.columns().iter().position(|c| {
            c.path().string() == name && c.physical_type() == PhysicalType::BYTE_ARRAY
        })
    };
    let bytes = find(column).or_else(|| find(&format!("{column}.bytes")));
    let Some(bytes) = bytes else {
        return Err(Error::Malformed {
            what: "parquet source",
            path: file.to_path_buf(),
            message: format!("no binary column {column:?} or {column:?}.bytes"),
        });
    };
    Ok(Leaves {
        bytes,
        path: find(&format!("{column}.path")),
    })
}

fn open(file: &Path) -> Result<SerializedFileReader<File>> {
    let f = File::open(file).map_err(|e| Error::io(file, e))?;
    SerializedFileReader::new(f).map_err(|e| Error::Malformed {
        what: "parquet source",
        path: file.to_path_buf(),
        message: e.to_string(),
    })
}

/// A file extension for depth bytes stored without a name, from their signature.
fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x93NUMPY") {
        "npy"
    } else if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
        "h5"
    } else {
        "png"
    }
}

fn find_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type().map_err(|e| Error::io(&p, e))?.is_dir() {
            find_parquet(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            out.push(p);
        }
    }
    Ok(())
}
