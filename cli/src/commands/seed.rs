//! `riffle seed`: check a torrent's data on disk and serve it until
//! SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use riffle_client::engine::{SessionConfig, TorrentOptions};

use crate::flags::peer::PeerFlags;
use crate::runner::{run, Plan};

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
    #[command(flatten)]
    peer: PeerFlags,
}

/// Run `riffle seed`.
pub fn run_seed(args: SeedArgs) -> Result<()> {
    let mut session = SessionConfig::default();
    let mut options = TorrentOptions::new(args.data);
    args.peer.apply(&mut session, &mut options)?;
    options.seed = true;
    options.require_complete = true;
    run(Plan {
        torrents: vec![crate::torrent_file::TorrentArg::File(args.torrent)],
        save_torrent: None,
        options,
        session,
        seeding_only: true,
    })
}
