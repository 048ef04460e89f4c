use super::*;
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const X: PeerKey = PeerKey(1);
const A: PeerKey = PeerKey(2);
const B: PeerKey = PeerKey(3);
const C: PeerKey = PeerKey(4);
const S: PeerKey = PeerKey(9);

#[test]
fn a_lineage_gathers_the_copies_that_can_descend_from_it() {
    let t = Instant::now();
    let mut e = CpmEstimator::new(ms(1000));
    e.piece_sent(X, 7, t);
    assert!(e.follows(7) && !e.follows(8));
    e.have(X, 7, t + ms(10), &[]); // the recipient itself: counted once
    e.have(A, 7, t + ms(200), &[X]); // only X could have sent it: 1
    e.have(B, 8, t + ms(250), &[X, A]); // another piece
    e.have(B, 7, t + ms(300), &[X, A]); // X or A, both of our lineage: 1
                                        // C got it from one of four holders; the seed S's copy is not ours.
    e.have(C, 7, t + ms(400), &[X, A, B, S]);
    e.have(PeerKey(5), 7, t + ms(1500), &[X]); // after tau
    e.close(t + ms(1001));
    assert_eq!(e.estimate(), Some(1.0 + 1.0 + 1.0 + 0.75));
    assert_eq!(e.hop_time(), Some(ms(200)));
    // Nobody passes the next one on.
    e.piece_sent(X, 9, t + ms(2000));
    e.close(t + ms(3001));
    assert_eq!(e.estimate(), Some((3.75 + 1.0) / 2.0));
    assert_eq!(e.samples(), 2);
}

#[test]
fn copies_from_older_lineages_do_not_count() {
    let t = Instant::now();
    let mut e = CpmEstimator::new(ms(1000));
    // A holds piece 3 from long ago (no followed upload).
    e.piece_sent(X, 3, t);
    for (i, p) in [B, C, PeerKey(5), PeerKey(6)].into_iter().enumerate() {
        // Each newcomer could have it from A (old) or X (ours).
        e.have(p, 3, t + ms(100 + 10 * i as u64), &[A, X]);
    }
    e.close(t + ms(1001));
    // Half of each: 1 + 4 x 0.5 (raw HAVE counting would say 5).
    assert_eq!(e.estimate(), Some(3.0));
}

#[test]
fn a_peer_gone_spreads_no_more() {
    let t = Instant::now();
    let mut e = CpmEstimator::new(ms(1000));
    e.piece_sent(X, 1, t);
    e.peer_gone(X);
    e.have(A, 1, t + ms(100), &[X]);
    e.close(t + ms(2000));
    assert_eq!(e.estimate(), Some(1.0));
}

#[test]
fn auto_tau_follows_the_slowest_swarm_within_bounds() {
    let t = Instant::now();
    let mut fast = CpmEstimator::new(ms(10_000));
    let mut slow = CpmEstimator::new(ms(10_000));
    for i in 0..5u32 {
        let at = t + ms(u64::from(i) * 20_000);
        fast.piece_sent(X, i, at);
        fast.have(A, i, at + ms(100), &[X]);
        slow.piece_sent(X, i, at);
        slow.have(A, i, at + ms(400), &[X]);
    }
    fast.close(t + ms(200_000));
    slow.close(t + ms(200_000));
    let (lo, hi) = (Duration::from_secs(1), Duration::from_secs(60));
    assert_eq!(auto_tau(&[&fast, &slow], lo, hi, hi), ms(3200));
    assert_eq!(
        auto_tau(&[&fast], lo, hi, hi),
        lo,
        "800 ms raised to the floor"
    );
    let empty = CpmEstimator::new(ms(1));
    assert_eq!(auto_tau(&[&empty], lo, hi, ms(5000)), ms(5000));
}

proptest! {
    /// Memory stays bounded, and every sample lies in [1, 1 + the HAVEs
    /// that could count], whatever the event stream.
    #[test]
    fn bounded_and_in_range(
        events in proptest::collection::vec(
            (any::<bool>(), 0u64..40, 0u32..8, 0u64..300, proptest::collection::vec(0u64..40, 0..6)),
            0..2000,
        ),
    ) {
        let mut e = CpmEstimator::new(ms(500));
        let mut t = Instant::now();
        let mut haves = 0usize;
        for (sent, peer, piece, dt, holders) in events {
            t += ms(dt);
            if sent {
                e.piece_sent(PeerKey(peer), piece, t);
            } else {
                let holders: Vec<PeerKey> = holders.into_iter().map(PeerKey).collect();
                e.have(PeerKey(peer), piece, t, &holders);
                haves += 1;
            }
            prop_assert!(e.open.len() <= MAX_OPEN && e.samples.len() <= WINDOW);
            prop_assert!(e.copies.len() <= MAX_COPIES);
            prop_assert!(e.open_to.len() <= e.open.len() && e.open_pieces.len() <= e.open.len());
            let counted: u32 = e.open_pieces.values().sum();
            prop_assert_eq!(counted as usize, e.open.len());
        }
        if let Some(x) = e.estimate() {
            prop_assert!(x >= 1.0 && x <= 1.0 + haves as f64 + 1e-9);
        }
    }
}

#[test]
fn an_allocator_reads_the_recent_samples_and_falls_back_to_the_window() {
    let t = Instant::now();
    let mut e = CpmEstimator::new(ms(1000));
    // An old sample of 2 (one HAVE), a recent one of 1.
    e.piece_sent(X, 1, t);
    e.have(A, 1, t + ms(100), &[X]);
    e.piece_sent(X, 2, t + ms(60_000));
    e.close(t + ms(62_000));
    assert_eq!(e.estimate(), Some(1.5));
    assert_eq!(
        e.fresh_estimate(t + ms(62_000)),
        Some(1.0),
        "10 tau: the recent one"
    );
    assert_eq!(e.estimate_since(t + ms(62_000)), None);
    // Nothing recent at all: the whole window.
    assert_eq!(e.fresh_estimate(t + ms(200_000)), Some(1.5));
}
