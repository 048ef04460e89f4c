//! Lock-free bit sets shared between a torrent and its peer tasks.
//!
//! - [`BlockClaims`]: one bit per block. A peer task claims a block before
//!   writing it; the first claim wins and later copies (end-game duplicates,
//!   late arrivals after a piece passed) are dropped, so verified data on disk
//!   is never overwritten. A failed piece has its claims cleared by the torrent.
//! - [`AtomicBits`]: the pieces we have verified, read by peer tasks to
//!   decide whether a request can be served.

use std::sync::atomic::{AtomicU64, Ordering};

use riffle_protocol::{BlockRef, PieceGeometry, PieceIndex, BLOCK_SIZE};

/// A fixed-size set of bits, safe to share between threads.
#[derive(Debug)]
pub struct AtomicBits {
    words: Box<[AtomicU64]>,
    len: usize,
}

impl AtomicBits {
    /// `len` cleared bits.
    pub fn new(len: usize) -> AtomicBits {
        let words = (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        AtomicBits { words, len }
    }

    /// Is bit `i` set? Out of range reads as unset.
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (i % 64)) != 0)
    }

    /// Set bit `i`; returns whether it was already set (out of range: true,
    /// so nobody acts on a bit that does not exist).
    pub fn set(&self, i: usize) -> bool {
        match self.words.get(i / 64) {
            Some(w) if i < self.len => {
                let mask = 1 << (i % 64);
                w.fetch_or(mask, Ordering::AcqRel) & mask != 0
            }
            _ => true,
        }
    }

    /// Clear bit `i`.
    pub fn clear(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            w.fetch_and(!(1 << (i % 64)), Ordering::AcqRel);
        }
    }
}

/// One claim bit per block of a torrent.
#[derive(Debug)]
pub struct BlockClaims {
    bits: AtomicBits,
    /// Index of the first block of each piece (prefix sums), so a block maps
    /// to its bit without assuming equal pieces.
    first_block: Vec<usize>,
    /// Blocks wholly inside BEP 47 pad files: claimed for good (their
    /// zeros are never written), whatever happens to their piece.
    pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>,
}

impl BlockClaims {
    /// Claims for every block of `geometry`, all unclaimed.
    pub fn new(geometry: &PieceGeometry) -> BlockClaims {
        let mut first_block = Vec::with_capacity(geometry.piece_count() as usize + 1);
        let mut total = 0usize;
        for i in 0..geometry.piece_count() {
            first_block.push(total);
            total += geometry.blocks_of(PieceIndex::new(i)) as usize;
        }
        first_block.push(total);
        BlockClaims {
            bits: AtomicBits::new(total),
            first_block,
            pad: std::sync::Arc::default(),
        }
    }

    /// Claims whose pad blocks are claimed from the start and stay so.
    pub fn with_pad(
        mut self,
        pad: std::sync::Arc<riffle_protocol::pad::VirtualBlocks>,
    ) -> BlockClaims {
        self.pad = pad;
        let pieces: Vec<PieceIndex> = self.pad.pieces().collect();
        for p in pieces {
            self.claim_pad(p);
        }
        self
    }

    fn claim_pad(&self, piece: PieceIndex) {
        let start = self.bits_of(piece).start;
        for b in self.pad.of(piece) {
            self.bits.set(start + *b as usize);
        }
    }

    fn bit(&self, block: BlockRef) -> Option<usize> {
        let start = *self.first_block.get(block.piece.idx())?;
        let end = *self.first_block.get(block.piece.idx() + 1)?;
        let i = start + (block.offset / BLOCK_SIZE) as usize;
        (i < end && block.offset.is_multiple_of(BLOCK_SIZE)).then_some(i)
    }

    /// Claim `block` for writing: true if this caller is the first (it must
    /// write the data); false if it was claimed already or is not a block
    /// boundary of this torrent (drop the data).
    pub fn claim(&self, block: BlockRef) -> bool {
        self.bit(block).is_some_and(|i| !self.bits.set(i))
    }

