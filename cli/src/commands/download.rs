//! `riffle download`: fetch one or more torrents into a directory, then
//! exit (or keep seeding with `--seed`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_client::engine::{SessionConfig, TorrentOptions};

use crate::flags::peer::PeerFlags;
use crate::runner::{run, Plan};
use crate::units::parse_rate;

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
    #[command(flatten)]
    peer: PeerFlags,
    /// Keep seeding once complete, until SIGINT/SIGTERM.
    #[arg(long)]
    seed: bool,
    /// Session download limit: bytes/s, or with a unit (500k, 10MB, 2MiB);
    /// 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_download_rate: u64,
}

/// Run `riffle download`.
pub fn run_download(args: DownloadArgs) -> Result<()> {
    let mut session = SessionConfig::default();
    let mut options = TorrentOptions::new(args.output);
    args.peer.apply(&mut session, &mut options);
    session.max_download_rate = args.max_download_rate;
    options.seed = args.seed;
    run(Plan {
        torrents: args.torrents,
        options,
        session,
        seeding_only: false,
    })
}
