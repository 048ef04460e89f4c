//! The seam between the shared picking engine and an ordering strategy.
//!
//! An order only decides which *not yet started* piece to start next; the
//! engine ([`super::Picker`]) finishes partial pieces first, hands out
//! blocks, runs end-game and keeps the books. Rarest-first, random useful
//! piece and sequential are each one implementation of [`PieceOrder`].

use rand::RngCore;
use riffle_protocol::{Bitfield, PieceIndex};

use super::book::BlockBook;

/// What the engine asks an order for.
#[derive(Clone, Copy, Debug)]
pub struct NewPieceQuery<'a> {
    /// Pieces the remote holds; only these may be returned.
    pub remote: &'a Bitfield,
    /// Return at most this many pieces.
    pub max: usize,
    /// The remote is snubbed (slow): prefer pieces that do not matter much
    /// (for rarest-first, the most common ones) so a slow peer does not sit
    /// on a rare piece.
    pub reverse: bool,
}

/// Ordering of not-yet-started ("open") pieces.
///
/// The engine keeps the order told about every open piece: it inserts all
/// pieces at construction, removes a piece when it starts or becomes ours,
/// inserts it back when its blocks return to the pool (failed hash check),
/// and reports availability changes of open pieces.
pub trait PieceOrder: Send {
    /// `piece` became open, held by `availability` connected peers.
    fn insert(&mut self, piece: PieceIndex, availability: u32);
    /// Open `piece` (held by `availability` peers) was started or is ours.
    fn remove(&mut self, piece: PieceIndex, availability: u32);
    /// The availability of open `piece` went from `old` to `new`.
    fn availability_changed(&mut self, piece: PieceIndex, old: u32, new: u32);
    /// Append to `out` up to `query.max` open pieces that `query.remote`
    /// holds, best first. Must not allocate beyond `out`'s growth.
    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    );
    /// Rank of a started piece among the partial pieces the remote can
    /// help finish (lower is served first). Default: fewest copies first.
    fn partial_rank(&self, piece: PieceIndex, availability: u32) -> u64 {
        let _ = piece;
        u64::from(availability)
    }
    /// Panic if the order disagrees with `book` (debug builds only).
    fn check_invariants(&self, book: &BlockBook) {
        let _ = book;
    }
}
