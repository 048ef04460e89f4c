//! A DHT node (BEP 5), sans-IO: datagrams go in through [`Node::handle`],
//! out through [`Node::poll_transmit`]; time goes in as arguments and
//! [`Node::poll_timeout`] says when to call [`Node::handle_timeout`]
//! next. What the node learns for its user comes out of
//! [`Node::poll_event`].
//!
//! It answers the four queries of BEP 5 (within a per-address budget),
//! keeps a routing table of nodes that answered it, runs iterative
//! lookups ([`Lookup`]) for torrents its user asks about, and announces
//! the user's port to the closest nodes at the end of each. Every table
//! it keeps is bounded: queries in flight, lookups running and queued,
//! peers stored for others, candidates per lookup.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::krpc::{decode_nodes, encode_nodes, Body, Message, NodeId, NodeInfo, Query, Response};
use super::lookup::Lookup;
use super::routing::{RoutingTable, K};
use super::store::{PeerStore, RateLimiter, Tokens};
use crate::bencode::{self, Owned};
use crate::InfoHash;

/// Queries a lookup keeps in flight.
pub const ALPHA: usize = 4;
/// A query unanswered this long has failed.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// A lookup ends this long after it started, whatever is left.
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(45);
/// Queries in flight at once, in all.
pub const MAX_INFLIGHT: usize = 256;
/// Lookups running at once; more wait in a queue.
pub const MAX_LOOKUPS: usize = 16;
/// Lookups waiting at most (a request past this is dropped).
pub const MAX_QUEUED: usize = 4096;
/// Peers put in one `get_peers` answer: 200 bytes, as many as the eight
/// nodes of a `find_node` answer, so no answer is much larger than the
/// query that asked for it (a few times a ~100-byte query at most).
const VALUES_PER_ANSWER: usize = 25;
/// How often the node looks after itself (tokens, store, refreshes).
const MAINTENANCE: Duration = Duration::from_secs(5);
/// How often an empty table is bootstrapped again.
const REBOOTSTRAP: Duration = Duration::from_secs(30);

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to start when the table is empty (routers, known nodes).
    pub bootstrap: Vec<SocketAddrV4>,
    /// Seed of the node's randomness (ids, tokens, transaction ids).
    pub seed: u64,
    /// Torrents whose announced peers are stored for others.
    pub store_hashes: usize,
    /// Peers stored per torrent.
    pub store_per_hash: usize,
    /// Queries answered per address per second.
    pub rate_per_ip: u32,
    /// Queries answered per second in all.
    pub rate_global: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bootstrap: Vec::new(),
            seed: 0,
            store_hashes: 2000,
            store_per_hash: 100,
            rate_per_ip: 50,
            rate_global: 500,
        }
    }
}

/// What the node tells its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Peers of a torrent looked up (each reported once per lookup).
    Peers {
        /// The torrent.
        info_hash: InfoHash,
        /// Newly found peers.
        peers: Vec<SocketAddr>,
    },
    /// A torrent's lookup ended.
    LookupDone {
        /// The torrent.
        info_hash: InfoHash,
        /// Nodes that answered.
        answered: usize,
        /// Peers found in all.
        peers: usize,
        /// Nodes our port was announced to.
        announced: usize,
    },
}

/// What the node holds, for status displays and memory reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Nodes in the routing table.
    pub nodes: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Lookups waiting.
    pub queued: usize,
    /// Queries in flight.
    pub inflight: usize,
    /// Torrents with peers stored for others.
    pub stored_hashes: usize,
    /// Peers stored for others.
    pub stored_peers: usize,
}

/// What survives a restart: our id and the nodes we knew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// Our node id.
    pub id: NodeId,
    /// Nodes of the routing table.
    pub nodes: Vec<NodeInfo>,
}

impl SavedState {
    /// As bytes (a bencoded dictionary: `id`, compact `nodes`).
    pub fn encode(&self) -> Vec<u8> {
        let nodes = encode_nodes(&self.nodes);
        bencode::encode(&Owned::dict([
            (&b"id"[..], Owned::bytes(self.id.0)),
            (&b"nodes"[..], Owned::Bytes(nodes)),
        ]))
    }

