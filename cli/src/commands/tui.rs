//! `riffle tui`: the terminal UI on a local session (the controller
//! between the two is `crate::controller`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use riffle_client::engine::{Session, SessionConfig, TorrentOptions};
use tokio::sync::Mutex;

use crate::controller::{drive, Controller};
use crate::flags::peer::PeerFlags;
use crate::remote::RemoteController;
use crate::torrent_file::load_torrent;

/// Arguments of `riffle tui`.
#[derive(Args, Debug)]
pub struct TuiArgs {
    /// .torrent files to start with (more can be added from the TUI).
    #[arg(value_name = "TORRENT")]
    pub torrents: Vec<PathBuf>,
    /// Directory to save into.
    #[arg(short = 'o', long = "output", value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    #[command(flatten)]
    pub peer: PeerFlags,
    /// Attach to a running daemon through Transmission's RPC instead of
    /// running a session here: a riffle daemon, or any Transmission
    /// daemon (http://[USER:PASS@]HOST:PORT; TORRENT files are sent to it).
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
}

/// Run `riffle tui`.
pub fn run(args: TuiArgs) -> Result<()> {
    if let Some(url) = &args.remote {
        return remote(url, &args.torrents);
    }
    let metas = args
        .torrents
        .iter()
        .map(load_torrent)
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut config = SessionConfig::default();
    let mut options = TorrentOptions::new(&args.output);
    args.peer.apply(&mut config, &mut options)?;
    options.seed = true;
    let runtime = super::runtime("riffle")?;
    let controller = runtime.block_on(async {
        let session = Session::start(config).await.map_err(|e| anyhow!(e))?;
        let mut c = Controller::new(session, options.clone());
        for meta in metas {
            c.add(meta, options.clone())?;
        }
        anyhow::Ok(c)
    })?;
    let controller = Arc::new(Mutex::new(controller));
    let outcome = drive(&runtime, controller.clone(), Duration::from_millis(250));
    runtime.block_on(async move {
        if let Ok(c) = Arc::try_unwrap(controller) {
            c.into_inner().shutdown().await;
        }
    });
    outcome
}

/// The TUI on a remote daemon.
fn remote(url: &str, torrents: &[PathBuf]) -> Result<()> {
    let runtime = super::runtime("riffle")?;
    let controller = runtime.block_on(async {
        let mut c = RemoteController::connect(url).await?;
        for t in torrents {
            c.add_file(t).await?;
        }
        anyhow::Ok(c)
    })?;
    tracing::info!(server = controller.version(), "attached");
    drive(
        &runtime,
        Arc::new(Mutex::new(controller)),
        Duration::from_millis(250),
    )
}
