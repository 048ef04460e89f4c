//! `riffle download`: fetch one or more torrents into a directory, then
//! exit (or keep seeding with `--seed`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_client::engine::{SessionConfig, TorrentOptions};

use super::run::{parse_listen, parse_peer, parse_rate, run, Plan};

/// Arguments of `riffle download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// The .torrent file(s); several run at once in one session.
    #[arg(required = true, value_name = "TORRENT")]
    torrents: Vec<PathBuf>,
    /// Directory to save into: a single-file torrent becomes DIR/<name>, a
    /// multi-file one the folder DIR/<name>/.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// Address to accept peers on [default: 0.0.0.0:6881, or the next free
    /// port].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// Dial this peer directly (repeatable); it is re-dialled with backoff
    /// if it drops. Works with or without a tracker.
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = parse_peer)]
    peers: Vec<SocketAddr>,
    /// Keep seeding once complete, until SIGINT/SIGTERM.
    #[arg(long)]
    seed: bool,
    /// Session download limit: bytes/s, or with a unit (500k, 10MB, 2MiB);
    /// 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_download_rate: u64,
    /// Session upload limit (same units); 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_upload_rate: u64,
}

/// Run `riffle download`.
pub fn run_download(args: DownloadArgs) -> Result<()> {
    let mut session = SessionConfig::default();
    if let Some(l) = args.listen {
        session.listen = l;
    }
    session.max_download_rate = args.max_download_rate;
    session.max_upload_rate = args.max_upload_rate;
    let mut options = TorrentOptions::new(args.output);
    options.peers = args.peers;
    options.seed = args.seed;
    run(Plan {
        torrents: args.torrents,
        options,
        session,
        seeding_only: false,
    })
}
