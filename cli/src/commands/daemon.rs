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
    /// Rank peers for upload by what their host gave us over every
    /// torrent (config: cross_swarm_credit).
    #[arg(long)]
    cross_swarm_credit: bool,
    /// Split the upload limit between torrents: per-peer, equal or cpm
    /// (config: swarm_allocation).
    #[arg(long, value_name = "MODE", value_parser = parse_allocation)]
    swarm_allocation: Option<riffle_policies::exchange::SwarmAllocation>,
    /// Which waiting seeds the seed queue starts first: queue (its order)
    /// or scarcity (fewest other seeds by tracker scrape first; config:
    /// seed_priority).
    #[arg(long, value_name = "ORDER", value_parser = parse_seed_priority)]
    seed_priority: Option<riffle_policies::queue::SeedPriority>,
    /// Peers of our own network first (config: locality, prefer_local,
    /// local_share).
    #[command(flatten)]
    locality: crate::flags::locality::LocalityFlags,
}

fn parse_allocation(s: &str) -> Result<riffle_policies::exchange::SwarmAllocation, String> {
    s.parse()
}

fn parse_seed_priority(s: &str) -> Result<riffle_policies::queue::SeedPriority, String> {
    s.parse()
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
        cross_swarm_credit: args.cross_swarm_credit,
        swarm_allocation: args.swarm_allocation,
        seed_priority: args.seed_priority,
        locality: args.locality.locality()?,
    };
    let config = resolve(file, flags, &xdg)?;
    super::raise_fd_limit();
    super::limit_malloc_arenas();
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
