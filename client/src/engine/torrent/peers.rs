//! The torrent's view of its peers: what they hold, what we asked them
//! for, how fast they go; and the decisions made from it — requests
//! (picker), interest, choking (choker), snubbing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use riffle_policies::picker::{AvailabilityChange, Received, Remote};
use riffle_policies::PeerKey;
use riffle_protocol::{Bitfield, BlockRef, PeerId, BLOCK_SIZE};
use tokio::time::Instant;

use super::status::PeerStatus;
use super::Torrent;
use crate::engine::mailbox::Mailbox;
use crate::engine::peer::{FromPeer, PeerEvent};
use crate::engine::rate::Bucket;

/// Requests in flight to a new peer; grows by one per block delivered
/// (doubling every round trip, like TCP's slow start) until the rate-based
/// depth takes over.
const MIN_DEPTH: usize = 64;
/// Most requests in flight to one peer, whatever it advertises.
const MAX_DEPTH: usize = 500;
/// Depth assumed when the peer does not say (`reqq` absent).
const DEFAULT_REQQ: usize = 250;
/// Seconds of data kept in flight at the peer's current rate.
const QUEUE_SECONDS: u64 = 2;
/// A peer with no verified piece yet may hold at most this many pieces'
/// worth of our requests (bounds what a liar can feed us before its first
/// piece fails).
const UNTRUSTED_PIECES: usize = 4;

/// Bytes per second over a short window (exponential average per tick).
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    /// Bytes since the last tick.
    pending: u64,
    /// Smoothed rate.
    rate: f64,
}

impl RateMeter {
    /// Count `n` bytes.
    pub fn add(&mut self, n: u64) {
        self.pending += n;
    }

    /// Fold the bytes counted since the last call, `elapsed` ago.
    pub fn tick(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let sample = self.pending as f64 / secs;
        // About a 2-second window at 4 ticks a second.
        self.rate = self.rate * 0.8 + sample * 0.2;
        self.pending = 0;
    }

    /// The smoothed rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }
}

/// Connection state of a peer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Dialling or handshaking.
    Connecting,
    /// Handshakes exchanged.
    Connected,
}

/// One peer as the torrent sees it.
pub struct PeerEntry {
    /// Its address.
    pub addr: SocketAddr,
    /// Where it listens, when that differs from `addr` (an incoming
    /// connection that named its port in the extended handshake): a
    /// tracker listing that address is not dialled while connected.
    pub listen_addr: Option<SocketAddr>,
    /// Orders to its task.
    pub mailbox: Arc<Mailbox>,
    /// Handshake done?
    pub link: Link,
    /// Its id, once known.
    pub peer_id: Option<PeerId>,
    /// What it holds.
    pub has: Bitfield,
    /// Its pieces were added to the picker's availability.
    pub counted: bool,
    /// It supports the fast extension.
    pub fast: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It wants our pieces.
    pub peer_interested: bool,
    /// We want its pieces.
    pub am_interested: bool,
    /// We choke it.
    pub am_choking: bool,
    /// Our requests it has not answered.
    pub outstanding: usize,
    /// Its advertised request queue size.
    pub reqq: usize,
    /// Bytes it sends us.
    pub rate_down: RateMeter,
    /// Bytes we send it.
    pub rate_up: RateMeter,
    /// When the handshake completed.
    pub connected_at: Instant,
    /// It speaks peer exchange (and the torrent is not private).
    pub pex: bool,
    /// The peers we last told it of by peer exchange.
    pub pex_told: std::collections::HashSet<SocketAddr>,
    /// When we last sent it a peer-exchange message.
    pub pex_at: Option<Instant>,
    /// When we last told it of a piece it lacks (our bitfield at the
    /// handshake, then HAVEs): its INTERESTED may still be on the way.
    pub announced_at: Instant,
    /// When we last unchoked it, while unchoked.
    pub unchoked_since: Option<Instant>,
    /// Bytes sent since that unchoke.
    pub sent_since_unchoke: u64,
    /// The piece it (a seed) last suggested we take, until we ask for it.
    pub suggested: Option<riffle_protocol::PieceIndex>,
    /// Bytes sent since the last choking decision: a per-piece choker
    /// decides again once this reaches a piece.
    pub piece_credit: u64,
    /// When it last delivered a block (or when we started waiting).
    pub last_block_at: Instant,
    /// It has not delivered for a while although asked.
    pub snubbed: bool,
    /// Verified pieces it contributed to.
    pub passed: u32,
    /// Failed pieces it contributed to.
    pub failed: u32,
    /// It contributed to a failed piece shared with others: it now gets
    /// whole pieces to itself, so a second failure names it alone.
    pub parole: bool,
    /// Slow-start growth of the request depth: one per block delivered.
    pub depth_boost: usize,
    /// The client it names.
    pub client: Option<String>,
    /// We dialled it (its address is a listening address).
    pub outgoing: bool,
    /// This peer's own upload bucket (unlimited until a per-peer limit
    /// is set).
    pub bucket_up: Arc<Bucket>,
    /// This peer's own download bucket, likewise.
    pub bucket_down: Arc<Bucket>,
    /// The peer class of its network, if any (its bucket and byte count).
    pub class: Option<Arc<crate::engine::locality::PeerClass>>,
    /// It is in our own network (with a locality; known at the
    /// handshake, from the connection's local address).
    pub near: bool,
    /// The key its host sent (a riffle peer): names it in the cross-swarm
    /// ledger; others are named by address.
    pub host_key: Option<[u8; 16]>,
    /// Payload bytes it gave us / we gave it since the last tick, for the
    /// cross-swarm ledger.
    pub credit_down: u64,
    pub credit_up: u64,
}

