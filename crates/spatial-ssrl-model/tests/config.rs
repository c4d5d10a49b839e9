//! `config.json` in every spelling users have: the hub's released Qwen2.5-VL-3B/7B-Instruct
//! files, their transformers 4.57 and 5 re-saves (`tests/fixtures/hub-configs`), and the
//! tiny fixture (`SSRL_TINY_QWEN_DIR` or the repository copy) with impossible values edited in.

use std::path::PathBuf;

use serde_json::{Value, json};
use spatial_ssrl_model::{Error, Qwen2_5VlConfig, Result};

fn hub_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hub-configs")
}

fn fixture_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The published file, parsed, must carry the sizes written in it; every re-save must load
/// to the same config.
#[test]
fn hub_configs_and_their_resaves_load_alike() {
    for size in ["3b", "7b"] {
        let hub_path = hub_dir().join(format!("qwen2_5_vl_{size}_instruct.config.json"));
        let hub = read_json(hub_path.clone());
        let cfg = Qwen2_5VlConfig::from_file(&hub_path).unwrap();
        let t = &cfg.text;
        assert_eq!(t.hidden_size, hub["hidden_size"]);
        assert_eq!(t.num_hidden_layers, hub["num_hidden_layers"]);
        assert_eq!(t.num_attention_heads, hub["num_attention_heads"]);
        assert_eq!(t.num_key_value_heads, hub["num_key_value_heads"]);
        assert_eq!(t.intermediate_size, hub["intermediate_size"]);
        assert_eq!(t.vocab_size, hub["vocab_size"]);
        assert_eq!(t.tie_word_embeddings, hub["tie_word_embeddings"]);
        assert_eq!(json!(t.mrope_section), hub["rope_scaling"]["mrope_section"]);
        let v = &cfg.vision;
        let hv = &hub["vision_config"];
        assert_eq!(v.in_channels, hv["in_chans"]);
        assert_eq!(v.depth, hv["depth"]);
        assert_eq!(v.hidden_size, hv["hidden_size"]);
        assert_eq!(json!(v.fullatt_block_indexes), hv["fullatt_block_indexes"]);
        assert_eq!(v.window_size, hv["window_size"]);
        assert_eq!(cfg.torch_dtype.as_deref(), hub["torch_dtype"].as_str());
        for tag in ["transformers-4.57", "transformers-5"] {
            let path = hub_dir().join(format!("qwen2_5_vl_{size}_instruct.{tag}.config.json"));
            let resaved = Qwen2_5VlConfig::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(resaved, cfg, "{}", path.display());
        }
    }
}

#[test]
fn resaves_use_the_spellings_they_are_here_for() {
    let v457 = read_json(hub_dir().join("qwen2_5_vl_3b_instruct.transformers-4.57.config.json"));
    assert!(v457["vision_config"]["in_chans"].is_number());
    assert!(v457["vision_config"]["in_channels"].is_number());
    assert!(v457["text_config"].is_object() && v457["dtype"].is_string());
    let v5 = read_json(hub_dir().join("qwen2_5_vl_3b_instruct.transformers-5.config.json"));
    assert!(v5["text_config"]["rope_parameters"]["rope_theta"].is_number());
    assert!(v5["rope_scaling"].is_null() && v5["hidden_size"].is_null());
}

/// The fixture's config with `edit` applied to its JSON.
fn edited(edit: impl FnOnce(&mut Value)) -> Result<Qwen2_5VlConfig> {
    let mut v = read_json(fixture_dir().join("config.json"));
    edit(&mut v);
    Qwen2_5VlConfig::from_json_str(&v.to_string())
}

