//! Parity with EasyR1's own functions on a fixed batch (`tests/fixtures/grpo-golden`, or the
//! file named by `SSRL_GRPO_GOLDEN`): advantages of every estimator, policy loss of every loss
//! type and aggregation mode, clip fractions, KL variants, the total loss and its gradient with
//! respect to the log-probs through burn autodiff. Tolerance: 1e-6 absolute or 1e-5 relative.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;
use spatial_ssrl_rl::{
    AdvantageEstimator, AdvantageInputs, KlPenalty, LossAggregation, PolicyLossConfig,
    PolicyLossType, compute_advantage_return, compute_kl, compute_policy_loss, kl_loss,
    kl_penalised_rewards, masked::average_loss,
};

const ABS: f64 = 1e-6;
const REL: f64 = 1e-5;

fn golden_path() -> PathBuf {
    match std::env::var_os("SSRL_GRPO_GOLDEN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/grpo-golden/grpo_golden.json"),
    }
}

struct Golden {
    json: Value,
    bs: usize,
    len: usize,
    device: Device,
}

impl Golden {
    fn load() -> Golden {
        let path = golden_path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).expect("golden json parses");
        let mask = &json["inputs"]["response_mask"];
        let bs = mask.as_array().unwrap().len();
        let len = mask[0].as_array().unwrap().len();
        Golden {
            json,
            bs,
            len,
            device: Device::flex(),
        }
    }

    fn at(&self, path: &str) -> &Value {
        let mut v = &self.json;
        for key in path.split('.') {
            v = &v[key];
        }
        assert!(!v.is_null(), "golden has no {path}");
        v
    }

    /// Float32 values of a `[bs, len]` array, parsed as f64 then cast (the README's recipe).
    fn matrix(&self, path: &str) -> Vec<f32> {
        self.at(path)
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
            .collect()
    }

    fn tensor(&self, path: &str, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.matrix(path), [self.bs, self.len]),
            device,
        )
    }

    fn number(&self, path: &str) -> f64 {
        self.at(path).as_f64().unwrap()
    }

    /// `uid-*` strings as dense group ids in order of first appearance.
    fn index(&self) -> Vec<u64> {
        let mut seen: Vec<String> = Vec::new();
        self.at("inputs.uid")
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let u = u.as_str().unwrap().to_string();
                match seen.iter().position(|s| *s == u) {
                    Some(i) => i as u64,
                    None => {
                        seen.push(u);
                        (seen.len() - 1) as u64
                    }
                }
            })
            .collect()
    }
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

fn host1(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

fn within(got: f64, want: f64) -> bool {
    let err = (got - want).abs();
    err <= ABS || err <= REL * want.abs()
}

/// Largest absolute error; panics with the case id and the first bad element.
fn check_matrix(
    case: &str,
    got: &[f32],
    want: &[f32],
    mask: &[f32],
    len: usize,
    masked_only: bool,
) -> f64 {
    assert_eq!(got.len(), want.len(), "{case}: length");
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if masked_only && mask[i] == 0.0 {
            continue;
        }
        let (g, w) = (g as f64, w as f64);
        assert!(
            within(g, w),
            "{case}: [{}, {}] expected {w}, got {g}",
            i / len,
            i % len
        );
        worst = worst.max((g - w).abs());
    }
    worst
}

fn check_scalar(case: &str, got: f64, want: f64) -> f64 {
    assert!(within(got, want), "{case}: expected {want}, got {got}");
    (got - want).abs()
}

#[test]
fn advantages_match_every_estimator_in_the_fixture() {
    let g = Golden::load();
    let index = g.index();
    let mask_host = g.matrix("inputs.response_mask");
    let estimators = g.at("advantage_estimators").as_object().unwrap();
    assert!(
        estimators.len() >= 4,
        "fixture lists {} estimators",
        estimators.len()
    );
    for name in estimators.keys() {
        let est: AdvantageEstimator = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = AdvantageInputs::new(
            g.tensor("inputs.token_level_scores", &g.device),
            g.tensor("inputs.response_mask", &g.device),
            &index,
        );
        let (adv, ret) = compute_advantage_return(est, &inputs).unwrap();
        let want_adv = g.matrix(&format!("advantage_estimators.{name}.advantages"));
        let want_ret = g.matrix(&format!("advantage_estimators.{name}.returns"));
        // Every position, padding included: the estimators define it (mask * ... or whitened).
        let e1 = check_matrix(
            &format!("{name}.advantages"),
            &host(adv),
            &want_adv,
            &mask_host,
            g.len,
            false,
        );
        let e2 = check_matrix(
            &format!("{name}.returns"),
            &host(ret),
            &want_ret,
            &mask_host,
            g.len,
            false,
        );
        eprintln!("advantage {name}: max abs err adv {e1:.3e} ret {e2:.3e}");
    }
}

