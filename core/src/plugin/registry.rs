//! Where plugins are found and how a node's `plugin = "..."` names one: the search path
//! (with where each directory came from), the scan of every directory into a registry
//! (first found wins; the rest shadowed or refused with their [`LoadError`]), and
//! resolution of a name or path with did-you-mean suggestions ([`ResolveError`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{LoadError, Plugin};
use crate::suggest::closest;

/// Why a node's `plugin = "..."` does not name a usable plugin.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// A path to a library that does not exist.
    #[error("plugin library `{}` does not exist", path.display())]
    NoSuchLibrary {
        /// The path, resolved against the pipeline file's directory.
        path: PathBuf,
    },
    /// The library exists but cannot be used as a plugin (not a plugin, wrong ABI, ...).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No plugin of that name on the search path.
    #[error("{}", unknown_text(name, suggestion.as_deref(), found, searched))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The closest name found, if close enough to be a typo.
        suggestion: Option<String>,
        /// Every plugin name found.
        found: Vec<String>,
        /// The directories searched, for the message.
        searched: String,
    },
}

fn unknown_text(name: &str, suggestion: Option<&str>, found: &[String], searched: &str) -> String {
    let mut msg = format!("unknown plugin `{name}`");
    if let Some(g) = suggestion {
        msg.push_str(&format!(" (did you mean `{g}`?)"));
    }
    if found.is_empty() {
        msg.push_str("; no plugins were found on the search path: ");
        msg.push_str(searched);
    } else {
        msg.push_str(&format!("; plugins found: {}", found.join(", ")));
    }
    msg
}

/// Where plugins are looked for, in priority order, with where each directory came from.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// (directory, origin) pairs.
    pub dirs: Vec<(PathBuf, String)>,
}

impl SearchPath {
    /// `--plugin-path` dirs, then `DAQFLOW_PLUGIN_PATH`, then the pipeline file's
    /// `plugin_path` (relative to `base`), then the directory of the executable.
    pub fn new(cli: &[PathBuf], file_dirs: &[PathBuf], base: Option<&Path>) -> SearchPath {
        let mut sp = SearchPath::default();
        for d in cli {
            sp.push(d.clone(), "--plugin-path");
        }
        if let Some(env) = std::env::var_os("DAQFLOW_PLUGIN_PATH") {
            for d in std::env::split_paths(&env) {
                if !d.as_os_str().is_empty() {
                    sp.push(d, "DAQFLOW_PLUGIN_PATH");
                }
            }
        }
        for d in file_dirs {
            let d = match base {
                Some(b) if d.is_relative() => b.join(d),
                _ => d.clone(),
            };
            sp.push(d, "pipeline plugin_path");
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            sp.push(dir.clone(), "next to the daqflow executable");
            // An installed layout: bin/daqflow with lib/daqflow/*.so.
            sp.push(dir.join("../lib/daqflow"), "next to the daqflow executable");
        }
        sp
    }

    fn push(&mut self, dir: PathBuf, origin: &str) {
        if !self.dirs.iter().any(|(d, _)| d == &dir) {
            self.dirs.push((dir, origin.to_string()));
        }
    }
}

/// True for file names the scanner treats as plugin candidates:
/// `libdaqflow_plugin_*.so` (or `.dylib`, `daqflow_plugin_*.dll`).
pub fn is_candidate(file_name: &str) -> bool {
    let stem = file_name.strip_prefix("lib").unwrap_or(file_name);
    stem.starts_with("daqflow_plugin_")
        && (file_name.ends_with(".so")
            || file_name.ends_with(".dylib")
            || file_name.ends_with(".dll"))
}

/// Every plugin found on a search path, and the candidates that failed to load.
#[derive(Debug, Default)]
pub struct Registry {
    /// Loaded plugins by name (first found wins).
    pub plugins: BTreeMap<String, Plugin>,
    /// Same-named plugins shadowed by an earlier directory.
    pub shadowed: Vec<Plugin>,
    /// Candidate files that are not valid plugins.
    pub errors: Vec<LoadError>,
    /// The directories searched.
    pub search: SearchPath,
}

impl Registry {
    /// Scans every directory of `search`.
    pub fn scan(search: SearchPath) -> Registry {
        let mut reg = Registry {
            search,
            ..Registry::default()
        };
        for (dir, _) in reg.search.dirs.clone() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_candidate)
                })
                .collect();
            files.sort();
            for f in files {
                match Plugin::load(&f) {
                    Ok(p) => {
                        if reg.plugins.contains_key(&p.name) {
                            reg.shadowed.push(p);
                        } else {
                            reg.plugins.insert(p.name.clone(), p);
                        }
                    }
                    Err(e) => reg.errors.push(e),
                }
            }
        }
        reg
    }

    /// Resolves a node's `plugin = "..."`: a path (contains `/` or ends in a library
    /// extension; relative to `base`) is loaded directly, a name is looked up.
    pub fn resolve(&self, spec: &str, base: &Path) -> Result<Plugin, ResolveError> {
        if spec.contains('/')
            || spec.ends_with(".so")
            || spec.ends_with(".dylib")
            || spec.ends_with(".dll")
        {
            let p = Path::new(spec);
            let path = if p.is_relative() {
                base.join(p)
            } else {
                p.to_path_buf()
            };
            if !path.exists() {
                return Err(ResolveError::NoSuchLibrary { path });
            }
            return Ok(Plugin::load(&path)?);
        }
        if let Some(p) = self.plugins.get(spec) {
            return Ok(p.clone());
        }
        let names: Vec<&str> = self.plugins.keys().map(String::as_str).collect();
        Err(ResolveError::Unknown {
            name: spec.to_string(),
            suggestion: closest(spec, &names).map(str::to_string),
            found: names.iter().map(|n| n.to_string()).collect(),
            searched: self.search_description(),
        })
    }

    /// The searched directories, for messages.
    pub fn search_description(&self) -> String {
        self.search
            .dirs
            .iter()
            .map(|(d, o)| format!("{} ({o})", d.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
