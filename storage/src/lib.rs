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
//! - [`ResumeRecord`] remembers which pieces verified and each file's length
//!   and modification time, so a restart can skip re-hashing unchanged files.
//!   It is bencoded and saved atomically.
//!
//! Every failure is a [`StorageError`]; nothing here panics on data read from
//! disk or from a peer.

mod backend;
mod error;
mod fs;
mod handle_cache;
mod layout;
mod memory;
mod verify;

pub use backend::{FileStatus, Storage};
pub use error::StorageError;
pub use fs::{FsStorage, DEFAULT_HANDLE_CACHE};
pub use layout::{FileSpan, Layout, Spans};
pub use memory::MemStorage;
pub use verify::{
    check_pieces, check_pieces_with, sha1_digest, verify_piece, Verifier, HASH_CHUNK,
};
