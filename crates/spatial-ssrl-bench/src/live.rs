//! Live evaluation: prompts go to a [`Responder`] (a model) in batches; answers are appended
//! to a predictions file as they arrive, so an interrupted run resumes where it stopped.

use std::collections::HashSet;
use std::path::Path;

use crate::benchmark::Benchmark;
use crate::error::{Error, Result};
use crate::item::Item;
use crate::predictions::{Prediction, append_predictions, read_predictions};

/// One request: the user text and its images (encoded PNG/JPEG bytes, shown before the text).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The item's index.
    pub index: i64,
    /// User text (question, options, format instruction).
    pub text: String,
    /// Encoded images in order (video frames in time order).
    pub images: Vec<Vec<u8>>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// Prompts per [`Responder::respond`] call.
    pub batch_size: usize,
    /// Frames sampled per video.
    pub max_frames: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            batch_size: 1,
            max_frames: 16,
        }
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
            .map(|it| {
                Ok(Prompt {
                    index: it.index,
                    text: bench.prompt(it),
                    images: it.load_images(config.max_frames)?,
                })
            })
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