impl PeerEntry {
    /// A new entry for a connection being set up.
    pub fn new(addr: SocketAddr, pieces: u32, outgoing: bool, now: Instant) -> PeerEntry {
        PeerEntry {
            addr,
            listen_addr: None,
            mailbox: Arc::new(Mailbox::default()),
            link: Link::Connecting,
            peer_id: None,
            has: Bitfield::new(pieces),
            counted: false,
            fast: false,
            peer_choking: true,
            peer_interested: false,
            am_interested: false,
            am_choking: true,
            outstanding: 0,
            reqq: DEFAULT_REQQ,
            rate_down: RateMeter::default(),
            rate_up: RateMeter::default(),
            connected_at: now,
            pex: false,
            pex_told: Default::default(),
            pex_at: None,
            announced_at: now,
            unchoked_since: None,
            sent_since_unchoke: 0,
            piece_credit: 0,
            suggested: None,
            last_block_at: now,
            snubbed: false,
            passed: 0,
            failed: 0,
            parole: false,
            depth_boost: 0,
            client: None,
            outgoing,
            bucket_up: Bucket::shared(0),
            bucket_down: Bucket::shared(0),
            class: None,
            near: false,
            host_key: None,
            credit_down: 0,
            credit_up: 0,
        }
    }

    /// It holds every piece.
    pub fn is_seed(&self) -> bool {
        self.has.is_full()
    }

    /// How many requests to keep in flight: enough for `QUEUE_SECONDS` at
    /// its rate, within what it accepts, and (until it has proven itself)
    /// a few pieces' worth.
    fn depth(&self, blocks_per_piece: usize) -> usize {
        if self.snubbed {
            return 1;
        }
        let by_rate = (self.rate_down.rate() * QUEUE_SECONDS / u64::from(BLOCK_SIZE)) as usize;
        let cap = self.reqq.clamp(1, MAX_DEPTH);
        let trusted =
            UNTRUSTED_PIECES.saturating_add(UNTRUSTED_PIECES.saturating_mul(self.passed as usize));
        by_rate
            .max(MIN_DEPTH + self.depth_boost)
            .min(cap)
            .min(trusted.saturating_mul(blocks_per_piece.max(1)))
    }
}

impl Torrent {
    pub(super) fn on_peer_msg(&mut self, msg: FromPeer) {
        match msg {
            FromPeer::Events { key, events } => {
                for ev in events {
                    if !self.peers.contains_key(&key) {
                        return;
                    }
                    self.on_peer_event(key, ev);
                }
                self.dirty.insert(key);
            }
            FromPeer::Down {
                key,
                reason,
                misbehaved,
            } => self.peer_gone(key, &reason, misbehaved),
        }
    }

