//! What the per-piece chokers (random peer, random useful peer, most
//! deprived peer) share: a turn is one piece.
//!
//! In the paper's model an uploader picks a peer, sends it one block, and
//! picks again. The caller rechokes a per-piece choker as soon as an
//! unchoked peer has received a whole piece (see [`super::Choker::per_piece`]),
//! but also when peers come and go; a peer still in the middle of its piece
//! at such a rechoke keeps its slot, so the draw is not cut short, and only
//! the free slots are decided again.

use std::time::{Duration, Instant};

use super::PeerView;

/// Knobs every per-piece choker shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerPieceConfig {
    /// Upload slots (1 in the paper's model).
    pub slots: usize,
    /// How often the caller rechokes when no piece completes.
    pub rechoke_interval: Duration,
    /// The torrent's piece length: a turn ends once a peer has received
    /// this many bytes since its unchoke.
    pub piece_bytes: u64,
    /// A turn also ends after this long, so a peer that stops requesting
    /// cannot keep its slot.
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
    /// Is `p` unchoked and still in the middle of its piece at `now`?
    /// (`eligible` says whether it may be unchoked at all: a peer that lost
    /// interest ends its turn.)
    pub fn mid_turn(&self, p: &PeerView, now: Instant, eligible: bool) -> bool {
        eligible
            && p.unchoked_since.is_some()
            && p.sent_since_unchoke < self.piece_bytes
            && p.unchoked_for(now) < self.max_turn
    }
}
