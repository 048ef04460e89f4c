//! The seedbox driven by Debian's unmodified `transmission-remote` 3.00:
//! adding, listing, inspecting, stopping, starting, verifying, moving and
//! removing torrents; session and per-torrent speed limits measured in
//! the transfer; basic authentication. Each download comes from a
//! `riffle seed` found through `riffle tracker`, all on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{assert_same_tree, small_tree, total_len, write_tree};
use riffle_tests::riffle_daemon::{DaemonOptions, RiffleDaemon};
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::riffle_tracker::RiffleTracker;
use serde_json::{json, Value};

/// A payload seeded by `riffle seed` and announced to a `riffle tracker`.
struct Swarm {
    tracker: RiffleTracker,
    _seed: RiffleProc,
    torrent: PathBuf,
    data: PathBuf,
    size: u64,
    hash: String,
}

fn swarm(dir: &Path, name: &str, mib: u64, seed_rate: Option<&str>) -> Swarm {
    // The default interval: a seed re-announces no faster than once a
    // minute, and a short interval would let its entry expire between.
    let tracker = RiffleTracker::start(&[], &dir.join(format!("tracker-{name}.log")));
    let seed_dir = dir.join(format!("seed-{name}"));
    let files = small_tree(mib);
    let data = write_tree(&seed_dir, name, &files, mib + name.len() as u64);
    let torrent = dir.join(format!("{name}.torrent"));
    let hash = riffle_create(&data, &torrent, Some(&tracker.announce_url(false)));
    let mut args = vec![
        "seed".to_owned(),
        torrent.to_string_lossy().into_owned(),
        "--data".to_owned(),
        seed_dir.to_string_lossy().into_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    if let Some(r) = seed_rate {
        args.extend(["--max-upload-rate".to_owned(), r.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let seed = RiffleProc::start("riffle seed", &args, &dir.join(format!("seed-{name}.log")));
    Swarm {
        tracker,
        _seed: seed,
        torrent,
        data,
        size: total_len(&files),
        hash,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn transmission_remote_drives_every_torrent_command() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "album", 3, None);
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    let torrent = s.torrent.to_str().unwrap();

    assert!(d.remote_ok(&["-a", torrent]).contains("success"));
    let list = d.remote_ok(&["-l"]);
    assert!(list.contains("album"), "{list}");
    let t = d.wait_torrent(1, &["percentDone", "status"], "the download", MINUTE, |t| {
        t["percentDone"] == 1.0 && t["status"] == 6
    });
    assert_eq!(t["status"], 6, "seeding once complete");
    assert_same_tree(&s.data, &d.download_dir.join("album"));

    let info = d.remote_ok(&["-t", "1", "-i"]);
    assert!(info.contains("Name: album"), "{info}");
    assert!(info.contains("Percent Done: 100%"), "{info}");
    assert!(
        info.contains(&format!("Location: {}", d.download_dir.display())),
        "{info}"
    );
    let files = d.remote_ok(&["-t", "1", "-f"]);
    assert!(
        files.contains("album (9 files)") || files.contains("(9 files)"),
        "{files}"
    );
    assert!(files.contains("one/two/c.bin"), "{files}");
    let peers = d.remote_ok(&["-t", "1", "-pi"]);
    assert!(peers.contains("Address"), "{peers}");

    // Stop and start.
    d.remote_ok(&["-t", "1", "-S"]);
    d.wait_torrent(1, &["status"], "stopped", MINUTE, |t| t["status"] == 0);
    assert!(d.remote_ok(&["-l"]).contains("Stopped"));
    d.remote_ok(&["-t", "1", "-s"]);
    d.wait_torrent(1, &["status"], "seeding again", MINUTE, |t| {
        t["status"] == 6
    });

    // Verify: every piece checked again, all still there.
    d.remote_ok(&["-t", "1", "-v"]);
    let t = d.wait_torrent(
        1,
        &["status", "haveValid", "riffle-hashedPieces", "pieceCount"],
        "the check",
        MINUTE,
        |t| t["status"] == 6 && t["riffle-hashedPieces"] == t["pieceCount"],
    );
    assert_eq!(t["haveValid"].as_u64(), Some(s.size));

    // Session statistics and information.
    let st = d.remote_ok(&["-st"]);
    assert!(
        st.contains("CURRENT SESSION") && st.contains("TOTAL"),
        "{st}"
    );
    d.remote_ok(&["-d", "100", "-u", "50"]);
    let si = d.remote_ok(&["-si"]);
    assert!(si.contains("riffle"), "{si}");
    assert!(si.contains("Download speed limit: 100 kB/s"), "{si}");
    assert!(si.contains("Upload speed limit: 50 kB/s"), "{si}");
    d.remote_ok(&["-D", "-U"]);

    // Move the data: the files go, and it seeds from there.
    let moved = dir.path().join("moved");
    d.remote_ok(&["-t", "1", "--move", moved.to_str().unwrap()]);
    d.wait_torrent(1, &["downloadDir", "status"], "the move", MINUTE, |t| {
        t["downloadDir"] == moved.to_str().unwrap() && t["status"] == 6
    });
    assert_same_tree(&s.data, &moved.join("album"));
    assert!(!d.download_dir.join("album").exists());

    // Remove keeping the data, add again, remove deleting it.
    d.remote_ok(&["-t", "1", "-r"]);
    assert!(!d.remote_ok(&["-l"]).contains("album"));
    assert!(moved.join("album/e.bin").exists(), "-r keeps the data");
    d.remote_ok(&["-a", torrent, "-w", moved.to_str().unwrap()]);
    let id = d.torrents(&["id"])[0]["id"].as_u64().unwrap();
    d.wait_torrent(
        id,
        &["status", "percentDone"],
        "re-added seeding",
        MINUTE,
        |t| t["status"] == 6 && t["percentDone"] == 1.0,
    );
    d.remote_ok(&["-t", &id.to_string(), "--remove-and-delete"]);
    let start = Instant::now();
    while moved.join("album").exists() {
        assert!(
            start.elapsed() < MINUTE,
            "--remove-and-delete deletes the data"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.torrents(&["id"]).is_empty());
}

/// Bytes torrent `id` receives over `secs` seconds.
fn received_over(d: &RiffleDaemon, id: u64, secs: f64) -> f64 {
    let get = || d.torrent(id, &["downloadedEver", "haveValid"]);
    // The manager folds counters once a second: read just after a fold.
    let before = get()["haveValid"].as_f64().unwrap();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let after = get()["haveValid"].as_f64().unwrap();
    after - before
}

#[test]
fn session_and_torrent_download_limits_hold_in_the_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "big", 12, None);
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    d.remote_ok(&["-a", s.torrent.to_str().unwrap(), "-S"]);
    d.remote_ok(&["-t", "1", "-d", "300"]);
    let info = d.remote_ok(&["-t", "1", "-i"]);
    assert!(info.contains("Download Limit: 300 kB/s"), "{info}");
    d.remote_ok(&["-t", "1", "-s"]);
    d.wait_torrent(1, &["haveValid"], "the first pieces", MINUTE, |t| {
        t["haveValid"].as_u64() > Some(0)
    });
    let per_torrent = received_over(&d, 1, 4.0) / 4.0;
    assert!(
        (300_000.0 * 0.5..=300_000.0 * 1.15).contains(&per_torrent),
        "torrent limit 300 kB/s: measured {per_torrent:.0} B/s"
    );
    // The torrent's limit off, the session's on at 150 kB/s.
    d.remote_ok(&["-t", "1", "-D"]);
    d.remote_ok(&["-d", "150"]);
    std::thread::sleep(Duration::from_millis(1500));
    let session = received_over(&d, 1, 4.0) / 4.0;
    assert!(
        (150_000.0 * 0.5..=150_000.0 * 1.15).contains(&session),
        "session limit 150 kB/s: measured {session:.0} B/s"
    );
    // Both off: it runs free and completes.
    d.remote_ok(&["-D"]);
    d.wait_torrent(1, &["percentDone"], "completion", MINUTE, |t| {
        t["percentDone"] == 1.0
    });
    assert!(s.size > 12_000_000);
}

#[test]
fn basic_authentication_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        config: Some("rpc_username = \"seed\"\nrpc_password = \"box\"\n".into()),
        auth: Some("seed:box".into()),
        ..DaemonOptions::default()
    };
    let mut d = RiffleDaemon::start(dir.path(), &opts);
    assert!(d.remote_ok(&["-l"]).contains("Sum:"));
    d.auth = None;
    let out = d.remote(&["-l"]);
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("401") || text.contains("Unauthorized"),
        "without --auth: {text}"
    );
    d.auth = Some("seed:wrong".into());
    let started = Instant::now();
    let out = d.remote(&["-l"]);
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("401") || text.contains("Unauthorized"),
        "wrong password: {text}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "a failed login is slowed"
    );
    assert!(
        d.log().contains("failed RPC login"),
        "a failed login is logged"
    );
}

