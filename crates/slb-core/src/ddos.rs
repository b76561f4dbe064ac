//! Anti-DDoS for one instance, sans-IO: meters inbound bits, packets and new connections
//! per second and decides, per connection or datagram, whether it passes.
//!
//! - **Normal**: everything passes (empty datagrams are always dropped: no service needs
//!   them and floods use them).
//! - **Scrubbing**, when a second's traffic reaches a scrubbing threshold: each source gets
//!   its own per-second limits on new connections, packets and bytes, so a few heavy
//!   sources are throttled while the others keep being served. Ends after a second below
//!   every scrubbing threshold.
//! - **Blackholed**, when a second's traffic reaches a blackholing threshold: everything
//!   inbound is dropped for the configured time, then the instance returns to normal by
//!   itself (and is judged again on the next second).
//!
//! Rates count all inbound traffic, dropped or not, so that a flood keeps the state it
//! caused. Windows are whole seconds from the first packet.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Thresholds and limits; 0 disables a threshold or limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DdosConfig {
    pub scrub_bps: u64,
    pub scrub_pps: u64,
    pub scrub_cps: u64,
    pub blackhole_bps: u64,
    pub blackhole_pps: u64,
    /// How long a blackhole lasts.
    pub blackhole_for: Duration,
    /// Per-source limits while scrubbing, per second.
    pub source_cps: u64,
    pub source_pps: u64,
    pub source_bps: u64,
}

/// What the instance is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Scrubbing,
    Blackholed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Scrubbing => "scrubbing",
            Mode::Blackholed => "blackholed",
        }
    }
}

/// Why something was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// An empty datagram.
    Malformed,
    /// A source over its limit while scrubbing.
    SourceLimit,
    /// The instance is blackholed.
    Blackhole,
}

impl Drop {
    pub fn label(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::SourceLimit => "source_limit",
            Drop::Blackhole => "blackhole",
        }
    }
}

/// One second's inbound rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    pub bps: u64,
    pub pps: u64,
    pub cps: u64,
}

/// A scrubbing or blackholing episode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Mode,
    pub started: Instant,
    /// `None` while it lasts.
    pub ended: Option<Instant>,
    /// The highest second seen during the episode.
    pub peak: Rates,
}

/// Events kept for the API.
const MAX_EVENTS: usize = 50;

#[derive(Default, Clone, Copy)]
struct Count {
    bytes: u64,
    packets: u64,
    conns: u64,
}

/// The state machine of one instance.
pub struct DdosGuard {
    cfg: DdosConfig,
    mode: Mode,
    blackhole_until: Option<Instant>,
    window_start: Option<Instant>,
    window: Count,
    sources: HashMap<IpAddr, Count>,
    last: Rates,
    events: VecDeque<Event>,
}

fn reached(v: u64, threshold: u64) -> bool {
    threshold > 0 && v >= threshold
}

impl DdosGuard {
    pub fn new(cfg: DdosConfig) -> Self {
        Self {
            cfg,
            mode: Mode::Normal,
            blackhole_until: None,
            window_start: None,
            window: Count::default(),
            sources: HashMap::new(),
            last: Rates::default(),
            events: VecDeque::new(),
        }
    }

    /// Follows changed thresholds (the instance's bandwidth changed).
    pub fn set_config(&mut self, cfg: DdosConfig) {
        self.cfg = cfg;
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The last complete second's rates.
    pub fn last_rates(&self) -> Rates {
        self.last
    }

    /// Episodes, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    pub fn config(&self) -> &DdosConfig {
        &self.cfg
    }

    /// Ends the second(s) before `now` and moves between modes.
    fn roll(&mut self, now: Instant) {
        if let Some(until) = self.blackhole_until {
            if now >= until {
                self.blackhole_until = None;
                self.set_mode(Mode::Normal, now);
            }
        }
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let secs = elapsed.as_secs().max(1);
        // A gap of several seconds averages over them: a quiet period after a burst.
        let rates = Rates {
            bps: self.window.bytes * 8 / secs,
            pps: self.window.packets / secs,
            cps: self.window.conns / secs,
        };
        self.last = rates;
        self.window = Count::default();
        self.sources.clear();
        self.window_start = Some(start + Duration::from_secs(secs));
        if let Some(e) = self.events.back_mut().filter(|e| e.ended.is_none()) {
            e.peak.bps = e.peak.bps.max(rates.bps);
            e.peak.pps = e.peak.pps.max(rates.pps);
            e.peak.cps = e.peak.cps.max(rates.cps);
        }
        if self.mode == Mode::Blackholed {
            return;
        }
        let c = &self.cfg;
        if reached(rates.bps, c.blackhole_bps) || reached(rates.pps, c.blackhole_pps) {
            self.blackhole_until = Some(now + c.blackhole_for);
            self.set_mode(Mode::Blackholed, now);
        } else if reached(rates.bps, c.scrub_bps)
            || reached(rates.pps, c.scrub_pps)
            || reached(rates.cps, c.scrub_cps)
        {
            self.set_mode(Mode::Scrubbing, now);
        } else {
            self.set_mode(Mode::Normal, now);
        }
    }

