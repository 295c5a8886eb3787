//! Removes token hashes from configuration before it is printed
//! (`/config`, `/runtime_config`, `--print-config`).

use serde_json::Value;

/// Keys whose values are never shown.
const SECRET_KEYS: &[&str] = &["sha256"];
/// What a secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// Replaces, at any depth, the value of every secret key with `<redacted>`.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_redacted_at_any_depth_names_and_scopes_stay() {
        let mut v = serde_json::json!({"overrides": {"team-a": {"auth_tokens": [
            {"name": "prom", "sha256": "ab12", "scopes": ["write"]}
        ]}}});
        redact_secrets(&mut v);
        let token = &v["overrides"]["team-a"]["auth_tokens"][0];
        assert_eq!(token["sha256"], REDACTED);
        assert_eq!(token["name"], "prom");
        assert_eq!(token["scopes"][0], "write");
    }
}
