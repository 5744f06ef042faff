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
    let error = load_str::<Sample>("", ENV, &vars(&[("S_WAIT", "2000")])).expect_err("bare number");
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
    let error =
        load_str_renaming::<Sample>("", ENV_RENAMED, &vars(&[("S_OLD_COUNT", "many")]), RENAMED)
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
