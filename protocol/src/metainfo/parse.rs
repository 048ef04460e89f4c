//! `.torrent` parsing, following libtorrent 2.0's `torrent_info` step by
//! step so the two accept and refuse the same files.

use std::collections::HashMap;

use sha1::{Digest, Sha1};

use super::sanitize::sanitize_element;
use super::{hybrid, v2};
use super::{
    FileEntry, Info, Metainfo, MetainfoError, Version, MAX_FILE_SIZE, MAX_PIECES, MAX_PIECE_LENGTH,
    MAX_TORRENT_FILE_SIZE, MAX_TOTAL_SIZE,
};
use crate::bencode::{self, Dict, Limits, Value};
use crate::merkle::Hash32;
use crate::types::InfoHash;

/// libtorrent's decode limits for `.torrent` files: depth 100 checked
/// before each token (so 99 nested containers) and 3,000,000 tokens.
const TORRENT_LIMITS: Limits = Limits {
    max_depth: 99,
    max_items: 3_000_000,
};

/// Name libtorrent gives BitComet-style pad files.
const BITCOMET_PAD: &str = "_____padding_file_";

pub(super) fn parse(data: &[u8]) -> Result<Metainfo, MetainfoError> {
    if data.len() > MAX_TORRENT_FILE_SIZE {
        return Err(MetainfoError::FileTooLarge(data.len()));
    }
    let top = bencode::decode_lenient(data, TORRENT_LIMITS)?;
    let Value::Dict(root) = &top.value else {
        return Err(MetainfoError::NotADictionary);
    };
    let (info_dict, info_raw) = match root.entry(b"info") {
        Some(e) => match &e.value {
            Value::Dict(d) => (d, e.raw),
            _ => return Err(MetainfoError::MissingInfo),
        },
        None => return Err(MetainfoError::MissingInfo),
    };
    let sha1 = InfoHash(Sha1::digest(info_raw).into());
    let info = parse_info(info_dict, info_raw, sha1)?;
    let (info_hash, info_hash_v2) = identities(&info, info_raw, sha1);
    let piece_layers = match (info_hash_v2, root.get_dict(b"piece layers")) {
        (Some(_), Some(d)) => v2::piece_layers(d, &info.files, info.piece_length)?,
        _ => Default::default(),
    };
    Ok(Metainfo {
        info_hash,
        info_hash_v2,
        piece_layers,
        info,
        info_bytes: info_raw.to_vec(),
        trackers: trackers(root),
        url_list: url_list(root),
        comment: text(root, b"comment.utf-8").or_else(|| text(root, b"comment")),
        created_by: text(root, b"created by"),
        creation_date: root.get_int(b"creation date").filter(|&d| d >= 0),
    })
}

/// The swarm identity and the v2 hash of an info dictionary: SHA-1 for
/// v1 and hybrid torrents, the SHA-256 truncated for v2-only ones.
pub(super) fn identities(info: &Info, raw: &[u8], sha1: InfoHash) -> (InfoHash, Option<Hash32>) {
    use sha2::Digest as _;
    if info.version == Version::V1 {
        return (sha1, None);
    }
    let v2: Hash32 = sha2::Sha256::digest(raw).into();
    let id = match info.version {
        Version::V2 => InfoHash::from_slice(&v2[..20]).unwrap_or(sha1),
        _ => sha1,
    };
    (id, Some(v2))
}

