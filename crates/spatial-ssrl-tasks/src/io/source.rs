//! Input discovery: which files make up each source (image, depth, mask), from a folder
//! convention or a manifest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::io::parquet_source::{ParquetRow, read_cell};
use crate::io::{depth, rgb};
use crate::task::{DepthMap, Scene};

/// One input: an RGB image and, for RGB-D sources, its depth map and optional validity mask.
///
/// Build it by hand, find them in a folder with [`discover`], or read a manifest with
/// [`read_manifest`]; decode it with [`SourceSpec::load`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceSpec {
    /// Stable id of the source; part of every sample's seed, so renaming a file changes its puzzles.
    pub id: String,
    /// The JPEG or PNG image.
    pub image: PathBuf,
    /// The aligned depth map (`.npy`, `.h5`/`.hdf5`, 16-bit `.png`), if any.
    #[serde(default)]
    pub depth: Option<PathBuf>,
    /// A validity mask for the depth map (`.npy` or `.png`, nonzero = valid), if any.
    #[serde(default)]
    pub mask: Option<PathBuf>,
    /// Multiplier applied to raw depth values (default 1, or 0.001 for PNG depth).
    #[serde(default)]
    pub depth_scale: Option<f32>,
    /// For a source inside a parquet dataset: its row and columns; `image` (and `depth`)
    /// are then the parquet file. See [`read_parquet_sources`](crate::read_parquet_sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<ParquetRow>,
}

impl SourceSpec {
    /// An RGB-only source named after the image's file stem.
    ///
    /// ```
    /// let s = spatial_ssrl_tasks::SourceSpec::rgb("photos/cat.jpg");
    /// assert_eq!(s.id, "cat");
    /// assert!(s.depth.is_none());
    /// ```
    pub fn rgb(image: impl Into<PathBuf>) -> Self {
        let image = image.into();
        let id = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            id,
            image,
            depth: None,
            mask: None,
            depth_scale: None,
            parquet: None,
        }
    }

    /// Decodes the image and, when present, the depth map (with its mask applied).
    ///
    /// Errors name the offending file: a corrupt image or depth file, a depth map whose size
    /// differs from the image's, a mask whose size differs from the depth map's, a depth map
    /// with no valid pixel.
    ///
    /// ```no_run
    /// use spatial_ssrl_tasks::SourceSpec;
    /// let mut spec = SourceSpec::rgb("examples/data/room.jpg");
    /// spec.depth = Some("examples/data/room.npy".into());
    /// let scene = spec.load()?;
    /// assert!(scene.depth.is_some());
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn load(&self) -> Result<Scene> {
        let rgb = self.load_rgb()?;
        let depth = self.load_depth(rgb.width(), rgb.height())?;
        Ok(Scene {
            id: self.id.clone(),
            rgb: Arc::new(rgb),
            depth: depth.map(Arc::new),
        })
    }

    /// Decodes the image (from its file, or its parquet cell).
    pub fn load_rgb(&self) -> Result<RgbImage> {
        match &self.parquet {
            None => rgb::load_rgb(&self.image),
            Some(at) => {
                let (bytes, name) = read_cell(&self.image, at, &at.image_column)?;
                rgb::decode_rgb(&bytes, &name)
            }
        }
    }

    /// Decodes the depth map (mask applied) and checks it matches a `width x height` image.
    /// `Ok(None)` for an RGB-only source.
    pub fn load_depth(&self, width: u32, height: u32) -> Result<Option<DepthMap>> {
        let Some(path) = &self.depth else {
            return Ok(None);
        };
        let mut d = match self
            .parquet
            .as_ref()
            .map(|at| (at, at.depth_column.as_deref()))
        {
            Some((at, Some(column))) => {
                let (bytes, name) = read_cell(path, at, column)?;
                depth::decode_depth(bytes, &name, self.depth_scale)?
            }
            _ => depth::load_depth(path, self.depth_scale)?,
        };
        if (d.width(), d.height()) != (width, height) {
            return Err(Error::SizeMismatch {
                path: path.clone(),
                depth_w: d.width(),
                depth_h: d.height(),
                rgb_w: width,
                rgb_h: height,
            });
        }
        if let Some(mask_path) = &self.mask {
            let (mw, mh, mask) = depth::load_mask(mask_path)?;
            d = d
                .with_mask(&mask)
                .filter(|_| (mw, mh) == (width, height))
                .ok_or_else(|| Error::SizeMismatch {
                    path: mask_path.clone(),
                    depth_w: mw,
                    depth_h: mh,
                    rgb_w: width,
                    rgb_h: height,
                })?;
            if d.valid_count() == 0 {
                return Err(Error::EmptyDepth { path: path.clone() });
            }
        }
        Ok(Some(d))
    }
}