#[test]
fn bad_requests_get_clean_errors_and_the_daemon_keeps_serving() {
    use riffle_tests::riffle_daemon::{http_post, http_request};
    let dir = tempfile::tempdir().unwrap();
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    // Wrong session id: 409 with the right one.
    let (status, head, _) = http_post(
        d.rpc,
        "/transmission/rpc",
        "X-Transmission-Session-Id: nope\r\n",
        b"{}",
    );
    assert_eq!(status, 409);
    let token = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("X-Transmission-Session-Id: ")
                .or_else(|| l.strip_prefix("x-transmission-session-id: "))
        })
        .expect("the 409 names the session id")
        .trim()
        .to_owned();
    let post = |body: &[u8]| {
        http_post(
            d.rpc,
            "/transmission/rpc",
            &format!("X-Transmission-Session-Id: {token}\r\n"),
            body,
        )
    };
    let answer = |body: &[u8]| -> Value {
        let (status, _, b) = post(body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).expect("JSON answer")
    };
    assert_ne!(answer(b"{not json")["result"], "success");
    assert_ne!(answer(b"[1,2]")["result"], "success");
    assert_eq!(
        answer(br#"{"method":"no-such-method","tag":5}"#)["result"],
        "method name not recognized"
    );
    assert_eq!(answer(br#"{"method":"no-such-method","tag":5}"#)["tag"], 5);
    for bad in [
        json!({"method": "session-set", "arguments": {"speed-limit-down": -5}}),
        json!({"method": "torrent-set", "arguments": {"ids": [1], "downloadLimit": -1}}),
        json!({"method": "torrent-set", "arguments": {"seedRatioLimit": "lots"}}),
        json!({"method": "torrent-add", "arguments": {"metainfo": "bm90IGEgdG9ycmVudA=="}}),
        json!({"method": "torrent-add", "arguments": {"filename": "/no/such/file.torrent"}}),
        json!({"method": "torrent-get", "arguments": {"fields": "id"}}),
        json!({"method": "torrent-get", "arguments": {"ids": [-3], "fields": ["id"]}}),
        json!({"method": "session-set", "arguments": {"peer-limit-global": 1e300}}),
    ] {
        let a = answer(bad.to_string().as_bytes());
        assert_ne!(a["result"], "success", "{bad} -> {a}");
    }
    // Ids that do not exist are nothing to act on, as in Transmission.
    assert_eq!(
        answer(br#"{"method":"torrent-stop","arguments":{"ids":[999]}}"#)["result"],
        "success"
    );
    let a = answer(br#"{"method":"torrent-get","arguments":{"ids":[999],"fields":["id"]}}"#);
    assert_eq!(a["arguments"]["torrents"], json!([]));
    // A body past the cap is refused before it is read.
    let huge = vec![b' '; 17 * 1024 * 1024];
    let (status, _, _) = post(&huge);
    assert_eq!(status, 413);
    // GET and other paths.
    let (status, _, _) = http_request(d.rpc, &format!("GET /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Transmission-Session-Id: {token}\r\nConnection: close\r\n\r\n"), b"");
    assert_eq!(status, 405);
    let (status, _, _) = http_request(
        d.rpc,
        "GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(status, 404);
    // Another site's page reaching us through the browser.
    let (status, _, _) = http_request(d.rpc, "POST /transmission/rpc HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", b"{}");
    assert_eq!(status, 421);
    // Still serving.
    assert_eq!(
        answer(br#"{"method":"session-stats"}"#)["result"],
        "success"
    );
    assert!(d.remote_ok(&["-l"]).contains("Sum:"));
}

#[test]
fn sigterm_stops_the_daemon_cleanly_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "quick", 1, None);
    let mut d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    d.remote_ok(&["-a", s.torrent.to_str().unwrap()]);
    d.wait_torrent(1, &["percentDone"], "completion", MINUTE, |t| {
        t["percentDone"] == 1.0
    });
    let started = Instant::now();
    let status = d.terminate(Duration::from_secs(10)).expect("it exits");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The state was saved: the record and the resume data are there.
    let torrents = d.state_dir.join("torrents");
    assert!(std::fs::read_dir(&torrents).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "json")));
    assert!(
        std::fs::read_dir(d.state_dir.join("resume"))
            .unwrap()
            .count()
            == 1
    );
    assert!(d.log().contains("riffle daemon stopped"));
}

#[test]
fn transmission_rpc_library_drives_it_as_sonarr_does() {
    let python = riffle_tests::test_python();
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "episode", 2, None);
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    let target = dir.path().join("tv");
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/trpc_sonarr.py"))
        .args([
            "127.0.0.1",
            &d.rpc.port().to_string(),
            s.torrent.to_str().unwrap(),
            target.to_str().unwrap(),
        ])
        .output()
        .expect("run trpc_sonarr.py");
    assert!(
        out.status.success(),
        "transmission-rpc failed:\n{}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log_tail(30)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    assert_eq!(seen["rpc_version"], 16);
    assert_eq!(seen["added_name"], "episode");
    assert_eq!(seen["missing_fields"], json!([]), "{seen}");
    assert_eq!(seen["fields"]["labels"], json!(["tv"]));
    assert_eq!(seen["fields"]["downloadDir"], target.to_str().unwrap());
    assert_eq!(seen["fields"]["totalSize"].as_u64(), Some(s.size));
    assert_eq!(seen["fields"]["fileCount"], 9);
    assert_eq!(seen["status"], "seeding");
    let files = seen["files"].as_array().unwrap();
    assert_eq!(files.len(), 9);
    assert!(
        files.iter().all(|f| f["size"] == f["completed"]),
        "{files:?}"
    );
    assert_eq!(seen["tracker_stats"], 1);
    assert_eq!(seen["listed"], json!(["episode"]));
    assert_eq!(seen["left_after_remove"], json!([]));
    assert_same_tree(&s.data, &target.join("episode"));
}

#[test]
fn transmissions_web_interface_lists_and_pauses_a_download() {
    let python = riffle_tests::test_python();
    let web_root = Path::new("/usr/share/transmission/web");
    assert!(
        web_root.join("index.html").exists(),
        "Transmission's web interface is missing; install it with: {}",
        riffle_tests::INSTALL_HINT
    );
    riffle_tests::tools::require_tool("chromium");
    riffle_tests::tools::require_tool("chromedriver");
    let dir = tempfile::tempdir().unwrap();
    // A slow seed, so the page sees the progress move.
    let s = swarm(dir.path(), "movie", 6, Some("400KiB"));
    let d = RiffleDaemon::start(
        dir.path(),
        &DaemonOptions {
            flags: vec!["--web-root".into(), web_root.to_str().unwrap().into()],
            ..DaemonOptions::default()
        },
    );
    d.remote_ok(&["-a", s.torrent.to_str().unwrap()]);
    // Screenshots stay with the test's output, so a failure can be seen.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_ui");
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/web_ui.py"))
        .arg(format!("http://{}/transmission/web/", d.rpc))
        .arg("movie")
        .arg(&shots)
        .output()
        .expect("run web_ui.py");
    assert!(
        out.status.success(),
        "the web interface did not behave (screenshots in {}):\n{}\n{}\ndaemon log:\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log_tail(30)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    assert!(
        seen["title"]
            .as_str()
            .unwrap_or("")
            .contains("Transmission"),
        "{seen}"
    );
    assert_ne!(seen["first_progress"], seen["later_progress"]);
    // Paused from the page: stopped in riffle.
    d.wait_torrent(1, &["status"], "stopped by the page", MINUTE, |t| {
        t["status"] == 0
    });
    let t = d.torrent(1, &["percentDone"]);
    assert!(
        t["percentDone"].as_f64().unwrap() < 1.0,
        "paused mid-download: {t}"
    );
    assert!(shots.join("3-paused.png").exists());
}

#[test]
fn a_file_transmission_remote_skips_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "picky", 3, None);
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    // File 2 of small_tree is one/a.bin (metainfo order: paths sorted).
    d.remote_ok(&["-a", s.torrent.to_str().unwrap(), "-G", "2"]);
    let t = d.wait_torrent(
        1,
        &[
            "percentDone",
            "status",
            "sizeWhenDone",
            "totalSize",
            "wanted",
        ],
        "the wanted files",
        MINUTE,
        |t| t["percentDone"] == 1.0 && t["status"] == 6,
    );
    assert!(t["sizeWhenDone"].as_u64() < t["totalSize"].as_u64(), "{t}");
    assert_eq!(t["wanted"][2], 0, "{t}");
    let files = d.remote_ok(&["-t", "1", "-f"]);
    let line = files
        .lines()
        .find(|l| l.trim_start().starts_with("2:"))
        .unwrap_or("");
    assert!(line.contains("No"), "{files}");
    let name = line.split_whitespace().last().unwrap_or("");
    assert!(
        !d.download_dir.join("picky").join(name).exists(),
        "{name} was created"
    );
    // Wanted again: fetched.
    d.remote_ok(&["-t", "1", "-g", "2"]);
    d.wait_torrent(
        1,
        &["percentDone", "sizeWhenDone", "totalSize"],
        "everything",
        MINUTE,
        |t| t["percentDone"] == 1.0 && t["sizeWhenDone"] == t["totalSize"],
    );
    assert_same_tree(&s.data, &d.download_dir.join("picky"));
}