fn parse_info(info: &Dict<'_>, raw: &[u8], hash: InfoHash) -> Result<Info, MetainfoError> {
    let version = info.get_int(b"meta version").unwrap_or(-1);
    if version > 0 {
        if bencode::decode_lenient(raw, TORRENT_LIMITS)?.non_canonical {
            return Err(MetainfoError::NonCanonicalInfo);
        }
        if version > 2 {
            return Err(MetainfoError::UnknownVersion(version));
        }
    }
    let piece_length = info.get_int(b"piece length").unwrap_or(-1);
    if piece_length <= 0 || piece_length > MAX_PIECE_LENGTH {
        return Err(MetainfoError::PieceLength);
    }
    if version > 1 && (piece_length < 16 * 1024 || piece_length & (piece_length - 1) != 0) {
        return Err(MetainfoError::PieceLength);
    }
    let name_raw = info
        .get_bytes(b"name.utf-8")
        .or_else(|| info.get_bytes(b"name"))
        .ok_or(MetainfoError::MissingName)?;
    let tree = info.get_dict(b"file tree");
    match (version >= 2, tree.is_some()) {
        (true, false) => return Err(MetainfoError::MissingFileTree),
        (false, true) => return Err(MetainfoError::FileTreeWithoutVersion),
        _ => {}
    }
    let dir_name = sanitize_element(name_raw).unwrap_or_else(|| {
        match version >= 2 && info.get(b"pieces").is_none() {
            // libtorrent names a nameless v2-only torrent by its v2 hash.
            true => {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(raw))
            }
            false => hash.to_hex(),
        }
    });
    let has_files = info.get_list(b"files").is_some();
    let piece_length_u = piece_length as u64;
    let tree = match tree {
        Some(t) if version >= 2 => Some(v2::walk(t, piece_length_u, has_files)?),
        _ => None,
    };
    if let Some(tree) = tree
        .as_ref()
        .filter(|_| !has_files && info.get(b"length").is_none())
    {
        // v2 only: the tree is the file list.
        return v2_only(info, tree, dir_name, piece_length as u32);
    }

    let mut total: u64 = 0;
    let (name, mut files, multi_file) = match info.get_list(b"files") {
        None => {
            let (name, file) = single_file(info)?;
            add_length(&mut total, file.length)?;
            (name, vec![file], false)
        }
        Some(list) => {
            let mut files = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let file = list_file(v, i, &dir_name)?;
                add_length(&mut total, file.length)?;
                files.push(file);
            }
            if files.is_empty() {
                return Err(MetainfoError::NoFiles);
            }
            (dir_name, files, true)
        }
    };

    let hybrid = tree.is_some();
    if let Some(tree) = tree {
        hybrid::check(tree, &mut files, multi_file)?;
    }
    if total / piece_length_u >= i32::MAX as u64 {
        return Err(MetainfoError::TooManyPieces(total / piece_length_u));
    }
    let num_pieces = total.div_ceil(piece_length_u);
    if num_pieces >= (i32::MAX / 20) as u64 || num_pieces > MAX_PIECES {
        return Err(MetainfoError::TooManyPieces(num_pieces));
    }
    let pieces = info
        .get_bytes(b"pieces")
        .ok_or(MetainfoError::MissingPieces)?;
    if pieces.len() as u64 != num_pieces * 20 {
        return Err(MetainfoError::PiecesLength {
            got: pieces.len(),
            expected: num_pieces * 20,
        });
    }
    let piece_hashes = pieces
        .chunks_exact(20)
        .filter_map(|c| <[u8; 20]>::try_from(c).ok())
        .collect();
    let private = info.get_int(b"private").unwrap_or(0) != 0;
    if total == 0 {
        return Err(MetainfoError::EmptyTorrent);
    }
    if multi_file {
        resolve_duplicates(&name, &mut files);
    }
    Ok(Info {
        name,
        piece_length: piece_length as u32,
        piece_hashes,
        files,
        private,
        multi_file,
        version: if hybrid { Version::Hybrid } else { Version::V1 },
    })
}

/// A v2-only torrent: the tree's files (pad files included) are the
/// torrent's; there are no SHA-1 piece hashes.
fn v2_only(
    info: &Dict<'_>,
    tree: &v2::Tree,
    dir_name: String,
    piece_length: u32,
) -> Result<Info, MetainfoError> {
    let mut files = tree.files.clone();
    if files.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    let total = tree.total;
    if total == 0 {
        return Err(MetainfoError::EmptyTorrent);
    }
    let pl = u64::from(piece_length);
    if total / pl >= i32::MAX as u64 {
        return Err(MetainfoError::TooManyPieces(total / pl));
    }
    let num_pieces = total.div_ceil(pl);
    if num_pieces >= (i32::MAX / 20) as u64 || num_pieces > MAX_PIECES {
        return Err(MetainfoError::TooManyPieces(num_pieces));
    }
    let (name, multi_file) = if tree.single {
        // The file's own name from the tree, as libtorrent saves it.
        let name = files
            .first()
            .and_then(|f| f.path.last().cloned())
            .unwrap_or_else(|| dir_name.clone());
        (name, false)
    } else {
        (dir_name, true)
    };
    if multi_file {
        resolve_duplicates(&name, &mut files);
    }
    Ok(Info {
        name,
        piece_length,
        piece_hashes: Vec::new(),
        files,
        private: info.get_int(b"private").unwrap_or(0) != 0,
        multi_file,
        version: Version::V2,
    })
}

fn add_length(total: &mut u64, length: u64) -> Result<(), MetainfoError> {
    if MAX_TOTAL_SIZE - *total < length {
        return Err(MetainfoError::TotalTooLarge);
    }
    *total += length;
    Ok(())
}

