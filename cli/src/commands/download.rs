//! `riffle download`: fetch one or more torrents into a directory, then
//! exit (or keep seeding with `--seed`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_client::engine::{SessionConfig, TorrentOptions};

use crate::flags::peer::PeerFlags;
use crate::runner::{run, Plan};
use crate::torrent_file::{parse_torrent_arg, TorrentArg};
use crate::units::parse_rate;

/// Arguments of `riffle download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// The .torrent file(s) or magnet link(s); several run at once in one
    /// session. A magnet link's metadata comes from its peers (x.pe), its
    /// trackers (tr) and is kept in DIR/.riffle/ for the next run.
    #[arg(required = true, value_name = "TORRENT", value_parser = parse_torrent_arg)]
    torrents: Vec<TorrentArg>,
    /// Write a magnet link's fetched metadata to this .torrent file.
    #[arg(long, value_name = "FILE")]
    save_torrent: Option<PathBuf>,
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
    args.peer.apply(&mut session, &mut options)?;
    session.max_download_rate = args.max_download_rate;
    options.seed = args.seed;
    run(Plan {
        torrents: args.torrents,
        save_torrent: args.save_torrent,
        options,
        session,
        seeding_only: false,
    })
}
