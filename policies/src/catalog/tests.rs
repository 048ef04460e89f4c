//! Catalog tests: every name round-trips through `FromStr`/`Display`/serde,
//! bad names list the valid ones, and every kind builds a working policy.

use std::time::{Duration, Instant};

use riffle_protocol::{Bitfield, BLOCK_SIZE};

use super::*;
use crate::choker::{PeerView, Unchoke};
use crate::picker::{AvailabilityChange, Remote};
use crate::PeerKey;

/// Name round trip through `Display`/`FromStr` and serde (JSON string).
fn round_trip<K>(all: &[K])
where
    K: Copy + fmt::Display + FromStr<Err = UnknownPolicy> + PartialEq + fmt::Debug,
    K: Serialize + for<'de> Deserialize<'de>,
{
    let mut names: Vec<String> = Vec::new();
    for &k in all {
        let name = k.to_string();
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{name} is not kebab-case"
        );
        assert_eq!(name.parse::<K>(), Ok(k));
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<K>(&json).unwrap(), k);
        assert!(!names.contains(&name), "{name} twice");
        names.push(name);
    }
    let err = "no-such-policy".parse::<K>().unwrap_err();
    let msg = err.to_string();
    for name in &names {
        assert!(msg.contains(name.as_str()), "{msg} does not list {name}");
    }
    assert!(serde_json::from_str::<K>("\"no-such-policy\"").is_err());
}

#[test]
fn every_name_round_trips() {
    round_trip(PickerKind::ALL);
    round_trip(ChokerKind::ALL);
    round_trip(SeedChokerKind::ALL);
}

#[test]
fn names_are_those_of_the_contract() {
    let names = |v: Vec<String>| v.join(" ");
    assert_eq!(
        names(PickerKind::ALL.iter().map(|k| k.to_string()).collect()),
        "rarest-first random-useful sequential"
    );
    assert_eq!(
        names(ChokerKind::ALL.iter().map(|k| k.to_string()).collect()),
        "tit-for-tat random random-useful"
    );
    assert_eq!(
        names(SeedChokerKind::ALL.iter().map(|k| k.to_string()).collect()),
        "round-robin fastest-upload anti-leech most-deprived random"
    );
    assert_eq!(PickerKind::default(), PickerKind::RarestFirst);
    assert_eq!(ChokerKind::default(), ChokerKind::TitForTat);
    assert_eq!(SeedChokerKind::default(), SeedChokerKind::RoundRobin);
}

#[test]
fn help_lines_are_single_lines() {
    let helps = PickerKind::ALL
        .iter()
        .map(|k| k.help())
        .chain(ChokerKind::ALL.iter().map(|k| k.help()))
        .chain(SeedChokerKind::ALL.iter().map(|k| k.help()));
    for h in helps {
        assert!(!h.is_empty() && !h.contains('\n'), "{h:?}");
        assert!(!h.contains("  "), "double space in {h:?}");
    }
}

#[test]
fn timers_scale_with_the_rechoke_interval() {
    let s = ChokerSettings {
        rechoke_interval: Duration::from_millis(100),
        ..ChokerSettings::default()
    };
    assert_eq!(
        s.scaled(Duration::from_secs(30)),
        Duration::from_millis(300)
    );
    let tft = s.tit_for_tat(4);
    assert_eq!(tft.optimistic_interval, Duration::from_millis(300));
    let rr = s.round_robin(4);
    assert_eq!(rr.min_unchoke_time, Duration::from_millis(600));
    assert_eq!(rr.max_unchoke_time, Duration::from_secs(3));
    assert_eq!(rr.quota_bytes, 20 * 256 * 1024);
    // Extremes saturate instead of panicking.
    let huge = ChokerSettings {
        rechoke_interval: Duration::MAX,
        ..ChokerSettings::default()
    };
    assert_eq!(huge.scaled(Duration::from_secs(30)), Duration::MAX);
    let zero = ChokerSettings {
        rechoke_interval: Duration::ZERO,
        ..ChokerSettings::default()
    };
    assert_eq!(zero.scaled(Duration::from_secs(30)), Duration::ZERO);
    let now = Instant::now();
    let peers = interested(5, now);
    let mut out = Unchoke::default();
    for s in [huge, zero] {
        let chokers = ChokerKind::ALL
            .iter()
            .map(|k| k.build(&s, 0))
            .chain(SeedChokerKind::ALL.iter().map(|k| k.build(&s, 0)));
        for mut c in chokers {
            c.rechoke(now, &peers, &mut out);
            assert!(!out.is_empty());
        }
    }
}

