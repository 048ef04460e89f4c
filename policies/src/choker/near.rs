//! Near-first optimistic unchokes (locality, papers 000 and 001): any
//! choker's optimistic slot goes, with probability `share`, to a peer of
//! our own network ([`PeerView::near`]).
//!
//! The wrapped choker decides as always. Each time its optimistic pick
//! changes, with probability `share` the slot must go near: if the inner
//! pick is far and an interested, choked near peer exists, one of those
//! (uniformly) takes the slot instead; otherwise the inner pick (random
//! over everyone) stands. The replacement is kept while the inner pick
//! stays the same and the replacement stays eligible, so the slot does
//! not flap between rechokes. With `share` = 0.7 optimistic unchokes
//! follow P4P's shape, 70% near and 30% at random; far peers keep their
//! part of the random 30% (the far floor).

use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use super::{Choker, PeerView, Unchoke};
use crate::peer::PeerKey;

/// A choker whose optimistic unchoke prefers near peers.
pub struct NearOptimistic<C, R> {
    inner: C,
    share: f64,
    rng: R,
    /// The inner optimistic pick and what took its place (None: itself).
    current: Option<(PeerKey, Option<PeerKey>)>,
}

impl<C: Choker, R: RngCore + Send> NearOptimistic<C, R> {
    /// Wrap `inner`; `share` (clamped to 0..=1) is the near class's
    /// chance at each new optimistic unchoke.
    pub fn new(inner: C, share: f64, rng: R) -> Self {
        NearOptimistic {
            inner,
            share: if share.is_finite() {
                share.clamp(0.0, 1.0)
            } else {
                0.0
            },
            rng,
            current: None,
        }
    }

    fn eligible(p: &PeerView, out: &Unchoke) -> bool {
        p.interested && !out.regular.contains(&p.key)
    }

    fn redraw(&mut self, picked: PeerKey, peers: &[PeerView], out: &Unchoke) -> Option<PeerKey> {
        let picked_near = peers.iter().find(|p| p.key == picked)?.near;
        if picked_near || !self.rng.gen_bool(self.share) {
            return None;
        }
        let pool: Vec<PeerKey> = peers
            .iter()
            .filter(|p| p.near && Self::eligible(p, out))
            .map(|p| p.key)
            .collect();
        if pool.is_empty() {
            return None;
        }
        Some(pool[self.rng.gen_range(0..pool.len())])
    }
}

impl<C: Choker, R: RngCore + Send> Choker for NearOptimistic<C, R> {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        self.inner.rechoke(now, peers, out);
        let Some(picked) = out.optimistic else {
            self.current = None;
            return;
        };
        let keep = self.current.and_then(|(inner, instead)| {
            if inner != picked {
                return None;
            }
            match instead {
                None => Some(None),
                Some(k) => peers
                    .iter()
                    .any(|p| p.key == k && Self::eligible(p, out))
                    .then_some(Some(k)),
            }
        });
        let instead = match keep {
            Some(instead) => instead,
            None => self.redraw(picked, peers, out),
        };
        self.current = Some((picked, instead));
        if let Some(k) = instead {
            out.optimistic = Some(k);
        }
    }

    fn rechoke_interval(&self) -> Duration {
        self.inner.rechoke_interval()
    }

    fn max_unchoked(&self) -> usize {
        self.inner.max_unchoked()
    }

    fn per_piece(&self) -> bool {
        self.inner.per_piece()
    }

    fn wasted_turn(&self) -> bool {
        self.inner.wasted_turn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choker::{TitForTat, TitForTatConfig};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Ten interested peers, three near, equally slow: over many fresh
    /// optimistic draws the near class gets 70% plus its part (3 of 10)
    /// of the random 30%: 79%.
    #[test]
    fn optimistic_unchokes_follow_the_share() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..10)
            .map(|k| {
                let mut p = PeerView::new(PeerKey(k), t0);
                p.interested = true;
                p.near = k < 3;
                p
            })
            .collect();
        let config = TitForTatConfig {
            regular_slots: 0,
            ..TitForTatConfig::default()
        };
        let mut near_count = 0;
        let rounds = 2000;
        for seed in 0..rounds {
            let inner = TitForTat::new(config, StdRng::seed_from_u64(seed));
            let mut c = NearOptimistic::new(inner, 0.7, StdRng::seed_from_u64(seed + 7));
            let mut out = Unchoke::default();
            c.rechoke(t0, &peers, &mut out);
            let k = out.optimistic.expect("an optimistic unchoke");
            near_count += usize::from(k.0 < 3);
        }
        let share = near_count as f64 / rounds as f64;
        assert!((share - 0.79).abs() < 0.04, "near share {share}");
    }

    /// The replacement stays while the inner pick stays; the slot is never
    /// given to a regular or uninterested peer.
    #[test]
    fn the_replacement_is_stable_and_eligible() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..6)
            .map(|k| {
                let mut p = PeerView::new(PeerKey(k), t0);
                p.interested = k != 5;
                p.near = k % 2 == 0;
                p.download_rate = k * 10;
                p
            })
            .collect();
        peers[5].near = true;
        let config = TitForTatConfig {
            regular_slots: 2,
            ..TitForTatConfig::default()
        };
        for seed in 0..200 {
            let inner = TitForTat::new(config, StdRng::seed_from_u64(seed));
            let mut c = NearOptimistic::new(inner, 0.7, StdRng::seed_from_u64(seed));
            let mut out = Unchoke::default();
            c.rechoke(t0, &peers, &mut out);
            let first = out.optimistic;
            let k = first.expect("an optimistic unchoke");
            assert!(!out.regular.contains(&k));
            assert_ne!(k, PeerKey(5), "uninterested");
            c.rechoke(t0 + Duration::from_secs(10), &peers, &mut out);
            assert_eq!(out.optimistic, first, "stable within the interval");
        }
    }
}