const IMAGE_EXTS: [&str; 3] = ["jpg", "jpeg", "png"];
const DEPTH_EXTS: [&str; 3] = ["npy", "h5", "hdf5"];

/// Finds the sources in a folder (recursively), sorted by id.
///
/// Every `.jpg`/`.jpeg`/`.png` is an image, except PNGs that serve as another image's depth
/// or mask. An image `name.ext` gets as depth the first file that exists among
/// `name.npy`, `name.h5`, `name.hdf5`, `name_depth.{npy,h5,hdf5,png}`, and, when the name
/// contains `_img`, the same name with its last `_img` turned into `_depth`
/// (`RGB-D_img1.jpg` + `RGB-D_depth1.h5`). Its mask is the first of `name_mask.{npy,png}`,
/// `<depth name>_mask.{npy,png}` and `<depth name with _depth turned into _depth_mask>.{npy,png}`
/// (DIODE's `RGB-D_depth_mask3.npy`). Ids are paths relative to `dir` without extension,
/// `/`-separated.
///
/// ```no_run
/// for s in spatial_ssrl_tasks::discover("examples/data")? {
///     println!("{} depth={:?}", s.id, s.depth);
/// }
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn discover(dir: impl AsRef<Path>) -> Result<Vec<SourceSpec>> {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let all: BTreeSet<&PathBuf> = files.iter().collect();
    let has_ext = |p: &Path, exts: &[&str]| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
    };
    let mut specs = Vec::new();
    let mut claimed = BTreeSet::new();
    for img in files.iter().filter(|p| has_ext(p, &IMAGE_EXTS)) {
        let stem = img
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = img.parent().unwrap_or(dir);
        let find = |names: &[String]| {
            names
                .iter()
                .map(|n| parent.join(n))
                .find(|p| all.contains(p) && p != img)
        };
        let mut depth_names: Vec<String> =
            DEPTH_EXTS.iter().map(|e| format!("{stem}.{e}")).collect();
        depth_names.extend(
            DEPTH_EXTS
                .iter()
                .chain(&["png"])
                .map(|e| format!("{stem}_depth.{e}")),
        );
        if let Some(at) = stem.rfind("_img") {
            let d = format!("{}_depth{}", &stem[..at], &stem[at + 4..]);
            depth_names.extend(
                DEPTH_EXTS
                    .iter()
                    .chain(&["png"])
                    .map(|e| format!("{d}.{e}")),
            );
        }
        let depth = find(&depth_names);
        let mask = depth.as_ref().and_then(|d| {
            let dstem = d
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut names = vec![format!("{stem}_mask.npy"), format!("{stem}_mask.png")];
            names.extend([format!("{dstem}_mask.npy"), format!("{dstem}_mask.png")]);
            if let Some(at) = dstem.rfind("_depth") {
                let m = format!("{}_depth_mask{}", &dstem[..at], &dstem[at + 6..]);
                names.extend([format!("{m}.npy"), format!("{m}.png")]);
            }
            find(&names)
        });
        claimed.extend(depth.iter().chain(mask.iter()).cloned());
        let rel = img.strip_prefix(dir).unwrap_or(img).with_extension("");
        let id = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        specs.push(SourceSpec {
            id,
            image: img.clone(),
            depth,
            mask,
            depth_scale: None,
            parquet: None,
        });
    }
    // A PNG claimed as another image's depth or mask, or named like one, is not a source.
    specs.retain(|s| {
        let stem = s
            .image
            .file_stem()
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_default();
        !claimed.contains(&s.image) && !stem.ends_with("_depth") && !stem.ends_with("_mask")
    });
    // `a.jpg` and `a.png` side by side would share the id `a`: keep their extensions then.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for s in &specs {
        *seen.entry(s.id.clone()).or_default() += 1;
    }
    for s in &mut specs {
        if seen[&s.id] > 1 {
            let ext = s
                .image
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            s.id = format!("{}.{ext}", s.id);
        }
    }
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(specs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a manifest listing the sources explicitly: CSV (`.csv`, with a header row) or JSON
/// Lines (anything else), with fields `id` (default: image file stem), `image` (required),
/// `depth`, `mask`, `depth_scale`. Relative paths are resolved against the manifest's folder.
/// Sources keep the manifest's order; duplicate ids are an error.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let m = dir.path().join("sources.csv");
/// std::fs::write(&m, "id,image,depth,mask,depth_scale\nkitchen,img/k.jpg,img/k.png,,0.001\n,b.png,,,\n")?;
/// let specs = spatial_ssrl_tasks::read_manifest(&m)?;
/// assert_eq!(specs[0].id, "kitchen");
/// assert_eq!(specs[0].depth.as_deref(), Some(dir.path().join("img/k.png").as_path()));
/// assert_eq!(specs[0].depth_scale, Some(0.001));
/// assert_eq!(specs[1].id, "b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_manifest(path: impl AsRef<Path>) -> Result<Vec<SourceSpec>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |line: usize, message: String| Error::Malformed {
        what: "manifest",
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut rows: Vec<(usize, RawRow)> = Vec::new();
    if is_csv {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Ok(Vec::new());
        };
        let header: Vec<String> = split_csv(header)
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        for name in &header {
            if !["id", "image", "depth", "mask", "depth_scale"].contains(&name.as_str()) {
                return Err(bad(1, format!("unknown column {name:?}")));
            }
        }
        if !header.iter().any(|h| h == "image") {
            return Err(bad(1, "no 'image' column".into()));
        }
        for (i, line) in lines {
            let cells = split_csv(line);
            if cells.len() != header.len() {
                return Err(bad(
                    i + 1,
                    format!("{} cells, header has {}", cells.len(), header.len()),
                ));
            }
            let mut row = RawRow::default();
            for (h, c) in header.iter().zip(cells) {
                let c = c.trim().to_string();
                if c.is_empty() {
                    continue;
                }
                match h.as_str() {
                    "id" => row.id = Some(c),
                    "image" => row.image = Some(c),
                    "depth" => row.depth = Some(c),
                    "mask" => row.mask = Some(c),
                    _ => {
                        row.depth_scale = Some(
                            c.parse()
                                .map_err(|_| bad(i + 1, format!("bad depth_scale {c:?}")))?,
                        )
                    }
                }
            }
            rows.push((i + 1, row));
        }
    } else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let row: RawRow = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
            rows.push((i + 1, row));
        }
    }
    let base = path.parent().unwrap_or(Path::new(""));
    let mut seen = BTreeSet::new();
    let mut specs = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let image = base.join(row.image.ok_or_else(|| bad(line, "no image".into()))?);
        let id = row.id.unwrap_or_else(|| {
            image
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        if !seen.insert(id.clone()) {
            return Err(bad(line, format!("duplicate id {id:?}")));
        }
        specs.push(SourceSpec {
            id,
            image,
            depth: row.depth.map(|d| base.join(d)),
            mask: row.mask.map(|m| base.join(m)),
            depth_scale: row.depth_scale,
            parquet: None,
        });
    }
    Ok(specs)
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    id: Option<String>,
    image: Option<String>,
    depth: Option<String>,
    mask: Option<String>,
    depth_scale: Option<f32>,
}

