//! Unit tests of the rarest-first picker, on compact string fixtures.

use riffle_protocol::{Bitfield, BlockRef, PieceIndex, BLOCK_SIZE};

use super::fixture::{self, pick, picker, pieces, BLOCKS, GHOST};
use super::{
    AvailabilityChange, PieceGeometry, PieceOrder, PiecePicker, PieceState, RarestFirst, Received,
};
use crate::peer::PeerKey;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn block(piece: u32, index: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex::new(piece),
        offset: index * BLOCK_SIZE,
        length: BLOCK_SIZE,
    }
}

#[test]
fn picks_the_rarest_piece_whole() {
    let mut p = picker("3213", "....", "....", 1);
    let got = pick(&mut p, 1, "xxxx", BLOCKS as usize);
    assert_eq!(pieces(&got), vec![2]);
    let offsets: Vec<u32> = got.iter().map(|b| b.offset).collect();
    assert_eq!(offsets, vec![0, BLOCK_SIZE, 2 * BLOCK_SIZE, 3 * BLOCK_SIZE]);
}

#[test]
fn never_picks_what_the_remote_lacks_or_we_have() {
    let mut p = picker("1222", "..x.", "....", 7);
    let got = pick(&mut p, 1, ".xxx", 100);
    let mut ps = pieces(&got);
    ps.sort();
    assert_eq!(ps, vec![1, 3]);
    assert_eq!(got.len(), 2 * BLOCKS as usize);
    // Nothing left for this remote, and not end-game (piece 0 is unrequested).
    assert!(pick(&mut p, 2, ".xxx", 100).is_empty());
    assert!(!p.is_end_game());
}

#[test]
fn busy_blocks_go_to_a_peer_with_nothing_free_never_twice() {
    let mut p = picker("1222", "..x.", "....", 7);
    // Peer 1 takes everything pieces 1 and 3 hold; not end-game (piece 0
    // is unrequested), so plain picking gives peer 2 nothing.
    let first = pick(&mut p, 1, ".xxx", 100);
    assert!(pick(&mut p, 2, ".xxx", 100).is_empty());
    assert!(!p.is_end_game());
    let bits = Bitfield::from_pattern(".xxx");
    let mut out = Vec::new();
    let n = p.pick_busy(super::Remote::new(PeerKey(2), &bits), 1, &mut out);
    assert_eq!(n, 1);
    assert!(
        first.contains(&out[0]),
        "{out:?} is not one of peer 1's blocks"
    );
    // Peer 1 already has every busy block requested: none for it.
    let mut again = Vec::new();
    assert_eq!(
        p.pick_busy(super::Remote::new(PeerKey(1), &bits), 5, &mut again),
        0
    );
    // Peer 2 never gets the same block twice.
    let mut more = Vec::new();
    p.pick_busy(super::Remote::new(PeerKey(2), &bits), 100, &mut more);
    assert!(!more.contains(&out[0]));
}

#[test]
fn a_suggested_piece_is_requested_first_even_when_busy() {
    let mut p = picker("1222", "....", "....", 7);
    let bits = Bitfield::from_pattern("xxxx");
    let mut out = Vec::new();
    // Piece 3 is not the rarest, but it is the one suggested.
    let n = p.pick_piece(
        super::Remote::new(PeerKey(1), &bits),
        PieceIndex::new(3),
        100,
        &mut out,
    );
    assert_eq!(n, BLOCKS as usize);
    assert_eq!(pieces(&out), vec![3]);
    // Another peer suggested the same piece gets busy copies, once each.
    let mut dup = Vec::new();
    let n = p.pick_piece(
        super::Remote::new(PeerKey(2), &bits),
        PieceIndex::new(3),
        100,
        &mut dup,
    );
    assert_eq!(n, BLOCKS as usize);
    assert_eq!(pieces(&dup), vec![3]);
    let mut none = Vec::new();
    assert_eq!(
        p.pick_piece(
            super::Remote::new(PeerKey(2), &bits),
            PieceIndex::new(3),
            100,
            &mut none
        ),
        0
    );
    // A piece the remote lacks is never picked.
    let lacks = Bitfield::from_pattern("xxx.");
    assert_eq!(
        p.pick_piece(
            super::Remote::new(PeerKey(3), &lacks),
            PieceIndex::new(3),
            1,
            &mut none
        ),
        0
    );
}

