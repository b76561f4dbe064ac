//! `rr`: plain round robin. Weights are ignored except that weight-0 backends are skipped.
//!
//! The cursor moves to just after the backend chosen, so when a backend is skipped its
//! turn is not handed twice to its neighbour: the remaining eligible backends still
//! alternate strictly.

use std::sync::Mutex;

use super::{PickContext, Scheduler};

/// Round robin over eligible backends with weight > 0. See the module docs.
#[derive(Debug)]
pub struct RoundRobin {
    weights: Vec<u32>,
    /// Index at which the next scan starts.
    cursor: Mutex<usize>,
}

impl RoundRobin {
    /// Creates the scheduler; `weights[i] == 0` excludes backend `i`, other values are unused.
    pub fn new(weights: Vec<u32>) -> Self {
        Self {
            weights,
            cursor: Mutex::new(0),
        }
    }
}

impl Scheduler for RoundRobin {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.weights.len();
        if n == 0 {
            return None;
        }
        // Poisoning cannot leave a usize invalid; keep serving.
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let start = *cursor % n;
        let chosen = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.weights[i] > 0 && eligible(i))?;
        *cursor = (chosen + 1) % n;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn run(s: &RoundRobin, n: usize, eligible: &dyn Fn(usize) -> bool) -> Vec<usize> {
        (0..n)
            .map(|_| s.pick(&ctx(&[]), eligible).unwrap())
            .collect()
    }

    #[test]
    fn alternates_ignoring_weight_values() {
        let s = RoundRobin::new(vec![1, 100, 7]);
        assert_eq!(run(&s, 7, &all), vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn skipped_backend_turn_is_not_doubled() {
        let s = RoundRobin::new(vec![1, 1, 1]);
        assert_eq!(run(&s, 6, &|i| i != 1), vec![0, 2, 0, 2, 0, 2]);
    }

    #[test]
    fn weight_zero_excluded() {
        let s = RoundRobin::new(vec![0, 1, 0, 1]);
        assert_eq!(run(&s, 4, &all), vec![1, 3, 1, 3]);
    }

    #[test]
    fn empty_and_none_eligible() {
        assert_eq!(RoundRobin::new(vec![]).pick(&ctx(&[]), &all), None);
        assert_eq!(
            RoundRobin::new(vec![1, 1]).pick(&ctx(&[]), &|_| false),
            None
        );
    }
}
