//! Piece verification: one piece, or a whole torrent in parallel, against
//! SHA-1 (v1), a merkle root of SHA-256 leaves (v2) or both (hybrid).
//!
//! Hashing uses the `sha1` and `sha2` crates, which detect SHA-NI (and
//! other CPU extensions) at run time. Pieces are read in fixed-size chunks
//! into a reused buffer, so checking a torrent with 16 MiB pieces never
//! holds a whole piece in memory; a hybrid piece is read once for both.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use riffle_protocol::merkle::{self, Hash32};
use riffle_protocol::metainfo::PieceCheck;
use riffle_protocol::{Bitfield, PieceIndex, BLOCK_SIZE};
use sha1::{Digest, Sha1};

use crate::{Storage, StorageError};

/// Bytes read per step while hashing a piece.
pub const HASH_CHUNK: usize = 64 * 1024;

/// SHA-1 of a byte slice (a piece assembled in memory, an info dict).
pub fn sha1_digest(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// Hashes pieces out of a storage, reusing one chunk buffer across calls.
/// One per hashing thread.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Chunk buffer, [`HASH_CHUNK`] bytes, reused for every read.
    buf: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier with its own chunk buffer.
    pub fn new() -> Verifier {
        Verifier {
            buf: vec![0; HASH_CHUNK],
        }
    }

    /// SHA-1 of `piece` as currently stored. Missing or short files are
    /// errors here (see [`Verifier::verify`] for the forgiving form).
    pub fn hash_piece<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        piece: PieceIndex,
    ) -> Result<[u8; 20], StorageError> {
        let len = storage.layout().piece_len(piece)?;
        let mut hasher = Sha1::new();
        let mut offset = 0u32;
        while offset < len {
            let n = (len - offset).min(HASH_CHUNK as u32);
            let chunk = &mut self.buf[..n as usize];
            storage.read_block(piece, offset, chunk)?;
            hasher.update(&*chunk);
            offset += n;
        }
        Ok(hasher.finalize().into())
    }

    /// Does `piece` as stored pass `check`? `None` when its hash is not
    /// known yet ([`PieceCheck::Unknown`]). Data that is not there (a
    /// missing or truncated file) is a `false`, not an error; other I/O
    /// failures are errors.
    pub fn check<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        piece: PieceIndex,
        check: &PieceCheck,
    ) -> Result<Option<bool>, StorageError> {
        let result = match check {
            PieceCheck::Unknown => return Ok(None),
            PieceCheck::Sha1(expected) => self.hash_piece(storage, piece).map(|h| &h == expected),
            PieceCheck::Merkle {
                root,
                leaves,
                data_len,
            } => self
                .hash_both(storage, piece, *data_len, false)
                .map(|(_, leaf_hashes)| {
                    &merkle::root(&leaf_hashes, *leaves as usize, merkle::ZERO) == root
                }),
            PieceCheck::Both {
                sha1,
                root,
                leaves,
                data_len,
            } => self
                .hash_both(storage, piece, *data_len, true)
                .map(|(h, leaf_hashes)| {
                    h.as_ref() == Some(sha1)
                        && &merkle::root(&leaf_hashes, *leaves as usize, merkle::ZERO) == root
                }),
        };
        match result {
            Ok(ok) => Ok(Some(ok)),
            Err(e) if e.is_absent_data() => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    /// One pass over `piece`: the SHA-1 of all of it (when `sha1`), and
    /// the SHA-256 of each 16 KiB block of its first `data_len` bytes.
    pub fn hash_both<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        piece: PieceIndex,
        data_len: u32,
        sha1: bool,
    ) -> Result<(Option<[u8; 20]>, Vec<Hash32>), StorageError> {
        let len = storage.layout().piece_len(piece)?;
        let data_len = data_len.min(len);
        let read_len = if sha1 { len } else { data_len };
        let mut hasher = sha1.then(Sha1::new);
        let mut leaves = Vec::with_capacity(data_len.div_ceil(BLOCK_SIZE) as usize);
        let mut offset = 0u32;
        while offset < read_len {
            // Chunks are whole blocks (HASH_CHUNK is a multiple of 16 KiB).
            let n = (read_len - offset).min(HASH_CHUNK as u32);
            let chunk = &mut self.buf[..n as usize];
            storage.read_block(piece, offset, chunk)?;
            if let Some(h) = hasher.as_mut() {
                h.update(&*chunk);
            }
            let data_end = data_len.saturating_sub(offset).min(n) as usize;
            for block in chunk[..data_end].chunks(BLOCK_SIZE as usize) {
                leaves.push(merkle::leaf(block));
            }
            offset += n;
        }
        Ok((hasher.map(|h| h.finalize().into()), leaves))
    }

    /// Does `piece` as stored hash to `expected`? Data that is not there (a
    /// missing or truncated file) is a `false`, not an error; other I/O
    /// failures are errors.
    pub fn verify<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
        piece: PieceIndex,
        expected: &[u8; 20],
    ) -> Result<bool, StorageError> {
        match self.hash_piece(storage, piece) {
            Ok(h) => Ok(&h == expected),
            Err(e) if e.is_absent_data() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Does `piece` as stored hash to `expected`? A one-off [`Verifier::verify`]
/// (allocates one [`HASH_CHUNK`] buffer; keep a [`Verifier`] to hash many).
pub fn verify_piece<S: Storage + ?Sized>(
    storage: &S,
    piece: PieceIndex,
    expected: &[u8; 20],
) -> Result<bool, StorageError> {
    Verifier::new().verify(storage, piece, expected)
}

/// Check every piece of a torrent against `hashes` (one per piece) with
/// `workers` threads; returns the pieces that verify. What `riffle seed`
/// and a resume without a usable record run.
pub fn check_pieces<S: Storage + ?Sized>(
    storage: &S,
    hashes: &[[u8; 20]],
    workers: usize,
) -> Result<Bitfield, StorageError> {
    let none = Bitfield::new(storage.layout().piece_count());
    let checks: Vec<PieceCheck> = hashes.iter().map(|h| PieceCheck::Sha1(*h)).collect();
    check_pieces_with(storage, &checks, workers, &none, |_, _| {})
}

/// [`check_pieces`] with two extras: pieces set in `trusted` (say, from a
/// resume record) are counted as verified without reading them, and
/// `on_piece(piece, ok)` is called once per piece as it is settled, from
/// the worker threads (for progress reports).
///
/// Workers pull piece indices from a shared counter, so a slow file does
/// not idle the others. The first I/O error stops all workers and is
/// returned.
pub fn check_pieces_with<S, F>(
    storage: &S,
    hashes: &[PieceCheck],
    workers: usize,
    trusted: &Bitfield,
    on_piece: F,
) -> Result<Bitfield, StorageError>
where
    S: Storage + ?Sized,
    F: Fn(PieceIndex, bool) + Sync,
{
    let count = storage.layout().piece_count();
    if hashes.len() != count as usize {
        return Err(StorageError::HashCountMismatch {
            expected: count,
            got: hashes.len(),
        });
    }
    // 64 bits so the counter cannot wrap past the end, whatever the count.
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<StorageError>> = Mutex::new(None);
    let work = || -> Vec<u32> {
        let mut verifier = Verifier::new();
        let mut passed = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Some(i) = u32::try_from(next.fetch_add(1, Ordering::Relaxed))
                .ok()
                .filter(|&i| i < count)
            else {
                break;
            };
            let Some(expected) = hashes.get(i as usize) else {
                break;
            };
            let piece = PieceIndex::new(i);
            let ok = if trusted.has(piece) {
                Ok(true)
            } else {
                // A piece whose hash is not known yet is not ours yet.
                verifier
                    .check(storage, piece, expected)
                    .map(|v| v.unwrap_or(false))
            };
            match ok {
                Ok(ok) => {
                    if ok {
                        passed.push(i);
                    }
                    on_piece(piece, ok);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                    break;
                }
            }
        }
        passed
    };
    let workers = workers.clamp(1, (count as usize).max(1));
    let results: Vec<Vec<u32>> = if workers == 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                // A worker only panics on a bug; count its pieces as unchecked.
                .map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut have = Bitfield::new(count);
    for i in results.into_iter().flatten() {
        have.set(PieceIndex::new(i), true);
    }
    Ok(have)
}

#[cfg(test)]
mod tests;
