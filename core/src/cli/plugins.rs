//! `daqflow plugins`: what the search path holds — each plugin with its kind, versions,
//! input requirement and settings (from its schema), as text or JSON — and the libraries
//! that failed to load, with why.

use std::path::PathBuf;

use daqflow::plugin::{InputRequirement, Registry, SearchPath, describe_settings};

use crate::EXIT_INVALID;

pub fn list(dirs: &[PathBuf], only: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let reg = Registry::scan(SearchPath::new(dirs, &[], None));
    let selected: Vec<_> = reg
        .plugins
        .values()
        .filter(|p| only.is_none_or(|n| p.name == n))
        .collect();
    if let Some(n) = only
        && selected.is_empty()
    {
        eprintln!(
            "daqflow: no plugin named `{n}` on the search path: {}",
            reg.search_description()
        );
        return Ok(EXIT_INVALID);
    }
    if json {
        let list: Vec<serde_json::Value> = selected
            .iter()
            .map(|p| {
                let settings = p
                    .settings_schema()
                    .map(|s| describe_settings(&s))
                    .unwrap_or_default();
                serde_json::json!({
                    "name": p.name, "kind": p.kind, "version": p.version,
                    "abi": format!("{}.{}", p.abi.0, p.abi.1), "sdk_version": p.sdk_version,
                    "description": p.description, "path": p.path, "input": p.input,
                    "settings": settings,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!("search path:");
    for (d, origin) in &reg.search.dirs {
        println!(
            "  {} ({origin}){}",
            d.display(),
            if d.is_dir() { "" } else { " — missing" }
        );
    }
    if selected.is_empty() {
        println!("\nno plugins found");
    }
    for p in selected {
        println!(
            "\n{} — {} v{} (ABI {}.{}, sdk {})\n  {}\n  {}",
            p.name,
            p.kind,
            p.version,
            p.abi.0,
            p.abi.1,
            p.sdk_version,
            p.description,
            p.path.display()
        );
        match p.input {
            InputRequirement::Lossless => println!("  input: lossless lanes only"),
            InputRequirement::PrefersLatest => {
                println!("  input: `latest` lane by default")
            }
            InputRequirement::Any => {}
        }
        match p.settings_schema() {
            Ok(schema) => {
                let settings = describe_settings(&schema);
                if settings.is_empty() {
                    println!("  settings: none");
                } else {
                    println!("  settings:");
                }
                for s in settings {
                    let default = match (&s.default, s.required) {
                        (Some(d), _) => format!("default {d}"),
                        (None, true) => "required".into(),
                        (None, false) => "optional".into(),
                    };
                    println!("    {:<22} {} ({default})", s.name, s.ty);
                    for line in s.doc.lines() {
                        println!("        {line}");
                    }
                }
            }
            Err(e) => println!("  settings: {e}"),
        }
    }
    for e in &reg.errors {
        println!("\nnot loaded: {e}");
    }
    Ok(0)
}
