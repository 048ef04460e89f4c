//! The UDP tracker (BEP 15): connect, announce, scrape, error.
//!
//! Connection ids are not stored: an id is a keyed hash (SipHash with
//! random keys, std's `RandomState`) of the client's address and the
//! current minute since start, and an announce or scrape is accepted with
//! this minute's or the previous minute's id. So an id lives 1 to 2
//! minutes (BEP 15 asks for at least one), a spoofed source cannot guess
//! one, and a flood of connects costs no memory.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_policies::tracker::Announce;
use riffle_protocol::tracker::udp::{
    family_of, peers_for_family, Request, Response, ScrapeEntry, MAX_SCRAPE_HASHES,
};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::http::source_ip;
use super::{wire_secs, Shared};

/// How long one epoch of connection ids lasts.
pub const ID_EPOCH: Duration = Duration::from_secs(60);
/// Largest datagram read; longer ones are truncated (and then malformed):
/// a full scrape request is 16 + 74·20 = 1,496 bytes.
pub const MAX_PACKET: usize = 2048;

/// Issues and checks connection ids without storing them.
#[derive(Debug)]
pub struct ConnectionIds {
    /// Random keys of the hash.
    keys: RandomState,
    /// Epochs count from here.
    start: Instant,
}

impl ConnectionIds {
    /// Fresh random keys; epochs counted from `start`.
    pub fn new(start: Instant) -> ConnectionIds {
        ConnectionIds {
            keys: RandomState::new(),
            start,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() / ID_EPOCH.as_secs()
    }

    fn id(&self, epoch: u64, client: SocketAddr) -> u64 {
        self.keys.hash_one((epoch, client))
    }

    /// The id to give `client` at `now`.
    pub fn issue(&self, now: Instant, client: SocketAddr) -> u64 {
        self.id(self.epoch(now), client)
    }

    /// Whether `id` was issued to `client` this epoch or the previous one.
    pub fn check(&self, now: Instant, client: SocketAddr, id: u64) -> bool {
        let e = self.epoch(now);
        id == self.id(e, client) || e.checked_sub(1).is_some_and(|p| id == self.id(p, client))
    }
}

/// Read datagrams until `stop` turns true; answer each.
pub(crate) async fn serve(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, src)) => {
                    let packet = buf.get(..n).unwrap_or_default();
                    if let Some(reply) = handle_packet(&shared, Instant::now(), packet, src) {
                        if let Err(e) = socket.send_to(&reply, src).await {
                            tracing::debug!(%src, error = %e, "UDP tracker reply not sent");
                        }
                    }
                }
                // ICMP errors of earlier sends surface here on some systems:
                // they concern one client, not the socket.
                Err(e) => tracing::debug!(error = %e, "UDP tracker receive failed"),
            },
        }
    }
}

/// The reply to one datagram from `src` at `now`, if any. A packet too
/// short to carry a transaction id gets no reply; other malformed packets,
/// unknown connection ids and refusals get an error reply.
pub(crate) fn handle_packet(
    shared: &Shared,
    now: Instant,
    packet: &[u8],
    src: SocketAddr,
) -> Option<Vec<u8>> {
    let family = family_of(&src);
    let error = |transaction_id, message: String| Response::Error {
        transaction_id,
        message,
    };
    let response = match Request::decode(packet) {
        Err(e) => {
            let tid = packet
                .get(12..16)?
                .try_into()
                .ok()
                .map(u32::from_be_bytes)?;
            tracing::debug!(%src, error = %e, "malformed UDP tracker request");
            error(tid, format!("malformed request: {e}"))
        }
        Ok(Request::Connect { transaction_id }) => Response::Connect {
            transaction_id,
            connection_id: shared.ids.issue(now, src),
        },
        Ok(Request::Announce(a)) if !shared.ids.check(now, src, a.connection_id) => {
            error(a.transaction_id, "unknown or expired connection id".into())
        }
        Ok(Request::Announce(a)) if a.port == 0 => error(
            a.transaction_id,
            "bad announce: port 0 cannot be reached".into(),
        ),
        Ok(Request::Announce(a)) => {
            // BEP 15's `ip` field is ignored, as HTTP's `ip` parameter.
            let ann = Announce {
                info_hash: a.info_hash,
                peer_id: a.peer_id,
                addr: SocketAddr::new(source_ip(src), a.port),
                left: a.left,
                downloaded: a.downloaded,
                uploaded: a.uploaded,
                event: a.event,
                numwant: usize::try_from(a.num_want).ok(),
            };
            let result = shared.announce(now, &ann);
            match result {
                Ok(reply) => {
                    tracing::debug!(
                        peer = %ann.addr, info_hash = %ann.info_hash, event = ?ann.event,
                        left = ann.left, given = reply.peers.len(), "UDP announce"
                    );
                    Response::Announce {
                        transaction_id: a.transaction_id,
                        interval: shared.wire_times(&reply).interval,
                        leechers: saturate(reply.counts.leechers),
                        seeders: saturate(reply.counts.seeds),
                        peers: peers_for_family(reply.peers.iter().map(|p| p.addr), family),
                    }
                }
                Err(refusal) => {
                    tracing::info!(peer = %ann.addr, info_hash = %ann.info_hash, reason = %refusal.reason, "announce refused");
                    let secs = wire_secs(refusal.retry_in, shared.time_scale);
                    error(
                        a.transaction_id,
                        format!("{} (retry in {secs} s)", refusal.reason),
                    )
                }
            }
        }
        Ok(Request::Scrape {
            connection_id,
            transaction_id,
            ..
        }) if !shared.ids.check(now, src, connection_id) => {
            error(transaction_id, "unknown or expired connection id".into())
        }
        Ok(Request::Scrape {
            transaction_id,
            info_hashes,
            ..
        }) => {
            let hashes = info_hashes.get(..MAX_SCRAPE_HASHES).unwrap_or(&info_hashes);
            let entries = shared
                .registry()
                .scrape(hashes)
                .into_iter()
                .map(|(_, c)| ScrapeEntry {
                    seeders: saturate(c.seeds),
                    completed: saturate(c.completed),
                    leechers: saturate(c.leechers),
                })
                .collect();
            Response::Scrape {
                transaction_id,
                entries,
            }
        }
    };
    Some(response.encode(family))
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
