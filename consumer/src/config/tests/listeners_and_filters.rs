//! The admin listener and the destination table: one name each (and the
//! deprecated aliases), and the destinations' filters as the configuration
//! loads them.

use super::*;

#[test]
fn filters_load_for_each_destination_even_without_a_url_and_bad_ones_are_named() {
    let text = r#"
        [destination.filter]
        types = ["v2.audits.*"]
        [destination.sources.crm]
        url = "http://crm.internal/hook"
        filter = { types = ["v2.detail.events.conversation.*.customer.end"] }
        [destination.sources.plain]
        url = "http://plain.internal/hook"
    "#;
    let config = ConsumerConfig::from_toml(text, &vars(&[])).expect("valid");
    let filters = &config.http.filters;
    assert!(
        config.http.default.is_none(),
        "no URL for the default destination"
    );
    assert!(filters.default.is_some(), "its filter holds all the same");
    assert!(filters.of("crm").1.is_some());
    let (name, plain) = filters.of("plain");
    assert!(
        name == "plain" && plain.is_none(),
        "a URL alone filters nothing"
    );
    assert_eq!(filters.of("genesys").0, "default");

    let bad = "[destination.sources.crm]\nurl = \"http://crm.internal/hook\"\nfilter = { types = [\"\"] }\n";
    let error = ConsumerConfig::from_toml(bad, &vars(&[])).expect_err("refused");
    assert!(
        error.to_string().contains("destination.sources.crm.filter"),
        "{error}"
    );
}

#[test]
fn the_admin_listener_has_one_name_and_the_old_one_still_works_with_a_warning() {
    let new = ConsumerConfig::load(None, &vars(&[("CONSUMER_ADMIN_LISTEN", "127.0.0.1:9191")]))
        .expect("valid");
    assert_eq!(new.admin_listen.to_string(), "127.0.0.1:9191");
    assert!(new.deprecations.is_empty());
    let old = ConsumerConfig::from_toml("metrics_listen = \"127.0.0.1:9292\"\n", &vars(&[]))
        .expect("still valid");
    assert_eq!(old.admin_listen.to_string(), "127.0.0.1:9292");
    assert!(
        old.deprecations[0].contains("set CONSUMER_ADMIN_LISTEN / admin_listen"),
        "{:?}",
        old.deprecations
    );
    let both = vars(&[
        ("CONSUMER_ADMIN_LISTEN", "127.0.0.1:9191"),
        ("CONSUMER_METRICS_LISTEN", "127.0.0.1:9292"),
    ]);
    let error = ConsumerConfig::load(None, &both).expect_err("two addresses");
    assert!(
        error.to_string().contains("set only CONSUMER_ADMIN_LISTEN"),
        "{error}"
    );
}

#[test]
fn the_destination_table_has_one_name_and_the_old_one_still_works_with_a_warning() {
    let old_file = "[downstream]\nurl = \"http://crm.internal/hook\"\nmax_in_flight = 4\n[downstream.sources]\nbilling = \"http://billing.internal/\"\n";
    let config = ConsumerConfig::from_toml(old_file, &vars(&[])).expect("still valid");
    let default = config
        .http
        .default
        .as_ref()
        .expect("the default destination");
    assert_eq!(default.uri.to_string(), "http://crm.internal/hook");
    assert_eq!(default.limits.max_in_flight, 4);
    assert!(config.http.sources.contains_key("billing"));
    assert!(
        config.deprecations[0].contains("rename it [destination]"),
        "{:?}",
        config.deprecations
    );

    let old_vars = vars(&[
        ("DOWNSTREAM_URL", "http://crm.internal/hook"),
        ("DOWNSTREAM_TIMEOUT", "2s"),
    ]);
    let config = ConsumerConfig::load(None, &old_vars).expect("still valid");
    assert_eq!(config.http.timeout, Duration::from_secs(2));
    assert!(config.http.default.is_some());
    let said = config.deprecations.join("\n");
    assert!(said.contains("DOWNSTREAM_URL is deprecated") && said.contains("set DESTINATION_URL"));
    assert!(said.contains("set DESTINATION_TIMEOUT"), "{said}");

    let new = ConsumerConfig::load(None, &vars(&[("DESTINATION_URL", "http://crm.internal/")]))
        .expect("valid");
    assert!(new.deprecations.is_empty(), "{:?}", new.deprecations);

    let both = vars(&[
        ("DESTINATION_URL", "http://crm.internal/"),
        ("DOWNSTREAM_URL", "http://other.internal/"),
    ]);
    let error = ConsumerConfig::load(None, &both).expect_err("two URLs");
    assert!(
        error.to_string().contains("set only the new name"),
        "{error}"
    );
}