    /// The bits of `piece`'s blocks (empty for a piece out of range).
    fn bits_of(&self, piece: PieceIndex) -> std::ops::Range<usize> {
        match (
            self.first_block.get(piece.idx()),
            self.first_block.get(piece.idx() + 1),
        ) {
            (Some(&start), Some(&end)) => start..end,
            _ => 0..0,
        }
    }

    /// Forget every claim of `piece` (it failed its hash check and will be
    /// downloaded again), but its padding's.
    pub fn clear_piece(&self, piece: PieceIndex) {
        for i in self.bits_of(piece) {
            self.bits.clear(i);
        }
        self.claim_pad(piece);
    }

    /// Claim every block of `piece` (we have it: never write it again).
    pub fn claim_piece(&self, piece: PieceIndex) {
        for i in self.bits_of(piece) {
            self.bits.set(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> PieceGeometry {
        // 3 pieces of 40 KiB (3 blocks each, the last short) then a 10 KiB piece.
        PieceGeometry::from_total(3 * 40 * 1024 + 10 * 1024, 40 * 1024).unwrap()
    }

    #[test]
    fn first_claim_wins_and_clear_reopens_the_piece() {
        let g = geometry();
        let c = BlockClaims::new(&g);
        let b = g.block(PieceIndex::new(1), 1);
        assert!(c.claim(b));
        assert!(!c.claim(b));
        c.clear_piece(PieceIndex::new(1));
        assert!(c.claim(b));
    }

    #[test]
    fn blocks_of_other_pieces_are_independent() {
        let g = geometry();
        let c = BlockClaims::new(&g);
        for p in 0..g.piece_count() {
            let piece = PieceIndex::new(p);
            for i in 0..g.blocks_of(piece) {
                assert!(c.claim(g.block(piece, i)), "piece {p} block {i}");
            }
        }
        c.clear_piece(PieceIndex::new(3));
        assert!(c.claim(g.block(PieceIndex::new(3), 0)));
        assert!(!c.claim(g.block(PieceIndex::new(2), 2)));
    }

    #[test]
    fn odd_offsets_and_foreign_pieces_are_never_claimed() {
        let g = geometry();
        let c = BlockClaims::new(&g);
        let odd = BlockRef {
            piece: PieceIndex::new(0),
            offset: 100,
            length: 10,
        };
        assert!(!c.claim(odd));
        let past = BlockRef {
            piece: PieceIndex::new(9),
            offset: 0,
            length: 10,
        };
        assert!(!c.claim(past));
        let past_end = BlockRef {
            piece: PieceIndex::new(0),
            offset: 3 * BLOCK_SIZE,
            length: 10,
        };
        assert!(!c.claim(past_end));
    }

    #[test]
    fn pad_blocks_stay_claimed() {
        let g = geometry();
        // Piece 0's last block (32..40 KiB) is padding.
        let pad = riffle_protocol::pad::VirtualBlocks::from_files(
            &g,
            &[(32 * 1024, false), (8 * 1024, true), (90 * 1024, false)],
        );
        let c = BlockClaims::new(&g).with_pad(std::sync::Arc::new(pad));
        let last = g.block(PieceIndex::new(0), 2);
        assert!(!c.claim(last), "never written");
        assert!(c.claim(g.block(PieceIndex::new(0), 0)));
        c.clear_piece(PieceIndex::new(0));
        assert!(!c.claim(last), "still claimed after a failed piece");
        assert!(c.claim(g.block(PieceIndex::new(0), 0)));
    }

    #[test]
    fn atomic_bits_set_reports_the_old_value() {
        let b = AtomicBits::new(70);
        assert!(!b.set(69));
        assert!(b.set(69));
        assert!(b.get(69));
        assert!(b.set(70), "out of range reads as set");
        b.clear(69);
        assert!(!b.get(69));
    }
}
