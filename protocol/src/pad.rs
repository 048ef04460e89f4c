//! BEP 47 pad files seen from the pieces: the blocks that lie wholly
//! inside pad files hold known zeros, so they are never requested from a
//! peer, never written and never read from disk.

use std::collections::HashMap;

use crate::geometry::PieceGeometry;
use crate::types::{BlockRef, PieceIndex, BLOCK_SIZE};

/// Per piece, the blocks wholly inside pad files (usually the trailing
/// blocks of a file's last piece). Empty for a torrent without padding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualBlocks {
    by_piece: HashMap<u32, Vec<u32>>,
    total: u64,
}

impl VirtualBlocks {
    /// The pad blocks of a torrent whose files, in order, have these
    /// lengths and pad flags, cut as `geometry` says.
    pub fn from_files(geometry: &PieceGeometry, files: &[(u64, bool)]) -> VirtualBlocks {
        let mut out = VirtualBlocks::default();
        let block = u64::from(BLOCK_SIZE);
        let piece_len = u64::from(geometry.piece_length());
        let total = geometry.total_length();
        let mut start = 0u64;
        for &(len, pad) in files {
            let end = start.saturating_add(len).min(total);
            if pad && end > start {
                // Blocks are aligned within their piece; pieces are whole
                // multiples of the block size except the last.
                let mut piece = start / piece_len;
                while piece * piece_len < end {
                    let p_start = piece * piece_len;
                    let p = PieceIndex::new(piece as u32);
                    let blocks = u64::from(geometry.blocks_of(p));
                    for b in 0..blocks {
                        let b_start = p_start + b * block;
                        let b_end =
                            (b_start + block).min(p_start + u64::from(geometry.length_of(p)));
                        if b_start >= start && b_end <= end {
                            out.by_piece.entry(piece as u32).or_default().push(b as u32);
                            out.total += 1;
                        }
                    }
                    piece += 1;
                }
            }
            start = end;
        }
        out
    }

    /// Blocks of `piece` that are padding (block indices, ascending).
    pub fn of(&self, piece: PieceIndex) -> &[u32] {
        self.by_piece.get(&piece.get()).map_or(&[], Vec::as_slice)
    }

    /// Is `block` wholly padding?
    pub fn contains(&self, block: &BlockRef) -> bool {
        let index = block.offset / BLOCK_SIZE;
        block.offset.is_multiple_of(BLOCK_SIZE) && self.of(block.piece).contains(&index)
    }

    /// Pad blocks in the whole torrent.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// No padding at all.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The pieces that have pad blocks.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.by_piece.keys().map(|p| PieceIndex::new(*p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocks_wholly_inside_pads() {
        // 64 KiB pieces: a 20,000-byte file, 45,536 bytes of padding, then
        // a 5-byte file.
        let g = PieceGeometry::from_total(65_536 + 5, 65_536).unwrap();
        let v = VirtualBlocks::from_files(&g, &[(20_000, false), (45_536, true), (5, false)]);
        // 20,000 ends inside block 1 (16,384..32,768): blocks 2 and 3 are pad.
        assert_eq!(v.of(PieceIndex::new(0)), &[2, 3]);
        assert!(v.of(PieceIndex::new(1)).is_empty());
        assert_eq!(v.total(), 2);
        assert!(v.contains(&g.block(PieceIndex::new(0), 3)));
        assert!(!v.contains(&g.block(PieceIndex::new(0), 1)));
        let none = VirtualBlocks::from_files(&g, &[(65_541, false)]);
        assert!(none.is_empty());
    }
}
