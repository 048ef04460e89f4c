//! Shared bookkeeping of every picker: per piece, whether we have it, are
//! downloading it or have not started it; per block of a started piece,
//! whether it is missing, requested (and from whom) or received; and how many
//! connected peers hold each piece.
//!
//! The ordering strategies (rarest-first, random, sequential) only decide
//! which *new* piece to start; everything here is common to all of them.

use riffle_protocol::{BlockRef, PieceIndex};

use crate::peer::PeerKey;
use riffle_protocol::PieceGeometry;

/// Where a piece stands from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceState {
    /// Not started: no block requested or received yet (or its blocks were
    /// all returned to the pool after a failed hash check).
    Open,
    /// Started: some blocks requested or received ("partial piece").
    Downloading,
    /// Verified and stored.
    Have,
}

/// Per-piece slot: where the piece stands, and for a started piece where its
/// block states live in [`BlockBook::downloading`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Open,
    Downloading(u32),
    Have,
}

/// State of one block of a started piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// Missing and requested from nobody: it is in the pool.
    Open,
    /// Requested and not yet received. `first` holds the request; `more`
    /// holds end-game duplicates (empty, so allocation-free, outside
    /// end-game).
    Requested {
        /// The peer that holds the original request.
        first: PeerKey,
        /// Peers asked for the same block during end-game.
        more: Vec<PeerKey>,
    },
    /// Received (written, awaiting or past the piece's hash check).
    Received,
}

impl BlockState {
    /// Is `peer` among the requesters of this block?
    pub fn requested_by(&self, peer: PeerKey) -> bool {
        match self {
            BlockState::Requested { first, more } => *first == peer || more.contains(&peer),
            _ => false,
        }
    }

    /// Number of peers this block is requested from.
    pub fn requesters(&self) -> usize {
        match self {
            BlockState::Requested { more, .. } => 1 + more.len(),
            _ => 0,
        }
    }
}

/// A piece being downloaded ("partial piece" in libtorrent).
#[derive(Clone, Debug)]
pub struct DownloadingPiece {
    /// Which piece.
    pub piece: PieceIndex,
    /// One state per block of the piece.
    pub blocks: Vec<BlockState>,
    /// Number of blocks in [`BlockState::Open`]; lets a pick skip pieces
    /// with nothing left to hand out without scanning their blocks.
    pub open: u32,
    /// Number of blocks in [`BlockState::Received`]; the piece is complete
    /// (ready for its hash check) when this equals `blocks.len()`.
    pub received: u32,
}

/// What `BlockBook::receive` found when a block arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A block we lacked; the piece still misses other blocks.
    Accepted,
    /// A block we lacked and the last one of its piece: hash the piece now,
    /// then call `piece_passed` or `piece_failed`.
    PieceComplete,
    /// We already had this block (an end-game loser arriving after the
    /// winner, or a block of a piece we already have): discard the data.
    Duplicate,
}

/// Block-level bookkeeping shared by every ordering strategy.
///
/// Invariant (checked in debug builds by [`BlockBook::check_invariants`]):
/// `open_blocks` equals the number of blocks of Open pieces plus the Open
/// blocks of Downloading pieces, and every `Slot::Downloading(i)` points at
/// the entry of `downloading` that names the same piece.
#[derive(Clone, Debug)]
pub struct BlockBook {
    /// Piece count and lengths, to produce and check block references.
    geometry: PieceGeometry,
    /// Per piece: open, downloading (with its slot) or have.
    slots: Vec<Slot>,
    /// Block states of started pieces. Small (bounded by the number of
    /// pieces in flight), so scanning it per pick is cheap.
    downloading: Vec<DownloadingPiece>,
    /// Per piece: how many connected peers hold it.
    availability: Vec<u32>,
    /// Blocks missing and requested from nobody; 0 means end-game.
    open_blocks: u64,
    /// Number of pieces we have.
    have: u32,
    /// Blocks wholly inside BEP 47 pad files: known zeros, never
    /// requested; a started piece has them Received from the start.
    pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>,
}

