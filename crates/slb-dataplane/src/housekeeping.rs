//! One periodic task per data plane that gives idle memory back: the spare HTTP/1.1 buffer
//! sets (`http/h1/spare.rs`) and TCP relay buffers (`tcp/buffers.rs`) that traffic stopped
//! drawing on.
//!
//! One task per node rather than a tick in every listener: a node with a thousand
//! listeners wakes twice a second for this, not two thousand times, and a node with only
//! TCP listeners trims too. The stacks are per thread; the task trims every thread's
//! (`spares.rs`), so on a multi-threaded runtime a worker that went quiet after a burst
//! gives its spares back too.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::task::JoinHandle;

/// How often spares are trimmed: a stack left full after a burst goes within two periods.
const TRIM_PERIOD: Duration = Duration::from_millis(500);

/// The data plane's housekeeping task, started with its first listener and aborted when
/// the data plane is dropped.
#[derive(Default)]
pub(crate) struct Housekeeping(OnceLock<JoinHandle<()>>);

impl Housekeeping {
    /// Starts the task unless it runs already. Must be called within a tokio runtime.
    pub(crate) fn ensure_started(&self) {
        self.0.get_or_init(|| tokio::spawn(run(TRIM_PERIOD)));
    }
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

/// Until aborted: every `period`, frees every thread's spares that went unused since the
/// previous tick.
async fn run(period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        crate::http::trim_spares(period);
        crate::tcp::buffers::trim(period);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relay buffers left over from a burst go back to the allocator without any HTTP
    /// listener on the node.
    #[tokio::test]
    async fn frees_relay_buffers_a_burst_left() {
        let _serial = crate::spares::SERIAL.lock().await;
        crate::tcp::buffers::clear();
        let burst: Vec<_> = (0..8).map(|_| crate::tcp::buffers::Lent::take()).collect();
        drop(burst);
        assert_eq!(crate::tcp::buffers::spare_len(), 8);
        let period = Duration::from_millis(20);
        let task = tokio::spawn(run(period));
        tokio::time::timeout(Duration::from_secs(5), async {
            while crate::tcp::buffers::spare_len() > 0 {
                tokio::time::sleep(period).await;
            }
        })
        .await
        .expect("spare relay buffers not trimmed");
        task.abort();
    }
}
