//! Property tests of the pickers (random sessions run every catalog
//! picker; the rest are rarest-first specific). Every verb also runs the
//! book's and the order's full invariant checks (debug builds).

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_protocol::{Bitfield, BlockRef, PieceIndex, BLOCK_SIZE};

use super::fixture::{self, BLOCKS};
use super::{
    AvailabilityChange, PieceGeometry, PiecePicker, PieceState, RarestFirst, Received, Remote,
};
use crate::catalog::PickerKind;
use crate::peer::PeerKey;

/// One step of a random session.
#[derive(Clone, Debug)]
enum Op {
    Pick {
        peer: usize,
        want: usize,
        snubbed: bool,
    },
    Receive {
        peer: usize,
        nth: usize,
        pass: bool,
    },
    Return {
        peer: usize,
        nth: usize,
    },
    Release {
        peer: usize,
    },
    Have {
        peer: usize,
        piece: u32,
    },
    Reconnect {
        peer: usize,
    },
}

fn op(peers: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..peers, 0usize..12, any::<bool>())
            .prop_map(|(peer, want, snubbed)| Op::Pick { peer, want, snubbed }),
        4 => (0..peers, any::<usize>(), prop::bool::weighted(0.8))
            .prop_map(|(peer, nth, pass)| Op::Receive { peer, nth, pass }),
        1 => (0..peers, any::<usize>()).prop_map(|(peer, nth)| Op::Return { peer, nth }),
        1 => (0..peers).prop_map(|peer| Op::Release { peer }),
        1 => (0..peers, any::<u32>()).prop_map(|(peer, piece)| Op::Have { peer, piece }),
        1 => (0..peers).prop_map(|peer| Op::Reconnect { peer }),
    ]
}

/// A torrent geometry, the peers' bitfields, our resume pattern and a
/// session of operations.
fn session() -> impl Strategy<Value = (PieceGeometry, Vec<Vec<bool>>, Vec<bool>, Vec<Op>, u64)> {
    (1u32..24, 1u32..5, 1u32..=4 * BLOCK_SIZE, 1usize..5).prop_flat_map(
        |(pieces, blocks, last_raw, peers)| {
            let len = blocks * BLOCK_SIZE;
            let last = last_raw.min(len);
            let geometry = PieceGeometry::new(pieces, len, last).unwrap();
            (
                Just(geometry),
                prop::collection::vec(prop::collection::vec(any::<bool>(), pieces as usize), peers),
                prop::collection::vec(prop::bool::weighted(0.2), pieces as usize),
                prop::collection::vec(op(peers), 0..120),
                any::<u64>(),
            )
        },
    )
}

/// Any catalog picker, alone or split with a seed order.
fn picker_kind() -> impl Strategy<Value = (PickerKind, Option<PickerKind>)> {
    let kind = || prop::sample::select(PickerKind::ALL);
    (kind(), prop::option::of(kind()))
}

fn bits(v: &[bool]) -> Bitfield {
    let mut b = Bitfield::new(v.len() as u32);
    for (i, x) in v.iter().enumerate() {
        b.set(PieceIndex::new(i as u32), *x);
    }
    b
}

