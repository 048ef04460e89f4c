//! One picker, two orders: one for seeds, one for everybody else.
//!
//! In the paper's model the *publisher* chooses which block it sends
//! (rarest first or random useful), while in BitTorrent the downloader
//! chooses. The swarm lab realises the publisher's block policy as the
//! order the leechers use for requests to peers that hold every piece, and
//! their own policy for requests to everyone else. [`SplitOrder`] holds
//! both orders, keeps both told about every open piece (every insert,
//! remove and availability change goes to both), and answers a query with
//! the seed order when the remote holds every piece.

use rand::RngCore;
use riffle_protocol::PieceIndex;

use super::book::BlockBook;
use super::order::{NewPieceQuery, PieceOrder};

/// Dispatches `collect` to `seeds` for remotes holding every piece and to
/// `others` otherwise.
#[derive(Clone, Debug)]
pub struct SplitOrder<A, B> {
    /// The order for requests to non-seeds.
    pub others: A,
    /// The order for requests to seeds.
    pub seeds: B,
}

impl<A: PieceOrder, B: PieceOrder> SplitOrder<A, B> {
    /// Both orders must be empty (the engine inserts every piece).
    pub fn new(others: A, seeds: B) -> Self {
        SplitOrder { others, seeds }
    }
}

impl<A: PieceOrder, B: PieceOrder> PieceOrder for SplitOrder<A, B> {
    fn insert(&mut self, piece: PieceIndex, availability: u32) {
        self.others.insert(piece, availability);
        self.seeds.insert(piece, availability);
    }

    fn remove(&mut self, piece: PieceIndex, availability: u32) {
        self.others.remove(piece, availability);
        self.seeds.remove(piece, availability);
    }

    fn availability_changed(&mut self, piece: PieceIndex, old: u32, new: u32) {
        self.others.availability_changed(piece, old, new);
        self.seeds.availability_changed(piece, old, new);
    }

    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    ) {
        if !query.remote.is_empty() && query.remote.is_full() {
            self.seeds.collect(query, rng, out);
        } else {
            self.others.collect(query, rng, out);
        }
    }

    /// Partial pieces are ranked by the non-seed order: they were started
    /// by whichever order, and most requests go to non-seeds.
    fn partial_rank(&self, piece: PieceIndex, availability: u32) -> u64 {
        self.others.partial_rank(piece, availability)
    }

    fn check_invariants(&self, book: &BlockBook) {
        self.others.check_invariants(book);
        self.seeds.check_invariants(book);
    }
}

/// A boxed order is an order, so the catalog can choose one at run time.
impl PieceOrder for Box<dyn PieceOrder> {
    fn insert(&mut self, piece: PieceIndex, availability: u32) {
        (**self).insert(piece, availability);
    }

    fn remove(&mut self, piece: PieceIndex, availability: u32) {
        (**self).remove(piece, availability);
    }

    fn availability_changed(&mut self, piece: PieceIndex, old: u32, new: u32) {
        (**self).availability_changed(piece, old, new);
    }

    fn collect(
        &mut self,
        query: NewPieceQuery<'_>,
        rng: &mut dyn RngCore,
        out: &mut Vec<PieceIndex>,
    ) {
        (**self).collect(query, rng, out);
    }

    fn partial_rank(&self, piece: PieceIndex, availability: u32) -> u64 {
        (**self).partial_rank(piece, availability)
    }

    fn check_invariants(&self, book: &BlockBook) {
        (**self).check_invariants(book);
    }
}
