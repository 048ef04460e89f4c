//! `riffle info`: print what a .torrent file holds.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use riffle_client::engine::{Session, SessionConfig};
use riffle_protocol::magnet::Magnet;
use serde::Serialize;

use crate::output::human_bytes;
use crate::torrent_file::{load_torrent, parse_torrent_arg, resolve_magnet, TorrentArg};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The .torrent file to read, or a magnet link (its metadata is
    /// fetched from its peers and trackers).
    #[arg(value_name = "TORRENT", value_parser = parse_torrent_arg)]
    torrent: TorrentArg,
    /// Write the torrent (a magnet link's fetched metadata) to this file.
    #[arg(long, value_name = "FILE")]
    save_torrent: Option<PathBuf>,
    /// Print one JSON object instead of a human-readable summary.
    #[arg(long)]
    json: bool,
    /// The DHT, for a magnet link's peers.
    #[command(flatten)]
    dht: crate::flags::dht::DhtFlags,
}

/// The JSON shape of `riffle info --json` (a contract scripts rely on).
#[derive(Serialize)]
struct InfoJson<'a> {
    name: &'a str,
    /// "v1", "hybrid" or "v2".
    format: &'static str,
    /// The swarm identity: v1 SHA-1, or a v2-only torrent's truncated
    /// SHA-256.
    info_hash: String,
    /// The full v2 SHA-256 (hybrid and v2 torrents), else null.
    info_hash_v2: Option<String>,
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
    let meta = match &args.torrent {
        TorrentArg::File(path) => {
            let meta = load_torrent(path)?;
            if let Some(save) = &args.save_torrent {
                std::fs::copy(path, save)
                    .with_context(|| format!("cannot write {}", save.display()))?;
            }
            meta
        }
        TorrentArg::Magnet(magnet) => {
            let runtime = super::runtime("riffle")?;
            runtime.block_on(async {
                let config = SessionConfig {
                    // Any free port: `info` is not a client others dial.
                    listen: "0.0.0.0:0".parse().expect("an address"),
                    dht: args.dht.config(crate::flags::dht::client_state_file()),
                    ..SessionConfig::default()
                };
                let session = Session::start(config)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
                let meta =
                    resolve_magnet(&session, magnet, &[], None, args.save_torrent.as_deref()).await;
                session.shutdown().await;
                meta
            })?
        }
    };
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
            format: format_name(info.version),
            info_hash: meta.info_hash.to_hex(),
            info_hash_v2: meta.info_hash_v2.map(hex::encode),
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
    println!("format:       {}", format_name(info.version));
    println!("info hash:    {}", meta.info_hash);
    if let Some(v2) = meta.info_hash_v2 {
        println!("info hash v2: {}", hex::encode(v2));
    }
    let payload: u64 = info.files.iter().filter(|f| !f.pad).map(|f| f.length).sum();
    if payload == info.total_length() {
        println!("size:         {} ({payload} bytes)", human_bytes(payload));
    } else {
        // BEP 47 padding counts in the pieces, not on disk.
        println!(
            "size:         {} ({payload} bytes; {} with padding)",
            human_bytes(payload),
            human_bytes(info.total_length())
        );
    }
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
        info_hash_v2: meta.info_hash_v2,
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

/// How `info` names a torrent's format.
fn format_name(v: riffle_protocol::metainfo::Version) -> &'static str {
    use riffle_protocol::metainfo::Version;
    match v {
        Version::V1 => "v1",
        Version::Hybrid => "hybrid",
        Version::V2 => "v2",
    }
}
