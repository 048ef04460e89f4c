//! The cross-swarm credit ledger.
//!
//! Per remote host, two decayed byte rates: what it gave us and what we
//! gave it, summed over every torrent we share with it. Each is an
//! exponentially weighted rate with time constant `horizon`: a transfer of
//! `b` bytes adds `b / horizon`, and the value decays by `exp(-dt /
//! horizon)`; a host that sends steadily at `r` bytes/s converges to `r`,
//! and one that stopped is forgotten after a few horizons. A host's
//! *contribution* is what it gave us, as a rate: the leecher chokers of
//! every torrent rank by it instead of by the peer's download rate in
//! their own torrent ([`CreditLedger::rank_views`]), so reciprocity crosses
//! swarms.
//!
//! Hosts are named by a key they send (riffle peers exchange a persistent
//! random key in the extended handshake) or else by IP address. The key is
//! trusted for nothing but this ledger: a host that changes its key only
//! loses its own credit. The ledger holds at most `capacity` hosts; past
//! that the one with the least credit is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::choker::PeerView;
use crate::PeerKey;

/// A remote host as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostId {
    /// The persistent key a riffle host sent in its extended handshake.
    Key([u8; 16]),
    /// Any other host: its IP address.
    Ip(IpAddr),
}

impl HostId {
    /// The key if the peer sent one, else its address.
    pub fn of(key: Option<[u8; 16]>, ip: IpAddr) -> HostId {
        key.map_or(HostId::Ip(ip), HostId::Key)
    }
}

/// Decayed rates of one host.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Bytes/s it gave us (decayed to `at`).
    given: f64,
    /// Bytes/s we gave it (decayed to `at`).
    taken: f64,
    at: Instant,
}

/// The session's ledger. Time comes in as arguments.
#[derive(Debug, Clone)]
pub struct CreditLedger {
    hosts: HashMap<HostId, Entry>,
    horizon: Duration,
    capacity: usize,
}

/// Default time constant of the decay.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(120);
/// Default number of hosts kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

impl Default for CreditLedger {
    fn default() -> Self {
        CreditLedger::new(DEFAULT_HORIZON, DEFAULT_CAPACITY)
    }
}

impl CreditLedger {
    /// A ledger decaying with time constant `horizon` (at least 1 ms),
    /// keeping at most `capacity` hosts (at least one).
    pub fn new(horizon: Duration, capacity: usize) -> CreditLedger {
        CreditLedger {
            hosts: HashMap::new(),
            horizon: horizon.max(Duration::from_millis(1)),
            capacity: capacity.max(1),
        }
    }

    fn decay(&self, e: &Entry, now: Instant) -> (f64, f64) {
        let dt = now.saturating_duration_since(e.at).as_secs_f64();
        let k = (-dt / self.horizon.as_secs_f64()).exp();
        (e.given * k, e.taken * k)
    }

    fn add(&mut self, host: HostId, given: u64, taken: u64, now: Instant) {
        let h = self.horizon.as_secs_f64();
        if !self.hosts.contains_key(&host) && self.hosts.len() >= self.capacity {
            self.evict(now);
        }
        let e = self.hosts.entry(host).or_insert(Entry {
            given: 0.0,
            taken: 0.0,
            at: now,
        });
        let dt = now.saturating_duration_since(e.at).as_secs_f64();
        let k = (-dt / h).exp();
        e.given = e.given * k + given as f64 / h;
        e.taken = e.taken * k + taken as f64 / h;
        e.at = e.at.max(now);
    }

    /// Forget the host with the least credit.
    fn evict(&mut self, now: Instant) {
        let least = self
            .hosts
            .iter()
            .map(|(k, e)| (*k, self.decay(e, now).0))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
        if let Some(k) = least {
            self.hosts.remove(&k);
        }
    }

    /// `host` sent us `bytes` of verified payload (any torrent).
    pub fn received(&mut self, host: HostId, bytes: u64, now: Instant) {
        self.add(host, bytes, 0, now);
    }

    /// We sent `host` `bytes` of payload (any torrent).
    pub fn sent(&mut self, host: HostId, bytes: u64, now: Instant) {
        self.add(host, 0, bytes, now);
    }

    /// What `host` gave us, as a decayed rate in bytes/s.
    pub fn contribution(&self, host: &HostId, now: Instant) -> f64 {
        self.hosts.get(host).map_or(0.0, |e| self.decay(e, now).0)
    }

