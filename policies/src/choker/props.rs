//! Property tests of the chokers: slot counts, interest, no duplicates,
//! over arbitrary peer populations and time steps, plus each paper
//! policy's own promise (most deprived serves a minimum-piece peer, random
//! useful never serves a peer that wants nothing, random wastes exactly the
//! slots drawn for such peers, ranked chokers serve the best scores).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{
    Choker, MostDeprived, PeerView, PerPieceConfig, RandomPeer, Ranked, RankedConfig, Ranking,
    RoundRobin, RoundRobinConfig, TitForTat, TitForTatConfig, Unchoke,
};
use crate::catalog::{ChokerKind, ChokerSettings, SeedChokerKind};
use crate::peer::PeerKey;

/// (interested, snubbed, download rate, sent, connected seconds ago)
type PeerSpec = (bool, bool, u64, u64, u64);

fn views(
    t0: Instant,
    now: Instant,
    specs: &[PeerSpec],
    unchoked: &BTreeSet<PeerKey>,
) -> Vec<PeerView> {
    specs
        .iter()
        .enumerate()
        .map(|(i, &(interested, snubbed, rate, sent, age))| {
            let key = PeerKey(i as u64);
            let mut p = PeerView::new(key, t0);
            p.connected_at = now.checked_sub(Duration::from_secs(age)).unwrap_or(t0);
            p.interested = interested;
            p.snubbed = snubbed;
            p.download_rate = rate;
            p.sent_since_unchoke = sent;
            p.unchoked_since = unchoked.contains(&key).then_some(t0);
            p
        })
        .collect()
}

fn check(out: &Unchoke, peers: &[PeerView], max: usize) -> Result<(), TestCaseError> {
    prop_assert!(out.len() <= max, "{} unchoked, max {}", out.len(), max);
    let all: BTreeSet<PeerKey> = out.peers().collect();
    prop_assert_eq!(all.len(), out.len(), "a peer named twice");
    for key in all {
        let p = peers.iter().find(|p| p.key == key);
        prop_assert!(
            p.is_some_and(|p| p.interested),
            "{:?} not an interested peer",
            key
        );
    }
    Ok(())
}

fn population() -> impl Strategy<Value = Vec<Vec<PeerSpec>>> {
    let spec = (
        any::<bool>(),
        prop::bool::weighted(0.2),
        0u64..1000,
        0u64..10_000_000,
        0u64..200,
    );
    prop::collection::vec(prop::collection::vec(spec, 0..20), 1..12)
}

proptest! {
    #[test]
    fn tit_for_tat_respects_slots_and_interest(
        rounds in population(), slots in 0usize..6, seed in any::<u64>(), step in 1u64..40,
    ) {
        let config = TitForTatConfig { regular_slots: slots, ..TitForTatConfig::default() };
        let mut c = TitForTat::new(config, StdRng::seed_from_u64(seed));
        let t0 = Instant::now();
        let mut unchoked = BTreeSet::new();
        let mut out = Unchoke::default();
        for (i, specs) in rounds.iter().enumerate() {
            let now = t0 + Duration::from_secs(step * i as u64);
            let peers = views(t0, now, specs, &unchoked);
            c.rechoke(now, &peers, &mut out);
            check(&out, &peers, c.max_unchoked())?;
            prop_assert!(out.regular.len() <= slots);
            if let Some(o) = out.optimistic {
                prop_assert!(!out.regular.contains(&o));
            }
            // Regular slots hold the best non-snubbed rates.
            let worst_in = out.regular.iter()
                .filter_map(|k| peers.iter().find(|p| p.key == *k))
                .map(|p| (!p.snubbed, p.download_rate)).min();
            let best_out = peers.iter()
                .filter(|p| p.interested && !out.regular.contains(&p.key))
                .map(|p| (!p.snubbed, p.download_rate)).max();
            if let (Some(w), Some(b)) = (worst_in, best_out) {
                prop_assert!(w >= b, "regular slot {:?} below a choked peer {:?}", w, b);
            }
            unchoked = out.peers().collect();
        }
    }

    #[test]
    fn round_robin_respects_slots_and_interest(
        rounds in population(), slots in 0usize..6, step in 1u64..40,
    ) {
        let config = RoundRobinConfig { slots, ..RoundRobinConfig::default() };
        let mut c = RoundRobin::new(config);
        let t0 = Instant::now();
        let mut unchoked = BTreeSet::new();
        let mut out = Unchoke::default();
        for (i, specs) in rounds.iter().enumerate() {
            let now = t0 + Duration::from_secs(step * i as u64);
            let peers = views(t0, now, specs, &unchoked);
            c.rechoke(now, &peers, &mut out);
            check(&out, &peers, slots)?;
            prop_assert_eq!(out.optimistic, None);
            // Work-conserving: a slot is left empty only if nobody else wants it.
            let interested = peers.iter().filter(|p| p.interested).count();
            prop_assert_eq!(out.len(), interested.min(slots));
            unchoked = out.peers().collect();
        }
    }
}

