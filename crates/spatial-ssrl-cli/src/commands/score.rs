//! `spatial-ssrl score`: scores model responses in a JSONL file with the Spatial-SSRL reward.
//!
//! Each input line is a JSON object with a response and a ground truth (field names
//! configurable); each output line is the same line with `overall`, `format` and `accuracy`
//! added. A summary (means, per task when a task field is present) goes to stdout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde_json::{Map, Value};
use spatial_ssrl_rewards::{AnswerKind, ImgScore, RewardBreakdown, Strictness, TaskRouter};

/// Lines scored per parallel chunk: bounds memory on very large files.
const CHUNK: usize = 16_384;

/// Score responses (JSONL) with the Spatial-SSRL training reward.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input JSONL: one object per line with a response and a ground truth.
    #[arg(long)]
    input: PathBuf,
    /// Output JSONL: the input lines with `overall`, `format`, `accuracy` added.
    #[arg(long)]
    out: PathBuf,
    /// Field holding the model response.
    #[arg(long, default_value = "response")]
    response_field: String,
    /// Field holding the ground-truth answer.
    #[arg(long, default_value = "ground_truth")]
    truth_field: String,
    /// Field holding the pretext task name (optional per line; enables per-task summaries).
    #[arg(long, default_value = "task")]
    task_field: String,
    /// Weight of the format reward: overall = (1 - w) * accuracy + w * format.
    #[arg(long, default_value_t = ImgScore::DEFAULT_FORMAT_WEIGHT)]
    format_weight: f64,
    /// Accept other spellings of the same answer for known tasks (e.g. `0 2 3 1` for
    /// `0-2-3-1`); the default is the reference's exact match.
    #[arg(long)]
    lenient: bool,
}

/// Running sums for one summary row.
#[derive(Default)]
struct Totals {
    n: usize,
    overall: f64,
    format: f64,
    accuracy: f64,
}

impl Totals {
    fn add(&mut self, b: &RewardBreakdown) {
        self.n += 1;
        self.overall += b.overall;
        self.format += b.format;
        self.accuracy += b.accuracy;
    }

    fn row(&self, name: &str) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "{name:<20} {:>8} {:>8.4} {:>8.4} {:>8.4}",
            self.n,
            self.overall / n,
            self.format / n,
            self.accuracy / n
        )
    }
}

/// Builds the reward: the reference everywhere, or lenient matching for known tasks.
fn reward(args: &Args) -> anyhow::Result<TaskRouter> {
    let strict = ImgScore::new(args.format_weight).context("--format-weight")?;
    let mut router = TaskRouter::new(Box::new(strict));
    if args.lenient {
        for task in [
            "shuffle",
            "jigsaw",
            "flip",
            "depth",
            "depth_order",
            "crop",
            "inpaint",
        ] {
            if let Some(kind) = AnswerKind::for_task(task) {
                router = router.route(
                    task,
                    Box::new(strict.with_strictness(Strictness::Lenient(kind))),
                );
            }
        }
    }
    Ok(router)
}

/// Scores one input line; returns the output line and the task name, if any.
fn score_line(
    line: &str,
    args: &Args,
    reward: &TaskRouter,
) -> anyhow::Result<(String, RewardBreakdown, Option<String>)> {
    let Value::Object(mut obj) = serde_json::from_str::<Value>(line).context("not valid JSON")?
    else {
        bail!("not a JSON object");
    };
    let field = |obj: &Map<String, Value>, name: &str| -> anyhow::Result<String> {
        match obj.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => bail!("field {name:?} is not a string: {other}"),
            None => bail!("missing field {name:?}"),
        }
    };
    let response = field(&obj, &args.response_field)?;
    let truth = field(&obj, &args.truth_field)?;
    let task = match obj.get(&args.task_field) {
        Some(Value::String(t)) => Some(t.clone()),
        _ => None,
    };
    let b = reward.score_task(task.as_deref(), &response, &truth);
    let keys = ["overall", "format", "accuracy"];
    let out = if keys.iter().any(|k| obj.contains_key(*k)) {
        // Replace stale scores; the object is re-serialised.
        for (k, v) in b.components() {
            obj.insert(k.to_owned(), Value::from(v));
        }
        serde_json::to_string(&obj)?
    } else {
        // Keep the original text byte for byte and append the scores before the closing brace.
        let body = line.trim_end();
        let body = &body[..body.len() - 1];
        let sep = if obj.is_empty() { "" } else { ", " };
        format!(
            "{body}{sep}\"overall\": {}, \"format\": {}, \"accuracy\": {}}}",
            Value::from(b.overall),
            Value::from(b.format),
            Value::from(b.accuracy)
        )
    };
    Ok((out, b, task))
}

/// Runs `spatial-ssrl score`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reward = reward(&args)?;
    let input =
        File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let out_file =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = BufWriter::new(out_file);
    let mut lines = BufReader::new(input).lines().enumerate();
    let mut all = Totals::default();
    let mut per_task: BTreeMap<String, Totals> = BTreeMap::new();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        for (i, line) in lines.by_ref().take(CHUNK) {
            let line = line
                .with_context(|| format!("{}: cannot read line {}", args.input.display(), i + 1))?;
            if !line.trim().is_empty() {
                chunk.push((i + 1, line));
            }
        }
        if chunk.is_empty() {
            break;
        }
        let scored: Vec<_> = chunk
            .par_iter()
            .map(|(n, line)| {
                score_line(line, &args, &reward)
                    .with_context(|| format!("{} line {n}", args.input.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        for (line, b, task) in scored {
            writeln!(out, "{line}")
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            all.add(&b);
            if let Some(task) = task {
                per_task.entry(task).or_default().add(&b);
            }
        }
    }
    out.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    println!("scored {} responses -> {}", all.n, args.out.display());
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>8}",
        "task", "n", "overall", "format", "accuracy"
    );
    println!("{}", all.row("all"));
    for (task, t) in &per_task {
        println!("{}", t.row(task));
    }
    Ok(ExitCode::SUCCESS)
}
