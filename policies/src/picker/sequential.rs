//! Sequential piece order: start the lowest-numbered open piece the remote
//! has (streaming order, as libtorrent's sequential download).
//!
//! The open pieces are one flag per piece plus a low-water mark below which
//! no piece is open, so insert and remove are O(1) and a pick scans upward
//! from the mark until it has enough pieces the remote holds: O(pieces
//! skipped). Nothing is allocated per pick. A snubbed remote gets the
//! highest-numbered pieces instead (the ones needed last), so a slow peer
//! does not hold up the front of the stream.

use rand::RngCore;
use riffle_protocol::PieceIndex;

use super::book::{BlockBook, PieceState};
use super::order::{NewPieceQuery, PieceOrder};

/// Open pieces by index.
#[derive(Clone, Debug)]
pub struct SequentialOrder {
    /// Per piece: is it open (not started, not ours)?
    open: Vec<bool>,
    /// Number of `true` entries in `open`.
    count: usize,
    /// No piece below this index is open: picks start scanning here.
    low: usize,
}

impl SequentialOrder {
    /// An empty order for a torrent of `piece_count` pieces; the engine
    /// inserts the open pieces.
    pub fn new(piece_count: u32) -> Self {
        SequentialOrder {
            open: vec![false; piece_count as usize],
            count: 0,
            low: piece_count as usize,
        }
    }

    /// The lowest open piece, if any.
    pub fn first(&mut self) -> Option<PieceIndex> {
        while self.open.get(self.low) == Some(&false) {
            self.low += 1;
        }
        (self.low < self.open.len()).then(|| PieceIndex::new(self.low as u32))
    }
}

impl PieceOrder for SequentialOrder {
    fn insert(&mut self, piece: PieceIndex, _availability: u32) {
        if let Some(slot) = self.open.get_mut(piece.idx()) {
            if !*slot {
                *slot = true;
                self.count += 1;
                self.low = self.low.min(piece.idx());
            }
        }
    }

    fn remove(&mut self, piece: PieceIndex, _availability: u32) {
        if let Some(slot) = self.open.get_mut(piece.idx()) {
            if *slot {
                *slot = false;
                self.count -= 1;
            }
        }
    }

    fn availability_changed(&mut self, _piece: PieceIndex, _old: u32, _new: u32) {}

    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        _rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    ) {
        if query.max == 0 || self.first().is_none() {
            return;
        }
        let target = out.len() + query.max;
        let range = self.low..self.open.len();
        let take = |i: usize, out: &mut Vec<PieceIndex>| {
            let piece = PieceIndex::new(i as u32);
            if self.open[i] && query.remote.has(piece) {
                out.push(piece);
            }
            out.len() >= target
        };
        if query.reverse {
            for i in range.rev() {
                if take(i, out) {
                    return;
                }
            }
        } else {
            for i in range {
                if take(i, out) {
                    return;
                }
            }
        }
    }

    /// Partial pieces are finished lowest index first too.
    fn partial_rank(&self, piece: PieceIndex, _availability: u32) -> u64 {
        u64::from(piece.get())
    }

    fn check_invariants(&self, book: &BlockBook) {
        assert_eq!(self.open.iter().filter(|&&o| o).count(), self.count);
        for (i, &o) in self.open.iter().enumerate() {
            let piece = PieceIndex::new(i as u32);
            let is_open = book.state(piece) == PieceState::Open;
            assert_eq!(o, is_open, "{piece}: order says open={o}");
            assert!(!o || i >= self.low, "{piece} open below the mark");
        }
    }
}
