//! Unit tests of the registry: membership, replies, shielding, admission,
//! expiry and scrape.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

use super::*;

pub(super) fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

pub(super) fn id(n: u16) -> PeerId {
    let mut b = [b'-'; 20];
    b[..2].copy_from_slice(&n.to_be_bytes());
    PeerId(b)
}

pub(super) fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + n))
}

/// An announce of peer `n` in swarm 1 with `left` and `downloaded`.
pub(super) fn ann(n: u16, left: u64, downloaded: u64) -> Announce {
    Announce {
        info_hash: hash(1),
        peer_id: id(n),
        addr: addr(n),
        left,
        downloaded,
        uploaded: 0,
        event: Event::None,
        numwant: None,
    }
}

fn seed(n: u16) -> Announce {
    ann(n, 0, 0)
}

fn newcomer(n: u16) -> Announce {
    Announce {
        event: Event::Started,
        ..ann(n, 1000, 0)
    }
}

fn leecher(n: u16) -> Announce {
    ann(n, 500, 500)
}

fn ids(r: &AnnounceReply) -> HashSet<PeerId> {
    r.peers.iter().map(|p| p.peer_id).collect()
}

fn registry(policy: TrackerPolicy) -> (Registry, Instant) {
    (Registry::new(policy, 7), Instant::now())
}

#[test]
fn leechers_get_everyone_but_themselves_and_seeds_get_leechers() {
    let (mut r, t) = registry(TrackerPolicy::default());
    r.announce(t, &seed(1)).unwrap();
    r.announce(t, &seed(2)).unwrap();
    r.announce(t, &leecher(3)).unwrap();
    r.announce(t, &leecher(4)).unwrap();
    let l = r.announce(t, &leecher(3)).unwrap();
    assert_eq!(ids(&l), HashSet::from([id(1), id(2), id(4)]));
    assert!(l
        .peers
        .iter()
        .all(|p| p.seed == (p.peer_id == id(1) || p.peer_id == id(2))));
    let s = r.announce(t, &seed(1)).unwrap();
    assert_eq!(
        ids(&s),
        HashSet::from([id(3), id(4)]),
        "a seed gets leechers only"
    );
    assert_eq!(
        s.counts,
        SwarmCounts {
            seeds: 2,
            leechers: 2,
            completed: 0
        }
    );
    assert_eq!(s.interval, Duration::from_secs(1800));
    assert_eq!(s.min_interval, Duration::from_secs(900));
}