    /// Handshakes exchanged with peer `key`: keep one connection per peer
    /// (and none to a banned id), then mark it connected.
    fn on_handshake(
        &mut self,
        key: PeerKey,
        peer_id: PeerId,
        reserved: riffle_protocol::wire::Reserved,
        local: Option<std::net::IpAddr>,
        now: Instant,
    ) {
        let banned = self.candidates.is_banned_id(&peer_id);
        // Two connections to one peer (both sides dialled): keep
        // the one dialled by the side with the lower peer id, so
        // both ends keep the same one.
        let we_dial = self.shared.our_id.0 < peer_id.0;
        let Some(outgoing) = self.peers.get(&key).map(|e| e.outgoing) else {
            return;
        };
        let other = self
            .peers
            .iter()
            .find(|(k, o)| **k != key && o.peer_id == Some(peer_id))
            .map(|(k, o)| (*k, o.outgoing));
        let keep_new = match other {
            None => true,
            Some((_, old_outgoing)) => outgoing != old_outgoing && outgoing == we_dial,
        };
        if let (Some((old, _)), true) = (other, keep_new) {
            if let Some(o) = self.peers.get(&old) {
                o.mailbox
                    .post(|m| m.close = Some("already connected".into()));
            }
        }
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        if !keep_new || banned {
            e.mailbox.post(|o| {
                o.close = Some(
                    if banned {
                        "banned peer"
                    } else {
                        "already connected"
                    }
                    .into(),
                )
            });
            return;
        }
        e.peer_id = Some(peer_id);
        e.fast = reserved.fast();
        e.link = Link::Connected;
        if let Some(ip) = local.or(self.links.config.source_ip()) {
            self.local_ip.get_or_insert(ip);
            e.near = self
                .links
                .config
                .locality
                .as_ref()
                .is_some_and(|l| l.is_local(ip, e.addr.ip()));
        }
        e.connected_at = now;
        e.announced_at = now;
        e.last_block_at = now;
        tracing::debug!(peer = %e.addr, outgoing = e.outgoing, "handshake done");
        self.candidates.connected(e.addr, e.outgoing);
        self.dial_soon |= e.outgoing;
    }

