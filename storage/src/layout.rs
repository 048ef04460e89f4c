//! Piece and file geometry: which bytes of which files make up a piece.
//!
//! A torrent is one long byte string, the concatenation of its files in
//! order, cut into pieces of `piece_length` bytes (the last one shorter).
//! [`Layout`] maps between the two views without touching any file.

use std::ops::Range;

use riffle_protocol::{BlockRef, PieceGeometry, PieceIndex};

use crate::StorageError;

/// A contiguous run of bytes inside one file: the unit of a positional read
/// or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in the torrent's file list.
    pub file_index: usize,
    /// Byte offset inside that file.
    pub file_offset: u64,
    /// Number of bytes; never zero.
    pub len: u64,
}

/// The geometry of a torrent: file lengths, piece length, and the derived
/// piece count and offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Length of each file, in torrent order. Zero-length files are allowed;
    /// they cover no piece.
    file_lengths: Vec<u64>,
    /// Offset one past each file's last byte in the concatenated torrent
    /// (running sums of `file_lengths`), so a lookup is a binary search.
    file_ends: Vec<u64>,
    /// Piece count and lengths (shared with the picker and the peer
    /// connection, so every crate agrees on the last piece's length).
    geometry: PieceGeometry,
}

impl Layout {
    /// Build the geometry from the file lengths (in order) and the piece
    /// length. Refuses a zero piece length, a torrent with no data, a total
    /// that overflows `u64` and more than `u32::MAX` pieces.
    pub fn new(file_lengths: Vec<u64>, piece_length: u32) -> Result<Layout, StorageError> {
        if piece_length == 0 {
            return Err(StorageError::ZeroPieceLength);
        }
        let mut file_ends = Vec::with_capacity(file_lengths.len());
        let mut total: u64 = 0;
        for &len in &file_lengths {
            total = total
                .checked_add(len)
                .ok_or(StorageError::TotalLengthOverflow)?;
            file_ends.push(total);
        }
        if total == 0 {
            return Err(StorageError::EmptyTorrent);
        }
        // Zero length and zero piece length are refused above, so the only
        // way left to fail is a piece count past u32::MAX.
        let geometry = PieceGeometry::from_total(total, piece_length).map_err(|_| {
            StorageError::TooManyPieces {
                total_length: total,
                piece_length,
            }
        })?;
        Ok(Layout {
            file_lengths,
            file_ends,
            geometry,
        })
    }

    /// A single-file torrent of `length` bytes.
    pub fn single_file(length: u64, piece_length: u32) -> Result<Layout, StorageError> {
        Layout::new(vec![length], piece_length)
    }

    /// Piece count and lengths.
    pub fn geometry(&self) -> PieceGeometry {
        self.geometry
    }

    /// Nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.geometry.piece_length()
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    /// Length of the last piece.
    pub fn last_piece_length(&self) -> u32 {
        self.geometry.last_piece_length()
    }

    /// Sum of all file lengths.
    pub fn total_length(&self) -> u64 {
        self.geometry.total_length()
    }

    /// Number of files (including empty ones).
    pub fn file_count(&self) -> usize {
        self.file_lengths.len()
    }

    /// Length of every file, in order.
    pub fn file_lengths(&self) -> &[u64] {
        &self.file_lengths
    }

    /// Length of one file.
    pub fn file_length(&self, file_index: usize) -> Result<u64, StorageError> {
        self.file_lengths
            .get(file_index)
            .copied()
            .ok_or(StorageError::FileOutOfRange {
                index: file_index,
                count: self.file_lengths.len(),
            })
    }

    /// Validate a raw piece number (from a peer or a file).
    pub fn check_piece(&self, piece: u32) -> Result<PieceIndex, StorageError> {
        self.geometry
            .check_piece(piece)
            .map_err(|_| StorageError::PieceOutOfRange {
                piece,
                count: self.piece_count(),
            })
    }

    /// Length of `piece` (the last one may be shorter).
    pub fn piece_len(&self, piece: PieceIndex) -> Result<u32, StorageError> {
        match self.geometry.length_of(piece) {
            0 => Err(StorageError::PieceOutOfRange {
                piece: piece.get(),
                count: self.piece_count(),
            }),
            len => Ok(len),
        }
    }

