//! libtorrent's `round_robin` seed choking: serve interested peers in turn.
//!
//! A seeder has nothing to receive, so reciprocation means nothing. Instead
//! each unchoked peer keeps its slot until it has had its share — unchoked
//! for at least `min_unchoke_time` *and* sent at least `quota_bytes` (or,
//! so a peer that stops requesting cannot hold a slot forever, unchoked for
//! `max_unchoke_time`) — and then yields it to the interested peer that has
//! waited longest since its last unchoke (never-served peers first, oldest
//! connection first). Every interested peer is therefore served within a
//! bounded number of rounds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Choker, PeerView, Unchoke};
use crate::peer::PeerKey;

/// Knobs of [`RoundRobin`]; defaults follow libtorrent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundRobinConfig {
    /// Upload slots.
    pub slots: usize,
    /// How often the caller rechokes.
    pub rechoke_interval: Duration,
    /// A peer keeps its slot at least this long (libtorrent: one minute).
    pub min_unchoke_time: Duration,
    /// ... and until we sent it this many bytes (libtorrent:
    /// `seeding_piece_quota` = 20 pieces; here in bytes, 20 x 256 KiB by
    /// default; set it from the torrent's piece length).
    pub quota_bytes: u64,
    /// A peer loses its slot after this long regardless of bytes sent.
    pub max_unchoke_time: Duration,
}

impl Default for RoundRobinConfig {
    fn default() -> Self {
        RoundRobinConfig {
            slots: 4,
            rechoke_interval: Duration::from_secs(10),
            min_unchoke_time: Duration::from_secs(60),
            quota_bytes: 20 * 256 * 1024,
            max_unchoke_time: Duration::from_secs(300),
        }
    }
}

/// The round-robin seed choker.
pub struct RoundRobin {
    /// The knobs.
    config: RoundRobinConfig,
    /// When each peer was last unchoked by us (forgotten when it leaves):
    /// a choked peer's place in the queue.
    last_unchoked: HashMap<PeerKey, Instant>,
    /// Scratch: (priority key, peer), reused across rechokes.
    ranked: Vec<(Rank, PeerKey)>,
}

/// Sort key: peers still within their turn first, then the longest-waiting.
type Rank = (bool, Option<Instant>, Instant, PeerKey);

impl RoundRobin {
    /// A round-robin choker with these knobs.
    pub fn new(config: RoundRobinConfig) -> Self {
        RoundRobin {
            config,
            last_unchoked: HashMap::new(),
            ranked: Vec::new(),
        }
    }

    /// Has this unchoked peer had its share at `now`?
    fn turn_over(&self, p: &PeerView, now: Instant) -> bool {
        let held = p.unchoked_for(now);
        (held >= self.config.min_unchoke_time && p.sent_since_unchoke >= self.config.quota_bytes)
            || held >= self.config.max_unchoke_time
    }
}

impl Choker for RoundRobin {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        out.clear();
        self.last_unchoked
            .retain(|key, _| peers.iter().any(|p| p.key == *key));
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        for p in peers.iter().filter(|p| p.interested) {
            let rank = match p.unchoked_since {
                Some(since) if !self.turn_over(p, now) => {
                    (false, Some(since), p.connected_at, p.key)
                }
                Some(since) => (true, Some(since), p.connected_at, p.key),
                None => (
                    true,
                    self.last_unchoked.get(&p.key).copied(),
                    p.connected_at,
                    p.key,
                ),
            };
            ranked.push((rank, p.key));
        }
        // `None < Some(_)`: never-served peers come first among the waiting.
        ranked.sort_unstable();
        for &(_, key) in ranked.iter().take(self.config.slots) {
            out.regular.push(key);
        }
        for key in &out.regular {
            let fresh = peers
                .iter()
                .find(|p| p.key == *key)
                .and_then(|p| p.unchoked_since)
                .unwrap_or(now);
            self.last_unchoked.insert(*key, fresh);
        }
        self.ranked = ranked;
    }

    fn rechoke_interval(&self) -> Duration {
        self.config.rechoke_interval
    }

    fn max_unchoked(&self) -> usize {
        self.config.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive `rounds` rechokes over `peers`, applying each decision (each
    /// unchoked peer receives `rate` bytes per second), and return for each
    /// peer the first round in which it was unchoked.
    fn simulate(
        config: RoundRobinConfig,
        peers: &mut [PeerView],
        rate: u64,
        rounds: usize,
        t0: Instant,
    ) -> Vec<Option<usize>> {
        let mut c = RoundRobin::new(config);
        let mut first = vec![None; peers.len()];
        let mut out = Unchoke::default();
        let step = config.rechoke_interval;
        for round in 0..rounds {
            let now = t0 + step * round as u32;
            c.rechoke(now, peers, &mut out);
            assert!(out.len() <= config.slots);
            for (i, p) in peers.iter_mut().enumerate() {
                if out.contains(p.key) {
                    assert!(p.interested, "unchoked an uninterested peer");
                    first[i].get_or_insert(round);
                    if p.unchoked_since.is_none() {
                        p.unchoked_since = Some(now);
                        p.sent_since_unchoke = 0;
                    }
                    p.sent_since_unchoke += rate * step.as_secs();
                } else {
                    p.unchoked_since = None;
                    p.sent_since_unchoke = 0;
                }
            }
        }
        first
    }

    #[test]
    fn every_interested_peer_is_served_within_bounded_rounds() {
        let t0 = Instant::now();
        let config = RoundRobinConfig::default();
        let n = 13;
        let mut peers: Vec<PeerView> = (0..n)
            .map(|k| {
                let mut p = PeerView::new(PeerKey(k), t0);
                p.interested = k % 5 != 4;
                p
            })
            .collect();
        // Quota reached in 60 s at this rate, so a turn is 6 rounds.
        let rate = config.quota_bytes.div_ceil(60);
        let interested = peers.iter().filter(|p| p.interested).count();
        let turn = 6;
        let bound = interested.div_ceil(config.slots) * turn;
        let first = simulate(config, &mut peers, rate, bound + 1, t0);
        for (p, f) in peers.iter().zip(&first) {
            if p.interested {
                assert!(f.is_some_and(|r| r <= bound), "{:?} served at {f:?}", p.key);
            } else {
                assert_eq!(*f, None);
            }
        }
    }

    #[test]
    fn a_peer_keeps_its_slot_until_its_share_is_done() {
        let t0 = Instant::now();
        let config = RoundRobinConfig {
            slots: 1,
            ..RoundRobinConfig::default()
        };
        let mut peers: Vec<PeerView> = (0..2)
            .map(|k| {
                let mut p = PeerView::new(PeerKey(k), t0);
                p.interested = true;
                p
            })
            .collect();
        // Slow: the quota takes 120 s, so the first peer holds 12 rounds.
        let rate = config.quota_bytes.div_ceil(120);
        let first = simulate(config, &mut peers, rate, 14, t0);
        assert_eq!(first[0], Some(0));
        assert_eq!(first[1], Some(12));
    }

    #[test]
    fn idle_peer_cannot_hold_a_slot_forever() {
        let t0 = Instant::now();
        let config = RoundRobinConfig {
            slots: 1,
            ..RoundRobinConfig::default()
        };
        let mut peers: Vec<PeerView> = (0..2)
            .map(|k| {
                let mut p = PeerView::new(PeerKey(k), t0);
                p.interested = true;
                p
            })
            .collect();
        let first = simulate(config, &mut peers, 0, 32, t0);
        assert_eq!(first[1], Some(30), "max_unchoke_time is 300 s = 30 rounds");
    }
}
