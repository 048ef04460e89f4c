//! UDP announces (BEP 15, with BEP 41 URL data and the IPv6 extension).
//!
//! A connect exchange gets a connection id, cached process-wide per
//! tracker address for its minute of validity, then the announce uses it.
//! Each send waits `udp_base_timeout`·2ⁿ (riffle-protocol's
//! [`retry_timeout`] schedule, rescaled) for a reply; each request (connect,
//! announce) is sent at most [`AnnounceConfig::udp_attempts`] times, so an
//! unanswering tracker costs a bounded time (45 s by default). The socket is connected, so an ICMP "port unreachable"
//! fails the announce at once instead of waiting.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use riffle_protocol::tracker::http::AnnounceRequest;
use riffle_protocol::tracker::udp::{
    self as wire, family_of, retry_timeout, Action, AddressFamily, ConnectionId, Request, Response,
    UdpError,
};
use tokio::net::UdpSocket;

use super::{AnnounceConfig, AnnounceOutcome, TrackerError};

/// The largest datagram we read: a reply with ~2,700 IPv6 peers.
const MAX_DATAGRAM: usize = 65_536;

/// Connection ids by tracker address, shared by every torrent.
fn cache() -> &'static Mutex<HashMap<SocketAddr, ConnectionId>> {
    static CACHE: OnceLock<Mutex<HashMap<SocketAddr, ConnectionId>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached_id(addr: SocketAddr) -> Option<u64> {
    let now = Instant::now();
    let cache = cache().lock().ok()?;
    cache.get(&addr).filter(|c| c.is_valid(now)).map(|c| c.id)
}

fn store_id(addr: SocketAddr, id: u64) {
    if let Ok(mut cache) = cache().lock() {
        let now = Instant::now();
        cache.retain(|_, c| c.is_valid(now));
        cache.insert(addr, ConnectionId::new(id, now));
    }
}

fn forget_id(addr: SocketAddr) {
    if let Ok(mut cache) = cache().lock() {
        cache.remove(&addr);
    }
}

/// The host, port and BEP 41 URL data (path and query, when they say more
/// than a bare `/announce`) of a `udp://` URL.
pub fn parse_udp_url(url: &str) -> Result<(String, u16, Vec<u8>), TrackerError> {
    let bad = |why: &str| TrackerError::BadUrl {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "udp" {
        return Err(TrackerError::UnsupportedScheme(parsed.scheme().to_owned()));
    }
    let host = match parsed.host().ok_or_else(|| bad("no host"))? {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    let port = parsed.port().ok_or_else(|| bad("no port"))?;
    let mut data = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        data.push('?');
        data.push_str(q);
    }
    let data = if matches!(data.as_str(), "" | "/" | "/announce") {
        Vec::new()
    } else {
        data.into_bytes()
    };
    Ok((host, port, data))
}

/// Resolve the tracker, preferring an IPv4 address (most trackers listen
/// there; `localhost` may resolve to `::1` first).
async fn resolve(host: &str, port: u16, within: Duration) -> Result<SocketAddr, TrackerError> {
    let err = |why: String| TrackerError::Resolve {
        host: host.to_owned(),
        why,
    };
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(within, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| err("timed out".to_owned()))?
            .map_err(|e| err(e.to_string()))?
            .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| err("no addresses".to_owned()))
}

/// BEP 15's 32-bit key from our HTTP key (8 hex digits); any other key is
/// folded into 32 bits.
fn key_u32(key: Option<&[u8]>) -> u32 {
    let Some(key) = key else { return 0 };
    std::str::from_utf8(key)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .unwrap_or_else(|| {
            key.iter()
                .fold(0u32, |acc, &b| acc.rotate_left(5) ^ u32::from(b))
        })
}

/// One exchange's socket, its tracker and the current request's attempts.
struct Exchange<'a> {
    socket: UdpSocket,
    family: AddressFamily,
    cfg: &'a AnnounceConfig,
    attempt: u32,
}