impl BlockBook {
    /// A book for a torrent of this geometry: nothing held, nothing started,
    /// no peers.
    pub fn new(geometry: PieceGeometry) -> Self {
        let n = geometry.piece_count() as usize;
        BlockBook {
            geometry,
            slots: vec![Slot::Open; n],
            downloading: Vec::new(),
            availability: vec![0; n],
            open_blocks: geometry.total_blocks(),
            have: 0,
            pad: std::sync::Arc::default(),
        }
    }

    /// The blocks that are padding (set before any piece starts: it
    /// changes how many blocks every piece has open).
    pub(crate) fn set_pad(&mut self, pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>) {
        let open_pads: u64 = pad
            .pieces()
            .filter(|p| self.state(*p) == PieceState::Open)
            .map(|p| pad.of(p).len() as u64)
            .sum();
        debug_assert!(
            self.downloading.is_empty(),
            "padding set after pieces started"
        );
        self.open_blocks -= open_pads.min(self.open_blocks);
        self.pad = pad;
    }

    /// Blocks of `piece` a peer must send (all but its padding).
    fn real_blocks(&self, piece: PieceIndex) -> u32 {
        self.geometry.blocks_of(piece) - self.pad.of(piece).len() as u32
    }

    /// The torrent's geometry.
    pub fn geometry(&self) -> &PieceGeometry {
        &self.geometry
    }

    /// Where `piece` stands (`Have` for out-of-range pieces, so they are
    /// never picked).
    pub fn state(&self, piece: PieceIndex) -> PieceState {
        match self.slots.get(piece.idx()) {
            Some(Slot::Open) => PieceState::Open,
            Some(Slot::Downloading(_)) => PieceState::Downloading,
            Some(Slot::Have) | None => PieceState::Have,
        }
    }

