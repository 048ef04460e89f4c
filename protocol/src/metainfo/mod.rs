//! Metainfo: v1 `.torrent` files (BEP 3), read as strictly as libtorrent
//! 2.0 reads them, and written by [`TorrentBuilder`].
//!
//! [`Metainfo::from_bytes`] accepts exactly what libtorrent's
//! `torrent_info` accepts for a v1 torrent (checked by the differential test
//! in `tests/tests/metainfo_differential.rs`), sanitizes file paths the same
//! way ([`sanitize`]), and renames duplicate files the same way, so a
//! torrent's files land at the same paths under both clients.
//!
//! BEP 52: hybrid torrents (`meta version` 2 with the v1 keys) keep both
//! halves, checked to describe the same files; v2-only torrents are laid
//! out as libtorrent lays them out, a pad file after each file so every
//! file starts a piece, and `piece layers` are read beside the info.

mod build;
mod error;
mod hashes;
mod hybrid;
mod parse;
pub mod sanitize;
mod v2;

pub use build::{default_piece_length, TorrentBuilder};
pub use error::MetainfoError;
pub use hashes::{FileHashes, PieceCheck, V2Hashes};

use crate::geometry::PieceGeometry;
use crate::types::{InfoHash, PieceIndex, TypeError};

/// Largest `.torrent` file accepted: libtorrent's `max_buffer_size`.
pub const MAX_TORRENT_FILE_SIZE: usize = 10_000_000;
/// Most pieces a torrent may have: libtorrent's `max_pieces`.
pub const MAX_PIECES: u64 = 0x20_0000;
/// Largest piece length accepted (libtorrent: `INT_MAX / 2`).
pub const MAX_PIECE_LENGTH: i64 = (i32::MAX / 2) as i64;
/// Largest single file: libtorrent indexes a file's merkle tree with `int`,
/// so a file must have fewer than `INT_MAX / 2` blocks of 16 KiB.
pub const MAX_FILE_SIZE: i64 = (i32::MAX / 2) as i64 * 16 * 1024;
/// Largest total size (libtorrent's `max_file_offset`, 2^48 - 1).
pub const MAX_TOTAL_SIZE: u64 = (1 << 48) - 1;

/// A parsed `.torrent` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// The torrent's identity in the swarm, at the tracker and in the DHT:
    /// the SHA-1 of the original `info` bytes (v1 and hybrid torrents), or
    /// their SHA-256 truncated to 20 bytes (v2-only torrents).
    pub info_hash: InfoHash,
    /// SHA-256 of the original `info` bytes (v2 and hybrid torrents).
    pub info_hash_v2: Option<crate::merkle::Hash32>,
    /// BEP 52 `piece layers`: for each file longer than a piece, its
    /// piece-layer hashes by pieces root (absent from a torrent made from a
    /// magnet link's metadata; the hashes then come from peers).
    pub piece_layers: std::collections::HashMap<crate::merkle::Hash32, Vec<crate::merkle::Hash32>>,
    /// The decoded `info` dictionary.
    pub info: Info,
    /// The original bytes of the `info` dictionary, served to peers that
    /// fetch metadata (BEP 9); re-encoding could change the hash.
    pub info_bytes: Vec<u8>,
    /// Tracker tiers (BEP 12): `announce-list` if it holds any URL (empty
    /// tiers and URLs dropped, leading whitespace trimmed), else
    /// `[[announce]]` if present, else empty.
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seeds (`url-list`, a string or a list), kept for later.
    pub url_list: Vec<String>,
    /// Free-text comment (`comment.utf-8` preferred over `comment`).
    pub comment: Option<String>,
    /// The program that made the torrent (`created by`).
    pub created_by: Option<String>,
    /// Unix time the torrent was made (`creation date`, if not negative).
    pub creation_date: Option<i64>,
}

impl Metainfo {
    /// A hybrid torrent's second identity: its v2 info-hash truncated to
    /// 20 bytes (None for v1 and v2-only torrents, which have one).
    pub fn alt_info_hash(&self) -> Option<InfoHash> {
        match (self.info.version, self.info_hash_v2) {
            (Version::Hybrid, Some(v2)) => InfoHash::from_slice(&v2[..20]).ok(),
            _ => None,
        }
    }

    /// Every identity the torrent has in swarms, trackers and the DHT.
    pub fn info_hashes(&self) -> Vec<InfoHash> {
        std::iter::once(self.info_hash)
            .chain(self.alt_info_hash())
            .collect()
    }

    /// Parse and validate a `.torrent` file. Never panics; every refusal
    /// names the problem.
    pub fn from_bytes(data: &[u8]) -> Result<Metainfo, MetainfoError> {
        parse::parse(data)
    }
}