impl Exchange<'_> {
    /// This attempt's wait: the protocol's 15·2ⁿ s, rescaled so attempt 0
    /// waits `udp_base_timeout`, then divided by the time scale.
    fn timeout(&self) -> Option<Duration> {
        if self.attempt >= self.cfg.udp_attempts {
            return None;
        }
        let nominal = retry_timeout(self.attempt)?;
        let ratio = self.cfg.udp_base_timeout.as_secs_f64() / 15.0;
        Some(
            self.cfg
                .scaled(Duration::try_from_secs_f64(nominal.as_secs_f64() * ratio).ok()?),
        )
    }

    /// Send `req` until a reply with its transaction id and `expected`
    /// action arrives, retransmitting on the schedule; packets that are not
    /// the answer (stale, malformed, other transaction) are ignored.
    async fn round_trip(
        &mut self,
        req: &Request,
        expected: Action,
        transaction_id: u32,
    ) -> Result<Response, TrackerError> {
        let packet = req.encode();
        self.attempt = 0;
        let mut total = Duration::ZERO;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Some(wait) = self.timeout() {
            self.attempt += 1;
            total = total.saturating_add(wait);
            self.socket.send(&packet).await?;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let n = match tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(r) => r?,
                };
                let Some(bytes) = buf.get(..n) else { continue };
                match Response::decode(bytes, self.family)
                    .and_then(|r| r.check(expected, transaction_id))
                {
                    Ok(r) => return Ok(r),
                    Err(e @ UdpError::Tracker(_)) => return Err(e.into()),
                    Err(e) => tracing::debug!(error = %e, "ignoring UDP tracker packet"),
                }
            }
            tracing::debug!(
                attempt = self.attempt,
                "UDP tracker did not answer, retrying"
            );
        }
        Err(TrackerError::Timeout(total))
    }

    async fn connect(&mut self, addr: SocketAddr) -> Result<u64, TrackerError> {
        let transaction_id = rand::random();
        match self
            .round_trip(
                &Request::Connect { transaction_id },
                Action::Connect,
                transaction_id,
            )
            .await?
        {
            Response::Connect { connection_id, .. } => {
                store_id(addr, connection_id);
                Ok(connection_id)
            }
            _ => Err(TrackerError::Udp(UdpError::UnexpectedAction {
                expected: Action::Connect,
                got: Action::Announce,
            })),
        }
    }
}

