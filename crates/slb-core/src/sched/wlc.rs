//! `wlc`: weighted least connections.
//!
//! Chooses the eligible backend with the smallest `active / weight`, compared exactly by
//! cross-multiplying (`active_i * weight_j < active_j * weight_i`) in `u64`, so no floats
//! and no rounding. Ties are broken round robin: the scan starts just after the previous
//! choice and only a strictly better backend replaces the first candidate, so equally
//! loaded backends alternate instead of the lowest index taking every tie (which matters
//! when connections are short and `active` is mostly zero).

use std::sync::Mutex;

use super::{PickContext, Scheduler};

/// Weighted least connections with round-robin tie breaking. See the module docs.
#[derive(Debug)]
pub struct WeightedLeastConnections {
    weights: Vec<u32>,
    /// Index at which the next scan starts.
    cursor: Mutex<usize>,
}

impl WeightedLeastConnections {
    /// Creates the scheduler; `weights[i]` is backend `i`'s weight, 0 = never chosen.
    pub fn new(weights: Vec<u32>) -> Self {
        Self {
            weights,
            cursor: Mutex::new(0),
        }
    }
}

impl Scheduler for WeightedLeastConnections {
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.weights.len();
        if n == 0 {
            return None;
        }
        let active = |i: usize| u64::from(ctx.active.get(i).copied().unwrap_or(0));
        // Poisoning cannot leave a usize invalid; keep serving.
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let start = *cursor % n;
        let mut best: Option<(usize, u64, u64)> = None; // (index, active, weight)
        for i in (0..n).map(|k| (start + k) % n) {
            let w = u64::from(self.weights[i]);
            if w == 0 || !eligible(i) {
                continue;
            }
            let a = active(i);
            // a / w < best_a / best_w  <=>  a * best_w < best_a * w  (weights are > 0)
            if best.is_none_or(|(_, ba, bw)| a * bw < ba * w) {
                best = Some((i, a, w));
            }
        }
        let (chosen, _, _) = best?;
        *cursor = (chosen + 1) % n;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn prefers_least_loaded_relative_to_weight() {
        let s = WeightedLeastConnections::new(vec![1, 4]);
        // 2/1 vs 5/4: backend 1 is relatively less loaded despite more connections.
        assert_eq!(s.pick(&ctx(&[2, 5]), &all), Some(1));
        // 1/1 vs 5/4: backend 0.
        assert_eq!(s.pick(&ctx(&[1, 5]), &all), Some(0));
    }

    #[test]
    fn converges_to_weight_ratio_when_connections_accumulate() {
        let s = WeightedLeastConnections::new(vec![3, 1]);
        let mut active = [0u32; 2];
        for _ in 0..400 {
            let b = s.pick(&ctx(&active), &all).unwrap();
            active[b] += 1;
        }
        assert_eq!(active, [300, 100]);
    }

    #[test]
    fn ties_alternate() {
        let s = WeightedLeastConnections::new(vec![2, 2, 2]);
        let seq: Vec<_> = (0..6)
            .map(|_| s.pick(&ctx(&[0, 0, 0]), &all).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        // Equal ratio with different weights is a tie too: 1/1 == 2/2.
        let s = WeightedLeastConnections::new(vec![1, 2]);
        let seq: Vec<_> = (0..4)
            .map(|_| s.pick(&ctx(&[1, 2]), &all).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 1, 0, 1]);
    }

    #[test]
    fn weight_zero_and_ineligible_excluded() {
        let s = WeightedLeastConnections::new(vec![0, 1, 1]);
        for _ in 0..5 {
            assert_eq!(s.pick(&ctx(&[0, 9, 5]), &|i| i != 2), Some(1));
        }
    }

    #[test]
    fn short_active_slice_counts_as_zero() {
        let s = WeightedLeastConnections::new(vec![1, 1]);
        assert_eq!(s.pick(&ctx(&[3]), &all), Some(1));
    }

    #[test]
    fn empty_is_none() {
        assert_eq!(
            WeightedLeastConnections::new(vec![]).pick(&ctx(&[]), &all),
            None
        );
    }
}
