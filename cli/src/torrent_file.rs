//! Reading a `.torrent` file from disk.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use riffle_protocol::metainfo::Metainfo;

/// Largest .torrent accepted. Real ones are a few MiB at most; this keeps a
/// wrong path (a disk image, say) from being read into memory.
const MAX_TORRENT_BYTES: u64 = 64 * 1024 * 1024;

/// Read and parse a .torrent file, with a size cap.
pub fn load_torrent(path: &PathBuf) -> Result<Metainfo> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut data = Vec::new();
    file.take(MAX_TORRENT_BYTES + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() as u64 > MAX_TORRENT_BYTES {
        anyhow::bail!(
            "{} is larger than {} MiB: not a .torrent file",
            path.display(),
            MAX_TORRENT_BYTES >> 20
        );
    }
    Metainfo::from_bytes(&data)
        .with_context(|| format!("{} is not a valid .torrent", path.display()))
}
