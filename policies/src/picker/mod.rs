//! Piece picking at block level: which blocks to request from which peer.
//!
//! The picker knows no connections: peers are opaque [`PeerKey`]s and their
//! holdings arrive as [`Bitfield`]s. Its API is verbs, as libtorrent's is:
//! availability changes come in through [`PiecePicker::on_availability`],
//! [`PiecePicker::pick`] hands out (and reserves) blocks, and the
//! bookkeeping verbs report what became of them.
//!
//! Shape: [`book::BlockBook`] holds the state every strategy shares (per
//! piece and per block: missing, requested by whom, received; availability
//! counts; the end-game test). [`engine::Picker`] runs the shared algorithm
//! (finish partial pieces first, then start new ones, then end-game) and
//! asks a [`order::PieceOrder`] only which new piece to start.
//! [`RarestFirst`] is `Picker<RarestOrder>`, [`RandomUseful`] is
//! `Picker<RandomUsefulOrder>` (RUB), [`Sequential`] is
//! `Picker<SequentialOrder>`; [`SplitOrder`] combines two orders, one for
//! requests to seeds and one for everybody else.

pub mod book;
pub mod engine;
pub mod order;
pub mod random_useful;
pub mod rarest;
pub mod sequential;
pub mod split;
pub mod suggest;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod order_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use riffle_protocol::{Bitfield, BlockRef, PieceIndex, TypeError};
use thiserror::Error;

use crate::peer::PeerKey;

pub use book::{BlockBook, BlockState, PieceState, Received};
pub use engine::Picker;
pub use order::{NewPieceQuery, PieceOrder};
pub use random_useful::RandomUsefulOrder;
pub use rarest::RarestOrder;
pub use riffle_protocol::PieceGeometry;
pub use sequential::SequentialOrder;
pub use split::SplitOrder;

/// Rarest-first block picker (RFB): [`Picker`] with [`RarestOrder`].
pub type RarestFirst<R = rand::rngs::StdRng> = Picker<RarestOrder, R>;

/// Random useful block picker (RUB): [`Picker`] with [`RandomUsefulOrder`].
pub type RandomUseful<R = rand::rngs::StdRng> = Picker<RandomUsefulOrder, R>;

/// Sequential picker: [`Picker`] with [`SequentialOrder`].
pub type Sequential<R = rand::rngs::StdRng> = Picker<SequentialOrder, R>;

/// Full invariant checks (O(pieces)) run after every verb in debug builds
/// for torrents up to this many pieces; larger ones skip them so a debug
/// client stays usable on big torrents.
pub const INVARIANT_CHECK_MAX_PIECES: u32 = 8192;

/// Errors of the bookkeeping verbs: the caller passed something that does
/// not belong to this torrent (typically a block reference read from a peer).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PickerError {
    /// The torrent's numbers make no sense.
    #[error("bad torrent geometry: {0}")]
    BadGeometry(&'static str),
    /// A piece index past the last piece.
    #[error("piece index {index} is past the last piece (the torrent has {count} pieces)")]
    PieceOutOfRange {
        /// The index given.
        index: u32,
        /// The torrent's piece count.
        count: u32,
    },
    /// Offset not on a block boundary, past the piece, or wrong length.
    #[error("{0:?} is not a block of this torrent")]
    BadBlock(BlockRef),
}

impl From<TypeError> for PickerError {
    fn from(e: TypeError) -> Self {
        match e {
            TypeError::PieceOutOfRange { index, count } => {
                PickerError::PieceOutOfRange { index, count }
            }
            TypeError::BadBlock(b) => PickerError::BadBlock(b),
            TypeError::BadGeometry(why) => PickerError::BadGeometry(why),
            _ => PickerError::BadGeometry("invalid torrent value"),
        }
    }
}

/// A change in which pieces connected peers hold.
#[derive(Clone, Copy, Debug)]
pub enum AvailabilityChange<'a> {
    /// A peer's BITFIELD arrived (or a peer connected with known holdings):
    /// every piece it holds gains one copy.
    Bitfield(&'a Bitfield),
    /// A peer announced one more piece (HAVE). Forward it only when the
    /// peer's bitfield did not already hold the piece (a repeated HAVE must
    /// not count twice); `Bitfield::set` returns the previous bit.
    Have(PieceIndex),
    /// A peer holds everything (HAVE-ALL, BEP 6).
    HaveAll,
    /// A peer holds nothing (HAVE-NONE, BEP 6): no change, accepted so the
    /// caller can forward every message kind.
    HaveNone,
    /// A peer that held these pieces left: each loses one copy. Pass the
    /// peer's final bitfield (after all its HAVEs).
    Lost(&'a Bitfield),
}

/// The peer we are picking blocks for.
#[derive(Clone, Copy, Debug)]
pub struct Remote<'a> {
    /// Who it is: requests are recorded under this key, and end-game never
    /// hands a block to the peer already holding its request.
    pub peer: PeerKey,
    /// The pieces it holds; only these are ever picked.
    pub has: &'a Bitfield,
    /// It has sent us nothing for a while: it gets the least valuable
    /// pieces (the most common ones under rarest-first) so it does not hold
    /// a rare piece hostage.
    pub snubbed: bool,
}

