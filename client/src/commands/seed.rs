//! `riffle seed`: check a torrent's data on disk and serve it until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_client::engine::{SessionConfig, TorrentOptions};

use super::run::{parse_listen, parse_peer, parse_rate, run, Plan};

/// Arguments of `riffle seed`.
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The .torrent file.
    #[arg(value_name = "TORRENT")]
    torrent: PathBuf,
    /// Directory holding the data: DIR/<name> (a file, or a folder for a
    /// multi-file torrent). Every piece must verify.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Address to accept peers on [default: 0.0.0.0:6881, or the next free
    /// port].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// Dial this peer (repeatable), re-dialled with backoff: for clients
    /// that cannot find us through a tracker.
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = parse_peer)]
    peers: Vec<SocketAddr>,
    /// Upload limit: bytes/s, or with a unit (500k, 10MB, 2MiB); 0 =
    /// unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_upload_rate: u64,
}

/// Run `riffle seed`.
pub fn run_seed(args: SeedArgs) -> Result<()> {
    let mut session = SessionConfig::default();
    if let Some(l) = args.listen {
        session.listen = l;
    }
    session.max_upload_rate = args.max_upload_rate;
    let mut options = TorrentOptions::new(args.data);
    options.peers = args.peers;
    options.seed = true;
    options.require_complete = true;
    run(Plan {
        torrents: vec![args.torrent],
        options,
        session,
        seeding_only: true,
    })
}
