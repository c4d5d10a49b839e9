//! Reading a model's JSON files (`config.json`, `generation_config.json`) into their serde
//! mirrors with this crate's typed errors, and the checks every family's config reader shares:
//! the `model_type` guard, positive sizes, the first `eos_token_id`.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads the JSON file `path` into `T`: [`Error::Io`] when it cannot be read,
/// [`Error::Json`] (naming the file) when it does not fit `T`.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.into(),
        source,
    })
}

/// Parses JSON text into `T`; a mismatch is [`Error::Json`] with the path `<string>`.
pub(crate) fn parse_json<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|source| Error::Json {
        path: "<string>".into(),
        source,
    })
}

/// [`Error::UnsupportedConfig`] for `field`, rendering `value` with `Debug`.
pub(crate) fn unsupported(
    field: &'static str,
    value: impl std::fmt::Debug,
    reason: &'static str,
) -> Error {
    Error::UnsupportedConfig {
        field,
        value: format!("{value:?}"),
        reason,
    }
}

/// Refuses a `config.json` whose `model_type` names another architecture; an absent one is
/// accepted, so trimmed configs still load.
pub(crate) fn expect_model_type(
    found: Option<&str>,
    expected: &str,
    reason: &'static str,
) -> Result<()> {
    match found {
        Some(t) if t != expected => Err(unsupported("model_type", t, reason)),
        _ => Ok(()),
    }
}

/// `0` is never a valid size.
pub(crate) fn positive(field: &'static str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(unsupported(field, n, "must be positive"));
    }
    Ok(n)
}

/// `eos_token_id` is an id or a list of ids; the first one is the config's.
pub(crate) fn first_eos(v: &Option<serde_json::Value>) -> Option<i64> {
    match v {
        Some(serde_json::Value::Array(a)) => a.first().and_then(serde_json::Value::as_i64),
        Some(v) => v.as_i64(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn model_type_guard_accepts_absent_and_matching_names_only() {
        assert!(expect_model_type(None, "qwen3_vl", "r").is_ok());
        assert!(expect_model_type(Some("qwen3_vl"), "qwen3_vl", "r").is_ok());
        let err = expect_model_type(Some("llava"), "qwen3_vl", "r").unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedConfig { field: "model_type", ref value, .. } if value == "\"llava\""),
            "{err}"
        );
    }

    #[test]
    fn first_eos_reads_an_id_or_the_head_of_a_list() {
        assert_eq!(first_eos(&Some(json!(7))), Some(7));
        assert_eq!(first_eos(&Some(json!([9, 7]))), Some(9));
        assert_eq!(first_eos(&Some(json!([]))), None);
        assert_eq!(first_eos(&Some(json!("x"))), None);
        assert_eq!(first_eos(&None), None);
    }

    #[test]
    fn json_errors_name_their_source() {
        let err = parse_json::<u32>("\"x\"").unwrap_err();
        assert!(matches!(err, Error::Json { ref path, .. } if path.as_os_str() == "<string>"));
        let missing = Path::new("no/such/config.json");
        assert!(
            matches!(read_json::<u32>(missing), Err(Error::Io { ref path, .. }) if path == missing)
        );
        assert!(matches!(
            positive("n", 0),
            Err(Error::UnsupportedConfig { field: "n", .. })
        ));
        assert_eq!(positive("n", 3).unwrap(), 3);
    }
}
