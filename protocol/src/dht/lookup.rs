//! One iterative lookup (BEP 5): ask the closest known nodes to a target
//! for nodes closer still (and, for a torrent, its peers), a few queries
//! in flight at a time, until the [`K`] closest that answer have all been
//! asked. The candidates are kept sorted by distance and capped, so a
//! lookup's memory is bounded whatever the nodes it meets send back.

use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Instant;

use super::krpc::{NodeId, NodeInfo};
use super::routing::K;
use crate::InfoHash;

/// Most candidates a lookup remembers.
const MAX_CANDIDATES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    Asked(Instant),
    Answered,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    info: NodeInfo,
    /// Its id is a guess (a bootstrap address): sorted last, replaced by
    /// the real one when it answers.
    id_known: bool,
    state: State,
    token: Option<Vec<u8>>,
}

/// A lookup's progress.
#[derive(Debug)]
pub struct Lookup {
    /// What is looked for.
    pub target: NodeId,
    /// The torrent, for `get_peers` (None: `find_node`).
    pub info_hash: Option<InfoHash>,
    /// Announce ourselves at this port to the closest nodes at the end.
    pub announce_port: Option<u16>,
    /// When it started.
    pub started: Instant,
    candidates: Vec<Candidate>,
    peers: HashSet<SocketAddr>,
}

impl Lookup {
    /// A lookup of `target` starting from `seeds` (known nodes) and
    /// `bootstrap` (addresses whose ids we do not know).
    pub fn new(
        target: NodeId,
        info_hash: Option<InfoHash>,
        announce_port: Option<u16>,
        seeds: &[NodeInfo],
        bootstrap: &[SocketAddrV4],
        now: Instant,
    ) -> Lookup {
        let mut l = Lookup {
            target,
            info_hash,
            announce_port,
            started: now,
            candidates: Vec::new(),
            peers: HashSet::new(),
        };
        l.add_nodes(seeds);
        let far = NodeId(target.0.map(|b| !b));
        for addr in bootstrap {
            if !l.candidates.iter().any(|c| c.info.addr == *addr) {
                l.candidates.push(Candidate {
                    info: NodeInfo {
                        id: far,
                        addr: *addr,
                    },
                    id_known: false,
                    state: State::Fresh,
                    token: None,
                });
            }
        }
        l
    }

    fn sort(&mut self) {
        let t = self.target;
        self.candidates
            .sort_by_key(|c| (!c.id_known, c.info.id.distance(&t)));
        self.candidates.truncate(MAX_CANDIDATES);
    }

    /// Nodes an answer named.
    pub fn add_nodes(&mut self, nodes: &[NodeInfo]) {
        for n in nodes {
            if self
                .candidates
                .iter()
                .any(|c| c.info.addr == n.addr || (c.id_known && c.info.id == n.id))
            {
                continue;
            }
            self.candidates.push(Candidate {
                info: *n,
                id_known: true,
                state: State::Fresh,
                token: None,
            });
        }
        self.sort();
    }

    /// Queries in flight.
    pub fn in_flight(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| matches!(c.state, State::Asked(_)))
            .count()
    }

    /// Up to `room` nodes to ask now (marked asked): the closest fresh
    /// ones, as long as the K closest live ones have not all answered.
    pub fn next_to_ask(&mut self, now: Instant, room: usize) -> Vec<NodeInfo> {
        let mut out = Vec::new();
        let mut live = 0;
        for c in &mut self.candidates {
            if out.len() >= room || live >= K {
                break;
            }
            match c.state {
                State::Failed => continue,
                State::Fresh => {
                    c.state = State::Asked(now);
                    out.push(c.info);
                }
                _ => {}
            }
            live += 1;
        }
        out
    }

    /// `addr` answered as node `id`, with `nodes`, `peers` and a token;
    /// returns the peers not seen before.
    pub fn on_answer(
        &mut self,
        addr: SocketAddrV4,
        id: NodeId,
        token: Option<Vec<u8>>,
        nodes: &[NodeInfo],
        peers: &[SocketAddr],
    ) -> Vec<SocketAddr> {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.info.addr == addr) {
            c.state = State::Answered;
            c.info.id = id;
            c.id_known = true;
            c.token = token;
        }
        self.add_nodes(nodes);
        peers
            .iter()
            .filter(|p| self.peers.insert(**p))
            .copied()
            .collect()
    }

    /// A query to `addr` went unanswered.
    pub fn on_failure(&mut self, addr: SocketAddrV4) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.info.addr == addr) {
            c.state = State::Failed;
        }
    }

    /// Nothing in flight and nothing left worth asking.
    pub fn is_finished(&self) -> bool {
        if self.in_flight() > 0 {
            return false;
        }
        self.candidates
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .all(|c| c.state == State::Answered)
    }

    /// The closest nodes that answered with a token (whom to announce to).
    pub fn announce_targets(&self) -> Vec<(NodeInfo, Vec<u8>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .filter_map(|c| c.token.clone().map(|t| (c.info, t)))
            .take(K)
            .collect()
    }

    /// Nodes that answered.
    pub fn answered(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .count()
    }

    /// How many peers it found so far.
    pub fn peers_found(&self) -> usize {
        self.peers.len()
    }

    /// The peers it found so far.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(first: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new([10, 0, 0, 2].into(), port),
        }
    }

    #[test]
    fn asks_the_closest_first_and_finishes() {
        let now = Instant::now();
        let mut l = Lookup::new(
            NodeId([0; 20]),
            None,
            None,
            &[n(0x80, 1), n(0x01, 2)],
            &[],
            now,
        );
        let ask = l.next_to_ask(now, 1);
        assert_eq!(ask, vec![n(0x01, 2)], "the closest");
        assert!(!l.is_finished());
        let found = l.on_answer(
            ask[0].addr,
            ask[0].id,
            Some(b"t".to_vec()),
            &[n(0x02, 3)],
            &["10.9.9.9:1".parse().unwrap()],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(l.next_to_ask(now, 3).len(), 2);
        l.on_answer(n(0x02, 3).addr, n(0x02, 3).id, None, &[], &[]);
        l.on_failure(n(0x80, 1).addr);
        assert!(l.is_finished());
        assert_eq!(l.announce_targets().len(), 1, "only the one with a token");
    }

    #[test]
    fn bootstrap_addresses_are_asked_and_learn_their_ids() {
        let now = Instant::now();
        let boot = SocketAddrV4::new([10, 0, 0, 9].into(), 6881);
        let mut l = Lookup::new(NodeId([0; 20]), None, None, &[], &[boot], now);
        assert_eq!(l.next_to_ask(now, 3).len(), 1);
        l.on_answer(boot, NodeId([7; 20]), None, &[n(0x01, 2)], &[]);
        assert_eq!(l.next_to_ask(now, 3), vec![n(0x01, 2)]);
    }
}
