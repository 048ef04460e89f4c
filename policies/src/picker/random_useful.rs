//! Random useful piece order (RUB in the scalability paper): start a
//! uniformly random not-yet-started piece among those the remote has.
//!
//! The open pieces live in one unordered array with a position index, so
//! insert and remove are O(1) (swap-remove). A pick runs a partial
//! Fisher-Yates shuffle over that array in place: step `i` swaps a uniformly
//! chosen element of `i..` into place `i` and keeps it if the remote holds
//! it. The elements kept are the first of a uniformly random permutation
//! that the remote holds, hence a uniform sample without replacement of the
//! open pieces the remote holds. The array's order carries no meaning, so
//! shuffling it in place is free; nothing is allocated. Cost: O(open pieces
//! visited), about `max * open / held` steps.

use rand::{Rng, RngCore};
use riffle_protocol::PieceIndex;

use super::book::{BlockBook, PieceState};
use super::order::{NewPieceQuery, PieceOrder};

/// Marks a piece that is not in the array (started or ours).
const ABSENT: u32 = u32::MAX;

/// Open pieces in no particular order.
#[derive(Clone, Debug)]
pub struct RandomUsefulOrder {
    /// Open pieces, unordered.
    pieces: Vec<PieceIndex>,
    /// Per piece: its position in `pieces`, or `ABSENT`.
    pos: Vec<u32>,
}

impl RandomUsefulOrder {
    /// An empty order for a torrent of `piece_count` pieces; the engine
    /// inserts the open pieces.
    pub fn new(piece_count: u32) -> Self {
        RandomUsefulOrder {
            pieces: Vec::with_capacity(piece_count as usize),
            pos: vec![ABSENT; piece_count as usize],
        }
    }

    /// Number of open pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// True when no piece is open.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    fn swap(&mut self, i: usize, j: usize) {
        if i == j {
            return;
        }
        self.pieces.swap(i, j);
        self.pos[self.pieces[i].idx()] = i as u32;
        self.pos[self.pieces[j].idx()] = j as u32;
    }
}

impl PieceOrder for RandomUsefulOrder {
    fn insert(&mut self, piece: PieceIndex, _availability: u32) {
        match self.pos.get(piece.idx()) {
            Some(&p) if p == ABSENT => {
                self.pos[piece.idx()] = self.pieces.len() as u32;
                self.pieces.push(piece);
            }
            _ => {}
        }
    }

    fn remove(&mut self, piece: PieceIndex, _availability: u32) {
        let p = match self.pos.get(piece.idx()) {
            Some(&p) if p != ABSENT => p as usize,
            _ => return,
        };
        let last = self.pieces.len() - 1;
        self.swap(p, last);
        self.pieces.pop();
        self.pos[piece.idx()] = ABSENT;
    }

    fn availability_changed(&mut self, _piece: PieceIndex, _old: u32, _new: u32) {}

    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    ) {
        // Every useful piece is as good as any other: `reverse` has no
        // meaning here.
        let target = out.len() + query.max;
        let n = self.pieces.len();
        for i in 0..n {
            if out.len() >= target {
                return;
            }
            let j = rng.gen_range(i..n);
            self.swap(i, j);
            let piece = self.pieces[i];
            if query.remote.has(piece) {
                out.push(piece);
            }
        }
    }

    /// No preference among partial pieces either (random useful block
    /// knows no rarity): the engine finishes them in its slot order.
    fn partial_rank(&self, _piece: PieceIndex, _availability: u32) -> u64 {
        0
    }

    fn check_invariants(&self, book: &BlockBook) {
        for (p, piece) in self.pieces.iter().enumerate() {
            assert_eq!(self.pos[piece.idx()], p as u32, "position of {piece}");
            assert_eq!(book.state(*piece), PieceState::Open, "{piece} not open");
        }
        let listed = self.pos.iter().filter(|&&p| p != ABSENT).count();
        assert_eq!(listed, self.pieces.len(), "stale positions");
        let open = (0..book.geometry().piece_count())
            .filter(|&i| book.state(PieceIndex::new(i)) == PieceState::Open)
            .count();
        assert_eq!(
            open,
            self.pieces.len(),
            "open pieces missing from the order"
        );
    }
}
