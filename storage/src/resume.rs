//! Resume records: what a restart needs to skip re-hashing.
//!
//! A record holds the info-hash, the piece count, the bitfield of pieces
//! that verified, and for each file its length and modification time when
//! the record was taken. On restart, [`ResumeRecord::trusted_pieces`] keeps
//! only the pieces whose files are unchanged since; the rest are re-hashed.
//! (Modification times are compared exactly, to the nanosecond where the
//! filesystem keeps them; a change within the filesystem's timestamp
//! granularity that keeps the length is not noticed.)
//!
//! On disk the record is bencode, `d4:body<record>4:sha1<20 bytes>e`, the
//! hash covering the exact bytes of the body, so any corruption — a torn
//! write, a flipped bit inside the bitfield — is detected rather than
//! trusted. It is saved atomically: a temporary file in the same directory,
//! fsynced, renamed over the old record, then the directory fsynced.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use riffle_protocol::bencode::{self, Dict, Owned, Value};
use riffle_protocol::{Bitfield, InfoHash, PieceIndex};

use crate::{sha1_digest, write_atomically, Storage, StorageError};

/// Format version written into every record; others are refused.
const VERSION: i64 = 1;

/// Largest record file [`ResumeRecord::load`] will read. A record is a
/// bitfield plus a few dozen bytes per file; anything this big is not one.
const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

/// A modification time as seconds and nanoseconds since the Unix epoch
/// (seconds may be negative for times before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mtime {
    /// Whole seconds since 1970-01-01 UTC.
    pub secs: i64,
    /// Nanoseconds past `secs`, below one billion.
    pub nanos: u32,
}

impl Mtime {
    /// Convert a `SystemTime`; `None` if it is out of range.
    pub fn from_system_time(t: SystemTime) -> Option<Mtime> {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Some(Mtime {
                secs: i64::try_from(d.as_secs()).ok()?,
                nanos: d.subsec_nanos(),
            }),
            Err(e) => {
                // Before the epoch: -(d) = -(s + n) = (-s - 1) + (1e9 - n).
                let d: Duration = e.duration();
                let s = i64::try_from(d.as_secs()).ok()?;
                if d.subsec_nanos() == 0 {
                    Some(Mtime { secs: -s, nanos: 0 })
                } else {
                    Some(Mtime {
                        secs: -s - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    })
                }
            }
        }
    }
}

/// What one file looked like when the record was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Length in bytes.
    pub length: u64,
    /// Modification time, when the backend reports one.
    pub mtime: Option<Mtime>,
}

/// Everything a restart needs to trust data on disk without hashing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeRecord {
    /// The torrent this record belongs to; a record for another torrent is
    /// refused.
    pub info_hash: InfoHash,
    /// Number of pieces, to reject a record for a different layout.
    pub piece_count: u32,
    /// The pieces that had verified when the record was taken.
    pub have: Bitfield,
    /// One stamp per file, `None` for a file that did not exist.
    pub files: Vec<Option<FileStamp>>,
}

fn bad(msg: impl Into<String>) -> StorageError {
    StorageError::BadResume(msg.into())
}

