//! The task that puts a DHT [`Node`] on its socket: datagrams in and
//! out, timeouts, commands from torrents, lookups' findings routed back
//! to whoever asked, and the routing table saved now and then.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use riffle_protocol::dht::{Event, Node, SavedState};
use riffle_protocol::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Command, Found, SAVE_EVERY};

/// Resolve `host:port` names to IPv4 addresses (names that do not
/// resolve are logged and skipped).
pub(super) async fn resolve(names: &[String]) -> Vec<SocketAddrV4> {
    let mut out = Vec::new();
    for name in names {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(addrs) => out.extend(addrs.filter_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })),
            Err(e) => tracing::warn!("DHT bootstrap {name}: {e}"),
        }
    }
    out.dedup();
    out
}

/// The saved id and nodes, if the file holds them.
pub(super) fn load_state(path: &Path) -> Option<SavedState> {
    let bytes = std::fs::read(path).ok()?;
    let state = SavedState::decode(&bytes);
    if state.is_none() {
        tracing::warn!(
            "DHT state {} is unreadable; starting afresh",
            path.display()
        );
    }
    state
}

fn save_state(path: &Path, node: &Node) {
    let state = node.saved_state();
    if state.nodes.is_empty() {
        // Nothing worth keeping (a node that never joined): no file.
        return;
    }
    let tmp = path.with_extension("tmp");
    let result = std::fs::write(&tmp, state.encode()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!("cannot save DHT state to {}: {e}", path.display());
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Who waits on each torrent's lookup.
type Waiting = HashMap<InfoHash, Vec<mpsc::Sender<Found>>>;

fn route_events(node: &mut Node, waiting: &mut Waiting) {
    while let Some(event) = node.poll_event() {
        match event {
            Event::Peers { info_hash, peers } => {
                if let Some(list) = waiting.get_mut(&info_hash) {
                    list.retain(|tx| !tx.is_closed());
                    for tx in list.iter() {
                        let _ = tx.try_send(Found::Peers(peers.clone()));
                    }
                }
            }
            Event::LookupDone {
                info_hash,
                answered,
                peers,
                announced,
            } => {
                tracing::debug!(%info_hash, answered, peers, announced, "DHT lookup done");
                for tx in waiting.remove(&info_hash).unwrap_or_default() {
                    let _ = tx.try_send(Found::Done { answered, peers });
                }
            }
        }
    }
}

async fn flush(node: &mut Node, socket: &UdpSocket) {
    while let Some((to, bytes)) = node.poll_transmit() {
        if let Err(e) = socket.send_to(&bytes, to).await {
            tracing::trace!("DHT send to {to}: {e}");
        }
    }
}

/// Run the node until shutdown (or every handle is gone).
pub(super) async fn run(
    mut node: Node,
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    state_file: Option<PathBuf>,
) {
    let mut buf = vec![0u8; riffle_protocol::dht::krpc::MAX_DATAGRAM + 1];
    let mut waiting: Waiting = HashMap::new();
    let mut next_save = Instant::now() + SAVE_EVERY;
    let shutdown = loop {
        flush(&mut node, &socket).await;
        route_events(&mut node, &mut waiting);
        let wake = Instant::from_std(node.poll_timeout()).min(next_save);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => node.handle(now(), from, &buf[..n]),
                // ICMP port unreachable and the like surface here.
                Err(e) => tracing::trace!("DHT receive: {e}"),
            },
            _ = tokio::time::sleep_until(wake) => {
                node.handle_timeout(now());
                if Instant::now() >= next_save {
                    next_save = Instant::now() + SAVE_EVERY;
                    if let Some(path) = &state_file {
                        save_state(path, &node);
                    }
                }
            }
            cmd = commands.recv() => match cmd {
                Some(Command::GetPeers { info_hash, announce_port, reply }) => {
                    waiting.entry(info_hash).or_default().push(reply);
                    node.get_peers(info_hash, announce_port, now());
                }
                Some(Command::AddNode(SocketAddr::V4(addr))) => node.add_node(addr, now()),
                Some(Command::AddNode(SocketAddr::V6(_))) => {}
                Some(Command::Stats(reply)) => {
                    let _ = reply.send(node.stats());
                }
                Some(Command::Shutdown(reply)) => break Some(reply),
                None => break None,
            },
        }
    };
    if let Some(path) = &state_file {
        save_state(path, &node);
    }
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
}
