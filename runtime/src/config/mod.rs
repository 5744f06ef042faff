//! Configuration layering for every binary, on figment: the struct's serde
//! defaults, then an optional TOML file, then environment variables, so a
//! container runs on the environment alone. Durations are written one way
//! everywhere, file and environment alike: `"500ms"`, `"2s"`, `"10m"`
//! (humantime). An error names where the bad value came from: the file and
//! key, or the environment variable.
//!
//! Loading only parses. Each binary then validates the loaded values into
//! its domain types as a separate step.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;

use providers::{Deprecations, Environment, Keyed, Renaming};

/// How an environment variable's text becomes a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// Kept as text (names, URLs, addresses, durations such as `2s`).
    Text,
    /// A number or boolean (`8`, `true`).
    Scalar,
}

/// One environment variable and the configuration key it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable, for example `GATEWAY_LISTEN`.
    pub name: &'static str,
    /// The dotted key it sets, for example `listen` or `http.max_connections`.
    pub key: &'static str,
    /// How its text is read.
    pub kind: EnvKind,
}

impl EnvVar {
    /// A variable whose value is text.
    pub const fn text(name: &'static str, key: &'static str) -> Self {
        Self {
            name,
            key,
            kind: EnvKind::Text,
        }
    }

    /// A variable whose value is a number or a boolean.
    pub const fn scalar(name: &'static str, key: &'static str) -> Self {
        Self {
            name,
            key,
            kind: EnvKind::Scalar,
        }
    }
}

/// Why a configuration cannot be used. Binaries exit with
/// [`crate::exit::CONFIG`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value could not be parsed; the text names the file key or variable.
    #[error("{0}")]
    Parse(String),
    /// A value parsed but cannot be used.
    #[error("{setting}: {why}")]
    Invalid {
        /// The key or variable.
        setting: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A variable that was renamed is still set.
    #[error("{old} was renamed: set {new} instead")]
    Renamed {
        /// The old variable.
        old: &'static str,
        /// The new one, with an example value.
        new: &'static str,
    },
}

impl ConfigError {
    /// An unusable value of `setting`.
    pub fn invalid(setting: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Invalid {
            setting: setting.into(),
            why: why.into(),
        }
    }
}

/// Loads `T`: its serde defaults, then `file` (when given), then the
/// variables of `env` found in `vars`.
pub fn load<T: DeserializeOwned>(
    file: Option<&Path>,
    env: &'static [EnvVar],
    vars: &BTreeMap<String, String>,
) -> Result<T, ConfigError> {
    load_renaming(file, env, vars, &[]).map(|(value, _)| value)
}

/// Loads `T` from TOML `text` instead of a file (examples, tests).
pub fn load_str<T: DeserializeOwned>(
    text: &str,
    env: &'static [EnvVar],
    vars: &BTreeMap<String, String>,
) -> Result<T, ConfigError> {
    load_str_renaming(text, env, vars, &[]).map(|(value, _)| value)
}

/// A table renamed: for one release its old name is still read, in the file
/// and through the variables that set its keys, each use reported as a
/// deprecation to warn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenamedTable {
    /// The old name (`downstream`).
    pub old: &'static str,
    /// The new one (`destination`).
    pub new: &'static str,
}

/// Like [`load`], reading each of `renamed` under its old name too; returns
/// the deprecations met (what was written, and what to write instead).
pub fn load_renaming<T: DeserializeOwned>(
    file: Option<&Path>,
    env: &'static [EnvVar],
    vars: &BTreeMap<String, String>,
    renamed: &'static [RenamedTable],
) -> Result<(T, Vec<String>), ConfigError> {
    let used = Deprecations::default();
    let mut figment = Figment::new();
    if let Some(path) = file {
        std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        figment = figment.merge(Renaming::new(Keyed(Toml::file_exact(path)), renamed, &used));
    }
    let env = Environment::new(env, vars, renamed, &used);
    let value = extract(figment.merge(env))?;
    Ok((value, used.taken()))
}

/// Like [`load_renaming`] with TOML `text` instead of a file.
pub fn load_str_renaming<T: DeserializeOwned>(
    text: &str,
    env: &'static [EnvVar],
    vars: &BTreeMap<String, String>,
    renamed: &'static [RenamedTable],
) -> Result<(T, Vec<String>), ConfigError> {
    let used = Deprecations::default();
    let figment = Figment::new()
        .merge(Renaming::new(Keyed(Toml::string(text)), renamed, &used))
        .merge(Environment::new(env, vars, renamed, &used));
    let value = extract(figment)?;
    Ok((value, used.taken()))
}

/// An environment of `pairs`, as [`load`] takes it (tests and examples give
/// their variables this way instead of the process's).
pub fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Refuses to start while an old variable name is set, naming the new one.
pub fn refuse_renamed(
    vars: &BTreeMap<String, String>,
    renamed: &[(&'static str, &'static str)],
) -> Result<(), ConfigError> {
    match renamed.iter().find(|(old, _)| vars.contains_key(*old)) {
        Some(&(old, new)) => Err(ConfigError::Renamed { old, new }),
        None => Ok(()),
    }
}

fn extract<T: DeserializeOwned>(figment: Figment) -> Result<T, ConfigError> {
    figment.extract().map_err(|errors| {
        let lines: Vec<String> = errors
            .into_iter()
            .map(|error| {
                let text = error.to_string();
                if text.contains("expected a duration") {
                    format!("{text} (durations are written like 500ms, 2s, 10m, 24h)")
                } else {
                    text
                }
            })
            .collect();
        ConfigError::Parse(lines.join("; "))
    })
}

mod providers;

#[cfg(test)]
mod tests;
