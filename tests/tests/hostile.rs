//! riffle downloads through hostile peers (issue 3).
//!
//! Each test puts one honest but slow scripted seeder (1.5 MiB/s, so the
//! 45-piece, 11 MiB payload takes about 7 s) beside scripted hostile peers
//! that riffle dials with `--peer`. Every run must end in a byte-identical
//! download, exit 0 and no panic; then, counted at the peers themselves:
//!
//! 1. A liar (advertises every piece, serves as fast as riffle reads,
//!    wrong bytes of the right length) may send at most 16 pieces' worth
//!    of data, and riffle must hang up on it and never come back (no
//!    contact in the last 3 s). Beside it, peers that follow the handshake
//!    with a frame whose length prefix is 2^31 − 1 (then trickle a byte
//!    every 100 ms), with HAVE for the index past the last piece, or with a
//!    BITFIELD whose only set bits are the spare ones, must be hung up on
//!    within 5 s of their hostile frame; riffle's RSS stays small.
//! 2. A peer answering every request with a block nobody asked for (one
//!    byte long, one byte short, wrong offset) gets the same budget.
//! 3. A peer that chokes once asked (dropping the requests) and one that
//!    swallows requests silently must not stall the download, and riffle
//!    must not keep asking the peer that choked it.
//! 4. A turncoat, honest for 8 pieces and then flipping one byte per
//!    piece, may spoil at most 16 pieces before riffle bans it.
//! 5. HAVE_ALL from a peer that never negotiated BEP 6 costs it the
//!    connection; nonsense from one that did (SUGGEST/ALLOWED_FAST out of
//!    range, REJECT of a block never requested) does no harm.
//!
//! The bad peers are fast and the honest one slow, so a riffle that kept
//! using a bad peer would be seen doing so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::scripted::{run_to_end, Behaviour, Content, Ending, Exit, ScriptedPeer, Stats};

/// 256 KiB pieces.
const PIECE: u32 = 256 * 1024;
/// 45 pieces, the last one short, so the bitfield has spare bits.
const PAYLOAD: usize = 44 * PIECE as usize + 100_000;
/// The honest seeder's upload rate.
const HONEST_RATE: u64 = 1536 * 1024;
/// Most bad data (pieces' worth) riffle may take from one peer before it
/// stops asking.
const BAD_BUDGET_PIECES: u64 = 16;
/// After riffle's last contact with a bad peer, at least this long must
/// pass before riffle exits (a re-dial with the contract's 1 s → 30 s
/// backoff, or another request, would fall inside it).
const SILENCE: Duration = Duration::from_secs(3);
/// A hostile frame must cost riffle the connection within this long.
const HANG_UP_WITHIN: Duration = Duration::from_secs(5);

/// What a peer did, for failure messages.
fn describe(name: &str, p: &ScriptedPeer, t0: Instant) -> String {
    let s = p.stats();
    let conns: Vec<String> = s
        .connections()
        .iter()
        .map(|(n, at, closed)| {
            let closed = closed.as_ref().map_or("open".to_owned(), |(c, e)| {
                format!("closed {:.2}s ({e:?})", c.duration_since(t0).as_secs_f64())
            });
            format!(
                "#{n} accepted {:.2}s {closed}",
                at.duration_since(t0).as_secs_f64()
            )
        })
        .collect();
    format!(
        "{name}: {} connections, {} handshakes, {} requests (last at {:?}), {} payload bytes in {} blocks, {} cancels; [{}]",
        Stats::get(&s.connections),
        Stats::get(&s.handshakes),
        Stats::get(&s.requests),
        s.last_request().map(|l| l.duration_since(t0)),
        s.uploaded(),
        Stats::get(&s.blocks),
        Stats::get(&s.cancels),
        conns.join(", ")
    )
}

/// The first connection of `peer` received its hostile frame and riffle
/// hung up within [`HANG_UP_WITHIN`], before it exited.
fn hung_up_on(name: &str, peer: &ScriptedPeer, exit: &Exit, context: &str) {
    let conns = peer.stats().connections();
    let Some((conn, _, closed)) = conns.first() else {
        panic!("riffle never dialled the {name} peer\n{context}");
    };
    let sent = peer
        .stats()
        .hostile_sent(*conn)
        .unwrap_or_else(|| panic!("the {name} peer never sent its hostile frame\n{context}"));
    let Some((at, ending)) = closed else {
        panic!("the {name} connection is still open\n{context}");
    };
    assert_eq!(
        *ending,
        Ending::Remote,
        "riffle did not hang up on the {name} peer\n{context}"
    );
    assert!(
        at.duration_since(sent) <= HANG_UP_WITHIN && *at + Duration::from_millis(200) < exit.at,
        "riffle kept the {name} connection open {:?} after its hostile frame (exited {:?} after)\n{context}",
        at.duration_since(sent),
        exit.at.duration_since(sent),
    );
}

