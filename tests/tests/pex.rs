//! Peer exchange (BEP 11) with libtorrent on 127.0.0.1, both ways:
//! riffle, knowing only a libtorrent peer that has (almost) nothing,
//! learns of the libtorrent seeder from that peer's ut_pex and downloads
//! from it; libtorrent, knowing only a riffle peer that has (almost)
//! nothing, learns of the riffle seed from riffle's ut_pex and downloads.
//! And BEP 27 as libtorrent's peer log sees it: a riffle seed of a private
//! torrent offers no ut_pex and sends no DHT port (a public one does both).

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

/// libtorrent's own view (its peer log, `lt_peer.py leech`) of a riffle
/// seed of `torrent`: the extended handshakes it read and the messages it
/// parsed.
fn lt_view_of_seed(
    tmp: &std::path::Path,
    torrent: &std::path::Path,
    seed_dir: &std::path::Path,
    tag: &str,
) -> serde_json::Value {
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
        &tmp.join(format!("{tag}-seed.log")),
    );
    let python = riffle_tests::require_libtorrent();
    let out = std::process::Command::new(python)
        .arg(riffle_tests::script("lt_peer.py"))
        .arg("leech")
        .arg(torrent)
        .arg(tmp.join(format!("{tag}-lt")))
        .arg(seed.port.to_string())
        .output()
        .expect("run lt_peer.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(text.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| {
            panic!(
                "lt_peer.py said {text:?}: {e}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(report["finished"], true, "{report}");
    report
}

#[test]
fn libtorrent_hears_no_peer_exchange_or_dht_port_for_a_private_torrent() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let public = write_tree(&seed_dir, "public", &small_tree(1), 0x61);
    let private = write_tree(&seed_dir, "private", &small_tree(1), 0x62);
    let pub_t = tmp.path().join("public.torrent");
    riffle_create(&public, &pub_t, None);
    let priv_t = tmp.path().join("private.torrent");
    let made = riffle_tests::riffle(&[
        "create",
        private.to_str().unwrap(),
        "-o",
        priv_t.to_str().unwrap(),
        "--private",
    ]);
    assert!(made.status.success());
    // The positive control: a public torrent offers ut_pex and sends its
    // DHT port.
    let public_view = lt_view_of_seed(tmp.path(), &pub_t, &seed_dir, "public");
    let private_view = lt_view_of_seed(tmp.path(), &priv_t, &seed_dir, "private");
    eprintln!("public: {public_view}\nprivate: {private_view}");
    let says = |v: &serde_json::Value, what: &str| v["ext_handshakes"].to_string().contains(what);
    let parsed = |v: &serde_json::Value, what: &str| {
        v["received"]
            .as_array()
            .expect("received")
            .iter()
            .any(|m| m == what)
    };
    assert!(says(&public_view, "ut_pex"), "{public_view}");
    assert!(parsed(&public_view, "DHT_PORT"), "{public_view}");
    assert!(says(&private_view, "ut_metadata"), "{private_view}");
    assert!(!says(&private_view, "ut_pex"), "{private_view}");
    assert!(!parsed(&private_view, "DHT_PORT"), "{private_view}");
}