/// The `nth` (modulo) block outstanding at `peer` in the model.
fn nth_of(
    model: &HashMap<BlockRef, BTreeSet<PeerKey>>,
    peer: PeerKey,
    nth: usize,
) -> Option<BlockRef> {
    let mut mine: Vec<BlockRef> = model
        .iter()
        .filter(|(_, who)| who.contains(&peer))
        .map(|(b, _)| *b)
        .collect();
    mine.sort();
    (!mine.is_empty()).then(|| mine[nth % mine.len()])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random sessions: picked blocks are valid, held by the remote, not
    /// ours; duplicates only in end-game and never to the same peer; the
    /// cancel list names exactly the other requesters.
    #[test]
    fn random_sessions_keep_the_picking_rules(
        (geometry, peer_bits, have, ops, seed) in session(),
        (kind, from_seeds) in picker_kind(),
    ) {
        let mut p = match from_seeds {
            None => kind.build(geometry, seed),
            Some(s) => kind.build_split(s, geometry, seed),
        };
        let mut peers: Vec<Bitfield> = peer_bits.iter().map(|v| bits(v)).collect();
        for b in &peers {
            p.on_availability(AvailabilityChange::Bitfield(b));
        }
        for (i, h) in have.iter().enumerate() {
            if *h {
                p.we_have(PieceIndex::new(i as u32)).unwrap();
            }
        }
        // Model: block -> peers it is requested from.
        let mut model: HashMap<BlockRef, BTreeSet<PeerKey>> = HashMap::new();
        let forget_piece = |model: &mut HashMap<BlockRef, BTreeSet<PeerKey>>, piece: PieceIndex| {
            model.retain(|b, _| b.piece != piece);
        };
        for op in ops {
            match op {
                Op::Pick { peer, want, snubbed } => {
                    let key = PeerKey(peer as u64);
                    let states: Vec<PieceState> =
                        (0..geometry.piece_count()).map(|i| p.book().state(PieceIndex::new(i))).collect();
                    let mut out = Vec::new();
                    let remote = Remote { peer: key, has: &peers[peer], snubbed };
                    let n = p.pick(remote, want, &mut out);
                    prop_assert_eq!(n, out.len());
                    prop_assert!(n <= want);
                    let distinct: BTreeSet<BlockRef> = out.iter().copied().collect();
                    prop_assert_eq!(distinct.len(), out.len(), "a block twice in one pick");
                    for b in &out {
                        prop_assert!(geometry.check(*b).is_ok(), "bad block {:?}", b);
                        prop_assert!(peers[peer].has(b.piece), "remote lacks {:?}", b);
                        prop_assert_ne!(states[b.piece.idx()], PieceState::Have);
                        let who = model.entry(*b).or_default();
                        if !who.is_empty() {
                            prop_assert!(p.is_end_game(), "duplicate outside end-game: {:?}", b);
                        }
                        prop_assert!(who.insert(key), "same block twice to one peer");
                    }
                }
                Op::Receive { peer, nth, pass } => {
                    let key = PeerKey(peer as u64);
                    let Some(b) = nth_of(&model, key, nth) else { continue };
                    let mut cancel = Vec::new();
                    let r = p.block_received(key, b, &mut cancel).unwrap();
                    let mut others = model.remove(&b).unwrap_or_default();
                    others.remove(&key);
                    let cancel: BTreeSet<PeerKey> = cancel.into_iter().collect();
                    prop_assert_eq!(cancel, others);
                    prop_assert_ne!(r, Received::Duplicate);
                    if r == Received::PieceComplete {
                        forget_piece(&mut model, b.piece);
                        if pass {
                            p.piece_passed(b.piece).unwrap();
                            prop_assert_eq!(p.book().state(b.piece), PieceState::Have);
                        } else {
                            p.piece_failed(b.piece).unwrap();
                            prop_assert_eq!(p.book().state(b.piece), PieceState::Open);
                        }
                    }
                }
                Op::Return { peer, nth } => {
                    let key = PeerKey(peer as u64);
                    let Some(b) = nth_of(&model, key, nth) else { continue };
                    prop_assert!(p.request_returned(key, b).unwrap());
                    if let Some(who) = model.get_mut(&b) {
                        who.remove(&key);
                        if who.is_empty() {
                            model.remove(&b);
                        }
                    }
                }
                Op::Release { peer } => {
                    let key = PeerKey(peer as u64);
                    let expected = model.values().filter(|w| w.contains(&key)).count();
                    prop_assert_eq!(p.release_peer(key), expected);
                    model.retain(|_, who| {
                        who.remove(&key);
                        !who.is_empty()
                    });
                }
                Op::Have { peer, piece } => {
                    let piece = PieceIndex::new(piece % geometry.piece_count());
                    if !peers[peer].set(piece, true) {
                        p.on_availability(AvailabilityChange::Have(piece));
                    }
                }
                Op::Reconnect { peer } => {
                    let key = PeerKey(peer as u64);
                    p.peer_left(key, &peers[peer]);
                    model.retain(|_, who| {
                        who.remove(&key);
                        !who.is_empty()
                    });
                    p.on_availability(AvailabilityChange::Bitfield(&peers[peer]));
                }
            }
        }
        // Availability equals the number of peers holding each piece.
        for i in 0..geometry.piece_count() {
            let piece = PieceIndex::new(i);
            let holders = peers.iter().filter(|b| b.has(piece)).count() as u32;
            prop_assert_eq!(p.book().availability(piece), holders);
        }
    }

    /// With no partial piece in the way, every new piece started is one of
    /// minimal availability among the pieces the remote has and we lack.
    #[test]
    fn rarest_first_starts_a_piece_of_minimal_availability(
        avail in prop::collection::vec(0u32..6, 1..48),
        seed in any::<u64>(),
        masks in any::<(u64, u64)>(),
    ) {
        let n = avail.len();
        let availability: String = avail.iter().map(|a| char::from_digit(*a, 10).unwrap()).collect();
        let have: String = (0..n).map(|i| if masks.0 >> i & 1 == 1 && i % 3 == 0 { 'x' } else { '.' }).collect();
        let remote: String = (0..n).map(|i| if masks.1 >> i & 1 == 1 { 'x' } else { '.' }).collect();
        let mut p = fixture::picker(&availability, &have, "", seed);
        let remote_bits = Bitfield::from_pattern(&remote);
        loop {
            let eligible: Vec<u32> = (0..n as u32)
                .map(PieceIndex::new)
                .filter(|&q| remote_bits.has(q) && p.book().state(q) == PieceState::Open)
                .map(|q| p.book().availability(q))
                .collect();
            let got = fixture::pick(&mut p, 1, &remote, BLOCKS as usize);
            let Some(min) = eligible.iter().min() else {
                prop_assert!(got.iter().all(|b| p.book().state(b.piece) != PieceState::Open));
                break;
            };
            prop_assert_eq!(got.len(), BLOCKS as usize);
            let piece = got[0].piece;
            prop_assert!(got.iter().all(|b| b.piece == piece));
            prop_assert_eq!(p.book().availability(piece), *min);
        }
    }

    /// Downloading everything from a seed terminates, and afterwards
    /// nothing is ever picked again.
    #[test]
    fn after_everything_passed_nothing_is_picked(
        pieces in 1u32..30, blocks in 1u32..4, last in 1u32..=3 * BLOCK_SIZE,
        want in 1usize..9, seed in any::<u64>(),
    ) {
        let len = blocks * BLOCK_SIZE;
        let geometry = PieceGeometry::new(pieces, len, last.min(len)).unwrap();
        let mut p = RarestFirst::rarest_first(geometry, StdRng::seed_from_u64(seed));
        let seed_bits = Bitfield::full(pieces);
        p.on_availability(AvailabilityChange::HaveAll);
        let mut received = 0u64;
        let mut out = Vec::new();
        let mut cancel = Vec::new();
        for _ in 0..geometry.total_blocks() + 1 {
            out.clear();
            p.pick(Remote::new(PeerKey(1), &seed_bits), want, &mut out);
            for b in &out {
                received += 1;
                if p.block_received(PeerKey(1), *b, &mut cancel).unwrap() == Received::PieceComplete {
                    p.piece_passed(b.piece).unwrap();
                }
            }
            if p.book().is_finished() {
                break;
            }
        }
        prop_assert!(p.book().is_finished());
        prop_assert_eq!(received, geometry.total_blocks());
        prop_assert!(cancel.is_empty());
        out.clear();
        prop_assert_eq!(p.pick(Remote::new(PeerKey(2), &seed_bits), 100, &mut out), 0);
        prop_assert!(!p.is_end_game());
    }
}