/// One `riffle download` through `peers` (all dialled with `--peer`),
/// checked for what every hostile run must give: no panic, exit 0, a
/// byte-identical download. Returns how riffle ended and a report of
/// every peer and riffle's log for later failure messages.
fn download_through(content: &Content, peers: &[(&str, &ScriptedPeer)]) -> (Exit, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let torrent = content.write_torrent(tmp.path());
    let out = tmp.path().join("out");
    let addrs: Vec<String> = peers.iter().map(|(_, p)| p.addr().to_string()).collect();
    let mut args = vec![
        "download",
        torrent.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ];
    for a in &addrs {
        args.extend(["--peer", a.as_str()]);
    }
    let t0 = Instant::now();
    let (riffle, exit) = run_to_end("download", &args, tmp.path(), Duration::from_secs(120));
    let peer_lines = peers
        .iter()
        .map(|(n, p)| describe(n, p, t0))
        .collect::<Vec<_>>()
        .join("\n");
    // Shown with --nocapture (and by nextest on failure).
    println!(
        "riffle ran {:.2}s, peak RSS {} KiB\n{peer_lines}",
        exit.ran.as_secs_f64(),
        exit.peak_rss_kib,
    );
    let context = format!(
        "riffle exited {:?} after {:.2}s, peak RSS {} KiB\n{peer_lines}\n{}",
        exit.status,
        exit.ran.as_secs_f64(),
        exit.peak_rss_kib,
        riffle.report(120),
    );
    assert!(
        !riffle.stderr().contains("panicked"),
        "riffle panicked\n{context}"
    );
    assert!(exit.status.success(), "riffle failed\n{context}");
    if let Err(e) = content.verify_download(&out) {
        panic!("download is not byte-identical: {e}\n{context}");
    }
    (exit, context)
}

/// riffle asked `peer` for data, took at most [`BAD_BUDGET_PIECES`]
/// pieces' worth of its bad answers, and then stopped asking: no request
/// (and, with `hang_up`, no open connection or re-dial) in the last
/// [`SILENCE`] of the download.
fn stopped_using(name: &str, peer: &ScriptedPeer, exit: &Exit, hang_up: bool, context: &str) {
    let s = peer.stats();
    // The peer was used: otherwise the test proves nothing about it.
    assert!(
        Stats::get(&s.requests) > 0 && s.uploaded() > 0,
        "riffle never asked the {name} for data (a fast peer advertising every piece)\n{context}"
    );
    let budget = BAD_BUDGET_PIECES * u64::from(PIECE);
    assert!(
        s.uploaded() <= budget,
        "the {name} sent riffle {} bytes of bad data, over {budget} ({BAD_BUDGET_PIECES} pieces)\n{context}",
        s.uploaded()
    );
    let last = if hang_up {
        s.last_activity()
    } else {
        s.last_request()
    }
    .expect("the peer saw riffle at least once");
    assert!(
        last + SILENCE <= exit.at,
        "riffle was still {} the {name} {:?} before it exited (wanted at least {SILENCE:?} of silence)\n{context}",
        if hang_up { "in contact with" } else { "asking" },
        exit.at.saturating_duration_since(last)
    );
    if hang_up {
        assert!(
            s.connections()
                .iter()
                .all(|(_, _, c)| matches!(c, Some((_, Ending::Remote)))),
            "every {name} connection ends with riffle hanging up\n{context}"
        );
    }
}

#[test]
fn download_survives_a_liar_a_huge_frame_and_bad_indices() {
    // Build riffle first: a build must not eat into any timing below.
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("hostile.bin", PAYLOAD, PIECE, 7));
    assert_eq!(content.piece_count(), 45);
    let honest = ScriptedPeer::seeder(content.clone(), Some(HONEST_RATE));
    let liar = ScriptedPeer::liar(content.clone());
    let huge = ScriptedPeer::spawn(content.clone(), Behaviour::HugeFrame, None);
    let bad_have = ScriptedPeer::spawn(content.clone(), Behaviour::HaveOutOfRange, None);
    let bad_bits = ScriptedPeer::spawn(content.clone(), Behaviour::SpareBitfieldBits, None);
    let (exit, context) = download_through(
        &content,
        &[
            ("honest", &honest),
            ("liar", &liar),
            ("huge-frame", &huge),
            ("bad-have", &bad_have),
            ("spare-bits", &bad_bits),
        ],
    );

    // The contract: a peer whose data fails the hash check is banned
    // (disconnected, never re-dialled).
    stopped_using("liar", &liar, &exit, true, &context);
    // The honest seeder did the real work.
    assert!(honest.stats().uploaded() >= content.total_length());

    hung_up_on("huge-frame", &huge, &exit, &context);
    hung_up_on("bad-have", &bad_have, &exit, &context);
    hung_up_on("spare-bits", &bad_bits, &exit, &context);
    assert!(
        exit.peak_rss_kib < 256 * 1024,
        "riffle's RSS peaked at {} KiB: did it buffer the 2 GiB frame?\n{context}",
        exit.peak_rss_kib
    );
}

