//! One benchmark question: its visuals, text, options, ground truth and category.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ground truth of one item, in the form its metric needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Answer {
    /// A multiple-choice letter (`'A'`, `'B'`, ...), always one of the item's options.
    Choice(char),
    /// A free-form short answer compared by the benchmark's own rules (Spatial457).
    Text(String),
    /// A number scored by Mean Relative Accuracy (VSI-Bench numeric questions).
    Number(f64),
    /// A length in centimetres scored by the ratio criterion (QSpatial).
    LengthCm(f64),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Choice(c) => write!(f, "{c}"),
            Answer::Text(t) => f.write_str(t),
            Answer::Number(x) => write!(f, "{x}"),
            Answer::LengthCm(x) => write!(f, "{x} cm"),
        }
    }
}

/// Where an item's picture comes from. Decoding is lazy: offline scoring never touches images.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Visual {
    /// A base64-encoded image (VLMEvalKit TSV `image` cell).
    Base64(String),
    /// An image file on disk.
    File(PathBuf),
}

impl Visual {
    /// The encoded image bytes (PNG/JPEG/...).
    pub fn load(&self, index: i64, position: usize) -> Result<Vec<u8>> {
        match self {
            Visual::Base64(b64) => {
                // Python writers may wrap long base64 strings; whitespace is never data.
                let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .map_err(|source| Error::Base64 {
                        index,
                        image: position,
                        source,
                    })
            }
            Visual::File(path) => std::fs::read(path).map_err(|e| Error::io(path, e)),
        }
    }
}

/// One video shown as a single clip: frames extracted into a folder (time order = file-name
/// order), `max_frames` of them sampled uniformly (first and last always included), and the
/// frame rate the model is told they were sampled at.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// The folder of extracted frames (`.jpg`, `.png`, `.webp`, `.bmp`).
    pub dir: PathBuf,
    /// Frames to sample (all of them when the folder holds fewer).
    pub max_frames: usize,
    /// Sampling rate passed to the model with the frames (frames per second).
    pub fps: f64,
}

impl Video {
    /// The sampled frame files, in time order.
    pub fn frame_paths(&self) -> Result<Vec<PathBuf>> {
        let frames = list_frames(&self.dir)?;
        Ok(sample_uniform(&frames, self.max_frames)
            .into_iter()
            .cloned()
            .collect())
    }

    /// The number of frames the item would be given, without reading any: `max_frames`,
    /// or fewer when the folder exists and holds fewer.
    pub fn frame_count(&self) -> usize {
        match list_frames(&self.dir) {
            Ok(f) if self.max_frames == 0 || f.len() < self.max_frames => f.len(),
            _ => self.max_frames,
        }
    }

    /// The sampled frames' encoded bytes, in time order.
    pub fn load_frames(&self) -> Result<Vec<Vec<u8>>> {
        self.frame_paths()?
            .iter()
            .map(|p| std::fs::read(p).map_err(|e| Error::io(p, e)))
            .collect()
    }
}

fn list_frames(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut frames = Vec::new();
    for entry in rd {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(
            ext.as_deref(),
            Some("jpg" | "jpeg" | "png" | "webp" | "bmp")
        ) {
            frames.push(p);
        }
    }
    if frames.is_empty() {
        return Err(Error::NoFrames {
            path: dir.to_path_buf(),
        });
    }
    frames.sort();
    Ok(frames)
}

/// Picks `k` of `items` at rounded, evenly spaced positions (numpy `linspace(0, n-1, k).round()`),
/// the way the VSI-Bench inference scripts subsample video frames.
pub(crate) fn sample_uniform<T>(items: &[T], k: usize) -> Vec<&T> {
    let n = items.len();
    if k == 0 || n <= k {
        return items.iter().collect();
    }
    if k == 1 {
        return vec![&items[0]];
    }
    (0..k)
        .map(|i| {
            let pos = i as f64 * (n - 1) as f64 / (k - 1) as f64;
            // numpy rounds half to even; positions are rarely exact halves, but match it anyway.
            &items[pos.round_ties_even() as usize]
        })
        .collect()
}

/// One benchmark question.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The key predictions use: the benchmark's own `index` column where it has one,
    /// otherwise the item's 0-based position in the file.
    pub index: i64,
    /// The question text as published.
    pub question: String,
    /// Option texts in letter order (`options[0]` is `A`); empty for open questions.
    pub options: Vec<String>,
    /// Ground truth.
    pub answer: Answer,
    /// Category / sub-task / question type used for per-category scores.
    pub category: String,
    /// Images shown with the question.
    pub visuals: Vec<Visual>,
    /// The video shown with the question (VSI-Bench), as one clip.
    pub video: Option<Video>,
    /// Other published fields a benchmark needs (e.g. 3DSRBench `qid`, a `hint`).
    pub extra: BTreeMap<String, String>,
}

impl Item {
    /// The option letter at `i` (`0 -> 'A'`).
    pub fn letter(i: usize) -> char {
        (b'A' + (i as u8 % 26)) as char
    }

    /// The option text behind a letter, if the item has that option.
    pub fn option(&self, letter: char) -> Option<&str> {
        let i = (letter.to_ascii_uppercase() as u32).checked_sub('A' as u32)? as usize;
        self.options.get(i).map(String::as_str)
    }

    /// Loads every image as encoded bytes, in order.
    pub fn load_images(&self) -> Result<Vec<Vec<u8>>> {
        self.visuals
            .iter()
            .enumerate()
            .map(|(i, v)| v.load(self.index, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_sampling_matches_linspace_round() {
        let v: Vec<usize> = (0..10).collect();
        let got: Vec<usize> = sample_uniform(&v, 4).into_iter().copied().collect();
        // linspace(0, 9, 4) = [0, 3, 6, 9]
        assert_eq!(got, vec![0, 3, 6, 9]);
        let got: Vec<usize> = sample_uniform(&v, 3).into_iter().copied().collect();
        // linspace(0, 9, 3) = [0, 4.5, 9] -> 4.5 rounds to even 4
        assert_eq!(got, vec![0, 4, 9]);
        assert_eq!(sample_uniform(&v, 20).len(), 10);
    }

    #[test]
    fn bad_base64_is_typed() {
        let v = Visual::Base64("not base64!!".into());
        assert!(matches!(
            v.load(7, 1),
            Err(Error::Base64 {
                index: 7,
                image: 1,
                ..
            })
        ));
    }
}
