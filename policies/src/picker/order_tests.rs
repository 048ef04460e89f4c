//! Tests of the random-useful, sequential and split orders, on the compact
//! string fixtures (four blocks per piece) and with property tests.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_protocol::{Bitfield, PieceIndex};

use super::fixture::{apply, geometry, pick, pieces, BLOCKS};
use super::{
    Picker, PiecePicker, PieceState, RandomUseful, RandomUsefulOrder, RarestOrder, Sequential,
    SequentialOrder, SplitOrder,
};
use crate::uniformity::looks_uniform;

fn random_useful(n: u32, seed: u64) -> RandomUseful {
    Picker::random_useful(geometry(n), StdRng::seed_from_u64(seed))
}

fn sequential(n: u32, seed: u64) -> Sequential {
    Picker::sequential(geometry(n), StdRng::seed_from_u64(seed))
}

/// `x`/`.` pattern from bits.
fn pattern(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { 'x' } else { '.' }).collect()
}

/// Pieces the remote has and we lack (not yet started), in index order.
fn useful(p: &impl PiecePicker, remote: &str) -> Vec<u32> {
    let bits = Bitfield::from_pattern(remote);
    (0..p.book().geometry().piece_count())
        .filter(|&i| {
            let q = PieceIndex::new(i);
            bits.has(q) && p.book().state(q) == PieceState::Open
        })
        .collect()
}

#[test]
fn random_useful_picks_whole_useful_pieces() {
    let mut p = random_useful(6, 1);
    apply(&mut p, "111111", "x.....", "");
    let got = pick(&mut p, 1, "xx.x.x", 100);
    let mut ps = pieces(&got);
    ps.sort();
    assert_eq!(ps, vec![1, 3, 5]);
    assert_eq!(got.len(), 3 * BLOCKS as usize);
    assert!(pick(&mut p, 2, "xx.x.x", 100).is_empty());
}

#[test]
fn random_useful_ignores_rarity() {
    // Piece 0 is far rarer, but every useful piece is equally likely.
    let mut counts = [0u64; 4];
    for seed in 0..4000 {
        let mut p = random_useful(4, seed);
        apply(&mut p, "1999", "....", "");
        counts[pieces(&pick(&mut p, 1, "xxxx", 1))[0] as usize] += 1;
    }
    looks_uniform(&counts).unwrap();
}

#[test]
fn random_useful_draw_is_uniform_among_useful_pieces() {
    // 16 pieces; we hold 0..4, the remote holds the even ones: the useful
    // pieces are 4, 6, ..., 14. One picker, many picks, each piece returned
    // to the pool after it is counted (piece_failed), so every draw is over
    // the same set.
    let n = 16;
    let remote: String = (0..n).map(|i| if i % 2 == 0 { 'x' } else { '.' }).collect();
    let mut p = random_useful(n, 99);
    apply(&mut p, &"1".repeat(n as usize), "xxxx............", "");
    let expected = useful(&p, &remote);
    assert_eq!(expected, vec![4, 6, 8, 10, 12, 14]);
    let mut counts = vec![0u64; expected.len()];
    for _ in 0..6000 {
        let got = pick(&mut p, 1, &remote, BLOCKS as usize);
        let ps = pieces(&got);
        assert_eq!(ps.len(), 1);
        let k = expected.iter().position(|&e| e == ps[0]).expect("useful");
        counts[k] += 1;
        p.release_peer(crate::PeerKey(1));
        p.piece_failed(PieceIndex::new(ps[0])).unwrap();
    }
    looks_uniform(&counts).unwrap();
    // The same check rejects a draw biased towards the first useful piece.
    let mut biased = counts.clone();
    biased[0] += counts[0] / 3;
    assert!(looks_uniform(&biased).is_err(), "{biased:?}");
}

