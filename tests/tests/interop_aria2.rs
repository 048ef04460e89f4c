//! Issue 3, point 1b: aria2c downloads, byte for byte, a multi-file torrent
//! that `riffle create` made and `riffle seed` seeds, finding riffle through
//! a real opentracker on 127.0.0.1 (over HTTP, and over UDP); then riffle
//! shuts down cleanly on SIGTERM.

use std::time::Duration;

use riffle_tests::aria2::aria2_download;
use riffle_tests::child::tail;
use riffle_tests::make_torrent::{tracked_torrent, Maker};
use riffle_tests::payload::{assert_same_tree, small_tree, write_tree};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::tools::Phases;

fn aria2_downloads_from_riffle_seed(udp: bool) {
    let phases = Phases::start();
    // Build riffle first (a no-op when up to date), outside the timeouts.
    riffle_bin();
    phases.mark("riffle built");
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let name = if udp {
        "interop-b-udp"
    } else {
        "interop-b-http"
    };
    let top = write_tree(&seed_dir, name, &small_tree(16), 0xb1);
    let torrent = tmp.path().join("b.torrent");
    let (tracker, hash) = tracked_torrent(Maker::Riffle, &top, &torrent, udp);

    phases.mark("payload, torrent and tracker ready");
    let mut riffle = RiffleProc::start(
        "riffle seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--data",
            seed_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp.path().join("riffle.log"),
    );
    phases.mark("riffle listening");
    // aria2 announces once: riffle must be known to the tracker first.
    if let Err(e) = tracker.wait_seeders(&hash, 1, Duration::from_secs(20)) {
        panic!(
            "riffle seed never announced itself as a seeder to {}: {e}; riffle's stderr:\n{}",
            tracker.announce(udp),
            riffle.log_tail(80)
        );
    }
    phases.mark("riffle announced");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let res = aria2_download(&torrent, &out, udp, Duration::from_secs(60));
    assert_eq!(
        res.code,
        Some(0),
        "aria2c did not complete (None: killed after 60 s):\n{}\n--- riffle's stderr:\n{}",
        tail(&res.log, 40),
        riffle.log_tail(80)
    );
    phases.mark("aria2 exited");
    assert_same_tree(&top, &out.join(name));
    let status = riffle.terminate(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle seed after SIGTERM: {status:?} (None: still running after 5 s); stderr:\n{}",
        riffle.log_tail(40)
    );
}

#[test]
fn aria2_downloads_from_riffle_seed_through_opentracker_http() {
    aria2_downloads_from_riffle_seed(false);
}

#[test]
fn aria2_downloads_from_riffle_seed_through_opentracker_udp() {
    aria2_downloads_from_riffle_seed(true);
}
