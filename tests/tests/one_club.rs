//! Issue 4: one-club throttling, measured at a real remote peer.
//!
//! riffle holds every piece of a 4 MiB torrent but one (the data on disk
//! has one piece corrupted, so its start-up check finds K-1 pieces) and no
//! one can give it the last piece: it stays in the one club. With
//! `--max-upload-rate 4MiB --one-club-rate 200KiB`, a libtorrent leecher
//! downloading from it receives, over 6 s measured after its first second,
//! at most 1.1 x mu' (and at least half of it: the throttle slows, it does
//! not stop). The positive control runs the same thing without
//! `--one-club-rate`: the same leecher then gets over 3 x mu' in its first
//! second, so the measurement can see a rate above the limit.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use riffle_protocol::metainfo::Metainfo;
use riffle_tests::lt_swarm::lt_leech_measure;
use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{write_tree, FileSpec};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;

/// mu': the throttled rate, bytes per second.
const MU2: f64 = 200.0 * 1024.0;

/// A 4 MiB single-file torrent whose piece 5 is corrupted on disk; returns
/// (torrent path, riffle's output directory).
fn one_piece_short(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = tmp.join("data");
    let files = vec![FileSpec {
        path: "payload.bin".into(),
        len: 4 << 20,
    }];
    let top = write_tree(&data, "oneclub", &files, 0x0c1b);
    let torrent = tmp.join("oneclub.torrent");
    riffle_create(&top, &torrent, None);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert!(meta.info.piece_count() > 2);
    let piece = u64::from(meta.info.piece_length);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(top.join("payload.bin"))
        .unwrap();
    f.seek(SeekFrom::Start(5 * piece)).unwrap();
    f.write_all(&[0xAA; 64]).unwrap();
    (torrent, data)
}

/// Start riffle on that data with `extra` flags and measure what a
/// libtorrent leecher receives for `secs` after its first byte.
fn measure(extra: &[&str], secs: f64) -> (Vec<(f64, u64)>, Vec<String>) {
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let (torrent, data) = one_piece_short(tmp.path());
    let mut args = vec![
        "download",
        torrent.to_str().unwrap(),
        "-o",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--max-upload-rate",
        "4MiB",
    ];
    args.extend_from_slice(extra);
    let mut riffle = RiffleProc::start("riffle download", &args, &tmp.path().join("riffle.log"));
    let out = tmp.path().join("lt");
    std::fs::create_dir(&out).unwrap();
    let samples = lt_leech_measure(&out, &torrent, &[riffle.port], secs);
    let lines = riffle.stdout_lines(Duration::from_millis(200));
    riffle.terminate(Duration::from_secs(5));
    assert!(
        samples.len() > 10,
        "libtorrent received nothing from riffle; riffle's stderr:\n{}",
        riffle.log_tail(60)
    );
    (samples, lines)
}

/// Bytes received by `t` seconds after the first byte.
fn at(samples: &[(f64, u64)], t: f64) -> (f64, u64) {
    *samples
        .iter()
        .find(|(s, _)| *s >= t)
        .unwrap_or_else(|| samples.last().expect("samples"))
}

#[test]
fn a_peer_one_piece_short_uploads_at_the_one_club_rate() {
    let (samples, lines) = measure(&["--one-club-rate", "200KiB"], 7.0);
    let (t0, b0) = at(&samples, 1.0);
    let (t1, b1) = *samples.last().unwrap();
    let window = t1 - t0;
    assert!(window >= 5.0, "measured only {window:.1} s: {samples:?}");
    let rate = (b1 - b0) as f64 / window;
    assert!(
        rate <= 1.1 * MU2,
        "one piece short with --one-club-rate 200KiB, riffle sent {:.0} KiB/s over {window:.1} s (limit {:.0} KiB/s)",
        rate / 1024.0,
        1.1 * MU2 / 1024.0
    );
    assert!(
        rate >= 0.5 * MU2,
        "the throttled upload nearly stopped: {:.0} KiB/s over {window:.1} s",
        rate / 1024.0
    );
    // The status output says why.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("one club: throttled to 200.0 KiB/s")),
        "no one-club status line in riffle's output: {lines:?}"
    );
}

#[test]
fn without_one_club_rate_the_same_peer_gets_far_more() {
    let (samples, lines) = measure(&[], 1.5);
    let (_, b) = at(&samples, 1.0);
    assert!(
        b as f64 > 3.0 * MU2,
        "without throttling riffle sent only {} KiB in the first second",
        b / 1024
    );
    assert!(
        lines.iter().all(|l| !l.contains("throttled to")),
        "riffle says it throttles without --one-club-rate: {lines:?}"
    );
}