impl ResumeRecord {
    /// Take a record of `storage` now: `have` is the bitfield of verified
    /// pieces, and every file is stamped with its current length and
    /// modification time. Call [`Storage::sync_all`] first so the record
    /// never claims data the disk does not hold.
    pub fn capture<S: Storage + ?Sized>(
        storage: &S,
        info_hash: InfoHash,
        have: &Bitfield,
    ) -> Result<ResumeRecord, StorageError> {
        let piece_count = storage.layout().piece_count();
        if have.len() != piece_count {
            return Err(bad(format!(
                "bitfield covers {} pieces, the torrent has {piece_count}",
                have.len()
            )));
        }
        let files = (0..storage.layout().file_count())
            .map(|i| Ok(storage.file_status(i)?.map(stamp_of)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(ResumeRecord {
            info_hash,
            piece_count,
            have: have.clone(),
            files,
        })
    }

    /// The pieces of this record that can be taken as verified for
    /// `storage` now: those whose every file still has the stamp recorded.
    /// A record for another torrent or layout is an error (treat it as no
    /// record).
    pub fn trusted_pieces<S: Storage + ?Sized>(
        &self,
        storage: &S,
        info_hash: InfoHash,
    ) -> Result<Bitfield, StorageError> {
        let layout = storage.layout();
        if self.info_hash != info_hash {
            return Err(bad("record is for another torrent"));
        }
        if self.piece_count != layout.piece_count() || self.have.len() != self.piece_count {
            return Err(bad("record has a different piece count"));
        }
        if self.files.len() != layout.file_count() {
            return Err(bad("record has a different file count"));
        }
        let mut trusted = self.have.clone();
        for (i, recorded) in self.files.iter().enumerate() {
            let now = storage.file_status(i)?.map(stamp_of);
            let layout_len = layout.file_length(i)?;
            // A file missing now cannot back any piece, whatever was recorded.
            let unchanged = now.is_some_and(|s| s.length == layout_len) && now == *recorded;
            if !unchanged {
                for p in layout.file_pieces(i)? {
                    trusted.set(PieceIndex::new(p), false);
                }
            }
        }
        Ok(trusted)
    }

    /// The record as bytes (see the module docs for the format).
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|f| match f {
                None => Owned::Dict(Vec::new()),
                Some(s) => {
                    let mut d = Owned::dict([("length", int_u64(s.length))]);
                    if let Some(m) = s.mtime {
                        d.insert("mtime", Owned::Int(m.secs));
                        d.insert("mtime-ns", Owned::Int(i64::from(m.nanos)));
                    }
                    d
                }
            })
            .collect();
        let body = bencode::encode(&Owned::dict([
            ("version", Owned::Int(VERSION)),
            ("info-hash", Owned::bytes(self.info_hash.as_bytes())),
            ("pieces", Owned::Int(i64::from(self.piece_count))),
            ("have", Owned::Bytes(self.have.to_bytes())),
            ("files", Owned::List(files)),
        ]));
        let digest = sha1_digest(&body);
        // Build the envelope by hand so the body's bytes are embedded as-is.
        let mut out = Vec::with_capacity(body.len() + 40);
        out.extend_from_slice(b"d4:body");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"4:sha120:");
        out.extend_from_slice(&digest);
        out.push(b'e');
        out
    }

    /// Parse a record. Any damage — truncation, a flipped byte, a wrong
    /// version, inconsistent fields — is a [`StorageError::BadResume`].
    pub fn decode(bytes: &[u8]) -> Result<ResumeRecord, StorageError> {
        let top = bencode::decode(bytes).map_err(|e| bad(e.to_string()))?;
        let top = top.as_dict().ok_or_else(|| bad("not a dictionary"))?;
        if top.len() != 2 {
            return Err(bad("unexpected keys in the envelope"));
        }
        let body_raw = top.get_raw(b"body").ok_or_else(|| bad("no body"))?;
        let digest = top.get_bytes(b"sha1").ok_or_else(|| bad("no checksum"))?;
        if digest != sha1_digest(body_raw) {
            return Err(bad("checksum mismatch"));
        }
        let body = top
            .get_dict(b"body")
            .ok_or_else(|| bad("body is not a dictionary"))?;
        if body.get_int(b"version") != Some(VERSION) {
            return Err(bad("unsupported version"));
        }
        let info_hash = body
            .get_bytes(b"info-hash")
            .and_then(|b| InfoHash::from_slice(b).ok())
            .ok_or_else(|| bad("bad info-hash"))?;
        let piece_count = body
            .get_int(b"pieces")
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad("bad piece count"))?;
        let have_bytes = body.get_bytes(b"have").ok_or_else(|| bad("no bitfield"))?;
        let have = Bitfield::from_bytes(have_bytes, piece_count).map_err(|e| bad(e.to_string()))?;
        let files = body
            .get_list(b"files")
            .ok_or_else(|| bad("no file list"))?
            .iter()
            .map(decode_stamp)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResumeRecord {
            info_hash,
            piece_count,
            have,
            files,
        })
    }

    /// Write the record to `path` atomically: a temporary file next to it,
    /// fsynced, renamed over `path`, then the directory fsynced. A crash at
    /// any point leaves either the old record or the new one.
    pub fn save(&self, path: &Path) -> Result<(), StorageError> {
        write_atomically(path, &self.encode())
    }

    /// Read a record from `path`. A missing file is an I/O error whose
    /// source is `NotFound`; a damaged one is [`StorageError::BadResume`].
    /// Either way the caller falls back to checking the data.
    pub fn load(path: &Path) -> Result<ResumeRecord, StorageError> {
        let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io(path, e))?;
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return Err(bad("record file is too large"));
        }
        ResumeRecord::decode(&bytes)
    }
}

/// A status as recorded.
fn stamp_of(s: crate::FileStatus) -> FileStamp {
    FileStamp {
        length: s.length,
        mtime: s.modified.and_then(Mtime::from_system_time),
    }
}

/// Lengths beyond `i64::MAX` cannot be bencoded; no real file is that long,
/// and clamping keeps the encoder infallible (such a record just never
/// matches).
fn int_u64(n: u64) -> Owned {
    Owned::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn decode_stamp(v: &Value<'_>) -> Result<Option<FileStamp>, StorageError> {
    let d: &Dict<'_> = v
        .as_dict()
        .ok_or_else(|| bad("file entry is not a dictionary"))?;
    if d.is_empty() {
        return Ok(None);
    }
    let length = d
        .get_int(b"length")
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| bad("bad file length"))?;
    let mtime = match (d.get_int(b"mtime"), d.get_int(b"mtime-ns")) {
        (None, None) => None,
        (Some(secs), Some(ns)) => {
            let nanos = u32::try_from(ns)
                .ok()
                .filter(|&n| n < 1_000_000_000)
                .ok_or_else(|| bad("bad mtime nanoseconds"))?;
            Some(Mtime { secs, nanos })
        }
        _ => return Err(bad("incomplete mtime")),
    };
    Ok(Some(FileStamp { length, mtime }))
}

#[cfg(test)]
mod tests;