    /// Offset of the first byte of `piece` in the concatenated torrent.
    pub fn piece_start(&self, piece: PieceIndex) -> Result<u64, StorageError> {
        self.piece_len(piece)?;
        Ok(u64::from(piece.get()) * u64::from(self.piece_length()))
    }

    /// The file spans covering the whole of `piece`, in order.
    pub fn piece_spans(&self, piece: PieceIndex) -> Result<Spans<'_>, StorageError> {
        let len = self.piece_len(piece)?;
        self.range_spans(piece, 0, u64::from(len))
    }

    /// The file spans covering `len` bytes at `offset` inside `piece`, in
    /// order. The range must lie inside the piece; an empty range yields no
    /// spans.
    pub fn range_spans(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: u64,
    ) -> Result<Spans<'_>, StorageError> {
        let piece_len = self.piece_len(piece)?;
        let fits = u64::from(offset)
            .checked_add(len)
            .is_some_and(|end| end <= u64::from(piece_len));
        if !fits {
            return Err(StorageError::RangeOutOfPiece {
                piece: piece.get(),
                offset,
                len,
                piece_length: piece_len,
            });
        }
        let pos = u64::from(piece.get()) * u64::from(self.piece_length()) + u64::from(offset);
        // First file whose end lies past `pos`; zero-length files before it
        // are skipped because their end equals their start.
        let file = self.file_ends.partition_point(|&end| end <= pos);
        Ok(Spans {
            layout: self,
            file,
            pos,
            remaining: len,
        })
    }

    /// Check a block request (from a peer, say): its piece exists and
    /// `offset + length` lies inside that piece.
    pub fn check_block(&self, block: &BlockRef) -> Result<(), StorageError> {
        self.range_spans(block.piece, block.offset, u64::from(block.length))
            .map(|_| ())
    }

    /// Where `file_index` starts in the concatenated torrent.
    pub fn file_start(&self, file_index: usize) -> Result<u64, StorageError> {
        let len = self.file_length(file_index)?;
        Ok(self.file_ends.get(file_index).copied().unwrap_or(0) - len)
    }

    /// The pieces that hold at least one byte of `file_index`; empty for a
    /// zero-length file.
    pub fn file_pieces(&self, file_index: usize) -> Result<Range<u32>, StorageError> {
        let len = self.file_length(file_index)?;
        let end = self.file_ends.get(file_index).copied().unwrap_or(0);
        let start = end - len;
        let pl = u64::from(self.piece_length());
        let first = start / pl;
        // Both fit in u32: they are below piece_count (or equal, for an
        // empty file at the very end).
        let first32 = u32::try_from(first).unwrap_or(self.piece_count());
        if len == 0 {
            return Ok(first32..first32);
        }
        let last = (start + len - 1) / pl;
        let last32 = u32::try_from(last).unwrap_or(self.piece_count() - 1);
        Ok(first32..last32 + 1)
    }
}

/// Iterator over the [`FileSpan`]s of a byte range, from
/// [`Layout::range_spans`] or [`Layout::piece_spans`]. Allocation-free.
#[derive(Clone, Debug)]
pub struct Spans<'a> {
    /// The geometry being walked.
    layout: &'a Layout,
    /// The file holding `pos` (or an empty file before it, skipped next).
    file: usize,
    /// Current absolute offset in the concatenated torrent.
    pos: u64,
    /// Bytes still to cover.
    remaining: u64,
}

impl Iterator for Spans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.remaining > 0 {
            let end = *self.layout.file_ends.get(self.file)?;
            let start = end - *self.layout.file_lengths.get(self.file)?;
            if end <= self.pos {
                self.file += 1;
                continue;
            }
            let file_offset = self.pos - start;
            let len = self.remaining.min(end - self.pos);
            let span = FileSpan {
                file_index: self.file,
                file_offset,
                len,
            };
            self.pos += len;
            self.remaining -= len;
            self.file += 1;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
mod tests;