    fn on_peer_event(&mut self, key: PeerKey, ev: PeerEvent) {
        let now = Instant::now();
        let turn_running = self.turn_running(now);
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        match ev {
            PeerEvent::Handshake {
                peer_id,
                reserved,
                local,
            } => self.on_handshake(key, peer_id, reserved, local, now),
            PeerEvent::Bitfield(b) => {
                if e.counted {
                    self.picker
                        .on_availability(AvailabilityChange::Lost(&e.has));
                }
                self.picker
                    .on_availability(AvailabilityChange::Bitfield(&b));
                e.has = b;
                e.counted = true;
                self.update_interest(key);
            }
            PeerEvent::HaveAll => {
                if e.counted {
                    self.picker
                        .on_availability(AvailabilityChange::Lost(&e.has));
                }
                self.picker.on_availability(AvailabilityChange::HaveAll);
                e.has = Bitfield::full(self.have.len());
                e.counted = true;
                self.update_interest(key);
            }
            PeerEvent::HaveNone => {
                // May replace an earlier BITFIELD (some clients send both).
                if e.counted {
                    self.picker
                        .on_availability(AvailabilityChange::Lost(&e.has));
                }
                e.has = Bitfield::new(self.have.len());
                e.counted = true;
                self.update_interest(key);
            }
            PeerEvent::Have(p) => {
                let new = !e.has.set(p, true);
                if new {
                    self.picker.on_availability(AvailabilityChange::Have(p));
                }
                e.counted = true;
                if self.completed && e.is_seed() {
                    e.mailbox.post(|o| o.close = Some("both seeding".into()));
                }
                if !self.have.has(p) {
                    self.update_interest(key);
                }
                if new {
                    self.follow_have(key, p, now);
                }
            }
            PeerEvent::Choked => {
                e.peer_choking = true;
            }
            PeerEvent::Unchoked => {
                e.peer_choking = false;
                e.last_block_at = now;
            }
            PeerEvent::Interested => {
                e.peer_interested = true;
                if e.am_choking && !turn_running {
                    self.rechoke_soon = true;
                }
            }
            PeerEvent::NotInterested => {
                e.peer_interested = false;
                if !e.am_choking {
                    self.rechoke_soon = true;
                }
            }
            PeerEvent::Block { block, written } => {
                e.outstanding = e.outstanding.saturating_sub(1);
                e.rate_down.add(u64::from(block.length));
                e.credit_down += u64::from(block.length);
                e.last_block_at = now;
                e.snubbed = false;
                if e.depth_boost < MAX_DEPTH {
                    e.depth_boost += 1;
                }
                if written {
                    self.block_written(key, block);
                } else {
                    // Another copy was stored first; its report is on the
                    // way. Return this peer's request (end-game leaves the
                    // block with the writer).
                    let _ = self.picker.request_returned(key, block);
                }
            }
            PeerEvent::WriteFailed { block, error } => {
                e.outstanding = e.outstanding.saturating_sub(1);
                tracing::error!(piece = %block.piece, "cannot store a block: {error}");
                let _ = self.picker.request_returned(key, block);
                self.status.state = super::TorrentState::Failed(format!("storage: {error}"));
            }
            PeerEvent::ReadFailed { block, error } => {
                tracing::error!(piece = %block.piece, "cannot read a block to upload: {error}");
                if !matches!(self.status.state, super::TorrentState::Failed(_)) {
                    self.status.state = super::TorrentState::Failed(format!(
                        "storage: cannot read piece {}: {error}",
                        block.piece
                    ));
                }
            }
            PeerEvent::Returned(block) => {
                e.outstanding = e.outstanding.saturating_sub(1);
                let _ = self.picker.request_returned(key, block);
            }
            PeerEvent::TimedOut(block) => {
                e.outstanding = e.outstanding.saturating_sub(1);
                e.snubbed = true;
                e.mailbox.post(|o| o.cancels.push(block));
                let _ = self.picker.request_returned(key, block);
            }
            PeerEvent::Extended {
                reqq,
                client,
                listen_port,
                pex,
                host_key,
            } => {
                e.pex = pex && !self.meta.info.private;
                if host_key.is_some() {
                    e.host_key = host_key;
                }
                if let Some(q) = reqq {
                    e.reqq = q as usize;
                }
                if let Some(port) = listen_port.filter(|&p| p != 0 && !e.outgoing) {
                    // Where it listens: we need not dial it there.
                    e.listen_addr = Some(SocketAddr::new(e.addr.ip(), port));
                }
                if client.is_some() {
                    e.client = client;
                }
            }
            PeerEvent::Hashes { range, hashes } => self.on_hashes(key, range, hashes),
            PeerEvent::HashRejected(range) => self.on_hash_refused(key, Some(range)),
            PeerEvent::Pex(addrs) => {
                // BEP 27: a private torrent takes peers from its trackers
                // only. Otherwise at most a message's worth, to dial.
                if !self.meta.info.private {
                    self.candidates
                        .add_discovered(&addrs[..addrs.len().min(super::super::pex::MAX_TAKEN)]);
                    self.dial_soon = true;
                }
            }
            PeerEvent::Suggest(piece) => {
                if !self.have.has(piece) {
                    e.suggested = Some(piece);
                }
            }
            PeerEvent::PieceSent(p) => self.on_piece_sent(key, p, now),
            PeerEvent::Uploaded(n) => {
                e.rate_up.add(n);
                e.credit_up += n;
                e.sent_since_unchoke += n;
                self.on_uploaded(key, n);
            }
        }
    }

    fn block_written(&mut self, key: PeerKey, block: BlockRef) {
        let mut cancel = Vec::new();
        match self.picker.block_received(key, block, &mut cancel) {
            Ok(r) => {
                let who = self.contributors.entry(block.piece).or_default();
                if !who.contains(&key) {
                    who.push(key);
                }
                if r == Received::PieceComplete {
                    self.start_hash(block.piece);
                }
            }
            Err(e) => tracing::debug!(%e, "picker refused a block"),
        }
        for other in cancel {
            if let Some(o) = self.peers.get_mut(&other) {
                o.outstanding = o.outstanding.saturating_sub(1);
                o.mailbox.post(|m| m.cancels.push(block));
            }
        }
    }

    /// A connection ended: forget its pieces and requests, decide whether
    /// to dial it again.
    pub(super) fn peer_gone(&mut self, key: PeerKey, reason: &str, misbehaved: bool) {
        let Some(e) = self.peers.remove(&key) else {
            return;
        };
        self.on_hash_refused(key, None);
        self.exchange_peer_gone(key, &e);
        if e.counted {
            self.picker.peer_left(key, &e.has);
        } else {
            self.picker.release_peer(key);
        }
        self.dirty.remove(&key);
        if !e.am_choking {
            self.rechoke_soon = true;
        }
        if misbehaved {
            tracing::info!(peer = %e.addr, %reason, "dropping a peer that broke the protocol");
            self.ban(e.addr, e.peer_id);
        } else {
            tracing::debug!(peer = %e.addr, %reason, "peer gone");
        }
        if self.options.peer_turnover && e.peer_id.is_some() {
            // With turnover, a peer that closed an established connection
            // made room for someone else: dialling it again would only
            // push another of its peers out, and so on down the swarm.
            self.candidates.forget(&e.addr);
        } else {
            self.candidates
                .disconnected(e.addr, e.outgoing, Instant::now());
        }
        self.dial_soon |= e.outgoing;
    }

