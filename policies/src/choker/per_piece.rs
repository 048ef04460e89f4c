//! What the per-piece chokers (random peer, random useful peer, most
//! deprived peer) share: a turn is one piece.
//!
//! In the paper's model an uploader picks a peer, sends it one piece, and
//! picks again. The caller rechokes a per-piece choker as soon as an
//! unchoked peer has received a whole piece, and after about one piece time
//! when the slot went unused (see [`super::Choker::per_piece`]); it also
//! rechokes when peers come, go or change interest. A peer caught by such a
//! rechoke in the middle of a piece keeps its slot until that piece is
//! through, so the transfer is not cut short, and only the free slots are
//! decided again. A peer that took nothing since its unchoke is not kept:
//! its slot goes back into the draw.
//!
//! "In the middle of a piece" is read from the bytes sent since the unchoke:
//! not a whole number of pieces. (The caller does not reset that count when
//! a peer is drawn again for the next piece, so the remainder is what
//! tells.)

use std::time::{Duration, Instant};

use super::PeerView;

/// Knobs every per-piece choker shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerPieceConfig {
    /// Upload slots (1 in the paper's model).
    pub slots: usize,
    /// How often the caller rechokes when no piece completes.
    pub rechoke_interval: Duration,
    /// The torrent's piece length: a turn ends when a peer has received a
    /// whole number of pieces since its unchoke.
    pub piece_bytes: u64,
    /// No peer is kept mid-piece once unchoked this long, so a peer that
    /// stalls halfway cannot keep its slot.
    pub max_turn: Duration,
}

impl Default for PerPieceConfig {
    fn default() -> Self {
        PerPieceConfig {
            slots: 1,
            rechoke_interval: Duration::from_secs(10),
            piece_bytes: 256 * 1024,
            max_turn: Duration::from_secs(10),
        }
    }
}

impl PerPieceConfig {
    /// Is `p` unchoked and in the middle of a piece at `now`? (`eligible`
    /// says whether it may be unchoked at all: a peer that lost interest
    /// ends its turn.)
    pub fn mid_turn(&self, p: &PeerView, now: Instant, eligible: bool) -> bool {
        eligible
            && p.unchoked_since.is_some()
            && p.sent_since_unchoke
                .checked_rem(self.piece_bytes)
                .is_some_and(|r| r != 0)
            && p.unchoked_for(now) < self.max_turn
    }
}
