//! The shape of a torrent in pieces: how many, how long each one is, and
//! therefore which block references are valid. Shared by the peer
//! connection (to validate what a peer sends) and the piece picker (to
//! produce correctly sized requests).

use crate::types::{blocks_in_piece, BlockRef, PieceIndex, TypeError, BLOCK_SIZE};

/// Piece count and lengths of a torrent, checked once so that every block
/// the picker produces is in bounds and sized right (the last block of the
/// last piece is usually short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceGeometry {
    /// Number of pieces; piece indices run `0..piece_count`.
    piece_count: u32,
    /// Length of every piece but the last, in bytes.
    piece_length: u32,
    /// Length of the last piece, in bytes (`1..=piece_length`).
    last_piece_length: u32,
}

impl PieceGeometry {
    /// Geometry of a torrent of `total_length` bytes cut in pieces of
    /// `piece_length` bytes.
    pub fn from_total(total_length: u64, piece_length: u32) -> Result<Self, TypeError> {
        if piece_length == 0 || total_length == 0 {
            return Err(TypeError::BadGeometry("empty torrent or zero piece length"));
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count)
            .map_err(|_| TypeError::BadGeometry("more than u32::MAX pieces"))?;
        let rem = total_length % u64::from(piece_length);
        // `rem < piece_length`, so it fits in a u32.
        let last_piece_length = if rem == 0 {
            piece_length
        } else {
            u32::try_from(rem).unwrap_or(piece_length)
        };
        Self::new(piece_count, piece_length, last_piece_length)
    }

    /// Geometry from its three numbers; the last piece must be non-empty and
    /// no longer than the others.
    pub fn new(
        piece_count: u32,
        piece_length: u32,
        last_piece_length: u32,
    ) -> Result<Self, TypeError> {
        if piece_count == 0 {
            return Err(TypeError::BadGeometry("no pieces"));
        }
        if piece_length == 0 || last_piece_length == 0 || last_piece_length > piece_length {
            return Err(TypeError::BadGeometry(
                "piece lengths must be positive and the last piece no longer than the others",
            ));
        }
        Ok(PieceGeometry {
            piece_count,
            piece_length,
            last_piece_length,
        })
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Nominal piece length (every piece but the last).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Length of the last piece.
    pub fn last_piece_length(&self) -> u32 {
        self.last_piece_length
    }

    /// Total bytes of the torrent.
    pub fn total_length(&self) -> u64 {
        u64::from(self.piece_count - 1) * u64::from(self.piece_length)
            + u64::from(self.last_piece_length)
    }

    /// Length in bytes of `piece` (0 when out of range).
    pub fn length_of(&self, piece: PieceIndex) -> u32 {
        let p = piece.get();
        if p >= self.piece_count {
            0
        } else if p == self.piece_count - 1 {
            self.last_piece_length
        } else {
            self.piece_length
        }
    }

    /// Number of blocks in `piece` (0 when out of range).
    pub fn blocks_of(&self, piece: PieceIndex) -> u32 {
        blocks_in_piece(self.length_of(piece))
    }

    /// Blocks in a piece of nominal length (an upper bound for every piece).
    pub fn blocks_per_piece(&self) -> u32 {
        blocks_in_piece(self.piece_length)
    }

    /// Total number of blocks in the torrent.
    pub fn total_blocks(&self) -> u64 {
        u64::from(self.piece_count - 1) * u64::from(self.blocks_per_piece())
            + u64::from(blocks_in_piece(self.last_piece_length))
    }

    /// The `block`-th block of `piece`. The caller guarantees both are in
    /// range (the picker only calls it with indices it derived itself).
    pub fn block(&self, piece: PieceIndex, block: u32) -> BlockRef {
        let len = self.length_of(piece);
        let offset = block.saturating_mul(BLOCK_SIZE);
        BlockRef {
            piece,
            offset,
            length: len.saturating_sub(offset).min(BLOCK_SIZE),
        }
    }

    /// Check a piece index that came from outside.
    pub fn check_piece(&self, index: u32) -> Result<PieceIndex, TypeError> {
        PieceIndex::checked(index, self.piece_count)
    }

    /// Check a block reference that came from outside (a peer's PIECE or
    /// REJECT message): piece in range, offset on a block boundary, length
    /// exactly the block's. Returns the block's index inside its piece.
    pub fn check(&self, block: BlockRef) -> Result<u32, TypeError> {
        if block.piece.get() >= self.piece_count {
            return Err(TypeError::PieceOutOfRange {
                index: block.piece.get(),
                count: self.piece_count,
            });
        }
        let index = block.offset / BLOCK_SIZE;
        let expected = self.block(block.piece, index);
        if index.checked_mul(BLOCK_SIZE) != Some(block.offset)
            || index >= self.blocks_of(block.piece)
            || expected.length != block.length
        {
            return Err(TypeError::BadBlock(block));
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_block_of_last_piece_is_short() {
        // 2.5 pieces of 32 KiB, last piece 16 KiB + 100 bytes.
        let g = PieceGeometry::from_total(2 * 32768 + 16384 + 100, 32768).unwrap();
        assert_eq!(g.piece_count(), 3);
        assert_eq!(g.last_piece_length(), 16484);
        assert_eq!(g.blocks_of(PieceIndex::new(2)), 2);
        assert_eq!(g.block(PieceIndex::new(2), 1).length, 100);
        assert_eq!(g.block(PieceIndex::new(1), 1).length, BLOCK_SIZE);
        assert_eq!(g.total_blocks(), 6);
    }

    #[test]
    fn check_rejects_bad_blocks() {
        let g = PieceGeometry::new(2, 32768, 20000).unwrap();
        let ok = g.block(PieceIndex::new(1), 1);
        assert_eq!(g.check(ok), Ok(1));
        let mut bad = ok;
        bad.length = BLOCK_SIZE;
        assert!(g.check(bad).is_err());
        bad = ok;
        bad.offset += 1;
        assert!(g.check(bad).is_err());
        bad = ok;
        bad.piece = PieceIndex::new(2);
        assert!(g.check(bad).is_err());
        assert!(PieceGeometry::new(0, 1, 1).is_err());
        assert!(PieceGeometry::new(1, 10, 11).is_err());
        assert!(PieceGeometry::from_total(0, 10).is_err());
        assert_eq!(g.total_length(), 52768);
        assert!(g.check_piece(1).is_ok());
        assert!(g.check_piece(2).is_err());
    }
}