/// A peer for the paper's policies: (interested, wants ours, pieces,
/// seed, unchoked, sent since unchoke, upload rate).
type PaperSpec = (bool, bool, u32, bool, bool, u64, u64);

const PIECE: u64 = 1000;
const TOTAL: u32 = 20;

fn paper_views(t0: Instant, specs: &[PaperSpec]) -> Vec<PeerView> {
    specs
        .iter()
        .enumerate()
        .map(
            |(i, &(interested, wants, pieces, seed, unchoked, sent, rate))| {
                let mut p = PeerView::new(PeerKey(i as u64), t0);
                p.interested = interested;
                p.wants_ours = wants;
                p.is_seed = seed;
                p.pieces = if seed { TOTAL } else { pieces % TOTAL };
                p.total_pieces = TOTAL;
                p.unchoked_since = unchoked.then_some(t0);
                p.sent_since_unchoke = if unchoked { sent } else { 0 };
                p.upload_rate = rate;
                p
            },
        )
        .collect()
}

fn paper_population() -> impl Strategy<Value = Vec<PaperSpec>> {
    let spec = (
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.7),
        0u32..TOTAL,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.3),
        // Whole pieces (a turn over, or nothing taken yet) as often as
        // partial ones (mid-piece).
        prop_oneof![(0u64..3).prop_map(|n| n * PIECE), 0u64..3 * PIECE],
        0u64..1000,
    );
    prop::collection::vec(spec, 0..24)
}

fn per_piece(slots: usize) -> PerPieceConfig {
    PerPieceConfig {
        slots,
        piece_bytes: PIECE,
        ..PerPieceConfig::default()
    }
}

/// Peers a per-piece choker keeps for the rest of their piece (at most
/// `slots` of them, in view order), given who may be unchoked at all.
fn held(
    c: &PerPieceConfig,
    now: Instant,
    peers: &[PeerView],
    eligible: impl Fn(&PeerView) -> bool,
) -> Vec<PeerKey> {
    peers
        .iter()
        .filter(|p| eligible(p) && c.mid_turn(p, now, true))
        .take(c.slots)
        .map(|p| p.key)
        .collect()
}

fn useful(p: &PeerView) -> bool {
    p.interested && p.wants_ours
}

