//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong between pieces and files.
///
/// I/O errors always carry the path they happened on, so a log line is enough
/// to find the culprit. [`StorageError::Missing`] and
/// [`StorageError::Truncated`] are split out of the generic I/O case because
/// callers treat them as "the data is not there" rather than as a failure.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A piece length of zero cannot cut anything into pieces.
    #[error("piece length must be greater than zero")]
    ZeroPieceLength,
    /// A torrent whose files add up to zero bytes has no pieces to share.
    #[error("the torrent holds no data (total length is zero)")]
    EmptyTorrent,
    /// The file lengths add up to more than `u64::MAX` bytes.
    #[error("total length of the files overflows 64 bits")]
    TotalLengthOverflow,
    /// More pieces than a `u32` piece index can name.
    #[error("{total_length} bytes in pieces of {piece_length} bytes is more than 2^32 - 1 pieces")]
    TooManyPieces {
        /// Total length of the torrent.
        total_length: u64,
        /// The piece length it was cut with.
        piece_length: u32,
    },
    /// A piece index past the last piece.
    #[error("piece {piece} is past the last piece (the torrent has {count} pieces)")]
    PieceOutOfRange {
        /// The index asked for.
        piece: u32,
        /// How many pieces there are.
        count: u32,
    },
    /// A byte range that does not fit inside its piece.
    #[error("range of {len} bytes at offset {offset} does not fit piece {piece} of {piece_length} bytes")]
    RangeOutOfPiece {
        /// The piece the range was meant for.
        piece: u32,
        /// Start of the range inside the piece.
        offset: u32,
        /// Length of the range.
        len: u64,
        /// Actual length of that piece.
        piece_length: u32,
    },
    /// A file index past the last file.
    #[error("file {index} is past the last file (the torrent has {count} files)")]
    FileOutOfRange {
        /// The index asked for.
        index: usize,
        /// How many files there are.
        count: usize,
    },
    /// A per-file range that does not fit inside the file.
    #[error("range of {len} bytes at offset {offset} does not fit file {file_index} of {file_length} bytes")]
    FileRangeOutOfBounds {
        /// Which file.
        file_index: usize,
        /// Start of the range inside the file.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// The file's length in the layout.
        file_length: u64,
    },
    /// The file list given to a backend does not match the layout.
    #[error("layout has {expected} files but {got} paths were given")]
    FileCountMismatch {
        /// Files in the layout.
        expected: usize,
        /// Paths given.
        got: usize,
    },
    /// Content given for a whole torrent has the wrong length.
    #[error("content of {got} bytes given for a torrent of {expected} bytes")]
    ContentLength {
        /// Total length of the layout.
        expected: u64,
        /// Bytes given.
        got: u64,
    },
    /// The list of piece hashes does not have one hash per piece.
    #[error("expected {expected} piece hashes, got {got}")]
    HashCountMismatch {
        /// Pieces in the layout.
        expected: u32,
        /// Hashes given.
        got: usize,
    },
    /// A path component that could escape the download directory or name
    /// something other than a plain file or directory.
    #[error("file {file_index}: refused path component {component:?}: {reason}")]
    BadPathComponent {
        /// Which file of the torrent.
        file_index: usize,
        /// The offending component.
        component: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Two files of the torrent map to the same path on disk.
    #[error("two files of the torrent map to the same path {path}")]
    DuplicatePath {
        /// The shared path.
        path: PathBuf,
    },
    /// The file holding this range was never written (or was deleted).
    #[error("{path}: file is not present")]
    Missing {
        /// Index of the file in the torrent.
        file_index: usize,
        /// Where it should be.
        path: PathBuf,
    },
    /// The file exists but is shorter than the range being read.
    #[error("{path}: file is shorter than expected")]
    Truncated {
        /// Index of the file in the torrent.
        file_index: usize,
        /// Where it is.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A resume record that cannot be used (corrupt, truncated, wrong
    /// version, or not for this torrent). Callers treat it as "no resume
    /// data" and re-check from disk.
    #[error("resume record: {0}")]
    BadResume(String),
}

impl StorageError {
    /// Wrap an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error only says "this data is not on disk" (a missing or
    /// short file): a verifier counts such a piece as absent rather than failing.
    pub fn is_absent_data(&self) -> bool {
        matches!(
            self,
            StorageError::Missing { .. } | StorageError::Truncated { .. }
        )
    }
}