    /// What we gave `host`, as a decayed rate in bytes/s.
    pub fn taken(&self, host: &HostId, now: Instant) -> f64 {
        self.hosts.get(host).map_or(0.0, |e| self.decay(e, now).1)
    }

    /// Hosts known.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// No host known.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Drop hosts whose rates both decayed below `floor` bytes/s (call now
    /// and then: keeps the ledger to the hosts that matter).
    pub fn prune(&mut self, floor: f64, now: Instant) {
        let h = self.horizon.as_secs_f64();
        self.hosts.retain(|_, e| {
            let k = (-now.saturating_duration_since(e.at).as_secs_f64() / h).exp();
            e.given * k >= floor || e.taken * k >= floor
        });
    }

    /// Rewrite each view's `download_rate` (the reciprocation signal the
    /// leecher chokers rank by) to its host's cross-swarm contribution,
    /// never below what it sends in this torrent now. `host_of` names the
    /// host of each peer (None: leave the view as it is).
    pub fn rank_views(
        &self,
        views: &mut [PeerView],
        host_of: impl Fn(PeerKey) -> Option<HostId>,
        now: Instant,
    ) {
        for v in views {
            if let Some(h) = host_of(v.key) {
                let credit = self.contribution(&h, now).round() as u64;
                v.download_rate = v.download_rate.max(credit);
                if credit > 0 {
                    // Giving elsewhere is not snubbing us here.
                    v.snubbed = false;
                }
            }
        }
    }
}

