//! The seedbox under faults: its download directory is a small tmpfs the
//! test mounts in a private mount namespace (so nothing outside sees it).
//! A download that cannot get its space stops with an error `torrent-get`
//! shows while the others go on, and completes once space is freed; a
//! seed whose files are damaged under it gets an error, not a crash.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{small_tree, total_len, write_tree};
use riffle_tests::riffle_daemon::{DaemonOptions, RiffleDaemon};
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::riffle_tracker::RiffleTracker;
use riffle_tests::tools::require_tool;

const MINUTE: Duration = Duration::from_secs(60);
const FIELDS: &[&str] = &["status", "error", "errorString", "haveValid", "percentDone"];

/// Run `sh -c script` inside the daemon's mount namespace.
fn in_ns(d: &RiffleDaemon, script: &str) {
    let out = Command::new(require_tool("nsenter"))
        .args(["-t", &d.pid().to_string(), "-m", "sh", "-c", script])
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "in the daemon's namespace, {script:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `unshare` a mount namespace with a tmpfs of `mib` MiB on `dl`.
fn tmpfs_wrap(dl: &Path, mib: u64) -> Vec<String> {
    require_tool("unshare");
    let mut wrap = vec![require_tool("unshare").to_string_lossy().into_owned()];
    // Without root, a user namespace maps us to root inside it.
    if unsafe_uid() != 0 {
        wrap.extend(["--user".into(), "--map-root-user".into()]);
    }
    wrap.extend([
        "--mount".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        format!("mount -t tmpfs -o size={mib}m tmpfs \"$0\" && exec \"$@\""),
        dl.to_string_lossy().into_owned(),
    ]);
    wrap
}

fn unsafe_uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(1)
}

struct Seeded {
    torrent: PathBuf,
    seed: Option<RiffleProc>,
    size: u64,
}

fn seeded(root: &Path, tracker: &RiffleTracker, name: &str, mib: u64) -> Seeded {
    let seed_dir = root.join(format!("seed-{name}"));
    let data = write_tree(&seed_dir, name, &small_tree(mib), mib * 3);
    let torrent = root.join(format!("{name}.torrent"));
    riffle_create(&data, &torrent, Some(&tracker.announce_url(false)));
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
        &root.join(format!("seed-{name}.log")),
    );
    Seeded {
        torrent,
        seed: Some(seed),
        size: total_len(&small_tree(mib)),
    }
}

#[test]
fn a_full_disk_stops_one_torrent_and_damaged_files_are_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tracker = RiffleTracker::start(&[], &root.join("tracker.log"));
    let mut a = seeded(root, &tracker, "small", 4);
    let b = seeded(root, &tracker, "large", 8);
    let dl = root.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let d = RiffleDaemon::start(
        root,
        &DaemonOptions {
            wrap: tmpfs_wrap(&dl, 20),
            ..DaemonOptions::default()
        },
    );
    // 12 of the 20 MiB taken by something else.
    in_ns(
        &d,
        &format!(
            "dd if=/dev/zero of={}/filler bs=1M count=12 2>/dev/null",
            dl.display()
        ),
    );

    d.remote_ok(&["-a", a.torrent.to_str().unwrap()]);
    d.wait_torrent(1, FIELDS, "the small one complete", MINUTE, |t| {
        t["percentDone"] == 1.0 && t["status"] == 6
    });
    // The large one cannot fit: an error on it alone.
    d.remote_ok(&["-a", b.torrent.to_str().unwrap()]);
    let t = d.wait_torrent(2, FIELDS, "the large one's error", MINUTE, |t| {
        t["error"] == 3
    });
    assert_eq!(t["status"], 0, "{t}");
    let why = t["errorString"].as_str().unwrap_or("").to_lowercase();
    assert!(why.contains("space") || why.contains("disk"), "{t}");
    let info = String::from_utf8_lossy(&d.remote(&["-t", "2", "-i"]).stdout).into_owned();
    assert!(
        info.contains("Error:"),
        "transmission-remote shows the error: {info}"
    );
    let small = d.torrent(1, FIELDS);
    assert_eq!(small["status"], 6, "the other torrent goes on: {small}");
    assert_eq!(
        small["haveValid"].as_u64(),
        Some(a.size),
        "nothing verified lost"
    );

    // Space freed, started again: it completes.
    in_ns(&d, &format!("rm {}/filler", dl.display()));
    d.remote_ok(&["-t", "2", "-s"]);
    let t = d.wait_torrent(2, FIELDS, "the large one complete", MINUTE, |t| {
        t["percentDone"] == 1.0 && t["status"] == 6
    });
    assert_eq!(t["error"], 0, "{t}");
    assert_eq!(t["haveValid"].as_u64(), Some(b.size));

    // The small one's only other seed leaves; a leecher asks the daemon
    // for data whose file was truncated under it.
    drop(a.seed.take());
    in_ns(
        &d,
        &format!(
            "truncate -s 0 {}/small/e.bin {}/small/one/a.bin",
            dl.display(),
            dl.display()
        ),
    );
    let leech_dir = root.join("leech");
    let _leecher = RiffleProc::start(
        "riffle download",
        &[
            "download",
            a.torrent.to_str().unwrap(),
            "-o",
            leech_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--peer",
            &format!("127.0.0.1:{}", d.peer_port),
        ],
        &root.join("leech.log"),
    );
    let t = d.wait_torrent(1, FIELDS, "the damaged seed's error", MINUTE, |t| {
        t["error"] == 3
    });
    assert_eq!(t["status"], 0, "{t}");
    assert!(
        t["errorString"].as_str().unwrap_or("").contains("read"),
        "{t}"
    );
    // Still serving, the other torrent untouched.
    assert_eq!(d.torrent(2, FIELDS)["status"], 6);
    assert!(d.remote_ok(&["-st"]).contains("TOTAL"));
    drop(b);
}
