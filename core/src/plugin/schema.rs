//! Turns a plugin's settings JSON Schema (from schemars) into the rows `daqflow plugins`
//! prints: name, type, default, doc.

use serde::Serialize;
use serde_json::Value;

/// One documented setting.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SettingDoc {
    /// Key in the node table.
    pub name: String,
    /// A readable type (`integer (u32)`, `"u8" | "u16"`, `string`).
    pub ty: String,
    /// Default as TOML-ish text, `None` when the setting is required.
    pub default: Option<String>,
    /// Required (no default).
    pub required: bool,
    /// The `///` doc.
    pub doc: String,
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        for defs in ["$defs", "definitions"] {
            if let Some(t) = root.get(defs).and_then(|d| d.get(name)) {
                return t;
            }
        }
    }
    v
}

fn type_of(root: &Value, v: &Value) -> String {
    let v = resolve(root, v);
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(c) = v.get("const") {
        return c.to_string();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts
                .iter()
                .map(|a| type_of(root, a))
                .filter(|t| t != "null")
                .collect();
            return parts.join(" | ");
        }
    }
    if let Some(all) = v.get("allOf").and_then(Value::as_array)
        && let Some(first) = all.first()
    {
        return type_of(root, first);
    }
    let base = match v.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    };
    match (base.as_str(), v.get("format").and_then(Value::as_str)) {
        ("integer", Some(f)) => format!("integer ({f})"),
        ("number", Some(f)) => format!("number ({f})"),
        ("array", _) => match v.get("items") {
            Some(items) => format!("list of {}", type_of(root, items)),
            None => "list".into(),
        },
        _ => base,
    }
}

/// The documented settings of a plugin, in schema order.
pub fn describe_settings(schema: &Value) -> Vec<SettingDoc> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let doc = prop
                .get("description")
                .or_else(|| resolve(schema, prop).get("description"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let default = prop.get("default").map(|d| match d {
                Value::Null => "none".to_string(),
                other => other.to_string(),
            });
            SettingDoc {
                name: name.clone(),
                ty: type_of(schema, prop),
                required: required.contains(&name.as_str()),
                default,
                doc,
            }
        })
        .collect()
}