#[test]
fn ties_are_broken_at_random() {
    let mut seen = [0u32; 4];
    for seed in 0..200 {
        let mut p = picker("2222", "....", "....", seed);
        let got = pick(&mut p, 1, "xxxx", 1);
        seen[got[0].piece.idx()] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 10),
        "tie-breaking is skewed: {seen:?}"
    );
}

#[test]
fn partial_pieces_are_finished_first() {
    // Piece 3 is common but started; piece 0 is rare but new.
    let mut p = picker("1339", "....", "...2", 3);
    let got = pick(&mut p, 1, "xxxx", 2);
    assert_eq!(got, vec![block(3, 2), block(3, 3)]);
    // Then the rarest new piece.
    let got = pick(&mut p, 1, "xxxx", 1);
    assert_eq!(got, vec![block(0, 0)]);
}

#[test]
fn rarest_partial_piece_first() {
    let mut p = picker("5252", "....", "1..1", 3);
    let got = pick(&mut p, 1, "xxxx", 1);
    assert_eq!(got, vec![block(3, 1)]);
}

#[test]
fn snubbed_peers_get_common_pieces() {
    let mut p = picker("1232", "....", "....", 3);
    let bits = Bitfield::from_pattern("xxxx");
    let mut out = Vec::new();
    let remote = super::Remote {
        peer: PeerKey(1),
        has: &bits,
        snubbed: true,
    };
    p.pick(remote, 1, &mut out);
    assert_eq!(pieces(&out), vec![2]);
}

#[test]
fn want_spans_several_pieces_in_rarity_order() {
    let mut p = picker("4123", "....", "....", 5);
    let got = pick(&mut p, 1, "xxxx", 10);
    assert_eq!(got.len(), 10);
    assert_eq!(pieces(&got), vec![1, 2, 3]);
}

#[test]
fn availability_follows_bitfields_haves_and_departures() {
    let mut p = picker("0000", "....", "....", 1);
    let a = Bitfield::from_pattern("xx..");
    p.on_availability(AvailabilityChange::Bitfield(&a));
    p.on_availability(AvailabilityChange::HaveAll);
    p.on_availability(AvailabilityChange::HaveNone);
    p.on_availability(AvailabilityChange::Have(PieceIndex::new(3)));
    let avail: Vec<u32> = (0..4)
        .map(|i| p.book().availability(PieceIndex::new(i)))
        .collect();
    assert_eq!(avail, vec![2, 2, 1, 2]);
    p.peer_left(PeerKey(5), &a);
    let avail: Vec<u32> = (0..4)
        .map(|i| p.book().availability(PieceIndex::new(i)))
        .collect();
    assert_eq!(avail, vec![1, 1, 1, 2]);
    // Out-of-range HAVE is ignored, not a panic.
    p.on_availability(AvailabilityChange::Have(PieceIndex::new(40)));
    // Now the rarest are 0, 1, 2 (ties); 3 is never first.
    let got = pick(&mut p, 1, "xxxx", 1);
    assert_ne!(got[0].piece.get(), 3);
}

#[test]
fn end_game_hands_out_duplicates_and_reports_losers() {
    let mut p = picker("2", ".", ".", 1);
    let a = pick(&mut p, 1, "x", 10);
    assert_eq!(a.len(), BLOCKS as usize);
    assert!(p.is_end_game());
    // The same peer gets nothing more; another peer gets duplicates.
    assert!(pick(&mut p, 1, "x", 10).is_empty());
    let b = pick(&mut p, 2, "x", 10);
    assert_eq!(b, a);
    assert!(pick(&mut p, 2, "x", 10).is_empty());
    // Peer 2 wins block 0: peer 1 must be cancelled.
    let mut cancel = Vec::new();
    let r = p.block_received(PeerKey(2), a[0], &mut cancel).unwrap();
    assert_eq!(r, Received::Accepted);
    assert_eq!(cancel, vec![PeerKey(1)]);
    // Peer 1's copy arrives late anyway.
    cancel.clear();
    let r = p.block_received(PeerKey(1), a[0], &mut cancel).unwrap();
    assert_eq!(r, Received::Duplicate);
    assert!(cancel.is_empty());
    // A third peer only gets the blocks still outstanding.
    let c = pick(&mut p, 3, "x", 10);
    assert_eq!(c, a[1..].to_vec());
    for blk in &a[1..] {
        cancel.clear();
        p.block_received(PeerKey(3), *blk, &mut cancel).unwrap();
        cancel.sort();
        assert_eq!(cancel, vec![PeerKey(1), PeerKey(2)]);
    }
    assert_eq!(p.book().state(PieceIndex::new(0)), PieceState::Downloading);
    p.piece_passed(PieceIndex::new(0)).unwrap();
    assert!(p.book().is_finished());
    assert!(!p.is_end_game());
    assert!(pick(&mut p, 4, "x", 10).is_empty());
}

