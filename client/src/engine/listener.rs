//! The session's listening socket: accept, read the peer's 68-byte
//! handshake to learn which torrent it wants, and hand the connection to
//! that torrent (which answers the handshake through its own
//! `PeerConnection`). Unknown torrents and slow or malformed handshakes are
//! dropped here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sync::mpsc;
use riffle_protocol::wire::{Handshake, HANDSHAKE_LEN};
use riffle_protocol::InfoHash;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::slots::{ConnectionSlots, Slot};
use super::torrent::{Incoming, Input};

/// Torrents reachable through the listener, by info-hash: their input
/// channels, held weakly (a torrent whose every handle is gone stops).
pub type Routes = Arc<Mutex<HashMap<InfoHash, mpsc::WeakSender<Box<Input>>>>>;

/// How long a new connection has to send its handshake.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

/// Accept connections until the listener fails or the task is aborted.
/// Past the session's connection limit a connection is closed at once.
pub async fn run(listener: TcpListener, routes: Routes, slots: Arc<ConnectionSlots>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let Some(slot) = slots.try_take() else {
                    tracing::debug!(peer = %addr, limit = slots.max(), "connection limit reached; closing an incoming connection");
                    drop(stream);
                    continue;
                };
                let routes = routes.clone();
                tokio::spawn(route(stream, addr, routes, slot));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(%e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn route(mut stream: TcpStream, addr: SocketAddr, routes: Routes, slot: Slot) {
    let mut buf = vec![0u8; HANDSHAKE_LEN];
    match tokio::time::timeout(HANDSHAKE_WAIT, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(peer = %addr, %e, "incoming connection closed before its handshake");
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %addr, "incoming handshake timed out");
            return;
        }
    }
    let hs = match Handshake::decode(&buf) {
        Ok(Some(hs)) => hs,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(peer = %addr, %e, "bad incoming handshake");
            return;
        }
    };
    let target = routes
        .lock()
        .ok()
        .and_then(|r| r.get(&hs.info_hash).and_then(mpsc::WeakSender::upgrade));
    let Some(tx) = target else {
        tracing::debug!(peer = %addr, info_hash = %hs.info_hash.to_hex(), "incoming connection for an unknown torrent");
        return;
    };
    let _ = tx.try_send(Box::new(Input::Incoming(Incoming {
        stream,
        addr,
        handshake: buf,
        slot,
    })));
}