#[test]
fn sequential_goes_in_index_order() {
    let mut p = sequential(6, 1);
    apply(&mut p, "919191", "..x...", "");
    let got = pick(&mut p, 1, "xxxxxx", 2 * BLOCKS as usize);
    assert_eq!(pieces(&got), vec![0, 1]);
    let got = pick(&mut p, 1, ".xxxxx", 100);
    assert_eq!(pieces(&got), vec![3, 4, 5]);
}

#[test]
fn sequential_gives_a_snubbed_peer_the_last_pieces() {
    let mut p = sequential(6, 1);
    apply(&mut p, "111111", "......", "");
    let bits = Bitfield::from_pattern("xxxxx.");
    let mut out = Vec::new();
    let remote = super::Remote {
        peer: crate::PeerKey(1),
        has: &bits,
        snubbed: true,
    };
    p.pick(remote, BLOCKS as usize, &mut out);
    assert_eq!(pieces(&out), vec![4]);
}

#[test]
fn sequential_takes_back_a_failed_piece_first() {
    let mut p = sequential(4, 1);
    let got = pick(&mut p, 1, "xxxx", 2 * BLOCKS as usize);
    assert_eq!(pieces(&got), vec![0, 1]);
    p.release_peer(crate::PeerKey(1));
    p.piece_failed(PieceIndex::new(0)).unwrap();
    p.piece_failed(PieceIndex::new(1)).unwrap();
    assert_eq!(pieces(&pick(&mut p, 1, "xxxx", 1)), vec![0]);
}

#[test]
fn split_uses_the_seed_order_for_seeds_only() {
    // Non-seeds: sequential; seeds: rarest first. Piece 3 is the rarest.
    let order = SplitOrder::new(SequentialOrder::new(5), RarestOrder::new(5));
    let mut p = Picker::new(geometry(5), order, StdRng::seed_from_u64(3));
    apply(&mut p, "55515", ".....", "");
    assert_eq!(
        pieces(&pick(&mut p, 1, "xxxxx", BLOCKS as usize)),
        vec![3],
        "seed"
    );
    assert_eq!(
        pieces(&pick(&mut p, 2, "xxxx.", BLOCKS as usize)),
        vec![0],
        "non-seed"
    );
    // The seed order was told that 0 started: the next seed pick is among
    // the rest, rarest (availability 5, ties) but never 0 or 3.
    let next = pieces(&pick(&mut p, 1, "xxxxx", BLOCKS as usize))[0];
    assert!(next != 0 && next != 3, "{next}");
}

