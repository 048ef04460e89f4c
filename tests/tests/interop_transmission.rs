//! Issue 3, points 1c and 1d: Transmission 3.00 downloads, byte for byte, a
//! multi-file torrent that `riffle create` made and `riffle seed` seeds; and
//! riffle downloads one from a Transmission seeder. The torrents announce to
//! a real opentracker on 127.0.0.1, but Transmission 3.00 ignores tracker
//! peers in 127.0.0.0/8, so riffle dials it (`--peer`) in both directions.

use std::time::Duration;

use riffle_tests::make_torrent::{tracked_torrent, Maker};
use riffle_tests::payload::{
    assert_same_tree, assert_same_tree_but_empty_files, small_tree, write_tree,
};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::tools::Phases;
use riffle_tests::transmission::Transmission;

#[test]
fn transmission_downloads_from_riffle_seed() {
    let phases = Phases::start();
    // Build riffle first (a no-op when up to date), outside the timeouts.
    riffle_bin();
    phases.mark("riffle built");
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let name = "interop-c";
    let top = write_tree(&seed_dir, name, &small_tree(12), 0xc1);
    let torrent = tmp.path().join("c.torrent");
    let (_tracker, _hash) = tracked_torrent(Maker::Riffle, &top, &torrent, false);

    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    phases.mark("payload, torrent and tracker ready");
    let tr = Transmission::start(&out);
    tr.add(&torrent);
    let peer = format!("127.0.0.1:{}", tr.peer_port);
    phases.mark("transmission ready");
    let mut riffle = RiffleProc::start(
        "riffle seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--data",
            seed_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--peer",
            &peer,
        ],
        &tmp.path().join("riffle.log"),
    );
    phases.mark("riffle listening");
    // Transmission decides interest every 10 s and pulls ~30 MiB/s at best.
    let state = tr
        .wait_complete(Duration::from_secs(90))
        .unwrap_or_else(|s| {
            panic!(
            "Transmission did not complete the download from riffle seed (--peer {peer}):\n{}\n\
             --- riffle's stderr (RIFFLE_LOG=debug):\n{}\n--- Transmission:\n{}",
            s.info,
            riffle.log_tail(80),
            tr.log_tail(30)
        )
        });
    phases.mark("transmission complete");
    // Transmission 3.00 does not create zero-length files.
    assert_same_tree_but_empty_files(&top, &out.join(name));
    let checked = tr.verify(Duration::from_secs(30));
    assert_eq!(
        checked.percent_done, 100.0,
        "Transmission's own re-check rejects data it got from riffle:\n{}\n(before: {})",
        checked.info, state.info
    );
    let status = riffle.terminate(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle seed after SIGTERM: {status:?} (None: still running after 5 s); stderr:\n{}",
        riffle.log_tail(40)
    );
}

#[test]
fn riffle_downloads_from_transmission_seed() {
    let phases = Phases::start();
    // Build riffle first (a no-op when up to date), outside the timeouts.
    riffle_bin();
    phases.mark("riffle built");
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let name = "interop-d";
    let top = write_tree(&seed_dir, name, &small_tree(12), 0xd1);
    let torrent = tmp.path().join("d.torrent");
    let (_tracker, _hash) = tracked_torrent(Maker::Riffle, &top, &torrent, true);

    phases.mark("payload, torrent and tracker ready");
    let tr = Transmission::start(&seed_dir);
    tr.add(&torrent);
    tr.wait_complete(Duration::from_secs(30))
        .unwrap_or_else(|s| panic!("Transmission did not verify its seed data:\n{}", s.info));
    let out = tmp.path().join("out");
    let peer = format!("127.0.0.1:{}", tr.peer_port);
    phases.mark("transmission ready");
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
            &peer,
        ],
        &tmp.path().join("riffle.log"),
    );
    phases.mark("riffle listening");
    let status = riffle.wait(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle download from Transmission (--peer {peer}) ended with {status:?} (None: still \
         running after 90 s); riffle's stderr (RIFFLE_LOG=debug):\n{}\n--- Transmission:\n{}\n{}",
        riffle.log_tail(80),
        tr.state().info,
        tr.log_tail(30)
    );
    phases.mark("riffle exited");
    assert_same_tree(&top, &out.join(name));
}