/// A fast peer that answers every request with a block nobody asked for
/// (one byte long, one byte short, or at the wrong offset) must not
/// corrupt the download or crash riffle, and riffle must stop asking it
/// (hang-up not required: the contract bans on hash failures, and none of
/// these blocks reaches a hash check).
#[test]
fn download_survives_mangled_blocks() {
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("mangled.bin", PAYLOAD, PIECE, 8));
    let honest = ScriptedPeer::seeder(content.clone(), Some(HONEST_RATE));
    let mangler = ScriptedPeer::spawn(content.clone(), Behaviour::Mangler, None);
    let (exit, context) = download_through(&content, &[("honest", &honest), ("mangler", &mangler)]);
    stopped_using("mangler", &mangler, &exit, false, &context);
}

/// Peers that take requests and never answer them must not stall the
/// download: one chokes once riffle has asked (plain BEP 3: the requests
/// are dropped) and never unchokes, the other unchokes and stays silent.
/// riffle must fetch those blocks from the honest seeder, and must not
/// keep asking the peer that choked it.
#[test]
fn download_survives_a_choker_and_a_black_hole() {
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("stalled.bin", PAYLOAD, PIECE, 9));
    let honest = ScriptedPeer::seeder(content.clone(), Some(HONEST_RATE));
    let choker = ScriptedPeer::spawn(content.clone(), Behaviour::Choker, None);
    let hole = ScriptedPeer::spawn(content.clone(), Behaviour::BlackHole, None);
    let (_exit, context) = download_through(
        &content,
        &[
            ("honest", &honest),
            ("choker", &choker),
            ("black-hole", &hole),
        ],
    );
    for (name, peer) in [("choker", &choker), ("black-hole", &hole)] {
        assert!(
            Stats::get(&peer.stats().requests) > 0,
            "riffle never asked the {name}: the test proves nothing\n{context}"
        );
    }
    let choked_at = choker
        .stats()
        .connections()
        .iter()
        .find_map(|(conn, _, _)| choker.stats().hostile_sent(*conn))
        .expect("the choker choked");
    let last = choker.stats().last_request().expect("asked once");
    assert!(
        last <= choked_at + Duration::from_secs(1),
        "riffle still sent requests {:?} after the choker choked it\n{context}",
        last.saturating_duration_since(choked_at)
    );
}

/// A fast turncoat: it serves 8 pieces' worth of blocks honestly, so
/// riffle comes to trust it, then flips one byte in the first block of
/// every piece. A piece riffle fetched from it and the honest seeder
/// together fails without saying who lied, so only parole (a failed piece
/// fetched again from one peer alone) exposes it. It may spoil at most 16
/// pieces, and riffle must then ban it like any liar.
#[test]
fn download_survives_a_subtle_liar() {
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("subtle.bin", PAYLOAD, PIECE, 10));
    let honest = ScriptedPeer::seeder(content.clone(), Some(HONEST_RATE));
    let liar = ScriptedPeer::spawn(content.clone(), Behaviour::SubtleLiar, None);
    let (exit, context) =
        download_through(&content, &[("honest", &honest), ("subtle liar", &liar)]);
    let s = liar.stats();
    let corrupted = Stats::get(&s.corrupted_blocks);
    println!("the subtle liar corrupted {corrupted} blocks");
    assert!(
        corrupted > 0,
        "riffle never took a piece's first block from the subtle liar after it turned: the test proves nothing\n{context}"
    );
    assert!(
        corrupted <= BAD_BUDGET_PIECES,
        "the subtle liar spoiled {corrupted} pieces, over {BAD_BUDGET_PIECES}\n{context}"
    );
    let last = s.last_activity().expect("riffle dialled it");
    assert!(
        last + SILENCE <= exit.at,
        "riffle was still in contact with the subtle liar {:?} before it exited (wanted at least {SILENCE:?} of silence)\n{context}",
        exit.at.saturating_duration_since(last)
    );
    assert!(
        s.connections()
            .iter()
            .all(|(_, _, c)| matches!(c, Some((_, Ending::Remote)))),
        "every subtle-liar connection ends with riffle hanging up\n{context}"
    );
}

/// Fast-extension abuse: a peer that never negotiated BEP 6 sends
/// HAVE_ALL (BEP 6: the receiver MUST close the connection), and one that
/// did sends HAVE_NONE, SUGGEST_PIECE(u32::MAX), ALLOWED_FAST past the
/// last piece and REJECT_REQUEST for a block never requested. The download
/// must not notice beyond dropping them.
#[test]
fn download_survives_fast_extension_abuse() {
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("fast.bin", 4 << 20, PIECE, 11));
    let honest = ScriptedPeer::seeder(content.clone(), Some(2 << 20));
    let have_all = ScriptedPeer::spawn(content.clone(), Behaviour::HaveAllUnnegotiated, None);
    let nonsense = ScriptedPeer::spawn(content.clone(), Behaviour::FastNonsense, None);
    let (exit, context) = download_through(
        &content,
        &[
            ("honest", &honest),
            ("have-all", &have_all),
            ("fast-nonsense", &nonsense),
        ],
    );
    hung_up_on("have-all", &have_all, &exit, &context);
    assert!(
        nonsense.stats().hostile_sent(0).is_some(),
        "riffle never completed a handshake with the fast-nonsense peer\n{context}"
    );
}
