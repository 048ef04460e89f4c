//! The HTTP tracker: `GET /announce?…` and `GET /scrape?…`.
//!
//! hyper reads and writes HTTP/1.1 (keep-alive, pipelining, bounded
//! heads); `respond` decides the reply from the path and query alone.
//! Every tracker-level error — a malformed announce, a refusal — is a
//! `200 OK` with a bencoded `failure reason`, the form clients show to
//! their user; refusals add BEP 31's `retry in` (minutes).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use riffle_policies::tracker::{Announce, AnnounceReply, Refusal};
use riffle_protocol::bencode::{encode, Owned};
use riffle_protocol::tracker::http::AnnounceResponse;
use riffle_protocol::tracker::http_server::{
    encode_announce_response, encode_failure, parse_announce_query, PeerFormat,
};
use riffle_protocol::tracker::scrape::{
    encode_scrape_response, parse_scrape_query, ScrapeResponse, ScrapeStats,
};
use riffle_protocol::tracker::{PeerEndpoint, TrackerPeer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::{wire_secs, Shared};
use crate::multitrack;

/// Most HTTP connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most bytes hyper buffers for one request head (request line, headers):
/// an announce needs a few hundred.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A client must send a whole request head within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed after this long whatever it does: announces are
/// one or two requests, not long-lived sessions.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Most info-hashes one scrape reports on.
pub const MAX_SCRAPE_HASHES: usize = 256;

/// Accept connections until `stop` turns true, each served on its own
/// task (aborted when this returns).
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        connections.spawn(async move {
                            connection(stream, peer, shared).await;
                            drop(permit);
                        });
                    }
                    Err(_) => tracing::debug!(%peer, "too many tracker connections; closing"),
                },
                Err(e) => {
                    // Out of descriptors or the like: wait instead of spinning.
                    tracing::warn!(error = %e, "tracker accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serve one connection's requests.
async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let reply = handle(&shared, &req, peer);
        async move { Ok::<_, Infallible>(reply) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tracker HTTP connection failed"),
        Err(_) => tracing::debug!(%peer, "tracker HTTP connection outlived its time"),
    }
}

/// Answer one request.
fn handle(shared: &Shared, req: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (status, body) = if req.method() == Method::GET || req.method() == Method::HEAD {
        let query = req.uri().query().unwrap_or_default();
        respond(
            shared,
            Instant::now(),
            req.uri().path(),
            query.as_bytes(),
            peer,
        )
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, b"GET only\n".to_vec())
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// The status and body for a request for `path?query` from `peer` at
/// `now`: `/announce`, `/scrape`, or 404.
pub(crate) fn respond(
    shared: &Shared,
    now: Instant,
    path: &str,
    query: &[u8],
    peer: SocketAddr,
) -> (StatusCode, Vec<u8>) {
    match path {
        "/announce" => (StatusCode::OK, announce(shared, now, query, peer)),
        "/scrape" => (StatusCode::OK, scrape(shared, query)),
        "/stats" => (StatusCode::OK, stats(shared)),
        "/multitrack" => (StatusCode::OK, multitrack(shared, query)),
        _ => (
            StatusCode::NOT_FOUND,
            b"not found: this tracker serves /announce, /scrape and /stats\n".to_vec(),
        ),
    }
}

/// `/stats`: the tracker's counts as JSON (swarms, peers; with a
/// locality its local share and the peers handed out by network).
fn stats(shared: &Shared) -> Vec<u8> {
    let registry = shared.registry();
    let mut out = serde_json::json!({
        "swarms": registry.swarm_count(),
        "peers": registry.peer_count(),
    });
    if let Some(l) = registry.locality() {
        let given: Vec<serde_json::Value> = registry
            .given_by_network()
            .iter()
            .map(|g| serde_json::json!({"asker": g.asker, "peer": g.peer, "count": g.count}))
            .collect();
        out["locality"] = serde_json::json!({"local_share": l.local_share(), "given": given});
    }
    drop(registry);
    if let Some(m) = &shared.multitrack {
        out["multitrack"] = m.stats();
    }
    let mut body = out.to_string().into_bytes();
    body.push(b'\n');
    body
}

/// `/multitrack?info_hash=`: our measure of that swarm and a sample of
/// it, for peer trackers (JSON; `{}` without MultiTrack).
fn multitrack(shared: &Shared, query: &[u8]) -> Vec<u8> {
    let Some(m) = &shared.multitrack else {
        return b"{}\n".to_vec();
    };
    let hash = match parse_scrape_query(query).map(|h| h.first().copied()) {
        Ok(Some(h)) => h,
        _ => return b"{\"error\":\"name one info_hash\"}\n".to_vec(),
    };
    let sample = shared.registry().sample(&hash, multitrack::SAMPLE);
    let mut body = m.published(&hash, sample).to_string().into_bytes();
    body.push(b'\n');
    body
}

/// The address a peer's packets come from, with IPv4-mapped IPv6 as IPv4
/// (a dual-stack socket sees IPv4 clients that way).
pub(crate) fn source_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

fn announce(shared: &Shared, now: Instant, query: &[u8], peer: SocketAddr) -> Vec<u8> {
    let req = match parse_announce_query(query) {
        Ok(req) => req,
        Err(e) => return encode_failure(&format!("bad announce: {e}")),
    };
    if req.port == 0 {
        return encode_failure("bad announce: port 0 cannot be reached");
    }
    // The `ip` parameter is ignored: a peer is where its packets come from
    // (anything else lets one client point a swarm at a third party).
    let ip = source_ip(peer);
    let a = Announce {
        info_hash: req.info_hash,
        peer_id: req.peer_id,
        addr: SocketAddr::new(ip, req.port),
        left: req.left,
        downloaded: req.downloaded,
        uploaded: req.uploaded,
        event: req.event,
        numwant: req
            .numwant
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let result = shared.announce(now, &a);
    match result {
        Ok(reply) => {
            tracing::debug!(
                peer = %a.addr, info_hash = %a.info_hash, event = ?a.event, left = a.left,
                given = reply.peers.len(), "HTTP announce"
            );
            let resp = announce_response(shared, &reply, ip);
            encode_announce_response(&resp, PeerFormat::for_request(&req))
        }
        Err(refusal) => {
            tracing::info!(peer = %a.addr, info_hash = %a.info_hash, reason = %refusal.reason, "announce refused");
            encode_refusal(&refusal, shared.time_scale)
        }
    }
}

/// The protocol's reply for an accepted announce.
fn announce_response(shared: &Shared, reply: &AnnounceReply, ip: IpAddr) -> AnnounceResponse {
    let peers = reply
        .peers
        .iter()
        .map(|p| TrackerPeer {
            endpoint: PeerEndpoint::Addr(p.addr),
            peer_id: Some(p.peer_id),
        })
        .collect();
    let wire = shared.wire_times(reply);
    let mut resp = AnnounceResponse::new(wire.interval, peers);
    resp.min_interval = (wire.min_interval > 0).then_some(wire.min_interval);
    resp.complete = Some(reply.counts.seeds);
    resp.incomplete = Some(reply.counts.leechers);
    resp.external_ip = Some(ip);
    resp
}

/// A refusal: `failure reason` and BEP 31's `retry in`, in whole minutes
/// (rounded up: retrying early is what the field is meant to prevent).
pub(crate) fn encode_refusal(refusal: &Refusal, time_scale: f64) -> Vec<u8> {
    let minutes = wire_secs(refusal.retry_in, time_scale).div_ceil(60);
    encode(&Owned::dict([
        ("failure reason", Owned::bytes(&refusal.reason)),
        ("retry in", Owned::Int(i64::from(minutes))),
    ]))
}

fn scrape(shared: &Shared, query: &[u8]) -> Vec<u8> {
    let hashes = match parse_scrape_query(query) {
        Ok(h) if h.is_empty() => {
            return encode_failure("full scrape is not supported: name each info_hash")
        }
        Ok(h) => h,
        Err(e) => return encode_failure(&format!("bad scrape: {e}")),
    };
    let hashes = hashes.get(..MAX_SCRAPE_HASHES).unwrap_or(&hashes);
    let counts = shared.registry().scrape(hashes);
    let files = counts
        .into_iter()
        .map(|(h, c)| {
            (
                h,
                ScrapeStats {
                    complete: c.seeds,
                    downloaded: c.completed,
                    incomplete: c.leechers,
                },
            )
        })
        .collect();
    encode_scrape_response(&ScrapeResponse {
        files,
        min_request_interval: Some(shared.wire.min_interval),
    })
}
