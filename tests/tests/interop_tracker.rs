//! Issue 3, point 1a: riffle finds a libtorrent seeder through a real
//! opentracker on 127.0.0.1 (over HTTP, and over UDP) and downloads a
//! multi-file torrent from it byte for byte: 24 files in nested folders, one
//! empty, 67 MiB, 256 KiB pieces that divide no file's length, the torrent
//! made by libtorrent. No --peer: the tracker is riffle's only way to the
//! seeder.

use std::time::Duration;

use riffle_tests::lt_swarm::{LtSeedOptions, LtSeeder};
use riffle_tests::make_torrent::{tracked_torrent, Maker};
use riffle_tests::payload::{assert_same_tree, big_tree, total_len, write_tree};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::tools::Phases;

fn riffle_downloads_from_libtorrent_through_opentracker(udp: bool) {
    let phases = Phases::start();
    // Build riffle first (a no-op when up to date), outside the timeouts.
    riffle_bin();
    phases.mark("riffle built");
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let files = big_tree();
    assert!(total_len(&files) >= 64 << 20);
    let name = if udp {
        "interop-a-udp"
    } else {
        "interop-a-http"
    };
    let top = write_tree(&seed_dir, name, &files, 0xa1);
    let maker = Maker::Libtorrent(256 * 1024);
    let torrent = tmp.path().join("a.torrent");
    let (tracker, hash) = tracked_torrent(maker, &top, &torrent, udp);
    phases.mark("payload, torrent and tracker ready");
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    tracker
        .wait_seeders(&hash, 1, Duration::from_secs(10))
        .expect("libtorrent announced to opentracker");

    phases.mark("libtorrent seeding and announced");
    let out = tmp.path().join("out");
    let mut riffle = RiffleProc::start(
        "riffle download",
        &[
            "download",
            torrent.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp.path().join("riffle.log"),
    );
    phases.mark("riffle listening");
    let status = riffle.wait(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle download through {} ended with {status:?} (None: still running after 90 s); \
         tracker knows {:?} (seeders, leechers); riffle's stderr (RIFFLE_LOG=debug):\n{}\n\
         --- libtorrent seeder:\n{}",
        tracker.announce(udp),
        tracker.try_scrape(&hash),
        riffle.log_tail(80),
        seeder.log_tail(20),
    );
    phases.mark("riffle exited");
    assert_same_tree(&top, &out.join(name));
    let report = seeder.finish();
    let uploaded = report["torrents"][0]["uploaded"].as_u64().unwrap_or(0);
    assert!(
        uploaded >= total_len(&files),
        "libtorrent uploaded only {uploaded} bytes of {}: {report}",
        total_len(&files)
    );
    // BEP 3: a client that finishes says `completed` to the tracker (which
    // opentracker counts: interop_harness checks it with libtorrent).
    assert_eq!(
        tracker.completed(&hash),
        Ok(1),
        "the download is fine, but opentracker counted no `completed` announce from riffle \
         (BEP 3); riffle's stderr:\n{}",
        riffle.log_tail(40)
    );
}

#[test]
fn riffle_downloads_multi_file_torrent_from_libtorrent_through_opentracker_http() {
    riffle_downloads_from_libtorrent_through_opentracker(false);
}

#[test]
fn riffle_downloads_multi_file_torrent_from_libtorrent_through_opentracker_udp() {
    riffle_downloads_from_libtorrent_through_opentracker(true);
}
