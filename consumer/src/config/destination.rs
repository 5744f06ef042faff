//! `[destination]`: where events go and what each destination gets. The
//! default destination (`url`, its limits, `headers`, `auth`, `signing`)
//! and the sources with a URL of their own (`[destination.sources]`, a URL
//! or a table), validated into [`HttpSettings`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use super::{env, ConfigError};
use crate::credentials::tls::TlsSettings;
use crate::credentials::{AuthSettings, Credentials, SigningSettings};
use crate::destination::breaker::BreakerSettings;
use crate::destination::HttpSettings;
use crate::destination::{DestinationSettings, Limits, DEFAULT_MAX_IN_FLIGHT};
use crate::filter::{Filter, FilterSettings, Filters};

/// `[destination]` as written.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct DestinationTable {
    url: Option<String>,
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    #[serde(with = "humantime_serde")]
    max_hold: Duration,
    max_in_flight: usize,
    rate: Option<f64>,
    /// Static headers of the default destination's requests.
    headers: BTreeMap<String, String>,
    /// Whether the default destination gets the source headers the gateway kept.
    forward_source_headers: bool,
    /// How the consumer authenticates to the default destination.
    auth: Option<AuthSettings>,
    /// Standard Webhooks signing of the default destination's requests.
    signing: Option<SigningSettings>,
    /// The breaker of the default destination, and of every source's
    /// destination without its own.
    breaker: BreakerSettings,
    /// The default destination's own TLS (a private CA, a client certificate).
    tls: Option<TlsSettings>,
    /// Which events the default destination takes.
    filter: FilterSettings,
    sources: BTreeMap<String, SourceDestination>,
    limits: BTreeMap<String, LimitSettings>,
}

/// `[destination.sources]`: a source's own destination, a URL or a table
/// (`url`, `headers`, `forward_source_headers`, `auth`, `signing`; nothing inherited from the default
/// destination but its limits, which `[destination.limits.SOURCE]` sets).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SourceDestination {
    Url(String),
    Table(Box<SourceDestinationSettings>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceDestinationSettings {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    forward_source_headers: bool,
    auth: Option<AuthSettings>,
    signing: Option<SigningSettings>,
    breaker: Option<BreakerSettings>,
    tls: Option<TlsSettings>,
    #[serde(default)]
    filter: FilterSettings,
}

/// `[destination.limits.SOURCE]`: the limits of one source's destination.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitSettings {
    max_in_flight: Option<usize>,
    rate: Option<f64>,
}

impl Default for DestinationTable {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_secs(5),
            max_hold: Duration::from_secs(300),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            rate: None,
            headers: BTreeMap::new(),
            forward_source_headers: false,
            auth: None,
            signing: None,
            breaker: BreakerSettings::default(),
            tls: None,
            filter: FilterSettings::default(),
            sources: BTreeMap::new(),
            limits: BTreeMap::new(),
        }
    }
}

fn limits(setting: &str, max_in_flight: usize, rate: Option<f64>) -> Result<Limits, ConfigError> {
    if max_in_flight == 0 {
        return Err(ConfigError::invalid(
            setting,
            "max_in_flight must be at least 1",
        ));
    }
    if rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(ConfigError::invalid(
            setting,
            "rate must be a positive number of events per second",
        ));
    }
    Ok(Limits {
        max_in_flight,
        rate,
    })
}

fn breaker(setting: &str, breaker: BreakerSettings) -> Result<BreakerSettings, ConfigError> {
    if breaker.first_probe < Duration::from_millis(100) {
        return Err(ConfigError::invalid(
            setting,
            "breaker.first_probe must be at least 100ms (a shorter one probes a down destination in a tight loop)",
        ));
    }
    Ok(breaker)
}

fn tls(
    settings: Option<&TlsSettings>,
    setting: &str,
) -> Result<Option<native_tls::TlsConnector>, ConfigError> {
    settings
        .map(|tls| tls.connector(setting))
        .transpose()
        .map_err(|why| ConfigError::invalid(setting, why))
}

/// Validates `[destination]` into the delivery settings (`vars` is the
/// environment, for secrets named by variable).
pub(super) fn http_settings(
    table: &DestinationTable,
    vars: &BTreeMap<String, String>,
) -> Result<HttpSettings, ConfigError> {
    let credentials = |headers, forward, auth, signing, what: &str| {
        Credentials::load(headers, forward, auth, signing, vars, what)
            .map(Arc::new)
            .map_err(|why| ConfigError::invalid(what, why))
    };
    let default_limits = limits("destination", table.max_in_flight, table.rate)?;
    let default_breaker = breaker("destination", table.breaker)?;
    let default = match &table.url {
        Some(text) => Some(DestinationSettings {
            uri: parse_url(env::DESTINATION_URL, text)?,
            limits: default_limits,
            credentials: credentials(
                &table.headers,
                table.forward_source_headers,
                table.auth.as_ref(),
                table.signing.as_ref(),
                "destination",
            )?,
            breaker: default_breaker,
            tls: tls(table.tls.as_ref(), "destination")?,
        }),
        None => None,
    };
    if let Some(source) = table
        .limits
        .keys()
        .find(|source| !table.sources.contains_key(*source))
    {
        return Err(ConfigError::invalid(
            format!("destination.limits.{source}"),
            format!("source {source:?} has no URL of its own under [destination.sources]; the default destination's limits are [destination] max_in_flight and rate"),
        ));
    }
    // Filters hold without a URL too: an operator's trace or re-drive reads
    // them from the same file.
    let mut filters = Filters {
        default: filter("destination", &table.filter)?,
        sources: BTreeMap::new(),
    };
    let mut sources = BTreeMap::new();
    for (source, destination) in &table.sources {
        let setting = format!("destination.sources.{source}");
        let (text, own, own_breaker, own_tls, own_filter) = match destination {
            SourceDestination::Url(text) => (text, Arc::default(), None, None, None),
            SourceDestination::Table(table) => (
                &table.url,
                credentials(
                    &table.headers,
                    table.forward_source_headers,
                    table.auth.as_ref(),
                    table.signing.as_ref(),
                    &setting,
                )?,
                table.breaker,
                tls(table.tls.as_ref(), &setting)?,
                filter(&setting, &table.filter)?,
            ),
        };
        let source_limits = match table.limits.get(source) {
            Some(given) => limits(
                &format!("destination.limits.{source}"),
                given.max_in_flight.unwrap_or(default_limits.max_in_flight),
                given.rate.or(default_limits.rate),
            )?,
            None => default_limits,
        };
        let destination = DestinationSettings {
            uri: parse_url(&setting, text)?,
            limits: source_limits,
            credentials: own,
            breaker: breaker(&setting, own_breaker.unwrap_or(default_breaker))?,
            tls: own_tls,
        };
        filters.sources.insert(source.clone(), own_filter);
        sources.insert(source.clone(), destination);
    }
    Ok(HttpSettings {
        default,
        sources,
        filters,
        timeout: table.timeout,
        max_hold: table.max_hold,
    })
}

fn filter(setting: &str, settings: &FilterSettings) -> Result<Option<Arc<Filter>>, ConfigError> {
    Filter::new(setting, settings)
        .map(|filter| filter.map(Arc::new))
        .map_err(|why| ConfigError::invalid(format!("{setting}.filter"), why))
}

fn parse_url(setting: &str, text: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = text
        .parse()
        .map_err(|e| ConfigError::invalid(setting, format!("{text:?}: {e}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(ConfigError::invalid(
            setting,
            format!("{text:?} must be an absolute http:// or https:// URL"),
        )),
    }
}
