//! The prefetch budget as the configuration loads it.

use super::*;

#[test]
fn the_prefetch_budget_has_a_default_a_variable_and_a_floor() {
    let base = [("DESTINATION_URL", "http://crm.internal/hook")];
    let config = ConsumerConfig::load(None, &vars(&base)).expect("valid");
    assert_eq!(config.prefetch_budget_bytes, DEFAULT_PREFETCH_BUDGET_BYTES);

    let mut given = base.to_vec();
    given.push(("CONSUMER_PREFETCH_BUDGET_BYTES", "16777216"));
    let config = ConsumerConfig::load(None, &vars(&given)).expect("valid");
    assert_eq!(config.prefetch_budget_bytes, 16 * 1024 * 1024);

    given.push(("CONSUMER_PREFETCH_BUDGET_BYTES", "65536"));
    let error = ConsumerConfig::load(None, &vars(&given)).expect_err("under 1 MiB");
    assert!(
        error.to_string().contains("CONSUMER_PREFETCH_BUDGET_BYTES"),
        "{error}"
    );
}
