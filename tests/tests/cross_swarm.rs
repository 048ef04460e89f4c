//! Cross-swarm upload allocation with a real foreign client: riffle seeds
//! two torrents under one upload limit with `--swarm-allocation cpm`;
//! libtorrent, one of three leechers of the bigger swarm, downloads as
//! it would anyway, and the single leecher of the other swarm is served
//! too (the allocation's floor).

use std::time::{Duration, Instant};

use riffle_tests::lt_swarm::lt_leech;
use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{assert_same_tree, small_tree, write_tree};
use riffle_tests::riffle_proc::RiffleProc;

#[test]
fn cpm_allocation_serves_libtorrent_and_keeps_the_small_swarm_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let big = write_tree(&seed_dir, "big", &small_tree(4), 0x91);
    let small = write_tree(&seed_dir, "small", &small_tree(1), 0x92);
    let (big_t, small_t) = (
        tmp.path().join("big.torrent"),
        tmp.path().join("small.torrent"),
    );
    riffle_create(&big, &big_t, None);
    riffle_create(&small, &small_t, None);
    let seed = RiffleProc::start(
        "riffle seed (two torrents)",
        &[
            "download",
            big_t.to_str().unwrap(),
            small_t.to_str().unwrap(),
            "-o",
            seed_dir.to_str().unwrap(),
            "--seed",
            "--listen",
            "127.0.0.1:0",
            "--max-upload-rate",
            "2M",
            "--swarm-allocation",
            "cpm",
        ],
        &tmp.path().join("seed.log"),
    );
    let peer = format!("127.0.0.1:{}", seed.port);
    let leech = |torrent: &std::path::Path, name: &str| {
        RiffleProc::download(
            torrent.to_str().unwrap(),
            &tmp.path().join(name),
            &["--peer", &peer],
            &tmp.path().join(format!("{name}.log")),
        )
    };
    let mut riffles = vec![
        (leech(&big_t, "big-1"), "big-1", "big"),
        (leech(&big_t, "big-2"), "big-2", "big"),
        (leech(&small_t, "small-1"), "small-1", "small"),
    ];
    let start = Instant::now();
    let lt_out = tmp.path().join("lt");
    let report = lt_leech(&lt_out, &big_t, &[seed.port]);
    let lt_secs = start.elapsed().as_secs_f64();
    assert_eq!(report["finished"], true, "{report}\n{}", seed.log_tail(30));
    assert_eq!(report["pieces_verified"], report["num_pieces"]);
    assert_same_tree(&big, &lt_out.join("big"));
    // 4 MiB at a 2 MB/s cap shared by two swarms: libtorrent is not held
    // back beyond its swarm's share.
    assert!(lt_secs < 30.0, "libtorrent took {lt_secs:.1} s");
    eprintln!("libtorrent downloaded the big torrent in {lt_secs:.1} s");
    for (p, name, what) in &mut riffles {
        p.wait_success(Duration::from_secs(60));
        assert_same_tree(
            if *what == "big" { &big } else { &small },
            &tmp.path().join(*name).join(*what),
        );
    }
    // The seed's status lines (every 2 s) show the split it made.
    let lines = seed.stdout_lines(Duration::from_secs(3));
    for l in lines.iter().rev().take(2) {
        eprintln!("{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("big:") && l.contains("upload share")),
        "{lines:#?}"
    );
}
