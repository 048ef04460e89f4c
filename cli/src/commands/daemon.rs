//! `riffle daemon`: the seedbox — riffle-daemon's manager behind
//! Transmission's RPC, until SIGTERM, SIGINT or `session-close`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use riffle_client::engine::SessionConfig;
use riffle_daemon::config::{resolve, FileConfig, Flags, Xdg};
use riffle_daemon::Daemon;

use crate::flags::peer::parse_listen;

/// Arguments of `riffle daemon`; flags win over the config file.
#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// The config file [default: $XDG_CONFIG_HOME/riffle/config.toml, if
    /// present]. Every key is in docs/daemon.md.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where torrents, their settings and resume data are kept [default:
    /// $XDG_STATE_HOME/riffle].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Where torrents are saved unless told otherwise [default:
    /// ~/Downloads].
    #[arg(long, value_name = "DIR")]
    download_dir: Option<PathBuf>,
    /// Address of Transmission's RPC and web interface [default:
    /// 127.0.0.1:9091].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    rpc_listen: Option<SocketAddr>,
    /// Address to accept peers on [default: 0.0.0.0:51413].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// Add every .torrent dropped into this folder.
    #[arg(long, value_name = "DIR")]
    watch_dir: Option<PathBuf>,
    /// Serve this directory's web interface at /transmission/web/
    /// (Transmission's: /usr/share/transmission/web).
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// The DHT (on unless `dht = false` in the config file).
    #[command(flatten)]
    dht: crate::flags::dht::DhtFlags,
}

/// Run `riffle daemon`.
pub fn run(args: DaemonArgs) -> Result<()> {
    let xdg = Xdg::from_env();
    let file = match &args.config {
        Some(path) => FileConfig::load(path, true)?,
        None => FileConfig::load(&xdg.config_file(), false)?,
    };
    let flags = Flags {
        state_dir: args.state_dir,
        download_dir: args.download_dir,
        listen: args.listen,
        rpc_listen: args.rpc_listen,
        watch_dir: args.watch_dir,
        web_root: args.web_root,
        no_dht: args.dht.no_dht,
        dht_bootstrap: args.dht.bootstrap,
    };
    let config = resolve(file, flags, &xdg)?;
    super::raise_fd_limit();
    let runtime = super::runtime("riffle")?;
    runtime.block_on(async move {
        let daemon = Daemon::start(config, SessionConfig::default())
            .await
            .context("cannot start the daemon")?;
        println!("rpc listening on {}", daemon.rpc_addr());
        println!("listening on {}", daemon.listen_addr());
        let _ = std::io::stdout().flush();
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
            _ = daemon.closed() => tracing::info!("session-close asked for"),
        }
        tracing::info!("stopping");
        daemon.shutdown().await;
        anyhow::Ok(())
    })
}