    /// From bytes [`encode`](Self::encode) wrote (None if they are not).
    pub fn decode(bytes: &[u8]) -> Option<SavedState> {
        let v = bencode::decode(bytes).ok()?;
        let d = v.as_dict()?;
        let id = <[u8; 20]>::try_from(d.get(b"id")?.as_bytes()?).ok()?;
        let raw = d.get(b"nodes")?.as_bytes()?;
        // decode_nodes reads at most a datagram's worth: read in slices.
        let nodes = raw
            .chunks(26 * 16)
            .flat_map(decode_nodes)
            .take(160 * K)
            .collect();
        Some(SavedState {
            id: NodeId(id),
            nodes,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Lookup(u32),
    Ping,
    Announce,
}

#[derive(Debug)]
struct Inflight {
    addr: SocketAddrV4,
    deadline: Instant,
    purpose: Purpose,
}

/// A lookup asked for and not yet started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wanted {
    target: NodeId,
    info_hash: Option<InfoHash>,
    announce_port: Option<u16>,
}

/// The node.
#[derive(Debug)]
pub struct Node {
    table: RoutingTable,
    tokens: Tokens,
    store: PeerStore,
    limiter: RateLimiter,
    lookups: HashMap<u32, Lookup>,
    next_lookup: u32,
    queued: VecDeque<Wanted>,
    inflight: HashMap<[u8; 2], Inflight>,
    next_tid: u16,
    outbox: VecDeque<(SocketAddrV4, Vec<u8>)>,
    events: VecDeque<Event>,
    bootstrap: Vec<SocketAddrV4>,
    last_bootstrap: Instant,
    next_maintenance: Instant,
    rng: StdRng,
}

impl Node {
    /// A node with `config`, our id and known nodes from `saved` (a fresh
    /// id otherwise); it starts by looking up its own id.
    pub fn new(config: Config, saved: Option<SavedState>, now: Instant) -> Node {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let id = saved.as_ref().map_or_else(|| NodeId(rng.gen()), |s| s.id);
        let mut node = Node {
            table: RoutingTable::new(id),
            tokens: Tokens::new(rng.gen(), now),
            store: PeerStore::new(config.store_hashes, config.store_per_hash),
            limiter: RateLimiter::new(config.rate_per_ip, config.rate_global, now),
            lookups: HashMap::new(),
            next_lookup: 0,
            queued: VecDeque::new(),
            inflight: HashMap::new(),
            next_tid: rng.gen(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            bootstrap: config.bootstrap,
            last_bootstrap: now,
            next_maintenance: now + MAINTENANCE,
            rng,
        };
        let known = saved.map(|s| s.nodes).unwrap_or_default();
        node.start_bootstrap(&known, now);
        node
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.table.own_id()
    }

    /// What the node holds.
    pub fn stats(&self) -> Stats {
        let (stored_hashes, stored_peers) = self.store.counts();
        Stats {
            nodes: self.table.len(),
            lookups: self.lookups.len(),
            queued: self.queued.len(),
            inflight: self.inflight.len(),
            stored_hashes,
            stored_peers,
        }
    }

    /// What to save for the next start.
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            id: self.id(),
            nodes: self.table.all(),
        }
    }

    /// Look up our own id from `known` nodes and the bootstrap addresses.
    fn start_bootstrap(&mut self, known: &[NodeInfo], now: Instant) {
        self.last_bootstrap = now;
        let own = self.id();
        let mut seeds = self.table.closest(&own, K * 2);
        seeds.extend_from_slice(known);
        let lookup = Lookup::new(own, None, None, &seeds, &self.bootstrap, now);
        self.insert_lookup(lookup, now);
    }

    /// Find peers of `info_hash` and, with `announce_port`, announce that
    /// we have it (reachable on that TCP port) to the closest nodes. Peers
    /// come out as [`Event::Peers`], the end as [`Event::LookupDone`]. A
    /// lookup of a torrent already running or queued is not repeated: it
    /// takes the announce if it had none, and the peers it found so far
    /// come out again for the one who asked late.
    pub fn get_peers(&mut self, info_hash: InfoHash, announce_port: Option<u16>, now: Instant) {
        let target = NodeId::of(&info_hash);
        let running = self
            .lookups
            .values_mut()
            .find(|l| l.info_hash == Some(info_hash));
        if let Some(l) = running {
            l.announce_port = l.announce_port.or(announce_port);
            let peers = l.peers();
            if !peers.is_empty() {
                self.events.push_back(Event::Peers { info_hash, peers });
            }
            return;
        }
        if let Some(w) = self
            .queued
            .iter_mut()
            .find(|w| w.info_hash == Some(info_hash))
        {
            w.announce_port = w.announce_port.or(announce_port);
            return;
        }
        if self.queued.len() >= MAX_QUEUED {
            return;
        }
        self.queued.push_back(Wanted {
            target,
            info_hash: Some(info_hash),
            announce_port,
        });
        self.drive(now);
    }

    fn start(&mut self, w: Wanted, now: Instant) {
        let seeds = self.table.closest(&w.target, K * 2);
        let boot = if self.table.len() < K {
            self.bootstrap.clone()
        } else {
            Vec::new()
        };
        let lookup = Lookup::new(w.target, w.info_hash, w.announce_port, &seeds, &boot, now);
        self.insert_lookup(lookup, now);
    }

    fn insert_lookup(&mut self, lookup: Lookup, now: Instant) {
        let lid = self.next_lookup;
        self.next_lookup = self.next_lookup.wrapping_add(1);
        self.lookups.insert(lid, lookup);
        self.drive(now);
    }

    /// A node heard of outside the DHT (a peer's PORT message): it is
    /// pinged, and joins the table if it answers.
    pub fn add_node(&mut self, addr: SocketAddrV4, now: Instant) {
        let busy = self.inflight.values().any(|f| f.addr == addr);
        if !busy && self.inflight.len() < MAX_INFLIGHT / 2 {
            self.send_query(now, addr, Query::Ping, Purpose::Ping);
        }
    }

    /// A datagram from `from`.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let SocketAddr::V4(from) = from else {
            return;
        };
        let Ok(msg) = Message::decode(datagram) else {
            return;
        };
        match msg.body {
            Body::Query { id, query } => {
                if self.limiter.allow(IpAddr::V4(*from.ip()), now) {
                    self.answer(now, from, msg.transaction, id, query, msg.read_only);
                }
            }
            Body::Response(r) => {
                self.on_response(now, from, &msg.transaction, Some(r), msg.read_only)
            }
            Body::Error(..) => self.on_response(now, from, &msg.transaction, None, true),
        }
        self.drive(now);
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        tid: &[u8],
        response: Option<Response>,
        read_only: bool,
    ) {
        let Ok(key) = <[u8; 2]>::try_from(tid) else {
            return;
        };
        // Only the address we asked may answer.
        if self.inflight.get(&key).is_none_or(|f| f.addr != from) {
            return;
        }
        let Some(flight) = self.inflight.remove(&key) else {
            return;
        };
        let Some(r) = response else {
            if let Purpose::Lookup(lid) = flight.purpose {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_failure(from);
                }
            }
            return;
        };
        if r.id == self.id() {
            return;
        }
        if !read_only {
            self.table.seen(
                NodeInfo {
                    id: r.id,
                    addr: from,
                },
                now,
            );
        }
        if let Purpose::Lookup(lid) = flight.purpose {
            let Some(l) = self.lookups.get_mut(&lid) else {
                return;
            };
            let nodes: Vec<NodeInfo> = r
                .nodes
                .into_iter()
                .filter(|n| n.id != self.table.own_id())
                .collect();
            let found = l.on_answer(from, r.id, r.token, &nodes, &r.values);
            if let (Some(info_hash), false) = (l.info_hash, found.is_empty()) {
                self.events.push_back(Event::Peers {
                    info_hash,
                    peers: found,
                });
            }
        }
    }

    fn answer(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        transaction: Vec<u8>,
        querier: NodeId,
        query: Query,
        read_only: bool,
    ) {
        if querier == self.id() {
            return;
        }
        let me = self.id();
        let ip = IpAddr::V4(*from.ip());
        let body = match query {
            Query::Ping => Body::Response(Response {
                id: me,
                ..Response::default()
            }),
            Query::FindNode { target } => Body::Response(Response {
                id: me,
                nodes: self.table.closest(&target, K),
                ..Response::default()
            }),
            Query::GetPeers { info_hash } => {
                // Peers if we have some, else the closest nodes (BEP 5):
                // never both, which would double the answer.
                let values: Vec<SocketAddr> = self
                    .store
                    .get(&info_hash, VALUES_PER_ANSWER)
                    .into_iter()
                    .map(SocketAddr::V4)
                    .collect();
                let nodes = if values.is_empty() {
                    self.table.closest(&NodeId::of(&info_hash), K)
                } else {
                    Vec::new()
                };
                Body::Response(Response {
                    id: me,
                    nodes,
                    values,
                    token: Some(self.tokens.issue(ip)),
                })
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if self.tokens.check(ip, &token) {
                    let port = if implied_port { from.port() } else { port };
                    self.store
                        .add(info_hash, SocketAddrV4::new(*from.ip(), port), now);
                    Body::Response(Response {
                        id: me,
                        ..Response::default()
                    })
                } else {
                    Body::Error(203, "bad token".into())
                }
            }
            Query::Unknown(_) => Body::Error(204, "method unknown".into()),
        };
        let reply = Message {
            transaction,
            body,
            read_only: false,
        };
        self.outbox.push_back((from, reply.encode()));
        // A querier we do not know gets a ping: it joins the table when it
        // answers (an address that only sends proves nothing).
        let info = NodeInfo {
            id: querier,
            addr: from,
        };
        if self.table.contains(&info) {
            self.table.seen(info, now);
        } else if !read_only
            && self.table.would_take(&querier)
            && self.inflight.len() < MAX_INFLIGHT / 2
            && !self.inflight.values().any(|f| f.addr == from)
        {
            self.send_query(now, from, Query::Ping, Purpose::Ping);
        }
    }

    fn send_query(&mut self, now: Instant, to: SocketAddrV4, query: Query, purpose: Purpose) {
        let key = loop {
            self.next_tid = self.next_tid.wrapping_add(1);
            let key = self.next_tid.to_be_bytes();
            if !self.inflight.contains_key(&key) {
                break key;
            }
        };
        let msg = Message {
            transaction: key.to_vec(),
            body: Body::Query {
                id: self.id(),
                query,
            },
            read_only: false,
        };
        self.outbox.push_back((to, msg.encode()));
        self.inflight.insert(
            key,
            Inflight {
                addr: to,
                deadline: now + QUERY_TIMEOUT,
                purpose,
            },
        );
    }

    /// Queries unanswered past their deadline fail; the node looks after
    /// itself when that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<[u8; 2]> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            let Some(f) = self.inflight.remove(&key) else {
                continue;
            };
            self.table.failed(f.addr);
            if let Purpose::Lookup(lid) = f.purpose {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_failure(f.addr);
                }
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE;
            self.maintain(now);
        }
        self.drive(now);
    }

    fn maintain(&mut self, now: Instant) {
        let fresh = self.rng.gen();
        self.tokens.maybe_rotate(now, fresh);
        self.store.expire(now);
        let since = now.duration_since(self.last_bootstrap);
        let own_running = self.lookups.values().any(|l| l.target == self.id());
        if !own_running && self.table.len() < K && since >= REBOOTSTRAP {
            self.start_bootstrap(&[], now);
        }
        let random = self.rng.gen();
        for target in self.table.due_refreshes(now, random) {
            if self.queued.len() < MAX_QUEUED {
                self.queued.push_back(Wanted {
                    target,
                    info_hash: None,
                    announce_port: None,
                });
            }
        }
    }

    /// Start waiting lookups, send the queries lookups want, end the
    /// lookups that are done.
    fn drive(&mut self, now: Instant) {
        while self.lookups.len() < MAX_LOOKUPS {
            let Some(w) = self.queued.pop_front() else {
                break;
            };
            self.start(w, now);
        }
        let mut ids: Vec<u32> = self.lookups.keys().copied().collect();
        ids.sort_unstable();
        for lid in ids {
            let room = MAX_INFLIGHT.saturating_sub(self.inflight.len());
            let Some(l) = self.lookups.get_mut(&lid) else {
                continue;
            };
            let want = ALPHA.saturating_sub(l.in_flight()).min(room);
            let ask = l.next_to_ask(now, want);
            let (target, hash) = (l.target, l.info_hash);
            for n in ask {
                let query = match hash {
                    Some(info_hash) => Query::GetPeers { info_hash },
                    None => Query::FindNode { target },
                };
                self.send_query(now, n.addr, query, Purpose::Lookup(lid));
            }
            let l = &self.lookups[&lid];
            if l.is_finished() || now.duration_since(l.started) >= LOOKUP_DEADLINE {
                self.finish(lid, now);
            }
        }
    }

    fn finish(&mut self, lid: u32, now: Instant) {
        let Some(l) = self.lookups.remove(&lid) else {
            return;
        };
        // Queries still in flight for it are answered into nothing.
        for f in self.inflight.values_mut() {
            if matches!(f.purpose, Purpose::Lookup(x) if x == lid) {
                f.purpose = Purpose::Ping;
            }
        }
        let Some(info_hash) = l.info_hash else {
            return;
        };
        let mut announced = 0;
        if let Some(port) = l.announce_port {
            for (node, token) in l.announce_targets() {
                let query = Query::AnnouncePeer {
                    info_hash,
                    port,
                    implied_port: false,
                    token,
                };
                if self.inflight.len() < MAX_INFLIGHT {
                    self.send_query(now, node.addr, query, Purpose::Announce);
                    announced += 1;
                }
            }
        }
        self.events.push_back(Event::LookupDone {
            info_hash,
            answered: l.answered(),
            peers: l.peers_found(),
            announced,
        });
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddrV4, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// The next thing to tell the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Instant {
        self.inflight
            .values()
            .map(|f| f.deadline)
            .fold(self.next_maintenance, Instant::min)
    }

    /// The routing table, for tests that fill it.
    #[cfg(test)]
    pub(crate) fn table_mut(&mut self) -> &mut RoutingTable {
        &mut self.table
    }
}
