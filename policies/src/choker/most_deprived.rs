//! Most deprived peer selection (MDP), the publisher policy of paper 002.
//!
//! Every free slot goes to an interested peer holding the fewest pieces
//! (ties broken uniformly at random; seeds never), re-decided for every
//! piece (see [`super::per_piece`]). Under heavy arrivals the most deprived
//! peers are newcomers, so the publisher's scarce upload goes to peers that
//! will then spread what they got -- in particular the rarest piece, which
//! with rarest-first block selection is what the publisher sends them. The
//! paper shows this alone lifts the swarm's capacity from U to about
//! (2 + (K - 2) mu / mu') U with one-club throttling.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::RngCore;

use super::per_piece::PerPieceConfig;
use super::{Choker, PeerView, Unchoke};

/// The most-deprived-peer choker.
pub struct MostDeprived<R> {
    /// Slots, piece length, timers.
    config: PerPieceConfig,
    /// Tie-breaking, injected for reproducibility.
    rng: R,
    /// Scratch: the candidates, reused across rechokes.
    ranked: Vec<PeerView>,
}

/// Can `p` be served by the most-deprived policy?
fn candidate(p: &PeerView) -> bool {
    p.interested && !p.is_seed
}

impl<R: RngCore + Send> MostDeprived<R> {
    /// A most-deprived choker with these knobs and this generator.
    pub fn new(config: PerPieceConfig, rng: R) -> Self {
        MostDeprived {
            config,
            rng,
            ranked: Vec::new(),
        }
    }
}

impl<R: RngCore + Send> Choker for MostDeprived<R> {
    fn rechoke(&mut self, now: Instant, peers: &[PeerView], out: &mut Unchoke) {
        out.clear();
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        for p in peers.iter().filter(|p| candidate(p)) {
            if out.regular.len() < self.config.slots && self.config.mid_turn(p, now, true) {
                // Kept for the rest of its piece.
                out.regular.push(p.key);
            } else {
                ranked.push(*p);
            }
        }
        // Shuffle, then a stable sort: equal piece counts in random order.
        ranked.shuffle(&mut self.rng);
        ranked.sort_by_key(|p| p.pieces);
        let free = self.config.slots.saturating_sub(out.regular.len());
        out.regular.extend(ranked.iter().take(free).map(|p| p.key));
        self.ranked = ranked;
    }

    fn rechoke_interval(&self) -> Duration {
        self.config.rechoke_interval
    }

    fn max_unchoked(&self) -> usize {
        self.config.slots
    }

    fn per_piece(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerKey;
    use crate::uniformity::looks_uniform;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn peer(key: u64, t0: Instant, pieces: u32) -> PeerView {
        let mut p = PeerView::new(PeerKey(key), t0);
        p.interested = true;
        p.wants_ours = true;
        p.pieces = pieces;
        p.total_pieces = 10;
        p
    }

    fn choker(slots: usize, seed: u64) -> MostDeprived<StdRng> {
        let config = PerPieceConfig {
            slots,
            ..PerPieceConfig::default()
        };
        MostDeprived::new(config, StdRng::seed_from_u64(seed))
    }

    #[test]
    fn newcomers_first() {
        let t0 = Instant::now();
        let peers = vec![
            peer(0, t0, 9),
            peer(1, t0, 0),
            peer(2, t0, 4),
            peer(3, t0, 2),
        ];
        let mut out = Unchoke::default();
        choker(1, 1).rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(1)]);
        choker(3, 1).rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(1), PeerKey(3), PeerKey(2)]);
    }

    #[test]
    fn never_a_seed_nor_an_uninterested_peer() {
        let t0 = Instant::now();
        let mut peers = vec![peer(0, t0, 0), peer(1, t0, 0), peer(2, t0, 7)];
        peers[0].interested = false;
        peers[1].is_seed = true;
        let mut out = Unchoke::default();
        choker(2, 1).rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(2)]);
    }

    #[test]
    fn ties_are_broken_uniformly() {
        let t0 = Instant::now();
        let peers: Vec<PeerView> = (0..8)
            .map(|k| peer(k, t0, if k < 5 { 1 } else { 3 }))
            .collect();
        let mut c = choker(1, 77);
        let mut out = Unchoke::default();
        let mut counts = [0u64; 5];
        for _ in 0..5000 {
            c.rechoke(t0, &peers, &mut out);
            counts[out.regular[0].0 as usize] += 1;
        }
        looks_uniform(&counts).unwrap();
    }

    #[test]
    fn a_peer_mid_piece_is_not_cut_off_by_a_newcomer() {
        let t0 = Instant::now();
        let mut peers = vec![peer(0, t0, 3), peer(1, t0, 0)];
        peers[0].unchoked_since = Some(t0);
        peers[0].sent_since_unchoke = 1;
        let mut c = choker(1, 4);
        let mut out = Unchoke::default();
        c.rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(0)]);
        // Its piece is through: the newcomer's turn.
        peers[0].sent_since_unchoke = PerPieceConfig::default().piece_bytes;
        c.rechoke(t0, &peers, &mut out);
        assert_eq!(out.regular, vec![PeerKey(1)]);
        assert!(c.per_piece());
    }
}
