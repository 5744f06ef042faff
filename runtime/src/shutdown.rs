//! One future that resolves on SIGTERM (what Kubernetes sends) or SIGINT.

use tokio::signal::unix::{signal, SignalKind};

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
