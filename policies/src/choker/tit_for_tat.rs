//! BitTorrent's leecher choker: reciprocate with the peers that upload to
//! us fastest, and give one optimistic unchoke to somebody else so new
//! peers get a chance to show what they can do.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::{Choker, PeerView, Unchoke};
use crate::peer::PeerKey;

/// Knobs of [`TitForTat`]; defaults are mainline BitTorrent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TitForTatConfig {
    /// Regular (reciprocation) slots.
    pub regular_slots: usize,
    /// How often the caller rechokes.
    pub rechoke_interval: Duration,
    /// How long an optimistic unchoke lasts before it rotates.
    pub optimistic_interval: Duration,
    /// Weight of a newcomer in the optimistic draw (1 for everyone else);
    /// mainline gives new connections three times the chance, because they
    /// have nothing yet to reciprocate with.
    pub newcomer_weight: u32,
    /// A peer connected for less than this is a newcomer.
    pub newcomer_age: Duration,
}

impl Default for TitForTatConfig {
    fn default() -> Self {
        TitForTatConfig {
            regular_slots: 4,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            newcomer_weight: 3,
            newcomer_age: Duration::from_secs(30),
        }
    }
}

/// The tit-for-tat choker (leecher side).
///
/// Regular slots go to the interested peers with the best download rate to
/// us, snubbed peers last, ties broken at random. One more interested peer
/// outside those gets the optimistic slot; it keeps it for
/// `optimistic_interval`, then the slot is redrawn among the others
/// (newcomers weighted). Uninterested peers are never unchoked.
pub struct TitForTat<R> {
    /// The knobs.
    config: TitForTatConfig,
    /// Tie-breaking and optimistic draws, injected for reproducibility.
    rng: R,
    /// The current optimistic unchoke and when it was drawn.
    optimistic: Option<(PeerKey, Instant)>,
    /// Scratch: interested peers, reused across rechokes.
    ranked: Vec<PeerView>,
}

impl<R: RngCore + Send> TitForTat<R> {
    /// A tit-for-tat choker with these knobs and this generator.
    pub fn new(config: TitForTatConfig, rng: R) -> Self {
        TitForTat {
            config,
            rng,
            optimistic: None,
            ranked: Vec::new(),
        }
    }

    /// The current optimistic unchoke, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic.map(|(k, _)| k)
    }

    /// Draw the optimistic unchoke among `pool`, weighted, avoiding
    /// `previous` when anyone else qualifies.
    fn draw(
        &mut self,
        now: Instant,
        pool: &[PeerView],
        previous: Option<PeerKey>,
    ) -> Option<PeerKey> {
        let eligible = |p: &&PeerView| pool.len() == 1 || Some(p.key) != previous;
        let weight = |p: &PeerView| {
            if now.saturating_duration_since(p.connected_at) < self.config.newcomer_age {
                u64::from(self.config.newcomer_weight.max(1))
            } else {
                1
            }
        };
        let total: u64 = pool.iter().filter(eligible).map(weight).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = self.rng.gen_range(0..total);
        for p in pool.iter().filter(eligible) {
            let w = weight(p);
            if ticket < w {
                return Some(p.key);
            }
            ticket -= w;
        }
        None
    }
}

impl<R: RngCore + Send> Choker for TitForTat<R> {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        out.clear();
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        ranked.extend(peers.iter().filter(|p| p.interested).copied());
        // Shuffle, then a stable sort: equal peers end up in random order.
        ranked.shuffle(&mut self.rng);
        ranked.sort_by_key(|p| (p.snubbed, std::cmp::Reverse(p.download_rate)));
        let regular = self.config.regular_slots.min(ranked.len());
        out.regular.extend(ranked[..regular].iter().map(|p| p.key));

