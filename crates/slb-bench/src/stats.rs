//! Latency samples and their percentiles.
//!
//! A sorted vector rather than a histogram: a run records at most a few hundred thousand
//! samples, and exact nearest-rank percentiles are easier to trust than bucketed ones.

use std::time::Duration;

/// Durations recorded during one measurement, kept whole so any percentile can be read.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    values: Vec<Duration>,
}

impl Samples {
    /// Records one sample.
    pub fn push(&mut self, d: Duration) {
        self.values.push(d);
    }

    /// Adds every sample of `other` (workers record separately, then merge).
    pub fn extend(&mut self, other: Samples) {
        self.values.extend(other.values);
    }

    /// Number of samples recorded.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Nearest-rank percentile, `p` in 0..=100; `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    /// The largest sample.
    pub fn max(&self) -> Option<Duration> {
        self.values.iter().max().copied()
    }

    /// A table cell in milliseconds with two decimals (`-` without samples), so reports
    /// keep one unit per column and stay machine-readable.
    pub fn ms(&self, p: f64) -> String {
        fmt_ms(self.percentile(p))
    }

    /// The maximum as a table cell in milliseconds.
    pub fn max_ms(&self) -> String {
        fmt_ms(self.max())
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2}", d.as_secs_f64() * 1000.0),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentile(50.0), None);
        assert_eq!(s.ms(50.0), "-");
        for ms in (1..=100).rev() {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(s.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(s.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(s.percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(s.max_ms(), "100.00");
        let mut one = Samples::default();
        one.push(Duration::from_micros(1500));
        assert_eq!(one.ms(99.0), "1.50");
    }
}
