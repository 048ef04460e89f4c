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

/// How long a tracker that refused a connection is taken as down: its
/// other torrents' announces in that time fail at once, without a socket
/// (a seedbox of thousands of torrents on one dead tracker tries it once
/// per window, not once per torrent).
const REFUSED_FOR: std::time::Duration = std::time::Duration::from_secs(5);
/// Most trackers remembered as down (expired ones go first).
const REFUSALS_MAX: usize = 1024;

/// A tracker as far as refusals go: host, port, our source address.
type Origin = (String, u16, Option<IpAddr>);

/// Trackers that refused a connection lately: until when, and the error.
#[derive(Debug, Default)]
struct Refusals(HashMap<Origin, (tokio::time::Instant, String)>);

impl Refusals {
    /// The error of `origin`'s refusal if it still stands at `now`.
    fn lately(&mut self, origin: &Origin, now: tokio::time::Instant) -> Option<String> {
        match self.0.get(origin) {
            Some((until, why)) if *until > now => Some(why.clone()),
            Some(_) => {
                self.0.remove(origin);
                None
            }
            None => None,
        }
    }

    /// `origin` refused at `now` with `why`.
    fn note(&mut self, origin: Origin, why: String, now: tokio::time::Instant) {
        if self.0.len() >= REFUSALS_MAX {
            self.0.retain(|_, (until, _)| *until > now);
            if self.0.len() >= REFUSALS_MAX {
                return;
            }
        }
        self.0.insert(origin, (now + REFUSED_FOR, why));
    }
}

fn refusals() -> std::sync::MutexGuard<'static, Refusals> {
    static REFUSALS: OnceLock<Mutex<Refusals>> = OnceLock::new();
    REFUSALS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
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
    let origin: Origin = (
        url.host_str().unwrap_or_default().to_owned(),
        url.port_or_known_default().unwrap_or(0),
        from,
    );
    if let Some(why) = refusals().lately(&origin, tokio::time::Instant::now()) {
        return Err(TrackerError::Http(why));
    }
    let exchange = async move {
        let mut resp = client(from)?.get(url).send().await.map_err(|e| {
            let connect = e.is_connect();
            // Without the URL: it names one torrent, and the error is
            // kept in every tier's status.
            let why = error_chain(&e.without_url());
            if connect {
                refusals().note(origin, why.clone(), tokio::time::Instant::now());
            }
            TrackerError::Http(why)
        })?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| TrackerError::Http(error_chain(&e.without_url())))?
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

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(port: u16) -> Origin {
        ("127.0.0.1".to_owned(), port, None)
    }

    #[test]
    fn a_refusal_stands_for_its_window_then_lapses() {
        let mut r = Refusals::default();
        let t0 = tokio::time::Instant::now();
        assert_eq!(r.lately(&origin(9), t0), None);
        r.note(origin(9), "refused".into(), t0);
        assert_eq!(
            r.lately(&origin(9), t0 + REFUSED_FOR / 2).as_deref(),
            Some("refused")
        );
        // Another port of the same host is another tracker.
        assert_eq!(r.lately(&origin(10), t0), None);
        assert_eq!(r.lately(&origin(9), t0 + REFUSED_FOR), None);
        assert!(r.0.is_empty(), "a lapsed refusal is forgotten");
    }

    #[test]
    fn refusals_are_bounded() {
        let mut r = Refusals::default();
        let t0 = tokio::time::Instant::now();
        for p in 0..(REFUSALS_MAX as u16 + 10) {
            r.note(origin(p), "refused".into(), t0);
        }
        assert_eq!(r.0.len(), REFUSALS_MAX);
        // Once they have lapsed, new ones take their place.
        r.note(origin(60_000), "refused".into(), t0 + REFUSED_FOR);
        assert_eq!(r.0.len(), 1);
    }

    /// Announces to a tracker that refused a moment ago fail at once with
    /// its error, which does not name another torrent's URL.
    #[tokio::test]
    async fn a_refused_tracker_is_not_dialled_again_at_once() {
        // A port nobody listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = |hash: &str| {
            url::Url::parse(&format!(
                "http://127.0.0.1:{port}/announce?info_hash={hash}"
            ))
            .unwrap()
        };
        let timeout = std::time::Duration::from_secs(5);
        let first = get(url("aaaa"), timeout, None).await.unwrap_err();
        let TrackerError::Http(why) = &first else {
            panic!("{first:?}");
        };
        assert!(!why.contains("aaaa"), "{why}");
        let o = ("127.0.0.1".to_owned(), port, None);
        assert!(refusals().lately(&o, tokio::time::Instant::now()).is_some());
        let second = get(url("bbbb"), timeout, None).await.unwrap_err();
        assert_eq!(second.to_string(), first.to_string());
    }
}