#[test]
fn reward_side_kl_matches_compute_rewards() {
    let g = Golden::load();
    let ratio = g.number("compute_rewards.kl_ratio") as f32;
    let got = kl_penalised_rewards(
        g.tensor("inputs.token_level_scores", &g.device),
        g.tensor("inputs.old_log_probs", &g.device),
        g.tensor("inputs.ref_log_probs", &g.device),
        ratio,
    );
    let want = g.matrix("compute_rewards.token_level_rewards");
    let mask = g.matrix("inputs.response_mask");
    let e = check_matrix("compute_rewards", &host(got), &want, &mask, g.len, false);
    eprintln!("compute_rewards: max abs err {e:.3e}");
}

#[test]
fn kl_variants_match() {
    let g = Golden::load();
    let mask_host = g.matrix("inputs.response_mask");
    for penalty in KlPenalty::ALL {
        let name = penalty.name();
        let per_token = compute_kl(
            g.tensor("inputs.log_probs", &g.device),
            g.tensor("inputs.ref_log_probs", &g.device),
            penalty,
        );
        let want = g.matrix(&format!("kl.{name}.per_token"));
        let e = check_matrix(
            &format!("kl.{name}.per_token"),
            &host(per_token.clone()),
            &want,
            &mask_host,
            g.len,
            false,
        );
        let mask = g.tensor("inputs.response_mask", &g.device);
        let tm = host1(average_loss(
            per_token.clone(),
            mask.clone(),
            LossAggregation::Token,
        ));
        let sm = host1(average_loss(per_token, mask, LossAggregation::Seq));
        let e2 = check_scalar(
            &format!("kl.{name}.token_mean"),
            tm,
            g.number(&format!("kl.{name}.token_mean")),
        );
        let e3 = check_scalar(
            &format!("kl.{name}.seq_mean"),
            sm,
            g.number(&format!("kl.{name}.seq_mean")),
        );
        eprintln!("kl {name}: per-token {e:.3e}, token_mean {e2:.3e}, seq_mean {e3:.3e}");
    }
}

/// One `policy_loss["<type>/<mode>"]` case: loss, metrics, KL loss, total loss and its
/// gradient w.r.t. `log_probs` through burn autodiff.
fn check_policy_case(g: &Golden, key: &str, case: &Value) {
    let loss_type: PolicyLossType = case["loss_type"].as_str().unwrap().parse().unwrap();
    let mode: LossAggregation = case["loss_avg_mode"].as_str().unwrap().parse().unwrap();
    let s = &g.json["settings"];
    let cfg = PolicyLossConfig {
        clip_ratio_low: s["clip_ratio_low"].as_f64().unwrap() as f32,
        clip_ratio_high: s["clip_ratio_high"].as_f64().unwrap() as f32,
        clip_ratio_dual: s["clip_ratio_dual"].as_f64().unwrap() as f32,
        tau_positive: s["tau_positive"].as_f64().unwrap() as f32,
        tau_negative: s["tau_negative"].as_f64().unwrap() as f32,
        loss_type,
        loss_avg_mode: mode,
    };
    let kl_coef = s["kl_coef"].as_f64().unwrap() as f32;
    let penalty: KlPenalty = s["kl_penalty"].as_str().unwrap().parse().unwrap();

    let ad = g.device.clone().autodiff();
    let log_probs = g.tensor("inputs.log_probs", &ad).require_grad();
    let old = g.tensor("inputs.old_log_probs", &ad);
    let reference = g.tensor("inputs.ref_log_probs", &ad);
    let mask = g.tensor("inputs.response_mask", &ad);
    let adv = g.tensor("advantage_estimators.grpo.advantages", &ad);

    let out = compute_policy_loss(old, log_probs.clone(), adv, mask.clone(), &cfg);
    let kl = kl_loss(log_probs.clone(), reference, mask, penalty, mode);
    let loss = out.pg_loss.clone() + kl.clone() * kl_coef;

    let mut errs = vec![
        check_scalar(
            &format!("{key}.pg_loss"),
            host1(out.pg_loss),
            case["pg_loss"].as_f64().unwrap(),
        ),
        check_scalar(
            &format!("{key}.kl_loss"),
            host1(kl),
            case["kl_loss"].as_f64().unwrap(),
        ),
    ];
    let m = &case["metrics"];
    errs.push(check_scalar(
        &format!("{key}.ppo_kl"),
        out.metrics.ppo_kl as f64,
        m["ppo_kl"].as_f64().unwrap(),
    ));
    errs.push(check_scalar(
        &format!("{key}.entropy_loss"),
        out.metrics.entropy_loss as f64,
        m["entropy_loss"].as_f64().unwrap(),
    ));
    for (name, got) in [
        ("pg_clipfrac_higher", out.metrics.pg_clipfrac_higher),
        ("pg_clipfrac_lower", out.metrics.pg_clipfrac_lower),
    ] {
        match (m.get(name).and_then(Value::as_f64), got) {
            (Some(want), Some(got)) => {
                errs.push(check_scalar(&format!("{key}.{name}"), got as f64, want))
            }
            (None, None) => {}
            (want, got) => panic!("{key}.{name}: expected {want:?}, got {got:?}"),
        }
    }

    let grads = loss.backward();
    errs.push(check_scalar(
        &format!("{key}.loss"),
        host1(loss),
        case["loss"].as_f64().unwrap(),
    ));
    let grad = log_probs.grad(&grads).expect("log_probs has a gradient");
    let want = g.matrix(&format!("policy_loss.{key}.grad_log_probs"));
    let mask_host = g.matrix("inputs.response_mask");
    errs.push(check_matrix(
        &format!("{key}.grad_log_probs"),
        &host(grad),
        &want,
        &mask_host,
        g.len,
        false,
    ));
    let worst = errs.into_iter().fold(0.0, f64::max);
    eprintln!("policy_loss {key}: max abs err {worst:.3e}");
}

