//! Property tests: arbitrary announce sequences keep the registry's
//! promises (never yourself, numwant, shielding, admission, counts).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use riffle_protocol::tracker::Event;

use super::tests::{addr, ann, hash, id};
use super::*;

/// One step of a scenario.
#[derive(Clone, Debug)]
enum Op {
    /// Peer `peer` announces in swarm `swarm`.
    Announce {
        peer: u16,
        swarm: u8,
        left: u64,
        downloaded: u64,
        event: u32,
        numwant: Option<usize>,
        /// Announce from another peer's address (a restart).
        addr_of: Option<u16>,
    },
    /// Time passes.
    Wait(u64),
    /// Expiry runs.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            0u16..12,
            0u8..2,
            prop_oneof![Just(0u64), 1u64..1000],
            prop_oneof![Just(0u64), 1u64..1000],
            0u32..4,
            proptest::option::of(0usize..20),
            proptest::option::weighted(0.05, 0u16..12),
        )
            .prop_map(|(peer, swarm, left, downloaded, event, numwant, addr_of)| {
                Op::Announce { peer, swarm, left, downloaded, event, numwant, addr_of }
            }),
        1 => (0u64..8).prop_map(Op::Wait),
        1 => Just(Op::Expire),
    ]
}

fn policy() -> impl Strategy<Value = TrackerPolicy> {
    (
        proptest::option::of(1u64..6),
        proptest::option::of(0usize..6),
        1usize..8,
        1usize..10,
    )
        .prop_map(
            |(shield, max_peers, default_numwant, max_numwant)| TrackerPolicy {
                shield_newcomers: shield.map(Duration::from_secs),
                max_peers,
                interval: Duration::from_secs(10),
                min_interval: Duration::from_secs(5),
                peer_expiry: Duration::from_secs(15),
                default_numwant,
                max_numwant,
            },
        )
}

proptest! {
    #[test]
    fn announces_keep_the_registry_promises(
        policy in policy(),
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut r = Registry::new(policy, seed);
        let start = Instant::now();
        let mut now = start;
        for op in ops {
            match op {
                Op::Wait(s) => now += Duration::from_secs(s),
                Op::Expire => {
                    r.expire(now);
                    for h in [hash(1), hash(2)] {
                        if let Some(s) = r.swarm(&h) {
                            for p in s.records() {
                                prop_assert!(now.saturating_duration_since(p.last_seen) < policy.peer_expiry);
                            }
                        }
                    }
                }
                Op::Announce { peer, swarm, left, downloaded, event, numwant, addr_of } => {
                    let a = Announce {
                        info_hash: hash(swarm + 1),
                        addr: addr(addr_of.unwrap_or(peer)),
                        event: Event::from_udp_code(event).unwrap_or_default(),
                        numwant,
                        ..ann(peer, left, downloaded)
                    };
                    let before = r.swarm(&a.info_hash);
                    let member = before.is_some_and(|s| s.get(&a.peer_id).is_some()
                        || s.id_at(&a.addr).is_some());
                    let leechers_before = before.map_or(0, |s| s.leechers());
                    match r.announce(now, &a) {
                        Err(refusal) => {
                            prop_assert!(!member, "a member was refused");
                            prop_assert!(left > 0, "a seed was refused");
                            prop_assert!(a.event != Event::Stopped);
                            let max = policy.max_peers;
                            prop_assert!(max.is_some_and(|m| leechers_before >= m));
                            prop_assert!(!refusal.reason.is_empty());
                            prop_assert_eq!(refusal.retry_in, policy.min_interval);
                        }
                        Ok(reply) => {
                            let want = numwant.unwrap_or(policy.default_numwant).min(policy.max_numwant);
                            prop_assert!(reply.peers.len() <= want);
                            let distinct: HashSet<_> = reply.peers.iter().map(|p| p.peer_id).collect();
                            prop_assert_eq!(distinct.len(), reply.peers.len(), "duplicates");
                            for p in &reply.peers {
                                prop_assert!(p.peer_id != a.peer_id && p.addr != a.addr, "got itself");
                            }
                            if a.event == Event::Stopped {
                                prop_assert!(reply.peers.is_empty());
                            }
                            if let (false, Some(max)) = (member, policy.max_peers) {
                                if left > 0 && a.event != Event::Stopped {
                                    prop_assert!(reply.counts.leechers as usize <= max,
                                        "admitted past the cap");
                                }
                            }
                            if let Some(s) = r.swarm(&a.info_hash) {
                                s.check_invariants();
                                prop_assert_eq!(s.counts(), reply.counts);
                                let rec = |pid| s.get(&pid).copied();
                                let asker = rec(a.peer_id);
                                for p in &reply.peers {
                                    let Some(other) = rec(p.peer_id) else {
                                        return Err(TestCaseError::fail("a peer not in the swarm"));
                                    };
                                    prop_assert_eq!(p.seed, other.is_seed());
                                    if let Some(asker) = asker {
                                        if asker.is_seed() {
                                            prop_assert!(!other.is_seed(), "a seed got a seed");
                                        } else {
                                            prop_assert!(other.is_seed()
                                                || !other.shielded(now, policy.shield_newcomers),
                                                "a leecher got a shielded newcomer");
                                            if asker.shielded(now, policy.shield_newcomers) {
                                                prop_assert!(other.is_seed(),
                                                    "a shielded newcomer got a leecher");
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let total: usize = [hash(1), hash(2)].iter()
                        .filter_map(|h| r.swarm(h)).map(|s| s.len()).sum();
                    prop_assert_eq!(r.peer_count(), total);
                }
            }
        }
    }

    #[test]
    fn a_seedless_swarm_gives_a_newcomer_nothing_while_shielded(n in 1u16..30) {
        let policy = TrackerPolicy {
            shield_newcomers: Some(Duration::from_secs(60)),
            ..TrackerPolicy::default()
        };
        let mut r = Registry::new(policy, u64::from(n));
        let t = Instant::now();
        for p in 0..n {
            r.announce(t, &ann(p, 100, 100)).unwrap();
        }
        let a = Announce { event: Event::Started, ..ann(n, 100, 0) };
        prop_assert!(r.announce(t, &a).unwrap().peers.is_empty());
        for p in 0..n {
            let reply = r.announce(t, &ann(p, 100, 100)).unwrap();
            prop_assert!(reply.peers.iter().all(|q| q.peer_id != id(n)));
        }
    }
}
