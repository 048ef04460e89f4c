//! Random peer (RP) and random useful peer (RUP) selection, paper 002.
//!
//! Every free slot is given to a peer drawn uniformly at random, re-drawn
//! for every piece (see [`super::per_piece`]):
//!
//! - random peer: drawn among *all* connected peers, interested or not; a
//!   drawn peer that wants nothing we have (or is not interested) is not
//!   unchoked and the slot stays unused until the next rechoke (the caller
//!   rechokes after one piece time). That waste is the point of the model:
//!   it is why one-club members, who meet each other at random, stall.
//! - random useful peer: drawn among the peers that are interested and
//!   want something we have, so no slot is ever wasted.
//!
//! Draws are without replacement: with several slots, each goes to a
//! different peer.

use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use super::per_piece::PerPieceConfig;
use super::{Choker, PeerView, Unchoke};
use crate::peer::PeerKey;

/// The random peer / random useful peer choker.
pub struct RandomPeer<R> {
    /// Slots, piece length, timers.
    config: PerPieceConfig,
    /// Draw only among peers that can use the slot (RUP) instead of among
    /// everyone (RP).
    useful_only: bool,
    /// The draws, injected for reproducibility.
    rng: R,
    /// Scratch: indices of the peers that may be drawn.
    pool: Vec<usize>,
    /// The peers drawn at the last rechoke, wasted draws included (for
    /// tests and statistics).
    drawn: Vec<PeerKey>,
    /// The last rechoke drew a peer that wants nothing.
    wasted: bool,
}

impl<R: RngCore + Send> RandomPeer<R> {
    /// Random peer selection (RP): draws among all peers, wasting the slot
    /// on a peer that wants nothing.
    pub fn random(config: PerPieceConfig, rng: R) -> Self {
        Self::new(config, false, rng)
    }

    /// Random useful peer selection (RUP): draws among the peers that want
    /// something we have.
    pub fn random_useful(config: PerPieceConfig, rng: R) -> Self {
        Self::new(config, true, rng)
    }

    fn new(config: PerPieceConfig, useful_only: bool, rng: R) -> Self {
        RandomPeer {
            config,
            useful_only,
            rng,
            pool: Vec::new(),
            drawn: Vec::new(),
            wasted: false,
        }
    }

    /// Does this choker draw only among useful peers (RUP)?
    pub fn useful_only(&self) -> bool {
        self.useful_only
    }

    /// The peers drawn at the last rechoke for the free slots, in draw
    /// order, including those that were not unchoked because they want
    /// nothing (random peer's wasted slots).
    pub fn last_draw(&self) -> &[PeerKey] {
        &self.drawn
    }
}

/// Can `p` use an upload slot?
fn useful(p: &PeerView) -> bool {
    p.interested && p.wants_ours
}

