//! Issue 3, point 1e: one riffle session downloads two torrents at once
//! (`riffle download A.torrent B.torrent -o DIR`) from a libtorrent session
//! seeding both, byte for byte. libtorrent caps each torrent's upload so
//! that each takes a few seconds, and reports when it started and finished
//! sending each: the two transfers must overlap in time.

use std::time::Duration;

use riffle_tests::lt_swarm::{LtSeedOptions, LtSeeder};
use riffle_tests::make_torrent::{make, Maker};
use riffle_tests::payload::{assert_same_tree, small_tree, total_len, write_tree};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::tools::Phases;

/// Per-torrent upload cap at the seeder: 6 MiB takes about 3 s.
const UPLOAD_LIMIT: u64 = 2 << 20;

#[test]
fn riffle_downloads_two_torrents_at_once_in_one_session() {
    let phases = Phases::start();
    // Build riffle first (a no-op when up to date), outside the timeouts.
    riffle_bin();
    phases.mark("riffle built");
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let files = small_tree(6);
    let names = ["interop-e1", "interop-e2"];
    let tops: Vec<_> = names
        .iter()
        .zip([0xe1, 0xe2])
        .map(|(n, seed)| write_tree(&seed_dir, n, &files, seed))
        .collect();
    let torrents: Vec<_> = tops
        .iter()
        .zip(["e1.torrent", "e2.torrent"])
        .map(|(top, t)| {
            let path = tmp.path().join(t);
            make(Maker::Libtorrent(64 * 1024), top, &path, None);
            path
        })
        .collect();
    phases.mark("payload and torrents made");
    let seeder = LtSeeder::start(
        &seed_dir,
        &[&torrents[0], &torrents[1]],
        LtSeedOptions {
            upload_limit: UPLOAD_LIMIT,
            ..Default::default()
        },
    );
    phases.mark("libtorrent seeding");
    let out = tmp.path().join("out");
    let peer = format!("127.0.0.1:{}", seeder.port);
    let mut riffle = RiffleProc::start(
        "riffle download",
        &[
            "download",
            torrents[0].to_str().unwrap(),
            torrents[1].to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--peer",
            &peer,
        ],
        &tmp.path().join("riffle.log"),
    );
    phases.mark("riffle listening");
    let status = riffle.wait(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle download of two torrents ended with {status:?} (None: still running after \
         90 s); riffle's stderr (RIFFLE_LOG=debug):\n{}\n--- libtorrent seeder:\n{}",
        riffle.log_tail(80),
        seeder.log_tail(20)
    );
    phases.mark("riffle exited");
    for (top, name) in tops.iter().zip(names) {
        assert_same_tree(top, &out.join(name));
    }
    let report = seeder.finish();
    let t = &report["torrents"];
    for i in 0..2 {
        assert!(
            t[i]["uploaded"].as_u64().unwrap_or(0) >= total_len(&files),
            "libtorrent did not send all of torrent {i}: {report}"
        );
    }
    let at = |i: usize, key: &str| {
        t[i][key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} for torrent {i}: {report}"))
    };
    // Each transfer started before the other one ended.
    assert!(
        at(0, "first_upload_at") < at(1, "uploaded_all_at")
            && at(1, "first_upload_at") < at(0, "uploaded_all_at"),
        "the two torrents were not transferred at the same time: {report}"
    );
}
