//! The figment providers behind [`super::load_renaming`]: the file (errors
//! name the key as written; renamed tables read under their old names too)
//! and the environment (errors name the variable).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::{EnvKind, EnvVar, RenamedTable};

/// The deprecated names met while loading.
#[derive(Debug, Clone, Default)]
pub(super) struct Deprecations(Arc<Mutex<Vec<String>>>);

impl Deprecations {
    pub(super) fn push(&self, text: String) {
        let mut all = crate::lock::lock(&self.0);
        if !all.contains(&text) {
            all.push(text);
        }
    }

    pub(super) fn taken(&self) -> Vec<String> {
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
pub(super) struct Renaming<P> {
    inner: P,
    renamed: &'static [RenamedTable],
    used: Deprecations,
}

impl<P> Renaming<P> {
    pub(super) fn new(inner: P, renamed: &'static [RenamedTable], used: &Deprecations) -> Self {
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

/// A file provider whose errors name the key as written (`http.request_timeout`),
/// without figment's profile prefix.
pub(super) struct Keyed<P>(pub(super) P);

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
pub(super) struct Environment {
    /// Each variable set, the key it sets, and its text.
    found: Vec<(EnvVar, String, String)>,
    /// Two names set for one key with different values.
    conflict: Option<String>,
}

impl Environment {
    pub(super) fn new(
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
