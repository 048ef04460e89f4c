//! Where peers come from: addresses given by the user (pinned: re-dialled
//! with backoff for as long as the torrent runs) and by trackers (tried a
//! few times), connections we dial and connections the listener hands us.
//! Banned addresses and peer ids are never used again.

use std::collections::HashSet;

use indexmap::IndexMap;
use std::net::SocketAddr;
use std::time::Duration;

use riffle_policies::locality::{Group, Locality};
use riffle_policies::PeerKey;
use riffle_protocol::peer::{PeerConnection, PeerSetup};
use riffle_protocol::PeerId;
use tokio::time::Instant;

use super::peers::PeerEntry;
use super::{Incoming, Torrent};
use crate::engine::peer::{FromPeer, PeerLinks, PeerTask};
use crate::engine::rate::Bucket;

/// First re-dial delay; doubles per failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest re-dial delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A tracker-given address that failed this many times in a row is dropped.
const DISCOVERED_TRIES: u32 = 3;

#[derive(Debug)]
struct Candidate {
    /// Given by the user: never dropped, always re-dialled.
    pinned: bool,
    /// Failures in a row.
    failures: u32,
    /// Not before.
    next_try: Instant,
    /// A connection (ours or theirs) is up or being set up.
    busy: bool,
}

/// Known peer addresses and their dial schedule.
#[derive(Debug, Default)]
pub struct Candidates {
    known: IndexMap<SocketAddr, Candidate>,
    banned_addrs: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
}

impl Candidates {
    /// Knows no address and has banned none.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty() && self.banned_addrs.is_empty() && self.banned_ids.is_empty()
    }

    /// Addresses from the user.
    pub fn add_pinned(&mut self, addrs: &[SocketAddr]) {
        let now = Instant::now();
        for a in addrs {
            if self.banned_addrs.contains(a) {
                continue;
            }
            let c = self.known.entry(*a).or_insert(Candidate {
                pinned: true,
                failures: 0,
                next_try: now,
                busy: false,
            });
            c.pinned = true;
        }
    }

    /// Addresses from a tracker.
    pub fn add_discovered(&mut self, addrs: &[SocketAddr]) {
        let now = Instant::now();
        for a in addrs {
            if self.banned_addrs.contains(a) || a.port() == 0 {
                continue;
            }
            self.known.entry(*a).or_insert(Candidate {
                pinned: false,
                failures: 0,
                next_try: now,
                busy: false,
            });
        }
    }

    /// Do not dial `addr` again unless it is given to us anew (a tracker
    /// list, the user). Pinned addresses are kept.
    pub fn forget(&mut self, addr: &SocketAddr) {
        if self.known.get(addr).is_some_and(|c| !c.pinned) {
            self.known.shift_remove(addr);
        }
    }

    /// Is this peer id banned?
    pub fn is_banned_id(&self, id: &PeerId) -> bool {
        self.banned_ids.contains(id)
    }

    /// Is this address banned?
    pub fn is_banned_addr(&self, addr: &SocketAddr) -> bool {
        self.banned_addrs.contains(addr)
    }

    /// Ban an address (and id). Returns true if it was not banned before.
    pub fn ban(&mut self, addr: SocketAddr, id: Option<PeerId>) -> bool {
        self.known.shift_remove(&addr);
        if let Some(id) = id {
            self.banned_ids.insert(id);
        }
        self.banned_addrs.insert(addr)
    }

    /// Handshake done on a connection to `addr`.
    pub fn connected(&mut self, addr: SocketAddr, outgoing: bool) {
        if outgoing {
            if let Some(c) = self.known.get_mut(&addr) {
                c.failures = 0;
            }
        }
    }

    /// Resuming: every known address may be dialled now (the backoff
    /// earned by the pause's closes is forgotten).
    pub fn retry_now(&mut self, now: Instant) {
        for c in self.known.values_mut() {
            c.failures = 0;
            c.next_try = now;
            c.busy = false;
        }
    }

    /// A connection to `addr` ended (or a dial failed).
    pub fn disconnected(&mut self, addr: SocketAddr, outgoing: bool, now: Instant) {
        if !outgoing {
            return;
        }
        let Some(c) = self.known.get_mut(&addr) else {
            return;
        };
        c.busy = false;
        c.failures = c.failures.saturating_add(1);
        if !c.pinned && c.failures >= DISCOVERED_TRIES {
            self.known.shift_remove(&addr);
            return;
        }
        let shift = c.failures.saturating_sub(1).min(5);
        let delay = (BACKOFF_START * (1u32 << shift)).min(BACKOFF_MAX);
        c.next_try = now + delay;
    }

    /// Every known address.
    fn addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        self.known.keys()
    }

    /// A candidate `due` marked busy that will not be dialled after all.
    fn unmark(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.known.get_mut(addr) {
            c.busy = false;
        }
    }

    /// Addresses due for a dial now (marked busy), at most `room`.
    /// The earliest moment a candidate not being dialled is due (None:
    /// none is waiting).
    pub fn next_due(&self) -> Option<Instant> {
        self.known
            .values()
            .filter(|c| !c.busy)
            .map(|c| c.next_try)
            .min()
    }

    fn due(
        &mut self,
        now: Instant,
        room: usize,
        connected: &HashSet<SocketAddr>,
    ) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (addr, c) in self.known.iter_mut() {
            if out.len() >= room {
                break;
            }
            if !c.busy && c.next_try <= now && !connected.contains(addr) {
                c.busy = true;
                out.push(*addr);
            }
        }
        out
    }
}

