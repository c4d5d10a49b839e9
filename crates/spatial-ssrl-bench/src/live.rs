//! Live evaluation: prompts go to a [`Responder`] (a model) in batches; answers are appended
//! to a predictions file as they arrive, so an interrupted run resumes where it stopped.

use std::collections::HashSet;
use std::path::Path;

use crate::benchmark::Benchmark;
use crate::error::{Error, Result};
use crate::item::Item;
use crate::paper::{PromptMode, Request};
use crate::predictions::{Prediction, append_predictions, read_predictions};

/// One item ready for a model: what to send ([`Request`]: text, where the visuals go, pixel
/// limits, generation length) and the media it names, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The item's index.
    pub index: i64,
    /// The text and settings.
    pub request: Request,
    /// Encoded images (PNG/JPEG bytes) in order.
    pub images: Vec<Vec<u8>>,
    /// The video, as one clip of encoded frames.
    pub video: Option<VideoFrames>,
}

/// A video's sampled frames (encoded bytes, time order) and the frame rate to report.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrames {
    /// Encoded frames in time order.
    pub frames: Vec<Vec<u8>>,
    /// Frames per second the frames were sampled at.
    pub fps: f64,
}

/// Anything that answers prompts: a local model, a remote API, a test double.
pub trait Responder {
    /// Generates one answer per prompt, in order.
    fn respond(
        &mut self,
        prompts: &[Prompt],
    ) -> std::result::Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Settings of a live run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveConfig {
    /// Prompts per [`Responder::respond`] call.
    pub batch_size: usize,
    /// Which prompts are sent (the paper's CoT prompts by default).
    pub mode: PromptMode,
    /// Frames sampled per video instead of the benchmark's own count.
    pub max_frames: Option<usize>,
    /// Generation length instead of the request's own.
    pub max_new_tokens: Option<usize>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            batch_size: 1,
            mode: PromptMode::Paper { cot: true },
            max_frames: None,
            max_new_tokens: None,
        }
    }
}

impl LiveConfig {
    /// The request for one item under this run's settings (also what `--dump-prompts` writes).
    pub fn request(&self, bench: &dyn Benchmark, item: &Item) -> Request {
        let mut r = bench.request(item, self.mode);
        if let (Some(n), Some(v)) = (self.max_frames, r.video.as_mut()) {
            v.max_frames = n;
        }
        if self.max_new_tokens.is_some() {
            r.max_new_tokens = self.max_new_tokens;
        }
        r
    }

    /// The request with its media loaded.
    pub fn prompt(&self, bench: &dyn Benchmark, item: &Item) -> Result<Prompt> {
        let request = self.request(bench, item);
        let video = match &request.video {
            Some(v) => Some(VideoFrames {
                frames: v.load_frames()?,
                fps: v.fps,
            }),
            None => None,
        };
        Ok(Prompt {
            index: item.index,
            images: item.load_images()?,
            video,
            request,
        })
    }
}

/// Answers every item not yet in `predictions_path`, appending each batch to it, and returns
/// all predictions in item order. `progress(done, total)` is called after each batch
/// (and once before the first, with what was already done).
pub fn run_live(
    bench: &dyn Benchmark,
    items: &[Item],
    responder: &mut dyn Responder,
    predictions_path: &Path,
    config: LiveConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Prediction>> {
    let known: HashSet<i64> = items.iter().map(|it| it.index).collect();
    let mut done: Vec<Prediction> = Vec::new();
    if predictions_path.exists() {
        let (prev, torn) = read_predictions(predictions_path, true)?;
        if torn {
            // Drop the torn line on disk too, so appended lines start on a fresh line.
            std::fs::remove_file(predictions_path).map_err(|e| Error::io(predictions_path, e))?;
            append_predictions(predictions_path, &prev)?;
        }
        done = prev
            .into_iter()
            .filter(|p| known.contains(&p.index))
            .collect();
    }
    let have: HashSet<i64> = done.iter().map(|p| p.index).collect();
    let todo: Vec<&Item> = items
        .iter()
        .filter(|it| !have.contains(&it.index))
        .collect();
    let total = items.len();
    progress(total - todo.len(), total);
    for batch in todo.chunks(config.batch_size.max(1)) {
        let prompts = batch
            .iter()
            .map(|it| config.prompt(bench, it))
            .collect::<Result<Vec<_>>>()?;
        let answers = responder
            .respond(&prompts)
            .map_err(|source| Error::Responder {
                first: batch[0].index,
                last: batch[batch.len() - 1].index,
                source,
            })?;
        if answers.len() != prompts.len() {
            return Err(Error::ResponderCount {
                expected: prompts.len(),
                got: answers.len(),
            });
        }
        let new: Vec<Prediction> = batch
            .iter()
            .zip(answers)
            .map(|(it, a)| Prediction {
                index: it.index,
                prediction: a,
            })
            .collect();
        append_predictions(predictions_path, &new)?;
        done.extend(new);
        progress(done.len().min(total), total);
    }
    let order: std::collections::HashMap<i64, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.index, i))
        .collect();
    done.sort_by_key(|p| order[&p.index]);
    Ok(done)
}
