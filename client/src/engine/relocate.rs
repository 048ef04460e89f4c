//! Moving a stopped torrent's data to another directory: exactly the files
//! of its layout, renamed when both directories are on one filesystem,
//! copied then removed otherwise, with their modification times kept so
//! the resume record still vouches for them (no re-hash after a move).
//! The directories the move leaves empty are removed; nothing else is
//! touched, and an existing file at the destination is never overwritten.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use riffle_protocol::metainfo::Metainfo;
use thiserror::Error;

use super::remove::{layout_paths, DeleteError};

/// Why the data could not all be moved.
#[derive(Debug, Error)]
pub enum MoveError {
    /// A path in the torrent is not a plain name: nothing was moved.
    #[error(transparent)]
    UnsafePath(#[from] DeleteError),
    /// The destination already holds a file of the torrent.
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    /// A file system operation failed (files moved before it stay moved).
    #[error("cannot move {}: {source}", path.display())]
    Io {
        /// The path it failed on.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MoveError + '_ {
    move |source| MoveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Move the files of `meta` found under `from` to the same places under
/// `to`; returns how many files moved (files absent under `from` are
/// skipped: they were never downloaded).
pub fn move_torrent_data(meta: &Metainfo, from: &Path, to: &Path) -> Result<usize, MoveError> {
    if from == to {
        return Ok(0);
    }
    let sources = layout_paths(meta, from)?;
    let targets = layout_paths(meta, to)?;
    // Refuse before moving anything if the destination is taken.
    for (src, dst) in sources.iter().zip(&targets) {
        if src.exists() && dst.symlink_metadata().is_ok() {
            return Err(MoveError::Exists(dst.clone()));
        }
    }
    let mut moved = 0;
    let mut dirs = BTreeSet::new();
    for (src, dst) in sources.iter().zip(&targets) {
        let meta_src = match std::fs::metadata(src) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io(src)(e)),
        };
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        match std::fs::rename(src, dst) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::CrossesDevices => {
                copy_keeping_mtime(src, dst, &meta_src)?;
                std::fs::remove_file(src).map_err(io(src))?;
            }
            Err(e) => return Err(io(src)(e)),
        }
        moved += 1;
        let mut dir = src.parent();
        while let Some(d) = dir {
            if d == from || !d.starts_with(from) {
                break;
            }
            dirs.insert(d.to_path_buf());
            dir = d.parent();
        }
    }
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(moved)
}

/// Copy `src` to `dst` (a new file) and give it `src`'s modification time.
fn copy_keeping_mtime(src: &Path, dst: &Path, meta: &std::fs::Metadata) -> Result<(), MoveError> {
    std::fs::copy(src, dst).map_err(io(src))?;
    let mtime = meta.modified().map_err(io(src))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dst)
        .map_err(io(dst))?;
    file.set_modified(mtime).map_err(io(dst))?;
    file.sync_all().map_err(io(dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_protocol::metainfo::TorrentBuilder;

    fn two_files() -> Metainfo {
        let mut b = TorrentBuilder::new("album".into(), 16384);
        b.file(vec!["a.bin".into()], 3);
        b.file(vec!["sub".into(), "b.bin".into()], 4);
        b.piece_hashes(vec![[0; 20]]);
        let (bytes, _) = b.build().unwrap();
        Metainfo::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn moves_the_layout_keeps_mtimes_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("old"), dir.path().join("new"));
        std::fs::create_dir_all(from.join("album/sub")).unwrap();
        std::fs::write(from.join("album/a.bin"), b"abc").unwrap();
        std::fs::write(from.join("album/sub/b.bin"), b"defg").unwrap();
        std::fs::write(from.join("album/mine.txt"), b"keep").unwrap();
        let before = std::fs::metadata(from.join("album/sub/b.bin"))
            .unwrap()
            .modified()
            .unwrap();
        let meta = two_files();
        assert_eq!(move_torrent_data(&meta, &from, &to).unwrap(), 2);
        assert_eq!(std::fs::read(to.join("album/a.bin")).unwrap(), b"abc");
        assert_eq!(std::fs::read(to.join("album/sub/b.bin")).unwrap(), b"defg");
        let after = std::fs::metadata(to.join("album/sub/b.bin"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
        assert!(!from.join("album/sub").exists(), "emptied dir removed");
        assert!(from.join("album/mine.txt").exists(), "foreign file kept");
        // Moving back onto an occupied place is refused before anything moves.
        std::fs::create_dir_all(from.join("album/sub")).unwrap();
        std::fs::write(from.join("album/sub/b.bin"), b"other").unwrap();
        assert!(matches!(
            move_torrent_data(&meta, &to, &from),
            Err(MoveError::Exists(_))
        ));
        assert!(to.join("album/a.bin").exists());
    }

    #[test]
    fn a_copy_keeps_the_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("s"), dir.path().join("d"));
        std::fs::write(&src, b"data").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let meta = std::fs::metadata(&src).unwrap();
        copy_keeping_mtime(&src, &dst, &meta).unwrap();
        assert_eq!(std::fs::metadata(&dst).unwrap().modified().unwrap(), old);
    }
}
