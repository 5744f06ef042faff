//! A running gateway process, started on a port of its own choosing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::StatusCode;

use super::http::HttpClient;
use super::process::{
    listening_addr, log_filter, read_log, send_signal, spawn_tied, unique_log, workspace_binary,
    LOOPBACK_ANY_PORT,
};
use super::wait::{eventually, wait_exit, wait_metric_line, wait_until_ok};

/// The configuration of a gateway started without one: the built-in source,
/// explicitly unauthenticated (the tests are its only senders).
pub const OPEN_DEFAULT_SOURCE: &str = "[sources.genesys]\nauth = { scheme = \"none\" }\n";

/// A running gateway process.
pub struct Gateway {
    /// The webhook address.
    pub addr: SocketAddr,
    /// The admin endpoints' address.
    pub admin: SocketAddr,
    child: Child,
    pub log: PathBuf,
}

impl Gateway {
    /// Starts `gateway` against `bootstrap` with an optional TOML config and
    /// extra environment, and waits until `/livez` answers.
    pub async fn start(
        bootstrap: &str,
        topic: &str,
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Gateway {
        Gateway::start_in(None, bootstrap, topic, config, env).await
    }

    /// Like [`Gateway::start`], in `cell` (to be cut off the network).
    pub async fn start_in(
        cell: Option<&super::NetCell>,
        bootstrap: &str,
        topic: &str,
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Gateway {
        let log = unique_log("gateway");
        let mut command = command(&log, bootstrap, topic, config, env);
        if let Some(cell) = cell {
            cell.place(&mut command);
        }
        let mut child = spawn_tied(command);
        let admin = listening_addr(&mut child, &log, "admin endpoints listening").await;
        let addr = listening_addr(&mut child, &log, "gateway listening").await;
        let mut gateway = Gateway {
            addr,
            admin,
            child,
            log,
        };
        let livez = gateway.admin_url("/livez");
        wait_until_ok(&mut gateway.child, &livez, "gateway", &gateway.log).await;
        gateway
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let client = HttpClient::new();
        let url = self.admin_url("/readyz");
        eventually("gateway ready", Duration::from_secs(20), || async {
            match client.get(&url).await {
                Ok(reply) if reply.status == StatusCode::OK => Some(()),
                _ => None,
            }
        })
        .await;
    }

    /// `http://addr{path}`: the webhook port.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://admin{path}`: the admin port.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// The sum of every sample of metric `name` whose labels contain all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        super::wait::metric_sum(&self.admin_url("/metrics"), name, labels).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway logged so far.
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// Waits until the gateway reports exactly `count` webhook requests in flight.
    pub async fn wait_in_flight(&self, count: u32) {
        let wanted = format!("{} {count}", switchboard_gateway::metrics::IN_FLIGHT);
        wait_metric_line(&self.admin_url("/metrics"), &wanted, Duration::from_secs(5)).await;
    }

    /// Sends SIGTERM.
    pub fn send_sigterm(&self) {
        send_signal(&self.child, libc::SIGTERM);
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        wait_exit(
            &mut self.child,
            Duration::from_secs(20),
            "gateway",
            &self.log,
        )
        .await
    }
}

/// How a gateway that was expected to refuse to start ended.
#[derive(Debug)]
pub struct Refused {
    /// Its exit code (`None`: still running at the bound, then killed).
    pub code: Option<i32>,
    /// What it logged (stderr).
    pub log: String,
    /// From start to exit.
    pub took: Duration,
}

impl Gateway {
    /// Runs a gateway that should refuse to start: waits up to `within`
    /// for it to exit (killing it at the bound) and returns how it ended.
    pub async fn run_to_exit(
        bootstrap: &str,
        topic: &str,
        env: &[(&str, &str)],
        within: Duration,
    ) -> Refused {
        let log = unique_log("gateway");
        let command = command(&log, bootstrap, topic, None, env);
        let started = std::time::Instant::now();
        let mut child = spawn_tied(command);
        let code = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status.code();
            }
            if started.elapsed() >= within {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Refused {
            code,
            log: read_log(&log),
            took: started.elapsed(),
        }
    }
}

/// The gateway's command: `env` on top of the test defaults, `config` (or
/// [`OPEN_DEFAULT_SOURCE`]) written beside `log`, stderr into `log`.
fn command(
    log: &std::path::Path,
    bootstrap: &str,
    topic: &str,
    config: Option<&str>,
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(workspace_binary("gateway"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFKA_BROKERS", bootstrap)
        .env("GATEWAY_LISTEN", LOOPBACK_ANY_PORT)
        .env("GATEWAY_ADMIN_LISTEN", LOOPBACK_ANY_PORT)
        .env("SWITCHBOARD_TOPIC", topic)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    // Without a configuration the gateway refuses to start (its built-in
    // source would accept anyone): the tests' default opts in.
    let config = config.unwrap_or(OPEN_DEFAULT_SOURCE);
    let path = log.with_extension("toml");
    std::fs::write(&path, config).expect("write config");
    command.env("GATEWAY_CONFIG", &path);
    for (k, v) in env {
        command.env(k, v);
    }
    command.env(
        "RUST_LOG",
        log_filter(
            env,
            "info,rdkafka=info",
            &["switchboard_gateway::run", "switchboard_runtime::admin"],
        ),
    );
    command
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
