//! Compact test fixtures in libtorrent's style: one character per piece.
//!
//! - availability: a digit per piece, how many connected peers hold it;
//! - have: `x` we have the piece, `.` we do not;
//! - partial: a digit per piece, how many of its first blocks are already
//!   requested from [`GHOST`] (`.` or `0`: not started).

use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_protocol::{Bitfield, BlockRef, PieceIndex, BLOCK_SIZE};

use super::{PieceGeometry, PiecePicker, RarestFirst, Remote};
use crate::peer::PeerKey;

/// Blocks per piece in fixtures.
pub const BLOCKS: u32 = 4;
/// The peer that holds the requests of pre-started pieces.
pub const GHOST: PeerKey = PeerKey(999);

/// Geometry of `pieces` pieces of [`BLOCKS`] blocks each.
pub fn geometry(pieces: u32) -> PieceGeometry {
    PieceGeometry::new(pieces, BLOCKS * BLOCK_SIZE, BLOCKS * BLOCK_SIZE).unwrap()
}

/// A rarest-first picker built from fixture strings, seeded with `seed`.
pub fn picker(availability: &str, have: &str, partial: &str, seed: u64) -> RarestFirst {
    let n = availability.len() as u32;
    let mut p = RarestFirst::rarest_first(geometry(n), StdRng::seed_from_u64(seed));
    apply(&mut p, availability, have, partial);
    p
}

/// Apply fixture strings to any picker built for their piece count.
pub fn apply(p: &mut impl PiecePicker, availability: &str, have: &str, partial: &str) {
    for (i, c) in availability.chars().enumerate() {
        let copies = c.to_digit(36).expect("availability digit");
        for _ in 0..copies {
            p.on_availability(super::AvailabilityChange::Have(PieceIndex::new(i as u32)));
        }
    }
    for (i, c) in have.chars().enumerate() {
        if c == 'x' {
            p.we_have(PieceIndex::new(i as u32)).unwrap();
        }
    }
    for (i, c) in partial.chars().enumerate() {
        let n = c.to_digit(10).unwrap_or(0);
        for b in 0..n {
            let block = BlockRef {
                piece: PieceIndex::new(i as u32),
                offset: b * BLOCK_SIZE,
                length: BLOCK_SIZE,
            };
            assert!(p.mark_requested(GHOST, block).unwrap());
        }
    }
}

/// Pick up to `want` blocks for `peer` holding the pieces of `remote`
/// (an `x`/`.` pattern).
pub fn pick(p: &mut impl PiecePicker, peer: u64, remote: &str, want: usize) -> Vec<BlockRef> {
    let bits = Bitfield::from_pattern(remote);
    let mut out = Vec::new();
    let n = p.pick(Remote::new(PeerKey(peer), &bits), want, &mut out);
    assert_eq!(n, out.len());
    out
}

/// The distinct pieces of `blocks`, in first-seen order.
pub fn pieces(blocks: &[BlockRef]) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::new();
    for b in blocks {
        if !v.contains(&b.piece.get()) {
            v.push(b.piece.get());
        }
    }
    v
}
