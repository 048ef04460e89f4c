//! riffle downloads through hostile peers (issue 3).
//!
//! Beside one honest but slow seeder (1.5 MiB/s), riffle is given four
//! scripted hostile peers with `--peer`:
//!
//! - a liar that advertises every piece, serves as fast as riffle reads,
//!   and answers every request with wrong bytes of the right length;
//! - one that follows the handshake with a frame whose length prefix is
//!   2^31 − 1, then trickles a byte every 100 ms;
//! - one that announces HAVE for the index just past the last piece (and
//!   HAVE(u32::MAX));
//! - one whose BITFIELD has only its spare bits set.
//!
//! riffle must finish a byte-identical download, exit 0, never panic, and
//! stop using the liar after at most 16 pieces of its data, counted at the
//! liar. The liar is fast and the honest peer slow, so a riffle that did
//! not ban the liar would keep asking it; the payload (45 pieces of 256
//! KiB) is large enough that 16 pieces is a real bound, and slow enough to
//! fetch honestly (about 7 s) that a re-dial of the liar would be seen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::scripted::{run_to_end, Behaviour, Content, Ending, Exit, ScriptedPeer, Stats};

/// 256 KiB pieces.
const PIECE: u32 = 256 * 1024;
/// 45 pieces, the last one short, so the bitfield has spare bits.
const PAYLOAD: usize = 44 * PIECE as usize + 100_000;
/// The honest seeder's upload rate.
const HONEST_RATE: u64 = 1536 * 1024;
/// Most liar data riffle may accept before it stops asking.
const LIAR_BUDGET_PIECES: u64 = 16;
/// After riffle's last contact with the liar, at least this long must pass
/// before riffle exits (a re-dial with the contract's 1 s → 30 s backoff,
/// or another request, would fall inside it).
const LIAR_SILENCE: Duration = Duration::from_secs(3);
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

#[test]
fn download_survives_a_liar_a_huge_frame_and_bad_indices() {
    // Build riffle first: a build must not eat into any timing below.
    riffle_tests::riffle_bin();
    let content = Arc::new(Content::single_file("hostile.bin", PAYLOAD, PIECE, 7));
    assert_eq!(content.piece_count(), 45);
    let tmp = tempfile::tempdir().expect("temp dir");
    let torrent = content.write_torrent(tmp.path());
    let out = tmp.path().join("out");

    let honest = ScriptedPeer::seeder(content.clone(), Some(HONEST_RATE));
    let liar = ScriptedPeer::liar(content.clone());
    let huge = ScriptedPeer::spawn(content.clone(), Behaviour::HugeFrame, None);
    let bad_have = ScriptedPeer::spawn(content.clone(), Behaviour::HaveOutOfRange, None);
    let bad_bits = ScriptedPeer::spawn(content.clone(), Behaviour::SpareBitfieldBits, None);

    let addrs: Vec<String> = [&honest, &liar, &huge, &bad_have, &bad_bits]
        .iter()
        .map(|p| p.addr().to_string())
        .collect();
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
    let peers = [
        ("honest", &honest),
        ("liar", &liar),
        ("huge-frame", &huge),
        ("bad-have", &bad_have),
        ("spare-bits", &bad_bits),
    ];
    let context = format!(
        "riffle exited {:?} after {:.2}s, peak RSS {} KiB\n{}\n{}",
        exit.status,
        exit.ran.as_secs_f64(),
        exit.peak_rss_kib,
        peers
            .iter()
            .map(|(n, p)| describe(n, p, t0))
            .collect::<Vec<_>>()
            .join("\n"),
        riffle.report(120),
    );

    // Shown with --nocapture (and by nextest on failure).
    println!(
        "riffle ran {:.2}s, peak RSS {} KiB\n{}",
        exit.ran.as_secs_f64(),
        exit.peak_rss_kib,
        peers
            .iter()
            .map(|(n, p)| describe(n, p, t0))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let stderr = riffle.stderr();
    assert!(!stderr.contains("panicked"), "riffle panicked\n{context}");
    assert!(exit.status.success(), "riffle failed\n{context}");
    if let Err(e) = content.verify_download(&out) {
        panic!("download is not byte-identical: {e}\n{context}");
    }

    // The liar was used: otherwise this test proves nothing about it.
    let liar_stats = liar.stats();
    assert!(
        Stats::get(&liar_stats.requests) > 0 && liar_stats.uploaded() > 0,
        "riffle never took data from the liar (a fast peer advertising every piece)\n{context}"
    );
    let budget = LIAR_BUDGET_PIECES * u64::from(PIECE);
    assert!(
        liar_stats.uploaded() <= budget,
        "riffle took {} bytes of bad data from the liar, over {budget} ({LIAR_BUDGET_PIECES} pieces)\n{context}",
        liar_stats.uploaded()
    );
    // riffle stopped using it: hung up, no request, no re-dial for the
    // last LIAR_SILENCE of the download.
    let last = liar_stats
        .last_activity()
        .expect("the liar saw riffle at least once");
    assert!(
        last + LIAR_SILENCE <= exit.at,
        "riffle was still in contact with the liar {:?} before it exited (wanted at least {LIAR_SILENCE:?} of silence)\n{context}",
        exit.at.saturating_duration_since(last)
    );
    assert!(
        liar_stats
            .connections()
            .iter()
            .all(|(_, _, c)| matches!(c, Some((_, Ending::Remote)))),
        "every liar connection ends with riffle hanging up\n{context}"
    );

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
