//! `gateway --check`: what it refuses and flags.

/// Runs `gateway --check` with `env` only; returns the exit code, stdout and stderr.
fn gateway_check(env: &[(&str, &str)], config: Option<&str>) -> (i32, String, String) {
    let mut command = std::process::Command::new(crate::harness::workspace_binary("gateway"));
    command.arg("--check").env_clear().envs(env.iter().copied());
    let dir = crate::harness::log_dir();
    let path = dir.join(format!("check-{}.toml", std::process::id()));
    if let Some(config) = config {
        std::fs::write(&path, config).expect("write config");
        command.arg("--config").arg(&path);
    }
    let output = command.output().expect("run gateway --check");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_refuses_a_source_without_auth_flags_an_open_one_and_names_a_bad_kafka_variable() {
    // No configuration: the built-in source would take anyone's events.
    let (code, _, err) = gateway_check(&[], None);
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(
        err.contains("source genesys") && err.contains("has no auth table"),
        "the refusal names the source: {err}"
    );
    let no_auth = "[sources.crm]\nevent_id = [\"/id\"]\n";
    let (code, _, err) = gateway_check(&[], Some(no_auth));
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(err.contains("source crm"), "{err}");

    // Written out, it is an opt-in: accepted, and still flagged.
    let open = "[sources.genesys]\nauth = { scheme = \"none\" }\n";
    let (code, out, err) = gateway_check(&[], Some(open));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration ok"), "{out}");
    assert!(
        err.contains("source genesys accepts unauthenticated requests"),
        "an open source is flagged: {err}"
    );

    let secured =
        "[sources.genesys.auth]\nscheme = \"basic\"\nsecrets_env = [\"EVENTBRIDGE_BASIC\"]\n";
    let (code, _, err) = gateway_check(&[("EVENTBRIDGE_BASIC", "u:p")], Some(secured));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("unauthenticated"), "{err}");

    let (code, _, err) = gateway_check(&[("KAFKA_SECURITY_PROTOCL", "SSL")], Some(open));
    assert_eq!(code, i32::from(switchboard_runtime::exit::CONFIG), "{err}");
    assert!(err.contains("KAFKA_SECURITY_PROTOCL"), "{err}");
}
