//! A secret a destination needs (a token, a password, a signing key), read
//! from a file or an environment variable, never from the TOML itself. A
//! file is read again when it changes (checked at most once a second), so a
//! rotated credential takes effect without a restart: a Kubernetes Secret
//! mounted as a volume is updated in place. Values never appear in `Debug`
//! or logs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How often a secret file is looked at for a change.
const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// Where a secret comes from, as configured: exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// A file holding the secret (surrounding white space is dropped).
    pub file: Option<PathBuf>,
    /// An environment variable holding it.
    pub env: Option<String>,
}

/// A secret, ready to use.
pub struct Secret {
    source: Source,
}

enum Source {
    Env(SecretString),
    File {
        path: PathBuf,
        current: Mutex<Loaded>,
    },
}

struct Loaded {
    value: SecretString,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Env(_) => f.write_str("Secret(env, [REDACTED])"),
            Source::File { path, .. } => write!(f, "Secret(file {}, [REDACTED])", path.display()),
        }
    }
}

impl Secret {
    /// Reads the secret `settings` name (`vars` holds the environment);
    /// `what` names it in errors.
    pub fn load(
        settings: &SecretSettings,
        vars: &BTreeMap<String, String>,
        what: &str,
    ) -> Result<Self, String> {
        match (&settings.file, &settings.env) {
            (Some(path), None) => {
                let (value, modified) = read_file(path).map_err(|e| format!("{what}: {e}"))?;
                Ok(Self {
                    source: Source::File {
                        path: path.clone(),
                        current: Mutex::new(Loaded {
                            value,
                            modified,
                            checked: Instant::now(),
                        }),
                    },
                })
            }
            (None, Some(name)) => match vars.get(name).map(|v| v.trim()) {
                Some(value) if !value.is_empty() => Ok(Self {
                    source: Source::Env(SecretString::from(value.to_owned())),
                }),
                _ => Err(format!("{what}: the variable {name} is not set")),
            },
            _ => Err(format!(
                "{what}: give exactly one of file (a path) or env (a variable name)"
            )),
        }
    }

    /// The secret now: a file that changed since it was last read is read
    /// again (a file that cannot be read keeps the last value, logged).
    pub fn current(&self) -> SecretString {
        match &self.source {
            Source::Env(value) => value.clone(),
            Source::File { path, current } => {
                let mut loaded = switchboard_runtime::lock::lock(current);
                if loaded.checked.elapsed() >= RECHECK_EVERY {
                    loaded.checked = Instant::now();
                    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                    if modified != loaded.modified {
                        match read_file(path) {
                            Ok((value, modified)) => {
                                loaded.value = value;
                                loaded.modified = modified;
                                tracing::info!(path = %path.display(), "secret file changed; using the new value");
                            }
                            Err(error) => {
                                tracing::warn!(path = %path.display(), %error, "secret file unreadable; keeping the last value")
                            }
                        }
                    }
                }
                loaded.value.clone()
            }
        }
    }

    /// The secret now, as text.
    pub fn with_current<T>(&self, use_it: impl FnOnce(&str) -> T) -> T {
        use_it(self.current().expose_secret())
    }
}

fn read_file(path: &PathBuf) -> Result<(SecretString, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((SecretString::from(value.to_owned()), modified))
}

/// A credential as a header value that the HTTP stack never logs.
pub fn sensitive(text: String) -> Result<http::HeaderValue, String> {
    let mut value = http::HeaderValue::try_from(text)
        .map_err(|_| "the credential is not a valid header value".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars;

    #[test]
    fn a_secret_comes_from_exactly_one_place_and_never_shows() {
        let from_env = SecretSettings {
            file: None,
            env: Some("CRM_TOKEN".into()),
        };
        let secret =
            Secret::load(&from_env, &vars(&[("CRM_TOKEN", " t0k3n\n")]), "auth").expect("env");
        assert_eq!(secret.with_current(str::to_owned), "t0k3n");
        assert!(!format!("{secret:?}").contains("t0k3n"));
        assert!(Secret::load(&from_env, &vars(&[]), "auth")
            .expect_err("unset")
            .contains("CRM_TOKEN is not set"));
        assert!(Secret::load(&SecretSettings::default(), &vars(&[]), "auth").is_err());
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = std::env::temp_dir().join(format!("sb-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "first\n").expect("write");
        let settings = SecretSettings {
            file: Some(path.clone()),
            env: None,
        };
        let secret = Secret::load(&settings, &vars(&[]), "auth").expect("file");
        assert_eq!(secret.with_current(str::to_owned), "first");
        // A new mtime for certain, then past the recheck interval.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "second").expect("write");
        let later = SystemTime::now() + Duration::from_secs(5);
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(later).expect("mtime");
        // Read again at the next look at the file, within RECHECK_EVERY.
        let deadline = Instant::now() + RECHECK_EVERY + Duration::from_millis(50);
        while secret.with_current(str::to_owned) != "second" {
            assert!(
                Instant::now() < deadline,
                "not read again within {RECHECK_EVERY:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
