//! Magnet links (BEP 9 metadata exchange) against real clients on
//! 127.0.0.1: riffle fetches the metadata from an aria2 seed found through
//! opentracker (`tr=`) and from a Transmission seed named by `x.pe=`; the
//! other way, libtorrent and aria2 given only a magnet link fetch it from
//! `riffle seed`. A second run finds the metadata kept from the first.

use std::path::Path;
use std::time::Duration;

use riffle_tests::aria2::{aria2_download, aria2_seed};
use riffle_tests::lt_swarm::lt_magnet;
use riffle_tests::make_torrent::{tracked_torrent, Maker};
use riffle_tests::payload::{assert_same_tree, small_tree, write_tree};
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::transmission::Transmission;

const MINUTE: Duration = Duration::from_secs(60);

/// `riffle download MAGNET -o OUT` to its end; the log on failure.
fn riffle_magnet_download(magnet: &str, out: &Path, log: &Path, extra: &[&str]) {
    let mut args = vec![
        "download",
        magnet,
        "-o",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut riffle = RiffleProc::start("riffle download (magnet)", &args, log);
    let status = riffle.wait(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle download {magnet} ended with {status:?}:\n{}",
        riffle.log_tail(60)
    );
}

#[test]
fn riffle_fetches_metadata_from_an_aria2_seed_through_opentracker() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "via-tracker", &small_tree(3), 0x41);
    let torrent = tmp.path().join("t.torrent");
    let (tracker, hash) = tracked_torrent(Maker::Riffle, &top, &torrent, false);
    let (_aria2, _port) = aria2_seed(&torrent, &seed_dir, &tmp.path().join("aria2.log"));
    tracker
        .wait_seeders(&hash, 1, MINUTE)
        .unwrap_or_else(|e| panic!("aria2 never announced itself: {e}"));
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&dn=via-tracker&tr={}",
        tracker.announce(false)
    );
    let out = tmp.path().join("out");
    let saved = tmp.path().join("saved.torrent");
    riffle_magnet_download(
        &magnet,
        &out,
        &tmp.path().join("riffle.log"),
        &["--save-torrent", saved.to_str().unwrap()],
    );
    assert_same_tree(&top, &out.join("via-tracker"));
    // The fetched metadata is the torrent's own (same info-hash), kept
    // for the next run and written where asked.
    let info = riffle_tests::riffle(&["info", saved.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["info_hash"], hash);
    assert!(out.join(".riffle").join(format!("{hash}.torrent")).exists());
}

#[test]
fn riffle_fetches_metadata_from_a_transmission_seed_named_by_x_pe() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "via-x-pe", &small_tree(3), 0x42);
    let torrent = tmp.path().join("t.torrent");
    let (_tracker, hash) = tracked_torrent(Maker::Riffle, &top, &torrent, false);
    let tr = Transmission::start(&seed_dir);
    tr.add(&torrent);
    tr.wait_complete(Duration::from_secs(30))
        .unwrap_or_else(|s| panic!("Transmission did not verify its seed data:\n{}", s.info));
    let magnet = format!("magnet:?xt=urn:btih:{hash}&x.pe=127.0.0.1:{}", tr.peer_port);
    let out = tmp.path().join("out");
    riffle_magnet_download(&magnet, &out, &tmp.path().join("riffle.log"), &[]);
    assert_same_tree(&top, &out.join("via-x-pe"));
    // Again: the metadata comes from the first run, not from a peer (the
    // seed is gone, so a fetch would fail).
    drop(tr);
    let again = riffle_tests::riffle(&[
        "info",
        out.join(".riffle")
            .join(format!("{hash}.torrent"))
            .to_str()
            .unwrap(),
    ]);
    assert!(again.status.success());
    let mut riffle = RiffleProc::start(
        "riffle download (magnet, again)",
        &[
            "download",
            &magnet,
            "-o",
            out.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp.path().join("riffle2.log"),
    );
    let status = riffle.wait(MINUTE);
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        riffle.log_tail(40)
    );
    assert!(
        riffle.log().contains("metadata from an earlier fetch"),
        "{}",
        riffle.log_tail(40)
    );
}

#[test]
fn libtorrent_and_aria2_fetch_metadata_from_riffle_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "from-riffle", &small_tree(3), 0x43);
    let torrent = tmp.path().join("t.torrent");
    let (tracker, hash) = tracked_torrent(Maker::Riffle, &top, &torrent, false);
    let seed = RiffleProc::start(
        "riffle seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--data",
            seed_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp.path().join("seed.log"),
    );
    // libtorrent, knowing only the info-hash and riffle's address.
    let lt_out = tmp.path().join("lt");
    let report = lt_magnet(
        &lt_out,
        &format!("magnet:?xt=urn:btih:{hash}"),
        &[seed.port],
    );
    assert_eq!(report["has_metadata"], true, "{report}");
    assert_eq!(report["finished"], true, "{report}");
    assert_eq!(report["pieces_verified"], report["num_pieces"], "{report}");
    assert_same_tree(&top, &lt_out.join("from-riffle"));
    // aria2, knowing the info-hash and the tracker riffle announced to.
    tracker
        .wait_seeders(&hash, 1, MINUTE)
        .unwrap_or_else(|e| panic!("riffle never announced itself: {e}"));
    let aria_out = tmp.path().join("aria2");
    let outcome = aria2_download(
        format!("magnet:?xt=urn:btih:{hash}&tr={}", tracker.announce(false)),
        &aria_out,
        false,
        Duration::from_secs(90),
    );
    assert_eq!(outcome.code, Some(0), "aria2c:\n{}", outcome.log);
    assert_same_tree(&top, &aria_out.join("from-riffle"));
}
