//! Stopping: one future that resolves on SIGTERM (what Kubernetes sends) or
//! SIGINT, one [`Shutdown`] value that every part of the process reads, and
//! the [`arm_watchdog`] that bounds a stop whatever the broker does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

/// The process's stop, begun once and read wherever it matters (readiness
/// turns false, a poll loop stops taking work, retries give up). Clones
/// share it; pass it down rather than adding another flag.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A shutdown not begun.
    pub fn new() -> Self {
        Self::default()
    }

    /// Begins the stop (idempotent).
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the stop has begun.
    pub fn has_begun(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Resolves when the process is asked to stop.
pub async fn signal_received() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

/// The backstop of a bounded stop: from now on, the process ends with
/// [`crate::exit::STOP_INCOMPLETE`] if it is still running after `bound`,
/// whatever it is waiting for (a librdkafka call with no timeout of its own
/// while the broker is down, frozen or cut off). Each step of a stop has its
/// own budget within `bound`; this fires only when one of them overstays.
/// Only the first call arms it.
pub fn arm_watchdog(binary: &'static str, bound: Duration) {
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
            std::process::exit(i32::from(crate::exit::STOP_INCOMPLETE));
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the stop watchdog; the stop is bounded by its own steps only");
    }
}
