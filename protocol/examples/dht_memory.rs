//! Memory of one DHT node holding a full routing table (160 buckets of
//! 8 nodes, reached the way a live node reaches them: each node answers a
//! ping) and 10,000 peers announced to it (100 torrents of 100 peers, each
//! announce with the token its querier got), counted by a global allocator
//! that tracks the bytes in use. Run by scripts/bench-dht.sh.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use riffle_protocol::dht::krpc::{Body, Message, Query, Response};
use riffle_protocol::dht::routing::id_in_bucket;
use riffle_protocol::dht::{Config, Node, NodeId};
use riffle_protocol::InfoHash;

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn query(tid: &[u8], q: Query) -> Vec<u8> {
    Message {
        transaction: tid.to_vec(),
        body: Body::Query {
            id: NodeId([0x11; 20]),
            query: q,
        },
        read_only: false,
    }
    .encode()
}

fn main() {
    let start = Instant::now();
    let mut now = start;
    let before = IN_USE.load(Ordering::Relaxed);
    let mut node = Node::new(Config::default(), None, now);
    let own = node.id();
    let mut n = 0u32;
    // Every bucket full: a node per (shared prefix, slot), each answering
    // the ping that brings it in.
    for prefix in 0..160usize {
        for slot in 0..8u8 {
            n += 1;
            let addr = SocketAddrV4::new((0x0a00_0000 | n).into(), 6881);
            let mut random = [slot; 20];
            random[19] = (n & 0xff) as u8;
            let id = id_in_bucket(&own, prefix, random);
            node.add_node(addr, now);
            while let Some((to, bytes)) = node.poll_transmit() {
                let Ok(m) = Message::decode(&bytes) else {
                    continue;
                };
                if to != addr {
                    continue;
                }
                let answer = Message {
                    transaction: m.transaction,
                    body: Body::Response(Response {
                        id,
                        ..Response::default()
                    }),
                    read_only: false,
                };
                node.handle(now, SocketAddr::V4(addr), &answer.encode());
            }
        }
    }
    // 10,000 peers: 100 torrents x 100 announcers, within the rate limit.
    for t in 0..100u32 {
        let hash = InfoHash([t as u8; 20]);
        for p in 0..100u32 {
            now += Duration::from_millis(5);
            let from = SocketAddr::V4(SocketAddrV4::new((0x6400_0000 | (t << 8) | p).into(), 7000));
            node.handle(now, from, &query(b"g", Query::GetPeers { info_hash: hash }));
            let token = std::iter::from_fn(|| node.poll_transmit())
                .filter_map(|(_, b)| Message::decode(&b).ok())
                .find_map(|m| match m.body {
                    Body::Response(r) => r.token,
                    _ => None,
                })
                .expect("a token");
            let q = Query::AnnouncePeer {
                info_hash: hash,
                port: 7000,
                implied_port: false,
                token,
            };
            node.handle(now, from, &query(b"a", q));
            while node.poll_transmit().is_some() {}
        }
    }
    while node.poll_event().is_some() {}
    let stats = node.stats();
    let used = IN_USE.load(Ordering::Relaxed) - before;
    println!(
        "| one DHT node | routing table | stored peers | heap in use | peak heap |\n|---|---|---|---|---|\n| riffle-protocol dht::Node | {} nodes | {} peers of {} torrents | {:.2} MiB | {:.2} MiB |",
        stats.nodes,
        stats.stored_peers,
        stats.stored_hashes,
        used as f64 / (1 << 20) as f64,
        (PEAK.load(Ordering::Relaxed) - before) as f64 / (1 << 20) as f64
    );
    assert_eq!(stats.stored_peers, 10_000, "{stats:?}");
}
