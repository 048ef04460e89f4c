//! Rarest-first piece order (RFB in the scalability paper): start the piece
//! with the fewest copies among connected peers, ties broken at random.
//!
//! The not-yet-started pieces are kept in one array sorted by availability,
//! cut into buckets (all pieces with availability `a` are contiguous), as
//! libtorrent does. An availability change of one moves a piece across one
//! bucket boundary with a single swap: O(1). Starting or finishing a piece
//! (removing it) or returning it to the pool (inserting it) walks the
//! bucket boundaries above it: O(distinct availability values), which is
//! bounded by the number of connected peers. A pick scans buckets from the
//! rarest up and stops as soon as it has enough pieces the remote holds,
//! starting each bucket at a random offset so ties are broken at random.
//! Nothing is allocated per pick.

use rand::{Rng, RngCore};
use riffle_protocol::PieceIndex;

use super::book::{BlockBook, PieceState};
use super::order::{NewPieceQuery, PieceOrder};

/// Marks a piece that is not in the array (started or ours).
const ABSENT: u32 = u32::MAX;

/// Open pieces sorted by availability, bucketed.
#[derive(Clone, Debug)]
pub struct RarestOrder {
    /// Open pieces, sorted by availability (ascending).
    pieces: Vec<PieceIndex>,
    /// Per piece: its position in `pieces`, or `ABSENT`.
    pos: Vec<u32>,
    /// `start[a]` is the first position of the bucket of availability `a`;
    /// the last entry equals `pieces.len()`. Bucket `a` is
    /// `start[a]..start[a + 1]`.
    start: Vec<u32>,
}

impl RarestOrder {
    /// An empty order for a torrent of `piece_count` pieces; the engine
    /// inserts the Open pieces.
    pub fn new(piece_count: u32) -> Self {
        RarestOrder {
            pieces: Vec::with_capacity(piece_count as usize),
            pos: vec![ABSENT; piece_count as usize],
            start: vec![0, 0],
        }
    }

    /// Number of availability buckets (the highest availability + 1, or more).
    fn buckets(&self) -> usize {
        self.start.len() - 1
    }

    /// Make sure bucket `a` exists.
    fn grow_to(&mut self, a: usize) {
        let end = self.pieces.len() as u32;
        while self.buckets() <= a {
            self.start.push(end);
        }
    }

    fn swap(&mut self, i: usize, j: usize) {
        if i == j {
            return;
        }
        self.pieces.swap(i, j);
        self.pos[self.pieces[i].idx()] = i as u32;
        self.pos[self.pieces[j].idx()] = j as u32;
    }

    /// Move the piece at `p` (in bucket `a`) into bucket `a + 1`.
    fn bump_up(&mut self, p: usize, a: usize) {
        self.grow_to(a + 1);
        let last = self.start[a + 1] as usize - 1;
        self.swap(p, last);
        self.start[a + 1] -= 1;
    }

    /// Move the piece at `p` (in bucket `a > 0`) into bucket `a - 1`.
    fn bump_down(&mut self, p: usize, a: usize) {
        let first = self.start[a] as usize;
        self.swap(p, first);
        self.start[a] += 1;
    }

    /// Position of `piece`, if it is in the array.
    fn position(&self, piece: PieceIndex) -> Option<usize> {
        match self.pos.get(piece.idx()) {
            Some(&p) if p != ABSENT => Some(p as usize),
            _ => None,
        }
    }
}

impl PieceOrder for RarestOrder {
    fn insert(&mut self, piece: PieceIndex, availability: u32) {
        if self.position(piece).is_some() || piece.idx() >= self.pos.len() {
            return;
        }
        let a = availability as usize;
        self.grow_to(a);
        // Append as the last element of the top bucket, then walk down.
        let top = self.buckets() - 1;
        let mut p = self.pieces.len();
        self.pieces.push(piece);
        self.pos[piece.idx()] = p as u32;
        self.start[top + 1] += 1;
        for b in (a + 1..=top).rev() {
            // The piece is the last of bucket `b`; swap it with the first of
            // that bucket and shrink the bucket from the left.
            let first = self.start[b] as usize;
            self.swap(p, first);
            self.start[b] += 1;
            p = first;
        }
    }

    fn remove(&mut self, piece: PieceIndex, availability: u32) {
        let Some(mut p) = self.position(piece) else {
            return;
        };
        let a = (availability as usize).min(self.buckets() - 1);
        debug_assert!(
            self.start[a] as usize <= p && p < self.start[a + 1] as usize,
            "piece {piece} not in bucket {a}"
        );
        // Walk up: become the last of each bucket, then the first of the next.
        for b in a..self.buckets() {
            let last = self.start[b + 1] as usize - 1;
            self.swap(p, last);
            p = last;
            if b + 1 < self.buckets() {
                self.start[b + 1] -= 1;
            }
        }
        // Now the very last element.
        debug_assert_eq!(p, self.pieces.len() - 1);
        self.pieces.pop();
        self.pos[piece.idx()] = ABSENT;
        let top = self.buckets();
        self.start[top] -= 1;
    }

    fn availability_changed(&mut self, piece: PieceIndex, old: u32, new: u32) {
        let Some(mut p) = self.position(piece) else {
            return;
        };
        let mut a = old as usize;
        while a < new as usize {
            self.bump_up(p, a);
            a += 1;
            p = self.pos[piece.idx()] as usize;
        }
        while a > new as usize {
            self.bump_down(p, a);
            a -= 1;
            p = self.pos[piece.idx()] as usize;
        }
    }

    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    ) {
        if query.max == 0 {
            return;
        }
        let target = out.len() + query.max;
        let buckets = self.buckets();
        for k in 0..buckets {
            let b = if query.reverse { buckets - 1 - k } else { k };
            let (s, e) = (self.start[b] as usize, self.start[b + 1] as usize);
            let len = e - s;
            if len == 0 {
                continue;
            }
            let offset = rng.gen_range(0..len);
            for i in 0..len {
                let piece = self.pieces[s + (offset + i) % len];
                if query.remote.has(piece) {
                    out.push(piece);
                    if out.len() >= target {
                        return;
                    }
                }
            }
        }
    }

    fn check_invariants(&self, book: &BlockBook) {
        assert_eq!(self.start[0], 0);
        assert_eq!(*self.start.last().unwrap_or(&0) as usize, self.pieces.len());
        assert!(self.start.windows(2).all(|w| w[0] <= w[1]), "bucket bounds");
        for b in 0..self.buckets() {
            for p in self.start[b]..self.start[b + 1] {
                let piece = self.pieces[p as usize];
                assert_eq!(self.pos[piece.idx()], p, "position of {piece}");
                assert_eq!(book.availability(piece) as usize, b, "bucket of {piece}");
                assert_eq!(book.state(piece), PieceState::Open, "{piece} not open");
            }
        }
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
