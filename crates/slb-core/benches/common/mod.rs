//! Settings shared by the slb-core benchmarks.

use std::time::Duration;

use criterion::Criterion;

/// Shorter than criterion's 3 s + 5 s defaults so the whole suite runs in minutes;
/// command-line flags still override it.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}
