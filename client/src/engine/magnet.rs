//! Fetching a torrent's info dictionary for a magnet link (BEP 9).
//!
//! Peers come from the magnet's `x.pe` addresses, from its trackers (an
//! announcer running for the info-hash), from the session's DHT and from
//! whatever else the caller adds. A few peers are tried at once; each attempt is one TCP
//! connection that speaks only what metadata needs — the handshake, the
//! extended handshake, `ut_metadata` — and assembles its own copy
//! (riffle-protocol's `MetadataAssembler`), so a lying peer fails its own
//! attempt and never spoils another. The first copy whose SHA-1 is the
//! info-hash wins; the others are dropped.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::watch;
use bytes::{Bytes, BytesMut};
use riffle_protocol::magnet::Magnet;
use riffle_protocol::metadata::MetadataAssembler;
use riffle_protocol::wire::{
    ExtendedHandshake, Framer, Handshake, Message, MetadataMessage, Reserved, HANDSHAKE_LEN,
    UT_METADATA,
};
use riffle_protocol::{InfoHash, PeerId};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::metadata::OUR_UT_METADATA;
use crate::dht::Found;
use crate::tracker::{spawn_announcer, AnnounceConfig, AnnounceSetup, Transfer};

/// Peers tried at once.
const PARALLEL: usize = 4;
/// One peer's attempt ends after this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// A DHT lookup that ended is started again this long after.
const DHT_AGAIN: Duration = Duration::from_secs(20);
/// Metadata requests in flight per peer.
const WINDOW: u32 = 4;

/// Why no metadata came.
#[derive(Debug, Error)]
pub enum FetchError {
    /// Nobody answered with it within the time limit.
    #[error("no peer gave the metadata within {0:?} ({1} peers tried)")]
    TimedOut(Duration, usize),
}

/// What a metadata fetch needs to know about us.
#[derive(Debug, Clone)]
pub struct FetchSetup {
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we listen on (for tracker announces).
    pub port: u16,
    /// Give up a dial after this long.
    pub connect_timeout: Duration,
    /// How trackers are announced to.
    pub announce: AnnounceConfig,
    /// Give up after this long.
    pub limit: Duration,
    /// The session's DHT, asked for peers too (None: no DHT).
    pub dht: Option<crate::dht::Dht>,
}

/// Fetch the info dictionary of `magnet` from its peers and trackers and
/// from `extra` addresses; `progress` hears (peers tried, best fraction
/// received). The bytes returned hash to the magnet's info-hash.
pub async fn fetch_metadata(
    magnet: &Magnet,
    extra: &[SocketAddr],
    setup: &FetchSetup,
    mut more: Option<mpsc::Receiver<Vec<SocketAddr>>>,
    progress: impl Fn(usize, f64),
) -> Result<Vec<u8>, FetchError> {
    let info_hash = magnet.info_hash;
    let mut queue: VecDeque<SocketAddr> = VecDeque::new();
    let mut seen: HashSet<SocketAddr> = HashSet::new();
    let mut add = |addrs: &[SocketAddr], queue: &mut VecDeque<SocketAddr>| {
        for a in addrs {
            if seen.insert(*a) {
                queue.push_back(*a);
            }
        }
    };
    let direct: Vec<SocketAddr> = magnet
        .peers
        .iter()
        .filter_map(|p| p.parse().ok())
        .chain(extra.iter().copied())
        .collect();
    add(&direct, &mut queue);
    // The trackers, announced to as a leecher that lacks everything.
    let (_transfer_tx, transfer_rx) = watch::channel(Transfer {
        left: 1,
        ..Transfer::default()
    });
    let (peers_tx, mut tracker_peers) = mpsc::channel(16);
    let _announcer = (!magnet.trackers.is_empty()).then(|| {
        spawn_announcer(
            AnnounceSetup {
                tiers: magnet.trackers.iter().map(|t| vec![t.clone()]).collect(),
                info_hash,
                peer_id: setup.peer_id,
                port: setup.port,
                config: std::sync::Arc::new(setup.announce.clone()),
            },
            transfer_rx,
            peers_tx,
        )
    });
    // The DHT, asked again a while after each lookup ends.
    let mut dht_found = setup.dht.as_ref().map(|d| d.get_peers(info_hash, None));
    let mut dht_again: Option<tokio::time::Instant> = None;
    let (best_tx, best_rx) = watch::channel(0.0f64);
    let mut attempts = JoinSet::new();
    let mut tried = 0usize;
    let deadline = tokio::time::Instant::now() + setup.limit;
    // A v2-only link: the metadata must hash to its SHA-256.
    let v2_check = magnet.info_hash_v2.filter(|_| magnet.v2_only());
    loop {
        while attempts.len() < PARALLEL {
            let Some(addr) = queue.pop_front() else { break };
            tried += 1;
            let best = best_tx.clone();
            let (id, timeout) = (setup.peer_id, setup.connect_timeout);
            let from = setup.announce.bind_ip;
            attempts.spawn(async move {
                let result = tokio::time::timeout(
                    ATTEMPT_TIMEOUT,
                    attempt(addr, info_hash, v2_check, id, (timeout, from), &best),
                )
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
                (addr, result)
            });
            progress(tried, *best_rx.borrow());
        }
        tokio::select! {
            Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                match done {
                    Ok((_, Ok(info))) => return Ok(info),
                    Ok((addr, Err(why))) => tracing::debug!(peer = %addr, "no metadata: {why}"),
                    Err(_) => {}
                }
                progress(tried, *best_rx.borrow());
            }
            Some(addrs) = tracker_peers.recv() => add(&addrs, &mut queue),
            Some(addrs) = recv_opt(&mut more) => add(&addrs, &mut queue),
            found = recv_opt(&mut dht_found) => match found {
                Some(Found::Peers(addrs)) => add(&addrs, &mut queue),
                _ => {
                    dht_found = None;
                    dht_again = Some(tokio::time::Instant::now() + DHT_AGAIN);
                }
            },
            _ = sleep_opt(dht_again) => {
                dht_again = None;
                dht_found = setup.dht.as_ref().map(|d| d.get_peers(info_hash, None));
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(FetchError::TimedOut(setup.limit, tried));
            }
        }
    }
}

