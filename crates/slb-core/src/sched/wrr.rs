//! `wrr`: smooth weighted round robin, the algorithm nginx uses for upstreams.
//!
//! Each pick adds every eligible backend's weight to its running "current weight", chooses
//! the largest, and subtracts the total eligible weight from the winner. Over any cycle of
//! `sum(weights)` picks each backend is chosen exactly `weight` times, and picks of a heavy
//! backend are interleaved with the light ones (5:1:1 gives `a a b a c a a`) instead of
//! arriving in a burst. Ineligible backends are skipped without changing their state, so
//! they rejoin smoothly.

use std::sync::Mutex;

use super::{PickContext, Scheduler};

/// Smooth weighted round robin over a fixed list of weights. See the module docs.
#[derive(Debug)]
pub struct SmoothWeightedRoundRobin {
    weights: Vec<u32>,
    /// nginx's `current_weight` per backend; may go negative.
    current: Mutex<Vec<i64>>,
}

impl SmoothWeightedRoundRobin {
    /// Creates the scheduler; `weights[i]` is backend `i`'s weight, 0 = never chosen.
    pub fn new(weights: Vec<u32>) -> Self {
        let current = Mutex::new(vec![0; weights.len()]);
        Self { weights, current }
    }
}

impl Scheduler for SmoothWeightedRoundRobin {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        // A poisoned lock only means another thread panicked mid-pick; the weights are
        // still valid integers, so keep serving.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            if w == 0 || !eligible(i) {
                continue;
            }
            let w = i64::from(w);
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        current[b] -= total;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn run(s: &SmoothWeightedRoundRobin, n: usize, eligible: &dyn Fn(usize) -> bool) -> Vec<usize> {
        (0..n)
            .map(|_| s.pick(&ctx(&[]), eligible).unwrap())
            .collect()
    }

    #[test]
    fn split_matches_weights_exactly_over_a_cycle() {
        let s = SmoothWeightedRoundRobin::new(vec![5, 3, 2]);
        for _ in 0..3 {
            let seq = run(&s, 10, &all);
            let counts: Vec<usize> = (0..3)
                .map(|b| seq.iter().filter(|&&x| x == b).count())
                .collect();
            assert_eq!(counts, vec![5, 3, 2]);
        }
    }

    #[test]
    fn is_smooth_for_5_1_1() {
        let s = SmoothWeightedRoundRobin::new(vec![5, 1, 1]);
        let seq = run(&s, 7 * 10, &all);
        assert_eq!(&seq[..7], &[0, 0, 1, 0, 2, 0, 0]);
        // The heavy backend never takes more than 2 picks in a row within a cycle, and
        // at most 4 across the cycle boundary (`a a | a a`).
        let longest = seq
            .chunk_by(|a, b| a == b)
            .map(|run| run.len())
            .max()
            .unwrap();
        assert!(longest <= 4, "longest run {longest}: {seq:?}");
    }

    #[test]
    fn weight_zero_never_chosen() {
        let s = SmoothWeightedRoundRobin::new(vec![0, 1, 0, 2]);
        let seq = run(&s, 30, &all);
        assert!(seq.iter().all(|&b| b == 1 || b == 3));
        assert_eq!(seq.iter().filter(|&&b| b == 3).count(), 20);
    }

    #[test]
    fn ineligible_is_skipped_and_rest_keep_their_ratio() {
        let s = SmoothWeightedRoundRobin::new(vec![3, 1, 1]);
        let seq = run(&s, 40, &|i| i != 0);
        assert_eq!(seq.iter().filter(|&&b| b == 1).count(), 20);
        assert_eq!(seq.iter().filter(|&&b| b == 2).count(), 20);
        // The backend rejoins and gets its share again.
        let seq = run(&s, 50, &all);
        assert_eq!(seq.iter().filter(|&&b| b == 0).count(), 30);
    }

    #[test]
    fn empty_is_none() {
        let s = SmoothWeightedRoundRobin::new(vec![]);
        assert_eq!(s.pick(&ctx(&[]), &all), None);
    }
}
