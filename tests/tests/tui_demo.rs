//! The terminal UI end to end: `riffle demo` on a real terminal (tmux at
//! 100x30) opens the TUI on the live local swarm. Read the screen with
//! capture-pane: progress moves, the one-club marker appears, a policy
//! switched with a key changes what the publisher does (the number of
//! peers it serves at once), and `q` quits with status 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riffle_tests::riffle_bin;
use riffle_tests::tmux::{shell_quote, Tmux};

/// The `riffle demo` command line that records its exit status in `status`.
fn demo_command(status: &Path, log: &Path) -> String {
    format!(
        "env RIFFLE_LOG=info RIFFLE_LOG_FILE={} {} demo; echo \"exit=$?\" > {}; sleep 60",
        shell_quote(log),
        shell_quote(riffle_bin()),
        shell_quote(status)
    )
}

/// The peers table rows of the detail screen: (progress %, served by us).
fn peer_rows(screen: &str) -> Vec<(f64, bool)> {
    screen
        .lines()
        .filter(|l| l.contains("127.0.0.1:"))
        .filter_map(|l| {
            let pct = l
                .split_whitespace()
                .find_map(|w| w.strip_suffix('%').and_then(|n| n.parse::<f64>().ok()))?;
            Some((pct, served_flag(l)))
        })
        .collect()
}

/// Do we serve (unchoke) the peer on this row? The peers table shows it in
/// its flags column.
fn served_flag(row: &str) -> bool {
    row.split_whitespace()
        .any(|w| w == riffle_tui_flags::WE_SERVE)
}

mod riffle_tui_flags {
    /// The flags-column word the TUI prints for a peer we unchoke.
    pub const WE_SERVE: &str = "U";
}

#[test]
fn demo_runs_in_the_tui_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let status: PathBuf = dir.path().join("status");
    let log: PathBuf = dir.path().join("riffle.log");
    let tmux = Tmux::start(&demo_command(&status, &log), 100, 30);

    // The list shows the publisher's torrent.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| s.contains("riffle-demo.bin"));
    assert!(ok, "the demo's torrent never showed:\n{screen}");
    // Its detail: peers arrive and their progress moves.
    tmux.keys(&["Enter"]);
    let (ok, first) = tmux.wait_for(Duration::from_secs(30), |s| peer_rows(s).len() >= 2);
    assert!(ok, "no peers in the detail screen:\n{first}");
    let before: f64 = peer_rows(&first).iter().map(|r| r.0).sum();
    let (ok, later) = tmux.wait_for(Duration::from_secs(30), |s| {
        let rows = peer_rows(s);
        rows.len() >= 2 && rows.iter().map(|r| r.0).sum::<f64>() != before
    });
    assert!(ok, "progress did not move:\n{first}\n---\n{later}");

    // The one club forms: a peer one piece short is marked.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(60), |s| {
        s.lines()
            .any(|l| l.contains("127.0.0.1:") && l.contains("club"))
    });
    assert!(ok, "no peer was ever marked in the one club:\n{screen}");

    // Most-deprived seeding serves one peer at a time.
    let mut samples = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        let rows = peer_rows(&tmux.screen());
        let served = rows.iter().filter(|r| r.1).count();
        assert!(
            served <= 1,
            "most-deprived serves one peer at a time, saw {served}:\n{}",
            tmux.screen()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(samples > 5);

    // Switch the publisher's seed choker to round-robin (4 slots): it soon
    // serves several peers at once.
    // (`s` cycles through the seed chokers.)
    let mut switched = false;
    for _ in 0..5 {
        tmux.keys(&["s"]);
        if tmux
            .wait_for(Duration::from_secs(3), |s| s.contains("round-robin"))
            .0
        {
            switched = true;
            break;
        }
    }
    assert!(
        switched,
        "the seed choker did not switch:\n{}",
        tmux.screen()
    );
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| {
        peer_rows(s).iter().filter(|r| r.1).count() >= 2
    });
    assert!(
        ok,
        "after switching to round-robin the publisher still serves one peer at a time:\n{screen}"
    );

    // q quits, the terminal is left clean and the exit status is 0.
    tmux.keys(&["q"]);
    let start = Instant::now();
    while !status.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let code = std::fs::read_to_string(&status).unwrap_or_default();
    assert_eq!(
        code.trim(),
        "exit=0",
        "riffle demo did not exit 0 after q; log tail:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains("riffle-demo.bin"),
        "the TUI was left on the screen after quitting:\n{screen}"
    );
}
