//! `journeys/journey.schema.json` (for editors) must accept every shipped
//! journey and know every event name; a small validator for the subset of
//! JSON Schema the file uses checks it.

use crate::event::EventKind;
use serde_json::Value;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("journeys/journey.schema.json")).unwrap(),
    )
    .unwrap()
}

/// Problems of `v` against `s` (draft-07 subset: type, enum, properties,
/// required, additionalProperties, items, minItems, min/maxProperties,
/// minimum, oneOf/anyOf, $ref to #/definitions).
fn check(root: &Value, s: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return check(root, &root["definitions"][name], v, at, out);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            let ok = options.iter().any(|o| {
                let mut e = Vec::new();
                check(root, o, v, at, &mut e);
                e.is_empty()
            });
            if !ok {
                out.push(format!("{at}: matches none of the allowed forms: {v}"));
            }
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        out.push(format!("{at}: {v} is not one of {options:?}"));
    }
    let type_ok = match s.get("type").and_then(Value::as_str) {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    };
    if !type_ok {
        out.push(format!("{at}: {v} is not of type {}", s["type"]));
        return;
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_i64), v.as_i64())
        && n < min
    {
        out.push(format!("{at}: {n} < {min}"));
    }
    if let Some(a) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (a.len() as u64) < min
        {
            out.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                check(root, items, x, &format!("{at}[{i}]"), out);
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !o.contains_key(r.as_str().unwrap_or_default()) {
                out.push(format!("{at}: missing {r}"));
            }
        }
        for bound in ["minProperties", "maxProperties"] {
            if let Some(n) = s.get(bound).and_then(Value::as_u64) {
                let len = o.len() as u64;
                if (bound == "minProperties" && len < n) || (bound == "maxProperties" && len > n) {
                    out.push(format!("{at}: {bound} {n}"));
                }
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, x, &format!("{at}.{k}"), out),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{at}: unknown key `{k}`"))
                }
                None => {}
            }
        }
    }
}

fn problems(yaml: &str) -> Vec<String> {
    let v: Value = serde_norway::from_str(yaml).unwrap();
    let s = schema();
    let mut out = Vec::new();
    check(&s, &s, &v, "$", &mut out);
    out
}

#[test]
fn the_schema_accepts_every_shipped_journey() {
    for f in crate::repo_content::files(&root()) {
        if f.path.starts_with("journeys/")
            && !f.path.ends_with("_defaults.yaml")
            && f.path.ends_with(".yaml")
        {
            let p = problems(&f.text);
            assert!(p.is_empty(), "{}: {p:?}", f.path);
        }
    }
}

#[test]
fn the_schema_knows_every_event_and_refuses_typos() {
    let s = schema();
    let events: Vec<&str> = s["definitions"]["event"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut known: Vec<&str> = EventKind::NAMES.to_vec();
    known.sort();
    let mut listed = events.clone();
    listed.sort();
    assert_eq!(
        listed, known,
        "journey.schema.json's event list is out of date"
    );
    let typo = "id: x\nversion: 1\nname: X\ntrigger:\n  event: checkout_updated\nsteps:\n  - id: a\n    wiat: 1h\n";
    assert!(
        problems(typo)
            .iter()
            .any(|p| p.contains("unknown key `wiat`"))
    );
    let bad_condition = "id: x\nversion: 1\nname: X\ntrigger:\n  event: checkout_updated\n  when: [has_emial]\nsteps: []\n";
    assert!(!problems(bad_condition).is_empty());
}
