//! Reading a `.torrent` file from disk, or fetching one for a magnet
//! link.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use riffle_client::engine::Session;
use riffle_protocol::magnet::Magnet;
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

/// A torrent as named on the command line: a `.torrent` file or a magnet
/// link.
#[derive(Clone, Debug)]
pub enum TorrentArg {
    /// A `.torrent` on disk.
    File(PathBuf),
    /// A magnet link (the metadata comes from peers).
    Magnet(Magnet),
}

/// clap's parser for a TORRENT argument.
pub fn parse_torrent_arg(text: &str) -> std::result::Result<TorrentArg, String> {
    if text
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
    {
        Magnet::parse(text)
            .map(TorrentArg::Magnet)
            .map_err(|e| format!("{text:?} is not a usable magnet link: {e}"))
    } else {
        Ok(TorrentArg::File(PathBuf::from(text)))
    }
}

/// How long a magnet link's metadata is looked for.
pub const METADATA_LIMIT: Duration = Duration::from_secs(300);

/// The torrent of `magnet`: from `cache` (`DIR/<info-hash>.torrent`, kept
/// from an earlier fetch) if it is there, else fetched from its peers, its
/// trackers, the DHT and `extra` through `session` and written to `cache`
/// and to `save`.
/// Progress goes to stderr.
pub async fn resolve_magnet(
    session: &Session,
    magnet: &Magnet,
    extra: &[std::net::SocketAddr],
    cache: Option<&Path>,
    save: Option<&Path>,
) -> Result<Metainfo> {
    let hash = magnet.info_hash;
    let cached = cache.map(|d| d.join(format!("{}.torrent", hash.to_hex())));
    if let Some(path) = &cached {
        if let Ok(meta) = load_torrent(&path.to_path_buf()) {
            if meta.info_hash == hash {
                tracing::info!(path = %path.display(), "metadata from an earlier fetch");
                if let Some(s) = save {
                    write_torrent(s, &std::fs::read(path)?)?;
                }
                return Ok(meta);
            }
        }
    }
    let name = magnet.display_name.clone().unwrap_or_else(|| hash.to_hex());
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_message(format!("{name}: fetching metadata"));
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    eprintln!("{name}: fetching metadata for {} from peers", hash.to_hex());
    let info = session
        .fetch_metadata(magnet, extra, METADATA_LIMIT, |tried, got| {
            if let Some(b) = &bar {
                b.set_message(format!(
                    "{name}: fetching metadata ({tried} peers tried, {:.0}%)",
                    got * 100.0
                ));
            }
        })
        .await
        .map_err(|e| crate::runner::RuntimeFailure(format!("{name}: {e}")))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let bytes = riffle_protocol::metadata::torrent_from_info(&info, &magnet.trackers);
    let meta = Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{name}: the fetched metadata is not a valid torrent"))?;
    tracing::debug!(bytes = info.len(), "metadata fetched");
    eprintln!(
        "{}: metadata fetched ({} bytes)",
        meta.info.name,
        info.len()
    );
    if let Some(path) = &cached {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_torrent(path, &bytes)?;
    }
    if let Some(s) = save {
        write_torrent(s, &bytes)?;
    }
    Ok(meta)
}

/// Write `bytes` to `path` atomically.
fn write_torrent(path: &Path, bytes: &[u8]) -> Result<()> {
    riffle_storage::write_atomically(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
