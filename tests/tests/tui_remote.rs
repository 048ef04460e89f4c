//! `riffle tui --remote` in tmux: the terminal UI attached over
//! Transmission's RPC to a running `riffle daemon` (list, the detail
//! screen with its piece map, pause) and to a real transmission-daemon
//! (list, pause).

use std::path::Path;
use std::time::Duration;

use riffle_tests::riffle_bin;
use riffle_tests::riffle_daemon::{DaemonOptions, RiffleDaemon};
use riffle_tests::tmux::{shell_quote, Tmux};
use riffle_tests::transmission::Transmission;

const WAIT: Duration = Duration::from_secs(30);

/// `riffle tui --remote URL`, its exit status written to `status`.
fn tui_command(url: &str, status: &Path) -> String {
    format!(
        "{} tui --remote {url}; echo \"exit=$?\" > {}; sleep 60",
        shell_quote(riffle_bin()),
        shell_quote(status)
    )
}

/// A complete single-file payload under `dir` and its torrent.
fn payload(dir: &Path, name: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.join(name), data).unwrap();
    let torrent = dir.join(format!("{name}.torrent"));
    let out = riffle_tests::riffle(&[
        "create",
        dir.join(name).to_str().unwrap(),
        "-o",
        torrent.to_str().unwrap(),
        // Transmission 3.00 refuses torrents with a v2 file tree.
        "--format",
        "v1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    torrent
}

fn quit(tmux: &Tmux, status: &Path) {
    tmux.keys(&["q"]);
    let start = std::time::Instant::now();
    while !status.exists() {
        assert!(
            start.elapsed() < WAIT,
            "the TUI did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(status).unwrap().trim(), "exit=0");
}

#[test]
fn the_tui_steers_a_riffle_daemon_over_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let d = RiffleDaemon::start(dir.path(), &DaemonOptions::default());
    // Its data already in the daemon's download directory: it seeds.
    let torrent = payload(&d.download_dir, "remote-seed.bin");
    d.remote_ok(&["-a", torrent.to_str().unwrap()]);
    d.wait_torrent(1, &["status"], "seeding", WAIT, |t| t["status"] == 6);

    let status = dir.path().join("tui.status");
    let tmux = Tmux::start(&tui_command(&format!("http://{}", d.rpc), &status), 100, 30);
    let (ok, screen) = tmux.wait_for(WAIT, |s| {
        s.contains("remote-seed.bin") && s.contains("seeding")
    });
    assert!(ok, "the list shows the daemon's torrent:\n{screen}");
    assert!(screen.contains(&d.rpc.to_string()), "{screen}");
    // The detail screen: riffle's own fields reach it (policies, piece map).
    tmux.keys(&["Enter"]);
    let (ok, screen) = tmux.wait_for(WAIT, |s| s.contains("pieces (") && s.contains("###"));
    assert!(ok, "the detail shows the piece map:\n{screen}");
    assert!(screen.contains("rarest-first"), "policies shown: {screen}");
    // Pause from the TUI: stopped in the daemon.
    tmux.keys(&["p"]);
    d.wait_torrent(1, &["status"], "stopped from the TUI", WAIT, |t| {
        t["status"] == 0
    });
    // The torrent's own line, not the status bar's "paused torrent 1".
    let (ok, screen) = tmux.wait_for(WAIT, |s| s.contains("100.0%  paused"));
    assert!(ok, "the TUI shows it paused:\n{screen}");
    tmux.keys(&["p"]);
    d.wait_torrent(1, &["status"], "resumed from the TUI", WAIT, |t| {
        t["status"] == 6
    });
    quit(&tmux, &status);
}

#[test]
fn the_tui_steers_a_transmission_daemon_too() {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl");
    let t = Transmission::start(&dl);
    let torrent = payload(&dl, "at-transmission.bin");
    t.add(&torrent);
    let status = dir.path().join("tui.status");
    let tmux = Tmux::start(
        &tui_command(&format!("http://127.0.0.1:{}", t.rpc_port), &status),
        100,
        30,
    );
    let (ok, screen) = tmux.wait_for(WAIT, |s| {
        s.contains("at-transmission.bin") && s.contains("seeding")
    });
    assert!(ok, "the list shows Transmission's torrent:\n{screen}");
    tmux.keys(&["p"]);
    let start = std::time::Instant::now();
    loop {
        let list = t.remote(&["-l"]);
        if list.contains("Stopped") {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "Transmission did not stop it:\n{list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, screen) = tmux.wait_for(WAIT, |s| {
        s.lines()
            .any(|l| l.contains("at-transmission.bin") && l.contains("paused"))
    });
    assert!(ok, "the TUI shows it paused:\n{screen}");
    // riffle's policies are not Transmission's: said so, no crash.
    tmux.keys(&["Enter"]);
    tmux.keys(&["s"]);
    let (ok, screen) = tmux.wait_for(WAIT, |s| s.contains("no riffle policies"));
    assert!(ok, "a policy change says why it cannot:\n{screen}");
    quit(&tmux, &status);
}
