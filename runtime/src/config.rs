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
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::de::DeserializeOwned;

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
    let mut figment = Figment::new();
    if let Some(path) = file {
        std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        figment = figment.merge(Keyed(Toml::file_exact(path)));
    }
    extract(figment.merge(Environment::new(env, vars)))
}

/// Loads `T` from TOML `text` instead of a file (examples, tests).
pub fn load_str<T: DeserializeOwned>(
    text: &str,
    env: &'static [EnvVar],
    vars: &BTreeMap<String, String>,
) -> Result<T, ConfigError> {
    extract(
        Figment::new()
            .merge(Keyed(Toml::string(text)))
            .merge(Environment::new(env, vars)),
    )
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

/// A file provider whose errors name the key as written (`http.request_timeout`),
/// without figment's profile prefix.
struct Keyed<P>(P);

impl<P: Provider> Provider for Keyed<P> {
    fn metadata(&self) -> Metadata {
        self.0
            .metadata()
            .interpolater(|_profile, keys| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0.data()
    }
}

/// The environment variables of one binary as a figment provider; errors
/// name the variable, not the key.
struct Environment {
    found: Vec<(EnvVar, String)>,
    table: &'static [EnvVar],
}

impl Environment {
    fn new(table: &'static [EnvVar], vars: &BTreeMap<String, String>) -> Self {
        let found = table
            .iter()
            .filter_map(|var| {
                vars.get(var.name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (*var, v.trim().to_owned()))
            })
            .collect();
        Self { found, table }
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        let table = self.table;
        Metadata::named("the environment").interpolater(move |_profile, keys| {
            let key = keys.join(".");
            table
                .iter()
                .find(|var| var.key == key)
                .map_or(key, |var| format!("variable {}", var.name))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (var, text) in &self.found {
            let value = match var.kind {
                EnvKind::Text => Value::from(text.clone()),
                EnvKind::Scalar => scalar(text),
            };
            if let Value::Dict(_, nested) = figment::util::nest(var.key, value) {
                merge_into(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn scalar(text: &str) -> Value {
    if let Ok(b) = text.parse::<bool>() {
        Value::from(b)
    } else if let Ok(n) = text.parse::<u64>() {
        Value::from(n)
    } else if let Ok(n) = text.parse::<i64>() {
        Value::from(n)
    } else if let Ok(x) = text.parse::<f64>() {
        Value::from(x)
    } else {
        Value::from(text.to_owned())
    }
}

fn merge_into(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, nested)) => {
                merge_into(existing, nested)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(with = "humantime_serde")]
        wait: Option<Duration>,
        limits: Limits,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Limits {
        count: usize,
    }

    const ENV: &[EnvVar] = &[
        EnvVar::text("S_NAME", "name"),
        EnvVar::text("S_WAIT", "wait"),
        EnvVar::scalar("S_COUNT", "limits.count"),
    ];

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_environment_wins_over_the_file_and_the_defaults() {
        let text = "name = \"file\"\nwait = \"1s\"\n[limits]\ncount = 2\n";
        let sample: Sample =
            load_str(text, ENV, &vars(&[("S_NAME", "123"), ("S_COUNT", "7")])).expect("valid");
        assert_eq!(
            sample.name, "123",
            "text stays text even when it looks like a number"
        );
        assert_eq!(sample.wait, Some(Duration::from_secs(1)));
        assert_eq!(sample.limits.count, 7);
        let empty: Sample = load_str("", ENV, &vars(&[])).expect("defaults");
        assert_eq!(empty.limits.count, 0);
    }

    #[test]
    fn errors_name_the_variable_or_the_file_key() {
        let error =
            load_str::<Sample>("", ENV, &vars(&[("S_WAIT", "2000")])).expect_err("bare number");
        let text = error.to_string();
        assert!(text.contains("S_WAIT"), "{text}");
        assert!(text.contains("500ms"), "a hint with examples: {text}");
        let error = load_str::<Sample>("[limits]\ncount = \"many\"\n", ENV, &vars(&[]))
            .expect_err("text count");
        assert!(error.to_string().contains("limits.count"), "{error}");
        let error = load_str::<Sample>("nmae = \"x\"\n", ENV, &vars(&[])).expect_err("typo");
        assert!(error.to_string().contains("nmae"), "{error}");
    }

    #[test]
    fn a_missing_file_is_an_error_not_an_empty_config() {
        let error = load::<Sample>(Some(Path::new("/nonexistent/x.toml")), ENV, &vars(&[]))
            .expect_err("missing");
        assert!(matches!(error, ConfigError::Read { .. }), "{error}");
    }

    #[test]
    fn renamed_variables_say_what_replaced_them() {
        let renamed = [("OLD_MS", "NEW=2s")];
        let error = refuse_renamed(&vars(&[("OLD_MS", "5")]), &renamed).expect_err("renamed");
        assert_eq!(error.to_string(), "OLD_MS was renamed: set NEW=2s instead");
        assert!(refuse_renamed(&vars(&[]), &renamed).is_ok());
    }
}