/// A socket connected to the tracker at `host:port`, for one exchange.
async fn open<'a>(
    host: &str,
    port: u16,
    cfg: &'a AnnounceConfig,
) -> Result<(Exchange<'a>, SocketAddr), TrackerError> {
    let first_wait = cfg
        .scaled(cfg.udp_base_timeout)
        .max(Duration::from_millis(100));
    let addr = resolve(host, port, first_wait.max(Duration::from_secs(5))).await?;
    let family = family_of(&addr);
    let local: SocketAddr = match (addr, cfg.bind_ip) {
        (SocketAddr::V4(_), Some(ip)) if ip.is_ipv4() => (ip, 0).into(),
        (SocketAddr::V6(_), Some(ip)) if ip.is_ipv6() => (ip, 0).into(),
        (SocketAddr::V4(_), _) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        (SocketAddr::V6(_), _) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    let ex = Exchange {
        socket,
        family,
        cfg,
        attempt: 0,
    };
    Ok((ex, addr))
}

/// Scrape a `udp://` tracker (BEP 15) for `hashes` (at most 74 in one
/// packet; more are cut).
pub async fn scrape(
    url: &str,
    hashes: &[riffle_protocol::InfoHash],
    cfg: &AnnounceConfig,
) -> Result<super::ScrapeReply, TrackerError> {
    let hashes = &hashes[..hashes.len().min(74)];
    let (host, port, _) = parse_udp_url(url)?;
    let (mut ex, addr) = open(&host, port, cfg).await?;
    let connection_id = ex.connect(addr).await?;
    let transaction_id = rand::random();
    let req = Request::Scrape {
        connection_id,
        transaction_id,
        info_hashes: hashes.to_vec(),
    };
    let reply = ex.round_trip(&req, Action::Scrape, transaction_id).await?;
    let Response::Scrape { entries, .. } = reply else {
        return Err(TrackerError::Udp(UdpError::UnexpectedAction {
            expected: Action::Scrape,
            got: reply.action(),
        }));
    };
    Ok(hashes
        .iter()
        .zip(entries)
        .map(|(h, e)| {
            (
                *h,
                riffle_protocol::tracker::scrape::ScrapeStats {
                    complete: u64::from(e.seeders),
                    downloaded: u64::from(e.completed),
                    incomplete: u64::from(e.leechers),
                },
            )
        })
        .collect())
}

/// Announce to a `udp://` tracker.
pub async fn announce(
    url: &str,
    req: &AnnounceRequest,
    cfg: &AnnounceConfig,
) -> Result<AnnounceOutcome, TrackerError> {
    let (host, port, url_data) = parse_udp_url(url)?;
    let (mut ex, addr) = open(&host, port, cfg).await?;
    // A cached id the tracker no longer honours (it restarted, or keeps a
    // shorter lifetime) gets one fresh connect before giving up.
    let mut connection_id = match cached_id(addr) {
        Some(id) => (id, true),
        None => (ex.connect(addr).await?, false),
    };
    let reply = loop {
        let transaction_id = rand::random();
        let announce = Request::Announce(wire::AnnounceRequest {
            connection_id: connection_id.0,
            transaction_id,
            info_hash: req.info_hash,
            peer_id: req.peer_id,
            downloaded: req.downloaded,
            left: req.left,
            uploaded: req.uploaded,
            event: req.event,
            ip: 0,
            key: key_u32(req.key.as_deref()),
            num_want: req
                .numwant
                .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)),
            port: req.port,
            url_data: url_data.clone(),
        });
        match ex
            .round_trip(&announce, Action::Announce, transaction_id)
            .await
        {
            Err(TrackerError::Udp(UdpError::Tracker(msg))) if connection_id.1 => {
                tracing::debug!(%msg, "UDP tracker refused a cached connection id; reconnecting");
                forget_id(addr);
                connection_id = (ex.connect(addr).await?, false);
            }
            Err(TrackerError::Timeout(t)) if connection_id.1 => {
                forget_id(addr);
                return Err(TrackerError::Timeout(t));
            }
            other => break other?,
        }
    };
    let Response::Announce {
        interval,
        leechers,
        seeders,
        peers,
        ..
    } = reply
    else {
        return Err(TrackerError::Udp(UdpError::UnexpectedAction {
            expected: Action::Announce,
            got: reply.action(),
        }));
    };
    Ok(AnnounceOutcome {
        peers,
        interval: Duration::from_secs(u64::from(interval)),
        min_interval: None,
        seeders: Some(u64::from(seeders)),
        leechers: Some(u64::from(leechers)),
        warning: None,
        tracker_id: None,
        external_ip: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            parse_udp_url("udp://tracker.example:6969/announce").unwrap(),
            ("tracker.example".to_owned(), 6969, Vec::new())
        );
        assert_eq!(
            parse_udp_url("udp://[::1]:80").unwrap(),
            ("::1".to_owned(), 80, Vec::new())
        );
        assert_eq!(
            parse_udp_url("udp://127.0.0.1:1/a/announce?passkey=x")
                .unwrap()
                .2,
            b"/a/announce?passkey=x".to_vec()
        );
        assert!(matches!(
            parse_udp_url("udp://tracker.example/announce"),
            Err(TrackerError::BadUrl { .. })
        ));
        assert!(matches!(
            parse_udp_url("http://tracker.example:1/announce"),
            Err(TrackerError::UnsupportedScheme(_))
        ));
    }

    #[test]
    fn keys() {
        assert_eq!(key_u32(Some(b"1A2B3C4D")), 0x1a2b_3c4d);
        assert_eq!(key_u32(None), 0);
        assert_ne!(key_u32(Some(b"not hex!")), 0);
    }

    #[test]
    fn attempts_follow_the_protocol_schedule_rescaled() {
        let cfg = AnnounceConfig {
            udp_base_timeout: Duration::from_millis(100),
            udp_attempts: 3,
            ..AnnounceConfig::default()
        };
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let mut ex = Exchange {
            socket: UdpSocket::from_std(socket).unwrap(),
            family: AddressFamily::V4,
            cfg: &cfg,
            attempt: 0,
        };
        let mut waits = Vec::new();
        while let Some(w) = ex.timeout() {
            waits.push(w);
            ex.attempt += 1;
        }
        assert_eq!(waits, [100, 200, 400].map(Duration::from_millis).to_vec());
    }
}