    /// How many connected peers hold `piece`.
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.availability.get(piece.idx()).copied().unwrap_or(0)
    }

    /// Number of pieces we have.
    pub fn have_count(&self) -> u32 {
        self.have
    }

    /// True once every piece passed its hash check.
    pub fn is_finished(&self) -> bool {
        self.have == self.geometry.piece_count()
    }

    /// Blocks missing and requested from nobody.
    pub fn open_blocks(&self) -> u64 {
        self.open_blocks
    }

    /// End-game: something is still missing but every missing block is
    /// already requested from someone.
    pub fn is_end_game(&self) -> bool {
        self.open_blocks == 0 && !self.is_finished()
    }

    /// The started pieces and their block states.
    pub fn downloading(&self) -> &[DownloadingPiece] {
        &self.downloading
    }

    /// Block states of `piece` if it is started.
    pub fn blocks_of(&self, piece: PieceIndex) -> Option<&[BlockState]> {
        match self.slots.get(piece.idx()) {
            Some(Slot::Downloading(i)) => self
                .downloading
                .get(*i as usize)
                .map(|d| d.blocks.as_slice()),
            _ => None,
        }
    }

    /// One more peer holds `piece`; returns the new count (None when out of
    /// range, which is ignored).
    pub(crate) fn add_availability(&mut self, piece: PieceIndex) -> Option<u32> {
        let a = self.availability.get_mut(piece.idx())?;
        *a = a.saturating_add(1);
        Some(*a)
    }

    /// One peer fewer holds `piece`; returns the new count. A decrement
    /// below zero is a caller bug (a peer removed twice); it is clamped.
    pub(crate) fn remove_availability(&mut self, piece: PieceIndex) -> Option<u32> {
        let a = self.availability.get_mut(piece.idx())?;
        debug_assert!(*a > 0, "availability of piece {piece} below zero");
        *a = a.saturating_sub(1);
        Some(*a)
    }

    /// Start an Open piece: give it block states, all Open. Returns its
    /// slot in `downloading`, or None if the piece was not Open.
    pub(crate) fn start(&mut self, piece: PieceIndex) -> Option<usize> {
        let slot = self.slots.get_mut(piece.idx())?;
        if *slot != Slot::Open {
            return None;
        }
        let blocks = self.geometry.blocks_of(piece);
        let index = self.downloading.len();
        *slot = Slot::Downloading(index as u32);
        let mut states = vec![BlockState::Open; blocks as usize];
        let pads = self.pad.of(piece);
        for b in pads {
            if let Some(s) = states.get_mut(*b as usize) {
                *s = BlockState::Received;
            }
        }
        self.downloading.push(DownloadingPiece {
            piece,
            blocks: states,
            open: blocks - pads.len() as u32,
            received: pads.len() as u32,
        });
        Some(index)
    }

    /// Slot in `downloading` of a started piece.
    pub(crate) fn slot_of(&self, piece: PieceIndex) -> Option<usize> {
        match self.slots.get(piece.idx()) {
            Some(Slot::Downloading(i)) => Some(*i as usize),
            _ => None,
        }
    }

    /// Record that block `block` of the started piece in slot `slot` is
    /// requested from `peer`. An Open block leaves the pool; a block already
    /// requested from others gains `peer` as an end-game duplicate. Returns
    /// the block reference, or None if nothing changed (received, already
    /// requested from `peer`, or out of range).
    pub(crate) fn request(&mut self, slot: usize, block: u32, peer: PeerKey) -> Option<BlockRef> {
        let d = self.downloading.get_mut(slot)?;
        let state = d.blocks.get_mut(block as usize)?;
        match state {
            BlockState::Open => {
                *state = BlockState::Requested {
                    first: peer,
                    more: Vec::new(),
                };
                d.open -= 1;
                self.open_blocks -= 1;
            }
            BlockState::Requested { first, more } => {
                if *first == peer || more.contains(&peer) {
                    return None;
                }
                more.push(peer);
            }
            BlockState::Received => return None,
        }
        Some(self.geometry.block(d.piece, block))
    }

    /// Record the arrival of block `block` of `piece` from `peer`; the
    /// piece must be started (the caller starts an Open piece first).
    /// Every other peer the block was requested from is appended to
    /// `cancel`: the client should send them CANCEL.
    pub(crate) fn receive(
        &mut self,
        piece: PieceIndex,
        block: u32,
        peer: PeerKey,
        cancel: &mut Vec<PeerKey>,
    ) -> Received {
        let Some(slot) = self.slot_of(piece) else {
            return Received::Duplicate;
        };
        let Some(d) = self.downloading.get_mut(slot) else {
            return Received::Duplicate;
        };
        let Some(state) = d.blocks.get_mut(block as usize) else {
            return Received::Duplicate;
        };
        match std::mem::replace(state, BlockState::Received) {
            BlockState::Received => return Received::Duplicate,
            BlockState::Open => {
                d.open -= 1;
                self.open_blocks -= 1;
            }
            BlockState::Requested { first, more } => {
                cancel.extend(std::iter::once(first).chain(more).filter(|p| *p != peer));
            }
        }
        d.received += 1;
        if d.received as usize == d.blocks.len() {
            Received::PieceComplete
        } else {
            Received::Accepted
        }
    }

    /// `peer` will not deliver block `block` of `piece` (rejected, timed out,
    /// cancelled, or the peer choked us). If nobody else has it requested,
    /// the block returns to the pool. Returns true if the request existed.
    pub(crate) fn unrequest(&mut self, piece: PieceIndex, block: u32, peer: PeerKey) -> bool {
        let Some(slot) = self.slot_of(piece) else {
            return false;
        };
        let Some(d) = self.downloading.get_mut(slot) else {
            return false;
        };
        let Some(state) = d.blocks.get_mut(block as usize) else {
            return false;
        };
        if Self::drop_requester(state, peer) {
            if *state == BlockState::Open {
                d.open += 1;
                self.open_blocks += 1;
            }
            true
        } else {
            false
        }
    }

    /// Return every request held by `peer` to the pool (the peer left or
    /// choked us). Costs O(blocks of started pieces). Returns how many
    /// requests were dropped.
    pub(crate) fn release_peer(&mut self, peer: PeerKey) -> usize {
        let mut dropped = 0;
        for d in &mut self.downloading {
            for state in &mut d.blocks {
                if Self::drop_requester(state, peer) {
                    dropped += 1;
                    if *state == BlockState::Open {
                        d.open += 1;
                        self.open_blocks += 1;
                    }
                }
            }
        }
        dropped
    }

    /// Remove `peer` from the requesters of `state`; the block turns Open
    /// when it was the last one. Returns true if `peer` was a requester.
    fn drop_requester(state: &mut BlockState, peer: PeerKey) -> bool {
        let BlockState::Requested { first, more } = state else {
            return false;
        };
        if *first == peer {
            if more.is_empty() {
                *state = BlockState::Open;
            } else {
                *first = more.remove(0);
            }
            true
        } else if let Some(i) = more.iter().position(|p| *p == peer) {
            more.remove(i);
            true
        } else {
            false
        }
    }

    /// Mark `piece` as ours (it passed its hash check, or resume data says
    /// we have it). Returns its previous state, None when out of range.
    pub(crate) fn mark_have(&mut self, piece: PieceIndex) -> Option<PieceState> {
        let prev = self.state_checked(piece)?;
        match prev {
            PieceState::Have => {}
            PieceState::Open => {
                self.open_blocks -= u64::from(self.real_blocks(piece));
            }
            PieceState::Downloading => {
                let d = self.remove_downloading(piece)?;
                self.open_blocks -= u64::from(d.open);
            }
        }
        if prev != PieceState::Have {
            self.have += 1;
        }
        *self.slots.get_mut(piece.idx())? = Slot::Have;
        Some(prev)
    }

    /// Send every block of `piece` back to the pool (it failed its hash
    /// check, or data we thought we had is gone). Returns its previous
    /// state, None when out of range. Outstanding requests on it are
    /// forgotten; late blocks for it will be accepted again.
    pub(crate) fn reset(&mut self, piece: PieceIndex) -> Option<PieceState> {
        let prev = self.state_checked(piece)?;
        let blocks = u64::from(self.real_blocks(piece));
        match prev {
            PieceState::Open => {}
            PieceState::Have => {
                self.have -= 1;
                self.open_blocks += blocks;
            }
            PieceState::Downloading => {
                let d = self.remove_downloading(piece)?;
                self.open_blocks += blocks - u64::from(d.open);
            }
        }
        *self.slots.get_mut(piece.idx())? = Slot::Open;
        Some(prev)
    }

    fn state_checked(&self, piece: PieceIndex) -> Option<PieceState> {
        (piece.get() < self.geometry.piece_count()).then(|| self.state(piece))
    }

    /// Take a started piece's entry out of `downloading` (swap-remove,
    /// fixing the slot of the entry that moved).
    fn remove_downloading(&mut self, piece: PieceIndex) -> Option<DownloadingPiece> {
        let slot = self.slot_of(piece)?;
        if slot >= self.downloading.len() {
            return None;
        }
        let d = self.downloading.swap_remove(slot);
        if let Some(moved) = self.downloading.get(slot) {
            if let Some(s) = self.slots.get_mut(moved.piece.idx()) {
                *s = Slot::Downloading(slot as u32);
            }
        }
        Some(d)
    }

    /// Check every invariant; O(pieces + blocks in flight). Panics with a
    /// description on the first violation. Called after every verb in debug
    /// builds (for torrents of up to [`super::INVARIANT_CHECK_MAX_PIECES`]
    /// pieces).
    pub fn check_invariants(&self) {
        let mut open = 0u64;
        let mut have = 0u32;
        for (i, slot) in self.slots.iter().enumerate() {
            let piece = PieceIndex::new(i as u32);
            match slot {
                Slot::Open => open += u64::from(self.real_blocks(piece)),
                Slot::Have => have += 1,
                Slot::Downloading(s) => {
                    let d = &self.downloading[*s as usize];
                    assert_eq!(d.piece, piece, "slot of piece {piece} points elsewhere");
                    assert_eq!(d.blocks.len() as u32, self.geometry.blocks_of(piece));
                    let o = d.blocks.iter().filter(|b| **b == BlockState::Open).count() as u32;
                    let r = d
                        .blocks
                        .iter()
                        .filter(|b| **b == BlockState::Received)
                        .count() as u32;
                    assert_eq!(o, d.open, "open count of piece {piece}");
                    assert_eq!(r, d.received, "received count of piece {piece}");
                    for b in &d.blocks {
                        if let BlockState::Requested { first, more } = b {
                            assert!(!more.contains(first), "duplicate requester in {piece}");
                        }
                    }
                    open += u64::from(o);
                }
            }
        }
        let started = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Downloading(_)))
            .count();
        assert_eq!(
            started,
            self.downloading.len(),
            "orphan downloading entries"
        );
        assert_eq!(open, self.open_blocks, "open block count");
        assert_eq!(have, self.have, "have count");
    }
}
