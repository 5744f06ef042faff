//! The admin listener's one name (and its deprecated alias), and the
//! destinations' filters as the configuration loads them.

use super::*;

#[test]
fn filters_load_for_each_destination_even_without_a_url_and_bad_ones_are_named() {
    let text = r#"
        [downstream.filter]
        types = ["v2.audits.*"]
        [downstream.sources.crm]
        url = "http://crm.internal/hook"
        filter = { types = ["v2.detail.events.conversation.*.customer.end"] }
        [downstream.sources.plain]
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

    let bad = "[downstream.sources.crm]\nurl = \"http://crm.internal/hook\"\nfilter = { types = [\"\"] }\n";
    let error = ConsumerConfig::from_toml(bad, &vars(&[])).expect_err("refused");
    assert!(
        error.to_string().contains("downstream.sources.crm.filter"),
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
