//! Scoring speed: linear scaling (1 KB / 100 KB / 1 MB), throughput on a realistic mix of
//! 50-2,000 character responses (single thread and rayon), and adversarial 4.5 KB responses
//! that make the Python reference's regular expressions backtrack.
//!
//! Reference (Python `img_score`, issue 3): 13,489 responses/s single-thread on a mix with mean
//! 1,027 chars; 70-175 ms for one adversarial 4.5 KB response. Goals: >= 675,000 responses/s
//! single-thread and < 100 us for the adversarial response.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spatial_ssrl_rewards::{ImgScore, RewardFn};

/// splitmix64: a fixed, seedable generator so every run benches the same mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "patch",
    "left",
    "right",
    "image",
    "region",
    "is",
    "closer",
    "to",
    "camera",
    "than",
    "because",
    "edge",
    "texture",
    "continues",
    "into",
    "so",
    "order",
    "must",
    "be",
    "flipped",
    "depth",
    "of",
    "object",
    "appears",
    "farther",
    "top",
    "bottom",
    "ground",
    "plane",
    "shadow",
    "occludes",
    "behind",
    "in",
    "front",
    "first",
    "then",
];
const ANSWERS: &[&str] = &[
    "0-2-3-1",
    "3-0",
    "3-1-2",
    "B",
    "A",
    "1-0-3-2",
    "C",
    "left-front",
];

/// One model-like response of about `len` characters: a `<think>` block of words and a boxed
/// answer, sometimes with Qwen2.5-VL-32B style spaces around the tags, sometimes malformed.
fn response(rng: &mut Mix, len: usize) -> (String, String) {
    let truth = ANSWERS[rng.below(ANSWERS.len() as u64) as usize];
    let answer = if rng.below(2) == 0 {
        truth
    } else {
        ANSWERS[rng.below(ANSWERS.len() as u64) as usize]
    };
    let spaced = rng.below(4) == 0;
    let mut s = String::with_capacity(len + 64);
    s.push_str(if spaced { "< think >\n" } else { "<think>" });
    while s.len() < len.saturating_sub(30) {
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        s.push(if rng.below(12) == 0 { '\n' } else { ' ' });
    }
    match rng.below(10) {
        0 => {} // never closes the think block
        _ if spaced => s.push_str(" </ think >\n\n"),
        _ => s.push_str("</think>\n"),
    }
    s.push_str("The answer is \\boxed{");
    s.push_str(answer);
    if rng.below(20) != 0 {
        s.push('}');
    }
    (s, truth.to_owned())
}

/// The realistic mix: `n` responses of 50-2,000 characters (mean about 1,025).
fn mix(n: usize) -> Vec<(String, String)> {
    let mut rng = Mix(3);
    (0..n)
        .map(|_| {
            let len = 50 + rng.below(1951) as usize;
            response(&mut rng, len)
        })
        .collect()
}

/// Inputs that are quadratic (or worse) for the Python reference's backtracking regexes.
fn adversarial(len: usize) -> Vec<(&'static str, String)> {
    vec![
        // `\s*(<|>|/)\s*` retries every start of a long whitespace run.
        (
            "whitespace_run",
            format!("<think>a{}b</think>\\boxed{{B}}", " ".repeat(len - 24)),
        ),
        // `<think>.*</think>.*\\boxed\{.*\}.*` backtracks over every `</think>` and `\boxed{`.
        (
            "format_backtrack",
            format!("<think>{}", "</think>\\boxed{".repeat((len - 7) / 15)),
        ),
        // Nested, never-closed braces after the last box.
        (
            "nested_braces",
            format!("<think></think>\\boxed{}", "{".repeat(len - 22)),
        ),
        // Unicode whitespace touching many tag characters.
        (
            "spaced_tags",
            " \u{3000}<\u{2028} /\u{a0}>".repeat(len / 12),
        ),
    ]
}

fn scaling(c: &mut Criterion) {
    let reward = ImgScore::default();
    let mut g = c.benchmark_group("scaling");
    for &size in &[1usize << 10, 100 << 10, 1 << 20] {
        let mut rng = Mix(size as u64);
        let (text, truth) = response(&mut rng, size);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("realistic", size), &text, |b, t| {
            b.iter(|| reward.score(black_box(t), black_box(&truth)))
        });
        for (name, text) in adversarial(size) {
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &text, |b, t| {
                b.iter(|| reward.score(black_box(t), "B"))
            });
        }
    }
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let reward = ImgScore::default();
    let data = mix(10_000);
    let pairs: Vec<(&str, &str)> = data.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
    let mean =
        pairs.iter().map(|(r, _)| r.chars().count()).sum::<usize>() as f64 / pairs.len() as f64;
    eprintln!("mix: {} responses, mean {mean:.0} chars", pairs.len());
    // Lets the Python reference be timed on the very same inputs (see docs/rewards.md).
    if let Some(path) = std::env::var_os("SSRL_BENCH_DUMP") {
        dump(&path, &data);
    }
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("single_thread", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for &(r, t) in &pairs {
                sum += reward.score(black_box(r), black_box(t)).overall;
            }
            sum
        })
    });
    g.bench_function("rayon", |b| {
        b.iter(|| reward.score_batch(black_box(&pairs)))
    });
    g.finish();
}

/// Writes the mix and the 4.5 KB adversarial inputs as JSONL (`response`, `ground_truth`, `case`).
fn dump(path: &std::ffi::OsStr, data: &[(String, String)]) {
    let adv = adversarial(4608)
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t, "B".to_owned()));
    let mix = data
        .iter()
        .map(|(r, t)| ("mix".to_owned(), r.clone(), t.clone()));
    let out: String = mix
        .chain(adv)
        .map(|(case, response, truth)| {
            serde_json::json!({"case": case, "response": response, "ground_truth": truth})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(path, out).expect("write SSRL_BENCH_DUMP");
}

fn adversarial_4_5kb(c: &mut Criterion) {
    let reward = ImgScore::default();
    let mut g = c.benchmark_group("adversarial_4_5kb");
    for (name, text) in adversarial(4608) {
        g.bench_function(name, |b| b.iter(|| reward.score(black_box(&text), "B")));
    }
    g.finish();
}

criterion_group!(benches, scaling, throughput, adversarial_4_5kb);
criterion_main!(benches);
