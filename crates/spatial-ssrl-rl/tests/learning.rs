//! GRPO must really learn: a tiny policy learns each prompt's token sequence from a verifiable
//! reward (mean reward from ~0.1 to >= 0.9 in a bounded number of seeded steps), and the same
//! run with the advantage sign flipped does not. Also: checkpoint + resume matches an
//! uninterrupted run, and SFT lowers the cross-entropy.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, OptimConfig, Policy, PromptRecord, SamplingConfig, SftConfig,
    SftExample, SftTrainer, StepMetrics, TinyPolicy, TinyPolicyConfig,
};

/// Fraction of target positions right; extra tokens count as wrong.
struct TokenMatch;

impl RewardFn for TokenMatch {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        let r: Vec<&str> = response.split_whitespace().collect();
        let g: Vec<&str> = ground_truth.split_whitespace().collect();
        let hits = g.iter().zip(&r).filter(|(a, b)| a == b).count();
        let s = hits as f64 / r.len().max(g.len()).max(1) as f64;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: if r == g { 1.0 } else { 0.0 },
        }
    }
}

/// `1 - r`: for group-normalised advantages this is exactly the advantage with its sign flipped
/// (`(1 - r) - mean(1 - r) = -(r - mean r)`, same std).
struct Flipped;

impl RewardFn for Flipped {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        let mut b = TokenMatch.score(response, ground_truth);
        b.overall = 1.0 - b.overall;
        b
    }
}

const TARGETS: [&str; 4] = ["3 1 4", "2 7 5", "6 6 1", "5 3 2"];

fn records() -> Vec<PromptRecord> {
    TARGETS
        .iter()
        .enumerate()
        .map(|(i, t)| PromptRecord {
            id: i as u64,
            problem: i.to_string(),
            answer: (*t).to_string(),
            images: Vec::new(),
            task: if i % 2 == 0 { "even" } else { "odd" }.into(),
        })
        .collect()
}

/// The records as SFT pairs: each prompt with its ground-truth answer as the response.
fn sft_examples() -> Vec<SftExample> {
    records()
        .into_iter()
        .map(|r| SftExample {
            response: r.answer.clone(),
            prompt: r,
        })
        .collect()
}

fn tiny() -> TinyPolicyConfig {
    TinyPolicyConfig {
        n_prompts: 4,
        vocab: 8,
        hidden: 32,
        max_len: 4,
        seed: 7,
    }
}

fn config() -> GrpoConfig {
    GrpoConfig {
        rollout_batch_size: 4,
        n: 8,
        global_batch_size: 2,
        micro_batch_size: 8,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 4,
        },
        optim: OptimConfig {
            lr: 1e-2,
            ..OptimConfig::default()
        },
        seed: 11,
        ..GrpoConfig::default()
    }
}

fn trainer() -> GrpoTrainer<TinyPolicy> {
    let ad = Device::flex().autodiff();
    let policy = tiny().init(&ad);
    let reference = tiny().init(&ad);
    GrpoTrainer::new(policy, Some(reference), records(), config()).unwrap()
}

const MAX_STEPS: u64 = 150;

/// One reward for every task.
fn every_task(reward: impl RewardFn + 'static) -> TaskRouter {
    TaskRouter::new(Box::new(reward))
}

fn run(reward: impl RewardFn + 'static, flip: bool) -> Vec<f64> {
    let reward = every_task(reward);
    let mut t = trainer();
    let mut true_rewards = Vec::new();
    for _ in 0..MAX_STEPS {
        let m = t.step(&reward, MAX_STEPS).unwrap();
        assert!(m.pg_loss.is_finite() && m.kl.is_finite() && m.grad_norm.is_finite());
        let r = if flip {
            1.0 - m.reward.mean
        } else {
            m.reward.mean
        };
        true_rewards.push(r);
        if !flip && r >= 0.95 {
            break;
        }
    }
    true_rewards
}

