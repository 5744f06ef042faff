//! Help texts of metrics with a bounded label: the description, then every
//! value the label takes, so `/metrics` itself says what each value can be.

/// `description` followed by every value of the label, as
/// `"Description (a, b, c)."`.
pub fn help_naming(description: &str, values: impl IntoIterator<Item = &'static str>) -> String {
    let values: Vec<&str> = values.into_iter().collect();
    format!("{description} ({}).", values.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_help_lists_every_value_in_order() {
        assert_eq!(
            super::help_naming("Failures by kind", ["deadline", "broker"]),
            "Failures by kind (deadline, broker)."
        );
    }
}