/// BEP 47 attributes.
struct Attrs {
    symlink: bool,
    pad: bool,
    executable: bool,
    hidden: bool,
}

fn attrs(d: &Dict<'_>) -> Attrs {
    let a = d.get_bytes(b"attr").unwrap_or_default();
    Attrs {
        symlink: a.contains(&b'l'),
        pad: a.contains(&b'p'),
        executable: a.contains(&b'x'),
        hidden: a.contains(&b'h'),
    }
}

/// A symlink's target below the torrent's folder: its elements sanitized
/// as a file's path is (`..` and `.` dropped, so it cannot leave the
/// folder); None when nothing is left.
fn symlink_target(d: &Dict<'_>, attrs: &Attrs) -> Option<Vec<String>> {
    if !attrs.symlink {
        return None;
    }
    let target: Vec<String> = d
        .get_list(b"symlink path")?
        .iter()
        .filter_map(|e| e.as_bytes())
        .filter_map(sanitize_element)
        .collect();
    (!target.is_empty()).then_some(target)
}

/// A file's length, with libtorrent's limits; symlinks take no space.
fn file_length(
    d: &Dict<'_>,
    symlink: bool,
    what: impl Fn() -> String,
) -> Result<u64, MetainfoError> {
    let size = if symlink {
        0
    } else {
        d.get_int(b"length").unwrap_or(-1)
    };
    if size < 0 || size / (16 * 1024) >= (i32::MAX / 2) as i64 || size > MAX_FILE_SIZE {
        return Err(MetainfoError::FileLength(what()));
    }
    Ok(size as u64)
}

/// A symlink's target must be a list of strings if present (libtorrent
/// refuses the torrent otherwise); riffle does not create symlinks.
fn check_symlink_path(d: &Dict<'_>, attrs: &Attrs, index: usize) -> Result<(), MetainfoError> {
    if !attrs.symlink {
        return Ok(());
    }
    match d.get_list(b"symlink path") {
        Some(l) if l.iter().any(|e| e.as_bytes().is_none()) => {
            Err(MetainfoError::PathNotString(index))
        }
        _ => Ok(()),
    }
}

/// The file of a single-file torrent, described by `info` itself.
fn single_file(info: &Dict<'_>) -> Result<(String, FileEntry), MetainfoError> {
    let a = attrs(info);
    let length = file_length(info, a.symlink, || "info".to_owned())?;
    let raw = info
        .get_bytes(b"name.utf-8")
        .or_else(|| info.get_bytes(b"name"))
        .ok_or(MetainfoError::MissingName)?;
    if raw.is_empty() {
        return Err(MetainfoError::MissingName);
    }
    let name = sanitize_element(raw).ok_or(MetainfoError::EmptyName)?;
    check_symlink_path(info, &a, 0)?;
    let pad = a.pad || name.contains(BITCOMET_PAD);
    let file = FileEntry {
        path: vec![name.clone()],
        length,
        pad,
        executable: a.executable,
        hidden: a.hidden,
        // A single-file torrent has no folder for a link to point into.
        symlink: None,
        pieces_root: None,
    };
    Ok((name, file))
}

/// One entry of `info.files`.
fn list_file(v: &Value<'_>, index: usize, dir_name: &str) -> Result<FileEntry, MetainfoError> {
    let Value::Dict(d) = v else {
        return Err(MetainfoError::FileNotDictionary(index));
    };
    let a = attrs(d);
    let length = file_length(d, a.symlink, || format!("info.files[{index}]"))?;
    let list = d
        .get_list(b"path.utf-8")
        .or_else(|| d.get_list(b"path"))
        .unwrap_or_default();
    let path = if !list.is_empty() {
        let mut elements = Vec::with_capacity(list.len());
        for e in list {
            elements.push(e.as_bytes().ok_or(MetainfoError::PathNotString(index))?);
        }
        let mut path: Vec<String> = elements.into_iter().filter_map(sanitize_element).collect();
        if path.is_empty() {
            path.push("_".to_owned());
        }
        path
    } else if a.pad {
        Vec::new()
    } else {
        return Err(MetainfoError::MissingPath(index));
    };
    let bitcomet = !path.is_empty()
        && (dir_name.contains(BITCOMET_PAD) || path.iter().any(|c| c.contains(BITCOMET_PAD)));
    check_symlink_path(d, &a, index)?;
    Ok(FileEntry {
        path,
        length,
        pad: a.pad || bitcomet,
        executable: a.executable,
        hidden: a.hidden,
        symlink: symlink_target(d, &a),
        pieces_root: None,
    })
}