#[test]
fn every_picker_kind_downloads_a_torrent_from_a_seed() {
    let pieces = 12;
    let geometry = PieceGeometry::new(pieces, BLOCK_SIZE, BLOCK_SIZE).unwrap();
    let full = Bitfield::full(pieces);
    let mut kinds: Vec<(PickerKind, Option<PickerKind>)> =
        PickerKind::ALL.iter().map(|&k| (k, None)).collect();
    for &a in PickerKind::ALL {
        for &b in PickerKind::ALL {
            kinds.push((a, Some(b)));
        }
    }
    for (kind, split) in kinds {
        let mut p = match split {
            None => kind.build(geometry, 7),
            Some(seeds) => kind.build_split(seeds, geometry, 7),
        };
        p.on_availability(AvailabilityChange::Bitfield(&full));
        let mut out = Vec::new();
        let mut cancel = Vec::new();
        for _ in 0..pieces {
            out.clear();
            assert_eq!(p.pick(Remote::new(PeerKey(1), &full), 1, &mut out), 1);
            p.block_received(PeerKey(1), out[0], &mut cancel).unwrap();
            p.piece_passed(out[0].piece).unwrap();
        }
        assert!(p.book().is_finished(), "{kind} / {split:?} did not finish");
    }
}

fn interested(n: u64, now: Instant) -> Vec<PeerView> {
    (0..n)
        .map(|k| {
            let mut p = PeerView::new(PeerKey(k), now);
            p.interested = true;
            p.wants_ours = true;
            p.pieces = k as u32 % 3;
            p.total_pieces = 10;
            p
        })
        .collect()
}

#[test]
fn every_choker_kind_unchokes_within_its_slots() {
    let now = Instant::now();
    let peers = interested(9, now);
    let s = ChokerSettings::default();
    let mut built: Vec<(String, usize, Box<dyn Choker>)> = Vec::new();
    for &k in ChokerKind::ALL {
        built.push((k.to_string(), k.default_slots(), k.build(&s, 3)));
    }
    for &k in SeedChokerKind::ALL {
        built.push((k.to_string(), k.default_slots(), k.build(&s, 3)));
    }
    for (name, slots, mut c) in built {
        let mut out = Unchoke::default();
        c.rechoke(now, &peers, &mut out);
        assert!(!out.is_empty(), "{name} unchoked nobody");
        assert!(out.len() <= c.max_unchoked(), "{name}");
        assert!(out.regular.len() <= slots, "{name}");
        assert_eq!(c.rechoke_interval(), s.rechoke_interval, "{name}");
    }
}

#[test]
fn explicit_slots_override_the_default() {
    let now = Instant::now();
    let peers = interested(9, now);
    let s = ChokerSettings {
        slots: 2,
        ..ChokerSettings::default()
    };
    for &k in SeedChokerKind::ALL {
        let mut c = k.build(&s, 1);
        let mut out = Unchoke::default();
        c.rechoke(now, &peers, &mut out);
        assert_eq!(out.regular.len(), 2, "{k}");
    }
}

#[test]
fn per_piece_chokers_are_the_papers_random_and_deprived_ones() {
    let s = ChokerSettings::default();
    let leech: Vec<(ChokerKind, bool)> = ChokerKind::ALL
        .iter()
        .map(|&k| (k, k.build(&s, 0).per_piece()))
        .collect();
    assert_eq!(
        leech,
        vec![
            (ChokerKind::TitForTat, false),
            (ChokerKind::Random, true),
            (ChokerKind::RandomUseful, true),
        ]
    );
    let seed: Vec<(SeedChokerKind, bool)> = SeedChokerKind::ALL
        .iter()
        .map(|&k| (k, k.build(&s, 0).per_piece()))
        .collect();
    assert_eq!(
        seed,
        vec![
            (SeedChokerKind::RoundRobin, false),
            (SeedChokerKind::FastestUpload, false),
            (SeedChokerKind::AntiLeech, false),
            (SeedChokerKind::MostDeprived, true),
            (SeedChokerKind::Random, true),
        ]
    );
}

#[test]
fn default_slots_are_those_of_the_contract() {
    let leech: Vec<usize> = ChokerKind::ALL.iter().map(|k| k.default_slots()).collect();
    assert_eq!(leech, vec![4, 1, 1]);
    let seed: Vec<usize> = SeedChokerKind::ALL
        .iter()
        .map(|k| k.default_slots())
        .collect();
    assert_eq!(seed, vec![4, 4, 4, 1, 1]);
    let s = ChokerSettings::default();
    assert_eq!(ChokerKind::TitForTat.build(&s, 0).max_unchoked(), 5);
    assert_eq!(ChokerKind::Random.build(&s, 0).max_unchoked(), 1);
    assert_eq!(SeedChokerKind::MostDeprived.build(&s, 0).max_unchoked(), 1);
}
