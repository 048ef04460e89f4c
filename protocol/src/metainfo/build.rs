//! Writing `.torrent` files for `riffle create`. The caller walks the files
//! and hashes the pieces (this crate does no I/O); the builder checks that
//! what it is given makes a torrent every client reads back unchanged.

use sha1::{Digest, Sha1};

use super::sanitize::sanitize_element;
use super::{FileEntry, MetainfoError, MAX_FILE_SIZE, MAX_PIECES, MAX_TOTAL_SIZE};
use crate::bencode::{encode, Owned};
use crate::types::InfoHash;

/// Assembles a v1 `.torrent` file.
#[derive(Debug, Clone, Default)]
pub struct TorrentBuilder {
    /// Torrent name: the file name (single-file) or top directory.
    name: String,
    /// Bytes per piece.
    piece_length: u32,
    /// Multi-file entries: path inside the torrent directory, length.
    files: Vec<(Vec<String>, u64)>,
    /// Length of the one file of a single-file torrent.
    single: Option<u64>,
    /// SHA-1 of each piece.
    hashes: Vec<[u8; 20]>,
    /// Tracker tiers.
    tiers: Vec<Vec<String>>,
    /// BEP 27 private flag.
    private: bool,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
}

impl TorrentBuilder {
    /// A builder for a torrent called `name` with pieces of `piece_length`
    /// bytes (a power of two, at least 16 KiB; see [`default_piece_length`]).
    pub fn new(name: String, piece_length: u32) -> Self {
        TorrentBuilder {
            name,
            piece_length,
            ..Default::default()
        }
    }

    /// Add a file (multi-file torrent) at `path` below the torrent's
    /// directory, in piece order.
    pub fn file(&mut self, path: Vec<String>, length: u64) -> &mut Self {
        self.files.push((path, length));
        self
    }

    /// Make this a single-file torrent of `length` bytes named `name`.
    pub fn single_file(&mut self, length: u64) -> &mut Self {
        self.single = Some(length);
        self
    }

    /// The SHA-1 of every piece, in order.
    pub fn piece_hashes(&mut self, hashes: Vec<[u8; 20]>) -> &mut Self {
        self.hashes = hashes;
        self
    }

    /// Add a tier of tracker URLs; the first tier's first URL also becomes
    /// `announce` for clients without BEP 12.
    pub fn tracker_tier(&mut self, urls: Vec<String>) -> &mut Self {
        self.tiers.push(urls);
        self
    }

    /// Set the BEP 27 private flag.
    pub fn private(&mut self, yes: bool) -> &mut Self {
        self.private = yes;
        self
    }

    /// Set the comment.
    pub fn comment(&mut self, c: String) -> &mut Self {
        self.comment = Some(c);
        self
    }

    /// Set `created by`.
    pub fn created_by(&mut self, s: String) -> &mut Self {
        self.created_by = Some(s);
        self
    }

    /// Set the creation date (Unix seconds).
    pub fn creation_date(&mut self, unix: i64) -> &mut Self {
        self.creation_date = Some(unix);
        self
    }

