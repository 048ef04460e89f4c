//! A seed's block selection: which piece to suggest (BEP 6 SUGGEST PIECE)
//! to a peer it starts serving.
//!
//! In the paper's model the publisher chooses the block it uploads —
//! rarest first (RFB) over the whole swarm, or a random useful one (RUB).
//! In BitTorrent the downloader chooses, but a seed connected to the swarm
//! knows every peer's pieces (their BITFIELDs and HAVEs) and can say which
//! piece it would like a peer to take; riffle's leechers honour a
//! suggestion from the peer that just unchoked them. These functions are
//! that choice, with the same names as the pickers.

use rand::{Rng, RngCore};
use riffle_protocol::{Bitfield, PieceIndex};

/// Rarest first: among the pieces we have and `remote` lacks, one with the
/// fewest copies among our peers (`availability`), ties uniformly at random.
pub fn rarest(
    ours: &Bitfield,
    remote: &Bitfield,
    availability: impl Fn(PieceIndex) -> u32,
    rng: &mut dyn RngCore,
) -> Option<PieceIndex> {
    let mut best: Option<(u32, PieceIndex)> = None;
    let mut ties = 0u32;
    for p in useful(ours, remote) {
        let a = availability(p);
        match best {
            Some((b, _)) if a > b => {}
            Some((b, _)) if a == b => {
                // Reservoir sampling over the tied pieces.
                ties += 1;
                if rng.gen_range(0..ties) == 0 {
                    best = Some((a, p));
                }
            }
            _ => {
                best = Some((a, p));
                ties = 1;
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Random useful: a uniformly random piece we have and `remote` lacks.
pub fn random_useful(
    ours: &Bitfield,
    remote: &Bitfield,
    rng: &mut dyn RngCore,
) -> Option<PieceIndex> {
    let mut chosen = None;
    for (seen, p) in useful(ours, remote).enumerate() {
        if rng.gen_range(0..=seen) == 0 {
            chosen = Some(p);
        }
    }
    chosen
}

/// Sequential: the lowest piece we have and `remote` lacks.
pub fn lowest(ours: &Bitfield, remote: &Bitfield) -> Option<PieceIndex> {
    useful(ours, remote).next()
}

/// Pieces we have that `remote` lacks, in index order.
fn useful<'a>(ours: &'a Bitfield, remote: &'a Bitfield) -> impl Iterator<Item = PieceIndex> + 'a {
    ours.ones().filter(move |p| !remote.has(*p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn rarest_picks_a_least_held_piece_the_remote_lacks() {
        let ours = Bitfield::from_pattern("xxxxx");
        let remote = Bitfield::from_pattern("x....");
        let avail = [0u32, 5, 2, 2, 7];
        let mut seen = [0u32; 5];
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..400 {
            let p = rarest(&ours, &remote, |p| avail[p.idx()], &mut rng).unwrap();
            seen[p.idx()] += 1;
        }
        // Piece 0 is the rarest but the remote has it; 2 and 3 tie.
        assert_eq!(seen[0] + seen[1] + seen[4], 0, "{seen:?}");
        assert!(seen[2] > 150 && seen[3] > 150, "ties not split: {seen:?}");
    }

    #[test]
    fn nothing_to_suggest_to_a_peer_that_has_all_we_have() {
        let ours = Bitfield::from_pattern("xx..");
        let remote = Bitfield::from_pattern("xxx.");
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(rarest(&ours, &remote, |_| 1, &mut rng), None);
        assert_eq!(random_useful(&ours, &remote, &mut rng), None);
        assert_eq!(lowest(&ours, &remote), None);
    }

    #[test]
    fn random_useful_covers_every_useful_piece_and_lowest_is_lowest() {
        let ours = Bitfield::from_pattern("x.xxx");
        let remote = Bitfield::from_pattern("..x..");
        let mut rng = StdRng::seed_from_u64(9);
        let mut seen = [0u32; 5];
        for _ in 0..600 {
            seen[random_useful(&ours, &remote, &mut rng).unwrap().idx()] += 1;
        }
        assert_eq!(seen[1] + seen[2], 0, "{seen:?}");
        assert!(seen[0] > 150 && seen[3] > 150 && seen[4] > 150, "{seen:?}");
        assert_eq!(lowest(&ours, &remote), Some(PieceIndex::new(0)));
    }
}