/// A piece picker: the client's torrent control point owns one and calls
/// it from one place, so it needs no locking.
pub trait PiecePicker: Send {
    /// Apply a change in the pieces connected peers hold.
    fn on_availability(&mut self, change: AvailabilityChange<'_>);

    /// Choose up to `want` blocks to request from `remote`, append them to
    /// `out` and record them as requested from `remote.peer`. Returns how
    /// many were appended. Outside end-game a block is never handed out
    /// twice; in end-game blocks already requested from other peers are
    /// handed out again (never twice to the same peer).
    fn pick(&mut self, remote: Remote<'_>, want: usize, out: &mut Vec<BlockRef>) -> usize;

    /// Nothing free for `remote`: every missing block it holds is already
    /// requested from other peers. Hand out up to `want` of those busy
    /// blocks anyway (least-requested first, never one `remote` already
    /// has), as libtorrent does outside end-game when a peer has only busy
    /// blocks, so an unchoke from such a peer is not wasted. The caller
    /// asks only when it has no request outstanding with `remote`, which
    /// bounds the duplicates. Returns how many were appended.
    fn pick_busy(&mut self, remote: Remote<'_>, want: usize, out: &mut Vec<BlockRef>) -> usize {
        let _ = (remote, want, out);
        0
    }

    /// Blocks of one chosen `piece` for `remote` (a seed suggested it,
    /// BEP 6): its open blocks, or if it is all requested elsewhere, busy
    /// ones (never one `remote` already has). Nothing if the remote lacks
    /// it or it is ours. Returns how many were appended.
    fn pick_piece(
        &mut self,
        remote: Remote<'_>,
        piece: PieceIndex,
        want: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let _ = (remote, piece, want, out);
        0
    }

    /// Record a request the client made without `pick` (e.g. re-sent after
    /// a reconnect). Returns false if nothing changed.
    fn mark_requested(&mut self, peer: PeerKey, block: BlockRef) -> Result<bool, PickerError>;

    /// A block arrived from `peer`. The other peers it was requested from
    /// (end-game) are appended to `cancel`: send them CANCEL.
    fn block_received(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
        cancel: &mut Vec<PeerKey>,
    ) -> Result<Received, PickerError>;

    /// `peer` will not deliver `block` (REJECT, timeout, or we cancelled):
    /// the block returns to the pool unless others have it requested.
    /// Returns false if `peer` did not have it requested.
    fn request_returned(&mut self, peer: PeerKey, block: BlockRef) -> Result<bool, PickerError>;

    /// Return every request held by `peer` to the pool (it choked us
    /// without the fast extension, or left). Returns how many.
    fn release_peer(&mut self, peer: PeerKey) -> usize;

    /// `peer`, holding `had`, disconnected: its copies no longer count and
    /// its requests return to the pool.
    fn peer_left(&mut self, peer: PeerKey, had: &Bitfield) {
        self.on_availability(AvailabilityChange::Lost(had));
        self.release_peer(peer);
    }

    /// `piece` passed its hash check: it is ours.
    fn piece_passed(&mut self, piece: PieceIndex) -> Result<(), PickerError>;

    /// `piece` failed its hash check: all its blocks are missing again.
    fn piece_failed(&mut self, piece: PieceIndex) -> Result<(), PickerError>;

    /// We already have `piece` (resume data): never pick it.
    fn we_have(&mut self, piece: PieceIndex) -> Result<(), PickerError>;

    /// The shared bookkeeping, for queries (state of a piece, availability,
    /// end-game, progress).
    fn book(&self) -> &BlockBook;

    /// Blocks wholly inside BEP 47 pad files: never picked, and counted as
    /// received when their piece starts. Set once, before any pick.
    fn set_pad_blocks(&mut self, pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>);

    /// Every missing block is requested from someone.
    fn is_end_game(&self) -> bool {
        self.book().is_end_game()
    }
}