    /// Re-decide whether we want anything from `key`.
    pub(super) fn update_interest(&mut self, key: PeerKey) {
        let complete = self.completed;
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        if e.link != Link::Connected {
            return;
        }
        let want = !complete && e.has.has_any_missing_from(&self.done);
        if want != e.am_interested {
            e.am_interested = want;
            e.mailbox.post(|o| o.interested = Some(want));
            if want {
                self.dirty.insert(key);
            }
        }
    }

    pub(super) fn refill_dirty(&mut self) {
        let keys: Vec<PeerKey> = self.dirty.drain().collect();
        for key in keys {
            self.fill_requests(key);
        }
    }

    /// Top up `key`'s request queue from the picker.
    pub(super) fn fill_requests(&mut self, key: PeerKey) {
        if self.completed || self.stopping {
            return;
        }
        let bpp = self.shared.geometry.blocks_per_piece() as usize;
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        if e.link != Link::Connected || !e.am_interested || e.peer_choking {
            return;
        }
        let depth = e.depth(bpp);
        if e.outstanding >= depth {
            return;
        }
        let want = depth - e.outstanding;
        // Refill in batches, not one block at a time.
        if e.outstanding > 0 && want < (depth / 4).max(1) {
            return;
        }
        let mut out = Vec::with_capacity(want);
        if e.parole {
            if e.outstanding == 0 {
                self.pick_whole_piece(key, &mut out);
            }
        } else {
            let suggested = e.suggested.take();
            let remote = Remote {
                peer: key,
                has: &e.has,
                snubbed: e.snubbed,
            };
            if let Some(piece) = suggested {
                // The seed's choice first (BEP 6 suggestion).
                self.picker.pick_piece(remote, piece, want, &mut out);
            }
            let more = want.saturating_sub(out.len());
            self.picker.pick(remote, more, &mut out);
            if out.is_empty() && e.outstanding == 0 {
                // All it has is being fetched elsewhere: one busy block
                // rather than an unused unchoke.
                self.picker.pick_busy(remote, 1, &mut out);
            }
        }
        if out.is_empty() {
            return;
        }
        let Some(e) = self.peers.get_mut(&key) else {
            return;
        };
        e.outstanding += out.len();
        if e.outstanding == out.len() {
            e.last_block_at = Instant::now();
        }
        e.mailbox.post(|o| o.requests.extend(out));
    }

    /// A peer with no delivery for a while (though asked) is snubbed: it
    /// keeps one request, and the picker gives it common pieces only.
    pub(super) fn check_snubs(&mut self, now: Instant) {
        let limit = self.links.config.snub_after;
        for e in self.peers.values_mut() {
            // A peer choking us owes us nothing: not a snub.
            if e.outstanding > 0
                && !e.peer_choking
                && !e.snubbed
                && now.duration_since(e.last_block_at) > limit
            {
                tracing::debug!(peer = %e.addr, "snubbed");
                e.snubbed = true;
            }
        }
    }

    pub(super) fn update_rates(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.status_rate_at);
        self.status_rate_at = now;
        for e in self.peers.values_mut() {
            e.rate_down.tick(elapsed);
            e.rate_up.tick(elapsed);
        }
    }

    pub(super) fn peer_statuses(&self) -> Vec<PeerStatus> {
        let total = f64::from(self.have.len().max(1));
        let mut v: Vec<PeerStatus> = self
            .peers
            .values()
            .filter(|e| e.link == Link::Connected)
            .map(|e| PeerStatus {
                addr: e.addr,
                client: e.client.clone(),
                progress: f64::from(e.has.count_ones()) / total,
                download_rate: e.rate_down.rate(),
                upload_rate: e.rate_up.rate(),
                am_choking: e.am_choking,
                am_interested: e.am_interested,
                peer_choking: e.peer_choking,
                peer_interested: e.peer_interested,
                snubbed: e.snubbed,
                outstanding: e.outstanding,
                one_club: riffle_policies::service::OneClub::in_club(
                    e.has.count_ones(),
                    self.have.len(),
                ),
            })
            .collect();
        v.sort_by_key(|p| p.addr);
        v
    }
}
