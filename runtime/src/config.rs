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
use std::sync::{Arc, Mutex};

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

/// The deprecated names met while loading.
#[derive(Debug, Clone, Default)]
struct Deprecations(Arc<Mutex<Vec<String>>>);

impl Deprecations {
    fn push(&self, text: String) {
        let mut all = crate::lock::lock(&self.0);
        if !all.contains(&text) {
            all.push(text);
        }
    }

    fn taken(&self) -> Vec<String> {
        std::mem::take(&mut *crate::lock::lock(&self.0))
    }
}

/// The key `key` with a renamed table's old name replaced by its new one.
fn renamed_key(key: &str, renamed: &[RenamedTable]) -> Option<String> {
    renamed.iter().find_map(|table| {
        let rest = key.strip_prefix(table.old)?;
        (rest.is_empty() || rest.starts_with('.')).then(|| format!("{}{rest}", table.new))
    })
}

/// A file provider that reads each renamed table under its old name too.
struct Renaming<P> {
    inner: P,
    renamed: &'static [RenamedTable],
    used: Deprecations,
}

impl<P> Renaming<P> {
    fn new(inner: P, renamed: &'static [RenamedTable], used: &Deprecations) -> Self {
        Self {
            inner,
            renamed,
            used: used.clone(),
        }
    }
}

impl<P: Provider> Provider for Renaming<P> {
    fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = self.inner.data()?;
        for dict in data.values_mut() {
            for table in self.renamed {
                let Some(old) = dict.remove(table.old) else {
                    continue;
                };
                if dict.contains_key(table.new) {
                    return Err(figment::Error::from(format!(
                        "the file has both [{old}] and [{new}]: move everything into [{new}] ([{old}] is its deprecated name)",
                        old = table.old,
                        new = table.new
                    )));
                }
                dict.insert(table.new.to_owned(), old);
                self.used.push(format!(
                    "[{old}] in the configuration file is deprecated and will be removed in the next release: rename it [{new}] (the same keys)",
                    old = table.old,
                    new = table.new
                ));
            }
        }
        Ok(data)
    }
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
/// name the variable, not the key. A variable of a renamed table sets the
/// new table's key (deprecated: see [`RenamedTable`]).
struct Environment {
    /// Each variable set, the key it sets, and its text.
    found: Vec<(EnvVar, String, String)>,
    /// Two names set for one key with different values.
    conflict: Option<String>,
}

impl Environment {
    fn new(
        table: &'static [EnvVar],
        vars: &BTreeMap<String, String>,
        renamed: &'static [RenamedTable],
        used: &Deprecations,
    ) -> Self {
        let mut found: Vec<(EnvVar, String, String)> = Vec::new();
        let mut conflict = None;
        for var in table {
            let Some(text) = vars
                .get(var.name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let key = match renamed_key(var.key, renamed) {
                Some(key) => {
                    let now = table
                        .iter()
                        .find(|v| v.key == key)
                        .map_or(key.as_str(), |v| v.name);
                    used.push(format!(
                        "{} is deprecated and will be removed in the next release: set {now} (the same value)",
                        var.name
                    ));
                    key
                }
                None => var.key.to_owned(),
            };
            match found.iter().find(|(_, k, _)| *k == key) {
                Some((other, _, value)) if value != text => {
                    conflict = Some(format!(
                        "{} and {} set the same setting ({key}) to different values; set only the new name",
                        other.name, var.name
                    ));
                }
                Some(_) => {}
                None => found.push((*var, key, text.to_owned())),
            }
        }
        Self { found, conflict }
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        let names: Vec<(String, &'static str)> = self
            .found
            .iter()
            .map(|(var, key, _)| (key.clone(), var.name))
            .collect();
        Metadata::named("the environment").interpolater(move |_profile, keys| {
            let key = keys.join(".");
            names
                .iter()
                .find(|(set, _)| *set == key)
                .map_or(key, |(_, name)| format!("variable {name}"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        if let Some(conflict) = &self.conflict {
            return Err(figment::Error::from(conflict.clone()));
        }
        let mut dict = Dict::new();
        for (var, key, text) in &self.found {
            let value = match var.kind {
                EnvKind::Text => Value::from(text.clone()),
                EnvKind::Scalar => scalar(text),
            };
            if let Value::Dict(_, nested) = figment::util::nest(key, value) {
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

    const RENAMED: &[RenamedTable] = &[RenamedTable {
        old: "old_limits",
        new: "limits",
    }];

    const ENV_RENAMED: &[EnvVar] = &[
        EnvVar::scalar("S_COUNT", "limits.count"),
        EnvVar::scalar("S_OLD_COUNT", "old_limits.count"),
    ];

    #[test]
    fn a_renamed_table_is_read_under_its_old_name_with_a_deprecation() {
        let (sample, used): (Sample, _) =
            load_str_renaming("[old_limits]\ncount = 3\n", ENV, &vars(&[]), RENAMED)
                .expect("old file table");
        assert_eq!(sample.limits.count, 3);
        assert_eq!(used.len(), 1);
        assert!(used[0].contains("rename it [limits]"), "{used:?}");

        let (sample, used): (Sample, _) =
            load_str_renaming("", ENV_RENAMED, &vars(&[("S_OLD_COUNT", "4")]), RENAMED)
                .expect("old variable");
        assert_eq!(sample.limits.count, 4);
        assert!(used[0].contains("S_OLD_COUNT is deprecated") && used[0].contains("set S_COUNT"));

        let (sample, used): (Sample, _) =
            load_str_renaming("[limits]\ncount = 1\n", ENV, &vars(&[]), RENAMED).expect("new");
        assert_eq!(sample.limits.count, 1);
        assert!(used.is_empty(), "the new name is no deprecation");

        let both = load_str_renaming::<Sample>(
            "[limits]\ncount = 1\n[old_limits]\ncount = 2\n",
            ENV,
            &vars(&[]),
            RENAMED,
        )
        .expect_err("both tables");
        assert!(
            both.to_string().contains("move everything into [limits]"),
            "{both}"
        );
        let differ = load_str_renaming::<Sample>(
            "",
            ENV_RENAMED,
            &vars(&[("S_COUNT", "1"), ("S_OLD_COUNT", "2")]),
            RENAMED,
        )
        .expect_err("two values");
        assert!(
            differ.to_string().contains("set only the new name"),
            "{differ}"
        );
        let error = load_str_renaming::<Sample>(
            "",
            ENV_RENAMED,
            &vars(&[("S_OLD_COUNT", "many")]),
            RENAMED,
        )
        .expect_err("bad value");
        assert!(
            error.to_string().contains("S_OLD_COUNT"),
            "names what was set: {error}"
        );
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