#[test]
fn grpo_learns_and_the_flipped_sign_does_not() {
    let learned = run(TokenMatch, false);
    let first = learned[0];
    let reached = learned.iter().position(|&r| r >= 0.9);
    eprintln!(
        "learning: initial reward {first:.3}, >= 0.9 at step {:?}, curve {:?}",
        reached.map(|s| s + 1),
        learned
            .iter()
            .map(|r| (r * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    assert!(
        first < 0.35,
        "initial reward {first} is already high: the task is too easy"
    );
    assert!(
        reached.is_some(),
        "GRPO did not reach 0.9 in {MAX_STEPS} steps"
    );

    let flipped = run(Flipped, true);
    let best = flipped.iter().copied().fold(0.0, f64::max);
    let last = *flipped.last().unwrap();
    eprintln!("flipped sign: best {best:.3}, last {last:.3}");
    assert!(best < 0.5, "flipped advantages reached {best}");
    assert!(
        last <= first + 0.05,
        "flipped run improved from {first} to {last}"
    );
}

struct Collect(Vec<f32>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(
            param
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec_as::<f32>()
                .unwrap(),
        );
    }
}

fn weights<M: Module>(m: &M) -> Vec<f32> {
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

fn comparable(m: &StepMetrics) -> (u64, f64, f64, f64, f64, f64, usize) {
    (
        m.step,
        m.reward.mean,
        m.pg_loss,
        m.kl,
        m.grad_norm,
        m.ppo_kl,
        m.response_length_max,
    )
}

#[test]
fn resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let total = 4;
    let mut a = trainer();
    let mut a_metrics = Vec::new();
    for s in 1..=total {
        a_metrics.push(a.step(&every_task(TokenMatch), total).unwrap());
        if s == 2 {
            a.save_checkpoint(dir.path()).unwrap();
        }
    }
    let mut b = trainer();
    b.load_checkpoint(dir.path()).unwrap();
    assert_eq!(b.step_count(), 2);
    let mut b_metrics = Vec::new();
    for _ in 3..=total {
        b_metrics.push(b.step(&every_task(TokenMatch), total).unwrap());
    }
    for (x, y) in a_metrics[2..].iter().zip(&b_metrics) {
        let (x, y) = (comparable(x), comparable(y));
        assert_eq!(x.0, y.0);
        for (u, v) in [(x.1, y.1), (x.2, y.2), (x.3, y.3), (x.4, y.4), (x.5, y.5)] {
            assert!(
                (u - v).abs() <= 1e-6 * (1.0 + u.abs()),
                "metrics differ: {x:?} vs {y:?}"
            );
        }
        assert_eq!(x.6, y.6);
    }
    let (wa, wb) = (weights(a.policy()), weights(b.policy()));
    assert_eq!(wa.len(), wb.len());
    let worst = wa
        .iter()
        .zip(&wb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("resume: max weight difference {worst:e}");
    assert!(worst <= 1e-6, "weights differ by {worst}");
    // And training really changed them.
    let w0 = weights(&tiny().init(&Device::flex().autodiff()));
    assert!(w0.iter().zip(&wa).any(|(x, y)| (x - y).abs() > 1e-4));
}

#[test]
fn sft_lowers_the_response_cross_entropy() {
    let ad = Device::flex().autodiff();
    let examples = sft_examples();
    let cfg = SftConfig {
        batch_size: 2,
        grad_accum: 2,
        epochs: 20,
        lora_rank: 0,
        optim: OptimConfig {
            lr: 3e-2,
            ..SftConfig::default().optim
        },
        ..SftConfig::default()
    };
    let mut t = SftTrainer::new(tiny().init(&ad), &examples, cfg).unwrap();
    let total = t.total_steps();
    assert_eq!(total, 20);
    let first = t.step().unwrap();
    let mut last = first.clone();
    for _ in 1..total {
        last = t.step().unwrap();
    }
    eprintln!("sft: loss {:.3} -> {:.3}", first.pg_loss, last.pg_loss);
    assert!(first.pg_loss > 1.5, "initial loss {}", first.pg_loss);
    assert!(
        last.pg_loss < 0.3 * first.pg_loss,
        "loss {} -> {}",
        first.pg_loss,
        last.pg_loss
    );
    // Warmup then cosine: lr rises first and ends near zero.
    assert!(first.lr < 3e-2 && last.lr < 3e-3);
}

#[test]
fn sft_with_burn_lora_trains_only_the_adapters() {
    let ad = Device::flex().autodiff();
    let examples = sft_examples();
    let cfg = SftConfig {
        batch_size: 4,
        grad_accum: 1,
        epochs: 10,
        lora_rank: 4,
        lora_alpha: 8.0,
        lora_target: "w1, w2".into(),
        optim: OptimConfig {
            lr: 3e-2,
            ..SftConfig::default().optim
        },
        ..SftConfig::default()
    };
    let base = weights(&tiny().init(&ad));
    let mut t = SftTrainer::new(tiny().init(&ad), &examples, cfg.clone()).unwrap();
    let first = t.step().unwrap();
    let mut last = first.clone();
    for _ in 1..t.total_steps() {
        last = t.step().unwrap();
    }
    eprintln!("sft lora: loss {:.3} -> {:.3}", first.pg_loss, last.pg_loss);
    assert!(
        last.pg_loss < first.pg_loss,
        "LoRA SFT did not lower the loss"
    );
    // Adapters on w1 and w2 only; the merge folds them in: same outputs, plain weights that
    // differ from the base, all trainable again.
    let adapted = t.policy().clone();
    let fresh_params = float_params(&tiny().init(&ad)).1;
    // Two factors per adapted weight are parameters of their own.
    assert_eq!(float_params(&adapted).1, fresh_params + 4);
    let merged = t.into_policy();
    let (plain, count) = float_params(&merged);
    assert_eq!(count, fresh_params);
    assert_eq!(plain.len(), base.len());
    assert_ne!(plain, base);
    let prompts: Vec<u32> = (0..4).collect();
    let responses: Vec<Vec<u32>> = vec![vec![3, 1, 4], vec![2, 7, 5], vec![6, 6, 1], vec![5, 3, 2]];
    let lp = |p: &TinyPolicy| {
        p.response_log_probs(&prompts, &responses, 3, 1.0)
            .unwrap()
            .log_probs
            .into_data()
            .convert::<f32>()
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    for (a, b) in lp(&adapted).iter().zip(lp(&merged)) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert_eq!(trainable_count(&merged), trainable_count(&tiny().init(&ad)));

    // A target that names nothing is a typed error.
    let bad = SftConfig {
        lora_target: "q_proj".into(),
        ..cfg
    };
    assert!(SftTrainer::new(tiny().init(&ad), &examples, bad).is_err());
}

/// Every float value and the number of float parameters of a module (LoRA factors count as
/// parameters of their own).
fn float_params<M: Module>(m: &M) -> (Vec<f32>, usize) {
    struct Split(Vec<f32>, usize);
    impl ModuleVisitor for Split {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.1 += 1;
            self.0.extend(
                param
                    .base()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec_as::<f32>()
                    .unwrap(),
            );
        }
    }
    let mut s = Split(Vec::new(), 0);
    m.visit(&mut s);
    (s.0, s.1)
}

fn trainable_count<M: Module>(m: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += usize::from(param.val().is_require_grad());
        }
    }
    let mut c = Count(0);
    m.visit(&mut c);
    c.0
}

/// The LoRA adapters' initial factors come from `sft.seed`, not from whatever the device's
/// generator drew before: one seed, one set of adapters.
#[test]
fn lora_adapters_follow_the_sft_seed() {
    let ad = Device::flex().autodiff();
    let examples = sft_examples();
    let cfg = |seed| SftConfig {
        lora_rank: 4,
        lora_alpha: 8.0,
        lora_target: "w1, w2".into(),
        seed,
        ..SftConfig::default()
    };
    let adapters = |seed, draws: usize| {
        ad.seed(99);
        let policy = tiny().init(&ad);
        // Use the device's generator a different number of times before the trainer starts.
        for _ in 0..draws {
            let _ = Tensor::<2>::random([3, 3], burn::tensor::Distribution::Default, &ad);
        }
        let t = SftTrainer::new(policy, &examples, cfg(seed)).unwrap();
        float_params(t.policy()).0
    };
    let a = adapters(7, 0);
    assert_eq!(a, adapters(7, 3), "same seed, different adapters");
    assert_ne!(a, adapters(8, 0), "the seed does not reach the adapters");
}

/// A LoRA SFT run stopped after a checkpoint and resumed ends with the same merged weights as
/// an uninterrupted run.
#[test]
fn lora_sft_resumes_to_the_same_weights() {
    let ad = Device::flex().autodiff();
    let examples = sft_examples();
    let cfg = SftConfig {
        batch_size: 2,
        grad_accum: 1,
        epochs: 2,
        lora_rank: 2,
        lora_alpha: 4.0,
        lora_target: "w1,w2".into(),
        ..SftConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = SftTrainer::new(tiny().init(&ad), &examples, cfg.clone()).unwrap();
    let total = a.total_steps();
    assert!(total >= 3);
    for s in 1..=total {
        a.step().unwrap();
        if s == 2 {
            a.save_checkpoint(dir.path()).unwrap();
        }
    }
    let mut b = SftTrainer::new(tiny().init(&ad), &examples, cfg).unwrap();
    b.load_checkpoint(dir.path()).unwrap();
    assert_eq!(b.state().step, 2);
    while b.state().step < total {
        b.step().unwrap();
    }
    let (a, b) = (a.into_policy(), b.into_policy());
    // The resumed run's merged model is as trainable as a fresh one (GRPO trains it all).
    assert_eq!(trainable_count(&b), trainable_count(&tiny().init(&ad)));
    let (wa, wb) = (weights(&a), weights(&b));
    assert_eq!(wa.len(), wb.len());
    for (x, y) in wa.iter().zip(&wb) {
        assert!((x - y).abs() <= 1e-6 * (1.0 + x.abs()), "{x} vs {y}");
    }
}

/// EasyR1's online filtering: groups outside `(filter_low, filter_high)` are dropped and more
/// prompts are drawn until `rollout_batch_size` groups are kept; a band nothing can enter
/// fails after `max_try_make_batch` draws with a typed error.
#[test]
fn online_filtering_refills_the_batch_and_gives_up_after_max_tries() {
    let ad = Device::flex().autodiff();
    let cfg = GrpoConfig {
        online_filtering: true,
        mini_rollout_batch_size: Some(2),
        ..config()
    };
    let run = || {
        let mut t = GrpoTrainer::new(
            tiny().init(&ad),
            Some(tiny().init(&ad)),
            records(),
            cfg.clone(),
        )
        .unwrap();
        t.step(&every_task(TokenMatch), 10).unwrap()
    };
    let m = run();
    // Two prompts per draw, four groups wanted: at least two draws; every examined group is
    // kept, dropped, or cut from the last draw.
    assert!(m.make_batch_tries >= 2, "{} draws", m.make_batch_tries);
    assert!(m.filtered_groups + 4 <= 2 * m.make_batch_tries);
    assert!(m.filtered_groups + 4 + 1 >= 2 * m.make_batch_tries);
    assert_eq!(comparable(&m), comparable(&run()), "not reproducible");

    // Format is 1.0 for every response: no group mean is below 0.99.
    let never = GrpoConfig {
        filter_key: spatial_ssrl_rl::FilterKey::Format,
        max_try_make_batch: 3,
        ..cfg
    };
    let mut t =
        GrpoTrainer::new(tiny().init(&ad), Some(tiny().init(&ad)), records(), never).unwrap();
    let err = t.step(&every_task(TokenMatch), 10).unwrap_err();
    assert!(
        matches!(
            err,
            spatial_ssrl_rl::Error::OnlineFiltering {
                tries: 3,
                kept: 0,
                wanted: 4
            }
        ),
        "{err}"
    );
}

/// Rollouts seeded per (step, prompt, sample): the same step in one generation call or in
/// calls of three sequences gives the same responses, so the same metrics.
#[test]
fn rollout_results_do_not_depend_on_the_micro_batch() {
    let ad = Device::flex().autodiff();
    let run = |micro: Option<usize>| {
        let cfg = GrpoConfig {
            rollout_micro_batch_size: micro,
            ..config()
        };
        let mut t =
            GrpoTrainer::new(tiny().init(&ad), Some(tiny().init(&ad)), records(), cfg).unwrap();
        let reward = every_task(TokenMatch);
        (0..2)
            .map(|_| comparable(&t.step(&reward, 2).unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(None), run(Some(3)));
}

/// `ref_on_cpu` moves the frozen reference off the training device; the KL it feeds is the
/// same as with the reference beside the policy (here both are CPU devices, so the numbers
/// must agree exactly).
#[test]
fn reference_kept_on_the_cpu_gives_the_same_kl() {
    let build = |on_cpu| {
        let ad = Device::flex().autodiff();
        let cfg = GrpoConfig {
            ref_on_cpu: on_cpu,
            ..config()
        };
        GrpoTrainer::new(tiny().init(&ad), Some(tiny().init(&ad)), records(), cfg).unwrap()
    };
    let (mut a, mut b) = (build(false), build(true));
    let mut kl = 0.0;
    for _ in 0..3 {
        let x = a.step(&every_task(TokenMatch), 3).unwrap();
        let y = b.step(&every_task(TokenMatch), 3).unwrap();
        assert_eq!(comparable(&x), comparable(&y));
        kl = y.kl;
    }
    // The reference took part: after two updates the policy has moved away from it.
    assert!(kl > 0.0, "kl {kl}");
}