proptest! {
    /// Most deprived: every slot not held by a peer mid-piece goes to an
    /// interested non-seed with the fewest pieces among those left, so a
    /// peer with the minimum piece count is always served; never a seed.
    #[test]
    fn most_deprived_serves_a_minimum_piece_peer(
        specs in paper_population(), slots in 1usize..4, seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let now = t0 + Duration::from_millis(10);
        let peers = paper_views(t0, &specs);
        let config = per_piece(slots);
        let mut c = MostDeprived::new(config, StdRng::seed_from_u64(seed));
        let mut out = Unchoke::default();
        c.rechoke(now, &peers, &mut out);
        let candidate = |p: &PeerView| p.interested && !p.is_seed;
        check(&out, &peers, slots)?;
        prop_assert!(c.per_piece());
        let kept = held(&config, now, &peers, candidate);
        for k in &kept {
            prop_assert!(out.regular.contains(k), "{:?} cut off mid-piece", k);
        }
        let rest: Vec<&PeerView> = peers.iter()
            .filter(|p| candidate(p) && !kept.contains(&p.key)).collect();
        let chosen: Vec<&PeerView> = rest.iter().copied()
            .filter(|p| out.contains(p.key)).collect();
        prop_assert_eq!(out.len(), kept.len() + rest.len().min(slots - kept.len()));
        prop_assert!(out.peers().all(|k| peers.iter().any(|p| p.key == k && candidate(p))));
        if let Some(min) = rest.iter().map(|p| p.pieces).min() {
            if kept.len() < slots {
                prop_assert!(chosen.iter().any(|p| p.pieces == min),
                    "no minimum-piece peer ({}) served", min);
            }
        }
        // The chosen are a prefix of the candidates by piece count.
        let worst_in = chosen.iter().map(|p| p.pieces).max();
        let best_out = rest.iter().filter(|p| !out.contains(p.key)).map(|p| p.pieces).min();
        if let (Some(w), Some(b)) = (worst_in, best_out) {
            prop_assert!(w <= b, "served {} pieces over a peer with {}", w, b);
        }
    }

    /// Random useful peer never unchokes a peer that wants nothing, and
    /// fills every slot it can.
    #[test]
    fn random_useful_never_unchokes_a_peer_that_wants_nothing(
        specs in paper_population(), slots in 1usize..4, seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let now = t0 + Duration::from_millis(10);
        let peers = paper_views(t0, &specs);
        let config = per_piece(slots);
        let mut c = RandomPeer::random_useful(config, StdRng::seed_from_u64(seed));
        let mut out = Unchoke::default();
        c.rechoke(now, &peers, &mut out);
        check(&out, &peers, slots)?;
        for k in out.peers() {
            let p = peers.iter().find(|p| p.key == k).unwrap();
            prop_assert!(useful(p), "unchoked {:?}, which wants nothing", k);
        }
        let usable = peers.iter().filter(|p| useful(p)).count();
        prop_assert_eq!(out.len(), usable.min(slots));
        prop_assert!(c.last_draw().iter().all(|k| out.contains(*k)), "a wasted RUP draw");
    }

    /// Random peer draws distinct peers among everyone for the free slots,
    /// unchokes exactly the drawn peers that can use the slot and wastes
    /// the slot of the others.
    #[test]
    fn random_wastes_exactly_the_slots_drawn_for_useless_peers(
        specs in paper_population(), slots in 1usize..4, seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let now = t0 + Duration::from_millis(10);
        let peers = paper_views(t0, &specs);
        let config = per_piece(slots);
        let mut c = RandomPeer::random(config, StdRng::seed_from_u64(seed));
        let mut out = Unchoke::default();
        c.rechoke(now, &peers, &mut out);
        check(&out, &peers, slots)?;
        let kept = held(&config, now, &peers, useful);
        let drawn: BTreeSet<PeerKey> = c.last_draw().iter().copied().collect();
        prop_assert_eq!(drawn.len(), c.last_draw().len(), "a peer drawn twice");
        prop_assert_eq!(drawn.len(), (slots - kept.len()).min(peers.len() - kept.len()));
        for k in &kept {
            prop_assert!(out.contains(*k) && !drawn.contains(k));
        }
        for k in &drawn {
            let p = peers.iter().find(|p| p.key == *k).unwrap();
            prop_assert_eq!(out.contains(*k), useful(p), "draw of {:?} misapplied", k);
        }
        prop_assert_eq!(out.len(), kept.len() + drawn.iter()
            .filter(|k| peers.iter().any(|p| p.key == **k && useful(p))).count());
    }

    /// Fastest upload and anti-leech: the regular slots hold the best
    /// scores among the interested peers; the optimistic one is outside.
    #[test]
    fn ranked_chokers_give_regular_slots_to_the_best_scores(
        rounds in prop::collection::vec(paper_population(), 1..6),
        slots in 0usize..5, anti_leech in any::<bool>(),
    ) {
        let ranking = if anti_leech { Ranking::AntiLeech } else { Ranking::FastestUpload };
        let config = RankedConfig { ranking, slots, piece_bytes: PIECE, ..RankedConfig::default() };
        let mut c = Ranked::new(config);
        let t0 = Instant::now();
        let mut out = Unchoke::default();
        for (i, specs) in rounds.iter().enumerate() {
            let now = t0 + config.rechoke_interval * i as u32;
            let peers = paper_views(t0, specs);
            c.rechoke(now, &peers, &mut out);
            check(&out, &peers, slots + 1)?;
            let interested = peers.iter().filter(|p| p.interested).count();
            prop_assert_eq!(out.regular.len(), interested.min(slots));
            prop_assert_eq!(out.optimistic.is_some(), interested > slots);
            let score = |k: PeerKey| peers.iter().find(|p| p.key == k).map(|p| c.score(p));
            let worst_in = out.regular.iter().filter_map(|k| score(*k)).min();
            let best_out = peers.iter()
                .filter(|p| p.interested && !out.regular.contains(&p.key))
                .map(|p| c.score(p)).max();
            if let (Some(w), Some(b)) = (worst_in, best_out) {
                prop_assert!(w >= b, "regular score {} below a peer outside ({})", w, b);
            }
        }
    }

    /// Every catalog choker, over rounds of arbitrary populations, unchokes
    /// only interested peers, never one twice, never more than its maximum.
    #[test]
    fn every_catalog_choker_respects_slots_and_interest(
        rounds in prop::collection::vec(paper_population(), 1..6),
        slots in 0usize..5, seed in any::<u64>(), kind in any::<prop::sample::Index>(),
    ) {
        let s = ChokerSettings { slots, piece_bytes: PIECE, ..ChokerSettings::default() };
        let mut chokers: Vec<Box<dyn Choker>> = ChokerKind::ALL.iter().map(|k| k.build(&s, seed))
            .chain(SeedChokerKind::ALL.iter().map(|k| k.build(&s, seed)))
            .collect();
        let n = chokers.len();
        let c = &mut chokers[kind.index(n)];
        let t0 = Instant::now();
        let mut out = Unchoke::default();
        for (i, specs) in rounds.iter().enumerate() {
            let now = t0 + Duration::from_secs(3 * i as u64);
            let peers = paper_views(t0, specs);
            c.rechoke(now, &peers, &mut out);
            check(&out, &peers, c.max_unchoked())?;
        }
    }
}