fn rejected(field: &str, edit: impl FnOnce(&mut Value)) {
    match edited(edit) {
        Err(Error::UnsupportedConfig { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: expected UnsupportedConfig, got {other:?}"),
    }
}

/// Sets a text key in both places a re-save keeps it (the nested copy wins).
fn both(v: &mut Value, key: &str, x: Value) {
    v[key] = x.clone();
    if v.get("text_config").is_some() {
        v["text_config"][key] = x;
    }
}

fn mrope_section(v: &Value) -> Vec<usize> {
    serde_json::from_value(v["rope_scaling"]["mrope_section"].clone()).unwrap()
}

#[test]
fn impossible_and_unsupported_values_are_typed_errors() {
    rejected("rope_scaling.type", |v| {
        let s = mrope_section(v);
        both(
            v,
            "rope_scaling",
            json!({"type": "yarn", "mrope_section": s}),
        )
    });
    rejected("rope_scaling.mrope_section", |v| {
        let mut s = mrope_section(v);
        s[2] += 1;
        both(
            v,
            "rope_scaling",
            json!({"type": "mrope", "mrope_section": s}),
        )
    });
    rejected("hidden_act", |v| both(v, "hidden_act", json!("gelu")));
    rejected("num_hidden_layers", |v| {
        both(v, "num_hidden_layers", json!(0))
    });
    rejected("vocab_size", |v| both(v, "vocab_size", json!(0)));
    rejected("intermediate_size", |v| {
        both(v, "intermediate_size", json!(0))
    });
    rejected("num_attention_heads", |v| {
        let h = v["hidden_size"].as_u64().unwrap();
        both(v, "num_attention_heads", json!(h + 1))
    });
    rejected("num_key_value_heads", |v| {
        let h = v["num_attention_heads"].as_u64().unwrap();
        both(v, "num_key_value_heads", json!(h + 1))
    });
    rejected("rms_norm_eps", |v| both(v, "rms_norm_eps", json!(-1.0)));
    rejected("rope_theta", |v| both(v, "rope_theta", json!(0.0)));
    rejected("torch_dtype", |v| both(v, "dtype", json!("int8")));
    rejected("vision_config.fullatt_block_indexes", |v| {
        let d = v["vision_config"]["depth"].clone();
        v["vision_config"]["fullatt_block_indexes"] = json!([d]);
    });
    rejected("vision_config.depth", |v| {
        v["vision_config"]["depth"] = json!(0)
    });
    rejected("vision_config.patch_size", |v| {
        v["vision_config"]["patch_size"] = json!(0)
    });
    rejected("vision_config.num_heads", |v| {
        let h = v["vision_config"]["hidden_size"].as_u64().unwrap();
        v["vision_config"]["num_heads"] = json!(h + 1);
    });
    rejected("vision_config.in_chans", |v| {
        let c = v["vision_config"]["in_channels"].as_u64().unwrap_or(3);
        v["vision_config"]["in_chans"] = json!(c + 1);
        v["vision_config"]["in_channels"] = json!(c);
    });
    rejected("vision_config.out_hidden_size", |v| {
        let h = v["hidden_size"].as_u64().unwrap();
        v["vision_config"]["out_hidden_size"] = json!(h + 1);
    });
    rejected("model_type", |v| v["model_type"] = json!("qwen2_vl"));
    assert!(matches!(
        edited(|v| v["vision_config"]["depth"] = json!("four")),
        Err(Error::Json { .. })
    ));
}

#[test]
fn channel_and_rope_spellings_of_the_fixture_agree() {
    let base = edited(|_| {}).unwrap();
    let both_channels = edited(|v| {
        let vc = v["vision_config"].as_object_mut().unwrap();
        let c = vc
            .get("in_channels")
            .or(vc.get("in_chans"))
            .unwrap()
            .clone();
        vc.insert("in_chans".into(), c.clone());
        vc.insert("in_channels".into(), c);
    })
    .unwrap();
    assert_eq!(both_channels, base);
    // transformers 5 layout: text only under text_config, rope_parameters with rope_theta.
    let v5 = edited(|v| {
        let top = v.as_object_mut().unwrap();
        let mut text = top.get("text_config").cloned().unwrap_or(json!({}));
        for key in [
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "rms_norm_eps",
            "rope_theta",
            "rope_scaling",
        ] {
            if let Some(x) = top.get(key).filter(|_| text.get(key).is_none()) {
                text[key] = x.clone();
            }
        }
        let text = text.as_object_mut().unwrap();
        let mut rope = text.remove("rope_scaling").unwrap();
        rope["rope_theta"] = text.remove("rope_theta").unwrap();
        text.insert("rope_parameters".into(), rope);
        let text = Value::Object(text.clone());
        let keep = [
            "vision_config",
            "model_type",
            "dtype",
            "tie_word_embeddings",
        ];
        top.retain(|k, _| keep.contains(&k.as_str()) || k.ends_with("token_id"));
        top.insert("text_config".into(), text);
        top.insert(
            "tie_word_embeddings".into(),
            json!(base.text.tie_word_embeddings),
        );
    })
    .unwrap();
    assert_eq!(v5, base);
}