/// A seed serves first the hosts that gave us (elsewhere: a seed takes
/// nothing in this torrent): the regular slots the seed choker filled go
/// to the interested peers whose host has credit, most first, and the
/// choker's own picks fill what is left in their order. The optimistic
/// slot stays the choker's. `credit` gives each peer's host contribution
/// (bytes/s; 0 or None: none).
pub fn serve_credited_first(
    views: &[PeerView],
    credit: impl Fn(PeerKey) -> Option<f64>,
    unchoke: &mut crate::choker::Unchoke,
) {
    let slots = unchoke.regular.len();
    let mut credited: Vec<(PeerKey, f64)> = views
        .iter()
        .filter(|v| v.interested && Some(v.key) != unchoke.optimistic)
        .filter_map(|v| credit(v.key).filter(|c| *c > 0.0).map(|c| (v.key, c)))
        .collect();
    if slots == 0 || credited.is_empty() {
        return;
    }
    credited.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut regular: Vec<PeerKey> = credited.iter().map(|(k, _)| *k).take(slots).collect();
    for k in &unchoke.regular {
        if regular.len() == slots {
            break;
        }
        if !regular.contains(k) {
            regular.push(*k);
        }
    }
    unchoke.regular = regular;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> HostId {
        HostId::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    #[test]
    fn a_steady_sender_converges_to_its_rate_and_decays_after() {
        let t0 = Instant::now();
        let mut l = CreditLedger::new(Duration::from_secs(10), 100);
        // 1000 bytes/s for 100 s, in 0.1 s steps.
        for i in 1..=1000 {
            l.received(ip(1), 100, t0 + Duration::from_millis(100 * i));
        }
        let end = t0 + Duration::from_secs(100);
        let r = l.contribution(&ip(1), end);
        assert!((r - 1000.0).abs() < 10.0, "{r}");
        // One horizon later: 1/e of it.
        let later = l.contribution(&ip(1), end + Duration::from_secs(10));
        assert!((later - r / std::f64::consts::E).abs() < 1.0, "{later}");
        assert_eq!(l.taken(&ip(1), end), 0.0);
        assert_eq!(l.contribution(&ip(2), end), 0.0);
    }

    #[test]
    fn keys_and_addresses_are_different_hosts() {
        let t = Instant::now();
        let mut l = CreditLedger::default();
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        l.received(HostId::of(Some([1; 16]), a), 5000, t);
        l.received(HostId::of(None, a), 100, t);
        assert!(l.contribution(&HostId::Key([1; 16]), t) > l.contribution(&HostId::Ip(a), t));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn the_least_credited_host_is_forgotten_at_capacity() {
        let t = Instant::now();
        let mut l = CreditLedger::new(Duration::from_secs(60), 2);
        l.received(ip(1), 10_000, t);
        l.received(ip(2), 10, t);
        l.received(ip(3), 5_000, t);
        assert_eq!(l.len(), 2);
        assert_eq!(l.contribution(&ip(2), t), 0.0);
        assert!(l.contribution(&ip(1), t) > 0.0 && l.contribution(&ip(3), t) > 0.0);
        l.prune(1.0, t + Duration::from_secs(3600));
        assert!(l.is_empty());
    }

    #[test]
    fn credit_from_elsewhere_ranks_a_peer_that_gives_nothing_here() {
        let t = Instant::now();
        let mut l = CreditLedger::default();
        l.received(ip(1), 1_200_000, t);
        let mut giver = PeerView::new(PeerKey(1), t);
        giver.snubbed = true;
        let mut local = PeerView::new(PeerKey(2), t);
        local.download_rate = 3_000;
        let mut views = [giver, local];
        l.rank_views(&mut views, |k| (k == PeerKey(1)).then_some(ip(1)), t);
        assert_eq!(views[0].download_rate, 10_000, "1.2 MB over 120 s");
        assert!(!views[0].snubbed);
        assert_eq!(views[1].download_rate, 3_000, "no host: unchanged");
    }

    proptest! {
        /// Decay never increases credit, credit is never negative, and
        /// the order of two hosts' credits holds as time passes (one decay
        /// for all).
        #[test]
        fn decay_is_monotone_and_order_preserving(
            events in proptest::collection::vec((0u8..4, 0u64..1_000_000, 0u64..5_000), 1..60),
            later in 0u64..100_000,
        ) {
            let t0 = Instant::now();
            let mut l = CreditLedger::new(Duration::from_secs(30), 16);
            let mut t = t0;
            for (h, bytes, dt) in &events {
                t += Duration::from_millis(*dt);
                l.received(ip(*h), *bytes, t);
            }
            let t2 = t + Duration::from_millis(later);
            for a in 0..4 {
                let (x, y) = (l.contribution(&ip(a), t), l.contribution(&ip(a), t2));
                prop_assert!(x >= 0.0 && y <= x + 1e-9);
                for b in 0..4 {
                    let (xb, yb) = (l.contribution(&ip(b), t), l.contribution(&ip(b), t2));
                    if x > xb * (1.0 + 1e-9) {
                        prop_assert!(y >= yb * (1.0 - 1e-9));
                    }
                }
            }
        }
    }

    #[test]
    fn a_seed_serves_credited_hosts_first_and_keeps_its_slot_count() {
        use crate::choker::Unchoke;
        let t0 = Instant::now();
        let view = |k: u64, interested: bool| PeerView {
            key: PeerKey(k),
            interested,
            wants_ours: interested,
            download_rate: 0,
            upload_rate: 0,
            pieces: 0,
            total_pieces: 10,
            connected_at: t0,
            unchoked_since: None,
            sent_since_unchoke: 0,
            snubbed: false,
            is_seed: false,
            near: false,
        };
        let views: Vec<PeerView> = (0..8).map(|k| view(k, k != 6)).collect();
        // Credit: peer 5 most, peer 2 some, peer 6 has credit but is not
        // interested, peer 7 is the optimistic one.
        let credit = |k: PeerKey| match k.0 {
            5 => Some(900.0),
            2 => Some(100.0),
            6 | 7 => Some(5000.0),
            _ => None,
        };
        let mut u = Unchoke {
            regular: vec![PeerKey(0), PeerKey(1), PeerKey(2)],
            optimistic: Some(PeerKey(7)),
        };
        serve_credited_first(&views, credit, &mut u);
        assert_eq!(u.regular, vec![PeerKey(5), PeerKey(2), PeerKey(0)]);
        assert_eq!(u.optimistic, Some(PeerKey(7)));
        // No credit anywhere: the choker's choice stands.
        let mut v = Unchoke {
            regular: vec![PeerKey(3), PeerKey(4)],
            optimistic: None,
        };
        serve_credited_first(&views, |_| None, &mut v);
        assert_eq!(v.regular, vec![PeerKey(3), PeerKey(4)]);
        // A choker that unchoked nobody regularly stays so.
        let mut w = Unchoke::default();
        serve_credited_first(&views, credit, &mut w);
        assert!(w.is_empty());
    }
}
