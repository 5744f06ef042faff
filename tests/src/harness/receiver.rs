//! A Python receiver from `tests/receivers/` run as a child process: it
//! prints `listening on PORT` first, then one line per request, which are
//! collected here for the test to read.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::process::spawn_tied;

/// A running receiver: its port and the lines it printed so far.
pub struct PythonReceiver {
    /// The port it listens on (loopback).
    pub port: String,
    lines: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

impl PythonReceiver {
    /// Runs `tests/receivers/<script>` with `args` and `env` in `dir`, its
    /// stderr in `dir/<script>.log`.
    pub fn start(script: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("receivers")
            .join(script);
        let mut command = Command::new("python3");
        command
            .arg(path)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(format!("{script}.log"))).expect("log"));
        let mut child = spawn_tied(command);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the receiver's first line");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!("{script} said {first:?} (scripts/install-test-tools.sh installs what it needs)")
            })
            .to_owned();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                collected.lock().expect("lock").push(line);
            }
        });
        Self {
            port,
            lines,
            _child: child,
        }
    }

    /// Every line printed after the first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }
}
