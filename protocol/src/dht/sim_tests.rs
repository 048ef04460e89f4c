//! Nodes on a simulated network: datagrams are delivered in order, time
//! jumps to the next timeout, addresses in `dead` swallow what they get.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::krpc::{Body, Message, NodeId, Query, Response};
use super::node::{Config, Event, Node, SavedState, MAX_INFLIGHT};
use super::routing::K;
use crate::InfoHash;

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new([10, 0, (i / 200) as u8, (i % 200 + 1) as u8].into(), 6881)
}

struct Net {
    nodes: Vec<Node>,
    index: HashMap<SocketAddrV4, usize>,
    dead: HashSet<SocketAddrV4>,
    events: Vec<Vec<Event>>,
    now: Instant,
}

impl Net {
    fn new(n: usize, extra_bootstrap: &[SocketAddrV4]) -> Net {
        let now = Instant::now();
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut bootstrap = if i == 0 { vec![] } else { vec![addr(0)] };
            bootstrap.extend_from_slice(extra_bootstrap);
            let config = Config {
                bootstrap,
                seed: i as u64 + 1,
                ..Config::default()
            };
            nodes.push(Node::new(config, None, now));
        }
        Net {
            index: (0..n).map(|i| (addr(i), i)).collect(),
            events: vec![Vec::new(); n],
            dead: HashSet::new(),
            nodes,
            now,
        }
    }

    fn deliver(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                while let Some((to, bytes)) = self.nodes[i].poll_transmit() {
                    any = true;
                    if self.dead.contains(&to) {
                        continue;
                    }
                    if let Some(&j) = self.index.get(&to) {
                        self.nodes[j].handle(self.now, SocketAddr::V4(addr(i)), &bytes);
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    self.events[i].push(e);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn run(&mut self, for_: Duration) {
        let end = self.now + for_;
        loop {
            self.deliver();
            let next = self.nodes.iter().map(Node::poll_timeout).min().unwrap();
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            for n in &mut self.nodes {
                if n.poll_timeout() <= self.now {
                    n.handle_timeout(self.now);
                }
            }
        }
    }

    fn found(&self, i: usize, hash: InfoHash) -> Vec<SocketAddr> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Peers { info_hash, peers } if *info_hash == hash => Some(peers.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn done(&self, i: usize, hash: InfoHash) -> Option<(usize, usize, usize)> {
        self.events[i].iter().find_map(|e| match e {
            Event::LookupDone {
                info_hash,
                answered,
                peers,
                announced,
            } if *info_hash == hash => Some((*answered, *peers, *announced)),
            _ => None,
        })
    }
}

#[test]
fn a_network_finds_the_peers_announced_to_it() {
    let mut net = Net::new(80, &[]);
    net.run(Duration::from_secs(60));
    let small = net.nodes.iter().filter(|n| n.stats().nodes < K).count();
    assert_eq!(
        small, 0,
        "every node knows at least K others after bootstrap"
    );
    let hash = InfoHash([0x5a; 20]);
    net.nodes[7].get_peers(hash, Some(7000), net.now);
    net.run(Duration::from_secs(30));
    let (answered, _, announced) = net.done(7, hash).expect("lookup ended");
    assert!(answered >= K, "answered {answered}");
    assert!(announced >= K / 2, "announced to {announced}");
    net.run(Duration::from_secs(5));
    net.nodes[63].get_peers(hash, None, net.now);
    net.run(Duration::from_secs(30));
    let want = SocketAddr::V4(SocketAddrV4::new(*addr(7).ip(), 7000));
    assert_eq!(net.found(63, hash), vec![want], "each peer reported once");
    assert!(net.done(63, hash).is_some());
    let stored: usize = net.nodes.iter().map(|n| n.stats().stored_peers).sum();
    assert_eq!(
        stored, announced,
        "every announce with a valid token was stored"
    );
}

#[test]
fn a_late_request_joins_the_running_lookup() {
    let mut net = Net::new(40, &[]);
    net.run(Duration::from_secs(60));
    let hash = InfoHash([0x77; 20]);
    net.nodes[4].get_peers(hash, Some(7004), net.now);
    net.run(Duration::from_secs(30));
    // Node 9 looks up without announcing; its user then asks again, with
    // a port, while the lookup runs.
    net.nodes[9].get_peers(hash, None, net.now);
    let running = net.nodes[9].stats().lookups;
    net.nodes[9].get_peers(hash, Some(7009), net.now);
    assert_eq!(net.nodes[9].stats().lookups, running, "one lookup, not two");
    net.run(Duration::from_secs(30));
    let (_, peers, announced) = net.done(9, hash).expect("ended");
    assert_eq!(peers, 1);
    assert!(announced > 0, "the late request's announce was kept");
    // Asked again while running, what was found so far comes out again.
    net.nodes[11].get_peers(hash, None, net.now);
    let mut rounds = 0;
    while net.found(11, hash).is_empty() && rounds < 50 {
        // One datagram at a time, until the peer is found.
        let (to, bytes) = net.nodes[11].poll_transmit().expect("a query in flight");
        if let Some(&j) = net.index.get(&to) {
            net.nodes[j].handle(net.now, SocketAddr::V4(addr(11)), &bytes);
            while let Some((back, reply)) = net.nodes[j].poll_transmit() {
                if back == addr(11) {
                    net.nodes[11].handle(net.now, SocketAddr::V4(addr(j)), &reply);
                }
            }
        }
        while let Some(e) = net.nodes[11].poll_event() {
            net.events[11].push(e);
        }
        rounds += 1;
    }
    let mut so_far = net.found(11, hash);
    assert!(!so_far.is_empty());
    assert!(net.done(11, hash).is_none(), "still running");
    net.nodes[11].get_peers(hash, None, net.now);
    match net.nodes[11].poll_event() {
        Some(Event::Peers { mut peers, .. }) => {
            peers.sort();
            so_far.sort();
            assert_eq!(peers, so_far);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dead_nodes_fail_and_lookups_still_end() {
    let dead = SocketAddrV4::new([10, 9, 9, 9].into(), 6881);
    let mut net = Net::new(30, &[dead]);
    net.dead.insert(dead);
    // Half the network goes silent after bootstrap.
    net.run(Duration::from_secs(20));
    for i in 15..30 {
        net.dead.insert(addr(i));
    }
    let hash = InfoHash([0x11; 20]);
    net.nodes[3].get_peers(hash, None, net.now);
    net.run(Duration::from_secs(60));
    let (answered, _, _) = net.done(3, hash).expect("the lookup ends despite timeouts");
    assert!(answered >= 1);
    assert_eq!(net.nodes[3].stats().inflight, 0);
}

fn query(from_id: u8, tid: &[u8], q: Query) -> Vec<u8> {
    Message {
        transaction: tid.to_vec(),
        body: Body::Query {
            id: NodeId([from_id; 20]),
            query: q,
        },
        read_only: false,
    }
    .encode()
}

fn replies(node: &mut Node) -> Vec<(SocketAddrV4, Message)> {
    std::iter::from_fn(|| node.poll_transmit())
        .map(|(to, b)| (to, Message::decode(&b).unwrap()))
        .collect()
}

/// `from` asks `node` for peers of `hash` and announces itself with the
/// token it got.
fn announce(node: &mut Node, now: Instant, from: SocketAddr, hash: InfoHash) {
    node.handle(
        now,
        from,
        &query(1, b"g", Query::GetPeers { info_hash: hash }),
    );
    let token = replies(node)
        .into_iter()
        .find_map(|(_, m)| match m.body {
            Body::Response(r) => r.token,
            _ => None,
        })
        .expect("a token");
    let q = Query::AnnouncePeer {
        info_hash: hash,
        port: 1,
        implied_port: false,
        token,
    };
    node.handle(now, from, &query(1, b"a", q));
    let _ = replies(node);
}

fn lone_node(now: Instant) -> Node {
    let config = Config {
        rate_per_ip: 5,
        rate_global: 1000,
        store_hashes: 10,
        store_per_hash: 4,
        ..Config::default()
    };
    Node::new(config, None, now)
}

#[test]
fn answers_follow_bep_5() {
    let now = Instant::now();
    let mut node = lone_node(now);
    let a: SocketAddr = "10.1.1.1:4000".parse().unwrap();
    let b: SocketAddr = "10.1.1.2:4000".parse().unwrap();
    let hash = InfoHash([3; 20]);
    node.handle(
        now,
        a,
        &query(1, b"g1", Query::GetPeers { info_hash: hash }),
    );
    let out = replies(&mut node);
    let token = match &out[0].1.body {
        Body::Response(Response {
            token: Some(t),
            values,
            ..
        }) => {
            assert!(values.is_empty());
            t.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(out[0].1.transaction, b"g1");
    assert!(
        out.iter()
            .any(|(to, m)| *to == "10.1.1.1:4000".parse().unwrap()
                && matches!(
                    m.body,
                    Body::Query {
                        query: Query::Ping,
                        ..
                    }
                )),
        "an unknown querier is pinged"
    );
    let announce = |token: Vec<u8>, implied_port| Query::AnnouncePeer {
        info_hash: hash,
        port: 51413,
        implied_port,
        token,
    };
    // Another address cannot use a's token.
    node.handle(now, b, &query(2, b"a1", announce(token.clone(), false)));
    assert!(matches!(replies(&mut node)[0].1.body, Body::Error(203, _)));
    node.handle(now, a, &query(1, b"a2", announce(token.clone(), true)));
    assert!(matches!(replies(&mut node)[0].1.body, Body::Response(_)));
    node.handle(
        now,
        b,
        &query(2, b"g2", Query::GetPeers { info_hash: hash }),
    );
    match &replies(&mut node)[0].1.body {
        Body::Response(r) => assert_eq!(r.values, vec![a], "implied port: the source port"),
        other => panic!("{other:?}"),
    }
    node.handle(now, b, &query(2, b"u1", Query::Unknown("vote".into())));
    assert!(matches!(replies(&mut node)[0].1.body, Body::Error(204, _)));
    // A flood from one address gets its budget and no more.
    let c: SocketAddr = "10.1.1.3:4000".parse().unwrap();
    for i in 0..100u8 {
        node.handle(now, c, &query(9, &[b'p', i], Query::Ping));
    }
    let to_c = replies(&mut node)
        .into_iter()
        .filter(|(_, m)| matches!(m.body, Body::Response(_)))
        .count();
    assert_eq!(to_c, 5);
    // Garbage and IPv6 are dropped quietly.
    node.handle(now, c, b"d1:t2:aa1:y1:re");
    node.handle(
        now,
        "[::1]:4000".parse().unwrap(),
        &query(9, b"x", Query::Ping),
    );
    assert!(replies(&mut node).is_empty());
}

#[test]
fn only_the_node_asked_may_answer() {
    let now = Instant::now();
    let boot = SocketAddrV4::new([10, 2, 2, 2].into(), 6881);
    let config = Config {
        bootstrap: vec![boot],
        ..Config::default()
    };
    let mut node = Node::new(config, None, now);
    let (to, q) = replies(&mut node).remove(0);
    assert_eq!(to, boot);
    let answer = |id: u8| {
        Message {
            transaction: q.transaction.clone(),
            body: Body::Response(Response {
                id: NodeId([id; 20]),
                ..Response::default()
            }),
            read_only: false,
        }
        .encode()
    };
    node.handle(now, "10.6.6.6:6881".parse().unwrap(), &answer(6));
    assert_eq!(node.stats().nodes, 0, "a spoofed answer is ignored");
    node.handle(now, SocketAddr::V4(boot), &answer(7));
    assert_eq!(node.stats().nodes, 1);
}

#[test]
fn saved_state_restarts_without_routers() {
    let mut net = Net::new(40, &[]);
    net.run(Duration::from_secs(60));
    let saved = net.nodes[5].saved_state();
    assert!(saved.nodes.len() >= K);
    let bytes = saved.encode();
    assert_eq!(SavedState::decode(&bytes).as_ref(), Some(&saved));
    assert_eq!(SavedState::decode(b"garbage"), None);
    // Node 5 restarts with no bootstrap address, only what it saved.
    net.nodes[5] = Node::new(Config::default(), SavedState::decode(&bytes), net.now);
    assert_eq!(net.nodes[5].id(), saved.id);
    assert_eq!(net.nodes[5].stats().nodes, 0);
    net.run(Duration::from_secs(30));
    assert!(
        net.nodes[5].stats().nodes >= K,
        "rejoined through saved nodes"
    );
}

#[test]
fn no_answer_is_much_larger_than_its_query() {
    let now = Instant::now();
    let mut node = Node::new(Config::default(), None, now);
    let _ = replies(&mut node);
    // A full routing table and a torrent with many peers stored.
    for i in 0..2000u32 {
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        let info = super::krpc::NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new(i.to_be_bytes().into(), 6881),
        };
        node.table_mut().seen(info, now);
    }
    let hash = InfoHash([9; 20]);
    for i in 0..200u32 {
        let t = now + Duration::from_millis(10 * u64::from(i));
        let from = SocketAddr::V4(SocketAddrV4::new((i + 1).to_be_bytes().into(), 4000));
        announce(&mut node, t, from, hash);
    }
    let later = now + Duration::from_secs(10);
    let asker: SocketAddr = "10.200.0.1:4000".parse().unwrap();
    for q in [
        Query::Ping,
        Query::FindNode {
            target: NodeId([3; 20]),
        },
        Query::GetPeers { info_hash: hash },
        Query::GetPeers {
            info_hash: InfoHash([8; 20]),
        },
    ] {
        let bytes = query(1, b"aa", q.clone());
        node.handle(later, asker, &bytes);
        let answer = std::iter::from_fn(|| node.poll_transmit())
            .find(|(_, b)| matches!(Message::decode(b).map(|m| m.body), Ok(Body::Response(_))))
            .expect("an answer");
        assert!(
            answer.1.len() * 10 <= bytes.len() * 35,
            "{q:?}: {} bytes answer {} bytes",
            answer.1.len(),
            bytes.len()
        );
    }
}

#[test]
fn floods_cost_bounded_memory() {
    let now = Instant::now();
    let mut node = lone_node(now);
    // Announces for many torrents from many addresses, tokens valid.
    for i in 0..2000u32 {
        // Within the global budget: 400 queries a second.
        let now = now + Duration::from_millis(5 * u64::from(i));
        let from = SocketAddr::V4(SocketAddrV4::new(i.to_be_bytes().into(), 4000));
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        announce(&mut node, now, from, InfoHash(h));
    }
    let s = node.stats();
    assert!(s.stored_hashes <= 10 && s.stored_peers <= 40, "{s:?}");
    assert!(s.inflight <= MAX_INFLIGHT);
    // Lookups asked for past the queue's bound are dropped.
    for i in 0..10_000u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        node.get_peers(InfoHash(h), None, now);
    }
    let s = node.stats();
    assert!(s.lookups + s.queued <= 16 + 4096, "{s:?}");
}
