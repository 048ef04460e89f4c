//! The interop harness itself, with libtorrent in riffle's place: the same
//! scenarios as the riffle interop tests (opentracker over HTTP and UDP with
//! its whitelist, aria2c, Transmission as leecher and as seeder), so that
//! when a riffle interop test fails the harness is known to work and the
//! fault is riffle's. libtorrent makes the torrents here, so these tests
//! need no riffle at all.

use std::time::Duration;

use riffle_tests::aria2::aria2_download;
use riffle_tests::child::tail;
use riffle_tests::lt_swarm::{lt_leech, LtSeedOptions, LtSeeder};
use riffle_tests::make_torrent::{tracked_torrent, Maker};
use riffle_tests::payload::{
    assert_same_tree, assert_same_tree_but_empty_files, small_tree, write_tree,
};
use riffle_tests::transmission::Transmission;

fn assert_lt_leech_ok(report: &serde_json::Value) {
    assert_eq!(
        report["finished"], true,
        "libtorrent did not finish: {report}"
    );
    assert_eq!(
        report["pieces_verified"], report["num_pieces"],
        "libtorrent's re-check: {report}"
    );
}

fn lt_to_lt_through_tracker(udp: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "harness-lt", &small_tree(6), 11);
    let maker = Maker::Libtorrent(32 * 1024);
    let torrent = tmp.path().join("t.torrent");
    let (tracker, hash) = tracked_torrent(maker, &top, &torrent, udp);
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    tracker
        .wait_seeders(&hash, 1, Duration::from_secs(10))
        .expect("libtorrent announced");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let report = lt_leech(&out, &torrent, &[]);
    assert_lt_leech_ok(&report);
    assert_same_tree(&top, &out.join("harness-lt"));
    // The harness can see a client's `completed` announce.
    assert_eq!(tracker.completed(&hash), Ok(1), "libtorrent's completed");
    let seeded = seeder.finish();
    assert!(
        seeded["torrents"][0]["uploaded"].as_u64().unwrap() > 0,
        "{seeded}"
    );
}

#[test]
fn libtorrent_finds_libtorrent_through_opentracker_http() {
    lt_to_lt_through_tracker(false);
}

#[test]
fn libtorrent_finds_libtorrent_through_opentracker_udp() {
    lt_to_lt_through_tracker(true);
}

#[test]
fn aria2_downloads_from_libtorrent_through_opentracker_http() {
    aria2_from_lt(false);
}

#[test]
fn aria2_downloads_from_libtorrent_through_opentracker_udp() {
    aria2_from_lt(true);
}

fn aria2_from_lt(udp: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "harness-aria2", &small_tree(6), 12);
    let torrent = tmp.path().join("t.torrent");
    let (tracker, hash) = tracked_torrent(Maker::Libtorrent(64 * 1024), &top, &torrent, udp);
    let _seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    tracker
        .wait_seeders(&hash, 1, Duration::from_secs(10))
        .expect("libtorrent announced");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let res = aria2_download(&torrent, &out, udp, Duration::from_secs(60));
    assert_eq!(res.code, Some(0), "aria2c failed:\n{}", tail(&res.log, 40));
    assert_same_tree(&top, &out.join("harness-aria2"));
}

#[test]
fn transmission_downloads_from_libtorrent_that_dials_it() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "harness-tr", &small_tree(6), 13);
    let torrent = tmp.path().join("t.torrent");
    let (_tracker, _hash) = tracked_torrent(Maker::Libtorrent(64 * 1024), &top, &torrent, false);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let tr = Transmission::start(&out);
    tr.add(&torrent);
    let _seeder = LtSeeder::start(
        &seed_dir,
        &[&torrent],
        LtSeedOptions {
            dial: &[tr.peer_port],
            ..Default::default()
        },
    );
    let done = tr.wait_complete(Duration::from_secs(60));
    let state = done.unwrap_or_else(|s| {
        panic!(
            "Transmission did not finish: {}\n{}",
            s.info,
            tr.log_tail(30)
        )
    });
    assert_same_tree_but_empty_files(&top, &out.join("harness-tr"));
    let checked = tr.verify(Duration::from_secs(30));
    assert_eq!(
        checked.percent_done, 100.0,
        "{}\n{}",
        checked.info, state.info
    );
}

#[test]
fn libtorrent_downloads_from_transmission() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "harness-trs", &small_tree(6), 14);
    let torrent = tmp.path().join("t.torrent");
    let (_tracker, _hash) = tracked_torrent(Maker::Libtorrent(64 * 1024), &top, &torrent, true);
    let tr = Transmission::start(&seed_dir);
    tr.add(&torrent);
    tr.wait_complete(Duration::from_secs(30))
        .unwrap_or_else(|s| panic!("Transmission did not verify its seed: {}", s.info));
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let report = lt_leech(&out, &torrent, &[tr.peer_port]);
    assert_lt_leech_ok(&report);
    assert_same_tree(&top, &out.join("harness-trs"));
}