#[test]
fn returned_and_released_requests_go_back_to_the_pool() {
    let mut p = picker("11", "..", "..", 1);
    let a = pick(&mut p, 1, "xx", 8);
    assert_eq!(a.len(), 8);
    assert!(p.is_end_game());
    assert!(p.request_returned(PeerKey(1), a[2]).unwrap());
    assert!(!p.request_returned(PeerKey(1), a[2]).unwrap());
    assert!(!p.is_end_game());
    assert_eq!(pick(&mut p, 2, "xx", 1), vec![a[2]]);
    // Peer 1 chokes us: all its requests return.
    assert_eq!(p.release_peer(PeerKey(1)), 7);
    assert_eq!(p.book().open_blocks(), 7);
    let b = pick(&mut p, 2, "xx", 8);
    assert_eq!(b.len(), 7);
    assert!(!b.contains(&a[2]));
}

#[test]
fn failed_piece_returns_all_its_blocks() {
    let mut p = picker("11", "..", "..", 1);
    let a = pick(&mut p, 1, "x.", 4);
    let mut cancel = Vec::new();
    let mut last = Received::Accepted;
    for b in &a {
        last = p.block_received(PeerKey(1), *b, &mut cancel).unwrap();
    }
    assert_eq!(last, Received::PieceComplete);
    p.piece_failed(PieceIndex::new(0)).unwrap();
    assert_eq!(p.book().state(PieceIndex::new(0)), PieceState::Open);
    assert_eq!(pick(&mut p, 2, "x.", 4), a);
    assert!(p.piece_failed(PieceIndex::new(2)).is_err());
}

#[test]
fn last_block_of_last_piece_is_short() {
    let g = PieceGeometry::from_total(2 * 2 * u64::from(BLOCK_SIZE) + 100, 2 * BLOCK_SIZE).unwrap();
    let mut p = RarestFirst::rarest_first(g, StdRng::seed_from_u64(1));
    let got = pick(&mut p, 1, "..x", 10);
    assert_eq!(
        got,
        vec![BlockRef {
            piece: PieceIndex::new(2),
            offset: 0,
            length: 100
        }]
    );
}

#[test]
fn bad_blocks_from_peers_are_errors() {
    let mut p = picker("1", ".", ".", 1);
    let mut cancel = Vec::new();
    let mut b = block(0, 0);
    b.offset = 3;
    assert!(p.block_received(PeerKey(1), b, &mut cancel).is_err());
    assert!(p.request_returned(PeerKey(1), block(0, 4)).is_err());
    assert!(p.mark_requested(PeerKey(1), block(1, 0)).is_err());
    assert!(p.we_have(PieceIndex::new(1)).is_err());
}

#[test]
fn unsolicited_block_of_an_open_piece_is_kept() {
    let mut p = picker("1", ".", ".", 1);
    let mut cancel = Vec::new();
    let r = p
        .block_received(PeerKey(1), block(0, 1), &mut cancel)
        .unwrap();
    assert_eq!(r, Received::Accepted);
    let got = pick(&mut p, 1, "x", 10);
    assert_eq!(got, vec![block(0, 0), block(0, 2), block(0, 3)]);
}

#[test]
fn resume_marks_pieces_we_have() {
    let mut p = picker("111", "x.x", "...", 1);
    assert_eq!(p.book().have_count(), 2);
    assert_eq!(pieces(&pick(&mut p, 1, "xxx", 10)), vec![1]);
    let _ = fixture::GHOST;
    assert_eq!(GHOST, PeerKey(999));
}