proptest! {
    /// Random useful: every piece started is one the remote has and we
    /// lack, and picking until nothing is left starts each such piece once.
    #[test]
    fn random_useful_only_starts_useful_pieces(
        remote in prop::collection::vec(any::<bool>(), 1..40),
        have_mask in any::<u64>(),
        seed in any::<u64>(),
        want in 1usize..9,
    ) {
        let n = remote.len() as u32;
        let have: String = (0..n).map(|i| if have_mask >> i & 1 == 1 { 'x' } else { '.' }).collect();
        let remote = pattern(&remote);
        let mut p = random_useful(n, seed);
        apply(&mut p, &"2".repeat(n as usize), &have, "");
        let expected = useful(&p, &remote);
        let mut started = Vec::new();
        loop {
            let before = useful(&p, &remote);
            let got = pick(&mut p, 1, &remote, want);
            if got.is_empty() {
                break;
            }
            for piece in pieces(&got) {
                prop_assert!(before.contains(&piece) || started.contains(&piece),
                    "{} is not useful", piece);
                if !started.contains(&piece) {
                    started.push(piece);
                }
            }
        }
        started.sort();
        prop_assert_eq!(started, expected);
    }

    /// Sequential: new pieces start in increasing index order, exactly the
    /// useful ones.
    #[test]
    fn sequential_starts_the_lowest_useful_piece(
        remote in prop::collection::vec(any::<bool>(), 1..40),
        have_mask in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let n = remote.len() as u32;
        let have: String = (0..n).map(|i| if have_mask >> i & 1 == 1 { 'x' } else { '.' }).collect();
        let remote = pattern(&remote);
        let mut p = sequential(n, seed);
        apply(&mut p, &"3".repeat(n as usize), &have, "");
        let expected = useful(&p, &remote);
        let mut order = Vec::new();
        loop {
            let lowest = useful(&p, &remote).first().copied();
            let got = pick(&mut p, 1, &remote, BLOCKS as usize);
            let ps = pieces(&got);
            prop_assert_eq!(ps.first().copied(), lowest);
            if ps.is_empty() {
                break;
            }
            prop_assert_eq!(ps.len(), 1);
            order.extend(ps);
        }
        prop_assert_eq!(order, expected);
    }

    /// Split: a seed gets a piece of minimal availability (rarest-first
    /// seed order), a non-seed gets the lowest useful piece (sequential).
    #[test]
    fn split_picker_uses_the_seed_order_for_seeds(
        avail in prop::collection::vec(1u32..9, 2..30),
        missing in any::<prop::sample::Index>(),
        seed in any::<u64>(),
        rounds in 1usize..6,
    ) {
        let n = avail.len();
        let availability: String = avail.iter().map(|a| char::from_digit(*a, 10).unwrap()).collect();
        let order = SplitOrder::new(SequentialOrder::new(n as u32), RarestOrder::new(n as u32));
        let mut p = Picker::new(geometry(n as u32), order, StdRng::seed_from_u64(seed));
        apply(&mut p, &availability, "", "");
        let full = "x".repeat(n);
        let hole = missing.index(n);
        let partial: String = (0..n).map(|i| if i == hole { '.' } else { 'x' }).collect();
        for _ in 0..rounds {
            let open = useful(&p, &full);
            if open.is_empty() {
                break;
            }
            let min = open.iter().map(|&i| p.book().availability(PieceIndex::new(i))).min();
            let got = pieces(&pick(&mut p, 1, &full, BLOCKS as usize));
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(Some(p.book().availability(PieceIndex::new(got[0]))), min);
            // (With nothing left to start, the non-seed gets end-game
            // duplicates instead; not a question of order.)
            if let Some(lowest) = useful(&p, &partial).first().copied() {
                let got = pieces(&pick(&mut p, 2, &partial, BLOCKS as usize));
                prop_assert_eq!(got.first().copied(), Some(lowest));
            }
        }
    }

    /// The random-useful order stays consistent with the book through
    /// arbitrary insert/remove sequences (the engine's debug checks run the
    /// order's invariants after every verb), and `collect` never returns a
    /// piece twice or one the remote lacks.
    #[test]
    fn random_useful_order_collects_distinct_held_pieces(
        ops in prop::collection::vec((any::<bool>(), 0u32..32), 0..80),
        remote in prop::collection::vec(any::<bool>(), 32),
        max in 0usize..40,
        seed in any::<u64>(),
    ) {
        use super::{NewPieceQuery, PieceOrder};
        let mut order = RandomUsefulOrder::new(32);
        let mut open = [false; 32];
        for (insert, i) in ops {
            if insert {
                order.insert(PieceIndex::new(i), 0);
            } else {
                order.remove(PieceIndex::new(i), 0);
            }
            open[i as usize] = insert;
            prop_assert_eq!(order.len(), open.iter().filter(|&&o| o).count());
        }
        let bits = Bitfield::from_pattern(&pattern(&remote));
        let mut out = Vec::new();
        let mut rng = StdRng::seed_from_u64(seed);
        order.collect(NewPieceQuery { remote: &bits, max, reverse: false }, &mut rng, &mut out);
        let eligible = (0..32).filter(|&i| open[i] && remote[i]).count();
        prop_assert_eq!(out.len(), eligible.min(max));
        let mut seen = std::collections::BTreeSet::new();
        for piece in &out {
            prop_assert!(open[piece.idx()] && remote[piece.idx()]);
            prop_assert!(seen.insert(*piece));
        }
    }
}
