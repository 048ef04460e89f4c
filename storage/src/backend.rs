//! The [`Storage`] trait: positional block I/O shared by every backend.

use std::time::SystemTime;

use riffle_protocol::PieceIndex;

use crate::{Layout, StorageError};

/// What a backend knows about one file without reading it: enough for a
/// resume record to notice a file changed behind our back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStatus {
    /// Current length in bytes.
    pub length: u64,
    /// Last modification time, when the backend can tell.
    pub modified: Option<SystemTime>,
}

/// Where a torrent's bytes live.
///
/// Every method takes `&self`, so one storage (behind an `Arc`) serves many
/// threads at once: peer connections writing blocks, hashers reading
/// pieces. The trait is object-safe; a client holds `Arc<dyn Storage>`.
///
/// Backends implement the per-file methods ([`Storage::write_at`],
/// [`Storage::read_at`], ...); the piece-level methods
/// [`Storage::write_block`] and [`Storage::read_block`] are provided on top
/// of [`Layout::range_spans`].
///
/// Semantics every backend shares:
/// - A file comes into existence, at its full length, on its first write;
///   parts of it never written read back as zeros.
/// - Reading from a file that was never written is
///   [`StorageError::Missing`]; reading past the end of a file that is
///   shorter than the layout says (truncated behind our back) is
///   [`StorageError::Truncated`]. Both satisfy
///   [`StorageError::is_absent_data`].
/// - Zero-length files never receive a write; [`Storage::create_empty_files`]
///   creates them.
pub trait Storage: Send + Sync {
    /// The geometry this storage was built for.
    fn layout(&self) -> &Layout;

    /// Write `data` at `offset` inside file `file_index`, creating the file
    /// (and its parent directories) on first use. The range must lie inside
    /// the file's layout length.
    fn write_at(&self, file_index: usize, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// Fill `buf` from `offset` inside file `file_index`. The range must lie
    /// inside the file's layout length.
    fn read_at(&self, file_index: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Create every zero-length file of the torrent (they receive no block
    /// writes, so nothing else would). Idempotent.
    fn create_empty_files(&self) -> Result<(), StorageError>;

    /// Reserve disk space for every file of the torrent at its full length
    /// (files already that long are left alone). Backends without the
    /// notion do nothing.
    fn preallocate(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Length and modification time of file `file_index`, or `None` when it
    /// does not exist.
    fn file_status(&self, file_index: usize) -> Result<Option<FileStatus>, StorageError>;

    /// Start writing `piece` back to disk without waiting for it (a hint;
    /// backends without the notion do nothing). Called once a piece is
    /// verified, so the sync at shutdown finds little left to do.
    fn start_writeback(&self, piece: PieceIndex) -> Result<(), StorageError> {
        let _ = piece;
        Ok(())
    }

    /// Make everything written so far durable. Meant for shutdown and
    /// before saving a resume record, never for the write path.
    fn sync_all(&self) -> Result<(), StorageError>;

    /// Write a block received from a peer: `data` at `offset` inside
    /// `piece`, split across the files it covers.
    fn write_block(&self, piece: PieceIndex, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let mut rest = data;
        for span in self
            .layout()
            .range_spans(piece, offset, data.len() as u64)?
        {
            // span.len <= rest.len() by construction of the spans.
            let n = usize::try_from(span.len)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (head, tail) = rest.split_at(n);
            self.write_at(span.file_index, span.file_offset, head)?;
            rest = tail;
        }
        Ok(())
    }

    /// Read `buf.len()` bytes at `offset` inside `piece` into `buf`.
    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        let spans = self.layout().range_spans(piece, offset, buf.len() as u64)?;
        let mut rest = buf;
        for span in spans {
            let n = usize::try_from(span.len)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (head, tail) = rest.split_at_mut(n);
            self.read_at(span.file_index, span.file_offset, head)?;
            rest = tail;
        }
        Ok(())
    }
}

/// Check that `len` bytes at `offset` lie inside file `file_index` of
/// `layout`; returns the file's length. Shared by the backends.
pub(crate) fn check_file_range(
    layout: &Layout,
    file_index: usize,
    offset: u64,
    len: usize,
) -> Result<u64, StorageError> {
    let file_len = layout.file_length(file_index)?;
    let fits = offset
        .checked_add(len as u64)
        .is_some_and(|end| end <= file_len);
    if fits {
        Ok(file_len)
    } else {
        Err(StorageError::FileRangeOutOfBounds {
            file_index,
            offset,
            len: len as u64,
            file_length: file_len,
        })
    }
}
