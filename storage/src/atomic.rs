//! Replacing a small file so that a crash at any moment leaves either the
//! old contents or the new, never a mix: write a temporary file beside it,
//! flush it to disk, rename it over the target, then flush the directory
//! so the rename itself survives a power cut.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::StorageError;

/// Replace `path` with `bytes` atomically and durably (see the module
/// doc). The directory must exist.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".riffle-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| StorageError::io(dir, e))?;
    let tmp_path = tmp.path().to_owned();
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| StorageError::io(&tmp_path, e))?;
    // On failure the temporary file is removed when `tmp` drops.
    tmp.persist(path)
        .map_err(|e| StorageError::io(path, e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert!(write_atomically(&dir.path().join("no/such/dir/x"), b"x").is_err());
    }
}
