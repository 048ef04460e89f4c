//! `riffle create`: make a .torrent from a file or a folder, hashing pieces
//! in parallel on every core.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use riffle_protocol::metainfo::{default_piece_length, TorrentBuilder};
use riffle_protocol::PieceIndex;
use riffle_storage::{FsStorage, Layout, Storage, Verifier};

use crate::units::parse_size;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// File or folder to share.
    path: PathBuf,
    /// Where to write the .torrent file.
    #[arg(short, long)]
    output: PathBuf,
    /// Tracker announce URL. Repeat for more tiers; a comma-separated list
    /// forms one tier whose trackers are tried in turn (BEP 12).
    #[arg(short, long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Piece length in bytes (a power of two from 16 KiB to 64 MiB; units
    /// such as 256KiB or 1MiB accepted). Default: chosen from the total size.
    #[arg(long, value_name = "BYTES", value_parser = parse_piece_length)]
    piece_length: Option<u32>,
    /// Mark the torrent private (BEP 27): peers only from its trackers.
    #[arg(long)]
    private: bool,
    /// A free-text comment stored in the torrent.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
}

fn parse_piece_length(s: &str) -> Result<u32, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    if !(16 * 1024..=64 * 1024 * 1024).contains(&n) || !n.is_power_of_two() {
        return Err(format!(
            "{s} is not a power of two between 16 KiB and 64 MiB"
        ));
    }
    Ok(n as u32)
}

/// One file to put in the torrent: its path inside the torrent and its
/// length when listed.
struct Source {
    components: Vec<String>,
    length: u64,
}

pub fn run(args: CreateArgs) -> Result<()> {
    let root = &args.path;
    let meta =
        std::fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
    let canonical =
        std::fs::canonicalize(root).with_context(|| format!("cannot read {}", root.display()))?;
    let name = file_name(&canonical)?;
    let single = meta.is_file();
    let sources = if single {
        vec![Source {
            components: vec![name.clone()],
            length: meta.len(),
        }]
    } else if meta.is_dir() {
        // An earlier .torrent written into the folder is not part of it.
        let output = std::fs::canonicalize(&args.output).ok();
        list_folder(root, output.as_deref())?
    } else {
        bail!("{} is neither a file nor a folder", root.display());
    };
    if sources.is_empty() {
        bail!("{} holds no files to share", root.display());
    }
    let total: u64 = sources.iter().map(|s| s.length).sum();
    if total == 0 {
        bail!(
            "{} holds only empty files: there is nothing to share",
            root.display()
        );
    }
    let piece_length = args
        .piece_length
        .unwrap_or_else(|| default_piece_length(total));
    let mut tiers = Vec::new();
    for t in &args.trackers {
        let tier: Vec<String> = t
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        for u in &tier {
            let parsed =
                url::Url::parse(u).with_context(|| format!("tracker {u:?} is not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https" | "udp") {
                bail!("tracker {u:?}: only http, https and udp trackers are supported");
            }
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }

    let parent = canonical.parent().unwrap_or(Path::new("/"));
    let hashes = hash_pieces(parent, &name, single, &sources, piece_length)?;

    let mut builder = TorrentBuilder::new(name, piece_length);
    if single {
        builder.single_file(total);
    } else {
        for s in &sources {
            builder.file(s.components.clone(), s.length);
        }
    }
    builder
        .piece_hashes(hashes)
        .private(args.private)
        .created_by(format!("riffle {}", env!("CARGO_PKG_VERSION")))
        .creation_date(unix_now());
    if let Some(c) = args.comment {
        builder.comment(c);
    }
    for tier in tiers {
        builder.tracker_tier(tier);
    }
    let (bytes, info_hash) = builder.build().context("cannot build the torrent")?;
    write_atomically(&args.output, &bytes)?;
    println!("{info_hash}  {}", args.output.display());
    Ok(())
}

/// The torrent's name: the last component of the (canonical) path.
fn file_name(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no name to give the torrent", path.display()))?;
    name.to_str()
        .map(String::from)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// Every regular file under `root`, in byte order of their paths (so the
/// same folder always gives the same torrent). Symbolic links are skipped,
/// and so is `skip` (the .torrent being written, if it lies inside).
fn list_folder(root: &Path, skip: Option<&Path>) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        let ft = entry.file_type();
        if ft.is_symlink() {
            tracing::warn!(path = %entry.path().display(), "skipping symbolic link");
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        if skip.is_some() && std::fs::canonicalize(entry.path()).ok().as_deref() == skip {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .context("walked outside the folder")?;
        let components = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_str()
                    .map(String::from)
                    .with_context(|| format!("{} is not valid UTF-8", entry.path().display()))
            })
            .collect::<Result<Vec<_>>>()?;
        let length = entry
            .metadata()
            .with_context(|| format!("cannot read {}", entry.path().display()))?
            .len();
        out.push(Source { components, length });
    }
    Ok(out)
}

/// SHA-1 of every piece, computed by one worker per core over the same
/// storage code that downloads and seeds use (positional reads, no shared
/// file cursor). Each worker claims the next piece index in turn.
fn hash_pieces(
    root: &Path,
    name: &str,
    single: bool,
    sources: &[Source],
    piece_length: u32,
) -> Result<Vec<[u8; 20]>> {
    let layout = Layout::new(sources.iter().map(|s| s.length).collect(), piece_length)
        .context("cannot lay out the pieces")?;
    // On disk, under `root`: the file itself for a single-file torrent, the
    // folder's files below `name` otherwise.
    let paths: Vec<Vec<String>> = if single {
        vec![vec![name.to_owned()]]
    } else {
        sources
            .iter()
            .map(|s| {
                std::iter::once(name.to_owned())
                    .chain(s.components.iter().cloned())
                    .collect()
            })
            .collect()
    };
    let piece_count = layout.piece_count();
    let storage = FsStorage::new(root, layout, &paths).context("cannot open the files")?;
    let bar = ProgressBar::new(storage.layout().total_length()).with_style(
        ProgressStyle::with_template(
            "hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    let next = AtomicU32::new(0);
    let hashes = Mutex::new(vec![[0u8; 20]; piece_count as usize]);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(piece_count as usize);
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut verifier = Verifier::new();
                    loop {
                        let piece = next.fetch_add(1, Ordering::Relaxed);
                        if piece >= piece_count {
                            return Ok(());
                        }
                        let piece = PieceIndex::new(piece);
                        let digest = verifier
                            .hash_piece(&storage, piece)
                            .context("cannot read the files (did they change while hashing?)")?;
                        hashes.lock().expect("hash table lock")[piece.idx()] = digest;
                        bar.inc(u64::from(storage.layout().piece_len(piece)?));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a hashing thread failed"))??;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(hashes.into_inner().expect("hash table lock"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Write through a temporary file and rename, so a failed run never leaves
/// a half-written .torrent behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.riffle-tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("torrent")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