    /// Validate and encode: the `.torrent` bytes and its info-hash.
    pub fn build(&self) -> Result<(Vec<u8>, InfoHash), MetainfoError> {
        let fail = |m: String| Err(MetainfoError::Build(m));
        if sanitize_element(self.name.as_bytes()).as_deref() != Some(self.name.as_str()) {
            return fail(format!("name {:?} is not a usable file name", self.name));
        }
        let pl = self.piece_length;
        if pl < 16 * 1024 || !pl.is_power_of_two() || pl > 1 << 30 {
            return fail(format!(
                "piece length {pl} is not a power of two from 16 KiB to 1 GiB"
            ));
        }
        let mut info = Owned::dict([
            ("name", Owned::bytes(&self.name)),
            ("piece length", Owned::Int(i64::from(pl))),
        ]);
        let total = match (self.single, self.files.is_empty()) {
            (Some(_), false) => return fail("both single_file and file were called".into()),
            (None, true) => return fail("no files".into()),
            (Some(len), true) => {
                check_length(len)?;
                info.insert("length", Owned::Int(len as i64));
                len
            }
            (None, false) => {
                let mut total = 0u64;
                let mut list = Vec::with_capacity(self.files.len());
                let mut entries = Vec::with_capacity(self.files.len());
                for (path, len) in &self.files {
                    check_path(path)?;
                    check_length(*len)?;
                    total = total
                        .checked_add(*len)
                        .filter(|&t| t <= MAX_TOTAL_SIZE)
                        .ok_or(MetainfoError::TotalTooLarge)?;
                    list.push(Owned::dict([
                        ("length", Owned::Int(*len as i64)),
                        ("path", Owned::List(path.iter().map(Owned::bytes).collect())),
                    ]));
                    entries.push(FileEntry {
                        path: path.clone(),
                        length: *len,
                        ..FileEntry::default()
                    });
                }
                let before = entries.clone();
                super::parse::resolve_duplicates(&self.name, &mut entries);
                if let Some((a, _)) = before.iter().zip(&entries).find(|(a, b)| a != b) {
                    return fail(format!(
                        "file {:?} clashes with another file or directory (ignoring case)",
                        a.path.join("/")
                    ));
                }
                info.insert("files", Owned::List(list));
                total
            }
        };
        if total == 0 {
            return Err(MetainfoError::EmptyTorrent);
        }
        let expected = total.div_ceil(u64::from(pl));
        if expected > MAX_PIECES {
            return Err(MetainfoError::TooManyPieces(expected));
        }
        if self.hashes.len() as u64 != expected {
            return fail(format!(
                "{} piece hashes given, {} pieces of {} bytes cover {} bytes",
                self.hashes.len(),
                expected,
                pl,
                total
            ));
        }
        info.insert("pieces", Owned::Bytes(self.hashes.concat()));
        if self.private {
            info.insert("private", Owned::Int(1));
        }
        let info_bytes = encode(&info);
        let hash = InfoHash(Sha1::digest(&info_bytes).into());

        let mut root = Owned::dict([("info", info)]);
        let tiers: Vec<&Vec<String>> = self.tiers.iter().filter(|t| !t.is_empty()).collect();
        if let Some(first) = tiers.first().and_then(|t| t.first()) {
            root.insert("announce", Owned::bytes(first));
            let list = tiers
                .iter()
                .map(|t| Owned::List(t.iter().map(Owned::bytes).collect()))
                .collect();
            root.insert("announce-list", Owned::List(list));
        }
        if let Some(c) = &self.comment {
            root.insert("comment", Owned::bytes(c));
        }
        if let Some(c) = &self.created_by {
            root.insert("created by", Owned::bytes(c));
        }
        if let Some(d) = self.creation_date {
            root.insert("creation date", Owned::Int(d));
        }
        Ok((encode(&root), hash))
    }
}

fn check_length(len: u64) -> Result<(), MetainfoError> {
    if len >= MAX_FILE_SIZE as u64 {
        return Err(MetainfoError::Build(format!(
            "file of {len} bytes is too large"
        )));
    }
    Ok(())
}

/// Every component must survive sanitization unchanged, so the torrent
/// describes exactly the paths the caller hashed.
fn check_path(path: &[String]) -> Result<(), MetainfoError> {
    if path.is_empty() {
        return Err(MetainfoError::Build("a file has an empty path".into()));
    }
    for c in path {
        if sanitize_element(c.as_bytes()).as_deref() != Some(c.as_str()) {
            return Err(MetainfoError::Build(format!(
                "path component {c:?} is not a usable file name"
            )));
        }
    }
    Ok(())
}

/// A piece length for `total_length` bytes, as other creators choose: the
/// smallest power of two from 16 KiB to 16 MiB that keeps the torrent at
/// 2000 pieces or fewer (so between about 1000 and 2000 pieces once the
/// content is larger than 32 MiB).
pub fn default_piece_length(total_length: u64) -> u32 {
    let mut pl: u32 = 16 * 1024;
    while pl < 16 * 1024 * 1024 && total_length.div_ceil(u64::from(pl)) > 2000 {
        pl *= 2;
    }
    pl
}
