//! `riffle info`: print what a .torrent file holds.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_protocol::magnet::Magnet;
use serde::Serialize;

use crate::output::human_bytes;
use crate::torrent_file::load_torrent;

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
