//! HTTP(S) announces (BEP 3, BEP 23 compact peers, BEP 7 `peers6`).
//!
//! One process-wide [`reqwest::Client`] per source address (TLS by rustls
//! with the *ring* provider, no idle connections kept) serves every
//! torrent; each request has its own timeout. The URL and the reply are riffle-protocol's business.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock, PoisonError};

use riffle_protocol::tracker::http::{announce_url, parse_announce_response, AnnounceRequest};
use riffle_protocol::tracker::PeerEndpoint;

use super::{resolve_hosts, AnnounceConfig, AnnounceOutcome, TrackerError};

/// Replies above this are refused: a reply with 200 compact peers is
/// about 1.2 kB, a non-compact one tens of kB.
pub const MAX_REPLY: usize = 2 * 1024 * 1024;

/// The shared client of announces leaving from `from` (None: any
/// address), built on first use. Building fails only when TLS cannot be
/// set up; that is kept as a message so every announce reports it.
fn client(from: Option<IpAddr>) -> Result<reqwest::Client, TrackerError> {
    type Clients = Mutex<HashMap<Option<IpAddr>, Result<reqwest::Client, String>>>;
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Clients::default);
    let mut clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
    clients
        .entry(from)
        .or_insert_with(|| {
            // reqwest is built without a crypto provider (no aws-lc-rs);
            // install ring unless the program already installed one.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("riffle/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::limited(5))
                // No keep-alive pool: announces are minutes apart, and a
                // pooled connection belongs to the runtime that opened it
                // (tests and the lab run several runtimes in one process).
                .pool_max_idle_per_host(0)
                .local_address(from)
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        })
        .clone()
        .map_err(TrackerError::Http)
}

/// GET `url` within `timeout`: the status and the body (at most
/// [`MAX_REPLY`] bytes).
async fn get(
    url: url::Url,
    timeout: std::time::Duration,
    from: Option<IpAddr>,
) -> Result<(reqwest::StatusCode, Vec<u8>), TrackerError> {
    let from = from.filter(|ip| {
        // Leave from `from` only toward a tracker of its family.
        let host_v6 = matches!(url.host(), Some(url::Host::Ipv6(_)));
        let host_v4 = matches!(url.host(), Some(url::Host::Ipv4(_)));
        (ip.is_ipv4() && !host_v6) || (ip.is_ipv6() && !host_v4)
    });
    let exchange = async {
        let mut resp = client(from)?
            .get(url)
            .send()
            .await
            .map_err(|e| TrackerError::Http(error_chain(&e)))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| TrackerError::Http(error_chain(&e)))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_REPLY {
                return Err(TrackerError::TooLarge { limit: MAX_REPLY });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| TrackerError::Timeout(timeout))?
}

/// Scrape (BEP 48) an `http://` or `https://` tracker, given its announce
/// URL, for `hashes`: the counts it has of each. A tracker without a
/// scrape URL (its path does not end in `announce`) is
/// [`TrackerError::NoScrape`].
pub async fn scrape(
    announce: &str,
    hashes: &[riffle_protocol::InfoHash],
    cfg: &AnnounceConfig,
) -> Result<super::ScrapeReply, TrackerError> {
    use riffle_protocol::tracker::scrape::{parse_scrape_response, scrape_request_url, scrape_url};
    let base = scrape_url(announce)
        .map_err(TrackerError::from)?
        .ok_or(TrackerError::NoScrape)?;
    let (status, body) = get(
        scrape_request_url(&base, hashes),
        cfg.http_timeout_scaled(),
        cfg.bind_ip,
    )
    .await?;
    match parse_scrape_response(&body) {
        Ok(r) if status.is_success() => Ok(r.files.into_iter().collect()),
        Err(e @ riffle_protocol::tracker::http::ResponseError::Failure(_)) => Err(e.into()),
        Ok(_) => Err(TrackerError::HttpStatus(status.as_u16())),
        Err(_) if !status.is_success() => Err(TrackerError::HttpStatus(status.as_u16())),
        Err(e) => Err(e.into()),
    }
}

/// Announce to an `http://` or `https://` tracker.
pub async fn announce(
    url: &str,
    req: &AnnounceRequest,
    cfg: &AnnounceConfig,
) -> Result<AnnounceOutcome, TrackerError> {
    let full = announce_url(url, req).map_err(|e| match TrackerError::from(e) {
        TrackerError::BadUrl { why, .. } => TrackerError::BadUrl {
            url: url.to_owned(),
            why,
        },
        other => other,
    })?;
    let timeout = cfg.http_timeout_scaled();
    let (status, body) = get(full, timeout, cfg.bind_ip).await?;
    // Some trackers send their bencoded failure with a 4xx status: the
    // failure text is the more useful error, so parse first.
    let parsed = parse_announce_response(&body);
    let reply = match parsed {
        Ok(reply) if status.is_success() => reply,
        Err(e @ riffle_protocol::tracker::http::ResponseError::Failure(_)) => return Err(e.into()),
        Ok(_) => return Err(TrackerError::HttpStatus(status.as_u16())),
        Err(_) if !status.is_success() => return Err(TrackerError::HttpStatus(status.as_u16())),
        Err(e) => return Err(e.into()),
    };
    let mut peers = Vec::with_capacity(reply.peers.len());
    let mut hosts = Vec::new();
    for p in reply.peers {
        match p.endpoint {
            PeerEndpoint::Addr(a) => peers.push(a),
            PeerEndpoint::Host { name, port } => hosts.push((name, port)),
        }
    }
    if !hosts.is_empty() {
        peers.extend(resolve_hosts(hosts, timeout).await);
    }
    Ok(AnnounceOutcome {
        peers,
        interval: std::time::Duration::from_secs(u64::from(reply.interval)),
        min_interval: reply
            .min_interval
            .map(|m| std::time::Duration::from_secs(u64::from(m))),
        seeders: reply.complete,
        leechers: reply.incomplete,
        warning: reply.warning_message,
        tracker_id: reply.tracker_id,
        external_ip: reply.external_ip,
    })
}

/// reqwest's error with its sources ("error sending request: connection
/// refused"), since the top-level message alone hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
