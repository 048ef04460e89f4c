//! `riffle create`: make a .torrent from a file or a folder, hashing pieces
//! in parallel on every core (riffle-storage's `Source`) and building it
//! with riffle-protocol's `TorrentBuilder`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use riffle_protocol::metainfo::{default_piece_length, TorrentBuilder, Version};
use riffle_storage::Source;

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
    /// BitTorrent v1 (BEP 3), v2 (BEP 52) or hybrid: both (pad files align
    /// each file to a piece), as qBittorrent and libtorrent make by
    /// default. Some v1 clients cannot open hybrids (Transmission 3,
    /// aria2 1.36): v1 is for them.
    #[arg(long, value_enum, default_value_t = Format::Hybrid)]
    format: Format,
}

/// `--format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    V1,
    Hybrid,
    V2,
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

pub fn run(args: CreateArgs) -> Result<()> {
    // An earlier .torrent written into the folder is not part of it.
    let source = Source::scan(&args.path, Some(&args.output))?;
    for link in &source.skipped_links {
        tracing::warn!(path = %link.display(), "skipping symbolic link");
    }
    let tiers = tracker_tiers(&args.trackers)?;
    let total = source.total_length();
    let piece_length = args
        .piece_length
        .unwrap_or_else(|| default_piece_length(total));
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (v1, v2) = match args.format {
        Format::V1 => (true, false),
        Format::Hybrid => (true, true),
        Format::V2 => (false, true),
    };
    let hashes = source.hash(piece_length, v1, v2, workers, &|n| bar.inc(n))?;
    bar.finish_and_clear();

    let mut builder = TorrentBuilder::new(source.name.clone(), piece_length);
    if source.single {
        builder.single_file(total);
    } else {
        for f in &source.files {
            builder.file(f.components.clone(), f.length);
        }
    }
    let version = match args.format {
        Format::V1 => Version::V1,
        Format::Hybrid => Version::Hybrid,
        Format::V2 => Version::V2,
    };
    if version != Version::V1 {
        builder.v2(version, hashes.v2);
    }
    builder
        .piece_hashes(hashes.sha1)
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

/// `--tracker` values as tiers: each a comma-separated list of http,
/// https or udp URLs.
fn tracker_tiers(flags: &[String]) -> Result<Vec<Vec<String>>> {
    let mut tiers = Vec::new();
    for t in flags {
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
    Ok(tiers)
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
