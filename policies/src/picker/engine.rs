//! The picking engine shared by every ordering strategy.
//!
//! `pick` works in three steps:
//! 1. partial pieces the remote holds that still have unrequested blocks,
//!    best-ranked first (finishing started pieces keeps the number of
//!    half-downloaded pieces low, so pieces get verified and shared sooner);
//! 2. new pieces, in the order's preference (rarest first, random, ...);
//! 3. end-game: when no block at all is left unrequested, blocks already
//!    requested from *other* peers, least-duplicated first.
//!
//! Cost of one pick: O(started pieces) to find partial pieces (plus a sort
//! of the few that qualify), plus what the order spends finding new pieces
//! (rarest-first: it stops as soon as it has enough; worst case O(open
//! pieces) when the remote holds few of them), plus O(blocks in flight) in
//! end-game. Scratch vectors are kept in the picker, so a pick allocates
//! nothing once warm (beyond `out` and end-game duplicate lists).

use rand::RngCore;
use riffle_protocol::{Bitfield, BlockRef, PieceIndex};

use super::book::{BlockBook, BlockState, PieceState, Received};
use super::order::{NewPieceQuery, PieceOrder};
use super::random_useful::RandomUsefulOrder;
use super::rarest::RarestOrder;
use super::sequential::SequentialOrder;
use super::{AvailabilityChange, PickerError, PiecePicker, Remote, INVARIANT_CHECK_MAX_PIECES};
use crate::peer::PeerKey;
use riffle_protocol::PieceGeometry;

/// In end-game a block is requested from at most this many peers at once:
/// enough to route around one slow peer without flooding the swarm.
pub const END_GAME_MAX_REQUESTERS: usize = 3;

/// A piece picker: shared bookkeeping plus an ordering strategy `O`, with
/// randomness from the injected generator `R` (seed it for reproducible
/// runs).
pub struct Picker<O, R> {
    /// Per-piece and per-block state.
    book: BlockBook,
    /// Which new piece to start.
    order: O,
    /// Tie-breaking randomness, injected so tests and simulations are
    /// deterministic.
    rng: R,
    /// Scratch for step 1: (rank, slot) of qualifying partial pieces.
    partials: Vec<(u64, u32)>,
    /// Scratch for step 2: new pieces proposed by the order.
    fresh: Vec<PieceIndex>,
}

impl<R: RngCore + Send> Picker<RarestOrder, R> {
    /// A rarest-first picker (RFB) for a torrent of this geometry.
    pub fn rarest_first(geometry: PieceGeometry, rng: R) -> Self {
        Picker::new(geometry, RarestOrder::new(geometry.piece_count()), rng)
    }
}

impl<R: RngCore + Send> Picker<RandomUsefulOrder, R> {
    /// A random-useful-block picker (RUB) for a torrent of this geometry.
    pub fn random_useful(geometry: PieceGeometry, rng: R) -> Self {
        Picker::new(
            geometry,
            RandomUsefulOrder::new(geometry.piece_count()),
            rng,
        )
    }
}

impl<R: RngCore + Send> Picker<SequentialOrder, R> {
    /// A sequential (lowest index first) picker for a torrent of this
    /// geometry.
    pub fn sequential(geometry: PieceGeometry, rng: R) -> Self {
        Picker::new(geometry, SequentialOrder::new(geometry.piece_count()), rng)
    }
}

impl<O: PieceOrder, R: RngCore + Send> Picker<O, R> {
    /// A picker with nothing held and no peers; `order` must be empty (all
    /// pieces are inserted here).
    pub fn new(geometry: PieceGeometry, mut order: O, rng: R) -> Self {
        for i in 0..geometry.piece_count() {
            order.insert(PieceIndex::new(i), 0);
        }
        let picker = Picker {
            book: BlockBook::new(geometry),
            order,
            rng,
            partials: Vec::new(),
            fresh: Vec::new(),
        };
        picker.debug_check();
        picker
    }

    /// The ordering strategy, for inspection.
    pub fn order(&self) -> &O {
        &self.order
    }

    fn debug_check(&self) {
        if cfg!(debug_assertions)
            && self.book.geometry().piece_count() <= INVARIANT_CHECK_MAX_PIECES
        {
            self.book.check_invariants();
            self.order.check_invariants(&self.book);
        }
    }

    fn add_copy(&mut self, piece: PieceIndex) {
        if let Some(new) = self.book.add_availability(piece) {
            if self.book.state(piece) == PieceState::Open {
                self.order.availability_changed(piece, new - 1, new);
            }
        }
    }

