//! riffle-daemon: the seedbox.
//!
//! A [`Daemon`] runs riffle's manager (many torrents, a queue, durable
//! state in a state directory) behind Transmission's RPC, so
//! Transmission's own remote tools, its web interface and the automation
//! that speaks its RPC drive riffle unmodified.
//!
//! - [`config`]: the TOML config file, flags over it, XDG defaults.
//! - [`rpc`]: the RPC, sans-IO: requests parsed into typed calls,
//!   answers rendered field by field.
//! - [`service`]: calls carried out on the manager.
//! - [`access`]: whitelist, basic authentication, Host checks, slowed
//!   failed logins.
//! - [`http`]: the HTTP server (`/transmission/rpc`, the session-id
//!   handshake, capped bodies) and [`web`]: the web interface's files.
//! - [`watch`]: the watch folder.

#![recursion_limit = "256"]

pub mod access;
pub mod config;
pub mod http;
mod memory;
pub mod rpc;
pub mod service;
pub mod watch;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use rand::Rng;
use riffle_client::engine::{SessionConfig, TorrentOptions};
use riffle_manager::{Manager, ManagerConfig, Settings};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{watch as watch_channel, Notify};
use tokio::task::JoinSet;

pub use config::DaemonConfig;

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The manager (state directory, session) failed.
    #[error(transparent)]
    Manager(#[from] riffle_manager::ManagerError),
    /// The RPC port could not be bound.
    #[error("cannot listen for RPC on {addr}: {source}")]
    RpcListen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running daemon.
pub struct Daemon {
    manager: Manager,
    rpc_addr: SocketAddr,
    stop: watch_channel::Sender<bool>,
    tasks: JoinSet<()>,
    close: Arc<Notify>,
}

fn session_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..48)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

impl Daemon {
    /// Start the manager, the RPC server and the watch folder. `session`
    /// carries the engine's settings (its listen address is replaced by
    /// the config's).
    pub async fn start(
        config: DaemonConfig,
        session: SessionConfig,
    ) -> Result<Daemon, DaemonError> {
        for dir in [&config.download_dir]
            .into_iter()
            .chain(config.watch_dir.as_ref())
        {
            std::fs::create_dir_all(dir).map_err(|source| DaemonError::Directory {
                path: dir.clone(),
                source,
            })?;
        }
        let rpc_listener = TcpListener::bind(config.rpc_listen)
            .await
            .map_err(|source| DaemonError::RpcListen {
                addr: config.rpc_listen,
                source,
            })?;
        let rpc_addr = rpc_listener
            .local_addr()
            .map_err(|source| DaemonError::RpcListen {
                addr: config.rpc_listen,
                source,
            })?;
        let manager = Manager::start(ManagerConfig {
            seed_priority: config.seed_priority,
            scrape_every: riffle_manager::DEFAULT_SCRAPE_EVERY,
            state_dir: config.state_dir.clone(),
            session: SessionConfig {
                listen: config.listen,
                listen_fallback: false,
                dht: config
                    .dht
                    .clone()
                    .map(|bootstrap| riffle_client::dht::DhtConfig {
                        bootstrap,
                        state_file: Some(config.state_dir.join("dht.state")),
                        ..riffle_client::dht::DhtConfig::default()
                    }),
                cross_swarm_credit: config.cross_swarm_credit,
                swarm_allocation: config.swarm_allocation,
                locality: config.locality.clone().map(std::sync::Arc::new),
                host_key: Some(riffle_client::engine::exchange::load_or_create_host_key(
                    &config.state_dir.join("host.key"),
                )),
                ..session
            },
            defaults: Settings {
                download_dir: config.download_dir.clone(),
                ..Settings::default()
            },
            overrides: config.session.clone(),
            torrent_defaults: TorrentOptions::new(&config.download_dir),
        })
        .await?;
        let close = Arc::new(Notify::new());
        let (stop, stop_rx) = watch_channel::channel(false);
        let mut tasks = JoinSet::new();
        let http = Arc::new(http::Http {
            service: service::Service {
                manager: manager.clone(),
                session_id: session_id(),
                config_dir: config.state_dir.clone(),
                close: close.clone(),
            },
            access: access::Access::new(
                config.credentials.clone(),
                config.whitelist.clone(),
                config.host_whitelist.clone(),
            ),
            web_root: config.web_root.clone(),
            max_body: config.max_body,
        });
        tasks.spawn(http::serve(rpc_listener, http, stop_rx.clone()));
        if let Some(dir) = config.watch_dir.clone() {
            tasks.spawn(watch::run(dir, manager.clone(), stop_rx));
        }
        tracing::info!(rpc = %rpc_addr, peers = %manager.listen_addr(), "riffle daemon started");
        Ok(Daemon {
            manager,
            rpc_addr,
            stop,
            tasks,
            close,
        })
    }

    /// Where the RPC listens.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// Where peers reach the session.
    pub fn listen_addr(&self) -> SocketAddr {
        self.manager.listen_addr()
    }

    /// The manager behind the RPC.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Resolves when a client sends `session-close`.
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    /// Stop serving, stop every torrent cleanly and save the state.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.manager.shutdown().await;
        tracing::info!("riffle daemon stopped");
    }
}
