//! `sch` / `tch`: Maglev consistent hashing (Eisenbud et al., NSDI 2016).
//!
//! A lookup table of [`MAGLEV_TABLE_SIZE`] slots is filled from each backend's pseudo-random
//! permutation of the slots, derived from its `key`; a connection hashes to a slot. Every
//! input is hashed with a fixed, unkeyed hash (FNV-1a 64 followed by the SplitMix64
//! finaliser, for avalanche), never std's randomly seeded hasher, so every node builds the
//! identical table and sends a given client to the same backend.
//!
//! **Weights.** Only backends with weight > 0 enter the table. Filling proceeds in rounds,
//! as in Envoy's weighted Maglev: in round `r` a backend takes a turn when
//! `r * weight >= claimed * max_weight`, so the heaviest backend claims a slot every round
//! and one with half its weight every other round. Slot counts are therefore proportional
//! to weight (within one slot per round of rounding), and no backend list needs to be
//! duplicated.
//!
//! **Ineligible backends.** The table is not rebuilt when health changes. If the slot's
//! backend is ineligible, the lookup walks forward to the next slot whose backend is
//! eligible, so only that backend's keys move, and they spread over the others. When a
//! backend is removed or its weight changes, the table is rebuilt; Maglev then moves
//! slightly more than the removed backend's share of keys (see the tests).

use std::net::{IpAddr, SocketAddr};

use super::{BackendWeight, PickContext, Scheduler};

/// Number of slots in the lookup table. Prime (required so every skip value yields a full
/// permutation) and well above 100 × a typical backend count, as the paper recommends.
pub const MAGLEV_TABLE_SIZE: usize = 65_537;

/// Which connection fields are hashed to a table slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKey {
    /// `sch`: the client IP only, so all connections of a client stick to one backend.
    ClientIp,
    /// `tch`: client IP and port plus local IP and port.
    FourTuple,
}

/// Maglev consistent-hash scheduler. See the module docs.
#[derive(Debug)]
pub struct Maglev {
    /// Backend index (into the slice given to [`Maglev::new`]) per slot; empty when no
    /// backend has weight > 0.
    table: Vec<u32>,
    hash_key: HashKey,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 over `bytes` from state `h`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// SplitMix64 finaliser: FNV-1a alone mixes the last bytes poorly into the high bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fixed 64-bit hash of `bytes`, salted by `seed` so one key gives independent values.
fn hash(seed: u8, bytes: &[u8]) -> u64 {
    mix(fnv1a(fnv1a(FNV_OFFSET, &[seed]), bytes))
}

/// Appends a canonical encoding of `ip` (IPv4-mapped IPv6 is treated as IPv4).
fn push_ip(buf: &mut Vec<u8>, ip: IpAddr) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            buf.push(4);
            buf.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            buf.push(6);
            buf.extend_from_slice(&v6.octets());
        }
    }
}

impl Maglev {
    /// Builds the lookup table over `backends` with weight > 0 (weights honoured as in the
    /// module docs). Cost is O(table size × log) time and 256 KiB of memory.
    pub fn new(backends: &[BackendWeight], hash_key: HashKey) -> Self {
        let m = MAGLEV_TABLE_SIZE as u64;
        struct Entry {
            index: u32,
            weight: u64,
            offset: u64,
            skip: u64,
            next: u64,
            claimed: u64,
        }
        let mut entries: Vec<Entry> = backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.weight > 0)
            .map(|(i, b)| Entry {
                index: u32::try_from(i).expect("backend count fits in u32"),
                weight: u64::from(b.weight),
                offset: hash(0, b.key.as_bytes()) % m,
                skip: hash(1, b.key.as_bytes()) % (m - 1) + 1,
                next: 0,
                claimed: 0,
            })
            .collect();
        let Some(max_weight) = entries.iter().map(|e| e.weight).max() else {
            return Self {
                table: Vec::new(),
                hash_key,
            };
        };
        let mut table = vec![u32::MAX; MAGLEV_TABLE_SIZE];
        let mut filled = 0;
        let mut round: u64 = 1;
        while filled < MAGLEV_TABLE_SIZE {
            for e in entries.iter_mut() {
                if filled == MAGLEV_TABLE_SIZE {
                    break;
                }
                if round * e.weight < e.claimed * max_weight {
                    continue;
                }
                let mut slot = ((e.offset + e.next * e.skip) % m) as usize;
                while table[slot] != u32::MAX {
                    e.next += 1;
                    slot = ((e.offset + e.next * e.skip) % m) as usize;
                }
                table[slot] = e.index;
                e.next += 1;
                e.claimed += 1;
                filled += 1;
            }
            round += 1;
        }
        Self { table, hash_key }
    }

    /// Slot a connection hashes to; public so tooling can explain a decision.
    pub fn slot(&self, client: SocketAddr, local: SocketAddr) -> usize {
        let mut buf = Vec::with_capacity(40);
        push_ip(&mut buf, client.ip());
        if self.hash_key == HashKey::FourTuple {
            buf.extend_from_slice(&client.port().to_be_bytes());
            push_ip(&mut buf, local.ip());
            buf.extend_from_slice(&local.port().to_be_bytes());
        }
        (hash(2, &buf) % MAGLEV_TABLE_SIZE as u64) as usize
    }

    /// Number of slots owned by each backend index `0..n` (for tests and diagnostics).
    pub fn slot_counts(&self, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &b in &self.table {
            if let Some(c) = counts.get_mut(b as usize) {
                *c += 1;
            }
        }
        counts
    }
}

impl Scheduler for Maglev {
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let start = self.slot(ctx.client, ctx.local);
        // Memoise eligibility per backend would need allocation; the walk is short unless
        // most of the table is ineligible, and bounded by one pass.
        (0..self.table.len())
            .map(|k| self.table[(start + k) % self.table.len()] as usize)
            .find(|&b| eligible(b))
    }
}

#[cfg(test)]
#[path = "maglev_tests.rs"]
mod tests;
