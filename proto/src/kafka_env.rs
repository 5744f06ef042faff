//! The environment contract both binaries share for librdkafka settings:
//! `KAFKA_BROKERS` sets `bootstrap.servers`, and every other `KAFKA_*`
//! variable is passed through (`KAFKA_SASL_USERNAME=u` sets `sasl.username`).

use std::collections::BTreeMap;

/// Comma-separated bootstrap brokers.
pub const KAFKA_BROKERS: &str = "KAFKA_BROKERS";
/// Prefix of librdkafka pass-through settings.
pub const KAFKA_PREFIX: &str = "KAFKA_";

/// Applies the `KAFKA_*` variables of `vars` onto `settings` (environment wins
/// over file and defaults). Empty `KAFKA_BROKERS` is ignored.
pub fn apply_overrides(settings: &mut BTreeMap<String, String>, vars: &BTreeMap<String, String>) {
    for (name, value) in vars {
        if let Some(rest) = name.strip_prefix(KAFKA_PREFIX) {
            if name != KAFKA_BROKERS && !rest.is_empty() {
                settings.insert(rest.to_ascii_lowercase().replace('_', "."), value.clone());
            }
        }
    }
    if let Some(brokers) = vars.get(KAFKA_BROKERS).filter(|v| !v.is_empty()) {
        settings.insert("bootstrap.servers".into(), brokers.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_and_pass_through_settings_are_applied() {
        let mut settings = BTreeMap::from([("linger.ms".to_owned(), "1".to_owned())]);
        let vars = BTreeMap::from([
            ("KAFKA_BROKERS".to_owned(), "b1:9092".to_owned()),
            ("KAFKA_SASL_USERNAME".to_owned(), "user".to_owned()),
            ("KAFKA_LINGER_MS".to_owned(), "2".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        apply_overrides(&mut settings, &vars);
        assert_eq!(settings["bootstrap.servers"], "b1:9092");
        assert_eq!(settings["sasl.username"], "user");
        assert_eq!(settings["linger.ms"], "2");
        assert_eq!(settings.len(), 3);
    }
}
