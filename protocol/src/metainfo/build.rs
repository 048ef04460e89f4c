//! Writing `.torrent` files for `riffle create`: v1, v2 or hybrid (BEP 52,
//! as libtorrent 2.0 writes them: a hybrid's v1 file list has a pad file
//! after every file that does not end on a piece boundary). The caller
//! walks the files and hashes the pieces (this crate does no I/O); the
//! builder checks that what it is given makes a torrent every client reads
//! back unchanged.

use sha1::{Digest, Sha1};

use super::sanitize::sanitize_element;
use super::{FileEntry, MetainfoError, Version, MAX_FILE_SIZE, MAX_PIECES, MAX_TOTAL_SIZE};
use crate::bencode::{encode, Owned};
use crate::merkle::Hash32;
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
    /// SHA-1 of each piece (v1 and hybrid; of the padded layout for a
    /// hybrid).
    hashes: Vec<[u8; 20]>,
    /// v1, v2 or hybrid.
    version: Version,
    /// Per file (v2 and hybrid): pieces root and piece layer.
    v2: Vec<Option<(Hash32, Option<Vec<Hash32>>)>>,
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

    /// Make a v2 or hybrid torrent (BEP 52) with these per-file hashes
    /// (pieces root and piece layer, `None` for an empty file); a hybrid
    /// also needs [`TorrentBuilder::piece_hashes`] of its padded layout.
    pub fn v2(
        &mut self,
        version: Version,
        files: Vec<Option<(Hash32, Option<Vec<Hash32>>)>>,
    ) -> &mut Self {
        self.version = version;
        self.v2 = files;
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
                let padded = self.version != Version::V1;
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
                    let rem = total % u64::from(pl);
                    if padded && *len > 0 && rem != 0 {
                        // BEP 47: the next file starts a piece.
                        let pad = u64::from(pl) - rem;
                        total += pad;
                        list.push(Owned::dict([
                            ("attr", Owned::bytes("p")),
                            ("length", Owned::Int(pad as i64)),
                            (
                                "path",
                                Owned::List(vec![
                                    Owned::bytes(".pad"),
                                    Owned::bytes(pad.to_string()),
                                ]),
                            ),
                        ]));
                    }
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
        let mut layers = Vec::new();
        if self.version != Version::V1 {
            layers = self.add_v2(&mut info)?;
        }
        if self.version == Version::V2 {
            // v2 only: the tree is the file list.
            info.remove(b"files");
            info.remove(b"length");
        } else {
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
        }
        if self.private {
            info.insert("private", Owned::Int(1));
        }
        let info_bytes = encode(&info);
        let hash = match self.version {
            Version::V2 => {
                use sha2::Digest as _;
                InfoHash::from_slice(&sha2::Sha256::digest(&info_bytes)[..20])
                    .map_err(|_| MetainfoError::Build("hash".into()))?
            }
            _ => InfoHash(Sha1::digest(&info_bytes).into()),
        };

        let mut root = Owned::dict([("info", info)]);
        if !layers.is_empty() {
            root.insert("piece layers", Owned::Dict(layers));
        }
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

impl TorrentBuilder {
    /// Put the v2 keys in `info` (`meta version`, `file tree`); returns
    /// the `piece layers` entries.
    fn add_v2(&self, info: &mut Owned) -> Result<Vec<(Vec<u8>, Owned)>, MetainfoError> {
        let fail = |m: &str| Err(MetainfoError::Build(m.to_owned()));
        let files: Vec<(Vec<String>, u64)> = match self.single {
            Some(len) => vec![(vec![self.name.clone()], len)],
            None => self.files.clone(),
        };
        if self.v2.len() != files.len() {
            return fail("v2 hashes must be given for every file");
        }
        let mut tree = Owned::dict::<&str>([]);
        let mut layers = Vec::new();
        for ((path, len), hashes) in files.iter().zip(&self.v2) {
            let mut leaf = Owned::dict([("length", Owned::Int(*len as i64))]);
            match (hashes, *len) {
                (_, 0) => {}
                (Some((root, layer)), _) => {
                    leaf.insert("pieces root", Owned::bytes(root));
                    if let Some(layer) = layer {
                        layers.push((root.to_vec(), Owned::Bytes(layer.concat())));
                    }
                }
                (None, _) => return fail("a file with data has no pieces root"),
            }
            insert_path(&mut tree, path, Owned::dict([("", leaf)]))?;
        }
        info.insert("file tree", tree);
        info.insert("meta version", Owned::Int(2));
        layers.sort_by(|a, b| a.0.cmp(&b.0));
        layers.dedup_by(|a, b| a.0 == b.0);
        Ok(layers)
    }
}

/// Put `value` at `path` in the nested dictionaries of `tree`.
fn insert_path(tree: &mut Owned, path: &[String], value: Owned) -> Result<(), MetainfoError> {
    let Some((first, rest)) = path.split_first() else {
        return Err(MetainfoError::Build("empty path".into()));
    };
    if rest.is_empty() {
        tree.insert(first.as_bytes(), value);
        return Ok(());
    }
    if tree.get(first.as_bytes()).is_none() {
        tree.insert(first.as_bytes(), Owned::dict::<&str>([]));
    }
    match tree.get_mut(first.as_bytes()) {
        Some(sub) => insert_path(sub, rest, value),
        None => Err(MetainfoError::Build("file tree".into())),
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