#[test]
fn pickers_and_chokers_are_object_safe() {
    let p: Box<dyn PiecePicker> = Box::new(picker("1", ".", ".", 1));
    let c: Box<dyn crate::choker::Choker> = Box::new(crate::choker::RoundRobin::new(
        crate::choker::RoundRobinConfig::default(),
    ));
    assert_eq!(p.book().geometry().piece_count(), 1);
    assert_eq!(c.max_unchoked(), 4);
}

/// A torrent too large for the per-verb invariant checks: download it all
/// from three peers with different holdings; every pick stays valid and the
/// download completes with each block received exactly once.
#[test]
fn large_torrent_downloads_completely() {
    let n = 20_000u32;
    let g = PieceGeometry::new(n, 2 * BLOCK_SIZE, BLOCK_SIZE + 7).unwrap();
    let mut p = RarestFirst::rarest_first(g, StdRng::seed_from_u64(9));
    let mut peers = vec![Bitfield::new(n), Bitfield::new(n), Bitfield::new(n)];
    for i in 0..n {
        peers[(i % 3) as usize].set(PieceIndex::new(i), true);
        peers[((i / 3) % 3) as usize].set(PieceIndex::new(i), true);
    }
    for b in &peers {
        p.on_availability(AvailabilityChange::Bitfield(b));
    }
    let mut out = Vec::new();
    let mut cancel = Vec::new();
    let mut received = 0u64;
    while !p.book().is_finished() {
        let mut progressed = false;
        for (k, bits) in peers.iter().enumerate() {
            out.clear();
            p.pick(super::Remote::new(PeerKey(k as u64), bits), 16, &mut out);
            for b in &out {
                assert!(bits.has(b.piece));
                progressed = true;
                match p
                    .block_received(PeerKey(k as u64), *b, &mut cancel)
                    .unwrap()
                {
                    Received::PieceComplete => {
                        received += 1;
                        p.piece_passed(b.piece).unwrap();
                    }
                    Received::Accepted => received += 1,
                    Received::Duplicate => panic!("duplicate outside end-game"),
                }
            }
        }
        assert!(progressed, "stalled before the end");
    }
    assert_eq!(received, g.total_blocks());
    p.book().check_invariants();
    p.order().check_invariants(p.book());
}

#[test]
fn pad_blocks_are_never_picked_and_count_as_received() {
    use riffle_protocol::pad::VirtualBlocks;
    // Two pieces of 4 blocks; a file ends 1.5 blocks into piece 0 and a
    // pad file fills the rest of it (blocks 2 and 3).
    let g = fixture::geometry(2);
    let piece = u64::from(BLOCKS * BLOCK_SIZE);
    let first = u64::from(BLOCK_SIZE) * 3 / 2;
    let pad =
        VirtualBlocks::from_files(&g, &[(first, false), (piece - first, true), (piece, false)]);
    assert_eq!(pad.of(PieceIndex::new(0)), &[2, 3]);
    let mut p = RarestFirst::rarest_first(g, StdRng::seed_from_u64(3));
    p.set_pad_blocks(std::sync::Arc::new(pad));
    p.on_availability(AvailabilityChange::HaveAll);
    assert_eq!(p.book().open_blocks(), u64::from(2 * BLOCKS - 2));
    let got = pick(&mut p, 1, "xx", 100);
    assert_eq!(
        got.len(),
        2 * BLOCKS as usize - 2,
        "pad blocks are not asked for"
    );
    assert!(!got.contains(&block(0, 2)) && !got.contains(&block(0, 3)));
    let mut cancel = Vec::new();
    assert_eq!(
        p.block_received(PeerKey(1), block(0, 0), &mut cancel)
            .unwrap(),
        Received::Accepted
    );
    assert_eq!(
        p.block_received(PeerKey(1), block(0, 1), &mut cancel)
            .unwrap(),
        Received::PieceComplete,
        "the two real blocks complete the piece"
    );
    // A failed piece comes back without its padding.
    p.piece_failed(PieceIndex::new(0)).unwrap();
    let again = pick(&mut p, 2, "x.", 100);
    assert_eq!(again, vec![block(0, 0), block(0, 1)]);
}
