//! Lambda event filter patterns (the EventBridge pattern subset that event
//! source mappings use): exact values, `prefix`, `exists`, nested objects.

use serde_json::Value;

/// True when `record` matches `pattern`.
pub fn matches(pattern: &Value, record: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, want)| {
        let got = record.get(key);
        match want {
            Value::Object(_) => got.is_some_and(|g| matches(want, g)),
            Value::Array(options) => options.iter().any(|o| match_one(o, got)),
            other => got == Some(other),
        }
    })
}

fn match_one(option: &Value, got: Option<&Value>) -> bool {
    match option {
        Value::Object(rule) => {
            if let Some(prefix) = rule.get("prefix").and_then(Value::as_str) {
                return got
                    .and_then(Value::as_str)
                    .is_some_and(|g| g.starts_with(prefix));
            }
            if let Some(exists) = rule.get("exists").and_then(Value::as_bool) {
                return got.is_some() == exists;
            }
            false
        }
        scalar => got == Some(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_nested_values_prefixes_and_existence() {
        let p = json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"t": {"S": ["event"]}}}});
        let yes = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"t": {"S": "event"}}}});
        let wrong_type =
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"t": {"S": "outbox"}}}});
        let modify =
            json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"t": {"S": "event"}}}});
        assert!(matches(&p, &yes));
        assert!(!matches(&p, &wrong_type));
        assert!(!matches(&p, &modify));
        assert!(matches(
            &json!({"k": [{"prefix": "S#"}]}),
            &json!({"k": "S#x"})
        ));
        assert!(matches(&json!({"k": [{"exists": false}]}), &json!({})));
        assert!(!matches(&json!({"k": [{"exists": true}]}), &json!({})));
    }
}