#[test]
fn numwant_caps_the_list() {
    let policy = TrackerPolicy {
        default_numwant: 3,
        max_numwant: 5,
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    for n in 0..20 {
        r.announce(t, &leecher(n)).unwrap();
    }
    assert_eq!(r.announce(t, &leecher(0)).unwrap().peers.len(), 3);
    let ask = |w| Announce {
        numwant: Some(w),
        ..leecher(0)
    };
    assert_eq!(r.announce(t, &ask(1)).unwrap().peers.len(), 1);
    assert_eq!(r.announce(t, &ask(0)).unwrap().peers.len(), 0);
    assert_eq!(r.announce(t, &ask(100)).unwrap().peers.len(), 5);
}

#[test]
fn stopped_removes_and_unknown_swarms_count_zero() {
    let (mut r, t) = registry(TrackerPolicy::default());
    r.announce(t, &leecher(1)).unwrap();
    r.announce(t, &seed(2)).unwrap();
    let stop = Announce {
        event: Event::Stopped,
        ..leecher(1)
    };
    let reply = r.announce(t, &stop).unwrap();
    assert!(reply.peers.is_empty());
    assert_eq!(reply.counts.leechers, 0);
    assert_eq!(reply.counts.seeds, 1);
    assert_eq!(r.peer_count(), 1);
    // A stop from a stranger is answered, not refused, and adds nobody.
    let stranger = Announce {
        info_hash: hash(9),
        ..stop
    };
    assert!(r.announce(t, &stranger).is_ok());
    assert_eq!(r.swarm_count(), 1);
    let stop_seed = Announce {
        event: Event::Stopped,
        ..seed(2)
    };
    r.announce(t, &stop_seed).unwrap();
    assert_eq!(r.swarm_count(), 0, "an empty swarm is forgotten");
    assert_eq!(
        r.scrape(&[hash(1)]),
        vec![(hash(1), SwarmCounts::default())]
    );
}

#[test]
fn completed_is_counted_once_per_peer_and_scraped() {
    let (mut r, t) = registry(TrackerPolicy::default());
    r.announce(t, &newcomer(1)).unwrap();
    let done = Announce {
        event: Event::Completed,
        ..ann(1, 0, 1000)
    };
    r.announce(t, &done).unwrap();
    r.announce(t, &done).unwrap(); // a retried announce
    r.announce(t, &seed(2)).unwrap();
    r.announce(t, &leecher(3)).unwrap();
    let got = r.scrape(&[hash(1), hash(2)]);
    assert_eq!(
        got,
        vec![
            (
                hash(1),
                SwarmCounts {
                    seeds: 2,
                    leechers: 1,
                    completed: 1
                }
            ),
            (hash(2), SwarmCounts::default())
        ]
    );
}

#[test]
fn swarms_are_separate() {
    let (mut r, t) = registry(TrackerPolicy::default());
    r.announce(t, &leecher(1)).unwrap();
    let other = Announce {
        info_hash: hash(2),
        ..leecher(2)
    };
    assert!(r.announce(t, &other).unwrap().peers.is_empty());
    assert_eq!(r.swarm_count(), 2);
}

#[test]
fn a_new_id_at_a_known_address_replaces_the_old_record() {
    let (mut r, t) = registry(TrackerPolicy {
        max_peers: Some(1),
        ..TrackerPolicy::default()
    });
    r.announce(t, &leecher(1)).unwrap();
    let restarted = Announce {
        peer_id: id(99),
        ..leecher(1)
    };
    r.announce(t, &restarted)
        .expect("a restart is not a new peer");
    assert_eq!(r.peer_count(), 1);
    let swarm = r.swarm(&hash(1)).unwrap();
    swarm.check_invariants();
    assert_eq!(swarm.records()[0].id, id(99));
}

#[test]
fn a_shielded_newcomer_is_given_seeds_only_and_hidden_from_leechers() {
    let policy = TrackerPolicy {
        shield_newcomers: Some(Duration::from_secs(10)),
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    r.announce(t, &seed(1)).unwrap();
    r.announce(t, &leecher(2)).unwrap();
    let first = r.announce(t, &newcomer(3)).unwrap();
    assert_eq!(ids(&first), HashSet::from([id(1)]), "seeds only");
    // Asked back when its shield lapses, not after the usual interval.
    assert_eq!(first.interval, Duration::from_secs(10));
    assert_eq!(
        first.min_interval,
        Duration::ZERO,
        "its progress is welcome at once"
    );
    assert_eq!(first.counts.leechers, 2, "it is counted all the same");
    let other = r.announce(t, &leecher(2)).unwrap();
    assert_eq!(ids(&other), HashSet::from([id(1)]), "hidden from leechers");
    let publisher = r.announce(t, &seed(1)).unwrap();
    assert_eq!(
        ids(&publisher),
        HashSet::from([id(2), id(3)]),
        "the publisher finds it"
    );
    // Still nothing downloaded: still shielded a bit later.
    let again = r
        .announce(t + Duration::from_secs(5), &ann(3, 1000, 0))
        .unwrap();
    assert_eq!(ids(&again), HashSet::from([id(1)]));
    assert_eq!(again.interval, Duration::from_secs(5));
    // Progress lifts the shield at once.
    let progress = r
        .announce(t + Duration::from_secs(6), &ann(3, 900, 100))
        .unwrap();
    assert_eq!(ids(&progress), HashSet::from([id(1), id(2)]));
    assert_eq!(progress.interval, TrackerPolicy::default().interval);
    let other = r.announce(t + Duration::from_secs(6), &leecher(2)).unwrap();
    assert_eq!(ids(&other), HashSet::from([id(1), id(3)]));
}

#[test]
fn seeds_come_first_in_a_leechers_list() {
    let (mut r, t) = registry(TrackerPolicy::default());
    for i in 10..20 {
        r.announce(t, &leecher(i)).unwrap();
    }
    r.announce(t, &seed(1)).unwrap();
    r.announce(t, &seed(2)).unwrap();
    let reply = r.announce(t, &leecher(30)).unwrap();
    assert_eq!(reply.peers.len(), 12);
    let seeds: Vec<bool> = reply.peers.iter().map(|p| p.seed).collect();
    assert!(
        seeds[..2].iter().all(|s| *s) && !seeds[2..].iter().any(|s| *s),
        "{seeds:?}"
    );
}

#[test]
fn the_shield_ends_with_its_time() {
    let policy = TrackerPolicy {
        shield_newcomers: Some(Duration::from_secs(10)),
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    r.announce(t, &leecher(2)).unwrap();
    r.announce(t, &newcomer(3)).unwrap();
    let later = t + Duration::from_secs(10);
    assert_eq!(
        ids(&r.announce(later, &leecher(2)).unwrap()),
        HashSet::from([id(3)])
    );
    assert_eq!(
        ids(&r.announce(later, &ann(3, 1000, 0)).unwrap()),
        HashSet::from([id(2)])
    );
}

#[test]
fn without_shielding_newcomers_are_ordinary_leechers() {
    let (mut r, t) = registry(TrackerPolicy::default());
    r.announce(t, &leecher(2)).unwrap();
    assert_eq!(
        ids(&r.announce(t, &newcomer(3)).unwrap()),
        HashSet::from([id(2)])
    );
    assert_eq!(
        ids(&r.announce(t, &leecher(2)).unwrap()),
        HashSet::from([id(3)])
    );
}

#[test]
fn a_resumed_peer_is_no_newcomer() {
    let policy = TrackerPolicy {
        shield_newcomers: Some(Duration::from_secs(10)),
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    r.announce(t, &leecher(2)).unwrap();
    // A peer resuming with data announces downloaded > 0 at once.
    let resumed = Announce {
        event: Event::Started,
        ..ann(3, 100, 900)
    };
    assert_eq!(
        ids(&r.announce(t, &resumed).unwrap()),
        HashSet::from([id(2)])
    );
}

#[test]
fn admission_refuses_new_downloaders_past_the_cap_only() {
    let policy = TrackerPolicy {
        max_peers: Some(2),
        min_interval: Duration::from_secs(30),
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    r.announce(t, &seed(1)).unwrap();
    r.announce(t, &newcomer(2)).unwrap();
    r.announce(t, &newcomer(3)).unwrap();
    let refusal = r.announce(t, &newcomer(4)).unwrap_err();
    assert!(refusal.reason.contains("swarm full"), "{}", refusal.reason);
    assert!(refusal.reason.contains('2'), "{}", refusal.reason);
    assert_eq!(refusal.retry_in, Duration::from_secs(30));
    assert_eq!(r.counts(&hash(1)).leechers, 2);
    // Members are never refused, and another seed is welcome.
    r.announce(t, &leecher(2)).unwrap();
    r.announce(t, &seed(5)).unwrap();
    // Another swarm has its own cap.
    let elsewhere = Announce {
        info_hash: hash(2),
        ..newcomer(4)
    };
    r.announce(t, &elsewhere).unwrap();
    // A departure makes room.
    let stop = Announce {
        event: Event::Stopped,
        ..leecher(3)
    };
    r.announce(t, &stop).unwrap();
    r.announce(t, &newcomer(4)).unwrap();
    // A completion makes room too.
    r.announce(t, &ann(2, 0, 1000)).unwrap();
    r.announce(t, &newcomer(6)).unwrap();
    assert_eq!(r.counts(&hash(1)).leechers, 2);
}

#[test]
fn expiry_drops_silent_peers_and_empty_swarms() {
    let policy = TrackerPolicy {
        peer_expiry: Duration::from_secs(60),
        ..TrackerPolicy::default()
    };
    let (mut r, t) = registry(policy);
    r.announce(t, &leecher(1)).unwrap();
    r.announce(t + Duration::from_secs(30), &leecher(2))
        .unwrap();
    let other = Announce {
        info_hash: hash(2),
        ..leecher(3)
    };
    r.announce(t, &other).unwrap();
    r.expire(t + Duration::from_secs(59));
    assert_eq!(r.peer_count(), 3);
    r.expire(t + Duration::from_secs(60));
    assert_eq!(r.peer_count(), 1);
    assert_eq!(r.swarm_count(), 1);
    let reply = r
        .announce(t + Duration::from_secs(61), &leecher(4))
        .unwrap();
    assert_eq!(ids(&reply), HashSet::from([id(2)]));
    r.swarm(&hash(1)).unwrap().check_invariants();
}

#[test]
fn with_interval_derives_the_other_times() {
    let p = TrackerPolicy::with_interval(Duration::from_secs(10));
    assert_eq!(p.interval, Duration::from_secs(10));
    assert_eq!(p.min_interval, Duration::from_secs(5));
    assert_eq!(p.peer_expiry, Duration::from_secs(20));
}

#[test]
fn replies_are_uniform_over_eligible_peers() {
    // 40 leechers; each reply of 5 from the big-swarm path. Every other
    // peer should come up about equally often.
    let (mut r, t) = registry(TrackerPolicy {
        default_numwant: 5,
        ..TrackerPolicy::default()
    });
    for n in 0..40 {
        r.announce(t, &leecher(n)).unwrap();
    }
    let mut seen = std::collections::HashMap::<PeerId, u32>::new();
    let rounds = 4000;
    for _ in 0..rounds {
        for p in r.announce(t, &leecher(0)).unwrap().peers {
            *seen.entry(p.peer_id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 39);
    let expected = f64::from(rounds * 5) / 39.0;
    for (peer, n) in seen {
        let dev = (f64::from(n) - expected).abs() / expected;
        assert!(dev < 0.15, "{peer:?} drawn {n} times, expected ~{expected}");
    }
}

/// With a locality map of three /24s, a ten-peer reply to a leecher holds
/// 70% of its own network plus its part of the random 30% (19 of 59
/// candidates): 7 or 8 near peers, the rest far; the registry counts what
/// it handed out by network.
#[test]
fn near_first_replies_give_seven_local_and_three_remote() {
    use crate::locality::{Locality, LocalityMap, PidDef};
    let pid = |name: &str, net: &str| PidDef {
        name: name.into(),
        prefixes: vec![net.parse().unwrap()],
    };
    let map = LocalityMap::new(vec![
        pid("one", "127.0.1.0/24"),
        pid("two", "127.0.2.0/24"),
        pid("three", "127.0.3.0/24"),
    ])
    .unwrap();
    let (mut r, t0) = registry(TrackerPolicy::default());
    let at = |n: u16| SocketAddr::from(([127, 0, (n % 3 + 1) as u8, (n / 3 + 1) as u8], 6881));
    for n in 0..60 {
        r.announce(
            t0,
            &Announce {
                addr: at(n),
                ..leecher(n)
            },
        )
        .unwrap();
    }
    r.set_locality(Some(Locality::from_map(map)));
    let in_one =
        |p: &ReplyPeer| matches!(p.addr.ip(), std::net::IpAddr::V4(v4) if v4.octets()[2] == 1);
    for n in (0..60).step_by(3) {
        let reply = r
            .announce(
                t0,
                &Announce {
                    addr: at(n),
                    numwant: Some(10),
                    ..leecher(n)
                },
            )
            .unwrap();
        let local = reply.peers.iter().filter(|p| in_one(p)).count();
        assert_eq!(reply.peers.len(), 10);
        assert!((7..=8).contains(&local), "{reply:?}");
    }
    let given = r.given_by_network();
    let count = |a: &str, p: &str| {
        given
            .iter()
            .find(|g| g.asker == a && g.peer == p)
            .map_or(0, |g| g.count)
    };
    let near = count("one", "one");
    assert!((20 * 7..=20 * 8).contains(&near), "{given:?}");
    assert_eq!(near + count("one", "two") + count("one", "three"), 200);
    // 10 * (0.7 + 0.3 * 19 / 59) = 7.97 near per reply.
    assert!(near >= 150, "{given:?}");
    assert_eq!(count("two", "one"), 0, "only network one asked");
}
