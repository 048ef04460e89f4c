//! Who may use the RPC, as Transmission decides it: an address whitelist,
//! HTTP basic authentication, and a Host-header check against DNS
//! rebinding (a web page elsewhere making the browser talk to
//! 127.0.0.1). Failed logins are logged and answered more slowly each
//! time, per address. Sans-IO: the HTTP layer asks, this answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The slowest a failed login is answered.
const MAX_PENALTY: Duration = Duration::from_secs(8);
/// Failures are forgotten after this long without another.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses remembered for failures at most (a flood of addresses
/// cannot grow the table without bound).
const MAX_REMEMBERED: usize = 4096;

/// What the RPC lets through.
#[derive(Debug)]
pub struct Access {
    credentials: Option<(String, String)>,
    whitelist: Option<Vec<String>>,
    hosts: Vec<String>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// The address is not on the whitelist (403).
    Forbidden,
    /// The Host header names neither this machine by address nor an
    /// allowed name (421).
    BadHost,
    /// No or wrong credentials (401), to be answered after the delay.
    Unauthorized(Duration),
}

impl Access {
    /// `credentials`: user and password required (None: none). `whitelist`:
    /// address patterns allowed (`*` matches one part: `192.168.*.*`; None:
    /// any address). `hosts`: names allowed in the Host header besides
    /// `localhost` and addresses.
    pub fn new(
        credentials: Option<(String, String)>,
        whitelist: Option<Vec<String>>,
        hosts: Vec<String>,
    ) -> Access {
        Access {
            credentials,
            whitelist,
            hosts,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Judge a request from `peer` with these headers.
    pub fn check(&self, peer: IpAddr, host: Option<&str>, authorization: Option<&str>) -> Verdict {
        let peer = peer.to_canonical();
        if let Some(list) = &self.whitelist {
            if !list.iter().any(|p| ip_matches(p, peer)) {
                tracing::info!(%peer, "RPC request from an address not on the whitelist");
                return Verdict::Forbidden;
            }
        }
        match &self.credentials {
            Some((user, pass)) => {
                if basic_matches(authorization, user, pass) {
                    if let Ok(mut f) = self.failures.lock() {
                        f.remove(&peer);
                    }
                    Verdict::Allow
                } else {
                    Verdict::Unauthorized(self.fail(peer, authorization.is_some()))
                }
            }
            // Without a password, a page on another site could reach us
            // through the browser by a name resolving here: only
            // addresses, localhost and named hosts are accepted.
            None if host.is_some_and(|h| !self.host_allowed(h)) => Verdict::BadHost,
            None => Verdict::Allow,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name.eq_ignore_ascii_case("localhost")
            || name.eq_ignore_ascii_case("localhost.")
            || name.parse::<IpAddr>().is_ok()
            || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Count a failure; the delay before answering it.
    fn fail(&self, peer: IpAddr, tried: bool) -> Duration {
        let Ok(mut f) = self.failures.lock() else {
            return MAX_PENALTY;
        };
        let now = Instant::now();
        if f.len() >= MAX_REMEMBERED {
            f.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
            if f.len() >= MAX_REMEMBERED {
                f.clear();
            }
        }
        if !tried {
            // A client's first request without credentials is how basic
            // authentication starts: not a failure.
            return Duration::ZERO;
        }
        let e = f.entry(peer).or_insert((0, now));
        if now.duration_since(e.1) >= FORGET_AFTER {
            e.0 = 0;
        }
        e.0 += 1;
        e.1 = now;
        tracing::warn!(%peer, failures = e.0, "failed RPC login");
        let penalty = Duration::from_millis(250) * 2u32.saturating_pow(e.0.min(6) - 1);
        penalty.min(MAX_PENALTY)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Does `ip` match `pattern` (`*` for one part of an IPv4 address, or a
/// whole address)?
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let pattern = pattern.trim();
    if let Ok(p) = pattern.parse::<IpAddr>() {
        return p.to_canonical() == ip;
    }
    let IpAddr::V4(v4) = ip else {
        return false;
    };
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .zip(v4.octets())
            .all(|(p, o)| *p == "*" || p.parse::<u8>() == Ok(o))
}

/// Does `Authorization: Basic …` carry exactly `user:pass`? Compared
/// without an early exit on the first differing byte.
fn basic_matches(header: Option<&str>, user: &str, pass: &str) -> bool {
    let Some(h) = header else {
        return false;
    };
    let Some(b64) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = data_encoding::BASE64.decode(b64.trim().as_bytes()) else {
        return false;
    };
    let expected = format!("{user}:{pass}").into_bytes();
    decoded.len() == expected.len()
        && decoded
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            data_encoding::BASE64.encode(format!("{user}:{pass}").as_bytes())
        )
    }

    #[test]
    fn whitelist_patterns() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(ip_matches("192.168.*.*", ip("192.168.4.9")));
        assert!(!ip_matches("192.168.*.*", ip("10.0.0.1")));
        assert!(ip_matches("::1", ip("::1")));
        assert!(ip_matches(
            "127.0.0.1",
            ip("::ffff:127.0.0.1").to_canonical()
        ));
        assert!(!ip_matches("nonsense", ip("1.2.3.4")));
        let a = Access::new(None, Some(vec!["127.0.0.1".into()]), vec![]);
        assert_eq!(a.check(ip("127.0.0.1"), None, None), Verdict::Allow);
        assert_eq!(a.check(ip("10.1.1.1"), None, None), Verdict::Forbidden);
    }

    #[test]
    fn basic_auth_and_growing_penalties() {
        let a = Access::new(Some(("u".into(), "p".into())), None, vec![]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(a.check(peer, None, Some(&basic("u", "p"))), Verdict::Allow);
        // The first request without credentials is the normal challenge.
        assert_eq!(
            a.check(peer, None, None),
            Verdict::Unauthorized(Duration::ZERO)
        );
        let first = a.check(peer, None, Some(&basic("u", "x")));
        let second = a.check(peer, None, Some(&basic("u", "x")));
        match (first, second) {
            (Verdict::Unauthorized(d1), Verdict::Unauthorized(d2)) => {
                assert!(d1 > Duration::ZERO && d2 > d1)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            a.check(peer, None, Some("Basic !!!")),
            Verdict::Unauthorized(Duration::from_secs(1))
        );
        // With a password any Host is fine.
        assert_eq!(
            a.check(peer, Some("evil.example"), Some(&basic("u", "p"))),
            Verdict::Allow
        );
    }

    #[test]
    fn hosts_without_a_password() {
        let a = Access::new(None, None, vec!["seedbox.lan".into()]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        for ok in [
            "localhost:9091",
            "127.0.0.1:9091",
            "[::1]:9091",
            "seedbox.lan",
            "SEEDBOX.LAN:80",
        ] {
            assert_eq!(a.check(peer, Some(ok), None), Verdict::Allow, "{ok}");
        }
        assert_eq!(
            a.check(peer, Some("evil.example:9091"), None),
            Verdict::BadHost
        );
        assert_eq!(a.check(peer, None, None), Verdict::Allow);
    }
}