/// The `info` dictionary: what the torrent's content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Torrent name, sanitized like a path element: the file name of a
    /// single-file torrent, the top directory of a multi-file one (for a
    /// multi-file torrent whose name sanitizes to nothing, the info-hash
    /// in hex, as libtorrent does).
    pub name: String,
    /// Bytes per piece (every piece but the last).
    pub piece_length: u32,
    /// SHA-1 of each piece, in order.
    pub piece_hashes: Vec<[u8; 20]>,
    /// Files in torrent order; they are laid end to end to form the pieces.
    /// A single-file torrent has exactly one entry whose path is `[name]`.
    pub files: Vec<FileEntry>,
    /// BEP 27 private flag: no DHT, PEX or LSD for this torrent.
    pub private: bool,
    /// True if the torrent has a `files` list (files live under a
    /// directory named [`Info::name`]).
    pub multi_file: bool,
    /// v1, hybrid or v2. A v2 torrent has no `piece_hashes`; its files
    /// carry pieces roots instead.
    pub version: Version,
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileEntry {
    /// Sanitized path components inside the torrent (for a multi-file
    /// torrent, below the torrent's directory; for a single-file torrent,
    /// `[name]`). Empty for a BEP 47 pad file that has no path.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// BEP 47 pad file (attribute `p`, or BitComet's `_____padding_file_`
    /// name): alignment filler of zeros that is never written to disk.
    pub pad: bool,
    /// BEP 47 `x`: created executable.
    pub executable: bool,
    /// BEP 47 `h`: hidden (on Unix only its name could hide it; kept for
    /// display).
    pub hidden: bool,
    /// BEP 47 `l`: a symbolic link whose target is this path (sanitized
    /// elements) below the torrent's folder; it has no data. None for a
    /// regular file, and for a link whose target names nothing (every
    /// element dropped by sanitizing).
    pub symlink: Option<Vec<String>>,
    /// BEP 52: the root of the file's merkle tree (v2 and hybrid torrents,
    /// files with data; None otherwise).
    pub pieces_root: Option<crate::merkle::Hash32>,
}

/// Which BitTorrent versions a torrent speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// BEP 3 only: SHA-1 pieces, a SHA-1 info-hash.
    #[default]
    V1,
    /// BEP 52 with the v1 keys too: both info-hashes, pieces checked both
    /// ways, files aligned by pad files.
    Hybrid,
    /// BEP 52 only: SHA-256 merkle trees, a SHA-256 info-hash (truncated
    /// to 20 bytes on the wire, at trackers and in the DHT).
    V2,
}

/// The hash returned for an index past the last piece (never a real hash
/// in practice: callers hold checked [`PieceIndex`]es).
const NO_HASH: [u8; 20] = [0; 20];

impl Info {
    /// Sum of all file lengths (pad files included).
    pub fn total_length(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |acc, f| acc.saturating_add(f.length))
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        if self.version == Version::V2 {
            let pl = u64::from(self.piece_length.max(1));
            return u32::try_from(self.total_length().div_ceil(pl)).unwrap_or(u32::MAX);
        }
        u32::try_from(self.piece_hashes.len()).unwrap_or(u32::MAX)
    }

    /// Length of `piece`: [`Info::piece_length`], except that the last piece
    /// may be shorter. 0 for an index past the end.
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        self.geometry().map_or(0, |g| g.length_of(piece))
    }

    /// Piece count and lengths, the shape the storage, the picker and the
    /// peer connection work with. Always `Ok` for an `Info` that came from
    /// [`Metainfo::from_bytes`] (its geometry was validated there).
    pub fn geometry(&self) -> Result<PieceGeometry, TypeError> {
        PieceGeometry::from_total(self.total_length(), self.piece_length)
    }

    /// SHA-1 `piece` must have. An index past the end (a caller bug: indices
    /// should come from [`PieceIndex::checked`]) gets all zeros, which no
    /// data matches.
    pub fn piece_hash(&self, piece: PieceIndex) -> &[u8; 20] {
        debug_assert!(piece.idx() < self.piece_hashes.len());
        self.piece_hashes.get(piece.idx()).unwrap_or(&NO_HASH)
    }

    /// Full relative path of file `i` as written to disk: `[name, dirs..,
    /// file]` for a multi-file torrent, `[name]` for a single-file one.
    /// A pad file without a path is `[".pad", "<length>"]`, as libtorrent
    /// names it. Empty for an index past the end.
    pub fn file_path(&self, i: usize) -> Vec<String> {
        let Some(f) = self.files.get(i) else {
            return Vec::new();
        };
        if !self.multi_file {
            return vec![self.name.clone()];
        }
        if f.path.is_empty() {
            return vec![".pad".to_owned(), f.length.to_string()];
        }
        let mut out = Vec::with_capacity(f.path.len() + 1);
        out.push(self.name.clone());
        out.extend(f.path.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests;
