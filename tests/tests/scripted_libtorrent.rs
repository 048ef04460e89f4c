//! The scripted seeder the hostile-peer and resume tests lean on is a
//! correct peer by a real client's standard: libtorrent downloads a
//! multi-file torrent from it, re-checks every piece, and its download
//! counter balances against the upload the seeder counted.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::require_libtorrent;
use riffle_tests::script;
use riffle_tests::scripted::{Content, ScriptedPeer, Stats};

#[test]
fn libtorrent_downloads_from_the_scripted_seeder() {
    let python = require_libtorrent();
    let content = Arc::new(Content::multi_file(
        "scripted",
        &[("a.bin", 1_234_567), ("sub/b.bin", 2_000_001)],
        256 * 1024,
        42,
    ));
    let rate = 4_000_000;
    let seeder = ScriptedPeer::seeder(content.clone(), Some(rate));
    let tmp = tempfile::tempdir().expect("temp dir");
    let torrent = content.write_torrent(tmp.path());
    let save = tmp.path().join("lt");
    std::fs::create_dir_all(&save).expect("mkdir");
    let start = Instant::now();
    let out = Command::new(python)
        .arg(script("lt_peer.py"))
        .args(["leech", torrent.to_str().expect("utf-8")])
        .arg(&save)
        .arg(seeder.addr().port().to_string())
        .output()
        .expect("run lt_peer.py");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "lt_peer.py printed no report: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(report["finished"], true, "{report}");
    assert_eq!(report["pieces_verified"], content.piece_count(), "{report}");
    content
        .verify_download(&save)
        .expect("libtorrent wrote the content");
    let uploaded = seeder.stats().uploaded();
    assert_eq!(
        report["total_payload_download"].as_u64(),
        Some(uploaded),
        "libtorrent's download counter against the seeder's upload counter"
    );
    assert!(uploaded >= content.total_length());
    assert!(
        Stats::get(&seeder.stats().bad_requests) == 0,
        "libtorrent never asks for a block outside the torrent"
    );
    // The rate limit holds: 3.2 MB at 4 MB/s cannot take less than ~0.7 s.
    let floor = Duration::from_secs_f64(content.total_length() as f64 / rate as f64 * 0.9);
    assert!(took >= floor, "took {took:?}, under {floor:?}");
}