impl<R: RngCore + Send> Choker for RandomPeer<R> {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        out.clear();
        self.drawn.clear();
        self.wasted = false;
        let mut pool = std::mem::take(&mut self.pool);
        pool.clear();
        for (i, p) in peers.iter().enumerate() {
            if out.regular.len() < self.config.slots && self.config.mid_turn(p, now, useful(p)) {
                // Kept for the rest of its piece, not drawn again.
                out.regular.push(p.key);
            } else if !self.useful_only || useful(p) {
                pool.push(i);
            }
        }
        let free = self.config.slots.saturating_sub(out.regular.len());
        // Partial Fisher-Yates: the first `free` entries become a uniform
        // sample without replacement.
        for k in 0..free.min(pool.len()) {
            let j = self.rng.gen_range(k..pool.len());
            pool.swap(k, j);
            let p = &peers[pool[k]];
            self.drawn.push(p.key);
            if useful(p) {
                out.regular.push(p.key);
            } else {
                self.wasted = true;
            }
        }
        self.pool = pool;
    }

    fn rechoke_interval(&self) -> Duration {
        self.config.rechoke_interval
    }

    fn max_unchoked(&self) -> usize {
        self.config.slots
    }

    fn wasted_turn(&self) -> bool {
        self.wasted
    }

    fn per_piece(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uniformity::looks_uniform;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn peer(key: u64, t0: Instant, useful: bool) -> PeerView {
        let mut p = PeerView::new(PeerKey(key), t0);
        p.interested = useful;
        p.wants_ours = useful;
        p
    }

    fn config(slots: usize) -> PerPieceConfig {
        PerPieceConfig {
            slots,
            ..PerPieceConfig::default()
        }
    }

    /// Count, over `rounds` fresh rechokes, how often each peer was drawn.
    fn draw_counts(c: &mut RandomPeer<StdRng>, peers: &[PeerView], rounds: usize) -> Vec<u64> {
        let t0 = peers[0].connected_at;
        let mut counts = vec![0u64; peers.len()];
        let mut out = Unchoke::default();
        for _ in 0..rounds {
            c.rechoke(t0, peers, &mut out);
            for key in c.last_draw() {
                counts[key.0 as usize] += 1;
            }
        }
        counts
    }

    #[test]
    fn random_draw_is_uniform_over_all_peers() {
        let t0 = Instant::now();
        // Half the peers want nothing: they are drawn just as often.
        let peers: Vec<PeerView> = (0..10).map(|k| peer(k, t0, k % 2 == 0)).collect();
        let mut c = RandomPeer::random(config(1), StdRng::seed_from_u64(11));
        let counts = draw_counts(&mut c, &peers, 10_000);
        assert_eq!(counts.iter().sum::<u64>(), 10_000);
        looks_uniform(&counts).unwrap();
        // The same check catches a classic off-by-one draw
        // (`gen_range(0..=n).min(n - 1)`: the last peer twice as likely)
        // from the same seed and number of draws.
        let mut rng = StdRng::seed_from_u64(11);
        let mut biased = vec![0u64; peers.len()];
        for _ in 0..10_000 {
            biased[rng.gen_range(0..=peers.len()).min(peers.len() - 1)] += 1;
        }
        assert!(looks_uniform(&biased).is_err(), "{biased:?}");
    }

    #[test]
    fn random_wastes_the_slot_on_a_peer_that_wants_nothing() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..4).map(|k| peer(k, t0, k == 0)).collect();
        let mut c = RandomPeer::random(config(1), StdRng::seed_from_u64(5));
        let mut out = Unchoke::default();
        let (mut wasted, rounds) = (0, 4000);
        for _ in 0..rounds {
            c.rechoke(t0, &peers, &mut out);
            assert_eq!(c.last_draw().len(), 1);
            let drawn = c.last_draw()[0];
            if drawn == PeerKey(0) {
                assert_eq!(out.regular, vec![PeerKey(0)]);
            } else {
                assert!(out.is_empty(), "unchoked {out:?} after drawing {drawn:?}");
                wasted += 1;
            }
        }
        // Three peers in four want nothing.
        let share = f64::from(wasted) / f64::from(rounds);
        assert!((0.72..0.78).contains(&share), "wasted share {share}");
    }

    #[test]
    fn random_useful_draws_only_useful_peers_uniformly() {
        let t0 = Instant::now();
        let mut peers: Vec<PeerView> = (0..9).map(|k| peer(k, t0, k < 6)).collect();
        // Interested but wanting nothing (stale INTERESTED), and wanting
        // but not interested yet: neither can use a slot.
        peers[6].interested = true;
        peers[7].wants_ours = true;
        let mut c = RandomPeer::random_useful(config(1), StdRng::seed_from_u64(8));
        let counts = draw_counts(&mut c, &peers, 6000);
        assert!(counts[6..].iter().all(|&n| n == 0), "{counts:?}");
        looks_uniform(&counts[..6]).unwrap();
    }

    #[test]
    fn several_slots_go_to_distinct_peers() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..5).map(|k| peer(k, t0, true)).collect();
        let mut c = RandomPeer::random_useful(config(3), StdRng::seed_from_u64(1));
        let mut out = Unchoke::default();
        for _ in 0..100 {
            c.rechoke(t0, &peers, &mut out);
            let mut keys = out.regular.clone();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 3);
        }
    }

    #[test]
    fn a_peer_mid_piece_keeps_its_slot() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(1);
        let mut peers: Vec<PeerView> = (0..6).map(|k| peer(k, t0, true)).collect();
        let cfg = config(1);
        peers[3].unchoked_since = Some(t0);
        peers[3].sent_since_unchoke = cfg.piece_bytes / 2;
        let mut c = RandomPeer::random(cfg, StdRng::seed_from_u64(2));
        let mut out = Unchoke::default();
        for _ in 0..50 {
            c.rechoke(now, &peers, &mut out);
            assert_eq!(out.regular, vec![PeerKey(3)]);
            assert!(c.last_draw().is_empty());
        }
        // Once its piece is through, the slot is drawn again.
        peers[3].sent_since_unchoke = cfg.piece_bytes;
        let mut others = 0;
        for _ in 0..50 {
            c.rechoke(now, &peers, &mut out);
            assert_eq!(c.last_draw().len(), 1);
            others += usize::from(out.regular != vec![PeerKey(3)]);
        }
        assert!(others > 20, "slot not redrawn: {others}");
        // Half-way through its second piece: kept again.
        peers[3].sent_since_unchoke = cfg.piece_bytes * 3 / 2;
        c.rechoke(now, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(3)]);
        // A peer that took nothing since its unchoke is not kept.
        peers[3].sent_since_unchoke = 0;
        c.rechoke(now, &peers, &mut out);
        assert_eq!(c.last_draw().len(), 1);
        // A peer that stalls half-way loses the slot after max_turn.
        peers[3].sent_since_unchoke = 1;
        c.rechoke(t0 + cfg.max_turn, &peers, &mut out);
        assert_eq!(c.last_draw().len(), 1);
    }

    #[test]
    fn random_is_per_piece() {
        let c = RandomPeer::random(config(1), StdRng::seed_from_u64(0));
        assert!(c.per_piece());
        assert!(!c.useful_only());
        assert_eq!(c.max_unchoked(), 1);
    }
}
