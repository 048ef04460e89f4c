//! riffle-storage: pieces <-> files.
//!
//! A torrent is one long byte string — its files concatenated in order —
//! cut into fixed-size pieces (the last one shorter), each named by its
//! SHA-1 in the metainfo. This crate turns that view into file I/O:
//!
//! - [`Layout`] is the geometry: piece count, piece lengths, and which
//!   [`FileSpan`]s (file, offset, length) a piece or a block inside it
//!   covers. Pure arithmetic, no I/O.
//! - [`Storage`] is the synchronous, thread-safe I/O seam: write a block at
//!   (piece, offset), read a range back, create zero-length files, stat a
//!   file, sync at shutdown. Methods take `&self` so a blocking thread pool
//!   can share one `Arc<dyn Storage>`. Backends: [`FsStorage`] (positional
//!   reads and writes on sparse files under a root directory, with an LRU
//!   cache of open handles) and [`MemStorage`] (one buffer per file, for
//!   tests and the swarm lab).
//! - Verification ([`verify_piece`], [`Verifier`], [`check_pieces`]) hashes
//!   pieces in fixed-size chunks with the `sha1` crate, one piece or a whole
//!   torrent across worker threads.
//! - [`Source`] lists the files of a new torrent (a file or a folder) and
//!   hashes their pieces on several threads through the same read path.
//! - [`ResumeRecord`] remembers which pieces verified and each file's length
//!   and modification time, so a restart can skip re-hashing unchanged files.
//!   It is bencoded and saved atomically ([`write_atomically`], which
//!   other small state files use too).
//!
//! Every failure is a [`StorageError`]; nothing here panics on data read from
//! disk or from a peer.
//!
//! ```
//! use riffle_protocol::{InfoHash, PieceIndex};
//! use riffle_storage::{sha1_digest, check_pieces, FsStorage, Layout, ResumeRecord, Storage};
//!
//! # fn main() -> Result<(), riffle_storage::StorageError> {
//! let dir = tempfile::tempdir().unwrap();
//! // Two files of 5 and 7 bytes and an empty one, in pieces of 8 bytes.
//! let layout = Layout::new(vec![5, 7, 0], 8)?;
//! let names = vec![
//!     vec!["album".to_string(), "a.txt".to_string()],
//!     vec!["album".to_string(), "b.txt".to_string()],
//!     vec!["album".to_string(), "empty".to_string()],
//! ];
//! let storage = FsStorage::new(dir.path(), layout, &names)?;
//! storage.write_block(PieceIndex::new(0), 0, b"hello, w")?; // spans both files
//! storage.write_block(PieceIndex::new(1), 0, b"orld")?;
//! storage.create_empty_files()?;
//!
//! let hashes = [sha1_digest(b"hello, w"), sha1_digest(b"orld")];
//! let have = check_pieces(&storage, &hashes, 2)?;
//! assert!(have.is_full());
//!
//! storage.sync_all()?;
//! let info_hash = InfoHash([0xab; 20]);
//! let record = ResumeRecord::capture(&storage, info_hash, &have)?;
//! record.save(&dir.path().join("album.resume"))?;
//! let loaded = ResumeRecord::load(&dir.path().join("album.resume"))?;
//! assert_eq!(loaded.trusted_pieces(&storage, info_hash)?, have);
//! # Ok(())
//! # }
//! ```

mod atomic;
mod backend;
mod create;
mod error;
mod fs;
mod handle_cache;
mod layout;
mod memory;
mod resume;
mod verify;

pub use atomic::write_atomically;
pub use backend::{FileStatus, Storage};
pub use create::{pad_after, CreateError, Source, SourceFile, TorrentHashes};
pub use error::StorageError;
pub use fs::{FsStorage, DEFAULT_HANDLE_CACHE};
pub use layout::{FileSpan, Layout, Spans};
pub use memory::MemStorage;
pub use resume::{FileStamp, Mtime, ResumeRecord};
pub use verify::{
    check_pieces, check_pieces_with, sha1_digest, verify_piece, Verifier, HASH_CHUNK,
};
