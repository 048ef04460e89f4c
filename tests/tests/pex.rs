//! Peer exchange (BEP 11) with libtorrent on 127.0.0.1, both ways:
//! riffle, knowing only a libtorrent peer that has (almost) nothing,
//! learns of the libtorrent seeder from that peer's ut_pex and downloads
//! from it; libtorrent, knowing only a riffle peer that has (almost)
//! nothing, learns of the riffle seed from riffle's ut_pex and downloads.

use std::time::Duration;

use riffle_tests::lt_swarm::{lt_leech, LtSeedOptions, LtSeeder};
use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{assert_same_tree, small_tree, write_tree};
use riffle_tests::riffle_proc::RiffleProc;

#[test]
fn riffle_finds_a_seed_through_libtorrents_peer_exchange() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "told", &small_tree(4), 0x51);
    let torrent = tmp.path().join("t.torrent");
    riffle_create(&top, &torrent, None);
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    // The middle peer: libtorrent without the data, downloading at 1 kB/s
    // from the seeder it dials.
    let middle_dir = tmp.path().join("middle");
    std::fs::create_dir_all(&middle_dir).unwrap();
    let middle = LtSeeder::start(
        &middle_dir,
        &[&torrent],
        LtSeedOptions {
            dial: &[seeder.port],
            download_limit: 1000,
            incomplete: true,
            ..Default::default()
        },
    );
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
            "--peer",
            &format!("127.0.0.1:{}", middle.port),
        ],
        &tmp.path().join("riffle.log"),
    );
    // 4 MiB, which the middle peer (1 kB/s) could not have given.
    let status = riffle.wait(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle did not find the seeder through peer exchange ({status:?}):\n{}\n--- middle:\n{}",
        riffle.log_tail(60),
        middle.log_tail(30)
    );
    assert_same_tree(&top, &out.join("told"));
}

#[test]
fn libtorrent_finds_a_seed_through_riffles_peer_exchange() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "shared", &small_tree(4), 0x52);
    let torrent = tmp.path().join("t.torrent");
    riffle_create(&top, &torrent, None);
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
    // The middle peer: riffle, downloading at 1 kB/s from the seed.
    let middle = RiffleProc::start(
        "riffle download (middle)",
        &[
            "download",
            torrent.to_str().unwrap(),
            "-o",
            tmp.path().join("middle").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--max-download-rate",
            "1k",
            "--peer",
            &format!("127.0.0.1:{}", seed.port),
        ],
        &tmp.path().join("middle.log"),
    );
    // libtorrent knows only the middle peer.
    let out = tmp.path().join("lt");
    let report = lt_leech(&out, &torrent, &[middle.port]);
    assert_eq!(
        report["finished"], true,
        "libtorrent did not find the seed through riffle's peer exchange: {report}\n--- middle:\n{}",
        middle.log_tail(40)
    );
    assert_eq!(report["pieces_verified"], report["num_pieces"]);
    assert_same_tree(&top, &out.join("shared"));
}