/// What occupies a (lower-cased) path while duplicates are resolved.
#[derive(Clone, Copy)]
enum Taken {
    Dir,
    File(usize),
}

/// libtorrent's `resolve_duplicate_filenames`: a file whose path equals
/// (ignoring ASCII case) a directory or an earlier file is renamed to
/// `base.N.ext` with the smallest free N. Pad files of equal length may
/// share a path.
pub(super) fn resolve_duplicates(name: &str, files: &mut [FileEntry]) {
    fn full(name: &str, f: &FileEntry) -> String {
        if f.path.is_empty() {
            format!(".pad/{}", f.length)
        } else {
            format!("{}/{}", name, f.path.join("/"))
        }
    }
    let mut taken: HashMap<String, Taken> = HashMap::new();
    for f in files.iter() {
        let dirs: &[String] = if f.path.is_empty() {
            &[]
        } else {
            f.path.split_last().map(|(_, d)| d).unwrap_or_default()
        };
        let mut dir = name.to_ascii_lowercase();
        taken.insert(dir.clone(), Taken::Dir);
        if f.path.is_empty() {
            taken.insert(format!("{dir}/.pad"), Taken::Dir);
        }
        for d in dirs {
            dir.push('/');
            dir.push_str(&d.to_ascii_lowercase());
            taken.insert(dir.clone(), Taken::Dir);
        }
    }
    for i in 0..files.len() {
        let key = full(name, &files[i]).to_ascii_lowercase();
        match taken.get(&key).copied() {
            None => {
                taken.insert(key, Taken::File(i));
                continue;
            }
            Some(Taken::File(j))
                if files[i].pad && files[j].pad && files[i].length == files[j].length =>
            {
                continue;
            }
            Some(_) => {}
        }
        let Some(leaf) = files[i].path.last().cloned() else {
            continue;
        };
        let (base, ext) = match leaf.rfind('.') {
            Some(dot) => leaf.split_at(dot),
            None => (leaf.as_str(), ""),
        };
        let prefix = full(name, &files[i]);
        let dir_part = prefix
            .get(..prefix.len() - leaf.len())
            .unwrap_or_default()
            .to_owned();
        for n in 1usize.. {
            let new_leaf = format!("{base}.{n}{ext}");
            let new_key = format!("{dir_part}{new_leaf}").to_ascii_lowercase();
            if let std::collections::hash_map::Entry::Vacant(slot) = taken.entry(new_key) {
                slot.insert(Taken::File(i));
                if let Some(leaf) = files[i].path.last_mut() {
                    *leaf = new_leaf;
                }
                break;
            }
        }
    }
}

/// A text field, lossily decoded from UTF-8.
fn text(d: &Dict<'_>, key: &[u8]) -> Option<String> {
    d.get_bytes(key)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// libtorrent's `ltrim`: leading ASCII whitespace removed.
fn ltrim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'))
        .unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

fn url(b: &[u8]) -> Option<String> {
    let t = ltrim(b);
    (!t.is_empty()).then(|| String::from_utf8_lossy(t).into_owned())
}

/// Tracker tiers: `announce-list`, or `announce` if that yields nothing.
fn trackers(root: &Dict<'_>) -> Vec<Vec<String>> {
    let mut tiers: Vec<Vec<String>> = root
        .get_list(b"announce-list")
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_list)
        .map(|tier| {
            tier.iter()
                .filter_map(|u| u.as_bytes().and_then(url))
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect();
    if tiers.is_empty() {
        if let Some(a) = root.get_bytes(b"announce").and_then(url) {
            tiers.push(vec![a]);
        }
    }
    tiers
}

/// BEP 19 web seeds: one string, or a list of strings (duplicates dropped).
fn url_list(root: &Dict<'_>) -> Vec<String> {
    match root.get(b"url-list") {
        Some(Value::Bytes(b)) if !b.is_empty() => vec![String::from_utf8_lossy(b).into_owned()],
        Some(Value::List(l)) => {
            let mut out: Vec<String> = Vec::new();
            for u in l
                .iter()
                .filter_map(Value::as_bytes)
                .filter(|b| !b.is_empty())
            {
                let u = String::from_utf8_lossy(u).into_owned();
                if !out.contains(&u) {
                    out.push(u);
                }
            }
            out
        }
        _ => Vec::new(),
    }
}