#[test]
fn the_watch_folder_adds_dropped_torrents_and_logs_go_to_the_journal_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "dropped", 1, None);
    let watch = dir.path().join("watch");
    let d = RiffleDaemon::start(
        dir.path(),
        &DaemonOptions {
            flags: vec!["--watch-dir".into(), watch.to_str().unwrap().into()],
            // As under systemd: stderr is the journal.
            env: vec![("JOURNAL_STREAM".into(), "8:12345".into())],
            ..DaemonOptions::default()
        },
    );
    std::fs::copy(&s.torrent, watch.join("dropped.torrent")).unwrap();
    std::fs::write(watch.join("junk.torrent"), b"this is not a torrent").unwrap();
    d.wait_torrent(
        1,
        &["name", "percentDone"],
        "the dropped torrent",
        MINUTE,
        |t| t["name"] == "dropped" && t["percentDone"] == 1.0,
    );
    let start = Instant::now();
    while !(watch.join("dropped.torrent.added").exists()
        && watch.join("junk.torrent.invalid").exists())
    {
        assert!(
            start.elapsed() < MINUTE,
            "files renamed: {:?}",
            std::fs::read_dir(&watch).unwrap().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d.torrents(&["id"]).len(), 1, "the junk was not added");
    let log = d.log();
    assert!(
        log.contains("<6>riffle_daemon: riffle daemon started"),
        "{log}"
    );
    assert!(
        log.contains("<4>riffle_daemon::watch: not a torrent riffle can add"),
        "{log}"
    );
    assert!(!log.contains("\u{1b}["), "no colours in the journal");
}

#[test]
fn transmission_remote_adds_a_magnet_link() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "by-link", 2, None);
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=by-link&tr={}",
        s.hash,
        s.tracker.announce_url(false)
    );
    assert!(d.remote_ok(&["-a", &magnet]).contains("success"));
    let t = d.wait_torrent(
        1,
        &[
            "name",
            "percentDone",
            "status",
            "metadataPercentComplete",
            "totalSize",
        ],
        "the magnet download",
        MINUTE,
        |t| t["percentDone"] == 1.0 && t["status"] == 6,
    );
    assert_eq!(t["metadataPercentComplete"], 1.0);
    assert_eq!(t["totalSize"].as_u64(), Some(s.size));
    assert_same_tree(&s.data, &d.download_dir.join("by-link"));
    // The same link again is a duplicate, as in Transmission.
    let out = d.rpc("torrent-add", json!({"filename": magnet}));
    assert!(out["arguments"]["torrent-duplicate"].is_object(), "{out}");
}
