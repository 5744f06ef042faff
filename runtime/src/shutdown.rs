//! Stopping: one future that resolves on SIGTERM (what Kubernetes sends) or
//! SIGINT, and one [`Shutdown`] value that every part of the process reads.
//! What bounds a stop is the stop watchdog of the `exit` module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