        let pool = &ranked[regular..];
        let keep = self.optimistic.filter(|(key, since)| {
            now.saturating_duration_since(*since) < self.config.optimistic_interval
                && pool.iter().any(|p| p.key == *key)
        });
        self.optimistic = match keep {
            Some(current) => Some(current),
            None => {
                let previous = self.optimistic.map(|(k, _)| k);
                self.draw(now, pool, previous).map(|k| (k, now))
            }
        };
        out.optimistic = self.optimistic.map(|(k, _)| k);
        self.ranked = ranked;
    }

    fn rechoke_interval(&self) -> Duration {
        self.config.rechoke_interval
    }

    fn max_unchoked(&self) -> usize {
        self.config.regular_slots + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn peer(key: u64, t0: Instant, rate: u64, interested: bool) -> PeerView {
        let mut p = PeerView::new(PeerKey(key), t0);
        p.interested = interested;
        p.download_rate = rate;
        p
    }

    fn choker(seed: u64) -> TitForTat<StdRng> {
        TitForTat::new(TitForTatConfig::default(), StdRng::seed_from_u64(seed))
    }

    #[test]
    fn regular_slots_go_to_the_fastest_interested_peers() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..10)
            .map(|k| peer(k, t0, k * 100, k != 9)) // 9 is fastest but not interested
            .collect();
        let mut out = Unchoke::default();
        let mut c = choker(1);
        c.rechoke(t0, &peers, &mut out);
        let mut regular = out.regular.clone();
        regular.sort();
        assert_eq!(
            regular,
            vec![PeerKey(5), PeerKey(6), PeerKey(7), PeerKey(8)]
        );
        let opt = out.optimistic.expect("an optimistic unchoke");
        assert!(opt.0 < 5, "optimistic must be among the others: {opt:?}");
        assert!(!out.contains(PeerKey(9)));
    }

    #[test]
    fn snubbed_peers_rank_last() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..6).map(|k| peer(k, t0, 1000 + k, true)).collect();
        peers[5].snubbed = true;
        peers[4].snubbed = true;
        let mut out = Unchoke::default();
        choker(2).rechoke(t0, &peers, &mut out);
        assert!(!out.regular.contains(&PeerKey(5)));
        assert!(!out.regular.contains(&PeerKey(4)));
        assert_eq!(out.regular.len(), 4);
    }

    #[test]
    fn uninterested_peers_are_never_unchoked() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..3).map(|k| peer(k, t0, 500, false)).collect();
        let mut out = Unchoke::default();
        choker(3).rechoke(t0, &peers, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn optimistic_rotates_after_its_interval_and_not_before() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..8).map(|k| peer(k, t0, k * 10, true)).collect();
        let mut c = choker(4);
        let mut out = Unchoke::default();
        c.rechoke(t0, &peers, &mut out);
        let first = out.optimistic.expect("optimistic");
        for secs in [10, 20, 29] {
            c.rechoke(t0 + Duration::from_secs(secs), &peers, &mut out);
            assert_eq!(out.optimistic, Some(first), "rotated early at {secs}s");
        }
        c.rechoke(t0 + Duration::from_secs(30), &peers, &mut out);
        let second = out.optimistic.expect("optimistic");
        assert_ne!(second, first, "did not rotate at 30s");
        c.rechoke(t0 + Duration::from_secs(50), &peers, &mut out);
        assert_eq!(out.optimistic, Some(second));
    }

    #[test]
    fn newcomers_get_three_times_the_weight() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(600);
        // Peer 0 is a newcomer at `later`, peers 1 and 2 are old; no regular
        // slots so all three compete for the optimistic one.
        let mut peers = vec![
            peer(0, later, 0, true),
            peer(1, t0, 0, true),
            peer(2, t0, 0, true),
        ];
        peers[0].connected_at = later;
        let config = TitForTatConfig {
            regular_slots: 0,
            ..TitForTatConfig::default()
        };
        let mut c = TitForTat::new(config, StdRng::seed_from_u64(5));
        let mut newcomer = 0;
        let rounds = 3000;
        let mut out = Unchoke::default();
        for i in 0..rounds {
            c.optimistic = None;
            c.rechoke(later + Duration::from_millis(i), &peers, &mut out);
            if out.optimistic == Some(PeerKey(0)) {
                newcomer += 1;
            }
        }
        // Expected share 3/5 = 0.6.
        let share = f64::from(newcomer) / rounds as f64;
        assert!((0.55..0.65).contains(&share), "newcomer share {share}");
    }

    #[test]
    fn departed_optimistic_is_replaced_at_once() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..6).map(|k| peer(k, t0, k, true)).collect();
        let mut c = choker(6);
        let mut out = Unchoke::default();
        c.rechoke(t0, &peers, &mut out);
        let gone = out.optimistic.expect("optimistic");
        let rest: Vec<PeerView> = peers.iter().filter(|p| p.key != gone).copied().collect();
        c.rechoke(t0 + Duration::from_secs(10), &rest, &mut out);
        assert!(out.optimistic.is_some_and(|k| k != gone));
    }
}
