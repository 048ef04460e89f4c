//! Where connections leave from and whom they reach: the source address
//! of outgoing connections, and peer classes (upload buckets shared by
//! every connection to peers of some networks, as libtorrent's peer
//! classes; the swarm lab caps its links between networks with them).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use riffle_policies::locality::Prefix;
use tokio::net::{TcpSocket, TcpStream};

use super::rate::Bucket;

/// Connections to peers in `prefixes` pay `up` too, and count what they
/// send in `sent`.
#[derive(Debug, Clone)]
pub struct PeerClass {
    /// A name for logs.
    pub name: String,
    /// The networks of the class.
    pub prefixes: Vec<Prefix>,
    /// Upload bucket shared by every connection of the class (0:
    /// unlimited, counting only).
    pub up: Arc<Bucket>,
    /// Payload bytes sent to peers of the class.
    pub sent: Arc<AtomicU64>,
}

impl PeerClass {
    /// A class of `prefixes` with an upload limit of `rate` bytes per
    /// second (0: none) and a burst of `burst` bytes (0: the default).
    pub fn new(name: &str, prefixes: Vec<Prefix>, rate: u64, burst: u32) -> PeerClass {
        PeerClass {
            name: name.to_owned(),
            prefixes,
            up: Bucket::shared_with_burst(rate, burst),
            sent: Arc::default(),
        }
    }

    /// Does the class hold `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.prefixes.iter().any(|p| p.contains(ip))
    }

    /// Payload bytes sent to the class so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub(crate) fn count(&self, bytes: u64) {
        self.sent.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The first class of `classes` holding `ip`.
pub(crate) fn class_of(classes: &[Arc<PeerClass>], ip: IpAddr) -> Option<Arc<PeerClass>> {
    classes.iter().find(|c| c.contains(ip)).cloned()
}

/// Connect to `addr`, from `from` when it is of the same family (the
/// session's listening address when it names one, so peers and trackers
/// see the address we are reached at).
pub(crate) async fn connect(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    match from.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
}
