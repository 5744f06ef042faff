//! Where the installed Kafka is: `$SWITCHBOARD_KAFKA_DIR`, or the folder
//! `scripts/install-kafka.sh` prints (it installs on first use and is
//! offline and instant once cached).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Names a Kafka folder laid out as `scripts/install-kafka.sh` makes it.
pub const KAFKA_DIR_VAR: &str = "SWITCHBOARD_KAFKA_DIR";

/// The installed Kafka: `libs/` (the classpath), `log4j2.properties`, `VERSION`.
#[derive(Debug, Clone)]
pub struct Installation {
    dir: PathBuf,
}

impl Installation {
    /// The installation the tests and the demo use, found (or installed) once per process.
    pub fn get() -> &'static Installation {
        static FOUND: OnceLock<Installation> = OnceLock::new();
        FOUND.get_or_init(|| {
            let dir = std::env::var_os(KAFKA_DIR_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(run_installer);
            let found = Installation { dir };
            assert!(
                found.dir.join("libs").is_dir(),
                "{} has no libs/: run scripts/install-kafka.sh (or set {KAFKA_DIR_VAR})",
                found.dir.display()
            );
            found
        })
    }

    /// The Kafka version installed there.
    pub fn version(&self) -> String {
        std::fs::read_to_string(self.dir.join("VERSION"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into())
    }

    /// The start of a `java` command line for one of Kafka's main classes:
    /// capped heap, Kafka's logging config, the jars on the classpath.
    pub fn java(&self, heap: &str) -> Command {
        let mut command = Command::new("java");
        command
            .arg(format!("-Xmx{heap}"))
            .arg("-Xms128m")
            .args(["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
            .arg("-XX:+ExitOnOutOfMemoryError")
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(self.dir.join("libs").join("*"));
        command
    }
}

/// Runs `scripts/install-kafka.sh` and takes the folder it prints last.
fn run_installer() -> PathBuf {
    let script = workspace_root().join("scripts").join("install-kafka.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    assert!(!last.is_empty(), "{} printed no folder", script.display());
    PathBuf::from(last)
}

/// The workspace's root folder (the tests crate's parent).
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
}
