//! The seedbox survives a SIGKILL: three torrents — one complete, one
//! half downloaded, one stopped — come back after a kill in the same
//! states and queue order; the complete one is not hashed again and the
//! half-done one fetches little more than it lacked.

use std::path::Path;
use std::time::Duration;

use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{assert_same_tree, small_tree, total_len, write_tree};
use riffle_tests::riffle_daemon::{DaemonOptions, RiffleDaemon};
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::riffle_tracker::RiffleTracker;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);
const FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "queuePosition",
    "haveValid",
    "sizeWhenDone",
    "downloadedEver",
    "percentDone",
    "riffle-hashedPieces",
    "riffle-trustedPieces",
    "pieceCount",
];

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
fn three_torrents_come_back_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tracker = RiffleTracker::start(&[], &root.join("tracker.log"));
    let url = tracker.announce_url(false);
    let torrent = |name: &str, mib: u64, parent: &Path| {
        let data = write_tree(parent, name, &small_tree(mib), mib * 7);
        let t = root.join(format!("{name}.torrent"));
        riffle_create(&data, &t, Some(&url));
        (t, data)
    };
    // A: its data already in the download directory.
    let (whole_t, _) = torrent("whole", 2, &root.join("dl"));
    // B: from a seed capped at 1 MiB/s, so it can be caught half way.
    let seed_dir = root.join("seed");
    let (half_t, half_data) = torrent("half", 12, &seed_dir);
    let half_size = total_len(&small_tree(12));
    let _seed = RiffleProc::start(
        "riffle seed",
        &[
            "seed",
            half_t.to_str().unwrap(),
            "--data",
            seed_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--max-upload-rate",
            "1MiB",
        ],
        &root.join("seed.log"),
    );
    // C: added stopped.
    let (paused_t, _) = torrent("paused", 1, &root.join("elsewhere"));

    let d = RiffleDaemon::start(root, &DaemonOptions::default());
    d.remote_ok(&["-a", whole_t.to_str().unwrap()]);
    d.wait_torrent(1, &["status"], "A seeding", MINUTE, |t| t["status"] == 6);
    d.remote_ok(&["-a", half_t.to_str().unwrap()]);
    d.remote_ok(&["-a", paused_t.to_str().unwrap(), "-S"]);
    d.wait_torrent(2, &["haveValid"], "B half done", MINUTE, |t| {
        n(&t["haveValid"]) >= half_size * 45 / 100
    });
    let before = d.torrents(FIELDS);
    assert!(
        n(&before[1]["haveValid"]) < half_size * 80 / 100,
        "B caught half way: {}",
        before[1]
    );
    d.kill();

    let d = RiffleDaemon::start(root, &DaemonOptions::default());
    let after = d.torrents(FIELDS);
    let names: Vec<&str> = after.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["whole", "half", "paused"], "{after:?}");
    let ids: Vec<u64> = after.iter().map(|t| n(&t["id"])).collect();
    assert_eq!(ids, [1, 2, 3]);
    let positions: Vec<u64> = after.iter().map(|t| n(&t["queuePosition"])).collect();
    assert_eq!(positions, [0, 1, 2]);
    assert_eq!(after[2]["status"], 0, "C stays stopped");
    let base = n(&after[1]["downloadedEver"]);

    // A seeds again on the word of its resume record: nothing hashed.
    let a = d.wait_torrent(1, FIELDS, "A seeding again", MINUTE, |t| t["status"] == 6);
    assert_eq!(a["riffle-hashedPieces"], 0, "{a}");
    assert_eq!(a["riffle-trustedPieces"], a["pieceCount"], "{a}");

    // B checks what it has (it was killed mid-write), then fetches the
    // rest and no more than 10% beyond it.
    let b = d.wait_torrent(2, FIELDS, "B downloading again", MINUTE, |t| {
        t["status"] == 4 || t["status"] == 6
    });
    let lacked = n(&b["sizeWhenDone"]) - n(&b["haveValid"]);
    assert!(
        lacked > 0 && lacked < half_size * 60 / 100,
        "B kept what it had: {b}\n{}",
        d.log_tail(60)
    );
    let done = d.wait_torrent(2, FIELDS, "B complete", MINUTE, |t| {
        t["percentDone"] == 1.0 && t["status"] == 6
    });
    // Counters are folded once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let fetched = n(&d.torrent(2, &["downloadedEver"])["downloadedEver"]) - base;
    assert!(
        fetched as f64 <= lacked as f64 * 1.10,
        "B lacked {lacked} bytes and fetched {fetched}: {done}"
    );
    assert_same_tree(&half_data, &d.download_dir.join("half"));
    assert_eq!(d.torrent(3, &["status"])["status"], 0);
}
