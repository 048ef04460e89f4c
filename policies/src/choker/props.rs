//! Property tests shared by the chokers: slot counts, interest, no
//! duplicates, over arbitrary peer populations and time steps.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{Choker, PeerView, RoundRobin, RoundRobinConfig, TitForTat, TitForTatConfig, Unchoke};
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
