use std::net::IpAddr;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::draw::systematic;
use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn three_pids() -> LocalityMap {
    let pid = |name: &str, p: &str| PidDef {
        name: name.into(),
        prefixes: vec![p.parse().unwrap()],
    };
    LocalityMap::new(vec![
        pid("one", "127.0.1.0/24"),
        pid("two", "127.0.2.0/24"),
        pid("three", "127.0.3.0/24"),
    ])
    .unwrap()
}

#[test]
fn prefixes_parse_mask_and_match() {
    let p: Prefix = "127.0.1.7/24".parse().unwrap();
    assert_eq!(p.to_string(), "127.0.1.0/24");
    assert!(p.contains(ip("127.0.1.200")));
    assert!(!p.contains(ip("127.0.2.1")));
    assert!(p.contains(ip("::ffff:127.0.1.9")), "v4-mapped is v4");
    let host: Prefix = "10.0.0.1".parse().unwrap();
    assert_eq!(host.len(), 32);
    let v6: Prefix = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains(ip("2001:db8:1::5")));
    assert!(!v6.contains(ip("10.0.0.1")));
    let all: Prefix = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("8.8.8.8")) && all.is_empty());
    for bad in [
        "",
        "/",
        "10.0.0.0/33",
        "::/129",
        "10.0.0/8",
        "x/1",
        "10.0.0.0/-1",
        "1.2.3.4/8/9",
    ] {
        assert!(bad.parse::<Prefix>().is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn the_longest_prefix_wins() {
    let mut pids = three_pids().pids().to_vec();
    pids.push(PidDef {
        name: "wide".into(),
        prefixes: vec!["127.0.0.0/16".parse().unwrap()],
    });
    let map = LocalityMap::new(pids).unwrap();
    assert_eq!(map.pid_of(ip("127.0.2.9")), Some(1));
    assert_eq!(map.pid_of(ip("127.0.9.9")), Some(3));
    assert_eq!(map.pid_of(ip("10.0.0.1")), None);
}

#[test]
fn maps_refuse_bad_pids_costs_and_shares() {
    let p = |n: &str| PidDef {
        name: n.into(),
        prefixes: vec!["10.0.0.0/8".parse().unwrap()],
    };
    assert!(LocalityMap::new(vec![p("a"), p("a")]).is_err());
    assert!(LocalityMap::new(vec![p("")]).is_err());
    let empty = PidDef {
        name: "e".into(),
        prefixes: vec![],
    };
    assert!(LocalityMap::new(vec![empty]).is_err());
    let mut m = three_pids();
    assert!(m.set_cost("one", "nine", 1.0).is_err());
    assert!(m.set_cost("one", "two", 0.0).is_err());
    assert!(m.set_cost("one", "two", f64::NAN).is_err());
    assert!(m.set_price("two", "one", -1.0).is_err());
    assert!(m.set_local_share(1.5).is_err());
    m.set_price("two", "one", 20.0).unwrap();
    assert_eq!(m.price(1, 0), 20.0);
    assert_eq!(m.price(0, 1), 0.0);
    assert_eq!(m.price(1, 1), 0.0);
}

#[test]
fn prefer_local_groups_by_24_and_48() {
    let l = Locality::prefer_local();
    assert!(l.is_local(ip("192.168.1.5"), ip("192.168.1.200")));
    assert!(!l.is_local(ip("192.168.1.5"), ip("192.168.2.5")));
    assert!(l.is_local(ip("2001:db8:1:2::1"), ip("2001:db8:1:ffff::9")));
    assert!(!l.is_local(ip("2001:db8:1::1"), ip("2001:db8:2::1")));
    assert_eq!(l.name(l.group(ip("10.1.2.3"))), "10.1.2.0/24");
}

/// 70% near plus 30% at random over three equal networks: 8 near, 2 far.
#[test]
fn a_ten_peer_list_is_eight_near_and_two_far() {
    let l = Locality::from_map(three_pids());
    let cands: Vec<Group> = (0..60).map(|i| Group::Pid(i % 3)).collect();
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..50 {
        let got = l.draw(Group::Pid(0), &cands, 10, &mut rng);
        let local = got.iter().filter(|&&i| cands[i] == Group::Pid(0)).count();
        assert_eq!((got.len(), local), (10, 8));
    }
}

#[test]
fn costs_weight_the_draw_by_inverse_cost() {
    let mut m = three_pids();
    m.set_cost("one", "one", 1.0).unwrap();
    m.set_cost("one", "two", 2.0).unwrap();
    m.set_cost("one", "three", 4.0).unwrap();
    let l = Locality::from_map(m);
    let present = [(Group::Pid(0), 5), (Group::Pid(1), 5), (Group::Pid(2), 5)];
    let w = l.weights(Group::Pid(0), &present);
    let expect = [4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0];
    for (a, b) in w.iter().zip(expect) {
        assert!((a - b).abs() < 1e-12, "{w:?}");
    }
}

#[test]
fn local_only_still_fills_from_far_when_near_is_short() {
    let l = Locality::from_map(three_pids())
        .with_local_share(1.0)
        .unwrap();
    let cands = [Group::Pid(0), Group::Pid(1), Group::Pid(2), Group::Pid(1)];
    let mut rng = StdRng::seed_from_u64(3);
    let got = l.draw(Group::Pid(0), &cands, 3, &mut rng);
    assert_eq!(got.len(), 3);
    assert!(got.contains(&0), "the one local peer is given");
    let big: Vec<Group> = (0..30).map(|i| Group::Pid(i % 3)).collect();
    let got = l.draw(Group::Pid(0), &big, 10, &mut rng);
    assert!(got.iter().all(|&i| big[i] == Group::Pid(0)));
}

/// Turnover closes a far peer while far peers hold more than 30% of the
/// far fraction we know of (three equal networks: 20% of connections),
/// else a near one; an idle far peer goes rather than nobody.
#[test]
fn turnover_closes_far_peers_only_above_their_share() {
    let l = Locality::from_map(three_pids());
    let mut rng = StdRng::seed_from_u64(4);
    let (near, far) = (Group::Pid(0), Group::Pid(1));
    let known: Vec<Group> = (0..30).map(|i| Group::Pid(i % 3)).collect();
    let all: Vec<usize> = (0..10).collect();
    let with_far =
        |n: usize| -> Vec<Group> { (0..10).map(|i| if i < n { far } else { near }).collect() };
    for (n_far, closes_far) in [(3, true), (2, false), (1, false), (10, true)] {
        let connected = with_far(n_far);
        assert_eq!(
            l.close_far(near, &connected, &known),
            closes_far,
            "{n_far} far"
        );
        let v = l
            .turnover_victim(near, &connected, &known, &all, &mut rng)
            .unwrap();
        assert_eq!(connected[v] == far, closes_far, "{n_far} far");
    }
    let connected = with_far(1);
    assert_eq!(
        l.turnover_victim(near, &connected, &known, &[0], &mut rng),
        Some(0)
    );
    assert_eq!(
        l.turnover_victim(near, &connected, &known, &[], &mut rng),
        None
    );
}

#[test]
fn systematic_counts_add_up_and_round_either_way() {
    let w = [0.7, 0.15, 0.15];
    for k in 0..100 {
        let u = k as f64 / 100.0;
        let c = systematic(&w, 7, u);
        assert_eq!(c.iter().sum::<usize>(), 7);
        assert!(c[0] == 4 || c[0] == 5, "{c:?}");
        assert!(c[1] <= 2 && c[2] <= 2, "{c:?}");
    }
}

fn group() -> impl Strategy<Value = Group> {
    prop_oneof![(0u16..4).prop_map(Group::Pid), Just(Group::Unknown),]
}

proptest! {
    /// Over many draws each group's share of the lists is its weight
    /// (when every group has candidates to spare), the remote floor is
    /// kept in every list, and no index repeats or falls outside.
    #[test]
    fn weights_are_honoured_in_expectation_and_the_floor_always(
        counts in proptest::collection::vec(3usize..12, 2..5),
        want in 1usize..10,
        seed in any::<u64>(),
    ) {
        let l = Locality::from_map(three_pids());
        let cands: Vec<Group> = counts
            .iter()
            .enumerate()
            .flat_map(|(g, &n)| std::iter::repeat_n(Group::Pid(g as u16), n))
            .collect();
        let want = want.min(cands.len());
        let present: Vec<(Group, usize)> =
            counts.iter().enumerate().map(|(g, &n)| (Group::Pid(g as u16), n)).collect();
        let w = l.weights(Group::Pid(0), &present);
        let mut rng = StdRng::seed_from_u64(seed);
        let rounds = 400;
        let mut got = vec![0usize; counts.len()];
        let remote_candidates = cands.len() - counts[0];
        let far_weight: f64 = w[1..].iter().sum();
        let floor = ((want as f64) * far_weight - 1e-9).floor() as usize;
        for _ in 0..rounds {
            let d = l.draw(Group::Pid(0), &cands, want, &mut rng);
            prop_assert_eq!(d.len(), want);
            let mut seen = d.clone();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), want);
            let remote = d.iter().filter(|&&i| cands[i] != Group::Pid(0)).count();
            prop_assert!(remote >= floor.min(remote_candidates), "remote {} < floor {}", remote, floor);
            for i in d {
                if let Group::Pid(g) = cands[i] {
                    got[usize::from(g)] += 1;
                }
            }
        }
        // Short groups pass their remainder on: check the shares when no
        // group can run short.
        let roomy = (0..counts.len()).all(|g| w[g] * want as f64 + 1.0 <= counts[g] as f64);
        for (g, &n) in got.iter().enumerate() {
            let expect = w[g] * (want * rounds) as f64;
            if roomy {
                prop_assert!((n as f64 - expect).abs() <= 0.1 * (want * rounds) as f64 + 3.0,
                    "group {} got {} expected {:.1} (w {:?})", g, n, expect, w);
            }
        }
    }

    /// Odd candidates, groups and sizes never panic and never repeat.
    #[test]
    fn draws_never_panic(
        cands in proptest::collection::vec(group(), 0..40),
        asker in group(),
        want in 0usize..60,
        share in 0.0f64..=1.0,
        seed in any::<u64>(),
    ) {
        let l = Locality::from_map(three_pids()).with_local_share(share).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let d = l.draw(asker, &cands, want, &mut rng);
        prop_assert_eq!(d.len(), want.min(cands.len()));
        let mut s = d.clone();
        s.sort_unstable();
        s.dedup();
        prop_assert_eq!(s.len(), d.len());
        let idle: Vec<usize> = (0..cands.len()).step_by(2).collect();
        if let Some(v) = l.turnover_victim(asker, &cands, &cands, &idle, &mut rng) {
            prop_assert!(idle.contains(&v));
        }
    }

    /// Any string parses or fails cleanly.
    #[test]
    fn prefix_parsing_never_panics(s in ".{0,50}") {
        let _ = s.parse::<Prefix>();
    }
}

#[test]
fn the_far_ceiling_follows_the_shape_and_keeps_one() {
    let l = Locality::from_map(three_pids());
    let near = Group::Pid(0);
    let known: Vec<Group> = (0..30).map(|i| Group::Pid(i % 3)).collect();
    // 30% x 2/3 x 10 slots = 2.
    assert_eq!(l.far_ceiling(near, &known, 10), 2);
    assert_eq!(l.far_ceiling(near, &known, 60), 12);
    let local_only = l.clone().with_local_share(1.0).unwrap();
    assert_eq!(local_only.far_ceiling(near, &known, 10), 1, "the far floor");
    assert_eq!(
        l.far_ceiling(near, &[near, near], 10),
        0,
        "no far peer known"
    );
    assert_eq!(l.far_ceiling(near, &[], 10), 0);
}
