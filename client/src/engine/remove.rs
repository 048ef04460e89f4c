//! Deleting a removed torrent's data: exactly the files of its layout under
//! its save directory, its resume record, and the directories of that
//! layout left empty — never anything else (a foreign file next to them,
//! a directory still holding something).

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use riffle_protocol::metainfo::Metainfo;
use thiserror::Error;

use super::torrent::resume_path;

/// Why the data could not all be deleted.
#[derive(Debug, Error)]
pub enum DeleteError {
    /// A path in the torrent is not a plain name (`..`, a separator, ...):
    /// nothing was deleted.
    #[error("file {index} of the torrent has an unsafe path component {component:?}")]
    UnsafePath {
        /// Which file of the torrent.
        index: usize,
        /// The offending component.
        component: String,
    },
    /// Deleting a file or directory failed.
    #[error("cannot delete {}: {source}", path.display())]
    Io {
        /// What could not be deleted.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What [`delete_torrent_data`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Files of the layout removed (those absent already are not listed).
    pub files: Vec<PathBuf>,
    /// Directories removed because they were left empty.
    pub dirs: Vec<PathBuf>,
}

/// The full paths of the torrent's files under `save_dir`, refusing any
/// component that could leave it.
pub fn layout_paths(meta: &Metainfo, save_dir: &Path) -> Result<Vec<PathBuf>, DeleteError> {
    (0..meta.info.files.len())
        .map(|i| {
            let components = meta.info.file_path(i);
            if components.is_empty() {
                return Err(DeleteError::UnsafePath {
                    index: i,
                    component: String::new(),
                });
            }
            let mut path = save_dir.to_path_buf();
            for c in components {
                if c.is_empty() || c == "." || c == ".." || c.contains(['/', '\\', '\0']) {
                    return Err(DeleteError::UnsafePath {
                        index: i,
                        component: c,
                    });
                }
                path.push(c);
            }
            Ok(path)
        })
        .collect()
}

/// Delete a (shut down) torrent's data saved under `save_dir`: each file
/// of its layout, its resume record, then every directory between those
/// files and `save_dir` (and the resume directory) that is left empty,
/// deepest first. `save_dir` itself and anything not in the layout are
/// left alone. Files already gone are not an error.
pub fn delete_torrent_data(meta: &Metainfo, save_dir: &Path) -> Result<Deleted, DeleteError> {
    let files = layout_paths(meta, save_dir)?;
    let mut out = Deleted::default();
    let record = resume_path(save_dir, &meta.info_hash);
    let mut dirs = BTreeSet::new();
    for path in files.iter().chain(std::iter::once(&record)) {
        match std::fs::remove_file(path) {
            Ok(()) => {
                if *path != record {
                    out.files.push(path.clone());
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DeleteError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == save_dir || !d.starts_with(save_dir) {
                break;
            }
            dirs.insert(d.to_path_buf());
            dir = d.parent();
        }
    }
    // Deepest first: a child path sorts after its parent.
    for d in dirs.iter().rev() {
        // Fails when not empty (something else lives there) or gone.
        if std::fs::remove_dir(d).is_ok() {
            out.dirs.push(d.clone());
        }
    }
    Ok(out)
}
