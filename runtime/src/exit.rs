//! The process entry every binary shares, the watchdog that bounds its stop
//! ([`arm_stop_watchdog`]), and its exit codes in one place:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (or stopped cleanly on SIGTERM/SIGINT) |
//! | 1 | failed at run time, or an operator command refused (the message says why) |
//! | 64 | bad usage: unknown flag, missing or conflicting arguments (sysexits `EX_USAGE`) |
//! | 75 | stopped on request within its bound, but work was left unfinished because the broker did not confirm it in time (sysexits `EX_TEMPFAIL`): uncommitted work is redone by the group, nothing acknowledged is lost |
//! | 77 | Kafka's authorizer refuses a right the process needs; the message names the identity and each missing ACL (sysexits `EX_NOPERM`) |
//! | 78 | the configuration cannot be used (sysexits `EX_CONFIG`) |
//! | 80 | Kafka refused to authenticate the process: wrong user or password, or a SASL mechanism the broker does not offer |
//! | 81 | TLS with Kafka failed: a CA the process does not trust, an expired certificate, one for another host, or a client certificate the broker refused |

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, PrometheusHandle};
use tokio::net::TcpListener;

/// Run-time failure, or an operator command that refused.
pub const FAILED: u8 = 1;
/// Bad command-line usage (sysexits `EX_USAGE`).
pub const USAGE: u8 = 64;
/// Unusable configuration (sysexits `EX_CONFIG`).
pub const CONFIG: u8 = 78;
/// Kafka's authorizer refuses a right the process needs (sysexits `EX_NOPERM`).
pub const KAFKA_NOT_AUTHORISED: u8 = 77;
/// Kafka refused to authenticate the process (SASL).
pub const KAFKA_AUTHENTICATION: u8 = 80;
/// The TLS handshake with Kafka failed.
pub const KAFKA_TLS: u8 = 81;
/// A stop that ended within its bound with work unfinished: offsets not
/// committed or records not acknowledged because the broker was down,
/// frozen or cut off (sysexits `EX_TEMPFAIL`). Nothing acknowledged is lost:
/// uncommitted work is redone by the group (the markers drop what was
/// delivered), unacknowledged records were never answered `202`.
pub const STOP_INCOMPLETE: u8 = 75;

/// How long the runtime waits, once `main` returned, for blocking tasks
/// still running (a librdkafka call waiting on a broker that is gone): the
/// process exits rather than wait for them.
const RUNTIME_CLOSE: Duration = Duration::from_secs(1);

/// An error that ends the process with an exit code of its own (a Kafka
/// identity refused at start: [`KAFKA_NOT_AUTHORISED`], [`KAFKA_AUTHENTICATION`],
/// [`KAFKA_TLS`]) rather than [`FAILED`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// The exit code.
    pub code: u8,
    /// The one line printed.
    pub message: String,
}

/// The error a server returns when its stop ended within its bound but left
/// work unfinished; the process exits [`STOP_INCOMPLETE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StopIncomplete(pub String);

/// The start of every binary: parses the command line with clap (usage
/// errors exit [`USAGE`]; help and version exit 0), installs logging, and
/// reads the environment.
pub fn begin<A: clap::Parser>() -> Result<(A, BTreeMap<String, String>), ExitCode> {
    let args = A::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })?;
    crate::logging::init();
    Ok((args, std::env::vars().collect()))
}

/// Prints `error` once, prefixed with the binary's name, and returns `code`.
pub fn fail(binary: &str, code: u8, error: impl Display) -> ExitCode {
    eprintln!("{binary}: {error}");
    ExitCode::from(code)
}

/// Runs `main` on a multi-threaded tokio runtime. An error is printed once
/// (with its causes) and exits [`FAILED`], or [`STOP_INCOMPLETE`] for a
/// [`StopIncomplete`]. Blocking tasks still running when `main` returns get
/// `RUNTIME_CLOSE`, not for ever.
pub fn run_async<F>(binary: &str, main: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(binary, FAILED, format!("cannot start the runtime: {error}")),
    };
    let outcome = runtime.block_on(main);
    runtime.shutdown_timeout(RUNTIME_CLOSE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<StopIncomplete>() => {
            fail(binary, STOP_INCOMPLETE, format!("{error:#}"))
        }
        Err(error) => match error.downcast_ref::<Coded>() {
            Some(coded) => fail(binary, coded.code, format!("{error:#}")),
            None => fail(binary, FAILED, format!("{error:#}")),
        },
    }
}

/// The addresses a server process listens on.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    /// The admin endpoints (`/metrics`, `/livez`, `/readyz`): kept off the
    /// public port, for the orchestrator and Prometheus only.
    pub admin: SocketAddr,
    /// The public traffic port, for a process that serves one.
    pub public: Option<SocketAddr>,
}

/// What a server process is started with.
pub struct Started {
    /// The admin listener, bound.
    pub admin: TcpListener,
    /// The public listener, bound when one was asked for.
    pub public: Option<TcpListener>,
    /// Renders its metrics.
    pub metrics: PrometheusHandle,
    /// Resolves when it is asked to stop.
    pub shutdown: Shutdown,
}

/// The shutdown signal a server is given.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a server process: installs its metrics recorder, binds its
/// listeners, and runs `serve` until it returns; its shutdown signal is
/// SIGTERM or SIGINT.
pub fn serve<M, S, F>(binary: &str, listen: Listen, install_metrics: M, serve: S) -> ExitCode
where
    M: FnOnce() -> Result<PrometheusHandle, BuildError>,
    S: FnOnce(Started) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    run_async(binary, async move {
        let metrics = install_metrics()?;
        let admin = bind(listen.admin).await?;
        let public = match listen.public {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        serve(Started {
            admin,
            public,
            metrics,
            shutdown: Box::pin(crate::shutdown::signal_received()),
        })
        .await
    })
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Runs an operator command on a small single-threaded runtime.
pub fn block_on<F>(binary: &str, command: F) -> ExitCode
where
    F: Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(error) => fail(binary, FAILED, format!("cannot start the runtime: {error}")),
    }
}

/// The backstop of a bounded stop: from now on, the process ends with
/// [`STOP_INCOMPLETE`] if it is still running after `bound`,
/// whatever it is waiting for (a librdkafka call with no timeout of its own
/// while the broker is down, frozen or cut off). Each step of a stop has its
/// own budget within `bound`; this fires only when one of them overstays.
/// Only the first call arms it.
pub fn arm_stop_watchdog(binary: &'static str, bound: Duration) {
    static ARMED: OnceLock<()> = OnceLock::new();
    if ARMED.set(()).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("stop-watchdog".into())
        .spawn(move || {
            std::thread::sleep(bound);
            tracing::error!(
                ?bound,
                "the stop did not finish within its bound; exiting now (uncommitted work is redone by the group, nothing acknowledged is lost)"
            );
            eprintln!("{binary}: the stop did not finish within {bound:?}; exited without waiting for the broker");
            std::process::exit(i32::from(STOP_INCOMPLETE));
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the stop watchdog; the stop is bounded by its own steps only");
    }
}