    fn remove_copy(&mut self, piece: PieceIndex) {
        let old = self.book.availability(piece);
        if old == 0 {
            return;
        }
        if let Some(new) = self.book.remove_availability(piece) {
            if self.book.state(piece) == PieceState::Open {
                self.order.availability_changed(piece, old, new);
            }
        }
    }

    /// Start an open piece (taking it out of the order); returns its slot.
    fn start(&mut self, piece: PieceIndex) -> Option<usize> {
        if self.book.state(piece) != PieceState::Open {
            return None;
        }
        self.order.remove(piece, self.book.availability(piece));
        self.book.start(piece)
    }

    /// Request up to `need` open blocks of the started piece in `slot` from
    /// `peer`, appending them to `out`. Returns how many.
    fn take_open(
        &mut self,
        slot: usize,
        peer: PeerKey,
        need: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let Some(d) = self.book.downloading().get(slot) else {
            return 0;
        };
        let mut taken = 0;
        let n = d.blocks.len() as u32;
        for b in 0..n {
            if taken == need {
                break;
            }
            let open = self
                .book
                .downloading()
                .get(slot)
                .and_then(|d| d.blocks.get(b as usize))
                .is_some_and(|s| *s == BlockState::Open);
            if open {
                if let Some(block) = self.book.request(slot, b, peer) {
                    out.push(block);
                    taken += 1;
                }
            }
        }
        taken
    }

    /// End-game step: hand `peer` blocks already requested from others,
    /// least-duplicated first (of piece `only` if given). Returns how many.
    fn take_duplicates(
        &mut self,
        remote: &Remote<'_>,
        only: Option<PieceIndex>,
        need: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let mut taken = 0;
        for k in 1..END_GAME_MAX_REQUESTERS {
            for slot in 0..self.book.downloading().len() {
                let Some(d) = self.book.downloading().get(slot) else {
                    continue;
                };
                if !remote.has.has(d.piece) || only.is_some_and(|p| p != d.piece) {
                    continue;
                }
                for b in 0..d.blocks.len() {
                    if taken == need {
                        return taken;
                    }
                    let Some(state) = self
                        .book
                        .downloading()
                        .get(slot)
                        .and_then(|d| d.blocks.get(b))
                    else {
                        break;
                    };
                    if state.requesters() == k && !state.requested_by(remote.peer) {
                        if let Some(block) = self.book.request(slot, b as u32, remote.peer) {
                            out.push(block);
                            taken += 1;
                        }
                    }
                }
            }
        }
        taken
    }
}

impl<O: PieceOrder, R: RngCore + Send> PiecePicker for Picker<O, R> {
    fn on_availability(&mut self, change: AvailabilityChange<'_>) {
        match change {
            AvailabilityChange::Bitfield(bits) => {
                for p in bits.ones() {
                    self.add_copy(p);
                }
            }
            AvailabilityChange::Have(p) => self.add_copy(p),
            AvailabilityChange::HaveAll => {
                for i in 0..self.book.geometry().piece_count() {
                    self.add_copy(PieceIndex::new(i));
                }
            }
            AvailabilityChange::HaveNone => {}
            AvailabilityChange::Lost(bits) => {
                for p in bits.ones() {
                    self.remove_copy(p);
                }
            }
        }
        self.debug_check();
    }

    fn pick(&mut self, remote: Remote<'_>, want: usize, out: &mut Vec<BlockRef>) -> usize {
        if want == 0 || self.book.is_finished() {
            return 0;
        }
        let mut need = want;

        // 1. Partial pieces the remote can help finish.
        let mut partials = std::mem::take(&mut self.partials);
        partials.clear();
        for (slot, d) in self.book.downloading().iter().enumerate() {
            if d.open > 0 && remote.has.has(d.piece) {
                let rank = self
                    .order
                    .partial_rank(d.piece, self.book.availability(d.piece));
                partials.push((rank, slot as u32));
            }
        }
        partials.sort_unstable();
        for &(_, slot) in &partials {
            if need == 0 {
                break;
            }
            need -= self.take_open(slot as usize, remote.peer, need, out);
        }
        self.partials = partials;

        // 2. New pieces, in the order's preference.
        if need > 0 {
            let mut fresh = std::mem::take(&mut self.fresh);
            fresh.clear();
            let per_piece = self.book.geometry().blocks_per_piece().max(1) as usize;
            let query = NewPieceQuery {
                remote: remote.has,
                max: need.div_ceil(per_piece) + 1,
                reverse: remote.snubbed,
            };
            self.order.collect(query, &mut self.rng, &mut fresh);
            for &piece in &fresh {
                if need == 0 {
                    break;
                }
                if let Some(slot) = self.start(piece) {
                    need -= self.take_open(slot, remote.peer, need, out);
                }
            }
            self.fresh = fresh;
        }

        // 3. End-game duplicates.
        if need > 0 && self.book.is_end_game() {
            need -= self.take_duplicates(&remote, None, need, out);
        }
        self.debug_check();
        want - need
    }