impl Torrent {
    /// Dial due candidates while there is room for more peers.
    pub(super) fn dial(&mut self, now: Instant) {
        if self.stopping || self.paused {
            return;
        }
        if self.options.peer_turnover {
            // Under turnover a full peer lets a newcomer in by closing
            // another connection; if the peer so closed dialled at once to
            // replace it, it would push someone else out, and so on: an
            // endless chain of dials through a full swarm. So a peer fills
            // up to its cap, then dials again only once it has lost a
            // quarter of it.
            let n = self.peers.len();
            let cap = self.options.max_peers;
            if n >= cap {
                self.filling = false;
            } else if n < cap - cap / 4 {
                self.filling = true;
            }
            if !self.filling {
                return;
            }
        }
        let connecting = self
            .peers
            .values()
            .filter(|e| e.link == super::peers::Link::Connecting && e.outgoing)
            .count();
        let room = self
            .options
            .max_peers
            .saturating_sub(self.peers.len())
            .min(
                self.links
                    .config
                    .half_open
                    .max(1)
                    .saturating_sub(connecting),
            )
            .min(self.links.connection_slots.free());
        if room == 0 {
            return;
        }
        // A download that is complete and not seeding dials nobody.
        if self.completed && !self.options.seed {
            return;
        }
        let connected: HashSet<SocketAddr> = self
            .peers
            .values()
            .flat_map(|e| std::iter::once(e.addr).chain(e.listen_addr))
            .collect();
        let due = match self.links.config.locality.clone() {
            None => self.candidates.due(now, room, &connected),
            Some(l) => {
                // Near-first: every due candidate is looked at, the
                // dials drawn by network (the others stay due).
                let all = self.candidates.due(now, usize::MAX, &connected);
                let ours = self.our_group(&l);
                let groups: Vec<_> = all.iter().map(|a| l.group(a.ip())).collect();
                let mut picked = l.draw(ours, &groups, room, &mut self.rng);
                // Far dials stop at the far ceiling (the shape's far share
                // of our connection cap, at least one).
                let known: Vec<_> = self.candidates.addrs().map(|a| l.group(a.ip())).collect();
                let ceiling = l.far_ceiling(ours, &known, self.options.max_peers);
                let far = |g| !(g == ours && g != riffle_policies::locality::Group::Unknown);
                let mut far_now = self
                    .peers
                    .values()
                    .filter(|e| far(l.group(e.addr.ip())))
                    .count();
                picked.retain(|&i| {
                    if !far(groups[i]) {
                        return true;
                    }
                    far_now += 1;
                    far_now <= ceiling
                });
                let mut chosen = vec![false; all.len()];
                for &i in &picked {
                    chosen[i] = true;
                }
                for (a, _) in all.iter().zip(&chosen).filter(|(_, c)| !**c) {
                    self.candidates.unmark(a);
                }
                picked.into_iter().map(|i| all[i]).collect()
            }
        };
        for addr in due {
            self.dial_one(addr);
        }
    }