async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// One peer: handshake, extended handshake, the metadata piece by piece.
async fn attempt(
    addr: SocketAddr,
    info_hash: InfoHash,
    v2_check: Option<[u8; 32]>,
    our_id: PeerId,
    (connect_timeout, from): (Duration, Option<std::net::IpAddr>),
    best: &watch::Sender<f64>,
) -> Result<Vec<u8>, String> {
    let mut s = tokio::time::timeout(connect_timeout, super::locality::connect(addr, from))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let ours = Handshake {
        reserved: Reserved::empty()
            .with(Reserved::EXTENSION_PROTOCOL, true)
            .with(Reserved::V2, v2_check.is_some()),
        info_hash,
        peer_id: our_id,
    };
    s.write_all(&ours.encode())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut hs = [0u8; HANDSHAKE_LEN];
    s.read_exact(&mut hs)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let theirs = Handshake::decode(&hs)
        .map_err(|e| e.to_string())?
        .ok_or("short handshake")?;
    if theirs.info_hash != info_hash {
        return Err("the peer answered for another torrent".into());
    }
    if !theirs.reserved.extension_protocol() {
        return Err("the peer does not speak the extension protocol".into());
    }
    let mut ext = ExtendedHandshake {
        client: Some(format!("riffle {}", env!("CARGO_PKG_VERSION"))),
        ..ExtendedHandshake::default()
    };
    ext.m.insert(UT_METADATA.to_owned(), OUR_UT_METADATA);
    send(
        &mut s,
        Message::Extended {
            id: 0,
            payload: Bytes::from(ext.encode()),
        },
    )
    .await?;
    let framer = Framer::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut assembler: Option<MetadataAssembler> = None;
    let mut their_id = 0u8;
    loop {
        let msg = loop {
            match framer.parse(&mut buf).map_err(|e| e.to_string())? {
                Some(m) => break m,
                None => {
                    if s.read_buf(&mut buf)
                        .await
                        .map_err(|e| format!("read: {e}"))?
                        == 0
                    {
                        return Err("the peer closed the connection".into());
                    }
                }
            }
        };
        let Message::Extended { id, payload } = msg else {
            continue; // bitfield, have, choke...: not what we came for
        };
        if id == 0 {
            let h = ExtendedHandshake::decode(&payload).map_err(|e| e.to_string())?;
            let (Some(size), Some(tid)) = (h.metadata_size, h.id_of(UT_METADATA)) else {
                return Err("the peer does not offer the metadata".into());
            };
            if assembler.is_none() {
                their_id = tid;
                let mut a = MetadataAssembler::new(info_hash, size).map_err(|e| e.to_string())?;
                if let Some(v2) = v2_check {
                    a = a.expecting_v2(v2);
                }
                while let Some(p) = a.next_request(WINDOW) {
                    request(&mut s, their_id, p).await?;
                }
                assembler = Some(a);
            }
            continue;
        }
        if id != OUR_UT_METADATA {
            continue;
        }
        let Some(a) = assembler.as_mut() else {
            return Err("metadata before the extended handshake".into());
        };
        match MetadataMessage::decode(&payload).map_err(|e| e.to_string())? {
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                if let Some(info) = a
                    .on_data(piece, total_size, data)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(info);
                }
                best.send_if_modified(|b| {
                    let p = a.progress();
                    (p > *b).then(|| *b = p).is_some()
                });
                while let Some(p) = a.next_request(WINDOW) {
                    request(&mut s, their_id, p).await?;
                }
            }
            MetadataMessage::Reject { piece } => return Err(a.on_reject(piece).to_string()),
            MetadataMessage::Request { piece } => {
                // We have nothing to give yet.
                let reject = MetadataMessage::Reject { piece }.encode();
                send(
                    &mut s,
                    Message::Extended {
                        id: their_id,
                        payload: Bytes::from(reject),
                    },
                )
                .await?;
            }
        }
    }
}

async fn request(s: &mut TcpStream, their_id: u8, piece: u32) -> Result<(), String> {
    send(
        s,
        Message::Extended {
            id: their_id,
            payload: Bytes::from(MetadataMessage::Request { piece }.encode()),
        },
    )
    .await
}

async fn send(s: &mut TcpStream, msg: Message) -> Result<(), String> {
    let mut out = BytesMut::with_capacity(msg.encoded_len());
    msg.encode(&mut out);
    s.write_all(&out).await.map_err(|e| format!("write: {e}"))
}