    fn pick_busy(&mut self, remote: Remote<'_>, want: usize, out: &mut Vec<BlockRef>) -> usize {
        if want == 0 || self.book.is_finished() {
            return 0;
        }
        let taken = self.take_duplicates(&remote, None, want, out);
        self.debug_check();
        taken
    }

    fn pick_piece(
        &mut self,
        remote: Remote<'_>,
        piece: PieceIndex,
        want: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        if want == 0 || piece.get() >= self.book.geometry().piece_count() || !remote.has.has(piece)
        {
            return 0;
        }
        let slot = match self.book.state(piece) {
            PieceState::Open => self.start(piece),
            PieceState::Downloading => self
                .book
                .downloading()
                .iter()
                .position(|d| d.piece == piece),
            _ => None,
        };
        let Some(slot) = slot else {
            return 0;
        };
        let mut taken = self.take_open(slot, remote.peer, want, out);
        if taken == 0 {
            taken = self.take_duplicates(&remote, Some(piece), want, out);
        }
        self.debug_check();
        taken
    }

    fn mark_requested(&mut self, peer: PeerKey, block: BlockRef) -> Result<bool, PickerError> {
        let index = self.book.geometry().check(block)?;
        if self.book.state(block.piece) == PieceState::Open {
            self.start(block.piece);
        }
        let done = match self.book.slot_of(block.piece) {
            Some(slot) => self.book.request(slot, index, peer).is_some(),
            None => false,
        };
        self.debug_check();
        Ok(done)
    }

    fn block_received(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
        cancel: &mut Vec<PeerKey>,
    ) -> Result<Received, PickerError> {
        let index = self.book.geometry().check(block)?;
        if self.book.state(block.piece) == PieceState::Open {
            // Data we want even if we never asked for it (or the request was
            // returned before the block came): keep it.
            self.start(block.piece);
        }
        let r = self.book.receive(block.piece, index, peer, cancel);
        self.debug_check();
        Ok(r)
    }

    fn request_returned(&mut self, peer: PeerKey, block: BlockRef) -> Result<bool, PickerError> {
        let index = self.book.geometry().check(block)?;
        let r = self.book.unrequest(block.piece, index, peer);
        self.debug_check();
        Ok(r)
    }

    fn release_peer(&mut self, peer: PeerKey) -> usize {
        let n = self.book.release_peer(peer);
        self.debug_check();
        n
    }

    fn piece_passed(&mut self, piece: PieceIndex) -> Result<(), PickerError> {
        self.we_have(piece)
    }

    fn piece_failed(&mut self, piece: PieceIndex) -> Result<(), PickerError> {
        let count = self.book.geometry().piece_count();
        let prev = self.book.reset(piece).ok_or(PickerError::PieceOutOfRange {
            index: piece.get(),
            count,
        })?;
        if prev != PieceState::Open {
            self.order.insert(piece, self.book.availability(piece));
        }
        self.debug_check();
        Ok(())
    }

    fn we_have(&mut self, piece: PieceIndex) -> Result<(), PickerError> {
        let count = self.book.geometry().piece_count();
        if piece.get() >= count {
            return Err(PickerError::PieceOutOfRange {
                index: piece.get(),
                count,
            });
        }
        if self.book.state(piece) == PieceState::Open {
            self.order.remove(piece, self.book.availability(piece));
        }
        self.book.mark_have(piece);
        self.debug_check();
        Ok(())
    }

    fn set_pad_blocks(&mut self, pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>) {
        self.book.set_pad(pad);
        self.debug_check();
    }

    fn book(&self) -> &BlockBook {
        &self.book
    }
}

/// Convenience for callers that hold a remote's bitfield and key.
impl<'a> Remote<'a> {
    /// A remote that is not snubbed.
    pub fn new(peer: PeerKey, has: &'a Bitfield) -> Self {
        Remote {
            peer,
            has,
            snubbed: false,
        }
    }
}