    /// Our network: from our address on a connection, else the
    /// listening address (Unknown while neither is known).
    pub(super) fn our_group(&self, l: &Locality) -> Group {
        self.local_ip
            .or(self.links.config.source_ip())
            .map_or(Group::Unknown, |ip| l.group(ip))
    }

    fn new_key(&mut self) -> PeerKey {
        self.next_key += 1;
        PeerKey(self.next_key)
    }

    fn dial_one(&mut self, addr: SocketAddr) {
        let Some(slot) = self.links.connection_slots.try_take() else {
            tracing::debug!(peer = %addr, "connection limit reached; not dialling");
            return;
        };
        tracing::debug!(peer = %addr, "dialling");
        let key = self.new_key();
        let entry = self.new_entry(addr, true);
        let links = self.links(&entry);
        self.peers.insert(key, entry);
        let setup = self.setup(true);
        let timeout = self.links.config.connect_timeout;
        let from = self.links.config.source_ip();
        tokio::spawn(async move {
            let connect = crate::engine::locality::connect(addr, from);
            let dialled = match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(format!("connect: {e}")),
                Err(_) => Err("connect: timed out".to_string()),
            };
            let stream = match dialled {
                Ok(s) => s,
                Err(reason) => {
                    let _ = links
                        .to_torrent
                        .send(FromPeer::Down {
                            key,
                            reason,
                            misbehaved: false,
                        })
                        .await;
                    return;
                }
            };
            let conn = PeerConnection::new(std::time::Instant::now(), setup);
            PeerTask {
                key,
                addr,
                stream,
                conn,
                links,
            }
            .run()
            .await;
            drop(slot);
        });
    }

    /// Peer exchange (BEP 11): tell each peer that speaks it of the
    /// dialable peers we are connected to, at most once a minute.
    pub(super) fn send_pex(&mut self, now: Instant) {
        use crate::engine::pex::{message_for, Known, FIRST_AFTER, INTERVAL};
        if self.meta.info.private {
            return;
        }
        let known: Vec<(PeerKey, Known)> = self
            .peers
            .iter()
            .filter(|(_, e)| e.link == super::peers::Link::Connected)
            .filter_map(|(k, e)| {
                let addr = if e.outgoing {
                    Some(e.addr)
                } else {
                    e.listen_addr
                }?;
                Some((
                    *k,
                    Known {
                        addr,
                        seed: e.is_seed(),
                        reachable: e.outgoing,
                    },
                ))
            })
            .collect();
        for (key, e) in self.peers.iter_mut() {
            if !e.pex || e.link != super::peers::Link::Connected {
                continue;
            }
            let due = match e.pex_at {
                None => now >= e.connected_at + FIRST_AFTER,
                Some(at) => now >= at + INTERVAL,
            };
            if !due {
                continue;
            }
            let others: Vec<Known> = known
                .iter()
                .filter(|(k, _)| k != key)
                .map(|(_, kn)| *kn)
                .collect();
            if let Some(msg) = message_for(&mut e.pex_told, &others) {
                e.pex_at = Some(now);
                let payload = bytes::Bytes::from(msg.encode());
                e.mailbox.post(|o| o.pex = Some(payload));
            }
        }
    }

    /// A connection the listener accepted for this torrent.
    pub(super) fn accept(&mut self, inc: Incoming) {
        if self.stopping || self.paused || self.candidates.is_banned_addr(&inc.addr) {
            return;
        }
        if self.peers.len() >= self.options.max_peers
            && !(self.options.peer_turnover && self.make_room())
        {
            return;
        }
        let key = self.new_key();
        let entry = self.new_entry(inc.addr, false);
        let links = self.links(&entry);
        self.peers.insert(key, entry);
        let mut conn = PeerConnection::new(std::time::Instant::now(), self.setup(false));
        let addr = inc.addr;
        if let Err(e) = conn.handle_bytes(std::time::Instant::now(), &inc.handshake) {
            tracing::debug!(peer = %addr, %e, "bad incoming handshake");
            self.peers.remove(&key);
            return;
        }
        let task = PeerTask {
            key,
            addr,
            stream: inc.stream,
            conn,
            links,
        };
        let slot = inc.slot;
        tokio::spawn(async move {
            task.run().await;
            drop(slot);
        });
    }

    /// Peer turnover: close a random connected peer that is idle between
    /// us (we choke it, it has none of our requests, it is not a seed) to
    /// make room for a newcomer, preferring one that neither side wants
    /// anything from (two members of the one club, say) over one that
    /// merely waits — often a newcomer itself. False if there is none.
    fn make_room(&mut self) -> bool {
        use rand::seq::SliceRandom;
        let mut useless = Vec::new();
        let mut idle = Vec::new();
        for (k, e) in &self.peers {
            if e.link != super::peers::Link::Connected
                || !e.am_choking
                || e.outstanding != 0
                || e.is_seed()
            {
                continue;
            }
            if !e.peer_interested && !e.am_interested {
                useless.push(*k);
            } else {
                idle.push(*k);
            }
        }
        let pool = if useless.is_empty() { &idle } else { &useless };
        let victim = match self.links.config.locality.clone() {
            // Near-first: a far peer goes while the far ones hold more
            // than their share of the connections, else a near one (the
            // far floor stays).
            Some(l) => {
                let ours = self.our_group(&l);
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                let groups: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        self.peers
                            .get(k)
                            .map_or(Group::Unknown, |e| l.group(e.addr.ip()))
                    })
                    .collect();
                let pool: HashSet<&PeerKey> = pool.iter().collect();
                let idle: Vec<usize> = (0..keys.len())
                    .filter(|&i| pool.contains(&keys[i]))
                    .collect();
                let known: Vec<Group> = self.candidates.addrs().map(|a| l.group(a.ip())).collect();
                l.turnover_victim(ours, &groups, &known, &idle, &mut self.rng)
                    .map(|i| keys[i])
            }
            None => pool.choose(&mut self.rng).copied(),
        };
        let Some(victim) = victim else {
            return false;
        };
        if let Some(e) = self.peers.get(&victim) {
            let addr = e.addr;
            e.mailbox
                .post(|o| o.close = Some("peer turnover: room for a newcomer".into()));
            self.peer_gone(victim, "peer turnover", false);
            self.candidates.forget(&addr);
        }
        true
    }

    /// A peer entry with this torrent's per-peer rate limits.
    fn new_entry(&self, addr: SocketAddr, outgoing: bool) -> PeerEntry {
        let mut entry = PeerEntry::new(addr, self.have.len(), outgoing, Instant::now());
        let p = &self.options.policies;
        let burst = self.links.config.burst_bytes;
        entry.bucket_up = Bucket::shared_with_burst(p.peer_upload_rate, burst);
        entry.bucket_down = Bucket::shared_with_burst(p.peer_download_rate, burst);
        entry.class = crate::engine::locality::class_of(&self.links.config.peer_classes, addr.ip());
        entry
    }

    /// The torrent's side of a new peer task.
    fn links(&mut self, entry: &PeerEntry) -> PeerLinks {
        PeerLinks {
            shared: self.shared.clone(),
            mailbox: entry.mailbox.clone(),
            to_torrent: self.from_peers.sender(),
            peer_up: entry.bucket_up.clone(),
            peer_down: entry.bucket_down.clone(),
            class: entry.class.clone(),
        }
    }

    fn setup(&self, initiator: bool) -> PeerSetup {
        PeerSetup {
            info_hash: self.shared.info_hash,
            alt_info_hash: self.meta.alt_info_hash(),
            our_id: self.shared.our_id,
            geometry: self.shared.geometry,
            bitfield: self.have.clone(),
            offer: self.shared.offer.clone(),
            initiator,
            config: self.shared.peer_config.clone(),
        }
    }
}