/// Splits one CSV line (RFC 4180 quoting: `"a,b"`, `""` for a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let cell = cells.last_mut().expect("cells starts non-empty");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            _ => cell.push(c),
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn folder_convention_pairs_depth_and_masks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for f in [
            "a.jpg",
            "a.npy",
            "b.png",
            "b_depth.png",
            "b_depth_mask.npy",
            "c.JPG",
            "RGB-D_img1.jpg",
            "RGB-D_depth1.h5",
            "RGB-D_img3.png",
            "RGB-D_depth3.npy",
            "RGB-D_depth_mask3.npy",
            "sub/e.jpeg",
            "sub/e.h5",
            "sub/e_mask.png",
            "notes.txt",
            ".hidden.jpg",
            "twin.jpg",
            "twin.png",
        ] {
            touch(d, f);
        }
        let s = discover(d).unwrap();
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "RGB-D_img1",
                "RGB-D_img3",
                "a",
                "b",
                "c",
                "sub/e",
                "twin.jpg",
                "twin.png"
            ]
        );
        let get = |id: &str| s.iter().find(|s| s.id == id).unwrap();
        let rel = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
        };
        assert_eq!(
            rel(&get("RGB-D_img1").depth).as_deref(),
            Some("RGB-D_depth1.h5")
        );
        assert_eq!(
            rel(&get("RGB-D_img3").mask).as_deref(),
            Some("RGB-D_depth_mask3.npy")
        );
        assert_eq!(rel(&get("a").depth).as_deref(), Some("a.npy"));
        assert_eq!(rel(&get("b").depth).as_deref(), Some("b_depth.png"));
        assert_eq!(rel(&get("b").mask).as_deref(), Some("b_depth_mask.npy"));
        assert_eq!(get("c").depth, None);
        assert_eq!(rel(&get("sub/e").mask).as_deref(), Some("sub/e_mask.png"));
    }

    #[test]
    fn jsonl_manifest_and_errors() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("m.jsonl");
        std::fs::write(&m, "{\"image\": \"x/a.jpg\", \"depth\": \"x/a.npy\", \"depth_scale\": 2.0}\n\n{\"id\": \"q\", \"image\": \"/abs/b.png\"}\n").unwrap();
        let s = read_manifest(&m).unwrap();
        assert_eq!(s[0].id, "a");
        assert_eq!(s[0].depth, Some(t.path().join("x/a.npy")));
        assert_eq!(s[1].image, PathBuf::from("/abs/b.png"));
        std::fs::write(&m, "{\"image\": \"a.jpg\"}\n{\"image\": \"a.jpg\"}\n").unwrap();
        assert!(
            read_manifest(&m)
                .unwrap_err()
                .to_string()
                .contains("duplicate id")
        );
        std::fs::write(&m, "{\"img\": \"a.jpg\"}\n").unwrap();
        assert!(matches!(read_manifest(&m), Err(Error::Malformed { .. })));
        let c = t.path().join("m.csv");
        std::fs::write(&c, "image,colour\na.jpg,red\n").unwrap();
        assert!(
            read_manifest(&c)
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        std::fs::write(&c, "id,image\n\"x,y\",\"a \"\"q\"\".jpg\"\n").unwrap();
        let s = read_manifest(&c).unwrap();
        assert_eq!(s[0].id, "x,y");
        assert!(s[0].image.ends_with("a \"q\".jpg"));
    }

    #[test]
    fn size_mismatch_names_the_depth_file() {
        let t = tempfile::tempdir().unwrap();
        let img = t.path().join("s.png");
        image::RgbImage::new(4, 3).save(&img).unwrap();
        let dp = t.path().join("s.npy");
        std::fs::write(&dp, crate::io::npy::to_bytes_f32(3, 4, &[1.0; 12])).unwrap();
        let mut spec = SourceSpec::rgb(&img);
        spec.depth = Some(dp.clone());
        let e = spec.load().unwrap_err();
        assert!(
            matches!(
                e,
                Error::SizeMismatch {
                    depth_w: 3,
                    depth_h: 4,
                    rgb_w: 4,
                    rgb_h: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("s.npy"));
        // A mask that invalidates everything leaves no valid depth.
        std::fs::write(&dp, crate::io::npy::to_bytes_f32(4, 3, &[1.0; 12])).unwrap();
        let mp = t.path().join("s_mask.npy");
        std::fs::write(&mp, crate::io::npy::to_bytes_f32(4, 3, &[0.0; 12])).unwrap();
        spec.mask = Some(mp);
        assert!(matches!(spec.load(), Err(Error::EmptyDepth { .. })));
    }
}
