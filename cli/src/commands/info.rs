//! `riffle info`: print what a .torrent file holds.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use riffle_protocol::magnet::Magnet;
use riffle_protocol::metainfo::Metainfo;
use serde::Serialize;

/// Largest .torrent accepted. Real ones are a few MiB at most; this keeps a
/// wrong path (a disk image, say) from being read into memory.
const MAX_TORRENT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The .torrent file to read.
    torrent: PathBuf,
    /// Print one JSON object instead of a human-readable summary.
    #[arg(long)]
    json: bool,
}

/// The JSON shape of `riffle info --json` (a contract scripts rely on).
#[derive(Serialize)]
struct InfoJson<'a> {
    name: &'a str,
    info_hash: String,
    total_length: u64,
    piece_length: u32,
    piece_count: u32,
    private: bool,
    files: Vec<FileJson>,
    trackers: &'a [Vec<String>],
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    length: u64,
}

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

pub fn run(args: InfoArgs) -> Result<()> {
    let meta = load_torrent(&args.torrent)?;
    let info = &meta.info;
    let files: Vec<FileJson> = info
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.pad)
        .map(|(i, f)| FileJson {
            path: info.file_path(i).join("/"),
            length: f.length,
        })
        .collect();
    if args.json {
        let out = InfoJson {
            name: &info.name,
            info_hash: meta.info_hash.to_hex(),
            total_length: info.total_length(),
            piece_length: info.piece_length,
            piece_count: info.piece_count(),
            private: info.private,
            files,
            trackers: &meta.trackers,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("name:         {}", info.name);
    println!("info hash:    {}", meta.info_hash);
    println!(
        "size:         {} ({} bytes)",
        human_bytes(info.total_length()),
        info.total_length()
    );
    println!(
        "pieces:       {} x {}",
        info.piece_count(),
        human_bytes(u64::from(info.piece_length))
    );
    println!("private:      {}", if info.private { "yes" } else { "no" });
    if let Some(c) = &meta.comment {
        println!("comment:      {c}");
    }
    if let Some(c) = &meta.created_by {
        println!("created by:   {c}");
    }
    if meta.trackers.is_empty() {
        println!("trackers:     none (trackerless)");
    }
    for (i, tier) in meta.trackers.iter().enumerate() {
        println!("tier {i}:       {}", tier.join(" "));
    }
    let magnet = Magnet {
        info_hash: meta.info_hash,
        display_name: Some(info.name.clone()),
        trackers: meta.trackers.iter().flatten().cloned().collect(),
        peers: Vec::new(),
    };
    println!("magnet:       {}", magnet.to_uri());
    println!("files:        {}", files.len());
    for f in &files {
        println!("  {:>12}  {}", human_bytes(f.length), f.path);
    }
    Ok(())
}

/// Bytes in binary units, e.g. "64.0 MiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
