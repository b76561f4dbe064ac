//! Stopping cleanly on SIGINT/SIGTERM: both tools own resources (a child node, thousands of
//! sockets) that a script ends with `kill PID` or `timeout(1)`.

/// Resolves with the signal's name on SIGINT or SIGTERM.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
