//! What a DHT node keeps for others, each part bounded: the peers
//! announced to it ([`PeerStore`]), the tokens that prove an announcer
//! asked first ([`Tokens`]), and a per-address budget of queries
//! ([`RateLimiter`]) so a flood costs a counter, not memory or replies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::InfoHash;

/// An announced peer is forgotten after this long without a re-announce.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// A token stays valid through one secret rotation.
pub const TOKEN_ROTATION: Duration = Duration::from_secs(5 * 60);

/// Peers announced to us, by torrent; at most `max_hashes` torrents and
/// `max_per_hash` peers each (the oldest entry goes first).
#[derive(Debug)]
pub struct PeerStore {
    peers: HashMap<InfoHash, Vec<(SocketAddrV4, Instant)>>,
    max_hashes: usize,
    max_per_hash: usize,
}

impl PeerStore {
    /// An empty store with these bounds.
    pub fn new(max_hashes: usize, max_per_hash: usize) -> PeerStore {
        PeerStore {
            peers: HashMap::new(),
            max_hashes,
            max_per_hash,
        }
    }

    /// Remember `peer` for `hash`.
    pub fn add(&mut self, hash: InfoHash, peer: SocketAddrV4, now: Instant) {
        if !self.peers.contains_key(&hash) && self.peers.len() >= self.max_hashes {
            // Full: the torrent whose newest announce is oldest goes.
            let stalest = self
                .peers
                .iter()
                .min_by_key(|(_, v)| v.iter().map(|(_, t)| *t).max())
                .map(|(h, _)| *h);
            if let Some(h) = stalest {
                self.peers.remove(&h);
            }
        }
        let list = self.peers.entry(hash).or_default();
        list.retain(|(p, _)| *p != peer);
        if list.len() >= self.max_per_hash {
            list.remove(0);
        }
        list.push((peer, now));
    }

    /// Up to `n` peers of `hash`, newest first.
    pub fn get(&self, hash: &InfoHash, n: usize) -> Vec<SocketAddrV4> {
        self.peers
            .get(hash)
            .map(|v| v.iter().rev().take(n).map(|(p, _)| *p).collect())
            .unwrap_or_default()
    }

    /// Forget peers not announced again within [`PEER_TTL`].
    pub fn expire(&mut self, now: Instant) {
        for v in self.peers.values_mut() {
            v.retain(|(_, t)| now.duration_since(*t) < PEER_TTL);
        }
        self.peers.retain(|_, v| !v.is_empty());
    }

    /// Torrents and peers held.
    pub fn counts(&self) -> (usize, usize) {
        (self.peers.len(), self.peers.values().map(Vec::len).sum())
    }
}

/// Announce tokens: a keyed hash of the querier's address under a secret
/// that rotates every [`TOKEN_ROTATION`]; the previous secret is still
/// accepted, so a token lives 5 to 10 minutes and nothing is stored per
/// querier.
#[derive(Debug)]
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated: Instant,
}

impl Tokens {
    /// Tokens under `secret`.
    pub fn new(secret: [u8; 16], now: Instant) -> Tokens {
        Tokens {
            current: secret,
            previous: secret,
            rotated: now,
        }
    }

    fn token(secret: &[u8; 16], ip: IpAddr) -> Vec<u8> {
        let mut h = Sha1::new();
        h.update(secret);
        match ip {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        h.finalize()[..8].to_vec()
    }

    /// The token to give `ip`.
    pub fn issue(&self, ip: IpAddr) -> Vec<u8> {
        Self::token(&self.current, ip)
    }

    /// Did we give `ip` this token (under this secret or the last)?
    pub fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == Self::token(&self.current, ip).as_slice()
            || token == Self::token(&self.previous, ip).as_slice()
    }

    /// Rotate the secret if it is due; `fresh` is the new one.
    pub fn maybe_rotate(&mut self, now: Instant, fresh: [u8; 16]) {
        if now.duration_since(self.rotated) >= TOKEN_ROTATION {
            self.previous = self.current;
            self.current = fresh;
            self.rotated = now;
        }
    }
}

/// Queries answered per address per second at most, and in all; the
/// table of addresses is bounded (cleared when full: a flood of
/// addresses then shares the global budget).
#[derive(Debug)]
pub struct RateLimiter {
    per_ip: u32,
    global: u32,
    window: Instant,
    used: u32,
    by_ip: HashMap<IpAddr, u32>,
}

/// Addresses counted at once.
const MAX_TRACKED: usize = 4096;

impl RateLimiter {
    /// A budget of `per_ip` queries per address and `global` in all, per
    /// second.
    pub fn new(per_ip: u32, global: u32, now: Instant) -> RateLimiter {
        RateLimiter {
            per_ip,
            global,
            window: now,
            used: 0,
            by_ip: HashMap::new(),
        }
    }

    /// May a query from `ip` be answered now?
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.used = 0;
            self.by_ip.clear();
        }
        if self.used >= self.global {
            return false;
        }
        if self.by_ip.len() >= MAX_TRACKED && !self.by_ip.contains_key(&ip) {
            self.by_ip.clear();
        }
        let n = self.by_ip.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return false;
        }
        *n += 1;
        self.used += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_bounds_and_expiry() {
        let now = Instant::now();
        let mut s = PeerStore::new(2, 3);
        let p = |port| SocketAddrV4::new([10, 0, 0, 1].into(), port);
        for port in 1..=5 {
            s.add(InfoHash([1; 20]), p(port), now);
        }
        assert_eq!(s.get(&InfoHash([1; 20]), 10), vec![p(5), p(4), p(3)]);
        s.add(InfoHash([2; 20]), p(9), now + Duration::from_secs(1));
        s.add(InfoHash([3; 20]), p(9), now + Duration::from_secs(2));
        assert_eq!(s.counts().0, 2, "at most two torrents");
        assert!(s.get(&InfoHash([1; 20]), 10).is_empty(), "the stalest went");
        s.expire(now + PEER_TTL + Duration::from_secs(3));
        assert_eq!(s.counts(), (0, 0));
    }

    #[test]
    fn tokens_live_one_rotation() {
        let now = Instant::now();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let mut t = Tokens::new([1; 16], now);
        let tok = t.issue(ip);
        assert!(t.check(ip, &tok));
        assert!(!t.check("10.1.2.4".parse().unwrap(), &tok));
        t.maybe_rotate(now + TOKEN_ROTATION, [2; 16]);
        assert!(t.check(ip, &tok), "previous secret still good");
        t.maybe_rotate(now + TOKEN_ROTATION * 2, [3; 16]);
        assert!(!t.check(ip, &tok));
    }

    #[test]
    fn rate_limits() {
        let now = Instant::now();
        let mut r = RateLimiter::new(2, 3, now);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(r.allow(a, now) && r.allow(a, now));
        assert!(!r.allow(a, now), "per address");
        assert!(r.allow(b, now));
        assert!(!r.allow(b, now), "global");
        assert!(r.allow(a, now + Duration::from_secs(1)), "a new second");
    }
}