#[test]
fn policy_loss_every_type_and_mode_with_gradients() {
    let g = Golden::load();
    let cases = g.at("policy_loss").as_object().unwrap();
    assert!(
        cases.len() >= 10,
        "fixture lists {} policy-loss cases",
        cases.len()
    );
    for (key, case) in cases {
        check_policy_case(&g, key, case);
    }
}

#[test]
fn main_configuration_matches() {
    // The Spatial-SSRL recipe: grpo + default loss + token mean + low_var_kl (coef 0.01).
    let g = Golden::load();
    let index = g.index();
    let inputs = AdvantageInputs::new(
        g.tensor("inputs.token_level_scores", &g.device),
        g.tensor("inputs.response_mask", &g.device),
        &index,
    );
    let (adv, _) = compute_advantage_return(AdvantageEstimator::default(), &inputs).unwrap();
    let mask_host = g.matrix("inputs.response_mask");
    check_matrix(
        "main.advantages",
        &host(adv),
        &g.matrix("main.advantages"),
        &mask_host,
        g.len,
        false,
    );

    let ad = g.device.clone().autodiff();
    let lp = g.tensor("inputs.log_probs", &ad).require_grad();
    let mask = g.tensor("inputs.response_mask", &ad);
    let cfg = PolicyLossConfig::default();
    let out = compute_policy_loss(
        g.tensor("inputs.old_log_probs", &ad),
        lp.clone(),
        g.tensor("main.advantages", &ad),
        mask.clone(),
        &cfg,
    );
    let kl = kl_loss(
        lp.clone(),
        g.tensor("inputs.ref_log_probs", &ad),
        mask,
        KlPenalty::default(),
        cfg.loss_avg_mode,
    );
    let loss = out.pg_loss.clone() + kl * 0.01;
    let grads = loss.backward();
    check_scalar("main.pg_loss", host1(out.pg_loss), g.number("main.pg_loss"));
    check_scalar("main.loss", host1(loss), g.number("main.loss"));
    check_scalar(
        "main.pg_clipfrac_higher",
        out.metrics.pg_clipfrac_higher.unwrap() as f64,
        g.number("main.pg_clipfrac_higher"),
    );
    check_scalar(
        "main.pg_clipfrac_lower",
        out.metrics.pg_clipfrac_lower.unwrap() as f64,
        g.number("main.pg_clipfrac_lower"),
    );
    check_scalar(
        "main.ppo_kl",
        out.metrics.ppo_kl as f64,
        g.number("main.ppo_kl"),
    );
    let grad = host(lp.grad(&grads).unwrap());
    let e = check_matrix(
        "main.grad_log_probs",
        &grad,
        &g.matrix("main.grad_log_probs"),
        &mask_host,
        g.len,
        false,
    );
    // Padding never receives gradient.
    for (i, &m) in mask_host.iter().enumerate() {
        if m == 0.0 {
            assert_eq!(grad[i], 0.0, "gradient at padded position {i}");
        }
    }
    eprintln!("main: grad max abs err {e:.3e}");
}
