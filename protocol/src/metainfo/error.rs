//! Why a `.torrent` file was refused, or a torrent could not be built.

use thiserror::Error;

use crate::bencode::DecodeError;

/// A refused `.torrent` file (or builder input). Each message names the
/// problem in one line, with the key path in the file where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetainfoError {
    #[error("the torrent file is {0} bytes, more than the 10000000 accepted")]
    FileTooLarge(usize),
    /// The bencode error is part of this message, not a `source()`, so
    /// error-chain printers do not repeat it.
    #[error("not valid bencode: {0}")]
    Bencode(DecodeError),
    #[error("the torrent file is not a bencoded dictionary")]
    NotADictionary,
    #[error("info is missing or not a dictionary")]
    MissingInfo,
    #[error("info declares a meta version but is not canonical bencode")]
    NonCanonicalInfo,
    #[error("info.meta version {0} is not supported")]
    UnknownVersion(i64),
    #[error("piece layers is malformed: a key that is not a 32-byte root, or hashes of the wrong length for their file")]
    PieceLayers,
    #[error("info has v2 keys (file tree) but no meta version 2")]
    FileTreeWithoutVersion,
    #[error("meta version 2 torrent without info.file tree")]
    MissingFileTree,
    #[error("info.file tree is malformed: {0}")]
    FileTree(String),
    #[error("the v1 and v2 file lists of this hybrid torrent disagree")]
    InconsistentHybrid,
    #[error("info.piece length is missing, not an integer, not positive or above 1 GiB")]
    PieceLength,
    #[error("info.name is missing")]
    MissingName,
    #[error("info.name is empty or nothing of it is a usable file name")]
    EmptyName,
    #[error("info.files[{0}] is not a dictionary")]
    FileNotDictionary(usize),
    #[error("{0}.length is missing, not an integer, negative or too large")]
    FileLength(String),
    #[error("info.files[{0}].path has an element that is not a string")]
    PathNotString(usize),
    #[error("info.files[{0}].path is missing or empty")]
    MissingPath(usize),
    #[error("info.files is empty")]
    NoFiles,
    #[error("the total length of the files exceeds 2^48 - 1 bytes")]
    TotalTooLarge,
    #[error("the torrent has {0} pieces, more than the 2097152 accepted")]
    TooManyPieces(u64),
    #[error("info.pieces is missing")]
    MissingPieces,
    #[error("info.pieces is {got} bytes, expected {expected} (20 per piece)")]
    PiecesLength { got: usize, expected: u64 },
    #[error("the torrent's total length is 0")]
    EmptyTorrent,
    #[error("builder: {0}")]
    Build(String),
}

impl From<DecodeError> for MetainfoError {
    fn from(e: DecodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}