    fn set_mode(&mut self, mode: Mode, now: Instant) {
        if mode == self.mode {
            return;
        }
        if let Some(e) = self.events.back_mut().filter(|e| e.ended.is_none()) {
            e.ended = Some(now);
        }
        if mode != Mode::Normal {
            if self.events.len() == MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(Event {
                action: mode,
                started: now,
                ended: None,
                peak: self.last,
            });
        }
        self.mode = mode;
    }

    /// A new connection from `src` at `now`: `Ok` to accept it.
    pub fn connection(&mut self, src: IpAddr, now: Instant) -> Result<(), Drop> {
        self.roll(now);
        self.window.conns += 1;
        match self.mode {
            Mode::Blackholed => Err(Drop::Blackhole),
            Mode::Scrubbing if self.cfg.source_cps > 0 => {
                let limit = self.cfg.source_cps;
                let count = self.sources.entry(src).or_default();
                count.conns += 1;
                if count.conns > limit {
                    Err(Drop::SourceLimit)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// A datagram of `len` bytes from `src` at `now`: `Ok` to forward it.
    pub fn datagram(&mut self, src: IpAddr, len: usize, now: Instant) -> Result<(), Drop> {
        self.roll(now);
        self.window.packets += 1;
        self.window.bytes += len as u64;
        if self.mode == Mode::Blackholed {
            return Err(Drop::Blackhole);
        }
        if len == 0 {
            return Err(Drop::Malformed);
        }
        if self.mode == Mode::Scrubbing {
            let (pps, bps) = (self.cfg.source_pps, self.cfg.source_bps);
            let count = self.sources.entry(src).or_default();
            count.packets += 1;
            count.bytes += len as u64;
            if (pps > 0 && count.packets > pps) || (bps > 0 && count.bytes * 8 > bps) {
                return Err(Drop::SourceLimit);
            }
        }
        Ok(())
    }

    /// Bytes read from a TCP connection (counted in the bit rate, never dropped here).
    pub fn bytes(&mut self, len: usize, now: Instant) {
        self.roll(now);
        self.window.bytes += len as u64;
    }

    /// Moves the state along when nothing arrives (a blackhole ends on time).
    pub fn tick(&mut self, now: Instant) {
        self.roll(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DdosConfig {
        DdosConfig {
            scrub_cps: 50,
            scrub_pps: 1_000,
            blackhole_pps: 5_000,
            blackhole_for: Duration::from_secs(3),
            source_cps: 5,
            source_pps: 100,
            ..DdosConfig::default()
        }
    }

    #[test]
    fn scrubbing_throttles_heavy_sources_only() {
        let t0 = Instant::now();
        let mut g = DdosGuard::new(cfg());
        let heavy: IpAddr = "10.0.0.1".parse().unwrap();
        let light: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..100 {
            g.connection(heavy, t0 + Duration::from_millis(i)).unwrap();
        }
        // The next second judges the first: scrubbing.
        let t1 = t0 + Duration::from_millis(1000);
        assert!(g.connection(light, t1).is_ok());
        assert_eq!(g.mode(), Mode::Scrubbing);
        let heavy_ok = (0..20)
            .filter(|i| g.connection(heavy, t1 + Duration::from_millis(*i)).is_ok())
            .count();
        assert_eq!(heavy_ok, 5);
        assert!(g.connection(light, t1 + Duration::from_millis(30)).is_ok());
        // A quiet second ends it, with the event's peak recorded.
        g.tick(t0 + Duration::from_millis(3000));
        assert_eq!(g.mode(), Mode::Normal);
        let e: Vec<_> = g.events().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Mode::Scrubbing);
        assert!(e[0].ended.is_some() && e[0].peak.cps >= 100);
    }

    #[test]
    fn blackhole_drops_everything_then_recovers_by_itself() {
        let t0 = Instant::now();
        let mut g = DdosGuard::new(cfg());
        let src: IpAddr = "10.0.0.3".parse().unwrap();
        for i in 0..6_000u64 {
            let _ = g.datagram(src, 100, t0 + Duration::from_micros(i * 100));
        }
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(g.datagram(src, 10, t1), Err(Drop::Blackhole));
        assert_eq!(g.mode(), Mode::Blackholed);
        assert_eq!(g.connection(src, t1), Err(Drop::Blackhole));
        assert_eq!(
            g.datagram(src, 10, t1 + Duration::from_millis(2900)),
            Err(Drop::Blackhole)
        );
        assert!(g
            .datagram(src, 10, t1 + Duration::from_millis(3000))
            .is_ok());
        assert_eq!(g.mode(), Mode::Normal);
        assert_eq!(g.events().next().unwrap().action, Mode::Blackholed);
    }

    #[test]
    fn empty_datagrams_are_malformed_and_zero_disables() {
        let t0 = Instant::now();
        let mut g = DdosGuard::new(DdosConfig::default());
        let src: IpAddr = "10.0.0.4".parse().unwrap();
        assert_eq!(g.datagram(src, 0, t0), Err(Drop::Malformed));
        for i in 0..100_000u64 {
            assert!(g.datagram(src, 1400, t0 + Duration::from_micros(i)).is_ok());
        }
        g.tick(t0 + Duration::from_secs(2));
        assert_eq!(g.mode(), Mode::Normal, "no thresholds, no action");
    }
}
