//! The DHT on a UDP socket: riffle-protocol's sans-IO [`Node`] driven by
//! one tokio task, shared by every torrent of a session and by magnet
//! fetches.
//!
//! [`Dht::get_peers`] starts a lookup and streams what it finds;
//! [`Dht::add_node`] pings a node a peer told us of (BEP 5 PORT). The
//! node's id and routing table are saved to a file (when one is set) every
//! few minutes and at shutdown, so a restart rejoins without the routers.

mod task;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use riffle_protocol::dht::{Node, Stats};
use riffle_protocol::InfoHash;
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use riffle_protocol::dht::Stats as DhtStats;

/// The public routers a node with no saved state starts from.
pub const DEFAULT_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// The environment variable that replaces [`DEFAULT_ROUTERS`] for the
/// `riffle` binary and the seedbox (comma-separated HOST:PORT; empty:
/// none). The tests set it empty, so riffle under test never leaves the
/// machine.
pub const BOOTSTRAP_ENV: &str = "RIFFLE_DHT_BOOTSTRAP";

/// The routers to start from, given the value of [`BOOTSTRAP_ENV`] (if
/// set): its list, else [`DEFAULT_ROUTERS`].
pub fn routers(env_value: Option<&str>) -> Vec<String> {
    match env_value {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => DEFAULT_ROUTERS.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// How the DHT runs.
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// Where to start when nothing is saved: `host:port` names or
    /// addresses (resolved at start; IPv4 only).
    pub bootstrap: Vec<String>,
    /// Where the node's id and routing table are kept across restarts.
    pub state_file: Option<PathBuf>,
    /// Queries answered per address per second (0: the default, 50).
    pub rate_per_ip: u32,
}

/// Why the DHT could not start.
#[derive(Debug, Error)]
pub enum DhtError {
    /// The UDP socket could not be bound.
    #[error("cannot bind the DHT's UDP socket on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What a lookup streams back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Peers not reported before by this lookup.
    Peers(Vec<SocketAddr>),
    /// The lookup ended: nodes that answered, peers found in all.
    Done {
        /// Nodes that answered.
        answered: usize,
        /// Peers found.
        peers: usize,
    },
}

#[derive(Debug)]
enum Command {
    GetPeers {
        info_hash: InfoHash,
        announce_port: Option<u16>,
        reply: mpsc::Sender<Found>,
    },
    AddNode(SocketAddr),
    Stats(oneshot::Sender<Stats>),
    Shutdown(oneshot::Sender<()>),
}

/// A running DHT node (cheap to clone; every clone talks to the same
/// task).
#[derive(Debug, Clone)]
pub struct Dht {
    commands: mpsc::Sender<Command>,
    addr: SocketAddr,
}

/// Commands queued to the task at most (a lookup asked past it is
/// dropped: the torrent asks again later).
const COMMANDS: usize = 256;
/// Replies a lookup's receiver may fall behind by.
const REPLIES: usize = 64;
/// How often the routing table is saved.
pub const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);

impl Dht {
    /// Bind `bind` (UDP), resolve the bootstrap names, load the saved
    /// state and start the node's task.
    pub async fn start(
        bind: SocketAddr,
        config: DhtConfig,
    ) -> Result<(Dht, JoinHandle<()>), DhtError> {
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|source| DhtError::Bind { addr: bind, source })?;
        let addr = socket
            .local_addr()
            .map_err(|source| DhtError::Bind { addr: bind, source })?;
        let bootstrap = task::resolve(&config.bootstrap).await;
        let saved = config.state_file.as_deref().and_then(task::load_state);
        let node_config = riffle_protocol::dht::Config {
            bootstrap,
            seed: rand::random(),
            rate_per_ip: if config.rate_per_ip == 0 {
                riffle_protocol::dht::Config::default().rate_per_ip
            } else {
                config.rate_per_ip
            },
            ..riffle_protocol::dht::Config::default()
        };
        tracing::info!(
            %addr,
            routers = node_config.bootstrap.len(),
            saved_nodes = saved.as_ref().map_or(0, |s| s.nodes.len()),
            "DHT node starting"
        );
        let node = Node::new(node_config, saved, std::time::Instant::now());
        let (tx, rx) = mpsc::channel(COMMANDS);
        let handle = tokio::spawn(task::run(node, socket, rx, config.state_file));
        Ok((Dht { commands: tx, addr }, handle))
    }

    /// The UDP address the node answers on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Look up peers of `info_hash` and, with `announce_port`, announce
    /// our TCP port to the closest nodes at the end. The receiver hears
    /// peers as they come and then [`Found::Done`]; a lookup of a torrent
    /// already running shares it.
    pub fn get_peers(
        &self,
        info_hash: InfoHash,
        announce_port: Option<u16>,
    ) -> mpsc::Receiver<Found> {
        let (reply, rx) = mpsc::channel(REPLIES);
        self.get_peers_to(info_hash, announce_port, reply);
        rx
    }

    /// [`Dht::get_peers`] with the findings sent to `reply` (several
    /// lookups may share one channel: each ends with its own
    /// [`Found::Done`]).
    pub fn get_peers_to(
        &self,
        info_hash: InfoHash,
        announce_port: Option<u16>,
        reply: mpsc::Sender<Found>,
    ) {
        let _ = self.commands.try_send(Command::GetPeers {
            info_hash,
            announce_port,
            reply,
        });
    }

    /// A peer said it runs a DHT node at `addr` (BEP 5 PORT): ping it.
    pub fn add_node(&self, addr: SocketAddr) {
        let _ = self.commands.try_send(Command::AddNode(addr));
    }

    /// What the node holds now (None if it has stopped).
    pub async fn stats(&self) -> Option<Stats> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Stats(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Save the routing table and stop the node.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}
